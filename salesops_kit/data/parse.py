"""Vectorised parsers for the text found in CRM exports: encodings, dates, amounts, booleans.

Every parser takes a column of raw values (a pandas Series, or a pyarrow Array/ChunkedArray, as
read from a file) and returns a :class:`Parsed`: the parsed values, a boolean mask of values that
were present but could not be parsed (the loader quarantines those rows), and an optional note
(e.g. how an ambiguous date column was read). Nothing here loops over rows in Python: a fast path
handles the common clean case in Arrow, and only the values it rejects go through pandas string
operations. The functions do not know about mappings or tables, so other engines can reuse them.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "Parsed",
    "decode_bytes",
    "detect_encoding",
    "parse_dates",
    "parse_amounts",
    "parse_bools",
    "parse_probability",
    "UndecodableError",
]


@dataclass(frozen=True)
class Parsed:
    """Result of parsing one column.

    Attributes
    ----------
    values : Series of the parsed values (NaN/NaT where the raw value was blank or bad)
    bad : bool ndarray, True where a raw value was present but could not be parsed
    note : str or None, how the column was read when a choice had to be made
    """

    values: pd.Series
    bad: np.ndarray
    note: str | None = None


# --------------------------------------------------------------------------------------------
# encodings


class UndecodableError(ValueError):
    """The bytes are not UTF-8, GB18030 or Windows-1252 text."""


def _gb_plausible(text: str) -> bool:
    """True when the non-ASCII characters of ``text`` look like real Chinese (GB2312 repertoire).

    Windows-1252 text decoded as GB18030 usually "succeeds" but pairs an accented byte with the
    next ASCII letter, giving characters outside the common GB2312 set; real Chinese text lies
    almost entirely inside it.
    """
    non_ascii = [ch for ch in text if ord(ch) > 127]
    if not non_ascii:
        return True
    ok = 0
    for ch in non_ascii:
        try:
            b = ch.encode("gb2312")
        except UnicodeEncodeError:
            continue
        ok += len(b) == 2 and b[1] >= 0xA1
    return ok >= 0.9 * len(non_ascii)


def detect_encoding(data: bytes) -> str:
    """Name the encoding of ``data``: utf-8-sig, utf-16, utf-8, gb18030 or cp1252.

    UTF-8 is tried strictly first (a truncated last character is allowed, so a sample of a file
    works); then GB18030 is chosen only when the decoded text is plausible Chinese, otherwise
    Windows-1252. Raises :class:`UndecodableError` when none fits (e.g. a binary file).
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if data.startswith(b"PK\x03\x04") or b"\x00" in data[:4096]:
        raise UndecodableError("the file is binary (an Excel workbook or zip saved under a .csv name?)")
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(data, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    gb = _try_decode(data, "gb18030")
    if gb is not None and _gb_plausible(gb):
        return "gb18030"
    if _try_decode(data, "cp1252") is not None:
        return "cp1252"
    if gb is not None:
        return "gb18030"
    raise UndecodableError("the bytes are neither UTF-8, GB18030/GBK nor Windows-1252 text")


def _try_decode(data: bytes, enc: str) -> str | None:
    try:
        return codecs.getincrementaldecoder(enc)("strict").decode(data, final=False)
    except UnicodeDecodeError:
        return None


def decode_bytes(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decode a whole file: ``(text, encoding used)``; ``encoding=None`` detects it."""
    enc = encoding or detect_encoding(data)
    try:
        return data.decode(enc), enc
    except UnicodeDecodeError as e:
        raise UndecodableError(f"not valid {enc} at byte {e.start}") from None


# --------------------------------------------------------------------------------------------
# helpers


def _to_arrow(values) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    if isinstance(values, pd.Series) and values.dtype == object:
        return pa.array(values.to_numpy(), from_pandas=True, type=pa.string()) if _all_str(values) else pa.array(
            values.astype("string").to_numpy(na_value=None), type=pa.string())
    return pa.array(values, from_pandas=True)


def _all_str(s: pd.Series) -> bool:
    try:
        pa.array(s.head(1000).to_numpy(), from_pandas=True, type=pa.string())
        return True
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False


def _index(values) -> pd.Index | None:
    return values.index if isinstance(values, pd.Series) else None


def _strings(arr) -> pd.Series:
    """Arrow string array -> pandas object Series with None for nulls and blanks, stripped."""
    s = pd.Series(pc.utf8_trim_whitespace(arr).to_pandas(), dtype=object)
    return s.where(s.ne(""), None)


def _present(arr) -> np.ndarray:
    """Mask of values that are present (not null, not blank)."""
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        blank = pc.match_substring_regex(arr, r"^[\s\p{Zs}]*$")  # RE2: fast, no copy of the strings
        return np.asarray(pc.invert(blank).fill_null(False))
    return np.asarray(pc.is_valid(arr))


# --------------------------------------------------------------------------------------------
# dates

_TIME = (r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,]\d+)?)?\s*(?P<p>[AaPp]\.?[Mm]\.?)?)?"
         r"\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})?")
_YMD = re.compile(r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?" + _TIME + "$")
_AB = re.compile(r"^(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<y>\d{4}|\d{2})" + _TIME + "$")
_DMON = re.compile(r"^(?P<d>\d{1,2})[ -](?P<mon>[A-Za-z]{3,9})\.?,?[ -](?P<y>\d{4})" + _TIME + "$")
_MOND = re.compile(r"^(?P<mon>[A-Za-z]{3,9})\.?[ -](?P<d>\d{1,2})(?:st|nd|rd|th)?,?[ -](?P<y>\d{4})" + _TIME + "$")
_SERIAL = re.compile(r"^\d{4,5}(?:\.\d+)?$")


_NUM_FIELDS = ("y", "m", "d", "a", "b", "H", "M", "S")


def _extract(s: pd.Series, rx: re.Pattern) -> dict[str, np.ndarray]:
    """Match ``rx`` (named groups) with Arrow's RE2 in C++; returns ``ok`` (matched) and per group a
    float array (NaN when absent), ``p`` as +1 pm / -1 am / 0, ``mon`` as month number (NaN unknown)."""
    arr = pa.array(s.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    st = pc.extract_regex(arr, pattern=rx.pattern)
    out = {"ok": np.asarray(st.is_valid(), dtype=bool)}
    for i in range(st.type.num_fields):
        name = st.type.field(i).name
        f = pc.struct_field(st, [i])
        if name in _NUM_FIELDS:
            f = pc.if_else(pc.equal(f, ""), pa.scalar(None, pa.string()), f)
            out[name] = pc.cast(f, pa.float64()).to_numpy(zero_copy_only=False)
        elif name == "p":
            low = pc.utf8_lower(f)
            pm = np.asarray(pc.starts_with(low, "p").fill_null(False), dtype=bool)
            am = np.asarray(pc.starts_with(low, "a").fill_null(False), dtype=bool)
            out[name] = pm.astype(np.int8) - am.astype(np.int8)
        elif name == "mon":
            idx = pc.index_in(pc.utf8_slice_codeunits(pc.utf8_lower(f), 0, 3), value_set=pa.array(_MONTH_ABBR))
            out[name] = pc.cast(idx, pa.float64()).to_numpy(zero_copy_only=False) + 1
    return out


_MONTH_ABBR = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def _assemble(g: dict, ok: np.ndarray, year, month, day) -> np.ndarray:
    """Build datetime64[ns] values for the matched rows with numpy (impossible dates/times -> NaT)."""
    y, mo, d = (np.asarray(v, dtype=float)[ok] for v in (year, month, day))
    hour = np.nan_to_num(g["H"][ok]) if "H" in g else np.zeros(len(y))
    if "p" in g:
        p = g["p"][ok]
        hour = np.where((p == 1) & (hour < 12), hour + 12, np.where((p == -1) & (hour == 12), 0, hour))
    minute = np.nan_to_num(g["M"][ok]) if "M" in g else np.zeros(len(y))
    sec = np.nan_to_num(g["S"][ok]) if "S" in g else np.zeros(len(y))
    valid = (~np.isnan(y) & ~np.isnan(mo) & ~np.isnan(d) & (mo >= 1) & (mo <= 12) & (d >= 1)
             & (y >= 1678) & (y <= 2261) & (hour < 24) & (minute < 60) & (sec < 60))
    months = np.where(valid, (np.nan_to_num(y) - 1970) * 12 + np.nan_to_num(mo) - 1, 0).astype("int64")
    start = months.astype("datetime64[M]").astype("datetime64[D]")
    length = ((months + 1).astype("datetime64[M]").astype("datetime64[D]") - start).astype("int64")
    valid &= np.nan_to_num(d) <= length
    secs = (np.nan_to_num(d) - 1) * 86400 + hour * 3600 + minute * 60 + sec
    out = start.astype("datetime64[ns]") + (secs * 1e9).astype("int64").astype("timedelta64[ns]")
    out[~valid] = np.datetime64("NaT")
    return out


def _slow_dates(s: pd.Series, dayfirst: bool | None) -> tuple[pd.Series, str | None]:
    """Parse the values the ISO fast path rejected; returns (datetimes, note)."""
    n = len(s)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    note = None
    if n == 0:
        return pd.Series(out), note
    arr = pa.array(s.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    looks_iso = np.flatnonzero(np.asarray(pc.match_substring_regex(arr, r"^\d{4}-\d").fill_null(False), dtype=bool))
    if len(looks_iso):
        iso = pd.to_datetime(s.iloc[looks_iso], format="ISO8601", errors="coerce", utc=True)
        if isinstance(iso.dtype, pd.DatetimeTZDtype):
            iso = iso.dt.tz_convert(None)
        out[looks_iso] = iso.astype("datetime64[ns]").to_numpy()

    def todo() -> np.ndarray:
        return np.flatnonzero(np.isnat(out))

    rest = todo()
    if len(rest):
        g = _extract(s.iloc[rest], _YMD)
        ok = g["ok"]
        if ok.any():
            out[rest[ok]] = _assemble(g, ok, g["y"], g["m"], g["d"])
    rest = todo()
    if len(rest):
        g = _extract(s.iloc[rest], _AB)
        ok = g["ok"]
        if ok.any():
            a, b, y = g["a"], g["b"], g["y"]
            y = np.where(y >= 100, y, 2000 + np.where(y < 70, y, y - 100))  # two-digit years: 70-99 -> 19xx
            if dayfirst is None:
                a_day, b_day = bool((a[ok] > 12).any()), bool((b[ok] > 12).any())
                if a_day and not b_day:
                    dayfirst, note = True, "read as day/month/year (a first number above 12 was found)"
                elif b_day and not a_day:
                    dayfirst, note = False, "read as month/day/year (a second number above 12 was found)"
                elif not a_day and not b_day:
                    dayfirst, note = False, ("ambiguous dates read as month/day/year; set dates: {dayfirst: true} "
                                             "in the mapping if they are day/month/year")
                else:
                    note = ("both day/month/year and month/day/year values found; read as month/day/year, the "
                            "others are quarantined; set dates: {dayfirst: true} or format: in the mapping")
                    dayfirst = False
            day, month = (a, b) if dayfirst else (b, a)
            out[rest[ok]] = _assemble(g, ok, y, month, day)
    for rx in (_DMON, _MOND):
        rest = todo()
        if not len(rest):
            break
        g = _extract(s.iloc[rest], rx)
        ok = g["ok"] & ~np.isnan(g["mon"])
        if ok.any():
            out[rest[ok]] = _assemble(g, ok, g["y"], g["mon"], g["d"])
    rest = todo()
    if len(rest):
        arr = pa.array(s.iloc[rest].to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        is_num = np.asarray(pc.match_substring_regex(arr, _SERIAL.pattern).fill_null(False), dtype=bool)
        if is_num.any():
            num = pd.to_numeric(s.iloc[rest[is_num]]).to_numpy(dtype=float)
            good = (num >= 2) & (num < 2958466)  # Excel's valid range (1900-01-01 .. 9999-12-31)
            days = pd.to_timedelta(num[good], unit="D").round("s")
            out[rest[is_num][good]] = (pd.Timestamp("1899-12-30") + days).to_numpy(dtype="datetime64[ns]")
    return pd.Series(out), note


def parse_dates(values, *, dayfirst: bool | None = None, format: str | None = None) -> Parsed:  # noqa: A002
    """Parse a column of dates into naive ``datetime64[ns]``.

    Accepts ISO dates and datetimes (with ``T``, fractions, ``Z``/offsets: converted to UTC then
    made naive), ``2024/3/5``, ``2024年3月5日``, ``3/5/2024`` and ``5/3/24`` (month or day first
    per ``dayfirst``; ``None`` decides per column from values above 12 and says so in ``note``),
    ``17-7-2018``, ``15 Apr, 2021 00:02:00``, ``Apr 15, 2021``, 12-hour times (``08:55 PM``), and
    Excel serial day numbers (``45356``). Values already typed as timestamps/dates pass through.
    ``format`` (a strptime format) overrides all detection.

    Returns
    -------
    Parsed with ``values`` a datetime64[ns] Series (NaT where blank or bad) and ``bad`` the mask
    of present values that matched no format (or gave an impossible date such as 31/02).
    """
    idx = _index(values)
    arr = _to_arrow(values)
    n = len(arr)
    if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
        ts = arr.cast(pa.timestamp("ns", tz=getattr(arr.type, "tz", None))) if pa.types.is_date(arr.type) else arr
        out = pd.Series(ts.to_pandas(), dtype=None)
        if isinstance(out.dtype, pd.DatetimeTZDtype):
            out = out.dt.tz_convert(None)
        out = out.astype("datetime64[ns]")
        return Parsed(_reindex(out, idx), np.zeros(n, dtype=bool))
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        arr = pc.cast(arr, pa.string())
    present = _present(arr)
    if format is not None:
        s = _strings(arr)
        out = pd.to_datetime(s, format=format, errors="coerce")
        return Parsed(_reindex(out, idx), present & out.isna().to_numpy())
    fast = pc.strptime(arr, format="%Y-%m-%d", unit="ns", error_is_null=True)
    out = pd.Series(fast.to_pandas(), dtype="datetime64[ns]")
    todo = present & out.isna().to_numpy()
    note = None
    if todo.any():
        sub = pc.utf8_trim_whitespace(pc.filter(arr, pa.array(todo)))
        sub = sub.combine_chunks() if isinstance(sub, pa.ChunkedArray) else sub
        enc = pc.dictionary_encode(sub)  # exports repeat dates: parse each distinct text once
        codes = enc.indices.to_numpy(zero_copy_only=False)
        parsed, note = _slow_dates(pd.Series(enc.dictionary.to_pandas(), dtype=object), dayfirst)
        out.iloc[np.flatnonzero(todo)] = parsed.to_numpy()[codes]
    bad = present & out.isna().to_numpy()
    return Parsed(_reindex(out, idx), bad, note)


def _reindex(s: pd.Series, idx) -> pd.Series:
    s = s.reset_index(drop=True)
    if idx is not None:
        s.index = idx
    return s


# --------------------------------------------------------------------------------------------
# numbers

def parse_amounts(values, *, decimal: str | None = None, thousands: str | None = None) -> Parsed:
    """Parse money/number text into float64.

    Handles currency symbols and codes (``$1,234.50``, ``¥1,234.50``, ``USD 1,234.50``,
    ``1.234,50 €``), spaces and no-break spaces as thousands separators, accounting negatives
    ``(1,234.50)`` and trailing minus. ``decimal``/``thousands`` come from the mapping; when
    ``decimal`` is None each value decides: a comma followed by one or two final digits (or a
    comma after the last dot) is a decimal comma, otherwise commas group thousands.

    Returns
    -------
    Parsed with float64 ``values`` (NaN where blank or bad) and ``bad`` for present values that are
    not numbers.
    """
    idx = _index(values)
    arr = _to_arrow(values)
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_decimal(arr.type):
        out = pd.Series(pc.cast(arr, pa.float64()).to_pandas(), dtype="float64")
        return Parsed(_reindex(out, idx), np.zeros(len(arr), dtype=bool))
    if pa.types.is_boolean(arr.type):
        arr = pc.cast(arr, pa.string())
    present = _present(arr)
    if decimal in (None, "."):
        try:
            out = pd.Series(pc.cast(arr, pa.float64()).to_pandas(), dtype="float64")
            return Parsed(_reindex(out, idx), np.zeros(len(arr), dtype=bool))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    t = pc.utf8_trim_whitespace(arr)
    neg = pc.or_kleene(pc.match_substring_regex(t, r"^\(.*\)$"), pc.match_substring_regex(t, r"\d\s*-$"))
    t = pc.replace_substring_regex(t, r"[\s\x{00a0}\x{202f}']", "")
    t = pc.replace_substring_regex(t, r"[^0-9,.\-+()eE]", "")
    t = pc.replace_substring_regex(t, r"^[()+]+|[()+-]+$", "")
    th_default = thousands if thousands is not None else None
    if decimal is None:
        comma_dec = pc.or_kleene(pc.match_substring_regex(t, r",\d{1,2}$"),
                                 pc.match_substring_regex(t, r"\.\d{3},\d*$"))
    else:
        comma_dec = pa.array(np.full(len(t), decimal == ","))
    as_comma = pc.replace_substring(pc.replace_substring(t, th_default or ".", ""), ",", ".")
    as_dot = pc.replace_substring(t, th_default or ",", "")
    t = pc.if_else(comma_dec.fill_null(False), as_comma, as_dot)
    ok = pc.match_substring_regex(t, r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$").fill_null(False)
    num = pc.cast(pc.if_else(ok, t, pa.scalar(None, pa.string())), pa.float64())
    num = pc.if_else(neg.fill_null(False), pc.negate(pc.abs(num)), num)
    out = pd.Series(num.to_numpy(zero_copy_only=False), dtype="float64")
    bad = present & out.isna().to_numpy()
    return Parsed(_reindex(out, idx), bad)


def parse_probability(values, *, scale: float | None = None) -> Parsed:
    """Parse a probability as a float in [0, 1].

    ``20%`` is 0.2; a column without ``%`` is read as a percentage when ``scale=100`` or when any
    value exceeds 1, else as a fraction. Values outside [0, 1] after scaling are bad.
    """
    idx = _index(values)
    arr = _to_arrow(values)
    has_pct = np.zeros(len(arr), dtype=bool)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        has_pct = np.asarray(pc.match_substring(arr, "%").fill_null(False))
        arr = pc.replace_substring(arr, "%", "")
    p = parse_amounts(arr)
    v = p.values.to_numpy(dtype="float64", copy=True)
    note = None
    if scale is None:
        scale = 100.0 if (has_pct.any() or np.nanmax(np.append(v, 0.0)) > 1) else 1.0
        if scale == 100.0 and not has_pct.any():
            note = "read as percentages (values above 1 found)"
    v = np.where(has_pct, v / 100.0, v / scale)
    bad = p.bad | (~np.isnan(v) & ((v < 0) | (v > 1)))
    v = np.where(bad, np.nan, v)
    return Parsed(_reindex(pd.Series(v, dtype="float64"), idx), bad, note)


_TRUE = {"true", "t", "yes", "y", "1", "1.0", "是", "对", "真", "x", "✓", "won"}
_FALSE = {"false", "f", "no", "n", "0", "0.0", "否", "错", "假", ""}


def parse_bools(values) -> Parsed:
    """Parse true/false, yes/no, y/n, 1/0, TRUE/FALSE, 是/否 into a pandas ``boolean`` Series."""
    idx = _index(values)
    arr = _to_arrow(values)
    if pa.types.is_boolean(arr.type):
        return Parsed(_reindex(pd.Series(arr.to_pandas(), dtype="boolean"), idx), np.zeros(len(arr), dtype=bool))
    arr = pc.cast(arr, pa.string())
    present = _present(arr)
    codes, uniques = pd.factorize(pd.Series(pc.utf8_lower(pc.utf8_trim_whitespace(arr)).to_pandas()))
    lut = np.array([True if u in _TRUE else False if u in _FALSE else None for u in uniques] + [None], dtype=object)
    out = pd.Series(lut[codes], dtype="boolean")
    bad = present & out.isna().to_numpy()
    return Parsed(_reindex(out, idx), bad)
