"""Good/bad windows (ROOT/pngs/{good,bad}/*.png or ROOT/npys/{good,bad}/*.npy) at network size."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from networks.batches import to_network_batch
from networks.training_runs import DatasetError

LABELS = {"bad": 0, "good": 1}


def list_windows(root, kind: str = "png") -> list[tuple[Path, int]]:
    """Sorted (path, label) pairs; label 1 = good."""
    folder = Path(root) / ("pngs" if kind == "png" else "npys")
    items = [(p, label) for name, label in LABELS.items() for p in sorted((folder / name).glob(f"*.{kind}"))]
    if not items:
        raise DatasetError(folder, f"no {kind} windows in good/ or bad/: build them with "
                                   "quality_classification.create_dataset")
    return items


def read_window(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path).astype(np.float32)
    return np.asarray(Image.open(path).convert("L"), dtype=np.float32)


class QualityDataset(Dataset):
    """Windows in memory as (1, px, px) in 0-1 (not yet normalised) and float labels."""

    def __init__(self, items, size: int, transform=None, mean: float = 0.5, std: float = 0.5):
        self.items = list(items)
        self.transform, self.mean, self.std = transform, mean, std
        self.images = torch.stack([to_network_batch(read_window(p)[None], size)[0] for p, _ in self.items])
        self.labels = torch.tensor([label for _, label in self.items], dtype=torch.float32)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return (image - self.mean) / self.std, self.labels[index]
