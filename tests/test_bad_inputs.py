"""Issue 12: the bad-input corpus, round two. Each class of bad input or fault is pinned by a test here.

Names, existing outputs, where results are written, implausible recordings, options, messages,
mass tables, leftovers of killed runs; and one study that mixes all of them with good recordings.
"""
import csv
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

import end2end_framework
import phantom
import run4all
from helpers import colour_pixels, mmode_region, rewrite_dicom, set_frames, set_region
from mmode.cli import no_good_beats
from mmode.dicom_io import read_frames
from mmode.errors import BadMassError, EchoInputError, ImplausibleRecordingError, shown
from mmode.outputs import folder_names
from mmode.recording import load_recording
from mmode.results import ALL_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
NON_UTF8 = os.fsdecode(b"souris_\xe9t\xe9.dcm")  # Latin-1 bytes from a share mounted from another system


def _phantom(folder: Path, name: str, **overrides) -> Path:
    ph = phantom.generate(phantom.PhantomConfig(**{"n_frames": 12, **overrides}))
    return phantom.write(ph, folder / name)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A recording the shipped classifier passes (see test_hardening's batch fixtures)."""
    return _phantom(tmp_path_factory.mktemp("good"), "good.dcm", seed=7301, bad_segments=())


@pytest.fixture(scope="module")
def other(tmp_path_factory):
    return _phantom(tmp_path_factory.mktemp("other"), "other.dcm", seed=7302, bad_segments=())


def _end2end(argv, capsys):
    code = end2end_framework.main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip().splitlines()


def _run4all(argv, capsys):
    code = run4all.main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip().splitlines()


def _lines_starting(prefix: str, err: list[str]) -> list[str]:
    return [line for line in err if line.startswith(prefix)]


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --- file names the operating system gives as bytes ------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name, cell", [(NON_UTF8, "souris_\\xe9t\\xe9.dcm"),  # printable, valid UTF-8
                                        ("m$\\frac$ 2.dcm", "m$\\frac$ 2.dcm")])  # no maths in the titles
def test_awkward_file_name_is_measured_with_graphs(good, tmp_path, capsys, name, cell):
    path = tmp_path / name
    shutil.copy(good, path)
    code, err = _end2end(["-i", path, "-m", 25, "-o", tmp_path / "out"], capsys)
    assert code == 0, err
    rows = _read_csv(tmp_path / "out" / "output_all.csv")
    assert rows and {r["file"] for r in rows} == {cell}
    assert len(list((tmp_path / "out").glob("*.png"))) == 5


def test_file_names_are_shown_on_one_printable_line():
    assert shown(os.fsdecode(b"a\xffb\n.dcm")) == "a\\xffb\\n.dcm"
    error = EchoInputError(os.fsdecode(b"/x/a\xff\nb.dcm"), "first line\nsecond line")
    assert str(error) == "/x/a\\xff\\nb.dcm: first line second line" and "\n" not in str(error)


# --- existing outputs -------------------------------------------------------------------------

DAMAGE = {
    "bad bytes": b"file,error\nm1.dcm,not a DICOM file\nm\xff\xfe2.dcm,x\n",
    "too many cells": b"file,error\nm1.dcm,one,two,three\n",
    "too few cells": b"file,error\nm1.dcm\n",
    "NUL": b"file,error\nm1.dcm,\x00\x00\n",
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("which", ["errors.csv", "output_all.csv"])
def test_damaged_existing_output_is_one_line_before_any_work(good, tmp_path, capsys, which, damage):
    study, out = tmp_path / "study", tmp_path / "out"
    study.mkdir()
    os.symlink(good, study / "m1.dcm")
    out.mkdir()
    content = DAMAGE[damage]
    if which == "output_all.csv":
        content = content.replace(b"file,error", ",".join(ALL_COLUMNS).encode())
    (out / which).write_bytes(content)
    code, err = _run4all(["-i", study, "-m", 25, "-o", out, "--no-graphs"], capsys)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"error: {out / which}: line ") and "repair it or move it away" in err[0]
    assert (out / which).read_bytes() == content  # kept as it was for the user to look at
    assert not (out / "m1").exists()  # nothing analysed


