"""Where the shipped weights are, found without importing their packages (which imports torch).

The command lines need the default paths while parsing arguments, before
end2end_framework.py starts its sidecar process (see mmode.sidecar), and a
process must not fork once torch has started its threads.
"""
from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path


def package_dir(name: str) -> Path:
    """The folder of top-level package ``name``, without running its ``__init__``."""
    return Path(find_spec(name).submodule_search_locations[0]).resolve()


SEG_CHECKPOINT = package_dir("heart_segmentation") / "checkpoints" / "heart-seg-net.pt"
QUALITY_CHECKPOINT_DIR = package_dir("quality_classification") / "checkpoints"


def default_quality_checkpoint() -> Path:
    """The shipped quality-clas-net.pt, or a .pth of the same name (the published spelling)."""
    pt = QUALITY_CHECKPOINT_DIR / "quality-clas-net.pt"
    pth = pt.with_suffix(".pth")
    return pth if not pt.exists() and pth.exists() else pt
