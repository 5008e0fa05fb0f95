"""Both networks: published-checkpoint compatibility, loaders, training steps, datasets, metrics."""
import copy
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from heart_segmentation import QuickNat, QuickNatConfig
from heart_segmentation.predict import load_checkpoint as load_seg
from mmode.errors import CheckpointError
from mmode.metrics import classification_metrics, dice
from quality_classification import CardioNet
from quality_classification.model import CardioNetConfig
from quality_classification.predict import load_checkpoint as load_quality

# The golden files live in the project's shared folder beside the checkout (or where MMODE_GOLDEN_DIR says).
FIXTURES = Path(os.environ.get("MMODE_GOLDEN_DIR", Path(__file__).resolve().parents[2] / "shared" / "fixtures"))
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"golden fixtures not found at {FIXTURES}")


@pytest.fixture(scope="module")
def golden():
    return torch.load(FIXTURES / "golden_io.pt", map_location="cpu", weights_only=True)


def assert_golden_quicknat(logits, golden):
    """QuickNAT's logits equal the golden ones, but for max-pooling near-ties.

    Max pooling picks one of two nearly equal values by their last bits, which depend on the
    CPU's convolution kernels: on an AMD EPYC 63-70 of the 65,536 logits move by up to 6e-3
    (the pooled position swaps), the rest stay within 1e-4. A decoder wired in the wrong order
    moves 98 % of them (measured: swapping decode1 and decode2 leaves 1.6 % within 1e-4).
    """
    error = (logits - golden["quicknat_logits"]).abs()
    assert (error <= 1e-4).float().mean() >= 0.995
    assert error.max() < 0.01


@needs_fixtures
def test_quicknat_reproduces_golden_logits(golden):
    net = QuickNat()
    checkpoint = torch.load(FIXTURES / "quicknat_golden.pt", map_location="cpu", weights_only=True)
    net.load_state_dict(checkpoint["net_state_dict"], strict=True)
    assert list(net.state_dict()) == list(checkpoint["net_state_dict"])  # same 200 keys, same order
    with torch.no_grad():
        logits = net.eval()(golden["input_01"])
    assert_golden_quicknat(logits, golden)


@needs_fixtures
def test_cardionet_reproduces_golden_outputs(golden):
    net = CardioNet(1, 1)
    net.load_state_dict(torch.load(FIXTURES / "cardionet_golden.pth", map_location="cpu", weights_only=True),
                        strict=True)
    with torch.no_grad():
        outputs = net.eval()(golden["cardionet_input"])
    torch.testing.assert_close(outputs[4], golden["cardionet_logit"], atol=1e-4, rtol=0)
    torch.testing.assert_close(outputs[5], golden["cardionet_sigmoid"], atol=1e-4, rtol=0)


@needs_fixtures
def test_loaders_accept_the_published_files_as_they_are(golden):
    seg = load_seg(FIXTURES / "quicknat_golden.pt")
    assert seg.config.num_filters == 64 and seg.config.input_px == 256 and not seg.training
    quality = load_quality(FIXTURES / "cardionet_golden.pth")
    assert quality.config.input_px == 256 and not quality.training
    with torch.no_grad():  # the loaders' layouts too (the classifier's weights are channels-last)
        assert_golden_quicknat(seg(golden["input_01"]), golden)
        torch.testing.assert_close(quality(golden["cardionet_input"])[5], golden["cardionet_sigmoid"], atol=1e-4,
                                   rtol=0)


def test_shipped_checkpoints_load_and_are_small():
    seg, quality = load_seg(), load_quality()
    assert seg.config.input_px in (128, 192, 256) and quality.config.input_px % 32 == 0
    for package in ("heart_segmentation", "quality_classification"):
        for path in (Path(__file__).resolve().parents[1] / package / "checkpoints").glob("*.pt"):
            assert path.stat().st_size < 20e6


@pytest.mark.slow
def test_shipped_segmenter_runs_channels_last_with_the_same_mask(write_phantom):
    from heart_segmentation.predict import segment_image
    from mmode.recording import load_recording

    image = load_recording(write_phantom()[0]).image
    seg = load_seg()
    assert seg.encode2.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    reference = QuickNat(seg.config)
    reference.load_state_dict(seg.state_dict())
    assert not reference.encode2.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_array_equal(segment_image(seg, image), segment_image(reference.eval(), image))