@pytest.mark.slow
def test_full_disk_while_writing_the_study_csv_stops_cleanly(good, tmp_path, capsys, monkeypatch):
    study, out = tmp_path / "study", tmp_path / "out"
    study.mkdir()
    for name in ("m1.dcm", "m2.dcm"):
        os.symlink(good, study / name)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("mmode.results.os.fsync", full)
    code, err = _run4all(["-i", study, "-m", 25, "-o", out, "--no-graphs"], capsys)
    assert code == 2 and len(err) == 1, err
    assert err[0] == (f"error: {out / 'output_all.csv'}: cannot write (No space left on device); study stopped "
                      "after 0 files, rerun with --resume once it can be written")
    assert not list(out.glob(".*.tmp")) and not (out / "output_all.csv").exists()
    monkeypatch.undo()
    code, err = _run4all(["-i", study, "-m", 25, "-o", out, "--no-graphs", "--resume"], capsys)
    assert code == 0 and {row["file"] for row in _read_csv(out / "output_all.csv")} == {"m1.dcm", "m2.dcm"}


def test_damaged_writefile_is_one_line(good, tmp_path, capsys):
    target = tmp_path / "results.csv"
    target.write_bytes(b"file,lvid;d\nm1.dcm,1,2,3\n")
    code, err = _end2end(["-i", good, "-m", 25, "-o", tmp_path, "-f", target, "--no-graphs"], capsys)
    assert code == 2 and err == [f"error: {target}: line 2: 4 cells, the header has 2; repair it or move it away"]


def test_recordings_never_share_a_folder_or_take_an_output_name():
    names = ["rec.dcm", "rec", "output_all.csv.dcm", "errors.csv.dcm", "statistics.dcm", "m1.dcm", "statistics"]
    folders = folder_names(names, {"output_all.csv", "output_stats.csv", "errors.csv", "statistics"})
    assert folders["m1.dcm"] == "m1"  # the original's layout where nothing collides
    assert folders["rec.dcm"] != folders["rec"]
    assert len(set(folders.values())) == len(names)
    assert not set(folders.values()) & {"output_all.csv", "output_stats.csv", "errors.csv", "statistics"}


