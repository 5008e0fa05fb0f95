"""QuickNAT (Roy et al. 2019) exactly as the published heart-seg-net.pt was trained.

Dense blocks of conv 5x5 -> conv 5x5 -> conv 1x1 on concatenated inputs, each
preceded by BatchNorm and one shared PReLU; four encoders with max pooling,
a dense bottleneck, and four decoders that max-unpool with the encoder's
indices and concatenate the skip first. The published forward pass calls the
decoders in the order decode4, decode1, decode2, decode3; we keep it, since
all four have the same shapes and any other order loads silently but gives
different masks.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F

from networks.parallel import ChannelDropout


@dataclass(frozen=True)
class QuickNatConfig:
    """Architecture and input convention; stored inside our checkpoints."""

    num_channels: int = 1
    num_class: int = 1
    num_filters: int = 64
    kernel_h: int = 5
    kernel_w: int = 5
    stride_conv: int = 1
    pool: int = 2
    stride_pool: int = 2
    drop_out: float = 0.2
    input_px: int = 256  # windows are resized to input_px rows ...
    input_width_px: int | None = None  # ... by this many columns (None: square)
    input_scale: float = 1 / 255  # grey 0-255 times this is what the network sees
    # Columns of a window as a fraction of its rows (the image's height): 1 for the published
    # square windows; below 1, narrower windows stretched in time to the same input, so that
    # a fast border (the tip of end-diastole) spans more of the network's columns.
    window_aspect: float = 1.0
    # How the training labels were shrunk to the input rows. "centre": each label row is the
    # class at the middle of the rows it stands for (nearest-exact), as the image's is. "floor":
    # the class at its first row (torch's "nearest"), which teaches the network to draw every
    # border (rows / input_px - 1) / 2 rows too deep; our checkpoints made before this field
    # existed were trained so, and heart_segmentation.predict moves their borders back. Fine-tuning
    # keeps the grid of the weights it starts from.
    label_grid: str = "centre"

    @property
    def input_shape(self) -> tuple[int, int]:
        """(rows, columns) the windows are resized to; more columns resolve fast wall motion in time."""
        return self.input_px, self.input_width_px or self.input_px

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def stored(cls, config: dict) -> "QuickNatConfig":
        """The config kept in one of our checkpoints; one without ``label_grid`` predates it: "floor"."""
        return cls(**{"label_grid": "floor", **config})


class DenseBlock(nn.Module):
    def __init__(self, in_channels: int, cfg: QuickNatConfig):
        super().__init__()
        f, kh, kw = cfg.num_filters, cfg.kernel_h, cfg.kernel_w
        pad = ((kh - 1) // 2, (kw - 1) // 2)
        self.conv1 = nn.Conv2d(in_channels, f, (kh, kw), padding=pad, stride=cfg.stride_conv)
        self.conv2 = nn.Conv2d(in_channels + f, f, (kh, kw), padding=pad, stride=cfg.stride_conv)
        self.conv3 = nn.Conv2d(in_channels + 2 * f, f, 1, stride=cfg.stride_conv)
        self.batchnorm1 = nn.BatchNorm2d(in_channels)
        self.batchnorm2 = nn.BatchNorm2d(in_channels + f)
        self.batchnorm3 = nn.BatchNorm2d(in_channels + 2 * f)
        self.prelu = nn.PReLU()  # one parameter shared by all three activations

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o1 = self.conv1(self.prelu(self.batchnorm1(x)))
        cat1 = torch.cat([x, o1], dim=1)
        o2 = self.conv2(self.prelu(self.batchnorm2(cat1)))
        return self.conv3(self.prelu(self.batchnorm3(torch.cat([x, o1, o2], dim=1))))


class EncoderBlock(DenseBlock):
    def __init__(self, in_channels: int, cfg: QuickNatConfig):
        super().__init__(in_channels, cfg)
        self.drop_out = ChannelDropout(cfg.drop_out)
        self.pool = cfg.pool
        self.stride_pool = cfg.stride_pool

    def forward(self, x):
        skip = self.drop_out(super().forward(x))
        pooled, indices = F.max_pool2d(skip, self.pool, self.stride_pool, return_indices=True)
        return pooled, skip, indices


class DecoderBlock(DenseBlock):
    def __init__(self, cfg: QuickNatConfig):
        super().__init__(2 * cfg.num_filters, cfg)
        self.drop_out = ChannelDropout(cfg.drop_out)
        self.pool = cfg.pool
        self.stride_pool = cfg.stride_pool

    def forward(self, x, skip, indices):
        # The aten op is F.max_unpool2d with output_size, without the Python wrapper that imports
        # torch.fx's symbolic shapes (a third of a second) on first use.
        unpooled = torch.ops.aten.max_unpool2d(x, indices, list(skip.shape[-2:]))
        return self.drop_out(super().forward(torch.cat([skip, unpooled], dim=1)))


class ClassifierBlock(nn.Module):
    def __init__(self, cfg: QuickNatConfig):
        super().__init__()
        self.conv = nn.Conv2d(cfg.num_filters, cfg.num_class, 1)

    def forward(self, x):
        return self.conv(x)


class QuickNat(nn.Module):
    """QuickNAT returning logits of shape (batch, num_class, H, W).

    ``QuickNat(params)`` also accepts the original's parameter dict.
    """

    def __init__(self, cfg: QuickNatConfig | dict | None = None):
        super().__init__()
        if isinstance(cfg, dict):
            known = QuickNatConfig.__dataclass_fields__
            cfg = QuickNatConfig(**{k: v for k, v in cfg.items() if k in known})
        self.config = cfg = cfg or QuickNatConfig()
        f = cfg.num_filters
        self.encode1 = EncoderBlock(cfg.num_channels, cfg)
        self.encode2 = EncoderBlock(f, cfg)
        self.encode3 = EncoderBlock(f, cfg)
        self.encode4 = EncoderBlock(f, cfg)
        self.bottleneck = DenseBlock(f, cfg)
        self.decode1 = DecoderBlock(cfg)
        self.decode2 = DecoderBlock(cfg)
        self.decode3 = DecoderBlock(cfg)
        self.decode4 = DecoderBlock(cfg)
        self.classifier = ClassifierBlock(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1, out1, ind1 = self.encode1(x)
        e2, out2, ind2 = self.encode2(e1)
        e3, out3, ind3 = self.encode3(e2)
        e4, out4, ind4 = self.encode4(e3)
        bn = self.bottleneck(e4)
        # The published wiring: decode4, decode1, decode2, decode3 (see module docstring).
        d4 = self.decode4(bn, out4, ind4)
        d3 = self.decode1(d4, out3, ind3)
        d2 = self.decode2(d3, out2, ind2)
        d1 = self.decode3(d2, out1, ind1)
        return self.classifier(d1)