def test_windows_on_several_threads_give_exactly_the_borders_and_scores_of_one(write_phantom):
    """networks.threads: the pipeline runs each window on one torch thread, two or more windows at once."""
    from heart_segmentation.predict import image_borders
    from mmode.recording import load_recording
    from quality_classification.predict import classify_windows
    from networks.threads import in_threads

    assert in_threads(lambda x: x * x, range(7), 3) == [x * x for x in range(7)]  # in order
    image = load_recording(write_phantom()[0]).image
    seg, quality = load_seg(), load_quality()
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = image_borders(seg, image, threads=1)
        assert np.isfinite(one).mean() > 0.9
        np.testing.assert_array_equal(image_borders(seg, image, threads=3), one)
        windows = [image[:, s:s + 616] for s in range(0, 1800, 300)]
        scores = classify_windows(quality, windows, threads=1)
        np.testing.assert_array_equal(classify_windows(quality, windows, threads=2), scores)
    finally:
        torch.set_num_threads(previous)


_COUNT_HEAPS = """
import ctypes, sys, tempfile, threading
from networks.threads import configure_malloc
if sys.argv[1] == "shared":
    assert configure_malloc(1)
def allocate():
    for _ in range(50):
        bytearray(200_000)  # below glibc's mmap threshold: from the thread's heap
threads = [threading.Thread(target=allocate) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fclose.argtypes = [ctypes.c_void_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
with tempfile.NamedTemporaryFile() as report:
    stream = libc.fopen(report.name.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(open(report.name).read().count("<heap nr="))
"""


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"),
                    reason="glibc's malloc")
def test_threads_share_the_heaps_they_are_allowed():
    """networks.threads.configure_malloc: threads that allocate get heaps of their own unless limited."""
    def heaps(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", _COUNT_HEAPS, mode], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).resolve().parents[1])
        return int(done.stdout)

    assert heaps("shared") == 1
    assert heaps("own") > 1


_COUNT_FAULTS = """
import resource, sys
import numpy as np
from networks.threads import configure_malloc
if sys.argv[1] == "configured":
    assert configure_malloc()
import torch
from heart_segmentation.predict import load_checkpoint, window_log_probs
torch.set_num_threads(1)
net = load_checkpoint()
window = np.random.default_rng(0).integers(0, 255, (616, 308)).astype(np.float32)
for _ in range(3):  # the heap grows to what a window needs
    window_log_probs(net, window)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(8):
    window_log_probs(net, window)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 8)
"""


@pytest.mark.slow
@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"),
                    reason="glibc's malloc")
def test_segmentation_windows_reuse_freed_memory_instead_of_faulting_in_new_pages():
    """networks.threads.configure_malloc: a window's activations come from memory freed by the last one.

    One thread, where glibc's own rule is clearest. With the pipeline's two window threads, 24 windows
    took 1,500 page faults each configured and 7,400 not (thread start-ups add theirs).
    """
    def faults_per_window(mode: str) -> float:
        done = subprocess.run([sys.executable, "-c", _COUNT_FAULTS, mode], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).resolve().parents[1])
        return float(done.stdout)

    configured, plain = faults_per_window("configured"), faults_per_window("plain")
    assert configured < 2000  # 450 per window here, 7,900 without
    assert configured * 5 < plain