@pytest.mark.slow
def test_same_name_from_another_folder_is_refused_not_replaced(good, other, tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a" / "rec.dcm", tmp_path / "b" / "rec.dcm"
    shutil.copy(good, first)
    shutil.copy(other, second)
    shared = tmp_path / "shared.csv"
    assert _end2end(["-i", first, "-m", 25, "-o", tmp_path / "o1", "-f", shared, "--no-graphs"], capsys)[0] == 0
    before = shared.read_bytes()
    code, err = _end2end(["-i", second, "-m", 25, "-o", tmp_path / "o2", "-f", shared, "--no-graphs"], capsys)
    assert code == 2 and len(err) == 1
    assert "already holds the results of another recording named rec.dcm" in err[0] and str(first) in err[0]
    assert shared.read_bytes() == before
    moved = tmp_path / "c" / "rec.dcm"  # the same recording moved elsewhere is the same recording
    moved.parent.mkdir()
    shutil.copy(first, moved)
    assert _end2end(["-i", moved, "-m", 25, "-o", tmp_path / "o3", "-f", shared, "--no-graphs"], capsys)[0] == 0
    assert shared.read_bytes() == before


# --- where results are written ----------------------------------------------------------------

def test_writefile_symlink_is_written_through(good, tmp_path, capsys):
    real = tmp_path / "kept" / "results.csv"
    real.parent.mkdir()
    link = tmp_path / "link.csv"
    os.symlink(real, link)
    code, _ = _end2end(["-i", good, "-m", 25, "-o", tmp_path, "-f", link, "--no-graphs"], capsys)
    assert code == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert _read_csv(real) and not list(tmp_path.glob(".link.csv*"))


@pytest.mark.parametrize("kind", ["device", "fifo", "folder", "the input"])
def test_writefile_that_is_not_a_regular_file_is_refused(good, tmp_path, capsys, kind):
    if kind == "device":
        target = Path("/dev/null")
    elif kind == "fifo":
        target = tmp_path / "pipe.csv"
        os.mkfifo(target)
    elif kind == "folder":
        target = tmp_path / "folder.csv"
        target.mkdir()
    else:
        target = tmp_path / "copy.dcm"
        shutil.copy(good, target)
    before = os.stat(target)
    argv = ["-i", target if kind == "the input" else good, "-m", 25, "-o", tmp_path / "out", "-f", target,
            "--no-graphs"]
    code, err = _end2end(argv, capsys)
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: {target}: "), err
    after = os.stat(target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)


def test_matplotlib_cache_goes_to_a_temporary_folder_when_home_is_unwritable(tmp_path):
    env = {**os.environ, "HOME": "/proc/no-home", "XDG_CACHE_HOME": "/proc/no-cache", "TMPDIR": str(tmp_path)}
    env.pop("MPLCONFIGDIR", None)
    script = "import os, mmode.plots, matplotlib; print(matplotlib.get_cachedir())"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and result.stderr == "", result.stderr  # no "created a temporary cache" warning
    assert result.stdout.strip() == str(tmp_path / f"mmode-matplotlib-{os.getuid()}")


# --- implausible recordings -------------------------------------------------------------------

def _tiny_rows(ds):
    region = mmode_region(ds)
    region.RegionLocationMaxY1 = region.RegionLocationMinY0 + 3


def _tiny_cols(ds):
    region = mmode_region(ds)
    region.RegionLocationMaxX1 = region.RegionLocationMinX0 + 5


@pytest.mark.parametrize("name, change, reason", [
    ("cm.dcm", set_region("PhysicalDeltaY", 0.999), "implausible depth calibration 9.99 mm per pixel"),
    ("slow.dcm", set_region("PhysicalDeltaX", 0.5), "implausible time calibration 0.5 s per pixel"),
    ("rows.dcm", _tiny_rows, "M-mode region of 1024x3 pixels is too small"),
    ("cols.dcm", _tiny_cols, "M-mode region of 5x616 pixels is too small"),
    ("negative.dcm", set_frames(-3), "NumberOfFrames -3 is outside"),
    ("fewer.dcm", set_frames(9), "NumberOfFrames 9 does not match the pixel data, which holds 12 frames"),
    ("colour.dcm", colour_pixels, "the M-mode region is a colour picture"),
])
def test_implausible_recording_is_refused_with_the_reason(good, tmp_path, name, change, reason):
    path = rewrite_dicom(good, tmp_path / name, change)
    with pytest.raises(ImplausibleRecordingError, match=f"{name}: {reason}"):
        load_recording(path)


def test_colour_clip_with_an_mmode_region_added_is_refused(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("examples_ybr_color.dcm"))  # a B-mode clip: frames do not scroll
    region = Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 2, 3, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = int(ds.Columns), int(ds.Rows)
    region.PhysicalUnitsXDirection, region.PhysicalUnitsYDirection = 4, 3
    region.PhysicalDeltaX, region.PhysicalDeltaY = 0.001, 0.01
    ds.SequenceOfUltrasoundRegions = [*ds.SequenceOfUltrasoundRegions, region]
    path = tmp_path / "bmode.dcm"
    ds.save_as(path)
    with pytest.raises(ImplausibleRecordingError, match="none of its 30 frames scrolls"):
        load_recording(path)


def test_truncated_header_is_named_truncated(good, tmp_path):
    data = good.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[:data.find(b"\x18\x00\x11\x60") + 200])  # inside SequenceOfUltrasoundRegions
    with pytest.raises(EchoInputError, match=r"cut\.dcm: truncated file: SequenceOfUltrasoundRegions"):
        read_frames(cut)


def test_file_cut_just_before_its_pixel_data_is_called_probably_truncated(good, tmp_path):
    data = good.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[:data.find(b"\xe0\x7f\x10\x00") + 4])  # between two elements: reads as complete
    with pytest.raises(EchoInputError, match=r"cut\.dcm: .*no pixel data.* probably truncated"):
        read_frames(cut)


# --- options ----------------------------------------------------------------------------------

