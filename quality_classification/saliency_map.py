"""Gradient saliency of the quality classifier for one window: which pixels move its score.

    python -m quality_classification.saliency_map -i window.png [-m MODEL] -o saliency.png

The saliency is |d logit / d pixel| of the network input, shown beside the window.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from networks.batches import to_network_batch
from quality_classification.dataset import read_window
from quality_classification.predict import load_checkpoint


def saliency(net, window: np.ndarray) -> tuple[np.ndarray, float]:
    """(saliency map at network size, sigmoid score) for a grey window 0-255."""
    cfg = net.config
    x = ((to_network_batch(window[None], cfg.input_px) - cfg.norm_mean) / cfg.norm_std).requires_grad_(True)
    outputs = net(x)
    outputs.logits.sum().backward()
    return x.grad[0, 0].abs().numpy(), float(outputs.score.item())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Saliency map of the quality classifier for one window.")
    parser.add_argument("-i", "--input", type=Path, required=True, help="window as .png or .npy")
    parser.add_argument("-m", "--model", type=Path, help="classifier weights (default: shipped)")
    parser.add_argument("-o", "--output", type=Path, default=Path("saliency.png"))
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    net = load_checkpoint(args.model)
    window = read_window(args.input)
    heat, score = saliency(net, window)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.5), layout="constrained")
    left.imshow(window, cmap="gray", vmin=0, vmax=255)
    left.set_title(f"window (score {score:.3f}: {'good' if score >= 0.5 else 'bad'})")
    right.imshow(heat, cmap="inferno")
    right.set_title("saliency |d logit / d pixel|")
    for ax in (left, right):
        ax.axis("off")
    fig.savefig(args.output, dpi=100)
    plt.close(fig)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
