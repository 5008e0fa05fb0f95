"""The shipped segmenter on a real recording traced by an expert (tests/data/real; never trained on)."""
import importlib.util
from pathlib import Path

import pytest

from heart_segmentation.predict import load_checkpoint

_spec = importlib.util.spec_from_file_location(
    "evaluate_real_image", Path(__file__).resolve().parent.parent / "tools" / "evaluate_real_image.py")
evaluate_real_image = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(evaluate_real_image)


@pytest.fixture(scope="module")
def agreement():
    return evaluate_real_image.evaluate(load_checkpoint())


def test_cavity_agrees_with_the_expert(agreement):
    assert agreement["columns"] > 1700
    assert agreement["cavity_dice"] >= 0.92
    assert agreement["lvid"]["median_px"] <= 3.0


def test_walls_are_found(agreement):
    """Wall errors are reported in the README; here only that both walls are traced in most columns."""
    for name in ("lvaw", "lvpw"):
        assert agreement[name]["columns"] > 1700
        assert agreement[name]["median_px"] < 60  # of walls 100-370 px thick
