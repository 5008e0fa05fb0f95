"""Image/mask windows (DATA_ROOT/img/*.png, DATA_ROOT/mask/*.png) resized to the network input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from mmode.annotations import CAVITY
from networks.batches import to_network_batch
from networks.training_runs import DatasetError


def read_labels(path) -> np.ndarray:
    """Class numbers (rows, cols) uint8 of a mask PNG: 0-3 as written by create_dataset, or a
    one-class cavity mask (0/255, the original's format), whose cavity becomes class CAVITY."""
    mask = np.asarray(Image.open(path).convert("L"))
    return np.where(mask > 127, CAVITY, 0).astype(np.uint8) if mask.max() > CAVITY + 1 else mask


class SegmentationDataset(Dataset):
    """All windows held in memory: image (1, rows, cols) in 0-1, labels (1, rows, cols) int64 at network size.

    ``size`` is an int (square) or (rows, columns). Labels are resized with nearest neighbour,
    each label pixel taken at the middle of the pixels it stands for, or with ``label_grid``
    "floor" at the first of them, as our checkpoints before QuickNatConfig.label_grid learnt.
    With ``aspect`` below 1 (QuickNatConfig.window_aspect), each item is a piece of its window
    ``aspect`` times as wide as the window is high, resized to ``size``: a random piece each
    time when ``random_piece``, else the middle one.
    """

    def __init__(self, root, size, names=None, transform=None, aspect: float = 1.0, random_piece: bool = False,
                 label_grid: str = "centre"):
        root = Path(root)
        self.names = sorted(p.name for p in (root / "img").glob("*.png")) if names is None else list(names)
        if not self.names:
            raise DatasetError(root, "no windows (img/*.png): build them with heart_segmentation.create_dataset")
        self.transform = transform
        self.random_piece = random_piece
        rows, self.columns = (size, size) if isinstance(size, int) else tuple(size)
        shape = (rows, max(self.columns, int(round(self.columns / aspect))))  # the whole window
        mode = {"centre": "nearest-exact", "floor": "nearest"}[label_grid]
        images, labels = [], []
        for name in self.names:
            image = np.asarray(Image.open(root / "img" / name).convert("L"), dtype=np.float32)
            images.append(to_network_batch(image[None], shape)[0])
            mask = torch.from_numpy(read_labels(root / "mask" / name).astype(np.float32))
            labels.append(F.interpolate(mask[None, None], size=shape, mode=mode)[0].to(torch.uint8))
        self.images, self.labels = torch.stack(images), torch.stack(labels)

    def __len__(self):
        return len(self.names)

    def __getitem__(self, index):
        spare = self.images.shape[-1] - self.columns
        first = int(torch.randint(spare + 1, ())) if self.random_piece else spare // 2
        image = self.images[index, ..., first:first + self.columns]
        labels = self.labels[index, ..., first:first + self.columns].long()
        if self.transform is not None:
            from networks.augment import as_pair

            image, labels = self.transform(*as_pair(image, labels))
        return image.as_subclass(torch.Tensor), labels.as_subclass(torch.Tensor)
