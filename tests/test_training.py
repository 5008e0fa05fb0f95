"""Segmenter training and inference details: border-weighted loss, narrow windows, fine-tuning."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import heart_segmentation.predict as predict
from heart_segmentation import QuickNat, QuickNatConfig
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
    for aspect in (1.0, 0.5):
        seen.clear()
        config = QuickNatConfig(num_class=4, num_filters=4, input_px=64, input_width_px=128, window_aspect=aspect)
        traced = predict.image_borders(QuickNat(config), labels)
        assert set(seen) == {(rows, round(rows * aspect))} == {(rows, predict.window_columns(config, rows))}
        errors[aspect] = np.abs(traced - np.ceil(ph.borders))
        # A border moves at most ``steepest`` rows per column, and a network column spans ``pitch`` columns.
        pitch = rows * aspect / 128
        assert np.nanmax(errors[aspect]) <= 1 + 0.6 * pitch * steepest
    assert np.nanmax(errors[0.5]) < 0.6 * np.nanmax(errors[1.0])
    assert np.nanmedian(errors[0.5]) < 0.6 * np.nanmedian(errors[1.0])


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