@pytest.mark.parametrize("option, value", [
    ("--threshold", "-0.1"), ("--threshold", "1.5"), ("--threshold", "nan"), ("--threshold", "half"),
    ("--dpi", "0"), ("--dpi", "100000"), ("--dpi", "7.5"),
    ("--workers", "0"), ("--workers", "100000"),
    ("--scheduler", "not an address"), ("--scheduler", "tcp://host:99999"), ("--scheduler", "tcp://:8786"),
])
def test_option_out_of_range_is_a_usage_error(option, value, capsys):
    script = run4all if option in ("--workers", "--scheduler") else end2end_framework
    argv = ["-i", "x", "-m", "25", option, value]
    with pytest.raises(SystemExit) as info:
        script.parse_args(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and f": error: argument {option}" in err[-1]
    assert "Traceback" not in "\n".join(err)


@pytest.mark.parametrize("option", ["--threshold=--", "--dpi=--", "--scheduler=--", "--output=--"])
def test_option_given_only_a_double_dash_is_a_usage_error(option, capsys):
    with pytest.raises(SystemExit) as info:
        run4all.parse_args(["-i", "x", "-m", "25", option])
    assert info.value.code == 2 and "expected one value" in capsys.readouterr().err


def test_analyse_study_workers_are_checked_by_argparse(capsys):
    import analyse_study

    with pytest.raises(SystemExit):
        analyse_study.parse_args(["in.csv", "-o", "out", "--workers", "0"])
    assert "argument --workers: 0 is outside 1-256" in capsys.readouterr().err


def test_options_in_range_are_taken():
    args = run4all.parse_args(["-i", "x", "-m", "25", "--threshold", "1", "--dpi", "1200", "--workers", "2",
                               "--scheduler", "tcp://10.0.0.1:8786"])
    assert (args.threshold, args.dpi, args.workers, args.scheduler) == (1.0, 1200, 2, "tcp://10.0.0.1:8786")


@pytest.mark.slow
def test_resume_notices_a_changed_threshold(good, tmp_path, capsys):
    study, out = tmp_path / "study", tmp_path / "out"
    study.mkdir()
    os.symlink(good, study / "m1.dcm")
    argv = ["-i", study, "-m", 25, "-o", out, "--no-graphs", "--resume"]
    assert _run4all(argv, capsys)[0] == 0
    code, err = _run4all(argv, capsys)
    assert code == 0 and any("nothing to do" in line for line in err)
    code, err = _run4all([*argv, "--threshold", "0.6"], capsys)
    assert code == 0 and not any("nothing to do" in line or "already finished" in line for line in err)
    assert json.loads((out / "m1" / "done.json").read_text())["input"]["threshold"] == 0.6


# --- messages ---------------------------------------------------------------------------------

def _damaged_jpeg(source: Path, target: Path) -> Path:
    from pydicom.encaps import encapsulate, generate_frames

    def damage(ds):
        frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
        frames[5] = frames[5][:600] + bytes(len(frames[5]) - 600)
        ds.PixelData = encapsulate(frames, has_bot=True)

    return rewrite_dicom(source, target, damage)


@pytest.mark.slow
def test_damaged_jpeg_frame_prints_our_one_line_only(tmp_path):
    jpeg = _phantom(tmp_path, "jpeg.dcm", seed=7301, bad_segments=(), jpeg=True)
    damaged = _damaged_jpeg(jpeg, tmp_path / "damaged.dcm")
    result = subprocess.run([sys.executable, str(ROOT / "end2end_framework.py"), "-i", str(damaged), "-m", "25",
                             "-o", str(tmp_path / "out"), "--no-graphs"], capture_output=True, text=True,
                            timeout=300)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr  # pydicom logged 15 lines before
    assert lines[0].startswith(f"error: {damaged}: ")


@pytest.mark.slow
def test_fifo_as_input_does_not_hang(tmp_path):
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    result = subprocess.run([sys.executable, str(ROOT / "end2end_framework.py"), "-i", str(fifo), "-m", "25",
                             "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {fifo}: is a FIFO, not a regular DICOM file"]


@pytest.mark.parametrize("option", ["--metadata", "--mass-table"])
def test_fifo_as_a_table_does_not_hang(tmp_path, capsys, option):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    (tmp_path / "study").mkdir()
    if option == "--metadata":
        with pytest.raises(SystemExit):
            run4all.parse_args(["-i", str(tmp_path / "study"), "-m", "25", "--metadata", str(fifo)])
        assert f"--metadata {fifo}: is a FIFO, not a regular file" in capsys.readouterr().err
    else:
        code, err = _run4all(["-i", tmp_path / "study", "--mass-table", fifo, "-o", tmp_path / "out"], capsys)
        assert code == 2 and err == [f"error: {fifo}: mass table: is a FIFO, not a regular file"]


def test_no_beat_at_all_does_not_claim_a_good_recording():
    analysis = SimpleNamespace(good_beats=[], beats=[], good_fraction=1.0)
    assert no_good_beats(analysis) == "no complete heart beat found; empty results"
    bad = SimpleNamespace(good_beats=[], beats=[1, 2, 3], good_fraction=0.0)
    assert no_good_beats(bad).startswith("none of its 3 beats is of good acquisition quality (0% ")


# --- mass tables ------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8-sig", "latin-1", "utf-8"])
def test_mass_table_from_excel_or_latin1(tmp_path, encoding):
    table = tmp_path / "masses.csv"
    table.write_bytes("file,mass\nsouris_été.dcm,22.5\nm2,31\n".encode(encoding))
    masses = run4all.read_mass_table(table)
    assert masses["souris_été.dcm"] == "22.5" and masses["m2"] == "31" and masses["souris_été"] == "22.5"


def test_mass_table_in_latin1_finds_a_latin1_file_name(tmp_path):
    table = tmp_path / "masses.csv"
    table.write_bytes("file,mass\nsouris_été.dcm,22.5\n".encode("latin-1"))
    masses = run4all.read_mass_table(table)
    assert run4all.mass_for(Path("/study") / NON_UTF8, masses, "40") == "22.5"
    assert run4all.mass_for(Path("/study/other.dcm"), masses, "40") == "40"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "latin-1"])
