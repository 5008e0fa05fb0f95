"""end2end_framework.py and run4all.py: flags, outputs, and the original's defects fixed."""
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import end2end_framework
import phantom
import run4all
from mmode.plots import GRAPH_FILES
from mmode.results import ALL_COLUMNS, STATS_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "phantom_00042.dcm"


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("argv, graphs", [
    ([], True), (["-g"], True), (["-g", "True"], True), (["-g", "False"], False), (["--graphs"], True),
    (["--no-graphs"], False), (["-g", "false"], False), (["-g", "0"], False),
])
def test_graphs_flag_parses_what_it_says(argv, graphs):
    # The original parsed -g as a string, so "-g False" still drew graphs.
    args = end2end_framework.parse_args(["-i", "x.dcm", "-m", "40", *argv])
    assert args.graphs is graphs
    assert run4all.parse_args(["-i", "folder", "-m", "40", *argv]).graphs is graphs


def test_both_scripts_share_defaults():
    one = vars(end2end_framework.parse_args(["-i", "x.dcm", "-m", "40"]))
    many = vars(run4all.parse_args(["-i", "x", "-m", "40"]))
    for key in ("graphs", "write", "quality_model", "seg_model", "threshold", "dpi", "device"):
        assert one[key] == many[key], key


def test_default_weights_do_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = end2end_framework.parse_args(["-i", "x.dcm", "-m", "40"])
    assert args.seg_model.is_absolute() and args.seg_model.is_file()
    assert args.quality_model.is_absolute() and args.quality_model.is_file()


