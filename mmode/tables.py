"""Reading CSV files that this run did not just write: mass tables, metadata, an earlier run's outputs.

Such a file may come from Excel (UTF-8 with a byte-order mark, or Latin-1 on
older systems), may have been edited by hand (rows with too many or too few
cells), or may be damaged (bad bytes, NUL characters). Every problem is a
:class:`mmode.errors.TableError` that names the file and the line, never a
traceback, and a FIFO or device given as a table is refused instead of read
(reading a FIFO waits for a writer for ever).
"""
from __future__ import annotations

import csv
import gzip
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from mmode.errors import TableError, file_kind

UTF8_BOM = b"\xef\xbb\xbf"


def check_regular(path: Path, error=TableError, what: str = "file") -> os.stat_result:
    """The stat of ``path`` (links followed), raising ``error`` unless it is a regular file."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(path, "file not found") from None
    except OSError as exc:
        raise error(path, f"cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(path, f"is {file_kind(info.st_mode)}, not a regular {what}")
    return info


def read_text(path, latin1: bool = True) -> str:
    """The text of a CSV file (``.gz`` too): UTF-8 with or without a byte-order mark, else Latin-1.

    Parameters
    ----------
    latin1 : accept text that is not UTF-8 as Latin-1 (tables people write); False for our own
        outputs, which are always UTF-8, so that bad bytes in them are reported instead of kept.
    """
    path = Path(path)
    check_regular(path)
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError) as exc:  # gzip raises BadGzipFile (an OSError) or EOFError
        raise TableError(path, f"cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    data = data.removeprefix(UTF8_BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not latin1:
            line = data[:exc.start].count(b"\n") + 1
            raise TableError(path, f"line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                                   "move the damaged file away") from None
        text = data.decode("latin-1")
    if "\0" in text:
        line = text[:text.index("\0")].count("\n") + 1
        raise TableError(path, f"line {line}: holds a NUL character; not a text CSV file")
    return text


@dataclass
class Table:
    """A CSV file's header and rows, and the line of the file each row ends on."""

    path: Path
    header: list[str]
    rows: list[dict]
    lines: list[int]


def read_table(path, required=(), latin1: bool = True) -> Table:
    """Header and rows of a CSV file, every row exactly as long as the header.

    ``Table.lines[k]`` is the line on which row k ends (its only line unless a cell holds a newline).

    Blank lines are skipped; cells and column names are kept as they are
    (column names lose surrounding blanks). An empty file has no header and no rows.

    Raises
    ------
    TableError
        Not a regular file, not text, a row with more or fewer cells than the header, or a
        column of ``required`` missing.
    """
    path = Path(path)
    text = read_text(path, latin1)
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    header, rows, lines = None, [], []
    try:
        for cells in reader:
            if not cells or cells == [""] and header is not None:
                continue
            if header is None:
                header = [cell.strip() for cell in cells]
                if len(set(header)) != len(header):
                    raise TableError(path, f"line {reader.line_num}: a column name occurs twice in the header")
                continue
            if len(cells) != len(header):
                raise TableError(path, f"line {reader.line_num}: {len(cells)} cells, the header has {len(header)}")
            rows.append(dict(zip(header, cells)))
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise TableError(path, f"line {reader.line_num}: not valid CSV ({exc})") from None
    missing = [column for column in required if column not in (header or [])]
    if missing:
        raise TableError(path, f"no column {missing[0]!r} (columns: {', '.join(header or []) or 'none'})")
    return Table(path, header or [], rows, lines)