def test_study_metadata_from_excel_or_latin1(tmp_path, encoding):
    from mmode.study_inputs import read_table

    path = tmp_path / "mice.csv"
    path.write_bytes("file,mouse_id,sex,genotype,body_mass_g\nsouris_été.dcm,M1,f,wt,22.5\n".encode(encoding))
    table = read_table(path, dtype=str)
    assert list(table.columns)[0] == "file" and table["file"][0] == "souris_été.dcm"


@pytest.mark.parametrize("content, message", [
    ("file,mass\nm1.dcm,22\nm2.dcm,30\nm1.dcm,25\n", " lists m1.dcm twice (lines 2 and 4)"),
    ("file,mass\nm1.dcm,22\nm1,25\n", " lists m1 twice (lines 2 and 3)"),
    ("file,mass\nm1.dcm,22,7\n", ": line 2: 3 cells, the header has 2"),
    ("file,weight\nm1.dcm,22\n", ": no column 'mass' (columns: file, weight)"),
])
def test_mass_table_problems_name_the_line(tmp_path, content, message):
    table = tmp_path / "masses.csv"
    table.write_text(content)
    with pytest.raises(BadMassError, match=re.escape(f"{table}: mass table{message}")):
        run4all.read_mass_table(table)


# --- leftovers of kill -9 ---------------------------------------------------------------------

def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.slow
def test_leftovers_of_killed_runs_are_removed_and_live_ones_kept(good, tmp_path, capsys):
    study, out = tmp_path / "study", tmp_path / "out"
    study.mkdir()
    os.symlink(good, study / "m1.dcm")
    assert _run4all(["-i", study, "-m", 25, "-o", out, "--no-graphs"], capsys)[0] == 0
    dead = _dead_pid()
    leftovers = [out / "m1" / f".output_img.png.{dead}.abcd1234.tmp", out / f".output_all.csv.{dead}.x1y2z3w4.tmp"]
    for path in leftovers:
        path.touch()
    older_version = out / "m1" / ".output_heartrate.png.k3j4h5g6.tmp"  # no process id in the name
    older_version.touch()
    os.utime(older_version, (0, 0))
    leftovers.append(older_version)
    live = out / f".output_all.csv.{os.getpid()}.live0000.tmp"
    live.touch()
    assert _run4all(["-i", study, "-m", 25, "-o", out, "--no-graphs", "--resume"], capsys)[0] == 0
    assert not any(path.exists() for path in leftovers)
    assert live.exists()


