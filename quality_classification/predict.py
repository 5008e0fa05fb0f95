"""Load a quality checkpoint and classify grey windows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mmode.errors import CheckpointError
from networks.batches import channels_last, to_network_batch
from networks.checkpoints import load_file, load_weights, require_kind
from networks.threads import in_threads
from quality_classification import shipped_checkpoint
from quality_classification.model import CardioNet, CardioNetConfig

BATCH = 4  # windows per forward pass: small batches stay in cache, faster on a CPU and lighter than 16


def load_checkpoint(path=None, device="cpu") -> CardioNet:
    """A CardioNet in eval mode from our checkpoint or the published plain state_dict."""
    path = path or shipped_checkpoint()
    obj = load_file(path, device, shipped=Path(path).resolve() == shipped_checkpoint())
    require_kind(obj, "quality-classifier", path)
    if isinstance(obj, dict) and "net_state_dict" in obj:
        net = CardioNet(config=CardioNetConfig(**obj.get("config", {})))
        state = obj["net_state_dict"]
    elif isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        net, state = CardioNet(), obj  # the published file: a plain state_dict
    else:
        raise CheckpointError(path, "not a quality-classifier checkpoint")
    load_weights(net, state, path)
    return channels_last(net.to(device).eval())


def classify_windows(net: CardioNet, windows, device="cpu", threads: int = 1) -> np.ndarray:
    """Sigmoid scores (n,) for grey windows 0-255 (a list or an (n, h, w) array).

    Each window is resized to the network's input, scaled to 0-1 and
    normalised as in training; a score >= 0.5 means good quality. Batches of BATCH
    windows run one by one, or ``threads`` at a time (networks.threads).
    """
    cfg = net.config

    def batch_scores(start: int) -> np.ndarray:
        chunk = windows[start:start + BATCH]
        if len({w.shape for w in chunk}) == 1:  # the pipeline's windows: resize them in one call
            batch = to_network_batch(np.stack(chunk), cfg.input_px)
        else:
            batch = torch.cat([to_network_batch(w[None], cfg.input_px) for w in chunk])
        batch = (batch - cfg.norm_mean) / cfg.norm_std
        with torch.inference_mode():
            return net(batch.to(device)).score.float().cpu().numpy()

    scores = list(in_threads(batch_scores, range(0, len(windows), BATCH), threads))
    return np.concatenate(scores) if scores else np.empty(0)


def predict_single(net: CardioNet, device, image: np.ndarray, size: int | None = None) -> float:
    """The original's API: the sigmoid score of one grey window (0-255); >= 0.5 is good.

    ``size`` is accepted for the original's signature; the network's own input size is used.
    """
    return float(classify_windows(net, [image], device)[0])
