"""Load a segmentation checkpoint and segment windows or whole stitched images."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from heart_segmentation.quicknat import QuickNat, QuickNatConfig
from mmode.annotations import CAVITY
from mmode.errors import CheckpointError
from mmode.nets import channels_last, load_file, load_weights, to_network_batch
from mmode.shipped import SEG_CHECKPOINT as DEFAULT_CHECKPOINT
from mmode.windows import tile_starts

PUBLISHED_CONFIG = QuickNatConfig()  # 64 filters, 256 px, input 0-1
BATCH = 1  # windows per forward pass: one at a time is as fast on a CPU and 300 MB lighter than 8


def load_checkpoint(path=DEFAULT_CHECKPOINT, device="cpu") -> QuickNat:
    """A QuickNat in eval mode from our checkpoint or the published heart-seg-net.pt."""
    obj = load_file(path, device)
    if not isinstance(obj, dict) or "net_state_dict" not in obj:
        raise CheckpointError(path, "not a segmentation checkpoint (no 'net_state_dict')")
    cfg = QuickNatConfig(**obj["config"]) if "config" in obj else PUBLISHED_CONFIG
    net = QuickNat(cfg)
    load_weights(net, obj["net_state_dict"], path)
    net = net.to(device).eval()
    return channels_last(net) if "config" in obj else net  # ours only: see mmode.nets.channels_last


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
    """
    logits = window_logits(net, image[None], device)
    mask = (logits > 0).float()
    full = F.interpolate(mask[:, None], size=image.shape, mode="nearest")[0, 0]
    return mask[0].numpy(), full.numpy()


def class_log_probs(net: QuickNat, image: np.ndarray, device="cpu") -> np.ndarray:
    """Log-probability of each class per pixel of a stitched grey image (rows, width).

    Returns (4, rows, width) float32 for a four-class network (background, anterior wall,
    cavity, posterior wall: mmode.annotations) and (2, rows, width) for background and
    cavity from a one-class network such as the published one. Square windows of side
    ``rows`` are segmented one by one; their logits are resized back bilinearly (smoother
    borders than resizing a label map). Where the right-aligned last window overlaps the
    one before, the two are cross-faded, so that no seam shows in the borders.
    """
    rows, width = image.shape
    if width < rows:  # shorter than one window: pad with black on the right
        image = np.pad(image, ((0, 0), (0, rows - width)))
    starts = tile_starts(image.shape[1], rows)  # the last window is right-aligned
    n_class = net.config.num_class
    out = np.empty((max(n_class, 2), rows, image.shape[1]), dtype=np.float32)
    done = 0  # columns filled so far
    with torch.inference_mode():
        for start in starts:
            batch = to_network_batch(image[None, :, start:start + rows], net.config.input_shape,
                                     net.config.input_scale)
            logits = F.interpolate(net(batch.to(device)).float().cpu(), size=(rows, rows), mode="bilinear",
                                   align_corners=False)[0]
            if n_class == 1:  # sigmoid: log p(background) and log p(cavity)
                logits = torch.stack([F.logsigmoid(-logits[0]), F.logsigmoid(logits[0])])
            else:
                logits = F.log_softmax(logits, dim=0)
            window = logits.numpy()
            overlap = done - start  # the right-aligned last window overlaps the one before: cross-fade
            if overlap > 0:
                fade = np.linspace(1.0, 0.0, overlap, dtype=np.float32)
                out[:, :, start:done] = fade * out[:, :, start:done] + (1 - fade) * window[:, :, :overlap]
            out[:, :, done:start + rows] = window[:, :, max(overlap, 0):]
            done = start + rows
    return out[:, :, :width]


def segment_image(net: QuickNat, image: np.ndarray, device="cpu") -> np.ndarray:
    """Cavity mask (rows, width) bool of a stitched grey image: pixels most likely cavity."""
    log_prob = class_log_probs(net, image, device)
    cavity = log_prob[-1] if log_prob.shape[0] == 2 else log_prob[CAVITY]
    return cavity >= log_prob.max(axis=0)
