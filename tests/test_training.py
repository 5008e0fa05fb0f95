"""Segmenter training and inference details: border-weighted loss, narrow windows, fine-tuning."""
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import heart_segmentation.predict as predict
import phantom
from heart_segmentation import QuickNat, QuickNatConfig
from helpers import load_tool
from mmode.analysis import gate_beats
from mmode.annotations import label_mask
from mmode.beats import Beat


def test_class_edges_mark_both_sides_of_every_class_change():
    from heart_segmentation.train import class_edges

    labels = torch.zeros(1, 5, 4, dtype=torch.long)
    labels[0, 2:, :] = 2
    labels[0, 4, 3] = 3
    expected = torch.zeros(1, 5, 4)
    expected[0, 1:3, :] = 1  # above and below the 0/2 change
    expected[0, 3, 3] = expected[0, 4, 3] = expected[0, 4, 2] = 1  # around the lone 3
    assert torch.equal(class_edges(labels), expected)


def test_a_mistake_on_a_border_costs_more_than_one_inside_a_band():
    from heart_segmentation.train import EDGE_WEIGHT, loss_and_prediction

    labels = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    labels[..., 4:, :] = 2
    logits = F.one_hot(labels[:, 0], 4).permute(0, 3, 1, 2).float() * 10
    uniform, _, _ = loss_and_prediction(logits, labels)
    on_border, inside = logits.clone(), logits.clone()
    on_border[0, :, 4, 0] = on_border[0, :, 4, 0].flip(0)  # row 4 is next to row 3's other class
    inside[0, :, 7, 0] = inside[0, :, 7, 0].flip(0)
    border_loss = loss_and_prediction(on_border, labels)[0] - uniform
    inside_loss = loss_and_prediction(inside, labels)[0] - uniform
    assert border_loss / inside_loss == pytest.approx(1 + EDGE_WEIGHT, rel=1e-4)



def _beating_cavity(columns):
    """(1, 40, columns) labels with a cavity 10-30 rows tall, a beat every 4 TIP_HALF_WIDTH_COLUMNS."""
    from heart_segmentation.train import TIP_HALF_WIDTH_COLUMNS

    height_rows = np.rint(20 + 10 * np.cos(2 * np.pi * np.arange(columns) / (4 * TIP_HALF_WIDTH_COLUMNS))).astype(int)
    labels = torch.zeros(1, 40, columns, dtype=torch.long)
    for column, height in enumerate(height_rows):
        labels[0, 5:5 + height, column] = 2
    return labels, height_rows


def test_beat_tips_are_the_tallest_and_shortest_columns_of_each_beat():
    from heart_segmentation.train import TIP_HALF_WIDTH_COLUMNS, TIP_ROWS, beat_tips

    labels, height_rows = _beating_cavity(8 * TIP_HALF_WIDTH_COLUMNS)
    tips = beat_tips(labels)[0].numpy().astype(bool)
    assert np.array_equal(tips, (height_rows >= 30 - TIP_ROWS) | (height_rows <= 10 + TIP_ROWS))
    assert not beat_tips(torch.zeros_like(labels)).any()  # no cavity, no tips


def test_the_tip_weight_scales_the_loss_of_tip_columns_only():
    from heart_segmentation.train import TIP_HALF_WIDTH_COLUMNS, loss_and_prediction

    labels, _ = _beating_cavity(8 * TIP_HALF_WIDTH_COLUMNS)
    labels = labels[:, None]
    logits = F.one_hot(labels[:, 0], 4).permute(0, 3, 1, 2).float() * 10
    uniform = loss_and_prediction(logits, labels, tip_weight=3.0)[0]
    at_tip, mid_beat = logits.clone(), logits.clone()  # end-diastole at column 0, half-way down a quarter beat on
    at_tip[0, :, 0, 0] = at_tip[0, :, 0, 0].flip(0)
    mid_beat[0, :, 0, TIP_HALF_WIDTH_COLUMNS] = mid_beat[0, :, 0, TIP_HALF_WIDTH_COLUMNS].flip(0)
    ratio = ((loss_and_prediction(at_tip, labels, tip_weight=3.0)[0] - uniform)
             / (loss_and_prediction(mid_beat, labels, tip_weight=3.0)[0] - uniform))
    assert ratio == pytest.approx(4.0, rel=1e-4)
    assert loss_and_prediction(at_tip, labels, tip_weight=0.0)[0] == pytest.approx(
        loss_and_prediction(at_tip, labels)[0].item())  # no tip weight: the loss as before


