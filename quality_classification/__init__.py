"""Acquisition-quality classification of M-mode windows with CardioNet.

Importing the package does not import torch (see heart_segmentation/__init__.py
for why); the network's names load from their modules on first use.
"""
from importlib import import_module
from pathlib import Path

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"

_EXPORTS = {"CardioNet": "model", "CardioNetConfig": "model", "classify_windows": "predict",
            "load_checkpoint": "predict", "predict_single": "predict"}
__all__ = ["CHECKPOINT_DIR", "shipped_checkpoint", *_EXPORTS]


def shipped_checkpoint() -> Path:
    """The shipped quality-clas-net.pt, or a .pth of the same name (the published spelling)."""
    pt = CHECKPOINT_DIR / "quality-clas-net.pt"
    pth = pt.with_suffix(".pth")
    return pth if not pt.exists() and pth.exists() else pt


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
