"""CardioNet: the acquisition-quality classifier, exactly as published.

Five blocks of Conv3x3 -> ReLU -> BatchNorm -> MaxPool2 (channels
1-64-128-256-128-64), a Linear(4096, 1) and a sigmoid. The linear layer fixes
the input at 256x256 in the published layout; our own checkpoints may record a
smaller input (128 px: Linear(1024, 1), four times faster).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import nn

NET_INPUT_PX = 256


@dataclass(frozen=True)
class CardioNetConfig:
    """Input convention; stored inside our checkpoints."""

    n_channels: int = 1
    n_classes: int = 1
    input_px: int = NET_INPUT_PX
    # grey 0-255 -> grey / 255 -> (x - mean) / std, as the original's Normalize(0.5, 0.5)
    norm_mean: float = 0.5
    norm_std: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


class CardioNetOutput(NamedTuple):
    """What CardioNet returns: the original's tuple, with names (``out[5]`` is ``out.score``)."""

    block1: torch.Tensor
    block2: torch.Tensor
    block3: torch.Tensor
    block4: torch.Tensor
    logits: torch.Tensor  # (B, 1)
    score: torch.Tensor  # (B,) sigmoid of the logits; from 0.5 on, good quality


class ConvBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(out_channels),
            nn.MaxPool2d(2),
        )

    def forward(self, x):
        return self.double_conv(x)


class CardioNet(nn.Module):
    """Returns a CardioNetOutput: the original's tuple (x1, x2, x3, x4, logits, sigmoid), with names."""

    def __init__(self, n_channels: int = 1, n_classes: int = 1, config: CardioNetConfig | None = None):
        super().__init__()
        self.config = config or CardioNetConfig(n_channels, n_classes)
        n_channels, n_classes = self.config.n_channels, self.config.n_classes
        side = self.config.input_px // 32  # five 2x poolings
        self.conv_block1 = ConvBlock(n_channels, 64)
        self.conv_block2 = ConvBlock(64, 128)
        self.conv_block3 = ConvBlock(128, 256)
        self.conv_block4 = ConvBlock(256, 128)
        self.conv_block5 = ConvBlock(128, 64)
        self.linear = nn.Linear(64 * side * side, n_classes)
        self.sig = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> CardioNetOutput:
        x1 = self.conv_block1(x)
        x2 = self.conv_block2(x1)
        x3 = self.conv_block3(x2)
        x4 = self.conv_block4(x3)
        x5 = self.conv_block5(x4)
        logits = self.linear(x5.reshape(x5.shape[0], -1))
        return CardioNetOutput(x1, x2, x3, x4, logits, self.sig(logits).squeeze(1))