def test_keep_batch_norm_leaves_the_running_statistics_alone():
    from heart_segmentation.train import run_epoch

    torch.manual_seed(0)
    net = QuickNat(QuickNatConfig(num_class=4, num_filters=4, input_px=32))
    images, labels = torch.rand(4, 1, 32, 32) * 3, torch.randint(0, 4, (4, 1, 32, 32))
    loader = [(images, labels)]
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    run_epoch(net, loader, optimizer, keep_batch_norm=True)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items() if k in before)
    run_epoch(net, loader, optimizer)
    assert not all(torch.equal(before[k], v) for k, v in net.state_dict().items() if k in before)

def _labels_as_log_probs(net, window, device="cpu"):
    """A perfect segmenter: the window's pixel values are its class numbers."""
    rows, cols = net.config.input_shape
    small = F.interpolate(torch.from_numpy(window.astype(np.float32))[None, None], size=(window.shape[0], cols),
                          mode="nearest")[0, 0].long()
    return np.log(np.clip(F.one_hot(small, 4).permute(2, 0, 1).numpy(), 1e-6, 1)).astype(np.float32)


def test_narrow_windows_trace_fast_borders_closer(monkeypatch):
    import phantom

    ph = phantom.generate(phantom.PhantomConfig(seed=3, n_frames=6))
    rows = ph.image.shape[0]
    labels = label_mask(ph.borders, rows).astype(np.float32)
    steepest = np.abs(np.diff(ph.borders, axis=1)).max()  # rows per column
    seen, errors = [], {}

    def perfect(net, window, device="cpu"):
        seen.append(window.shape)
        return _labels_as_log_probs(net, window, device)

    monkeypatch.setattr(predict, "window_log_probs", perfect)
    monkeypatch.setattr(predict, "snap_borders", lambda image, borders: borders)  # the labels are no echo
    for aspect in (1.0, 0.5):
        seen.clear()
        config = QuickNatConfig(num_class=4, num_filters=4, input_px=64, input_width_px=128, window_aspect=aspect)
        traced = predict.image_borders(QuickNat(config), labels)
        assert set(seen) == {(rows, round(rows * aspect))} == {(rows, predict.window_columns(config, rows))}
        errors[aspect] = np.abs(traced - np.ceil(ph.borders))
        # A border moves at most ``steepest`` rows per column, and a network column spans ``pitch``
        # columns: the running median of three network columns cuts the tip of a V (end-diastole) by
        # up to one network column of its slope (7.3 rows of 8.4 for square windows).
        pitch = rows * aspect / 128
        assert np.nanmax(errors[aspect]) <= 1 + pitch * steepest
    assert np.nanmax(errors[0.5]) < 0.6 * np.nanmax(errors[1.0])
    assert np.nanmedian(errors[0.5]) < 0.6 * np.nanmedian(errors[1.0])


