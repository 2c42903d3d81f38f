"""File readers: one export file (CSV, XLSX, Parquet) -> an Arrow table of raw values.

CSV cells stay text (``pa.string()``; blanks are null) so the loader decides how to parse them and
can quarantine the raw value; Parquet keeps its types. Lines that do not have the header's number
of fields are collected, not dropped: export footers (Salesforce's "Grand Totals (N records)",
"Confidential Information - Do Not Distribute", the copyright line) are counted as footer lines,
anything else comes back as a malformed line for the quarantine.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from .parse import UndecodableError, decode_bytes, detect_encoding

__all__ = ["RawFile", "read_file", "dedupe_headers", "FOOTER_RE", "ReadError", "sniff_delimiter", "sniff_encoding",
           "NULL_VALUES"]

SAMPLE_BYTES = 1 << 16
EXACT_LINES_MAX_BYTES = 50_000_000  # larger files report approximate lines (no second pass over the file)

# A line (or row) that is an export's footer, total or subtotal rather than a record.
FOOTER_RE = re.compile(
    r"^\s*(grand\s+totals?|sub-?totals?|totals?\b|total\s*\(|confidential\s+information|copyright|\(c\)|©|"
    r"generated\s+by|filtered\s+by|count\s*:|sum\s*:|合计|小计|总计)",
    re.IGNORECASE,
)


# Values that mean "no value": a blank field, and Salesforce's empty lookup id, which a Data Export writes in every
# unset lookup (ConvertedOpportunityId, ContactId, CampaignId, ...) and which is no record's id.
NULL_VALUES = ("", "000000000000000AAA")


class ReadError(ValueError):
    """A file cannot be read (binary, undecodable, not a table); the message names the file."""


@dataclass
class RawFile:
    """One export file as read.

    Attributes
    ----------
    path : the file
    table : Arrow table of raw values, columns named by the de-duplicated headers
    headers : the headers as they appear in the file (duplicates included)
    encoding, delimiter : what was detected (None for XLSX/Parquet)
    footer_lines : footer/blank lines that are not records
    malformed : list of (line text, expected fields, found fields, line number) for other short/long lines
    first_line : line number of the first record (header = line 1)
    empty : True when the file has no header at all (0 bytes or only blank lines)
    """

    path: Path
    table: pa.Table
    headers: list[str]
    encoding: str | None = None
    delimiter: str | None = None
    footer_lines: int = 0
    malformed: list[tuple[str, int, int]] = field(default_factory=list)
    first_line: int = 2
    empty: bool = False
    duplicate_headers: list[str] = field(default_factory=list)
    line_finder: Callable[[], np.ndarray] | None = None

    def record_lines(self) -> np.ndarray:
        """Line number (header = 1) where each record of ``table`` starts.

        Exact for CSV files up to 50 MB (counts blank lines, footer lines and line breaks inside
        quoted values; a second, streaming pass over the file, made only when a row is
        quarantined); otherwise ``first_line + position``.
        """
        if self.line_finder is not None:
            found = self.line_finder()
            if len(found) == self.table.num_rows:
                return found
        return self.first_line + np.arange(self.table.num_rows)


def dedupe_headers(headers: list[str]) -> tuple[list[str], list[str]]:
    """Make header names unique: the second ``Name`` becomes ``Name (2)``; returns (names, duplicated)."""
    seen: dict[str, int] = {}
    out, dup = [], []
    for h in headers:
        h = (h or "").strip()
        if h in seen:
            seen[h] += 1
            if h not in dup:
                dup.append(h)
            out.append(f"{h} ({seen[h]})")
        else:
            seen[h] = 1
            out.append(h)
    return out, dup


def _sniff_delimiter(text: str) -> str:
    lines = [ln for ln in text.splitlines()[:30] if ln.strip()]
    best, best_score = ",", 0.0
    for d in (",", ";", "\t", "|"):
        rows = list(csv.reader(lines, delimiter=d))
        if not rows or len(rows[0]) < 2:
            continue
        n = len(rows[0])
        consistent = sum(len(r) == n for r in rows) / len(rows)
        score = n * consistent
        if score > best_score:
            best, best_score = d, score
    return best


def sniff_delimiter(path) -> str:
    """The delimiter of a CSV file (``,``, ``;``, tab or ``|``) as :func:`read_file` finds it, from its first lines.

    The lazy engines pass it to their scanners instead of letting them guess: a Salesforce report's footer
    lines (one quoted field each) make a scanner's own sniffer read the whole file as one column."""
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    return _sniff_delimiter(head.decode("utf-8", errors="ignore").lstrip("\ufeff"))


