"""Train QuickNAT on DATA_ROOT/img and DATA_ROOT/mask windows.

Usage::

    python -m heart_segmentation.train -d DATA_ROOT -e 6 -b 16 -p 128 --filters 16 [-o RUN_FOLDER]

Four classes (background, anterior wall, cavity, posterior wall; see
create_dataset) with cross-entropy weighted up on the borders between classes,
or ``--classes 1`` for the published one-class cavity network with BCE on the
logits. Cavity Dice and MSE and the walls' Dice are tracked on a seeded
validation split of whole recordings, and with ``--val-recordings`` the per-beat
LVID error (heart_segmentation.validate); one metrics CSV row per epoch, in a new
run folder with the settings (networks.training_runs). The best epoch (by per-beat
LVID error, else by the validation Dice of cavity and walls) is saved as
``heart-seg-net.pt`` (the original's keys plus ``config``), the last as
``heart-seg-net-last.pt`` with the optimizer state for ``-f``.

``-f`` continues a run (same network, optimizer state, epoch count); ``--init``
starts a new run from another checkpoint's weights (ours or the published
file), which is how to fine-tune: the input size may change (``-p``,
``--width``: the convolutions do not depend on it), a classifier layer of
another class count starts afresh, and ``--freeze-encoder`` keeps the encoder
and bottleneck as they are. ``--keep-batch-norm`` keeps every batch-norm layer's
running statistics (a few small batches of a few recordings would replace them),
``--edge-weight`` sets the loss's weight of border pixels and ``--tip-weight``
adds one for the columns of the beats' tips (beat_tips), where LVID;d and LVID;s
are read off.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from heart_segmentation import SHIPPED_CHECKPOINT
from heart_segmentation.dataset import SegmentationDataset
from heart_segmentation.quicknat import QuickNat, QuickNatConfig
from heart_segmentation.validate import beat_lvid_errors, traced_recordings
from mmode.annotations import ANTERIOR_WALL, CAVITY, POSTERIOR_WALL
from mmode.cli import in_range
from mmode.metrics import dice
from mmode.outputs import written_atomically
from networks.checkpoints import load_file
from networks.parallel import Replicas
from networks.training_runs import (DatasetError, add_run_arguments, batch_threads, multiple_of, run_folder,
                                    run_main, split_by_recording, write_settings)

DEFAULT_SIZE = 256
# QuickNAT's weighting of the cross-entropy: pixels on a border between classes count this much
# more, so that the borders (what the diameters are measured between) are placed exactly.
EDGE_WEIGHT = 5.0
# Beat tips (--tip-weight): columns where the cavity is within TIP_ROWS network rows of its tallest
# or shortest in the TIP_HALF_WIDTH_COLUMNS columns either side. A beat at the fastest heart rates
# is about 80 network columns, so the neighbourhood reaches a quarter beat each way (less and the
# flat stretches of diastolic filling count as tips too).
TIP_ROWS = 1
TIP_HALF_WIDTH_COLUMNS = 20
FROZEN_WITH_ENCODER = ("encode1", "encode2", "encode3", "encode4", "bottleneck")

log = logging.getLogger(__name__)


def class_dice(pred: torch.Tensor, labels: torch.Tensor, cls: int) -> np.ndarray:
    """Per-window Dice of class ``cls`` (1 where both are empty), shape (batch,): mmode.metrics.dice."""
    return dice((pred == cls).cpu().numpy(), (labels == cls).cpu().numpy(), axis=(1, 2))


def class_edges(labels: torch.Tensor) -> torch.Tensor:
    """(batch, rows, cols) float: 1 on pixels next to a pixel of another class (up, down, left, right)."""
    edges = torch.zeros_like(labels, dtype=torch.bool)
    down, right = labels[:, 1:] != labels[:, :-1], labels[:, :, 1:] != labels[:, :, :-1]
    edges[:, 1:] |= down
    edges[:, :-1] |= down
    edges[:, :, 1:] |= right
    edges[:, :, :-1] |= right
    return edges.float()


def beat_tips(labels: torch.Tensor) -> torch.Tensor:
    """(batch, cols) float: 1 in the columns of the tips of the beats, end-diastole and end-systole.

    A column is a tip where its cavity is within TIP_ROWS rows of the tallest or the shortest
    cavity in the TIP_HALF_WIDTH_COLUMNS columns either side; columns without cavity never are.
    """
    height_rows = (labels == CAVITY).sum(dim=1).float()[:, None]  # (batch, 1, cols) for the 1-d pooling
    k = TIP_HALF_WIDTH_COLUMNS
    tallest = F.max_pool1d(F.pad(height_rows, (k, k), mode="replicate"), 2 * k + 1, stride=1)
    shortest = -F.max_pool1d(F.pad(-height_rows, (k, k), mode="replicate"), 2 * k + 1, stride=1)
    tips = (height_rows >= tallest - TIP_ROWS) | (height_rows <= shortest + TIP_ROWS)
    return (tips & (height_rows > 0)).float()[:, 0]


def loss_and_prediction(logits: torch.Tensor, labels: torch.Tensor, edge_weight: float = EDGE_WEIGHT,
                        tip_weight: float = 0.0):
    """(loss, predicted classes (batch, rows, cols), cavity probability) for one or four classes.

    ``edge_weight`` is how much more a pixel on a border between classes counts (four classes only);
    ``tip_weight`` multiplies the weight of every pixel in the columns of beat tips (beat_tips) by
    ``1 + tip_weight``: LVID;d and LVID;s are read off those few columns, which the bulk of the
    window outweighs otherwise, so a network that rounds off the tips loses little loss by it.
    """
    labels = labels[:, 0]
    if logits.shape[1] == 1:  # the published one-class cavity network
        target = (labels == CAVITY).float()
        loss = F.binary_cross_entropy_with_logits(logits[:, 0], target)
        prob = torch.sigmoid(logits[:, 0])
        return loss, torch.where(prob > 0.5, CAVITY, 0), prob
    weight = 1.0 + edge_weight * class_edges(labels)
    if tip_weight:
        weight = weight * (1.0 + tip_weight * beat_tips(labels)[:, None, :])
    loss = (F.cross_entropy(logits, labels, reduction="none") * weight).sum() / weight.sum()
    prob = torch.softmax(logits, dim=1)
    return loss, prob.argmax(dim=1), prob[:, CAVITY]


def run_epoch(net, loader, optimizer=None, device="cpu", edge_weight: float = EDGE_WEIGHT,
              tip_weight: float = 0.0, keep_batch_norm: bool = False) -> dict:
    """One pass over ``loader``; trains when ``optimizer`` is given, with the loss of loss_and_prediction.

    ``net`` is a QuickNat or networks.parallel.Replicas of one (each batch split between threads).
    With ``keep_batch_norm`` every batch-norm layer normalises with its running statistics and
    keeps them as they are (its scale and shift still learn): a few small batches of a few
    recordings would otherwise replace statistics learnt from many.

    Returns the mean loss, the cavity's Dice and MSE, and the mean Dice of the two walls.
    """
    replicas = Replicas.of(net)
    net = replicas.net
    net.train(optimizer is not None)
    for block in net.children():  # frozen blocks (--freeze-encoder) keep their batch-norm statistics too
        if not any(p.requires_grad for p in block.parameters()):
            block.eval()
    if keep_batch_norm:
        for module in net.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()

    def work(model, images, labels):
        return loss_and_prediction(model(images), labels, edge_weight, tip_weight)

    totals = {"loss": 0.0, "dice": 0.0, "mse": 0.0, "wall_dice": 0.0}
    n = 0
    for images, labels in tqdm(loader, leave=False, desc="train" if optimizer else "eval"):
        # Channels-last: oneDNN's convolutions run about a third faster, as at inference.
        images, labels = images.to(device, memory_format=torch.channels_last), labels.to(device)
        parts = replicas.step(work, images, labels, optimizer=optimizer)
        with torch.no_grad():
            pred, cavity_prob = torch.cat([part[1] for part in parts]), torch.cat([part[2] for part in parts])
            target = labels[:, 0]
            totals["dice"] += float(class_dice(pred, target, CAVITY).sum())
            walls = (class_dice(pred, target, ANTERIOR_WALL) + class_dice(pred, target, POSTERIOR_WALL)) / 2
            totals["wall_dice"] += float(walls.sum())
            totals["mse"] += ((cavity_prob - (target == CAVITY).float()) ** 2).mean(dim=(1, 2)).sum().item()
            totals["loss"] += sum(part[0].item() * len(part[1]) for part in parts)
        n += len(images)
    return {k: v / max(n, 1) for k, v in totals.items()}


def save(path: Path, net, optimizer, epoch: int, metrics: dict, best: dict, with_optimizer: bool) -> None:
    checkpoint = {
        "epoch": epoch,
        "net_state_dict": net.state_dict(),
        "loss": metrics["loss"],
        "dice": metrics["dice"],
        "mse": metrics["mse"],
        "best_dice": best["dice"],
        "best_mse": best["mse"],
        "config": net.config.to_dict(),
    }
    if with_optimizer:
        checkpoint["optimizer"] = optimizer.state_dict()
    with written_atomically(path) as tmp:
        torch.save(checkpoint, tmp)


def initialised(path: Path, args) -> QuickNat:
    """A new network with the weights of checkpoint ``path``, at the input size asked for."""
    from heart_segmentation.predict import PUBLISHED_CONFIG

    source = load_file(path)
    # The labels keep the grid the weights learnt (QuickNatConfig.label_grid): a few windows on
    # another grid would only move every border by a row or two.
    base = QuickNatConfig.stored(source["config"]) if "config" in source else PUBLISHED_CONFIG
    cfg = dataclasses.replace(base, num_class=args.classes, input_px=args.size or base.input_px,
                              input_width_px=args.width or (base.input_width_px if not args.size else None),
                              window_aspect=args.aspect or base.window_aspect)
    net = QuickNat(cfg)
    own = net.state_dict()
    fitting = {k: v for k, v in source["net_state_dict"].items() if k in own and own[k].shape == v.shape}
    fresh = sorted(set(own) - set(fitting))
    net.load_state_dict(fitting, strict=False)
    if fresh:
        log.info("%s: %d tensors start afresh (%s)", path, len(fresh), ", ".join(fresh))
    if args.freeze_encoder:
        for name, param in net.named_parameters():
            param.requires_grad = not name.startswith(FROZEN_WITH_ENCODER)
    log.info("initialised from %s: input %s, %d classes", path, cfg.input_shape, cfg.num_class)
    return net


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Train the QuickNAT cavity segmenter.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("-d", "--data", type=Path, required=True, help="root with img/ and mask/")
    add_run_arguments(parser)
    parser.add_argument("-p", "--size", type=multiple_of(16, 16, 1024),
                        help=f"network input rows, a multiple of 16 (default {DEFAULT_SIZE}, or the --init checkpoint's)")
    parser.add_argument("-f", "--from-checkpoint", type=Path, help="checkpoint to continue from")
    parser.add_argument("--init", type=Path, help="start from this checkpoint's weights (fine-tuning)")
    parser.add_argument("--freeze-encoder", action="store_true", help="with --init: train the decoder only")
    parser.add_argument("--keep-batch-norm", action="store_true",
                        help="batch-norm layers keep their running statistics (fine-tuning on a few recordings)")
    parser.add_argument("-v", "--val", type=in_range(float, 0, 50), default=20,
                        help="validation percent (whole recordings)")
    parser.add_argument("--val-recordings", type=Path,
                        help="folder of DICOM files with border traces: per-beat LVID error each epoch, "
                             "which then picks the best epoch")
    parser.add_argument("--filters", type=in_range(int, 1, 512), default=64, help="QuickNAT width (published: 64)")
    parser.add_argument("--width", type=multiple_of(16, 16, 4096),
                        help="network input columns (default: = -p, square; or the --init checkpoint's)")
    parser.add_argument("--aspect", type=in_range(float, 0.1, 1.0),
                        help="window columns per image row (default 1, square, or the --init checkpoint's; "
                             "0.5: half as wide, twice the time resolution)")
    parser.add_argument("--edge-weight", type=in_range(float, 0.0, 1000.0), default=EDGE_WEIGHT,
                        help="how much more a pixel on a border between classes counts in the loss (4 classes)")
    parser.add_argument("--tip-weight", type=in_range(float, 0.0, 1000.0), default=0.0,
                        help="pixels in the columns of beat tips (end-diastole, end-systole) count 1 + this "
                             "much more in the loss (4 classes)")
    parser.add_argument("--classes", type=int, choices=(1, 4), default=4,
                        help="4: background, both walls and cavity; 1: the cavity alone (published layout)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    return run_main(train, args)


def train(args) -> int:
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    threads = batch_threads(args.threads, device)
    recordings = []
    if args.val_recordings:
        recordings = traced_recordings(args.val_recordings)
        if not recordings:
            raise DatasetError(args.val_recordings, "no recording with border traces (NAME.borders.csv) beside it")

    if args.init:
        net = initialised(args.init, args)
    else:
        net = QuickNat(QuickNatConfig(num_class=args.classes, num_filters=args.filters,
                                      input_px=args.size or DEFAULT_SIZE, input_width_px=args.width,
                                      window_aspect=args.aspect or 1.0))
    start_epoch = 0
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=args.lr)
    if args.from_checkpoint:
        checkpoint = load_file(args.from_checkpoint)
        if "config" in checkpoint:
            net = QuickNat(QuickNatConfig.stored(checkpoint["config"]))
            optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
        net.load_state_dict(checkpoint["net_state_dict"])
        if "optimizer" in checkpoint:
            optimizer.load_state_dict(checkpoint["optimizer"])
        start_epoch = checkpoint.get("epoch", 0) + 1
    net.to(device, memory_format=torch.channels_last)
    replicas = Replicas(net, threads, args.seed)

    from networks.augment import segmentation_transform

    aspect = net.config.window_aspect
    grid = net.config.label_grid
    full = SegmentationDataset(args.data, net.config.input_shape, aspect=aspect, label_grid=grid)
    if not (full.labels == CAVITY).any():
        raise DatasetError(args.data, "no mask has any cavity (class 2, or 255 in a one-class mask)")
    train_rows, val_rows = split_by_recording(full.names, args.val, args.seed)
    train_set = SegmentationDataset(args.data, net.config.input_shape, [full.names[i] for i in train_rows],
                                    transform=segmentation_transform(), aspect=aspect, random_piece=True,
                                    label_grid=grid)
    val_set = Subset(full, val_rows)
    generator = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch, shuffle=True, generator=generator)
    val_loader = DataLoader(val_set, batch_size=max(args.batch, 8))
    log.info("%d training and %d validation windows at %s px, %d filters",
             len(train_set), len(val_set), net.config.input_shape, net.config.num_filters)

    output = run_folder("seg", args.output, SHIPPED_CHECKPOINT.parent, args.replace_shipped)
    write_settings(output, args)
    metrics_path = output / "seg_metrics.csv"
    new_file = not metrics_path.exists()
    best = {"score": -float("inf"), "dice": -1.0, "mse": float("inf")}  # the original started best MSE at 0
    with open(metrics_path, "a", newline="") as fh:
        writer = csv.writer(fh)
        if new_file:
            writer.writerow(["epoch", "train_loss", "train_dice", "train_mse", "train_wall_dice",
                             "val_loss", "val_dice", "val_mse", "val_wall_dice",
                             "val_lvid_d_mm", "val_lvid_s_mm", "val_beats_found", "seconds"])
        for epoch in range(start_epoch, start_epoch + args.epochs):
            started = time.time()
            train = run_epoch(replicas, train_loader, optimizer, device, args.edge_weight, args.tip_weight,
                              args.keep_batch_norm)
            val = (run_epoch(replicas, val_loader, None, device, args.edge_weight, args.tip_weight) if val_rows
                   else train)
            beats = beat_lvid_errors(net, recordings, device, threads) if recordings else {}
            writer.writerow([epoch, *(f"{m[k]:.5f}" for m in (train, val) for k in ("loss", "dice", "mse", "wall_dice")),
                             *(f"{beats[k]:.4f}" if beats else "" for k in ("lvid_d_mm", "lvid_s_mm", "found")),
                             f"{time.time() - started:.1f}"])
            fh.flush()
            log.info("epoch %d: train loss %.4f dice %.4f | val loss %.4f dice %.4f walls %.4f mse %.5f (%.0f s)",
                     epoch, train["loss"], train["dice"], val["loss"], val["dice"], val["wall_dice"], val["mse"],
                     time.time() - started)
            if beats:
                log.info("epoch %d: per-beat LVID;d error %.3f mm, LVID;s %.3f mm, %.0f %% of %d beats found",
                         epoch, beats["lvid_d_mm"], beats["lvid_s_mm"], 100 * beats["found"], beats["beats"])
                score = -(beats["lvid_d_mm"] + beats["lvid_s_mm"]) if beats["found"] else -float("inf")
            else:
                score = val["dice"] + (val["wall_dice"] if net.config.num_class > 1 else 0.0)
            if score > best["score"]:
                best = {"score": score, "dice": val["dice"], "mse": val["mse"]}
                save(output / "heart-seg-net.pt", net, optimizer, epoch, val, best, with_optimizer=False)
            save(output / "heart-seg-net-last.pt", net, optimizer, epoch, val, best, with_optimizer=True)
    log.info("best validation Dice %.4f; saved %s", best["dice"], output / "heart-seg-net.pt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
