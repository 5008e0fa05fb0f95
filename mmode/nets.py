"""Small torch helpers shared by both networks: loading files and resizing windows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mmode.errors import CheckpointError
from mmode.shipped import SEG_CHECKPOINT, default_quality_checkpoint

PUBLISHED_MODELS_URL = "https://zenodo.org/record/3941857"


def load_file(path, device="cpu"):
    """``torch.load`` with weights_only=True; failures become CheckpointError."""
    path = Path(path)
    if not path.is_file():
        if path.resolve() in (SEG_CHECKPOINT, default_quality_checkpoint()):
            raise CheckpointError(path, "model file not found; the shipped weights live in the repository "
                                  f"(git checkout restores them), the published ones at {PUBLISHED_MODELS_URL}")
        raise CheckpointError(path, "model file not found")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise CheckpointError(path, f"cannot read model file ({type(exc).__name__}: {str(exc)[:120]}); "
                              f"restore it from the repository or download it from {PUBLISHED_MODELS_URL}") from None


# The first layer's name in each network's state_dict (ours and the published files alike).
FIRST_LAYER = {"segmentation": "encode1.", "quality-classifier": "conv_block1."}


def checkpoint_kind(obj) -> str | None:
    """"segmentation" or "quality-classifier" by the layer names a checkpoint holds; None if neither."""
    state = obj.get("net_state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        return None
    for kind, prefix in FIRST_LAYER.items():
        if any(isinstance(key, str) and key.startswith(prefix) for key in state):
            return kind
    return None


def require_kind(obj, kind: str, path) -> None:
    """CheckpointError unless ``obj`` holds the weights of a ``kind`` network (FIRST_LAYER)."""
    found = checkpoint_kind(obj)
    if found == kind:
        return
    option = {"segmentation": "--seg-model", "quality-classifier": "--quality-model"}[kind]
    hint = f" but a {found} one; were {option} and the other model swapped?" if found else ""
    raise CheckpointError(path, f"not a {kind} checkpoint{hint or ' (no known layer names)'}")


def load_weights(net: torch.nn.Module, state_dict, path) -> None:
    try:
        net.load_state_dict(state_dict, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise CheckpointError(path, f"weights do not fit this network ({str(exc).splitlines()[0][:160]})") from None


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