def test_missing_and_corrupt_checkpoints_say_where_weights_live(tmp_path, monkeypatch):
    import heart_segmentation.predict

    # Only a missing shipped file gets the advice to restore it; a misspelt own file is just missing.
    monkeypatch.setattr(heart_segmentation.predict, "DEFAULT_CHECKPOINT", (tmp_path / "missing.pt").resolve())
    with pytest.raises(CheckpointError, match=r"missing\.pt: model file not found.*zenodo"):
        load_seg(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=r"mine\.pt: model file not found$"):
        load_seg(tmp_path / "mine.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"bad\.pt: cannot read model file"):
        load_quality(bad)


def test_swapped_model_files_are_named_as_such(tmp_path):
    from heart_segmentation import SHIPPED_CHECKPOINT as SEG_CHECKPOINT
    from quality_classification import shipped_checkpoint

    with pytest.raises(CheckpointError, match="not a segmentation checkpoint but a quality-classifier one"):
        load_seg(shipped_checkpoint())
    with pytest.raises(CheckpointError, match="not a quality-classifier checkpoint but a segmentation one"):
        load_quality(SEG_CHECKPOINT)
    torch.save({"net_state_dict": {"something.weight": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"other\.pt: not a segmentation checkpoint \(no known layer names\)"):
        load_seg(tmp_path / "other.pt")


def test_wrong_architecture_is_reported(tmp_path):
    path = tmp_path / "wrong.pt"
    net = QuickNat(QuickNatConfig(num_filters=8))
    torch.save({"net_state_dict": net.state_dict(), "config": QuickNatConfig(num_filters=16).to_dict()}, path)
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_seg(path)


@pytest.mark.slow
def test_few_training_steps_lower_segmentation_loss():
    from heart_segmentation.train import run_epoch

    torch.manual_seed(0)
    images = torch.rand(8, 1, 64, 64) * 0.3
    masks = torch.zeros(8, 1, 64, 64)
    masks[:, :, 20:44] = 1
    images = images + 0.5 * (1 - masks)  # dark cavity between bright walls
    loader = [(images[:4], masks[:4]), (images[4:], masks[4:])]
    net = QuickNat(QuickNatConfig(num_filters=4, input_px=64))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    before = run_epoch(net, loader)["loss"]
    for _ in range(5):
        run_epoch(net, loader, optimizer)
    assert run_epoch(net, loader)["loss"] < 0.7 * before


@pytest.mark.slow
def test_few_training_steps_lower_classification_loss():
    from quality_classification.train import run_epoch

    torch.manual_seed(0)
    labels = torch.tensor([0.0, 1.0] * 4)
    images = torch.randn(8, 1, 64, 64) * 0.2 + labels[:, None, None, None]
    loader = [(images[:4], labels[:4]), (images[4:], labels[4:])]
    net = CardioNet(config=CardioNetConfig(input_px=64))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.001)
    losses = [run_epoch(net, loader, optimizer)["loss"] for _ in range(6)]
    assert losses[-1] < 0.5 * losses[0]


def test_classification_metrics_by_hand():
    m = classification_metrics([1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0])
    # tp 2, tn 2, fp 1, fn 1
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["fpr"] == pytest.approx(1 / 3)
    assert m["fnr"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(4 / 6)


def test_dice_by_hand():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2] = True  # 8 pixels
    b[1:3] = True  # 8 pixels, 4 shared
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(a, a) == 1.0
    # One Dice per window, as training reports it: an empty pair counts as a perfect match.
    empty = np.zeros((4, 4), bool)
    np.testing.assert_allclose(dice(np.stack([a, a, empty]), np.stack([b, a, empty]), axis=(1, 2)), [0.5, 1, 1])


def test_border_agreement_by_hand():
    from mmode.metrics import border_agreement

    expert = np.tile(np.array([[10.0], [20.0], [60.0], [70.0]]), (1, 100))
    traced = expert + np.array([[4.0], [2.0], [-1.0], [0.0]])  # epicardium 4 deeper, cavity 3 rows short
    traced[2, 90:] = np.nan  # ten columns without a cavity: their LVID misses all of it
    result = border_agreement(expert, traced, rows=100)
    assert result["columns"] == 100
    assert result["cavity_dice"] == pytest.approx(2 * (90 * 37) / (90 * 37 + 100 * 40))
    assert result["lvid"]["median_px"] == 3.0 and result["lvid"]["p95_px"] == pytest.approx(40.0)
    assert result["lvaw"]["median_px"] == 2.0 and result["lvpw"]["median_px"] == 1.0
    borders = result["borders"]
    assert [b["signed_median_px"] for b in borders.values()] == [4.0, 2.0, -1.0, 0.0]
    assert borders["posterior endocardium"]["median_px"] == 1.0
    assert borders["posterior endocardium"]["columns"] == 90


class _ConstantNet(torch.nn.Module):
    """A 'network' whose logit is +10 everywhere: it calls the whole window cavity."""

    config = QuickNatConfig(num_filters=4, input_px=32)

    def forward(self, x):
        return torch.full_like(x, 10.0)


def test_segmentation_test_metrics_by_hand():
    from heart_segmentation.test import evaluate_windows

    images = np.zeros((2, 64, 64), np.float32)
    masks = np.zeros((2, 64, 64), bool)
    masks[0, :32] = True  # half the window: Dice 2 * 32 / (64 + 32)
    masks[1, :16] = True  # a quarter: Dice 2 * 16 / (64 + 16)
    metrics = evaluate_windows(_ConstantNet(), images, masks)
    assert metrics["dice"] == pytest.approx((2 / 3 + 0.4) / 2, abs=1e-6)
    s = torch.sigmoid(torch.tensor(10.0)).item()
    mse = [0.5 * (1 - s) ** 2 + 0.5 * s ** 2, 0.25 * (1 - s) ** 2 + 0.75 * s ** 2]
    assert metrics["mse"] == pytest.approx(np.mean(mse), rel=1e-5)
    bce = [0.5 * -np.log(s) + 0.5 * -np.log(1 - s), 0.25 * -np.log(s) + 0.75 * -np.log(1 - s)]
    assert metrics["loss"] == pytest.approx(np.mean(bce), rel=1e-4)


def test_create_datasets_from_a_phantom(write_phantom, tmp_path):
    import phantom
    from heart_segmentation import create_dataset as seg_dataset
    from quality_classification import create_dataset as quality_dataset
    from quality_classification.create_dataset import STRIDE_PX
    from mmode.windows import CROP_RATIOS

    path, ph, truth = write_phantom(seed=31, bad_segments=(("gain_jump", 0.8, 0.5),))
    phantom.write_quality_annotations([(path.name, ph)], path.parent / "quality_annotations.csv")
    annotations = path.parent / "quality_annotations.csv"
    assert quality_dataset.main(["-i", str(path.parent), "-o", str(tmp_path / "q"), "-a", str(annotations)]) == 0
    assert seg_dataset.main(["-i", str(path.parent), "-o", str(tmp_path / "s"), "-a", str(annotations)]) == 0

    dt, rows, width = truth["seconds_per_px"], 616, truth["stitched_width"]
    expected = {"good": [], "bad": []}
    for k, start in enumerate(range(0, width, STRIDE_PX)):
        side = int(rows * CROP_RATIOS[k % len(CROP_RATIOS)])
        if start + side > width:
            break
        lo, hi = start * dt, (start + side) * dt
        if hi <= 0.8 or lo >= 1.3:
            expected["good"].append(f"rec_{start:05d}")
        elif min(hi, 1.3) - max(lo, 0.8) >= 0.5 * (hi - lo):
            expected["bad"].append(f"rec_{start:05d}")
    for label in ("good", "bad"):
        assert expected[label]
        assert sorted(p.stem for p in (tmp_path / "q" / "pngs" / label).glob("*.png")) == expected[label]
        assert sorted(p.stem for p in (tmp_path / "q" / "npys" / label).glob("*.npy")) == expected[label]
    # The windows are cut from the recording with its grey range stretched, as the analysis shows them.
    from mmode.recording import load_recording
    from mmode.windows import stretched, vertical_start

    first = np.load(tmp_path / "q" / "npys" / "good" / f"{expected['good'][0]}.npy")
    start = int(expected["good"][0][4:])
    side = int(rows * CROP_RATIOS[start // STRIDE_PX % len(CROP_RATIOS)])
    top = vertical_start(ph.cavity_mask()[:, start:start + side], side)
    shown = stretched(load_recording(path).image)[top:top + side, start:start + side]
    np.testing.assert_allclose(np.squeeze(first), shown, atol=0.5)

    seg_names = sorted(p.name for p in (tmp_path / "s" / "img").glob("*.png"))
    starts = [s for s in range(0, width - rows + 1, 154) if (s + rows) * dt <= 0.8 or s * dt >= 1.3]
    assert seg_names == [f"rec_{s:05d}.png" for s in starts]
    assert seg_names == sorted(p.name for p in (tmp_path / "s" / "mask").glob("*.png"))
    from PIL import Image

    from mmode.annotations import CAVITY, label_mask

    labels = np.asarray(Image.open(tmp_path / "s" / "mask" / seg_names[0]))
    np.testing.assert_array_equal(labels == CAVITY, ph.cavity_mask()[:, starts[0]:starts[0] + rows])
    np.testing.assert_array_equal(labels, label_mask(ph.borders, rows)[:, starts[0]:starts[0] + rows])


def test_quality_test_script_writes_results(tmp_path, capsys):
    from PIL import Image

    from quality_classification import test as quality_test

    for label in ("good", "bad"):
        folder = tmp_path / "data" / "pngs" / label
        folder.mkdir(parents=True)
        for k in range(2):
            Image.fromarray(np.full((40, 40), 30 * k, np.uint8)).save(folder / f"{label}{k}.png")
    assert quality_test.main(["-d", str(tmp_path / "data"), "-o", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    rows = (tmp_path / "out" / "test_results.csv").read_text().splitlines()
    assert rows[0] == "filename,predicted,true" and len(rows) == 5
    predicted = [int(r.split(",")[1]) for r in rows[1:]]
    true = [int(r.split(",")[2]) for r in rows[1:]]
    accuracy = np.mean(np.array(predicted) == np.array(true))
    assert f"accuracy {accuracy:.4f}" in printed


def _tiny_windows(root, rng):
    from PIL import Image

    for label in ("good", "bad"):
        (root / "pngs" / label).mkdir(parents=True)
        for k in range(4):
            value = 200 if label == "good" else 40
            image = np.clip(rng.normal(value, 20, (48, 48)), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(root / "pngs" / label / f"{label}{k}.png")


def test_bootstrap_trains_fresh_networks(tmp_path):
    # The original kept training one network for every "bootstrap" run.
    from quality_classification import train

    _tiny_windows(tmp_path / "data", np.random.default_rng(0))
    out = tmp_path / "out"
    assert train.main(["-d", str(tmp_path / "data"), "-a", "-r", "2", "-e", "1", "-b", "4", "-p", "64",
                       "-v", "25", "-o", str(out)]) == 0
    first, second = (torch.load(out / f"quality-clas-net-{k}.pt", weights_only=True)["net_state_dict"]
                     for k in (0, 1))
    assert not torch.equal(first["conv_block1.double_conv.0.weight"], second["conv_block1.double_conv.0.weight"])
    runs = [line.split(",")[0] for line in (out / "quality_metrics.csv").read_text().splitlines()[1:]]
    assert runs == ["0", "1"]
    ensemble = load_quality(out / "quality-clas-net-1.pt")
    assert ensemble.config.input_px == 64


def test_segmentation_training_saves_its_best_checkpoint(tmp_path):
    # The original started best MSE at 0 and so never saved a "best" checkpoint.
    from PIL import Image

    from heart_segmentation import train

    for folder in ("img", "mask"):
        (tmp_path / "data" / folder).mkdir(parents=True)
    for k in range(6):
        mask = np.zeros((64, 64), np.uint8)
        mask[20 + k:40 + k] = 255
        Image.fromarray(255 - mask // 2).save(tmp_path / "data" / "img" / f"w{k}.png")
        Image.fromarray(mask).save(tmp_path / "data" / "mask" / f"w{k}.png")
    out = tmp_path / "out"
    assert train.main(["-d", str(tmp_path / "data"), "-e", "2", "-b", "3", "-p", "32", "--filters", "4",
                       "-o", str(out)]) == 0
    best = torch.load(out / "heart-seg-net.pt", weights_only=True)
    assert best["best_dice"] == best["dice"] and "optimizer" not in best
    assert best["config"]["num_filters"] == 4 and best["config"]["input_px"] == 32
    assert "optimizer" in torch.load(out / "heart-seg-net-last.pt", weights_only=True)
    assert len((out / "seg_metrics.csv").read_text().splitlines()) == 3
    assert load_seg(out / "heart-seg-net.pt").config.num_filters == 4


def test_replicas_add_the_gradient_of_the_whole_batch_and_share_the_step():
    """networks.parallel: two copies on two halves give the full batch's gradient of a mean loss."""
    from networks.parallel import Replicas

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(48, 1))
    images, targets = torch.randn(7, 1, 6, 6), torch.randn(7, 1)

    def work(model, x, y):
        return torch.nn.functional.mse_loss(model(x), y), None

    single = copy.deepcopy(net)
    work(single, images, targets)[0].backward()
    replicas = Replicas(net, 2)
    parts = replicas.run(work, images, targets, train=True)
    assert len(parts) == 2
    for mine, whole in zip(net.parameters(), single.parameters()):
        torch.testing.assert_close(mine.grad, whole.grad, rtol=1e-5, atol=1e-6)
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    replicas.synchronise()
    for mine, theirs in zip(net.parameters(), replicas.copies[1].parameters()):
        assert torch.equal(mine, theirs)


def test_seeded_training_on_two_threads_gives_the_same_weights_every_time():
    """QuickNAT's dropout draws from each copy's own generator, so thread timing cannot change the result."""
    from heart_segmentation.train import run_epoch
    from networks.parallel import Replicas

    def trained() -> dict:
        torch.manual_seed(3)
        net = QuickNat(QuickNatConfig(num_class=4, num_filters=4, input_px=32))
        replicas = Replicas(net, 2, seed=5)
        images, labels = torch.rand(8, 1, 32, 32), torch.randint(0, 4, (8, 1, 32, 32))
        optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
        for _ in range(3):
            run_epoch(replicas, [(images, labels)], optimizer)
        assert torch.equal(net.encode1.batchnorm1.running_mean, replicas.copies[1].encode1.batchnorm1.running_mean)
        return net.state_dict()

    first, second = trained(), trained()
    assert all(torch.equal(first[key], second[key]) for key in first)