def test_labels_are_shrunk_at_the_middle_of_their_rows(tmp_path):
    """A label row stands for the rows whose middle it is, as the bicubic-shrunk image row does."""
    from heart_segmentation.dataset import SegmentationDataset

    for folder in ("img", "mask"):
        (tmp_path / folder).mkdir()
    mask = np.zeros((616, 616), np.uint8)
    mask[98:] = 2  # a border at row 98 of 616; label row i covers rows 4.8125 i to 4.8125 (i + 1)
    Image.fromarray(np.zeros((616, 616), np.uint8)).save(tmp_path / "img" / "w.png")
    Image.fromarray(mask).save(tmp_path / "mask" / "w.png")
    labels = SegmentationDataset(tmp_path, 128)[0][1][0, :, 0]
    # Row 20's middle is row 98.7, inside the band; taking each label row's first row (row 96.25)
    # puts the border one label row (4.8 rows) lower, as the floor grid of older checkpoints did.
    assert int(np.argmax(labels.numpy() == 2)) == 20
    floor = SegmentationDataset(tmp_path, 128, label_grid="floor")[0][1][0, :, 0]
    assert int(np.argmax(floor.numpy() == 2)) == 21


def test_borders_of_floor_grid_checkpoints_are_moved_back_up(monkeypatch, tmp_path):
    from types import SimpleNamespace

    import phantom
    from heart_segmentation import train

    ph = phantom.generate(phantom.PhantomConfig(seed=3, n_frames=6))
    rows = ph.image.shape[0]
    labels = label_mask(ph.borders, rows).astype(np.float32)
    monkeypatch.setattr(predict, "window_log_probs", _labels_as_log_probs)
    monkeypatch.setattr(predict, "snap_borders", lambda image, borders: borders)
    traced = {}
    for grid in ("centre", "floor"):
        config = QuickNatConfig(num_class=4, num_filters=4, input_px=64, input_width_px=128, label_grid=grid)
        traced[grid] = predict.image_borders(QuickNat(config), labels)
    np.testing.assert_allclose(traced["centre"] - traced["floor"], (rows / 64 - 1) / 2)
    # Checkpoints that do not name their grid were trained on the floor grid; new ones say so.
    stored = QuickNatConfig(num_class=4, num_filters=4).to_dict()
    del stored["label_grid"]
    net = QuickNat(QuickNatConfig(num_class=4, num_filters=4))
    for config, expected in ((stored, "floor"), (net.config.to_dict(), "centre")):
        torch.save({"net_state_dict": net.state_dict(), "config": config}, tmp_path / "c.pt")
        assert predict.load_checkpoint(tmp_path / "c.pt").config.label_grid == expected
        # fine-tuning goes on with the labels the weights learnt
        args = SimpleNamespace(classes=4, size=None, width=None, aspect=None, freeze_encoder=False)
        assert train.initialised(tmp_path / "c.pt", args).config.label_grid == expected


def test_dataset_pieces_are_parts_of_the_resized_window(tmp_path):
    from heart_segmentation.dataset import SegmentationDataset

    for folder in ("img", "mask"):
        (tmp_path / folder).mkdir()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 64), dtype=np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, :] = 2
    mask[:, 40:] = 3
    Image.fromarray(image).save(tmp_path / "img" / "w.png")
    Image.fromarray(mask).save(tmp_path / "mask" / "w.png")
    whole = SegmentationDataset(tmp_path, (32, 16), aspect=0.5)
    assert whole.images.shape[-2:] == (32, 32)
    middle_image, middle_labels = whole[0]
    assert middle_image.shape == (1, 32, 16) and middle_labels.dtype == torch.int64
    assert torch.equal(middle_image, whole.images[0, ..., 8:24])
    torch.manual_seed(0)
    pieces = SegmentationDataset(tmp_path, (32, 16), aspect=0.5, random_piece=True)
    firsts = set()
    for _ in range(20):
        _, labels = pieces[0]
        full = pieces.labels[0].long()
        firsts.add(next(k for k in range(17) if torch.equal(full[..., k:k + 16], labels)))
    assert len(firsts) > 3


