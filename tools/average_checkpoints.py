"""Average the weights of segmentation checkpoints fine-tuned from the same weights.

    python tools/average_checkpoints.py A.pt B.pt [...] -o OUT.pt

Runs of the same recipe with other seeds end up in different places of the same basin when they
start from the same weights, and their average is sometimes better than either (a "model soup").
The average of two seeds of the segmenter's last stage was tried and not shipped (README:
Training the shipped models: it reported a wrong beat of the real image). Every floating-point
tensor is averaged, batch-norm running statistics included; integer tensors (batch-norm's
counters) are the first file's. The files must hold the same network (the same config and layer
names); OUT keeps the first file's other fields and lists the files it was averaged from under
``averaged_from``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from mmode.errors import CheckpointError
from networks.checkpoints import load_file, require_kind


def average_state_dicts(states: list[dict]) -> dict:
    """The element-wise mean of state dicts with the same keys and shapes (integer tensors: the first's)."""
    first = states[0]
    for state in states[1:]:
        if state.keys() != first.keys() or any(state[k].shape != first[k].shape for k in first):
            raise ValueError("the checkpoints hold different networks")
    return {key: (torch.stack([s[key].double() for s in states]).mean(dim=0).to(value.dtype)
                  if value.is_floating_point() else value.clone())
            for key, value in first.items()}


def average_checkpoints(paths: list[Path]) -> dict:
    """The first checkpoint with its weights replaced by the mean of all of them; CheckpointError
    in one line for a file that is not one of our segmentation checkpoints or holds another network."""
    objects = [load_file(path) for path in paths]
    for path, obj in zip(paths, objects):
        require_kind(obj, "segmentation", path)
        if obj.get("config") != objects[0].get("config"):
            raise CheckpointError(path, f"a network configured otherwise than {paths[0]}")
    try:
        weights = average_state_dicts([obj["net_state_dict"] for obj in objects])
    except ValueError as exc:
        raise CheckpointError(paths[-1], str(exc)) from None
    return {**objects[0], "net_state_dict": weights, "averaged_from": [str(p) for p in paths]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    if len(args.checkpoints) < 2:
        parser.error("give at least two checkpoints")
    try:
        averaged = average_checkpoints(args.checkpoints)
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(averaged, args.output)
    print(f"wrote {args.output}, the average of {len(args.checkpoints)} checkpoints")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
