"""Evaluate the segmenter on a test set, or plot LVID and volume for one recording.

Usage::

    python -m heart_segmentation.test -d TEST_ROOT [-m MODEL]      # loss, Dice, MSE on img/ + mask/
    python -m heart_segmentation.test -d recording.dcm -o plots/   # LVID and volume over time

Windows are compared at their own size: the network's logits are resized back
to the window, as the pipeline does. A network with narrower windows than the
test set's (``window_aspect`` below 1) is tested on each window's side-by-side
pieces of its own width.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from heart_segmentation.dataset import read_labels
from heart_segmentation.predict import DEFAULT_CHECKPOINT, load_checkpoint, window_columns, window_logits
from mmode.annotations import ANTERIOR_WALL, CAVITY, POSTERIOR_WALL
from mmode.metrics import dice
from networks.batches import to_network_batch

log = logging.getLogger(__name__)


def wall_dice(net, images: np.ndarray, labels: np.ndarray) -> float:
    """Mean Dice of the anterior and posterior wall classes of a four-class network."""
    dices = []
    with torch.inference_mode():
        for image, truth in zip(images, labels):
            batch = to_network_batch(image[None], net.config.input_shape, net.config.input_scale)
            logits = F.interpolate(net(batch), size=truth.shape, mode="bilinear", align_corners=False)[0]
            predicted = logits.argmax(dim=0).numpy()
            dices += [dice(predicted == cls, truth == cls) for cls in (ANTERIOR_WALL, POSTERIOR_WALL)]
    return float(np.mean(dices))


def evaluate_windows(net, images: np.ndarray, masks: np.ndarray) -> dict:
    """Mean BCE loss, Dice and MSE of the cavity in windows (n, h, w) grey 0-255 against 0/1 cavity masks."""
    loss, dices, mse = [], [], []
    for image, mask in zip(images, masks):
        logits = window_logits(net, image[None])
        up = F.interpolate(logits[:, None], size=mask.shape, mode="bilinear", align_corners=False)[0, 0]
        target = torch.from_numpy(mask.astype(np.float32))
        loss.append(F.binary_cross_entropy_with_logits(up, target).item())
        prob = torch.sigmoid(up)
        mse.append(((prob - target) ** 2).mean().item())
        dices.append(dice((up > 0).numpy(), mask))
    return {"loss": float(np.mean(loss)), "dice": float(np.mean(dices)), "mse": float(np.mean(mse)), "n": len(dices)}


def read_set(root: Path):
    """Grey windows (n, h, w) and their class labels (n, h, w) (see create_dataset)."""
    names = sorted(p.name for p in (root / "img").glob("*.png"))
    images = np.stack([np.asarray(Image.open(root / "img" / n).convert("L"), dtype=np.float32) for n in names])
    return images, np.stack([read_labels(root / "mask" / n) for n in names])


def pieces(images: np.ndarray, labels: np.ndarray, columns: int):
    """Windows cut side by side into pieces ``columns`` wide (a remainder narrower than that is left out)."""
    n = images.shape[2] // columns
    if n <= 1:
        return images, labels
    cut = lambda a: np.concatenate([a[:, :, k * columns:(k + 1) * columns] for k in range(n)])
    return cut(images), cut(labels)


def plot_recording(net, path: Path, output: Path) -> Path:
    from heart_segmentation.predict import image_borders
    from mmode.beats import teichholz_ul
    from mmode.borders import diameters_mm
    from mmode.recording import load_recording
    from mmode.plots import plot_lvid_volume

    recording = load_recording(path)
    borders = image_borders(net, recording.image)
    lvid = diameters_mm(borders, recording.calibration.mm_per_px)["lvid"]
    output.mkdir(parents=True, exist_ok=True)
    time_s = np.arange(lvid.size) * recording.calibration.seconds_per_px
    return plot_lvid_volume(time_s, lvid, teichholz_ul(lvid), output / f"{path.stem}_lvid.png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Test the heart segmenter.")
    parser.add_argument("-d", "--data", type=Path, required=True, help="test root (img/, mask/) or one DICOM")
    parser.add_argument("-m", "--model", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("-s", "--size", type=int, help="ignored: the checkpoint records its input size")
    parser.add_argument("-o", "--output", type=Path, default=Path("."), help="folder for the plot")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    net = load_checkpoint(args.model)
    if args.data.is_file():
        print(f"wrote {plot_recording(net, args.data, args.output)}")
        return 0
    images, labels = read_set(args.data)
    images, labels = pieces(images, labels, window_columns(net.config, images.shape[1]))
    metrics = evaluate_windows(net, images, labels == CAVITY)
    walls = ""
    if net.config.num_class > 1 and (labels == ANTERIOR_WALL).any():
        walls = f"  wall Dice {wall_dice(net, images, labels):.4f}"
    print(f"windows {metrics['n']}  loss {metrics['loss']:.4f}  cavity Dice {metrics['dice']:.4f}  "
          f"MSE {metrics['mse']:.5f}{walls}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
