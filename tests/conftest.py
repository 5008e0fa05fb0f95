"""Shared fixtures: small phantoms written to temporary folders."""
from __future__ import annotations

import json

import pytest

import phantom

SMALL = dict(n_frames=12)  # about 2,100 columns: fast, still many beats


@pytest.fixture(scope="session")
def write_phantom(tmp_path_factory):
    """Write a phantom with the given config overrides; cached per set of overrides."""
    cache = {}

    def make(**overrides):
        key = tuple(sorted(overrides.items()))
        if key not in cache:
            cfg = phantom.PhantomConfig(**{**SMALL, **overrides})
            ph = phantom.generate(cfg)
            path = phantom.write(ph, tmp_path_factory.mktemp("phantom") / "rec.dcm")
            cache[key] = (path, ph, json.loads(phantom.truth_path(path).read_text()))
        return cache[key]

    return make
