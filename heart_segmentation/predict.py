"""Load a segmentation checkpoint and segment windows or whole stitched images."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from heart_segmentation.quicknat import QuickNat, QuickNatConfig
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


def window_logits(net: QuickNat, windows: np.ndarray, device="cpu") -> torch.Tensor:
    """Network logits for grey windows (n, h, w) 0-255, shape (n, *cfg.input_shape)."""
    cfg = net.config
    out = []
    with torch.inference_mode():
        for start in range(0, len(windows), BATCH):
            batch = to_network_batch(windows[start:start + BATCH], cfg.input_shape, cfg.input_scale)
            out.append(net(batch.to(device))[:, 0].float().cpu())
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


def segment_image(net: QuickNat, image: np.ndarray, device="cpu") -> np.ndarray:
    """Cavity mask (rows, width) bool of a stitched grey image (rows, width).

    Square windows of side ``rows`` are segmented in batches; their logits are
    resized back bilinearly (smoother borders than resizing the binary mask)
    and the overlap of the last window is dropped.
    """
    rows, width = image.shape
    if width < rows:  # shorter than one window: pad with black on the right
        image = np.pad(image, ((0, 0), (0, rows - width)))
    starts = tile_starts(image.shape[1], rows)  # the last window is right-aligned
    windows = np.stack([image[:, s:s + rows] for s in starts])
    logits = window_logits(net, windows, device)
    mask = np.empty((rows, image.shape[1]), dtype=bool)
    # Backwards, so that earlier windows win where the right-aligned last one overlaps.
    for k in reversed(range(0, len(starts), BATCH)):
        up = F.interpolate(logits[k:k + BATCH, None], size=(rows, rows), mode="bilinear", align_corners=False)
        for start, window in reversed(list(zip(starts[k:k + BATCH], (up[:, 0] > 0).numpy()))):
            mask[:, start:start + rows] = window
    return mask[:, :width]
