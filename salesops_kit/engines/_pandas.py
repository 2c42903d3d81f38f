"""pandas back-end: the export files of one table -> clean canonical DataFrame + quarantine + row account.

:class:`PandasBackend` is what :func:`salesops_kit.engines.backend` returns for ``engine="pandas"``: it
reads every file (CSV in any encoding, XLSX, Parquet; :mod:`salesops_kit.data.readers`), maps the headers
to canonical columns, and :func:`finish_table` parses, checks and splits the rows. All work is column-wise
(Arrow compute, pandas vectorised operations); Python loops run only over quarantined rows and over
distinct stage labels. The audit's flag checks on pandas tables (:func:`compute_flags`, row positions)
and the default ``as_of`` (:func:`latest_event_date`) are here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..data.mapping import MappingError, TableSpec, check_stage_labels, resolve_columns
from ..data.parse import parse_amounts, parse_dates, parse_probability
from ..data.readers import FOOTER_RE, RawFile, ReadError, read_file
from ..data.schema import (
    AFTER_AS_OF,
    BAD_DATE,
    BAD_NUMBER,
    CONFLICT_DUP,
    DEFAULT_CLOSE,
    EXACT_DUP,
    MALFORMED,
    OPEN_PAST_CLOSE,
    REPEATED_ROW,
    STAGE_COLUMNS,
    STATUS_COLUMN,
    TABLES,
    UNKNOWN_STAGE,
    StageModel,
    Table,
)
from ._common import (
    Rule,
    TableResult,
    check_rank,
    is_identity,
    raw_text,
    status_applies,
    status_rules,
    value_rules,
    withheld_frame,
)

__all__ = ["PandasBackend", "Source", "TableResult", "finish_table", "read_sources", "source_of",
           "stage_history_from_columns", "compute_flags", "latest_event_date"]


@dataclass
class Source:
    """One file's rows for one table, canonical column names, raw values."""

    path: Path
    table: pa.Table
    n: int
    first_line: int
    footer_lines: int = 0
    malformed: list = field(default_factory=list)
    lines: np.ndarray | None = None
    empty: bool = False
    raw: RawFile | None = None
    duplicate_headers: list = field(default_factory=list)
    colmap: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------
# the back-end


class PandasBackend:
    """Tables as pandas DataFrames; flags as row positions (see :class:`salesops_kit.engines.Backend`)."""

    name = "pandas"
    derives_tables = True
    parquet_copies = False

    def read_table(self, spec: TableSpec, files: list[Path], *, stages: StageModel, mapping_name: str,
                   unknown_stages: str, derived: tuple[TableSpec, ...] = ()) -> TableResult:
        sources, pending = read_sources(spec, files, mapping_name=mapping_name, derived=derived)
        res = finish_table(spec, sources, stages, unknown_stages=unknown_stages, mapping_name=mapping_name)
        del sources
        pa.default_memory_pool().release_unused()  # the raw text is no longer needed: give it back
        res.derived = {d.name: finish_table(d, pending[d.name], stages, unknown_stages=unknown_stages,
                                            mapping_name=mapping_name) for d in derived if pending[d.name]}
        return res

    def default_as_of(self, tables: dict) -> pd.Timestamp:
        return latest_event_date(tables)

    def flags(self, tables: dict, *, stages: StageModel, as_of: pd.Timestamp) -> pd.DataFrame:
        return compute_flags(tables, stages=stages, as_of=as_of)

    def notes(self) -> list[str]:
        return []


def read_sources(spec: TableSpec, files: list[Path], *, mapping_name: str, derived: tuple[TableSpec, ...] = ()
                 ) -> tuple[list[Source], dict[str, list[Source]]]:
    """Read ``files`` into one :class:`Source` each, and the sources of the ``derived`` tables built from
    their columns (by name). A file that cannot be read raises :class:`MappingError` naming it."""
    sources: list[Source] = []
    pending: dict[str, list[Source]] = {d.name: [] for d in derived}
    for f in files:
        try:
            raw = read_file(f, encoding=spec.encoding, delimiter=spec.delimiter, sheet=spec.sheet)
        except ReadError as e:
            raise MappingError(str(e)) from None
        sources.append(source_of(spec, raw, mapping_name))
        if not raw.empty:
            id_col = sources[-1].colmap.get(TABLES[spec.name].id_column)
            for d in derived:
                pending[d.name].append(stage_history_from_columns(raw, d, id_col))
    return sources, pending


