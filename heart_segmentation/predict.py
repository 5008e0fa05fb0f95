"""Load a segmentation checkpoint and segment windows or whole stitched images."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from heart_segmentation.quicknat import QuickNat, QuickNatConfig
from mmode.annotations import CAVITY, cavity_mask
from mmode.borders import remove_spikes, snap_borders, trace_borders
from heart_segmentation import SHIPPED_CHECKPOINT as DEFAULT_CHECKPOINT
from mmode.errors import CheckpointError
from mmode.windows import tile_starts
from networks.batches import channels_last, to_network_batch
from networks.checkpoints import load_file, load_weights, require_kind
from networks.threads import in_threads

PUBLISHED_CONFIG = QuickNatConfig()  # 64 filters, 256 px, input 0-1
BATCH = 1  # windows per forward pass: one at a time is as fast on a CPU and 300 MB lighter than 8


def load_checkpoint(path=DEFAULT_CHECKPOINT, device="cpu") -> QuickNat:
    """A QuickNat in eval mode from our checkpoint or the published heart-seg-net.pt."""
    obj = load_file(path, device, shipped=Path(path).resolve() == DEFAULT_CHECKPOINT)
    require_kind(obj, "segmentation", path)
    if "net_state_dict" not in obj:
        raise CheckpointError(path, "not a segmentation checkpoint (no 'net_state_dict')")
    cfg = QuickNatConfig.stored(obj["config"]) if "config" in obj else PUBLISHED_CONFIG
    net = QuickNat(cfg)
    load_weights(net, obj["net_state_dict"], path)
    net = net.to(device).eval()
    return channels_last(net) if "config" in obj else net  # ours only: see networks.batches.channels_last


def cavity_log_odds(logits: torch.Tensor) -> torch.Tensor:
    """log(p(cavity) / p(not cavity)) per pixel, (n, rows, cols), from one- or four-class logits."""
    if logits.shape[1] == 1:
        return logits[:, 0]
    others = torch.cat([logits[:, :CAVITY], logits[:, CAVITY + 1:]], dim=1)
    return logits[:, CAVITY] - torch.logsumexp(others, dim=1)


def window_logits(net: QuickNat, windows: np.ndarray, device="cpu") -> torch.Tensor:
    """Cavity logits (log-odds) for grey windows (n, h, w) 0-255, shape (n, *cfg.input_shape)."""
    cfg = net.config
    out = []
    with torch.inference_mode():
        for start in range(0, len(windows), BATCH):
            batch = to_network_batch(windows[start:start + BATCH], cfg.input_shape, cfg.input_scale)
            out.append(cavity_log_odds(net(batch.to(device)).float().cpu()))
    return torch.cat(out) if out else torch.empty(0, *cfg.input_shape)


def predict_single(net: QuickNat, device, image: np.ndarray, size: int | None = None):
    """The original's API: (0-1 mask at network size, 0-1 mask at the window's size).

    ``image`` is one 2-D grey window (0-255); the second mask is resized back
    with nearest neighbour, as the original did. ``size`` is accepted for the
    original's signature; the network's own input size (from its checkpoint) is used.
    A window wider than the network's own (``window_aspect`` below 1, as the
    shipped segmenter's) is segmented in pieces of its width, as the pipeline does:
    the window-size mask is then the cavity between the traced borders, and the
    first mask that one resized to the network's input.
    """
    if image.shape[1] > window_columns(net.config, image.shape[0]):
        full = torch.from_numpy(segment_image(net, np.asarray(image, dtype=np.float32), device).astype(np.float32))
        mask = F.interpolate(full[None, None], size=net.config.input_shape, mode="nearest")[0, 0]
        return mask.numpy(), full.numpy()
    logits = window_logits(net, image[None], device)
    mask = (logits > 0).float()
    full = F.interpolate(mask[:, None], size=image.shape, mode="nearest")[0, 0]
    return mask[0].numpy(), full.numpy()


def window_log_probs(net: QuickNat, window: np.ndarray, device="cpu") -> np.ndarray:
    """Log-probability of each class per pixel row and network column of one grey window.

    Returns (4, rows, network columns) float32 for a four-class network (background,
    anterior wall, cavity, posterior wall: mmode.annotations) and (2, rows, network columns)
    for background and cavity from a one-class network such as the published one. The
    logits are resized bilinearly to the window's rows (borders to a pixel, not to the
    network's coarser rows); the columns stay at the network's resolution.
    """
    batch = to_network_batch(window[None], net.config.input_shape, net.config.input_scale)
    with torch.inference_mode():
        logits = net(batch.to(device)).float().cpu()
        logits = F.interpolate(logits, size=(window.shape[0], logits.shape[-1]), mode="bilinear",
                               align_corners=False)[0]
        if net.config.num_class == 1:  # sigmoid: log p(background) and log p(cavity)
            return torch.stack([F.logsigmoid(-logits[0]), F.logsigmoid(logits[0])]).numpy()
        return F.log_softmax(logits, dim=0).numpy()


def image_borders(net: QuickNat, image: np.ndarray, device="cpu", threads: int = 1) -> np.ndarray:
    """The four LV borders (4, width) of a stitched grey image (rows, width): mmode.borders.

    Windows as tall as the image and ``rows * window_aspect`` columns wide (the network's
    config) are segmented one by one, or ``threads`` at a time (networks.threads); each
    window's borders are traced at the network's column resolution and interpolated to the
    image's columns. Where the right-aligned last window overlaps the one before, their
    borders are cross-faded, so that no seam shows.
    The borders of a network trained on floor-aligned labels (QuickNatConfig.label_grid) are
    moved back up; last, both endocardia and the anterior epicardium are moved onto the image's
    grey steps (mmode.borders.snap_borders) and the endocardia rid of narrow spikes
    (mmode.borders.remove_spikes).
    """
    rows, width = image.shape
    side = window_columns(net.config, rows)
    if width < side:  # shorter than one window: pad with black on the right
        image = np.pad(image, ((0, 0), (0, side - width)))
    starts = tile_starts(image.shape[1], side)  # the last window is right-aligned

    def window_borders(start: int) -> np.ndarray:
        return trace_borders(window_log_probs(net, image[:, start:start + side], device))

    borders = np.full((4, image.shape[1]), np.nan)
    done = 0  # columns filled so far
    for start, coarse in zip(starts, in_threads(window_borders, starts, threads)):
        centres = (np.arange(coarse.shape[1]) + 0.5) * side / coarse.shape[1] - 0.5
        fine = np.stack([np.interp(np.arange(side), centres, b) for b in coarse])
        overlap = done - start
        if overlap > 0:
            fade = np.linspace(1.0, 0.0, overlap)
            borders[:, start:done] = fade * borders[:, start:done] + (1 - fade) * fine[:, :overlap]
        borders[:, done:start + side] = fine[:, max(overlap, 0):]
        done = start + side
    if net.config.label_grid == "floor":  # trained to draw its borders this many rows too deep
        borders -= (rows / net.config.input_px - 1) / 2
    return remove_spikes(snap_borders(image[:, :width], borders[:, :width]), rows)


def window_columns(cfg: QuickNatConfig, rows: int) -> int:
    """Columns of one segmentation window of an image ``rows`` high."""
    return max(1, int(round(rows * cfg.window_aspect)))


def segment_image(net: QuickNat, image: np.ndarray, device="cpu") -> np.ndarray:
    """Cavity mask (rows, width) bool of a stitched grey image: between the traced endocardia."""
    return cavity_mask(image_borders(net, image, device), image.shape[0])
