"""How many annotated recordings does fine-tuning need? Per-beat LVID error against their number.

    python tools/fine_tune_curve.py [--family smoke] [--counts 1 2 5] [--epochs 3] [--lr 0.0005]
        [--freeze-encoder] [--test 4] [--replay 0] [--stride 154] [--edge-weight 5] [--tip-weight 0]

Stands in for a lab with recordings unlike our training data: phantoms of a
rendering family the shipped networks never saw (phantom.LAB_FAMILY by default,
echogenic blood and faint endocardia; or phantom.HELD_OUT_FAMILY). For each count
N, the shipped segmenter is fine-tuned (``--init``) on the first N of recordings
8000-8004 (20 frames each, bad stretches left out by their annotations) and
tested on recordings 8100+ of the same family (clean, never used for training),
with the per-beat LVID error of heart_segmentation.validate; the epoch kept is
the one with the lowest per-beat error on two more recordings of the family
(8050-8051, --val-recordings). N = 0 is the shipped segmenter itself. Prints one
Markdown table row per N. About 1-3 minutes per N on one thread.

``--replay K`` adds K recordings of the training families (8200+, the kind the
shipped segmenter learnt from) to every N's training set, so that fine-tuning
on a few recordings of the new family does not unlearn what the old ones
taught (the shape of the borders is the same in every family; only the
texture is new). ``--stride`` is create_dataset's, for more (overlapping)
windows per recording; ``--edge-weight`` and ``--tip-weight`` are train's.
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import phantom
from heart_segmentation import create_dataset, train
from heart_segmentation.predict import DEFAULT_CHECKPOINT, load_checkpoint
from heart_segmentation.validate import beat_lvid_errors, traced_recordings

TRAIN_SEEDS, VAL_SEEDS, TEST_SEED = range(8000, 8005), range(8050, 8052), 8100
REPLAY_SEED = 8200  # training-family recordings replayed with --replay


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--family", choices=[phantom.LAB_FAMILY, phantom.HELD_OUT_FAMILY], default=phantom.LAB_FAMILY,
                        help="the lab's rendering family, one the shipped networks never trained on")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 5], help="annotated recordings, at most 5")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.0005)
    parser.add_argument("--freeze-encoder", action="store_true")
    parser.add_argument("--keep-batch-norm", action="store_true", help="train's: running statistics stay")
    parser.add_argument("--test", type=int, default=4, help="test recordings")
    parser.add_argument("--replay", type=int, default=0, help="training-family recordings added to each training set")
    parser.add_argument("--stride", type=int, default=create_dataset.STRIDE_PX, help="columns between windows")
    parser.add_argument("--edge-weight", type=float, default=train.EDGE_WEIGHT, help="border pixels' loss weight")
    parser.add_argument("--tip-weight", type=float, default=0.0, help="beat tips' extra loss weight")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0,
                        help="train's --threads: copies of the network sharing each batch, one per core")
    parser.add_argument("--work", type=Path, help="folder for recordings and runs (default: runs/fine_tune_FAMILY)")
    args = parser.parse_args(argv)
    family = args.family
    args.work = args.work or Path(f"runs/fine_tune_{family}")
    test_dir = args.work / "test"
    if not test_dir.exists():
        phantom.make_set(test_dir, range(TEST_SEED, TEST_SEED + args.test), n_frames=20, family=family,
                         bad_segments=())
    tests = traced_recordings(test_dir)
    val_dir = args.work / "val"
    if not val_dir.exists():
        phantom.make_set(val_dir, VAL_SEEDS, n_frames=20, family=family, bad_segments=())

    def row(n, net, seconds):
        result = beat_lvid_errors(net, tests, threads=args.threads or 1)  # train.main --threads N: one torch thread
        errors = (f"{result['lvid_d_mm']:.3f} ({result['lvid_d_mean_mm']:.3f}) | "
                  f"{result['lvid_s_mm']:.3f} ({result['lvid_s_mean_mm']:.3f})")
        print(f"| {n} | {errors} | {100 * result['found']:.0f} % of {result['beats']} | {seconds:.0f} s |", flush=True)

    replay_dir = args.work / f"replay_{args.replay}"
    if args.replay and not replay_dir.exists():  # family=None: drawn from phantom.TRAINING_FAMILIES
        phantom.make_set(replay_dir, range(REPLAY_SEED, REPLAY_SEED + args.replay), n_frames=20)

    print(f"fine-tuning the shipped segmenter on recordings of the {family} family, which it never saw; "
          f"test: {len(tests)} other recordings of it\n")
    print("| annotated recordings | LVID;d error, median (mean), mm | LVID;s error, median (mean), mm "
          "| test beats found | training time |")
    print("|---|---|---|---|---|")
    row(0, load_checkpoint(DEFAULT_CHECKPOINT), 0)
    for n in args.counts:
        recordings = args.work / f"train_{n}"
        if not recordings.exists():
            phantom.make_set(recordings, TRAIN_SEEDS[:n], n_frames=20, family=family)
        data = args.work / f"seg_{n}"
        shutil.rmtree(data, ignore_errors=True)
        for folder in [recordings, *([replay_dir] if args.replay else [])]:  # one dataset: names differ by seed
            create_dataset.main(["-i", str(folder), "-o", str(data), "-a", str(folder / "quality_annotations.csv"),
                                 "--stride", str(args.stride)])
        out = args.work / f"run_{n}"
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        train.main(["-d", str(data), "--init", str(DEFAULT_CHECKPOINT), "-e", str(args.epochs), "-b", str(args.batch),
                    "--edge-weight", str(args.edge_weight), "--tip-weight", str(args.tip_weight),
                    "-l", str(args.lr), "-v", "0", "--val-recordings", str(val_dir), "--seed", "1",
                    "--threads", str(args.threads), "-o", str(out), *(["--freeze-encoder"] if args.freeze_encoder else []),
                    *(["--keep-batch-norm"] if args.keep_batch_norm else [])])
        row(n, load_checkpoint(out / "heart-seg-net.pt"), time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
