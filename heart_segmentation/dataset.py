"""Image/mask windows (DATA_ROOT/img/*.png, DATA_ROOT/mask/*.png) resized to the network input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from mmode.annotations import CAVITY
from mmode.nets import to_network_batch


def read_labels(path) -> np.ndarray:
    """Class numbers (rows, cols) uint8 of a mask PNG: 0-3 as written by create_dataset, or a
    one-class cavity mask (0/255, the original's format), whose cavity becomes class CAVITY."""
    mask = np.asarray(Image.open(path).convert("L"))
    return np.where(mask > 127, CAVITY, 0).astype(np.uint8) if mask.max() > CAVITY + 1 else mask


class SegmentationDataset(Dataset):
    """All windows held in memory at network size: image (1, rows, cols) in 0-1, labels (1, rows, cols) int64.

    ``size`` is an int (square) or (rows, columns). Labels are resized with nearest neighbour.
    """

    def __init__(self, root, size, names=None, transform=None):
        root = Path(root)
        self.names = sorted(p.name for p in (root / "img").glob("*.png")) if names is None else list(names)
        if not self.names:
            raise FileNotFoundError(f"{root}: no windows in img/")
        self.transform = transform
        shape = (size, size) if isinstance(size, int) else tuple(size)
        images, labels = [], []
        for name in self.names:
            image = np.asarray(Image.open(root / "img" / name).convert("L"), dtype=np.float32)
            images.append(to_network_batch(image[None], shape)[0])
            mask = torch.from_numpy(read_labels(root / "mask" / name).astype(np.float32))
            labels.append(F.interpolate(mask[None, None], size=shape, mode="nearest")[0].long())
        self.images, self.labels = torch.stack(images), torch.stack(labels)

    def __len__(self):
        return len(self.names)

    def __getitem__(self, index):
        image, labels = self.images[index], self.labels[index]
        if self.transform is not None:
            from mmode.augment import as_pair

            image, labels = self.transform(*as_pair(image, labels))
        return image.as_subclass(torch.Tensor), labels.as_subclass(torch.Tensor)