@pytest.mark.slow
def test_resume_after_kill_9_of_the_whole_process_group_leaves_nothing_behind(good, tmp_path):
    import signal

    study, out, scratch = tmp_path / "study", tmp_path / "out", tmp_path / "tmp"
    study.mkdir()
    scratch.mkdir()
    for k in range(4):
        os.symlink(good, study / f"m{k}.dcm")
    env = {**os.environ, "TMPDIR": str(scratch)}  # nothing may be left there: no files pass between processes
    command = [sys.executable, str(ROOT / "run4all.py"), "-i", str(study), "-m", "25", "-o", str(out)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.time() + 120
    while not list(out.glob("*/done.json")) and time.time() < deadline:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)  # the main process and both helpers at once
    process.wait(timeout=60)
    resumed = subprocess.run([*command, "--resume", "--no-graphs"], env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert not list(scratch.iterdir())
    assert not [p for p in out.rglob(".*.tmp")]
    assert {row["file"] for row in _read_csv(out / "output_all.csv")} == {f"m{k}.dcm" for k in range(4)}


# --- one study mixing every class with good recordings ------------------------------------------

def _snapshot(folder: Path) -> dict:
    return {path.relative_to(folder): (path.read_bytes(), path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file() and not path.is_symlink()}


@pytest.mark.slow
def test_study_mixing_every_bad_class_with_good_recordings(good, tmp_path, capsys):
    study, out = tmp_path / "study", tmp_path / "out"
    study.mkdir()
    goods = ["good.dcm", NON_UTF8, "output_all.csv.dcm", "errors.csv.dcm", "rec.dcm", "rec"]
    for name in goods:
        shutil.copy(good, study / name)
    bad = {
        "notes.dcm": lambda path: path.write_text("hello"),
        "truncated.dcm": lambda path: path.write_bytes(good.read_bytes()[:5000]),
        "cm.dcm": lambda path: rewrite_dicom(good, path, set_region("PhysicalDeltaY", 0.999)),
        "frames.dcm": lambda path: rewrite_dicom(good, path, set_frames(-3)),
        "colour.dcm": lambda path: rewrite_dicom(good, path, colour_pixels),
        "rows.dcm": lambda path: rewrite_dicom(good, path, _tiny_rows),
        "pipe.dcm": os.mkfifo,
        "dangling.dcm": lambda path: os.symlink(tmp_path / "nowhere.dcm", path),
        os.fsdecode(b"bad_\xff.dcm"): lambda path: path.write_bytes(b"\0" * 300),
        "two\nlines.dcm": lambda path: path.write_text("not DICOM"),
    }
    for name, make in bad.items():
        make(study / name)
    allbad = _phantom(study, "allbad.dcm", seed=7204, bad_segments=(("gain_jump", 0.0, 3.0),))
    argv = ["-i", study, "-m", 25, "-o", out, "--no-graphs", "-w", "stats"]
    code, err = _run4all(argv, capsys)
    assert code == 1
    assert "Traceback" not in "\n".join(err)
    stats = {row["file"]: row for row in _read_csv(out / "output_stats.csv")}
    measured = {shown(name) for name in goods}
    assert set(stats) == measured | {allbad.name}  # every good recording measured, the bad-quality one too
    assert all(int(stats[name]["n_good_beats"]) > 0 for name in measured)
    assert stats[allbad.name]["n_good_beats"] == "0" and stats[allbad.name]["median_diastole"] == ""
    assert _lines_starting(f"warning: {allbad}: ", err)
    lines = (out / "errors.csv").read_bytes().decode("utf-8").splitlines()
    assert len(lines) == 1 + len(bad)  # one line per bad file
    errors = {row["file"]: row["error"] for row in _read_csv(out / "errors.csv")}
    assert set(errors) == {shown(name) for name in bad}
    assert "implausible depth calibration" in errors["cm.dcm"] and "FIFO" in errors["pipe.dcm"]
    assert (out / "output_stats.csv").is_file() and (out / "errors.csv").is_file()
    assert any(f"{len(goods) + 1} files ok (1 without a good-quality beat), {len(bad)} failed" in line
               for line in err)

    before = _snapshot(out)
    code, err = _run4all([*argv, "--resume"], capsys)
    assert code == 1 and any("nothing to do" in line for line in err)
    assert _snapshot(out) == before


def test_a_zombie_writer_counts_as_dead():
    # A writer killed with its parent stays a zombie until reaped; its temporary files are leftovers.
    from mmode.outputs import pid_alive

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 10
    while pid_alive(child.pid) and time.time() < deadline:  # exited, not yet reaped: a zombie
        time.sleep(0.05)
    assert os.path.exists(f"/proc/{child.pid}") and not pid_alive(child.pid)
    child.wait()
    assert pid_alive(os.getpid())
