"""The two networks, loaded, as the object the core analysis is given (mmode.analysis.Networks)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmode.errors import EchoInputError


@dataclass
class Models:
    """A loaded segmenter and quality classifier on one torch device."""

    seg: object  # heart_segmentation.quicknat.QuickNat
    quality: object  # quality_classification.model.CardioNet
    device: str = "cpu"
    threads: int = 1  # windows through a network at once (networks.threads)

    def segment(self, image: np.ndarray) -> np.ndarray:
        from heart_segmentation.predict import image_borders  # imported by load_models already

        return image_borders(self.seg, image, self.device, self.threads)

    def classify(self, windows: list[np.ndarray]) -> np.ndarray:
        from quality_classification.predict import classify_windows

        return classify_windows(self.quality, windows, self.device, self.threads)


def load_models(seg_path: Path, quality_path: Path, device: str = "cpu", threads: int | None = None) -> Models:
    """Both networks from their checkpoint files; CheckpointError or EchoInputError in one line.

    torch is imported here, not when this module is: the command lines start their
    helper processes (pipeline.helpers) first, which must fork before torch's threads exist.
    On the CPU the networks take ``threads`` windows at a time (default: the cores this
    process may use), each on one torch thread: this sets torch.set_num_threads(1) for
    the whole process (networks.threads says why).
    """
    # Before torch loads OpenMP: idle OpenMP threads sleep instead of spinning, which leaves the
    # cores to the helper processes (run4all: 1.2 s per file instead of 1.5 on two cores).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    from heart_segmentation.predict import load_checkpoint as load_seg
    from quality_classification.predict import load_checkpoint as load_quality

    try:
        torch.empty(0, device=device)
    except (RuntimeError, ValueError) as exc:
        raise EchoInputError(None, f"--device {device} is not usable here ({str(exc).splitlines()[0]})") from None
    if device == "cpu":
        from networks.threads import available_cores, configure_malloc

        configure_malloc()
        threads = threads or available_cores()
        torch.set_num_threads(1)
    else:  # the accelerator runs the windows; one thread feeds it
        threads = 1
    return Models(load_seg(seg_path, device), load_quality(quality_path, device), device, threads)
