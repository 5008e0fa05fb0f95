"""Training augmentation with torchvision.transforms.v2 (image and mask transformed together)."""
from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2


class GreyJitter(v2.Transform):
    """Random gain, gamma, gain slope with depth and additive noise on a 0-1 grey image; masks pass unchanged.

    The slope is what a different time-gain compensation does: the gain changes by up
    to 40 % of itself from the top row to the bottom one.
    """

    def make_params(self, flat_inputs):
        return {"gain": float(torch.empty(1).uniform_(0.7, 1.4)),
                "gamma": float(torch.empty(1).uniform_(0.75, 1.35)),
                "slope": float(torch.empty(1).uniform_(-0.4, 0.4)),
                "noise": float(torch.empty(1).uniform_(0.0, 0.04))}

    def transform(self, inpt, params):
        if isinstance(inpt, tv_tensors.Mask):
            return inpt
        depth = torch.linspace(-0.5, 0.5, inpt.shape[-2])[:, None]
        gain = params["gain"] * (1 + params["slope"] * depth)
        out = inpt.clamp(0, 1) ** params["gamma"] * gain + torch.randn_like(inpt) * params["noise"]
        return out.clamp(0, 1)


def _blur() -> v2.Transform:
    """Sometimes a softer image (another probe, focus or scan converter); masks pass unchanged."""
    return v2.RandomApply([v2.GaussianBlur(5, sigma=(0.3, 1.5))], p=0.3)


def segmentation_transform() -> v2.Compose:
    """Joint affine jitter and flip for (Image, Mask), then grey jitter on the image."""
    return v2.Compose([
        v2.RandomHorizontalFlip(),
        v2.RandomAffine(degrees=0, translate=(0.05, 0.1), scale=(0.8, 1.2)),
        _blur(),
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
