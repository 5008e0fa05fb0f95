"""Grey windows into network input tensors, and the memory layout the convolutions run fastest in."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def channels_last(net: torch.nn.Module) -> torch.nn.Module:
    """``net`` with channels-last weights: oneDNN's convolutions run a third faster on this machine.

    The convolutions then sum in another order. That is harmless where the output
    is continuous in the activations (CardioNet reproduces the published golden
    outputs either way), but QuickNAT's max-unpooling turns last-bit differences
    into swapped positions wherever two values nearly tie: its logits come out
    6e-3 off the golden ones instead of 0. So published QuickNAT files run in the
    reference layout, and only our own checkpoints channels-last (their masks are
    identical either way on the benchmark phantoms, 14 million pixels).
    """
    return net.to(memory_format=torch.channels_last)  # one-channel input batches are channels-last already


def to_network_batch(windows: np.ndarray, size, scale: float = 1 / 255) -> torch.Tensor:
    """Resize grey windows to the network input (bicubic, as cv2.INTER_CUBIC) and scale them.

    Parameters
    ----------
    windows : (n, h, w) array of grey values 0-255.
    size : int (square) or (rows, columns).

    Returns
    -------
    (n, 1, rows, columns) float32 tensor.
    """
    shape = (size, size) if isinstance(size, int) else tuple(size)
    batch = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))[:, None] * scale
    if batch.shape[-2:] != shape:
        batch = F.interpolate(batch, size=shape, mode="bicubic", align_corners=False)
    return batch
