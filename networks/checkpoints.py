"""Reading checkpoint files: torch.load with one-line errors, and which network a file holds."""
from __future__ import annotations

from pathlib import Path

import torch

from mmode.errors import CheckpointError

PUBLISHED_MODELS_URL = "https://zenodo.org/record/3941857"


def load_file(path, device="cpu", shipped: bool = False):
    """``torch.load`` with weights_only=True; failures become CheckpointError.

    ``shipped``: ``path`` is a model package's own checkpoint, so a missing file is
    advice to restore it; a missing file of the user's own is only missing.
    """
    path = Path(path)
    if not path.is_file():
        if shipped:
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
