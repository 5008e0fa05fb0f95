"""The error the pipeline cares about: per-beat LVID of a segmenter on recordings with traced borders.

Dice over windows rewards the bulk of the cavity; a diameter at end-diastole
depends on the few columns at the tip of each beat. This measures that: the
beats of the traced borders (found by the pipeline's own beat finder on the
true LVID trace) against the beats of the segmenter's borders, matched by
end-diastole as tools/evaluate_pipeline.py does (mmode.beats.matching_beat). Use
recordings of good quality throughout (the traces know nothing of image quality).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from heart_segmentation.predict import image_borders
from mmode.annotations import borders_path, read_borders
from mmode.beats import detect_beats, matching_beat
from mmode.borders import diameters_mm
from mmode.recording import find_recordings, load_recording


def traced_recordings(folder: Path) -> list[Path]:
    """The recordings of ``folder`` (as run4all.py picks them) that have border traces beside them."""
    return [path for path in find_recordings(folder) if borders_path(path).exists()]


def lvid_trace(borders: np.ndarray, mm_per_px: float) -> np.ndarray:
    return np.nan_to_num(diameters_mm(borders, mm_per_px)["lvid"], nan=0.0)


def beat_lvid_errors(net, recordings, device="cpu", threads: int = 1) -> dict:
    """Median (and mean) |error| (mm) of LVID;d and LVID;s, and the share of traced beats the segmenter finds.

    ``threads``: windows segmented at once (networks.threads).
    """
    was_training = net.training
    net.eval()
    diastole, systole, found, total = [], [], 0, 0
    for path in recordings:
        recording = load_recording(path)
        cal, width = recording.calibration, recording.image.shape[1]
        truth = detect_beats(lvid_trace(read_borders(borders_path(path))[:, :width], cal.mm_per_px),
                             cal.seconds_per_px)
        measured = detect_beats(lvid_trace(image_borders(net, recording.image, device, threads), cal.mm_per_px),
                                cal.seconds_per_px)
        total += len(truth)
        for beat in truth:
            match = matching_beat(beat.ed_index, beat.next_ed_index, measured)
            if match is not None:
                found += 1
                diastole.append(abs(match.lvid_d_mm - beat.lvid_d_mm))
                systole.append(abs(match.lvid_s_mm - beat.lvid_s_mm))
    net.train(was_training)
    median = lambda values: float(np.median(values)) if values else float("nan")
    mean = lambda values: float(np.mean(values)) if values else float("nan")
    return {"lvid_d_mm": median(diastole), "lvid_s_mm": median(systole), "found": found / max(total, 1),
            "beats": total, "lvid_d_mean_mm": mean(diastole), "lvid_s_mean_mm": mean(systole)}
