"""run4all with its helper processes, worker processes and on a dask cluster gives exactly the sequential CSV."""
import subprocess
import sys
from pathlib import Path

import pytest

import phantom
import run4all


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parallel")
    for k in range(3):
        ph = phantom.generate(phantom.PhantomConfig(seed=7400 + k, n_frames=12))
        phantom.write(ph, folder / f"m{k}.dcm")
    (folder / "broken.dcm").write_bytes(b"nonsense")
    out = tmp_path_factory.mktemp("sequential")
    assert run4all.main(["-i", str(folder), "-m", "25", "-o", str(out), "--no-graphs"]) == 1
    return folder, (out / "output_all.csv").read_text(), (out / "errors.csv").read_text()


@pytest.mark.slow
def test_helpers_equal_sequential(study, tmp_path):
    """As users run it, run4all.py reads and draws in forked helpers (run4all.main in this process,
    where torch is loaded, does everything itself): the same CSV, errors and graphs, a broken file between."""
    script = Path(run4all.__file__)
    result = subprocess.run([sys.executable, str(script), "-i", str(study[0]), "-m", "25", "-o", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert (tmp_path / "output_all.csv").read_text() == study[1]
    assert (tmp_path / "errors.csv").read_text() == study[2]
    assert sorted(p.parent.name for p in tmp_path.glob("*/output_img_mask.png")) == ["m0", "m1", "m2"]


@pytest.mark.slow
def test_two_workers_equal_sequential(study, tmp_path):
    folder, expected, errors = study
    assert run4all.main(["-i", str(folder), "-m", "25", "-o", str(tmp_path), "--no-graphs", "--workers", "2"]) == 1
    assert (tmp_path / "output_all.csv").read_text() == expected
    assert (tmp_path / "errors.csv").read_text() == errors


@pytest.mark.slow
def test_dask_local_cluster_equals_sequential(study, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        code = run4all.main(["-i", str(study[0]), "-m", "25", "-o", str(tmp_path), "--no-graphs",
                             "--scheduler", cluster.scheduler_address])
    assert code == 1
    assert (tmp_path / "output_all.csv").read_text() == study[1]
    assert (tmp_path / "errors.csv").read_text() == study[2]


@pytest.mark.slow
def test_bad_mass_is_reported_before_reading_in_every_mode(study, tmp_path):
    """The broken file with a bad mass: its error is the mass, in this process and with helpers."""
    table = tmp_path / "masses.csv"
    table.write_text("file,mass\nbroken.dcm,heavy\n")
    argv = ["-i", str(study[0]), "-m", "25", "--mass-table", str(table), "--no-graphs"]
    assert run4all.main([*argv, "-o", str(tmp_path / "here")]) == 1
    result = subprocess.run([sys.executable, str(Path(run4all.__file__)), *argv, "-o", str(tmp_path / "forked")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    for out in ("here", "forked"):
        errors = (tmp_path / out / "errors.csv").read_text()
        assert "broken.dcm" in errors and "body mass 'heavy'" in errors, errors
        assert (tmp_path / out / "output_all.csv").read_text() == study[1]