def test_fine_tuning_starts_from_the_weights_at_a_new_width_with_a_frozen_encoder(tmp_path):
    from heart_segmentation import train

    for folder in ("img", "mask"):
        (tmp_path / "data" / folder).mkdir(parents=True)
    for k in range(6):
        mask = np.zeros((64, 64), np.uint8)
        mask[10 + k:20 + k], mask[20 + k:40 + k], mask[40 + k:50 + k] = 1, 2, 3
        Image.fromarray((60 * (mask != 2) + 20 * k).astype(np.uint8)).save(tmp_path / "data" / "img" / f"w{k}.png")
        Image.fromarray(mask).save(tmp_path / "data" / "mask" / f"w{k}.png")
    source = QuickNat(QuickNatConfig(num_class=4, num_filters=4, input_px=32))
    torch.save({"net_state_dict": source.state_dict(), "config": source.config.to_dict()}, tmp_path / "source.pt")
    out = tmp_path / "out"
    assert train.main(["-d", str(tmp_path / "data"), "-e", "1", "-b", "2", "--width", "64", "--aspect", "0.5",
                       "--init", str(tmp_path / "source.pt"), "--freeze-encoder", "-o", str(out)]) == 0
    tuned = torch.load(out / "heart-seg-net-last.pt", weights_only=True)
    assert tuned["config"]["input_width_px"] == 64 and tuned["config"]["window_aspect"] == 0.5
    assert tuned["config"]["input_px"] == 32 and tuned["config"]["num_filters"] == 4
    before, after = source.state_dict(), tuned["net_state_dict"]
    for name in before:
        frozen = name.startswith(train.FROZEN_WITH_ENCODER)
        assert torch.equal(before[name], after[name]) == frozen or name.endswith("num_batches_tracked"), name
    net = predict.load_checkpoint(out / "heart-seg-net-last.pt")
    assert net.config.window_aspect == 0.5


def _beat(ed, es, nxt):
    return Beat(0, ed, es, nxt, ed * 0.001, es * 0.001, 4.0, 3.0, 60 / ((nxt - ed) * 0.001))


def test_a_beat_is_good_only_when_its_whole_cycle_is():
    scores = np.ones(300)
    scores[150] = 0.2  # one bad column between the second beat's end-systole and its next end-diastole
    beats = gate_beats([_beat(10, 50, 100), _beat(100, 140, 200), _beat(200, 240, 290)], scores, 0.5)
    assert [b.good for b in beats] == [True, False, True]
    assert beats[1].quality == pytest.approx(0.2)


def test_a_beat_much_smaller_at_end_diastole_than_the_recordings_typical_one_is_not_good():
    """Phantom seed 7005: at the end of a probe slip, the classifier's window passed a peak of 2.1 mm
    in a recording whose end-diastoles measure 3.4 mm; the cursor no longer cut the widest diameter."""
    import dataclasses

    beats = [dataclasses.replace(_beat(100 * k, 100 * k + 40, 100 * k + 100), lvid_d_mm=d)
             for k, d in enumerate([3.4, 3.5, 3.3, 2.1, 3.4, 2.5])]
    gated = gate_beats(beats, np.ones(700), 0.5)
    assert [b.good for b in gated] == [True, True, True, False, True, True]  # 2.5 / 3.4 = 0.74: kept
    assert gated[3].quality == 1.0  # the classifier's score stays what it was
    assert [b.good for b in gate_beats(beats[3:4], np.ones(700), 0.5)] == [True]  # its own typical


def test_split_keeps_each_recording_on_one_side():
    from networks.training_runs import MIN_VALIDATION, split_by_recording

    names = [f"rec{r}_{start:05d}.png" for r in range(10) for start in range(0, 1000, 100)]
    train_rows, val_rows = split_by_recording(names, 20, seed=1)
    recordings = lambda rows: {names[i].split("_")[0] for i in rows}
    assert len(val_rows) == 20 and not recordings(train_rows) & recordings(val_rows)
    assert sorted(train_rows + val_rows) == list(range(100))
    # A small share still gives a validation set worth the name; one recording stays for training.
    assert len(split_by_recording(names, 1, seed=1)[1]) == 2 * 10 >= MIN_VALIDATION
    assert split_by_recording(names[:10], 50, seed=1) == (list(range(10)), [])
    assert split_by_recording(names, 0, seed=1) == (list(range(100)), [])


