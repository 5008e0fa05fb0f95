"""Image/mask windows (DATA_ROOT/img/*.png, DATA_ROOT/mask/*.png) resized to the network input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from mmode.nets import to_network_batch


class SegmentationDataset(Dataset):
    """All windows held in memory at network size: image (1, rows, cols) in 0-1, mask (1, rows, cols) 0/1.

    ``size`` is an int (square) or (rows, columns).
    """

    def __init__(self, root, size, names=None, transform=None):
        root = Path(root)
        self.names = sorted(p.name for p in (root / "img").glob("*.png")) if names is None else list(names)
        if not self.names:
            raise FileNotFoundError(f"{root}: no windows in img/")
        self.transform = transform
        images, masks = [], []
        for name in self.names:
            image = np.asarray(Image.open(root / "img" / name).convert("L"), dtype=np.float32)
            mask = np.asarray(Image.open(root / "mask" / name).convert("L"), dtype=np.float32) / 255.0
            images.append(to_network_batch(image[None], size)[0])
            shape = (size, size) if isinstance(size, int) else tuple(size)
            resized = F.interpolate(torch.from_numpy(mask)[None, None], size=shape, mode="bilinear",
                                    align_corners=False)
            masks.append((resized[0] > 0.5).float())
        self.images, self.masks = torch.stack(images), torch.stack(masks)

    def __len__(self):
        return len(self.names)

    def __getitem__(self, index):
        image, mask = self.images[index], self.masks[index]
        if self.transform is not None:
            from mmode.augment import as_pair

            image, mask = self.transform(*as_pair(image, mask))
        return image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor)