def sniff_encoding(path) -> str:
    """The encoding :func:`read_file` would use for a CSV file, from its first bytes (utf-8, utf-8-sig, utf-16,
    gb18030 or cp1252; see :func:`.parse.detect_encoding`)."""
    with open(path, "rb") as fh:
        return detect_encoding(fh.read(SAMPLE_BYTES))


def read_file(path: Path, *, encoding: str | None = None, delimiter: str | None = None,
              sheet: str | int | None = None) -> RawFile:
    """Read one export file into a :class:`RawFile` (dispatch on the suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            return _read_xlsx(path, sheet)
        if suffix in (".parquet", ".pq"):
            return _read_parquet(path)
        return _read_csv(path, encoding=encoding, delimiter=delimiter)
    except UndecodableError as e:
        raise ReadError(
            f"Cannot read {path}: {e}. Re-save the export as UTF-8 CSV, or set the table's `encoding:` "
            "in the mapping (e.g. encoding: gb18030 or encoding: cp1252)."
        ) from None


def _empty(path: Path, **kw) -> RawFile:
    return RawFile(path, pa.table({}), [], empty=True, **kw)


def _read_csv(path: Path, *, encoding: str | None, delimiter: str | None) -> RawFile:
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    if not head.strip():
        return _empty(path)
    enc = encoding or detect_encoding(head)
    source: Path | io.BytesIO = path
    if enc.replace("-", "").replace("_", "").lower() not in ("utf8", "utf8sig"):
        text, enc = decode_bytes(path.read_bytes(), enc)
        source = io.BytesIO(text.encode("utf-8"))
        head_text = text[:SAMPLE_BYTES]
    else:
        head_text = head.decode("utf-8", errors="ignore")
    head_text = head_text.lstrip("\ufeff")
    delim = delimiter or _sniff_delimiter(head_text)
    first = next(csv.reader(io.StringIO(head_text.lstrip("\r\n")), delimiter=delim), [])
    lead_blank = len(head_text) - len(head_text.lstrip("\r\n"))
    headers = [h.strip().strip("\ufeff") for h in first]
    names, dup = dedupe_headers(headers)
    footer, malformed = 0, []

    def handler(row):
        nonlocal footer
        t = row.text.strip()
        unquoted = t.replace('"', "").replace(delim, "").strip()
        if not unquoted or FOOTER_RE.match(unquoted):
            footer += 1
        else:
            malformed.append((row.text, row.expected_columns, row.actual_columns))
        return "skip"

    def read(newlines: bool) -> pa.Table:
        return pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 + head_text[:lead_blank].count("\n")),
            parse_options=pacsv.ParseOptions(delimiter=delim, newlines_in_values=newlines,
                                             invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 null_values=list(NULL_VALUES), strings_can_be_null=True,
                                                 quoted_strings_can_be_null=True),
        )

    try:
        # fast path: no line breaks inside quoted values; a quoted line break would split a record
        # into lines with the wrong number of fields, so any such line triggers the careful re-read
        table = read(False)
        if malformed:
            footer, malformed = 0, []
            if isinstance(source, io.BytesIO):
                source.seek(0)
            table = read(True)
    except pa.ArrowInvalid as e:
        if "UTF8" in str(e).upper() and source is path:
            return _read_csv(path, encoding=_full_encoding(path), delimiter=delim)
        raise ReadError(f"Cannot parse {path} as CSV (delimiter {delim!r}): {e}") from None
    if malformed:
        malformed = _locate(source, malformed)
    finder = None
    if path.stat().st_size <= EXACT_LINES_MAX_BYTES:
        def finder() -> np.ndarray:
            return _record_lines(source, delim, len(names))
    return RawFile(path, table, headers, enc, delim, footer, malformed, duplicate_headers=dup, line_finder=finder)


def _record_lines(source, delim: str, ncols: int) -> np.ndarray:
    """Start line of every record the Arrow reader kept (rows with the header's field count)."""
    if isinstance(source, io.BytesIO):
        fh = io.TextIOWrapper(io.BytesIO(source.getvalue()), encoding="utf-8-sig", errors="replace", newline="")
    else:
        fh = open(source, encoding="utf-8-sig", errors="replace", newline="")
    with fh:
        return _scan_starts(csv.reader(fh, delimiter=delim), ncols)


def _scan_starts(reader, ncols: int) -> np.ndarray:
    starts, prev_end, header_seen = [], 0, False
    for row in reader:
        start, prev_end = prev_end + 1, reader.line_num
        if not row:
            continue
        if not header_seen:
            header_seen = True
            continue
        if len(row) == ncols:
            starts.append(start)
    return np.asarray(starts, dtype=np.int64)


def _locate(source, malformed: list) -> list:
    """Add the line number (header = 1) to each malformed row: (text, expected, found, line); the file is
    scanned line by line (files above EXACT_LINES_MAX_BYTES report -1)."""
    size = len(source.getvalue()) if isinstance(source, io.BytesIO) else Path(source).stat().st_size
    if size > EXACT_LINES_MAX_BYTES:
        return [(text, exp, got, -1) for text, exp, got in malformed]
    if isinstance(source, io.BytesIO):
        fh = io.TextIOWrapper(io.BytesIO(source.getvalue()), encoding="utf-8-sig", errors="replace")
    else:
        fh = open(source, encoding="utf-8-sig", errors="replace")
    out = []
    with fh:
        lines = enumerate(fh, start=1)
        for text, exp, got in malformed:
            line = -1
            for no, ln in lines:
                if ln.strip() == text.strip():
                    line = no
                    break
            out.append((text, exp, got, line))
    return out


def _full_encoding(path: Path) -> str:
    """The head looked like UTF-8 but a later byte is not: detect on the whole file."""
    enc = detect_encoding(path.read_bytes())
    if enc in ("utf-8", "utf-8-sig"):
        raise UndecodableError("invalid UTF-8 after the first 64 kB")
    return enc


def _cell_text(v) -> str | None:
    import datetime as dt

    if v is None:
        return None
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ") if (v.hour or v.minute or v.second) else v.date().isoformat()
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    s = str(v)
    return s if s.strip() else None


def _read_xlsx(path: Path, sheet: str | int | None) -> RawFile:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises several types for non-workbooks
        raise ReadError(f"Cannot open {path} as an Excel workbook: {e}") from None
    try:
        ws = wb[sheet] if isinstance(sheet, str) else wb.worksheets[sheet or 0]
        rows = [[_cell_text(v) for v in r] for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    # the header is the first row about as wide as the table: formatted reports (Salesforce's
    # "Formatted Report" export) put a title, filters and blank rows above it; those are footer_lines
    widths = [sum(c is not None for c in r) for r in rows[:30]]
    if not widths or max(widths) == 0:
        return _empty(path)
    need = max(1, (max(widths) + 1) // 2)
    skipped = next(i for i, w in enumerate(widths) if w >= need)
    preamble = sum(1 for w in widths[:skipped] if w)
    rows = rows[skipped:]
    headers = [h or "" for h in rows[0]]
    while headers and not headers[-1]:
        headers.pop()
    names, dup = dedupe_headers(headers)
    body, footer = [], 0
    for r in rows[1:]:
        cells = [c for c in r if c is not None]
        if not cells:
            footer += 1
            continue
        if len(cells) == 1 and FOOTER_RE.match(cells[0]):
            footer += 1
            continue
        body.append((list(r) + [None] * len(names))[: len(names)])
    cols = list(zip(*body, strict=True)) if body else [[] for _ in names]
    table = pa.table({n: pa.array(list(c), type=pa.string()) for n, c in zip(names, cols, strict=True)})
    return RawFile(path, table, headers, None, None, footer + preamble, [], first_line=skipped + 2,
                   duplicate_headers=dup)


def _read_parquet(path: Path) -> RawFile:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:
        raise ReadError(f"Cannot read {path} as Parquet: {e}") from None
    headers = list(table.column_names)
    names, dup = dedupe_headers(headers)
    return RawFile(path, table.rename_columns(names), headers, duplicate_headers=dup)
