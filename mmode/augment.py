"""Training augmentation with torchvision.transforms.v2 (image and mask transformed together)."""
from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2


class GreyJitter(v2.Transform):
    """Random gain, gamma and additive noise on a 0-1 grey image; masks pass unchanged."""

    def make_params(self, flat_inputs):
        return {"gain": float(torch.empty(1).uniform_(0.7, 1.4)),
                "gamma": float(torch.empty(1).uniform_(0.75, 1.35)),
                "noise": float(torch.empty(1).uniform_(0.0, 0.04))}

    def transform(self, inpt, params):
        if isinstance(inpt, tv_tensors.Mask):
            return inpt
        out = inpt.clamp(0, 1) ** params["gamma"] * params["gain"] + torch.randn_like(inpt) * params["noise"]
        return out.clamp(0, 1)


def segmentation_transform() -> v2.Compose:
    """Joint affine jitter and flip for (Image, Mask), then grey jitter on the image."""
    return v2.Compose([
        v2.RandomHorizontalFlip(),
        v2.RandomAffine(degrees=0, translate=(0.05, 0.1), scale=(0.8, 1.2)),
        GreyJitter(),
    ])


def classification_transform() -> v2.Compose:
    return v2.Compose([
        v2.RandomHorizontalFlip(),
        v2.RandomAffine(degrees=0, translate=(0.05, 0.05), scale=(0.9, 1.1)),
        GreyJitter(),
    ])


def as_pair(image: torch.Tensor, mask: torch.Tensor):
    return tv_tensors.Image(image), tv_tensors.Mask(mask)