def _segmentation_windows(root, n=6):
    for folder in ("img", "mask"):
        (root / folder).mkdir(parents=True)
    for k in range(n):
        mask = np.zeros((64, 64), np.uint8)
        mask[10 + k:20 + k], mask[20 + k:40 + k], mask[40 + k:50 + k] = 1, 2, 3
        Image.fromarray((60 * (mask != 2) + 20 * k).astype(np.uint8)).save(root / "img" / f"r{k}_00000.png")
        Image.fromarray(mask).save(root / "mask" / f"r{k}_00000.png")


def test_training_writes_a_new_run_folder_with_its_settings(tmp_path, monkeypatch):
    import json

    from heart_segmentation import train

    _segmentation_windows(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    args = ["-d", "data", "-e", "1", "-b", "3", "-p", "32", "--filters", "4"]
    assert train.main(args) == 0
    assert train.main(args) == 0
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all(r.name.startswith("seg-") for r in runs)
    for run in runs:
        assert {p.name for p in run.iterdir()} == {"heart-seg-net.pt", "heart-seg-net-last.pt", "seg_metrics.csv",
                                                   "settings.json"}
        settings = json.loads((run / "settings.json").read_text())
        assert settings["options"]["epochs"] == 1 and settings["options"]["size"] == 32
        assert settings["versions"]["torch"] == torch.__version__


@pytest.mark.parametrize("module", ["heart_segmentation", "quality_classification"])
def test_training_never_writes_the_shipped_weights_unless_asked(tmp_path, capsys, module):
    import importlib

    from heart_segmentation import SHIPPED_CHECKPOINT
    from quality_classification import CHECKPOINT_DIR

    train = importlib.import_module(f"{module}.train")
    shipped = SHIPPED_CHECKPOINT.parent if module == "heart_segmentation" else CHECKPOINT_DIR
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    args = _tiny_training_set(module, tmp_path / "data")
    assert train.main([*args, "-o", str(shipped)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "shipped weights" in error and "--replace-shipped" in error
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before


def _tiny_training_set(module: str, root) -> list[str]:
    """Write a few windows for ``module``'s trainer into ``root``; the arguments that train on them quickly."""
    if module == "heart_segmentation":
        _segmentation_windows(root)
        return ["-d", str(root), "-p", "32", "--filters", "4"]
    _tiny_quality_windows(root)
    return ["-d", str(root), "-p", "64"]


def _tiny_quality_windows(root, labels=("good", "bad")):
    for label in labels:
        (root / "pngs" / label).mkdir(parents=True)
        for k in range(4):
            value = 200 if label == "good" else 40
            Image.fromarray(np.full((48, 48), value + k, np.uint8)).save(root / "pngs" / label / f"r{k}_00000.png")


@pytest.mark.parametrize("args, problem", [
    (["-e", "0"], "argument -e/--epochs: 0 is outside 1-10000"),
    (["-p", "100"], "100 is not a multiple of 32"),
    (["-v", "80"], "80 is outside 0-50"),
    (["-l", "-1"], "argument -l/--lr"),
])
def test_quality_training_options_are_checked(tmp_path, capsys, args, problem):
    from quality_classification import train

    _tiny_quality_windows(tmp_path / "data")
    with pytest.raises(SystemExit) as stop:
        train.main(["-d", str(tmp_path / "data"), "-o", str(tmp_path / "out"), *args])
    assert stop.value.code == 2 and problem in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_training_set_of_one_class_or_none_is_refused(tmp_path, capsys):
    from heart_segmentation import train as seg_train
    from quality_classification import train

    _tiny_quality_windows(tmp_path / "good_only", labels=("good",))
    assert train.main(["-d", str(tmp_path / "good_only"), "-p", "64", "-o", str(tmp_path / "out")]) == 2
    assert "no bad windows" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert train.main(["-d", str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) == 2
    assert "no png windows" in capsys.readouterr().err
    assert seg_train.main(["-d", str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {tmp_path / 'empty'}: no windows") and error.count("\n") == 1


def test_per_beat_validation_of_a_perfect_segmenter_is_exact(write_phantom, monkeypatch):
    from heart_segmentation import validate

    path, ph, _ = write_phantom(seed=12, n_frames=10)

    def traced(net, image, device="cpu", threads=1):  # the phantom's own borders, as a flawless network would give
        return ph.borders.astype(np.float64)

    monkeypatch.setattr(validate, "image_borders", traced)
    net = QuickNat(QuickNatConfig(num_class=4, num_filters=4, input_px=32))
    result = validate.beat_lvid_errors(net, validate.traced_recordings(path.parent))
    assert result["beats"] >= 4 and result["found"] == 1.0
    assert result["lvid_d_mm"] < 1e-6 and result["lvid_s_mm"] < 1e-6  # the traces are stored to 6 digits

    def shifted(net, image, device="cpu", threads=1):  # the posterior endocardium 5 rows too deep
        borders = ph.borders.astype(np.float64)
        borders[2] += 5
        return borders

    monkeypatch.setattr(validate, "image_borders", shifted)
    result = validate.beat_lvid_errors(net, validate.traced_recordings(path.parent))
    assert result["lvid_d_mm"] == pytest.approx(5 * ph.config.mm_per_px, rel=1e-3)
    assert result["lvid_d_mean_mm"] == pytest.approx(5 * ph.config.mm_per_px, rel=1e-3)
    assert result["lvid_s_mean_mm"] == pytest.approx(5 * ph.config.mm_per_px, rel=1e-3)


@pytest.mark.parametrize("module", ["heart_segmentation", "quality_classification"])
def test_the_originals_default_output_inside_a_package_folder_is_refused(tmp_path, monkeypatch, capsys, module):
    # The original's train.py wrote to ./checkpoints: run from inside a package folder, the shipped weights.
    import importlib

    train = importlib.import_module(f"{module}.train")
    package = tmp_path / module
    (package / "checkpoints").mkdir(parents=True)
    (package / "checkpoints" / "weights.pt").write_bytes(b"shipped")
    if module == "heart_segmentation":
        monkeypatch.setattr(train, "SHIPPED_CHECKPOINT", package / "checkpoints" / "heart-seg-net.pt")
    else:
        monkeypatch.setattr(train, "CHECKPOINT_DIR", package / "checkpoints")
    args = _tiny_training_set(module, tmp_path / "data")
    monkeypatch.chdir(package)
    assert train.main([*args, "-o", "checkpoints"]) == 2
    assert "shipped weights" in capsys.readouterr().err
    assert train.main(args) == 0  # the default: a new run folder
    assert [p.name for p in (package / "checkpoints").iterdir()] == ["weights.pt"]
    assert (package / "checkpoints" / "weights.pt").read_bytes() == b"shipped"
    assert len(list((package / "runs").iterdir())) == 1


# --- every training command of the README leaves the shipped weights alone ---------------------------

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_FOLDERS = [ROOT / "heart_segmentation" / "checkpoints", ROOT / "quality_classification" / "checkpoints"]


def readme_training_commands() -> list[list[str]]:
    """The ``python -m PACKAGE.train ...`` lines of the README's code blocks, as argument lists.

    tools/train_shipped.sh is left out: replacing the shipped weights is what it is for.
    """
    commands = []
    for block in re.findall(r"```\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = line.split("#")[0].split()
            if words[:2] == ["python", "-m"] and len(words) > 2 and words[2].endswith(".train"):
                commands.append(words[2:])
    return commands


def _for_a_tiny_run(command: list[str], tmp_path: Path) -> tuple[str, list[str]]:
    """(module, arguments): the README's command with its data swapped for a few windows and 1 epoch."""
    module, args = command[0].removesuffix(".train"), list(command[1:])
    values = {option: k + 1 for k, option in enumerate(args) if option.startswith("-")}
    data = tmp_path / "data"
    if module == "heart_segmentation":
        _segmentation_windows(data)
    else:
        _tiny_quality_windows(data)
        for png in data.rglob("*.png"):  # -t npy reads the same windows as arrays
            target = data / "npys" / png.parent.name / f"{png.stem}.npy"
            target.parent.mkdir(parents=True, exist_ok=True)
            np.save(target, np.asarray(Image.open(png)))
    replace = {"-d": str(data), "-e": "1", "--init": str(ROOT / args[values["--init"]]) if "--init" in values else None}
    if "--val-recordings" in values:
        traced = tmp_path / "val"
        phantom.make_set(traced, [7400], n_frames=4, bad_segments=())
        replace["--val-recordings"] = str(traced)
    for option, value in replace.items():
        if option in values and value is not None:
            args[values[option]] = value
    return module, args


@pytest.mark.slow
@pytest.mark.parametrize("command", readme_training_commands(), ids=lambda c: " ".join(c[:3]))
def test_readme_training_commands_leave_the_shipped_weights_untouched(command, tmp_path, monkeypatch):
    import importlib

    before = {p: p.read_bytes() for folder in SHIPPED_FOLDERS for p in folder.iterdir() if p.is_file()}
    module, args = _for_a_tiny_run(command, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert importlib.import_module(f"{module}.train").main(args) == 0
    assert {p: p.read_bytes() for folder in SHIPPED_FOLDERS for p in folder.iterdir() if p.is_file()} == before
    assert list(tmp_path.glob("*/*.pt")) or list(tmp_path.glob("runs/*/*.pt"))  # the weights went elsewhere


def test_the_readme_has_training_commands_to_check():
    assert len(readme_training_commands()) >= 4


def test_averaged_checkpoints_hold_the_mean_of_their_weights(tmp_path, capsys):
    """tools/average_checkpoints.py: float tensors averaged (batch-norm statistics too), counters kept,
    the sources named; another network or another config is a one-line error."""
    tool = load_tool("average_checkpoints")
    cfg = QuickNatConfig(num_class=4, num_filters=4, input_px=32)
    paths = []
    for k in range(2):
        torch.manual_seed(k)
        net = QuickNat(cfg)
        paths.append(tmp_path / f"n{k}.pt")
        torch.save({"epoch": k, "net_state_dict": net.state_dict(), "config": cfg.__dict__}, paths[-1])
    one, two = (torch.load(p, weights_only=True)["net_state_dict"] for p in paths)
    assert tool.main([str(p) for p in paths] + ["-o", str(tmp_path / "avg.pt")]) == 0
    averaged = torch.load(tmp_path / "avg.pt", weights_only=True)
    assert averaged["epoch"] == 0 and averaged["averaged_from"] == [str(p) for p in paths]
    for key, value in averaged["net_state_dict"].items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (one[key] + two[key]) / 2)
        else:
            assert torch.equal(value, one[key])
    assert any(not torch.equal(one[k], two[k]) for k in one)  # the two differed
    predict.load_checkpoint(tmp_path / "avg.pt")  # loads as a segmenter

    wider = QuickNatConfig(num_class=4, num_filters=8, input_px=32)
    torch.save({"net_state_dict": QuickNat(wider).state_dict(), "config": wider.__dict__}, tmp_path / "wide.pt")
    torch.save({"conv_block1.weight": torch.zeros(1)}, tmp_path / "quality.pt")
    for other in ("wide.pt", "quality.pt"):
        assert tool.main([str(paths[0]), str(tmp_path / other), "-o", str(tmp_path / "x.pt")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and other in err
    assert not (tmp_path / "x.pt").exists()
