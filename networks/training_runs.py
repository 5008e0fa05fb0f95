"""What both training commands share: where a run writes, its settings file, option types, errors.

A run writes into a new folder (``runs/<kind>-<date>-<time>`` by default), with
``settings.json`` (every option and the library versions) beside the weights and
the metrics. The shipped checkpoint folders inside the packages are refused as an
output unless ``--replace-shipped`` is given: a training command run from inside a
package folder must not overwrite the weights every user of the checkout relies on.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mmode.cli import EXIT_BAD_INPUT, in_range, report
from mmode.errors import EchoInputError, OutputError
MAX_EPOCHS = 10_000


class DatasetError(EchoInputError):
    """A training or test set that cannot be used: empty, or with one class only."""


def multiple_of(step: int, low: int, high: int):
    """An argparse type: a whole number in [low, high] divisible by ``step``."""
    whole = in_range(int, low, high)

    def parse(text: str) -> int:
        value = whole(text)
        if value % step:
            raise argparse.ArgumentTypeError(f"{value} is not a multiple of {step}")
        return value

    parse.__name__ = "int"
    return parse


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every training command has: epochs, batch, learning rate, output, seed, threads."""
    parser.add_argument("-e", "--epochs", type=in_range(int, 1, MAX_EPOCHS), default=1)
    parser.add_argument("-b", "--batch", type=in_range(int, 1, 4096), default=1)
    parser.add_argument("-l", "--lr", type=in_range(float, 1e-8, 1.0), default=0.001, help="learning rate")
    parser.add_argument("-o", "--output", type=Path,
                        help="folder for the weights, metrics and settings (default: a new runs/KIND-DATE-TIME)")
    parser.add_argument("--replace-shipped", action="store_true",
                        help="allow -o to be a package's shipped checkpoint folder (replaces the shipped weights)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=in_range(int, 0, 1024), default=0,
                        help="CPU threads, each with its own copy of the network and an equal part of every batch "
                             "(networks.parallel); 0: one copy on torch's own threads")


def run_folder(kind: str, output: Path | None, shipped_dir: Path, replace_shipped: bool = False) -> Path:
    """The folder a run writes into, created: ``output``, or a new ``runs/<kind>-<date>-<time>[-n]``.

    ``shipped_dir``: the model package's own checkpoint folder (the trainer passes it).

    Raises
    ------
    OutputError when ``output`` is ``shipped_dir`` and ``replace_shipped`` is false, or is not a folder.
    """
    if output is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        output = Path("runs") / f"{kind}-{stamp}"
        n = 1
        while output.exists():
            n += 1
            output = Path("runs") / f"{kind}-{stamp}-{n}"
    resolved = output.resolve()
    if not replace_shipped and resolved == Path(shipped_dir).resolve():
        raise OutputError(output, "is the folder of the shipped weights; choose another -o, or pass "
                                  "--replace-shipped to overwrite them")
    if output.exists() and not output.is_dir():
        raise OutputError(output, "exists and is not a folder")
    output.mkdir(parents=True, exist_ok=True)
    return output


def write_settings(folder: Path, args: argparse.Namespace) -> Path:
    """``settings.json`` in ``folder``: every option, the command line and the library versions."""
    settings = {
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = folder / "settings.json"
    path.write_text(json.dumps(settings, indent=2) + "\n")
    return path


def run_main(train, args: argparse.Namespace) -> int:
    """``train(args)``; unusable input or output becomes one line on stderr and exit status 2."""
    try:
        return train(args)
    except EchoInputError as error:
        report(error, getattr(args, "debug", False))
        return EXIT_BAD_INPUT


MIN_VALIDATION = 16  # windows: fewer make the "best epoch" a coin toss


def recording_of(name: str) -> str:
    """The recording a window file came from: the builders name windows ``<recording>_<first column>``."""
    stem = Path(name).stem
    head, _, tail = stem.rpartition("_")
    return head if head and tail.isdigit() else stem


def split_by_recording(names: list[str], percent: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of training and validation windows, whole recordings to each side.

    Windows of one recording overlap and look alike, so a validation set that shares
    recordings with the training set measures memory, not generalisation. Recordings
    are drawn in a seeded order until the validation set holds ``percent`` of the
    windows, and at least MIN_VALIDATION where the set has twice as many.
    """
    if percent <= 0 or not names:
        return list(range(len(names))), []
    groups: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        groups.setdefault(recording_of(name), []).append(index)
    keys = sorted(groups)
    order = [keys[k] for k in np.random.default_rng(seed).permutation(len(keys))]
    wanted = max(round(len(names) * percent / 100), min(MIN_VALIDATION, len(names) // 2))
    validation: list[int] = []
    for key in order[:-1]:  # at least one recording stays for training
        if len(validation) >= wanted:
            break
        validation += groups[key]
    held = set(validation)
    return [i for i in range(len(names)) if i not in held], sorted(validation)


def batch_threads(threads: int, device: str) -> int:
    """Copies of the network that share each batch (networks.parallel.Replicas), from ``--threads``.

    On the CPU each copy runs on one torch thread (torch.set_num_threads(1) for the whole
    process); with ``threads`` 0, or on an accelerator, one copy on torch's own threads.
    """
    if device != "cpu" or not threads:
        return 1
    torch.set_num_threads(1)
    return threads
