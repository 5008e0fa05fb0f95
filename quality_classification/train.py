"""Train CardioNet on good/bad windows; with -a, a bootstrap ensemble of fresh networks.

Usage::

    python -m quality_classification.train -d DATA_ROOT -t npy -e 4 -b 16 -p 128 [-o RUN_FOLDER]

Adam, BCE with per-class weights (bad windows are rarer), a seeded validation
split of whole recordings, one metrics CSV row per epoch, in a new run folder
with the settings (networks.training_runs). ``-f``/``--init`` starts from the
weights of another checkpoint (fine-tuning). Saves ``quality-clas-net.pt`` (the best
epoch by validation accuracy), or with ``-a`` one ``quality-clas-net-<r>.pt``
per run, each a freshly initialised network trained on a bootstrap resample.
"""
from __future__ import annotations

import argparse
import csv
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from mmode.cli import in_range
from mmode.outputs import written_atomically
from networks.checkpoints import load_file, load_weights
from networks.parallel import Replicas
from networks.training_runs import (DatasetError, add_run_arguments, batch_threads, multiple_of, run_folder,
                                    run_main, split_by_recording, write_settings)
from quality_classification import CHECKPOINT_DIR
from quality_classification.dataset import LABELS, QualityDataset, list_windows
from quality_classification.model import CardioNet, CardioNetConfig

log = logging.getLogger(__name__)


def run_epoch(net, loader, optimizer=None, pos_weight: float = 1.0, device="cpu") -> dict:
    """One pass; trains when ``optimizer`` is given. Returns mean loss and accuracy.

    ``net`` is a CardioNet or networks.parallel.Replicas of one (each batch split between threads).
    """
    replicas = Replicas.of(net)
    replicas.net.train(optimizer is not None)

    def work(model, images, labels):
        logits = model(images).logits[:, 0]
        weights = torch.where(labels > 0.5, torch.full_like(labels, pos_weight), torch.ones_like(labels))
        return F.binary_cross_entropy_with_logits(logits, labels, weight=weights), logits.detach()

    loss_sum, correct, n = 0.0, 0, 0
    for images, labels in tqdm(loader, leave=False, desc="train" if optimizer else "eval"):
        images, labels = images.to(device), labels.to(device)
        parts = replicas.step(work, images, labels, optimizer=optimizer)
        logits = torch.cat([part[1] for part in parts])
        loss_sum += sum(part[0].item() * len(part[1]) for part in parts)
        correct += ((logits >= 0) == (labels > 0.5)).sum().item()
        n += len(labels)
    return {"loss": loss_sum / max(n, 1), "accuracy": correct / max(n, 1)}


def train_one(net, train_items, val_set, args, out_path: Path, metrics_writer, run: int, device,
              threads: int = 1) -> float:
    """Train ``net`` (``threads`` copies sharing each batch: networks.parallel); the best validation accuracy."""
    from networks.augment import classification_transform

    cfg = net.config
    train_set = QualityDataset(train_items, cfg.input_px, classification_transform(), cfg.norm_mean, cfg.norm_std)
    labels = train_set.labels
    pos_weight = float((labels < 0.5).sum() / max((labels > 0.5).sum(), 1))  # balance good against bad
    generator = torch.Generator().manual_seed(args.seed + run)
    loader = DataLoader(train_set, batch_size=args.batch, shuffle=True, generator=generator)
    val_loader = DataLoader(val_set, batch_size=max(args.batch, 16)) if val_set is not None else None
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    replicas = Replicas(net, threads, args.seed + run)
    best = -1.0
    for epoch in range(args.epochs):
        started = time.time()
        train = run_epoch(replicas, loader, optimizer, pos_weight, device)
        val = run_epoch(replicas, val_loader, None, pos_weight, device) if val_loader else train
        metrics_writer.writerow([run, epoch, f"{train['loss']:.5f}", f"{train['accuracy']:.5f}",
                                 f"{val['loss']:.5f}", f"{val['accuracy']:.5f}", f"{time.time() - started:.1f}"])
        log.info("run %d epoch %d: train loss %.4f acc %.4f | val loss %.4f acc %.4f (%.0f s)", run, epoch,
                 train["loss"], train["accuracy"], val["loss"], val["accuracy"], time.time() - started)
        if val["accuracy"] >= best:
            best = val["accuracy"]
            with written_atomically(out_path) as tmp:
                torch.save({"net_state_dict": net.state_dict(), "config": cfg.to_dict(), "epoch": epoch,
                            "val_accuracy": val["accuracy"]}, tmp)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Train the CardioNet quality classifier.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("-d", "--data", type=Path, required=True, help="root with pngs/ and/or npys/")
    parser.add_argument("-t", "--type", choices=("png", "npy"), default="png")
    parser.add_argument("-a", "--bootstrap", action="store_true", help="train an ensemble of fresh networks")
    parser.add_argument("-r", "--runs", type=in_range(int, 1, 1000), default=10, help="networks in the ensemble")
    add_run_arguments(parser)
    parser.add_argument("-p", "--size", type=multiple_of(32, 32, 1024), default=256,
                        help="network input size (px), a multiple of 32")
    parser.add_argument("-f", "--from-checkpoint", "--init", type=Path, dest="from_checkpoint",
                        help="start from this checkpoint's weights (fine-tuning)")
    parser.add_argument("-v", "--val", type=in_range(float, 0, 50), default=10,
                        help="validation percent (whole recordings)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    return run_main(train, args)


def train(args) -> int:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    threads = batch_threads(args.threads, device)

    items = list_windows(args.data, args.type)
    counts = {label: sum(item[1] == value for item in items) for label, value in LABELS.items()}
    if not all(counts.values()):
        missing = next(label for label, n in counts.items() if not n)
        raise DatasetError(args.data, f"no {missing} windows: a classifier needs both good and bad examples "
                                      f"({counts['good']} good, {counts['bad']} bad)")
    train_rows, val_rows = split_by_recording([path.name for path, _ in items], args.val, args.seed)
    train_items = [items[i] for i in train_rows]
    cfg = CardioNetConfig(input_px=args.size)
    val_set = QualityDataset([items[i] for i in val_rows], cfg.input_px, None, cfg.norm_mean,
                             cfg.norm_std) if val_rows else None
    log.info("%d training and %d validation windows at %d px", len(train_items), len(val_rows), cfg.input_px)

    output = run_folder("quality", args.output, CHECKPOINT_DIR, args.replace_shipped)
    write_settings(output, args)
    metrics_path = output / "quality_metrics.csv"
    new_file = not metrics_path.exists()
    with open(metrics_path, "a", newline="") as fh:
        writer = csv.writer(fh)
        if new_file:
            writer.writerow(["run", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"])
        runs = range(args.runs) if args.bootstrap else [0]
        for run in runs:
            torch.manual_seed(args.seed + run)  # a fresh network per run, not one trained on
            net = CardioNet(config=cfg)
            if args.from_checkpoint:
                checkpoint = load_file(args.from_checkpoint)
                load_weights(net, checkpoint.get("net_state_dict", checkpoint), args.from_checkpoint)
            run_items = train_items
            if args.bootstrap:
                picks = np.random.default_rng(args.seed + 1000 + run).integers(0, len(train_items), len(train_items))
                run_items = [train_items[i] for i in picks]
            name = f"quality-clas-net-{run}.pt" if args.bootstrap else "quality-clas-net.pt"
            best = train_one(net.to(device), run_items, val_set, args, output / name, writer, run, device, threads)
            fh.flush()
            log.info("run %d: best validation accuracy %.4f -> %s", run, best, output / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