@pytest.mark.slow
def test_main_job_on_the_bundled_example_from_another_folder(tmp_path):
    out = tmp_path / "example_output"
    result = subprocess.run([sys.executable, str(ROOT / "end2end_framework.py"), "-i", str(EXAMPLE), "-m", "25",
                             "-o", str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = read_csv(out / "output_all.csv")
    assert list(rows[0]) == ALL_COLUMNS
    assert len(rows) >= 25
    for name in GRAPH_FILES:
        size = (out / name).stat().st_size
        assert 10_000 < size < 1_500_000, name


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    paths = []
    for seed in (7100, 7101, 7103):
        ph = phantom.generate(phantom.PhantomConfig(seed=seed, n_frames=12))
        paths.append(phantom.write(ph, folder / f"mouse{seed}.dcm"))
    return folder, paths


@pytest.mark.slow
def test_rerun_replaces_rows_instead_of_duplicating(small, tmp_path):
    _, paths = small
    argv = ["-i", str(paths[0]), "-m", "25", "-o", str(tmp_path), "--no-graphs"]
    assert end2end_framework.main(argv) == 0
    first = read_csv(tmp_path / "output_all.csv")
    assert end2end_framework.main(argv) == 0
    assert read_csv(tmp_path / "output_all.csv") == first
    assert end2end_framework.main(["-i", str(paths[1]), *argv[2:]]) == 0
    both = read_csv(tmp_path / "output_all.csv")
    assert {r["file"] for r in both} == {"mouse7100.dcm", "mouse7101.dcm"}
    assert len([r for r in both if r["file"] == "mouse7100.dcm"]) == len(first)
    assert not list(tmp_path.glob("*.png"))  # --no-graphs


@pytest.mark.slow
def test_no_good_beat_is_a_result_with_a_warning(tmp_path, capsys):
    # A gain too high over the whole recording: every window is bad, so every beat is.
    ph = phantom.generate(phantom.PhantomConfig(seed=7204, n_frames=12, bad_segments=(("gain_jump", 0.0, 3.0),)))
    path = phantom.write(ph, tmp_path / "allbad.dcm")
    argv = ["-i", str(path), "-m", "25", "-o", str(tmp_path), "-g", "False", "-w", "stats"]
    assert end2end_framework.main(argv) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: {path}: ") and "of good acquisition quality" in err[0]
    assert "100%" not in err[0]
    rows = read_csv(tmp_path / "output_stats.csv")
    assert list(rows[0]) == STATS_COLUMNS and len(rows) == 1
    assert rows[0]["median_diastole"] == "" and rows[0]["min_heartrate"] == ""
    assert rows[0]["n_good_beats"] == "0" and rows[0]["good_fraction"] == "0.000"


@pytest.mark.slow
def test_stats_summarise_good_beats(small, tmp_path):
    _, paths = small
    assert end2end_framework.main(["-i", str(paths[0]), "-m", "25", "-o", str(tmp_path), "--no-graphs"]) == 0
    assert end2end_framework.main(["-i", str(paths[0]), "-m", "25", "-o", str(tmp_path), "--no-graphs",
                                   "-w", "stats"]) == 0
    beats = read_csv(tmp_path / "output_all.csv")
    stats = read_csv(tmp_path / "output_stats.csv")[0]
    values = sorted(float(r["lvid;d"]) for r in beats)
    assert float(stats["max_diastole"]) == pytest.approx(values[-1], abs=1e-4)
    assert float(stats["min_diastole"]) == pytest.approx(values[0], abs=1e-4)
    assert int(stats["n_good_beats"]) == len(beats)
    walls = [float(r["LVAW;d"]) for r in beats]  # the shipped segmenter finds the walls
    assert float(stats["median_LVAW;d"]) == pytest.approx(np.median(walls), abs=1e-3)
    for row in beats:
        mass = 1.053 * ((float(row["lvid;d"]) + float(row["LVAW;d"]) + float(row["LVPW;d"])) ** 3
                        - float(row["lvid;d"]) ** 3)
        assert float(row["LV Mass AW"]) == pytest.approx(mass, rel=0.005)  # from the rounded cells
        assert float(row["LV Mass AW (Corrected)"]) == pytest.approx(0.8 * float(row["LV Mass AW"]), abs=0.002)


@pytest.mark.parametrize("mass", ["abc", "0", "-5", "500"])
def test_bad_mass_is_one_line_and_exit_2(small, tmp_path, capsys, mass):
    _, paths = small
    code = end2end_framework.main(["-i", str(paths[0]), "-m", mass, "-o", str(tmp_path), "--no-graphs"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "mouse7100.dcm" in err[0] and "body mass" in err[0]


@pytest.mark.slow
def test_not_a_dicom_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "notes.dcm"
    bad.write_text("hello")
    result = subprocess.run([sys.executable, str(ROOT / "end2end_framework.py"), "-i", str(bad), "-m", "25",
                             "-o", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {bad}: not a DICOM file (no DICM preamble)"]


@pytest.mark.slow
def test_run4all_writes_one_csv_and_per_file_folders(small, tmp_path):
    folder, paths = small
    study = tmp_path / "study"
    study.mkdir()
    for path in paths:
        os.symlink(path, study / path.name)
    os.symlink(paths[0], study / "no_extension")  # DICOM without extension
    (study / "broken.dcm").write_bytes(b"\0" * 300)
    (study / "readme.txt").write_text("not a recording")
    out = tmp_path / "out"
    code = run4all.main(["-i", str(study), "-m", "25", "-o", str(out)])
    assert code == 1  # one file failed, the rest went on
    rows = read_csv(out / "output_all.csv")
    assert {r["file"] for r in rows} == {"mouse7100.dcm", "mouse7101.dcm", "mouse7103.dcm", "no_extension"}
    for stem in ("mouse7100", "mouse7101", "mouse7103", "no_extension"):
        assert sorted(p.name for p in (out / stem).glob("*.png")) == sorted(GRAPH_FILES)
    errors = read_csv(out / "errors.csv")
    assert [e["file"] for e in errors] == ["broken.dcm"] and "not a DICOM file" in errors[0]["error"]


@pytest.mark.slow
def test_run4all_mass_table(small, tmp_path):
    folder, paths = small
    table = tmp_path / "masses.csv"
    table.write_text("file,mass\nmouse7100.dcm,22\nmouse7101,31.5\nmouse7103.dcm,heavy\n")
    out = tmp_path / "out"
    code = run4all.main(["-i", str(folder), "--mass-table", str(table), "-o", str(out), "--no-graphs",
                         "-w", "stats"])
    assert code == 1
    assert [r["file"] for r in read_csv(out / "output_stats.csv")] == ["mouse7100.dcm", "mouse7101.dcm"]
    assert "body mass 'heavy'" in read_csv(out / "errors.csv")[0]["error"]


@pytest.mark.slow
def test_forked_helper_writes_what_this_process_writes(small, tmp_path):
    """As users run it, end2end_framework.py reads the file and draws the graphs in a forked helper;
    main() here (torch already loaded) does the same steps in this process: the same CSV, all five graphs."""
    path = small[1][0]
    result = subprocess.run([sys.executable, str(ROOT / "end2end_framework.py"), "-i", str(path), "-m", "25",
                             "-o", str(tmp_path / "forked")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert end2end_framework.main(["-i", str(path), "-m", "25", "-o", str(tmp_path / "here")]) == 0
    forked, here = (tmp_path / "forked" / "output_all.csv").read_text(), (tmp_path / "here" / "output_all.csv")
    assert forked == here.read_text() and len(read_csv(here)) >= 2
    for name in GRAPH_FILES:
        assert (tmp_path / "forked" / name).stat().st_size > 10_000, name
    # graphs are written whole, then renamed: no temporary file is left beside them
    assert sorted(p.name for p in (tmp_path / "forked").iterdir()) == sorted([*GRAPH_FILES, "output_all.csv",
                                                                              ".output_all.csv.sources.json",
                                                                              ".output_all.csv.lock"])


HELPERS_SCRIPT = """
import multiprocessing, sys, time
from pathlib import Path
import numpy as np
from mmode.errors import NotDicomError
from mmode.recording import load_recording
from pipeline.commands import load_timed
from pipeline.helpers import Helpers

good, bad = Path(sys.argv[1]), Path(sys.argv[2])
helpers = Helpers(2)
jobs = [helpers.submit(load_timed, path) for path in (good, bad, good)]
assert helpers.forked and len(multiprocessing.active_children()) == 2
expected = load_recording(good)
for job in jobs:  # each job's own answer, whichever helper ran it
    try:
        recording, timings = job.result()
        assert np.array_equal(recording.image, expected.image) and recording.calibration == expected.calibration
        assert timings["load+stitch"] > 0
        print("same recording")
    except NotDicomError as error:
        print(error)
        assert "in load_timed" in str(error.__cause__)  # the helper's traceback, for --debug
helpers.close()
deadline = time.time() + 5
while multiprocessing.active_children() and time.time() < deadline:
    time.sleep(0.05)
assert not helpers.forked and not multiprocessing.active_children()
"""


def test_helpers_answer_each_job_and_raise_its_error(small, tmp_path):
    bad = tmp_path / "notes.dcm"
    bad.write_text("hello")
    result = subprocess.run([sys.executable, "-c", HELPERS_SCRIPT, str(small[1][0]), str(bad)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["same recording", f"{bad}: not a DICOM file (no DICM preamble)",
                                          "same recording"]


@pytest.mark.slow
def test_main_process_imports_only_what_it_needs(small, tmp_path):
    """torchvision (training only), pandas and scipy stay out of the main job; matplotlib stays in the
    helper that draws the graphs (each costs a large part of a second to import)."""
    script = ("import sys, end2end_framework as e; code = e.main(sys.argv[1:]); "
              "print(code, sorted(m for m in ('torchvision', 'pandas', 'scipy', 'matplotlib') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script, "-i", str(small[1][0]), "-m", "25", "-o", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "0 []", result.stderr
    assert (tmp_path / "output_img.png").is_file()


def test_helpers_run_here_once_torch_is_loaded(small, tmp_path):
    import torch  # noqa: F401 - forking now could hang on torch's threads

    from mmode.errors import NotDicomError
    from pipeline.commands import load_timed
    from pipeline.helpers import Helpers

    bad = tmp_path / "notes.dcm"
    bad.write_text("hello")
    helpers = Helpers(2)
    failing, loading = helpers.submit(load_timed, bad), helpers.submit(load_timed, small[1][0])
    assert not helpers.forked
    with pytest.raises(NotDicomError, match="notes.dcm"):
        failing.result()
    recording, timings = loading.result()
    assert recording.path == small[1][0] and recording.image.shape[1] > 2000 and timings["load+stitch"] > 0
    helpers.close()


HELPER_DEATH_SCRIPT = """
import os, signal, sys, time
from pathlib import Path
import numpy as np
from mmode.recording import load_recording
from pipeline.helpers import Helpers

path = Path(sys.argv[1])
helpers = Helpers(1)
os.kill(helpers.submit(os.getpid).result(), signal.SIGKILL)
recording = helpers.submit(load_recording, path).result()  # done here instead, with a warning
assert not helpers.forked and np.array_equal(recording.image, load_recording(path).image)
assert helpers.submit(load_recording, path).result().image.shape == recording.image.shape
helpers.close()

helpers = Helpers(1)
for k in range(3):
    helpers.submit(time.sleep, 5)
started = time.perf_counter()
helpers.close()  # nobody will collect those: return at once, do not wait for them
assert time.perf_counter() - started < 1, time.perf_counter() - started
print("ok")
"""


@pytest.mark.slow
def test_helper_death_costs_only_speed_and_close_drops_work(small):
    result = subprocess.run([sys.executable, "-c", HELPER_DEATH_SCRIPT, str(small[1][0])], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    assert "a helper process ended unexpectedly; going on without helpers" in result.stderr


PARENT_DEATH_SCRIPT = """
import os, signal, time
from pipeline.helpers import Helpers

helpers = Helpers(1)
print(helpers.submit(os.getpid).result(), flush=True)
helpers.submit(time.sleep, 60)  # busy when its parent dies
time.sleep(0.2)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _gone(pid: int) -> bool:
    """The process has ended (a zombie nobody reaps counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_helpers_end_when_the_command_is_killed():
    result = subprocess.run([sys.executable, "-c", PARENT_DEATH_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == -9
    helper = int(result.stdout.split()[0])
    deadline = time.time() + 5
    while not _gone(helper) and time.time() < deadline:
        time.sleep(0.05)
    assert _gone(helper)
