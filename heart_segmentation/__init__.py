"""Left-ventricle segmentation with QuickNAT.

Importing the package does not import torch: the command lines need the path of
the shipped weights while they parse their arguments, before they start their
helper processes (pipeline.helpers), which must fork before torch starts its
threads. The network's names load from their modules on first use.
"""
from importlib import import_module
from pathlib import Path

SHIPPED_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "heart-seg-net.pt"

_EXPORTS = {"QuickNat": "quicknat", "QuickNatConfig": "quicknat", "load_checkpoint": "predict",
            "predict_single": "predict", "segment_image": "predict", "window_logits": "predict"}
__all__ = ["SHIPPED_CHECKPOINT", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
