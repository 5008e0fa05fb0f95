"""The packages form layers that import one way: core <- networks <- model packages <- pipeline."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Each package may import the packages of lower layers, never those of its own layer or higher ones.
LAYERS = {"mmode": 0, "networks": 1, "heart_segmentation": 2, "quality_classification": 2, "pipeline": 3}
TORCH = {"torch", "torchvision"}


def imported_names(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def package_imports() -> dict[str, set[str]]:
    """Package -> the names its modules import (our packages and torch only)."""
    return {package: set().union(*(imported_names(path) & (set(LAYERS) | TORCH)
                                   for path in (ROOT / package).rglob("*.py")))
            for package in LAYERS}


def test_packages_import_only_lower_layers():
    wrong = [f"{package} imports {name}" for package, names in package_imports().items()
             for name in names - TORCH if name != package and LAYERS[name] >= LAYERS[package]]
    assert not wrong


def test_the_core_never_imports_torch():
    assert not package_imports()["mmode"] & TORCH


def test_the_import_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from pipeline.models import load_models\n    import torch.nn\n")
    assert imported_names(module) == {"pipeline", "torch"}


BLOCK_TORCH = """
import importlib, sys
class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"{name} is blocked")
sys.meta_path.insert(0, BlockTorch())
"""


@pytest.mark.parametrize("package", ["mmode", "heart_segmentation", "quality_classification"])
def test_the_core_and_the_model_packages_import_without_torch(package):
    """Every core module imports with torch blocked; the model packages' own __init__ needs no torch
    either (the command lines read the shipped checkpoints' paths before they fork their helpers)."""
    modules = [package] if package != "mmode" else \
        sorted(f"mmode.{path.stem}" for path in (ROOT / "mmode").glob("*.py") if path.stem != "__init__")
    script = BLOCK_TORCH + f"for name in {modules!r}:\n    importlib.import_module(name)\n" \
        "assert not {m.split('.')[0] for m in sys.modules} & {'torch', 'torchvision'}\n"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
