"""Evaluate a quality classifier (one model or a bootstrap ensemble) on a test set.

Usage::

    python -m quality_classification.test -d TEST_ROOT -m quality_classification/checkpoints/quality-clas-net.pt
    python -m quality_classification.test -d TEST_ROOT -m ENSEMBLE_DIR -b -o results/

Prints accuracy, FPR, FNR and F1 ('good' is the positive class); ``-o`` writes
test_results.csv (filename, predicted, true) into the given folder.
"""
from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path

import numpy as np

from mmode.metrics import classification_metrics
from quality_classification.dataset import list_windows, read_window
from quality_classification.predict import classify_windows, load_checkpoint

log = logging.getLogger(__name__)


def ensemble_scores(model_paths, windows, device="cpu") -> np.ndarray:
    """Mean sigmoid score of all models for each window."""
    return np.mean([classify_windows(load_checkpoint(p, device), windows, device) for p in model_paths], axis=0)


def evaluate(model_paths, items, threshold: float = 0.5, device="cpu"):
    """(metrics dict, predicted labels, scores) for (path, label) items."""
    windows = [read_window(path) for path, _ in items]
    scores = ensemble_scores(model_paths, windows, device)
    predicted = (scores >= threshold).astype(int)
    return classification_metrics(predicted, [label for _, label in items]), predicted, scores


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Test the quality classifier.")
    parser.add_argument("-d", "--data", type=Path, required=True, help="test root with pngs/ or npys/")
    parser.add_argument("-m", "--model", type=Path, default=None, help="model file, or folder with -b")
    parser.add_argument("-b", "--bootstrap", action="store_true", help="average all models in the folder -m")
    parser.add_argument("-t", "--type", choices=("png", "npy"), default="png")
    parser.add_argument("-o", "--output", type=Path, help="folder for test_results.csv")
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.bootstrap:
        models = sorted(args.model.glob("*.pt")) + sorted(args.model.glob("*.pth"))
        if not models:
            parser.error(f"{args.model}: no .pt or .pth models for the ensemble")
    else:
        models = [args.model] if args.model else [None]
    items = list_windows(args.data, args.type)
    metrics, predicted, _ = evaluate(models, items, args.threshold)
    print(f"windows {metrics['n']}  accuracy {metrics['accuracy']:.4f}  FPR {metrics['fpr']:.4f}  "
          f"FNR {metrics['fnr']:.4f}  F1 {metrics['f1']:.4f}")
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        with open(args.output / "test_results.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["filename", "predicted", "true"])
            for (path, label), pred in zip(items, predicted):
                writer.writerow([path.name, int(pred), label])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