def source_of(spec: TableSpec, raw: RawFile, mapping_name: str) -> Source:
    """A file's raw table with its headers resolved to canonical columns (MappingError if one is missing)."""
    if raw.empty:
        return Source(raw.path, pa.table({}), 0, raw.first_line, raw.footer_lines, raw.malformed, empty=True)
    colmap = resolve_columns(spec, raw.table.column_names, headers=raw.headers, path=raw.path,
                             mapping_name=mapping_name)
    t = pa.table({canon: _first_present(raw.table, src) for canon, src in colmap.items()}) if colmap else pa.table({})
    return Source(raw.path, t, raw.table.num_rows, raw.first_line, raw.footer_lines, raw.malformed,
                  duplicate_headers=raw.duplicate_headers, colmap=colmap, raw=raw if raw.line_finder else None)


def _first_present(table: pa.Table, src: str | tuple[str, ...]):
    """A column, or per row the first non-blank value of several (``columns.<c>: {coalesce: [...]}``)."""
    if isinstance(src, str):
        return table.column(src)
    cols = []
    for h in src:
        c = table.column(h).cast(pa.string())
        cols.append(pc.if_else(pc.match_substring_regex(c, r"^[\s\p{Zs}]*$").fill_null(True),
                               pa.scalar(None, pa.string()), c))
    return pc.coalesce(*cols)


def _template_regex(t: str) -> re.Pattern:
    rx = re.escape(t).replace(r"\{stage\}", "(?P<stage>.+?)").replace(r"\{pipeline\}", "(?P<pipeline>.+)")
    return re.compile("^" + rx + "$", re.IGNORECASE)


def stage_history_from_columns(raw: RawFile, spec: TableSpec, id_col: str | None) -> Source:
    """HubSpot-style per-stage date columns of a deal export -> long stage_history rows.

    ``spec.entered`` / ``spec.exited`` are header templates such as
    ``Date entered "{stage} ({pipeline})"`` or ``hs_date_entered_{stage}``; each non-blank entered
    cell becomes one row (opportunity_id, stage, entered_date, exited_date) with the deal's line.
    """
    ent = [_template_regex(t) for t in spec.entered]
    ext = [_template_regex(t) for t in spec.exited]
    names = raw.table.column_names
    exited = {}
    for n in names:
        for rx in ext:
            mm = rx.match(n)
            if mm:
                exited[(mm.group("stage"), mm.groupdict().get("pipeline"))] = n
    parts = []
    lines_all = raw.first_line + np.arange(raw.table.num_rows)
    for n in names:
        for rx in ent:
            mm = rx.match(n)
            if not mm or id_col is None:
                continue
            key = (mm.group("stage"), mm.groupdict().get("pipeline"))
            col = raw.table.column(n).cast(pa.string())
            keep = pc.and_kleene(pc.is_valid(col), pc.not_equal(pc.utf8_trim_whitespace(col), "")).fill_null(False)
            k = np.asarray(keep)
            if not k.any():
                continue
            sub = raw.table.filter(keep)
            ex = sub.column(exited[key]).cast(pa.string()) if key in exited else pa.nulls(sub.num_rows, pa.string())
            parts.append((pa.table({
                "opportunity_id": sub.column(id_col).cast(pa.string()),
                "stage": pa.array([key[0]] * sub.num_rows, pa.string()),
                "entered_date": sub.column(n).cast(pa.string()),
                "exited_date": ex,
            }), lines_all[k]))
            break
    if parts:
        t = pa.concat_tables([p[0] for p in parts])
        lines = np.concatenate([p[1] for p in parts])
    else:
        t = pa.table({c: pa.array([], pa.string()) for c in ("opportunity_id", "stage", "entered_date", "exited_date")})
        lines = np.zeros(0, dtype=int)
    return Source(raw.path, t, t.num_rows, raw.first_line, 0, [], lines=lines)


# ------------------------------------------------------------------------------------------------
# one table: parse, check, split


def _present(col) -> np.ndarray:
    """Not null and not blank (no copy of the strings is made)."""
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        blank = pc.match_substring_regex(col, r"^[\s\p{Zs}]*$")  # RE2: fast, no copy of the strings
        return np.asarray(pc.invert(blank).fill_null(False))
    return np.asarray(pc.is_valid(col))


def _to_text(col) -> pd.Series:
    return pd.Series(col.to_pandas(), dtype=object).map(lambda v: None if v is None or v != v else str(v)) \
        if len(col) < 100_000 else pd.Series(col.cast(pa.string()).to_pandas(), dtype=object)


class _Rejects:
    """Collects (check, mask, reason builder) triples; turns them into per-row check/reason."""

    def __init__(self, n: int):
        self.n = n
        self.items: list[tuple[str, np.ndarray, object]] = []

    def add(self, check: str, mask: np.ndarray, reason) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.items.append((check, mask, reason))

    @property
    def mask(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for _, m, _ in self.items:
            out |= m
        return out

    def describe(self, idx: np.ndarray) -> tuple[list[str], list[str]]:
        checks: list[str | None] = [None] * len(idx)
        reasons: list[list[str]] = [[] for _ in idx]
        pos = {int(i): k for k, i in enumerate(idx)}
        for check, m, reason in sorted(self.items, key=lambda x: check_rank(x[0])):
            rows = np.flatnonzero(m)
            texts = reason(rows) if callable(reason) else [reason] * len(rows)
            for r, t in zip(rows, texts, strict=True):
                k = pos.get(int(r))
                if k is None:
                    continue
                if checks[k] is None:
                    checks[k] = check
                reasons[k].append(t)
        return [c or "" for c in checks], ["; ".join(r) for r in reasons]


class _Withheld:
    """Collects (check, recorded columns, mask) of kept-row problems: the field is withheld, the row kept."""

    def __init__(self, n: int):
        self.n = n
        self.items: list[tuple[str, tuple[str, ...], np.ndarray]] = []

    def add(self, check: str, columns: tuple[str, ...], mask: np.ndarray) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.items.append((check, columns, mask))

    @property
    def mask(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for _, _, m in self.items:
            out |= m
        return out

    def summary(self, name: str, keep: np.ndarray, raw: pa.Table, where: _Lines) -> list[tuple]:
        """(table, column, reason, rows, example file:line, raw value) per recorded column and reason."""
        out = []
        for check, columns, m in self.items:
            rows = np.flatnonzero(m & keep)
            if not len(rows):
                continue
            r = int(rows[0])
            for c in columns:
                v = raw.column(c)[r].as_py() if c in raw.column_names else None
                out.append((name, c, check, len(rows), where.where(r), raw_text(v)))
        return out

    def row_flags(self, name: str, keep: np.ndarray, positions: np.ndarray) -> pd.DataFrame:
        """Kept rows with a withheld field, per reason, as (table, check, row) positions in the clean table."""
        parts = []
        checks = list(dict.fromkeys(ck for ck, _, _ in self.items))
        for ck in checks:
            m = np.zeros(self.n, dtype=bool)
            for c2, _, mm in self.items:
                if c2 == ck:
                    m |= mm
            idx = np.sort(positions[np.flatnonzero(m & keep)])
            parts.append(pd.DataFrame({"table": name, "check": ck, "row": idx.astype("int64")}))
        if not parts:
            return pd.DataFrame({"table": pd.Series(dtype=object), "check": pd.Series(dtype=object),
                                 "row": pd.Series(dtype="int64")})
        return pd.concat(parts, ignore_index=True)


def _raw_reason(col_name: str, raw, what: str):
    def f(rows):
        vals = raw.take(pa.array(rows, pa.int64())).to_pylist()
        return [f"{what} {col_name}: {v!r}" for v in vals]
    return f


class _Lines:
    """File and line of every row, known only once the quarantine is decided (see :func:`_line_numbers`)."""

    def __init__(self, live: list[Source]):
        self.live = live
        self.lines: np.ndarray | None = None
        self.fileidx: np.ndarray | None = None

    def where(self, row: int) -> str:
        return f"{self.live[self.fileidx[row]].path.name}:{self.lines[row]}"


def finish_table(spec: TableSpec, sources: list[Source], stages: StageModel, *, unknown_stages: str,
                 mapping_name: str) -> TableResult:
    """Parse, check and split the concatenated sources of the table ``spec.name``."""
    name, tdef = spec.name, TABLES[spec.name]
    live, notes = _live_sources(name, sources)
    raw = _concat(live, tdef)
    n = raw.num_rows
    starts = np.cumsum([0] + [s.table.num_rows for s in live])
    is_footer = _footer_rows(raw, tdef)
    footer = sum(s.footer_lines for s in sources) + int(is_footer.sum())
    rej = _Rejects(n)
    wh = _Withheld(n)
    cols = _parse_columns(name, raw, spec, rej, wh, notes)
    _normalise_stages(name, cols, raw, rej, stages, unknown_stages=unknown_stages, mapping_name=mapping_name,
                      files=[s.path for s in live])
    if status_applies(name, cols, stages):
        _apply_status(name, cols, raw, rej, stages, unknown_stages=unknown_stages, mapping_name=mapping_name,
                      files=[s.path for s in live])
    is_closed, is_won = _outcome(name, cols, raw, stages, notes)
    blank = []
    for rule in value_rules(name, raw.column_names, credits=spec.amount.credits):
        mask, reason = _rule_mask(rule, raw, cols, is_closed)
        if rule.quarantines:
            rej.add(rule.check, mask, reason)
        else:
            wh.add(rule.check, rule.record, mask)
            blank += [(c, mask) for c in rule.withhold]
    for c, mask in blank:  # after every rule has seen the values
        cols[c] = cols[c].mask(mask)
    other = _not_stage_entries(cols, rej.mask | is_footer) if name == "stage_history" and n else np.zeros(n, bool)
    where = _Lines(live)
    if tdef.id_column in cols:
        _duplicate_checks(raw, tdef.id_column, rej, rej.mask | is_footer | other, where)
    pa.default_memory_pool().release_unused()  # hash tables of the duplicate scan: give them back

    bad = rej.mask & ~is_footer & ~other
    rej.items = [(ck, m & ~is_footer & ~other, r) for ck, m, r in rej.items]
    keep = ~(bad | is_footer | other)
    where.lines, where.fileidx = _line_numbers(live, starts, n, bad | wh.mask)
    q = _quarantine(raw, rej, np.flatnonzero(bad), where.lines, where.fileidx, live, sources)
    withheld = withheld_frame(wh.summary(name, keep, raw, where))
    derive_exit = "exited_date" not in raw.column_names or not _present(raw.column("exited_date")).any()
    # the raw text is no longer needed: drop every reference so _clean can free it column by column
    del raw
    rej.items.clear()  # the reasons' closures hold raw columns
    for s in live:
        s.table = None
    clean = _clean(name, cols, keep, is_closed, is_won)
    positions = np.cumsum(keep) - 1
    if name == "stage_history":
        clean, order = _finish_history(clean, derive_exit)
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[order] = np.arange(len(order))
        positions = np.where(keep, inverse[np.clip(positions, 0, None)] if len(order) else 0, -1)
    row_flags = wh.row_flags(name, keep, positions)
    malformed = sum(len(s.malformed) for s in sources)
    acc = dict(table=name, files=len(sources), rows_read=int(keep.sum() + bad.sum()) + malformed,
               rows_kept=len(clean), rows_quarantined=len(q), footer_lines=footer, other_lines=int(other.sum()))
    return TableResult(clean, q, acc, notes, withheld=withheld, row_flags=row_flags)


def _live_sources(name: str, sources: list[Source]) -> tuple[list[Source], list[str]]:
    """The sources with rows and columns, and notes on the empty ones and duplicate headers."""
    notes = []
    for s in sources:
        if s.empty:
            notes.append(f"{name}: {s.path.name} is empty (no header, no rows); it adds nothing.")
        if s.duplicate_headers:
            notes.append(f"{name}: {s.path.name} has duplicate headers {s.duplicate_headers}; the first of each "
                         "is used (later ones are named 'Header (2)', ...).")
    return [s for s in sources if not s.empty and s.table.num_columns], notes


def _concat(live: list[Source], tdef: Table) -> pa.Table:
    if not live:
        return pa.table({c: pa.array([], pa.string()) for c in tdef.required})
    return pa.concat_tables([s.table for s in live], promote_options="permissive")


def _footer_rows(raw: pa.Table, tdef: Table) -> np.ndarray:
    """Footer/subtotal rows that have the full width (e.g. ``"Subtotal",,,"12000"``): the id and the date are
    blank (or the id reads like a footer), and the row is empty or some text reads like a footer."""
    n = raw.num_rows
    is_footer = np.zeros(n, dtype=bool)
    idc = tdef.id_column
    if not (idc and idc in raw.column_names and n):
        return is_footer
    idcol = raw.column(idc)
    blank_id = ~_present(idcol)
    if pa.types.is_string(idcol.type):
        blank_id |= np.asarray(pc.match_substring_regex(idcol, FOOTER_RE.pattern, ignore_case=True)
                               .fill_null(False))
    if tdef.date_column in raw.column_names:
        blank_id &= ~_present(raw.column(tdef.date_column))
    if not blank_id.any():
        return is_footer
    sub = raw.filter(pa.array(blank_id))
    hit = np.zeros(sub.num_rows, dtype=bool)
    for c in sub.column_names:
        col = sub.column(c)
        if pa.types.is_string(col.type):
            vals = pd.Series(col.to_pandas(), dtype=object).fillna("")
            hit |= vals.str.match(FOOTER_RE).to_numpy()
    empty_row = np.ones(sub.num_rows, dtype=bool)
    for c in sub.column_names:
        empty_row &= ~_present(sub.column(c))
    is_footer[np.flatnonzero(blank_id)] = hit | empty_row
    return is_footer


def _parse_columns(name: str, raw: pa.Table, spec: TableSpec, rej: _Rejects, wh: _Withheld, notes: list[str]
                   ) -> dict:
    """Dates and numbers parsed (failures: quarantined in identity columns (``rej``), withheld elsewhere (``wh``,
    the value is missing)), text trimmed (blank -> null), by column."""
    n = raw.num_rows
    cols: dict[str, object] = {}
    for c in raw.column_names:
        col = raw.column(c)
        dtype = TABLES[name].dtypes.get(c, "string")
        if dtype == "datetime":
            p = parse_dates(col, dayfirst=spec.dates.dayfirst, format=spec.dates.format)
            if is_identity(name, c):
                rej.add(BAD_DATE, p.bad, _raw_reason(c, col, "unparseable"))
            else:
                wh.add(BAD_DATE, (c,), p.bad)
            if p.note:
                notes.append(f"{name}.{c}: {p.note}.")
            cols[c] = p.values
        elif dtype == "float":
            if c == "probability":
                p = parse_probability(col, scale=spec.probability_scale)
                if p.note:
                    notes.append(f"{name}.{c}: {p.note}.")
            else:
                p = parse_amounts(col, decimal=spec.amount.decimal, thousands=spec.amount.thousands)
            if is_identity(name, c):
                rej.add(BAD_NUMBER, p.bad, _raw_reason(c, col, "unparseable"))
            else:
                wh.add(BAD_NUMBER, (c,), p.bad)
            cols[c] = p.values
        else:
            s = col if pa.types.is_string(col.type) else col.cast(pa.string())
            if n and pc.any(pc.match_substring_regex(s, r"^[\s\p{Zs}]|[\s\p{Zs}]$")).as_py():  # copy only if needed
                s = pc.utf8_trim_whitespace(s)
                s = pc.if_else(pc.equal(s, ""), pa.scalar(None, pa.string()), s)
            cols[c] = s
    return cols


def _normalise_stages(name: str, cols: dict, raw: pa.Table, rej: _Rejects, stages: StageModel, *,
                      unknown_stages: str, mapping_name: str, files: list[Path]) -> None:
    """Stage columns renamed to the model's labels; unknown ``stage`` labels raise (``unknown_stages="error"``)
    or are quarantined."""
    n = raw.num_rows
    for c in STAGE_COLUMNS:
        if c not in cols:
            continue
        codes, uniques = _factorize(cols[c])
        labels = pd.Series(uniques, dtype=object)
        norm = labels.map(stages.normalise)
        counts = pd.Series(np.bincount(codes[codes >= 0], minlength=len(uniques)) if len(uniques) else [], dtype=int)
        if c == "stage":
            if unknown_stages == "error":
                check_stage_labels(name, labels, counts, stages, mapping_name, files)
            unk = np.asarray(norm.isna().to_numpy()[codes] & (codes >= 0)) if len(uniques) else np.zeros(n, bool)
            rej.add(UNKNOWN_STAGE, unk, _raw_reason(c, raw.column(c), "stage label not in the mapping,"))
        lut = np.append(norm.where(norm.notna(), labels).to_numpy(dtype=object), None)
        cols[c] = pd.Series(lut[codes], dtype=object)


def _apply_status(name: str, cols: dict, raw: pa.Table, rej: _Rejects, stages: StageModel, *, unknown_stages: str,
                  mapping_name: str, files: list[Path]) -> None:
    """Status-based CRMs (``stages.status``, :func:`._common.status_rules`): a won/lost status sets the stage to
    the model's won/lost label, a lost deal's pipeline step becomes its ``lost_at_stage``; unknown status values
    raise or are quarantined like unknown stages."""
    codes, uniques = _factorize(cols[STATUS_COLUMN])
    counts = pd.DataFrame({"label": pd.Series(uniques, dtype=object),
                           "n": np.bincount(codes[codes >= 0], minlength=len(uniques)) if len(uniques) else []})
    won, lost, unknown = status_rules(name, counts, stages, mapping_name, files, unknown_stages)
    value = pd.Series(np.append(np.asarray(uniques, dtype=object), None)[codes], dtype=object)
    if unknown:
        rej.add(UNKNOWN_STAGE, value.isin(unknown).to_numpy(),
                _raw_reason(STATUS_COLUMN, raw.column(STATUS_COLUMN), "status not in the mapping,"))
    is_won, is_lost = value.isin(won).to_numpy(), value.isin(lost).to_numpy()
    stage = cols["stage"]
    step = stage.where(stage.isin(stages.order))
    lat = cols["lost_at_stage"] if "lost_at_stage" in cols else pd.Series([None] * len(stage), dtype=object)
    cols["lost_at_stage"] = lat.where(~is_lost | lat.notna(), step).astype(object)
    cols["stage"] = stage.mask(is_won, stages.won[0]).mask(is_lost, stages.lost[0]).astype(object)


def _outcome(name: str, cols: dict, raw: pa.Table, stages: StageModel, notes: list[str]):
    """is_closed and is_won of opportunities from the stage model (None for other tables)."""
    if name != "opportunities":
        return None, None
    st = cols["stage"]
    is_won = st.isin(stages.won).to_numpy()
    is_closed = is_won | st.isin(stages.lost).to_numpy()
    notes += _export_flags_disagree(cols, raw.column("stage"), is_won, is_closed, stages)
    return is_closed, is_won


def _rule_mask(rule: Rule, raw: pa.Table, cols: dict, is_closed) -> tuple[np.ndarray, object]:
    """A value check as (row mask, reason text or reason builder)."""
    if rule.kind == "absent":
        return ~_present(raw.column(rule.columns[0])), rule.text
    if rule.kind == "all_absent":
        return np.logical_and.reduce([~_present(raw.column(c)) for c in rule.columns]), rule.text
    if rule.kind == "negative":
        c = rule.columns[0]
        return cols[c].to_numpy() < 0, _raw_reason(c, raw.column(c), "negative")
    if rule.kind == "close_before_created":
        cd, cr = cols["close_date"].dt.normalize(), cols["created_date"].dt.normalize()
        return (cd < cr).to_numpy(), lambda rows: [f"close_date {cd.iloc[r].date()} before created_date "
                                                   f"{cr.iloc[r].date()}" for r in rows]
    if rule.kind == "closed_without_close_date":  # blank in the file (an unparseable one is a bad date)
        return is_closed & ~_present(raw.column("close_date")), rule.text
    raise ValueError(f"unknown rule kind {rule.kind!r}")


def _duplicate_checks(raw: pa.Table, idc: str, rej: _Rejects, excluded: np.ndarray, where: _Lines) -> None:
    """Exact copies (the first is kept) and conflicting rows of the same id, among rows not ``excluded``."""
    dup_exact, dup_conflict, first_of = _duplicates(raw, idc, excluded)
    rej.add(EXACT_DUP, dup_exact, lambda rows: [f"exact duplicate of {where.where(first_of[int(r)])}" for r in rows])
    id_raw = raw.column(idc)
    rej.add(CONFLICT_DUP, dup_conflict, lambda rows: [
        f"{idc} {v!r} appears on other rows with different values" for v in id_raw.take(pa.array(rows)).to_pylist()])


def _line_numbers(live: list[Source], starts: np.ndarray, n: int, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Line in its file and index of its file, for every row (exact record lines only for files with a
    quarantined row: finding them costs a pass over the text)."""
    lines = np.empty(n, dtype=np.int64)
    fileidx = np.empty(n, dtype=np.int64)
    for k, s in enumerate(live):
        sl = slice(starts[k], starts[k + 1])
        if s.lines is not None:
            lines[sl] = s.lines
        elif s.raw is not None and bad[sl].any():
            lines[sl] = s.raw.record_lines()
        else:
            lines[sl] = s.first_line + np.arange(s.table.num_rows)
        fileidx[sl] = k
    return lines, fileidx


def _export_flags_disagree(cols: dict, raw_stage, is_won, is_closed, stages: StageModel) -> list[str]:
    """Compare the export's own won/closed flags (IsWon, IsClosed) with the stage model, per raw stage label."""
    from ..data.parse import parse_bools

    notes = []
    for key, derived, what in (("export_is_won", is_won, "won"), ("export_is_closed", is_closed, "closed")):
        if key not in cols:
            continue
        flag = parse_bools(cols[key]).values
        known = flag.notna().to_numpy()
        exp = flag.fillna(False).to_numpy(dtype=bool)
        diff = known & (exp != derived)
        if diff.any():
            vc = pd.Series(raw_stage.take(pa.array(np.flatnonzero(diff))).to_pandas(), dtype=object).str.strip()
            vc = vc.value_counts().sort_index()
            labels = ", ".join(f"{lab!r} ({k} rows)" for lab, k in vc.items())
            notes.append(f"opportunities: the export's own {what} flag disagrees with the mapping's stage model for "
                         f"stage(s) {labels}; is_{what} follows the mapping. If those stages are {what} in your CRM, "
                         f"list them under stages.{'won' if what == 'won' else 'won or stages.lost'}.")
    return notes


def _not_stage_entries(cols: dict, excluded: np.ndarray) -> np.ndarray:
    """History records that do not enter a new stage: a deal's record in the same stage as its previous record
    (API OpportunityHistory rows for amount/close-date edits, From Stage == To Stage; rows unsorted). A run of
    records in one stage is one stay: its first record is kept and, when the export has its own exit dates, takes
    the exit of the run's last record (the stay ends when the stage changes, not at the first edit). A deal's
    first record is an entry even when its From equals its To (the export began while the deal was in the stage)."""
    n = len(excluded)
    out = np.zeros(n, dtype=bool)
    ok = ~excluded
    df = pd.DataFrame({"id": pd.Series(cols["opportunity_id"].to_pandas(), dtype=object), "stage": cols["stage"],
                       "t": cols["entered_date"], "pos": np.arange(n)})[ok]
    df = df.sort_values(["id", "t", "pos"], kind="stable")
    same = ((df["id"] == df["id"].shift()) & (df["stage"] == df["stage"].shift())).to_numpy()
    out[df["pos"].to_numpy()[same]] = True
    if "exited_date" in cols and same.any():
        run = np.cumsum(~same)
        pos = df["pos"].to_numpy()
        last = pd.Series(pos).groupby(run).transform("last").to_numpy()
        ex = cols["exited_date"].copy()
        ex.iloc[pos[~same]] = cols["exited_date"].iloc[last[~same]].to_numpy()
        cols["exited_date"] = ex
    return out


def _finish_history(df: pd.DataFrame, derive_exit: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Sorted by deal and entry date (exit dates from the next entry when the export has none); with the
    old positions of the rows in their new order."""
    df = df.sort_values(["opportunity_id", "entered_date"], kind="stable")
    order = df.index.to_numpy()
    df = df.reset_index(drop=True)
    if derive_exit and len(df):
        nxt = df.groupby("opportunity_id", sort=False)["entered_date"].shift(-1)
        df["exited_date"] = nxt.astype("datetime64[ns]")
    return df, order


def _factorize(col) -> tuple[np.ndarray, list]:
    """Codes (-1 for null) and distinct values of a string column, via Arrow dictionary encoding."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64), []
    de = pc.dictionary_encode(arr)
    codes = de.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, de.dictionary.to_pylist()


def _duplicates(raw: pa.Table, idc: str, excluded: np.ndarray):
    """Exact copies (2nd+) and conflicting rows among ids that occur more than once (Arrow hashing;
    only the rows of repeated ids are compared in pandas)."""
    n = raw.num_rows
    exact = np.zeros(n, dtype=bool)
    conflict = np.zeros(n, dtype=bool)
    ids = raw.column(idc)
    if excluded.any():
        ids = pc.if_else(pa.array(excluded), pa.scalar(None, ids.type), ids)
    vc = pc.value_counts(ids)  # one hash pass; in the common case every count is 1 and we stop here
    if len(vc) == 0 or pc.max(vc.field("counts")).as_py() <= 1:
        return exact, conflict, {}
    repeated = vc.field("values").filter(pc.and_kleene(pc.greater(vc.field("counts"), 1),
                                                        pc.is_valid(vc.field("values"))))
    if len(repeated) == 0:
        return exact, conflict, {}
    dup = np.asarray(pc.is_in(ids, value_set=repeated).fill_null(False))
    rows = np.flatnonzero(dup)
    sub = raw.take(pa.array(rows)).to_pandas().astype(object).where(lambda d: d.notna(), None)
    sub.index = rows
    ex = sub.duplicated(keep="first")
    exact[rows[ex.to_numpy()]] = True
    key = sub.astype(str).agg("\x1f".join, axis=1)  # few rows: those whose id repeats
    first_pos = key.groupby(key, sort=False).transform(lambda g: g.index[0])
    first_of = {int(r): int(f) for r, f in zip(rows[ex.to_numpy()], first_pos[ex].to_numpy(), strict=True)}
    rest = sub[~ex.to_numpy()]
    conf_ids = rest[idc][rest[idc].duplicated(keep=False)]
    conflict[conf_ids.index.to_numpy()] = True
    # exact copies of a conflicting id are reported as conflicting too
    conflict[rows[ex.to_numpy() & sub[idc].isin(set(conf_ids)).to_numpy()]] = True
    exact &= ~conflict
    return exact, conflict, first_of


def _quarantine(raw: pa.Table, rej: _Rejects, idx: np.ndarray, lines, fileidx, live, sources) -> pd.DataFrame:
    cols = list(raw.column_names)
    sub = raw.take(pa.array(idx, pa.int64())) if len(idx) else raw.slice(0, 0)
    q = pd.DataFrame({c: _to_text(sub.column(c)) for c in cols})
    checks, reasons = rej.describe(idx)
    q["check"] = pd.Series(checks, dtype=object)
    q["reason"] = pd.Series(reasons, dtype=object)
    q["source_file"] = pd.Series([str(live[i].path) for i in fileidx[idx]], dtype=object)
    q["source_line"] = pd.Series(lines[idx], dtype="int64")
    extra = []
    for s in sources:
        for text, exp, got, line in s.malformed:
            t = text if len(text) <= 200 else text[:200] + "..."
            extra.append({"check": MALFORMED, "reason": f"wrong number of fields (expected {exp}, found {got}): {t!r}",
                          "source_file": str(s.path), "source_line": line})
    if extra:
        q = pd.concat([q, pd.DataFrame(extra)], ignore_index=True)
        q["source_line"] = q["source_line"].astype("int64")
    return q.reset_index(drop=True)


def _clean(name: str, cols: dict, keep: np.ndarray, is_closed, is_won) -> pd.DataFrame:
    """Kept rows as a pandas DataFrame in schema column order.

    Text columns come from Arrow one at a time, one block per column (no consolidation copy, the
    Arrow buffers freed as each is converted when nothing else holds them); repeated values share one
    Python string, except in id columns (nearly all distinct: de-duplicating them costs more memory
    than it saves). Parsed columns are inserted in place. ``cols`` is consumed.
    """
    tdef = TABLES[name]
    all_kept = bool(keep.all())
    mask = None if all_kept else pa.array(keep)
    order = [c for c in tdef.dtypes if c in cols and c not in ("is_closed", "is_won")]
    text = [c for c in order if isinstance(cols[c], pa.ChunkedArray | pa.Array)]
    n_keep = int(keep.sum())
    df = pd.DataFrame(index=pd.RangeIndex(n_keep))
    pool = pa.default_memory_pool()
    for c in text:  # one column at a time; its Arrow buffers are released as soon as it is converted
        arr = cols.pop(c)
        arr = arr if mask is None else pc.filter(arr, mask)
        df[c] = pd.Series(arr.to_pandas(deduplicate_objects=not c.endswith("_id")), dtype=object).to_numpy()
        del arr
        pool.release_unused()
    for i, c in enumerate(order):
        if c in text:
            continue
        v = cols[c].reset_index(drop=True)
        if not all_kept:
            v = v[keep].reset_index(drop=True)
        dt = tdef.dtypes[c]
        v = v.astype("datetime64[ns]") if dt == "datetime" else v.astype("float64") if dt == "float" else v
        df.insert(min(i, df.shape[1]), c, v.to_numpy() if dt != "string" else v.to_numpy(dtype=object))
    if name == "opportunities":
        df["is_closed"] = np.asarray(is_closed if all_kept else is_closed[keep], dtype=bool)
        df["is_won"] = np.asarray(is_won if all_kept else is_won[keep], dtype=bool)
    for c in text:
        if df[c].dtype != object:
            df[c] = df[c].astype(object)
    return df[order + [c for c in ("is_closed", "is_won") if c in df]] if list(df.columns[:len(order)]) != order \
        else df


# ------------------------------------------------------------------------------------------------
# the audit's flags and the default as_of, on pandas tables


def _rows(table: str, check: str, mask) -> pd.DataFrame:
    idx = pd.Series(mask).to_numpy().nonzero()[0]
    return pd.DataFrame({"table": table, "check": check, "row": idx.astype("int64")})


def compute_flags(tables: dict[str, pd.DataFrame], *, stages: StageModel, as_of: pd.Timestamp) -> pd.DataFrame:
    """Flag kept rows that are usable but suspicious.

    Parameters
    ----------
    tables : canonical tables (as loaded)
    stages : the stage model (unused for now beyond is_closed, kept for future checks)
    as_of : analysis date

    Returns
    -------
    DataFrame with columns table, check, row (the row's position in its clean table), sorted.
    """
    parts = []
    end_of_day = as_of + pd.Timedelta(days=1) if pd.notna(as_of) else None
    for name, df in tables.items():
        if df is None or df.empty:
            continue
        if name == "opportunities":
            open_ = ~df["is_closed"].to_numpy(dtype=bool)
            if end_of_day is not None:
                parts.append(_rows(name, OPEN_PAST_CLOSE, open_ & (df["close_date"] < as_of).to_numpy()))
            month_end = df["created_date"].dt.normalize() + pd.offsets.MonthEnd(0)
            parts.append(_rows(name, DEFAULT_CLOSE, (df["close_date"].dt.normalize() == month_end).to_numpy()))
        if end_of_day is not None and name not in ("quotas", "marketing_spend"):
            after = (df[TABLES[name].date_column] >= end_of_day).to_numpy()
            if name == "opportunities":
                after |= df["is_closed"].to_numpy(dtype=bool) & (df["close_date"] >= end_of_day).to_numpy()
            parts.append(_rows(name, AFTER_AS_OF, after))
        if TABLES[name].id_column is None:
            parts.append(_rows(name, REPEATED_ROW, df.duplicated(keep="first").to_numpy()))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({"table": pd.Series(dtype=object), "check": pd.Series(dtype=object),
                             "row": pd.Series(dtype="int64")})
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["table", "check", "row"], kind="stable").reset_index(drop=True)


def latest_event_date(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """Latest event date in the data: creation/activity dates, and close dates of closed deals only
    (open deals carry expected close dates in the future); quotas and spend months are plans."""
    cands = []
    for name, df in tables.items():
        if name in ("quotas", "marketing_spend") or df.empty:
            continue
        cols = [TABLES[name].date_column]
        if name == "stage_history" and "exited_date" in df:
            cols.append("exited_date")
        for c in cols:
            cands.append(df[c].max())
        if name == "opportunities":
            cands.append(df.loc[df["is_closed"], "close_date"].max())
    cands = [c for c in cands if pd.notna(c)]
    if not cands:
        for name in ("marketing_spend", "quotas"):
            df = tables.get(name)
            if df is not None and not df.empty and pd.notna(df[TABLES[name].date_column].max()):
                cands.append(df[TABLES[name].date_column].max())
    return pd.Timestamp(max(cands)).normalize() if cands else pd.NaT
