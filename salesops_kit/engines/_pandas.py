"""Raw sources of one table -> clean canonical DataFrame + quarantine + row account.

Internal to :mod:`salesops_kit.data.load`. All work is column-wise (Arrow compute, pandas vectorised
operations); Python loops run only over quarantined rows and over distinct stage labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..data.parse import parse_amounts, parse_dates, parse_probability
from ..data.readers import FOOTER_RE, RawFile
from ..data.schema import CSAT_ONE_OF, TABLES, StageModel

# Quarantine checks (the ``check`` column) in priority order.
MALFORMED = "malformed line"
MISSING = "missing required value"
BAD_DATE = "unparseable date"
BAD_NUMBER = "unparseable number"
UNKNOWN_STAGE = "unknown stage"
NEGATIVE = "negative amount"
CLOSE_BEFORE_CREATED = "close before created"
NO_CUSTOMER = "order without customer"
EXACT_DUP = "exact duplicate row"
CONFLICT_DUP = "conflicting duplicate id"
QUARANTINE_CHECKS = (MALFORMED, MISSING, BAD_DATE, BAD_NUMBER, UNKNOWN_STAGE, NEGATIVE, CLOSE_BEFORE_CREATED,
                     NO_CUSTOMER, EXACT_DUP, CONFLICT_DUP)

# Values that must be present for a row to be usable (besides the columns' presence).
REQUIRED_VALUES = {
    "opportunities": ("opportunity_id", "stage", "created_date"),
    "stage_history": ("opportunity_id", "stage", "entered_date"),
    "leads": ("lead_id", "created_date"),
    "orders": ("order_id", "order_date", "amount"),
    "marketing_spend": ("month", "channel", "spend"),
    "activities": ("owner", "activity_date"),
    "csat": ("score", "survey_date"),
    "quotas": ("owner", "period_start", "quota"),
}
NONNEGATIVE = {"opportunities": ("amount",), "orders": ("amount",), "marketing_spend": ("spend",),
               "quotas": ("quota",)}
STAGE_COLUMNS = ("stage", "lost_at_stage", "from_stage")


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


@dataclass
class TableResult:
    clean: pd.DataFrame
    quarantine: pd.DataFrame
    account: dict
    notes: list[str]


def _template_regex(t: str) -> re.Pattern:
    rx = re.escape(t).replace(r"\{stage\}", "(?P<stage>.+?)").replace(r"\{pipeline\}", "(?P<pipeline>.+)")
    return re.compile("^" + rx + "$", re.IGNORECASE)


def stage_history_from_columns(raw: RawFile, spec: dict, id_col: str | None) -> Source:
    """HubSpot-style per-stage date columns of a deal export -> long stage_history rows.

    ``spec['entered']`` / ``spec['exited']`` are header templates such as
    ``Date entered "{stage} ({pipeline})"`` or ``hs_date_entered_{stage}``; each non-blank entered
    cell becomes one row (opportunity_id, stage, entered_date, exited_date) with the deal's line.
    """
    ent = [_template_regex(t) for t in _listify(spec.get("entered"))]
    ext = [_template_regex(t) for t in _listify(spec.get("exited"))]
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


def _listify(v) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, list | tuple) else [v]


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
        for check, m, reason in sorted(self.items, key=lambda x: QUARANTINE_CHECKS.index(x[0])):
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


def _raw_reason(col_name: str, raw, what: str):
    def f(rows):
        vals = raw.take(pa.array(rows, pa.int64())).to_pylist()
        return [f"{what} {col_name}: {v!r}" for v in vals]
    return f


def finish_table(name: str, sources: list[Source], spec: dict, stages: StageModel, *, unknown_stages: str,
                 mapping_name: str, check_stages) -> TableResult:
    """Parse, check and split the concatenated sources of table ``name``."""
    tdef = TABLES[name]
    notes: list[str] = []
    live = [s for s in sources if not s.empty and s.table.num_columns]
    for s in sources:
        if s.empty:
            notes.append(f"{name}: {s.path.name} is empty (no header, no rows); it adds nothing.")
        if s.duplicate_headers:
            notes.append(f"{name}: {s.path.name} has duplicate headers {s.duplicate_headers}; the first of each "
                         "is used (later ones are named 'Header (2)', ...).")
    raw = pa.concat_tables([s.table for s in live], promote_options="permissive") if live else pa.table(
        {c: pa.array([], pa.string()) for c in tdef.required})
    n = raw.num_rows
    starts = np.cumsum([0] + [s.table.num_rows for s in live])
    footer = sum(s.footer_lines for s in sources)
    rej = _Rejects(n)
    cols: dict[str, object] = {}
    dates = spec.get("dates") or {}
    amount = spec.get("amount") or {}

    # footer/subtotal rows that have the full width (e.g. "Subtotal",,,"12000"): the id is blank
    idc = tdef.id_column
    is_footer = np.zeros(n, dtype=bool)
    if idc and idc in raw.column_names and n:
        idcol = raw.column(idc)
        blank_id = ~_present(idcol)
        if pa.types.is_string(idcol.type):
            blank_id |= np.asarray(pc.match_substring_regex(idcol, FOOTER_RE.pattern, ignore_case=True)
                                   .fill_null(False))
        datec = tdef.date_column
        if datec in raw.column_names:
            blank_id &= ~_present(raw.column(datec))
        if blank_id.any():
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
    if is_footer.any():
        footer += int(is_footer.sum())

    for c in raw.column_names:
        col = raw.column(c)
        dtype = tdef.dtypes.get(c, "string")
        if dtype == "datetime":
            p = parse_dates(col, dayfirst=dates.get("dayfirst"), format=dates.get("format"))
            rej.add(BAD_DATE, p.bad, _raw_reason(c, col, "unparseable"))
            if p.note:
                notes.append(f"{name}.{c}: {p.note}.")
            cols[c] = p.values
        elif dtype == "float":
            if c == "probability":
                p = parse_probability(col, scale=(spec.get("probability") or {}).get("scale"))
                if p.note:
                    notes.append(f"{name}.{c}: {p.note}.")
            else:
                p = parse_amounts(col, decimal=amount.get("decimal"), thousands=amount.get("thousands"))
            rej.add(BAD_NUMBER, p.bad, _raw_reason(c, col, "unparseable"))
            cols[c] = p.values
        else:
            s = col if pa.types.is_string(col.type) else col.cast(pa.string())
            if n and pc.any(pc.match_substring_regex(s, r"^[\s\p{Zs}]|[\s\p{Zs}]$")).as_py():  # copy only if needed
                s = pc.utf8_trim_whitespace(s)
                s = pc.if_else(pc.equal(s, ""), pa.scalar(None, pa.string()), s)
            cols[c] = s

    for c in REQUIRED_VALUES.get(name, ()):
        if c in raw.column_names:
            rej.add(MISSING, ~_present(raw.column(c)), f"missing {c}")
    if name == "csat":
        have = [c for c in CSAT_ONE_OF if c in raw.column_names]
        if have:
            none = np.logical_and.reduce([~_present(raw.column(c)) for c in have])
            rej.add(MISSING, none, "missing both owner and customer_id")
    if name == "orders" and "customer_id" in raw.column_names:
        rej.add(NO_CUSTOMER, ~_present(raw.column("customer_id")), "order without customer_id")

    # stages
    for c in STAGE_COLUMNS:
        if c not in cols:
            continue
        codes, uniques = _factorize(cols[c])
        labels = pd.Series(uniques, dtype=object)
        norm = labels.map(stages.normalise)
        counts = pd.Series(np.bincount(codes[codes >= 0], minlength=len(uniques)) if len(uniques) else [], dtype=int)
        if c == "stage":
            if unknown_stages == "error":
                check_stages(name, labels, counts, stages, mapping_name, [s.path for s in live])
            unk = np.asarray(norm.isna().to_numpy()[codes] & (codes >= 0)) if len(uniques) else np.zeros(n, bool)
            rej.add(UNKNOWN_STAGE, unk, _raw_reason(c, raw.column(c), "stage label not in the mapping,"))
        lut = np.append(norm.where(norm.notna(), labels).to_numpy(dtype=object), None)
        cols[c] = pd.Series(lut[codes], dtype=object)

    if name in NONNEGATIVE:
        for c in NONNEGATIVE[name]:
            if c in cols:
                v = cols[c].to_numpy()
                rej.add(NEGATIVE, v < 0, _raw_reason(c, raw.column(c), "negative"))
    is_closed = is_won = None
    if name == "opportunities":
        st = cols["stage"]
        is_won = st.isin(stages.won).to_numpy()
        is_closed = is_won | st.isin(stages.lost).to_numpy()
        cd = cols["close_date"].dt.normalize()
        cr = cols["created_date"].dt.normalize()
        rej.add(CLOSE_BEFORE_CREATED, (cd < cr).to_numpy(),
                lambda rows: [f"close_date {cd.iloc[r].date()} before created_date {cr.iloc[r].date()}" for r in rows])
        rej.add(MISSING, is_closed & cols["close_date"].isna().to_numpy(), "closed deal without close_date")
        notes += _export_flags_disagree(cols, raw.column("stage"), is_won, is_closed, stages)

    other = np.zeros(n, dtype=bool)
    if name == "stage_history" and n:
        other = _not_stage_entries(cols, rej.mask | is_footer)

    dup_exact, dup_conflict, first_of = (_duplicates(raw, idc, rej.mask | is_footer | other) if idc in cols
                                         else (None, None, {}))
    pa.default_memory_pool().release_unused()  # hash tables of the duplicate scan: give them back
    if dup_exact is not None:
        rej.add(EXACT_DUP, dup_exact, lambda rows: [
            f"exact duplicate of {live[fileidx[first_of[int(r)]]].path.name}:{lines[first_of[int(r)]]}" for r in rows])
        id_raw = raw.column(idc)
        rej.add(CONFLICT_DUP, dup_conflict, lambda rows: [
            f"{idc} {v!r} appears on other rows with different values" for v in id_raw.take(pa.array(rows)).to_pylist()])

    bad = rej.mask & ~is_footer & ~other
    rej.items = [(ck, m & ~is_footer & ~other, r) for ck, m, r in rej.items]
    keep = ~(bad | is_footer | other)
    # line numbers
    lines = np.empty(n, dtype=np.int64)
    fileidx = np.empty(n, dtype=np.int64)
    for k, s in enumerate(live):
        sl = slice(starts[k], starts[k + 1])
        if s.lines is not None:
            lines[sl] = s.lines
        elif s.raw is not None and bad[sl].any():  # exact lines only when a row of this file is quarantined
            lines[sl] = s.raw.record_lines()
        else:
            lines[sl] = s.first_line + np.arange(s.table.num_rows)
        fileidx[sl] = k
    q = _quarantine(raw, rej, np.flatnonzero(bad), lines, fileidx, live, sources)
    derive_exit = "exited_date" not in raw.column_names or not _present(raw.column("exited_date")).any()
    # the raw text is no longer needed: drop every reference so _clean can free it column by column
    del raw
    id_raw = None  # noqa: F841 (drops the closure's reference to the raw ids)
    rej.items.clear()
    for s in live:
        s.table = None
    clean = _clean(name, cols, keep, is_closed, is_won)
    if name == "stage_history":
        clean = _finish_history(clean, derive_exit)
    malformed = sum(len(s.malformed) for s in sources)
    acc = dict(table=name, files=len(sources), rows_read=int(keep.sum() + bad.sum()) + malformed,
               rows_kept=len(clean), rows_quarantined=len(q), footer_lines=footer, other_lines=int(other.sum()))
    return TableResult(clean, q, acc, notes)


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
    """History records that do not enter a new stage: From Stage == To Stage, or the same stage as the
    deal's previous record (API OpportunityHistory rows for amount/close-date edits; rows unsorted)."""
    n = len(excluded)
    out = np.zeros(n, dtype=bool)
    st = cols["stage"]
    if "from_stage" in cols:
        fr = cols["from_stage"]
        out |= (fr.notna() & (fr == st)).to_numpy()
    ok = ~excluded & ~out
    df = pd.DataFrame({"id": pd.Series(cols["opportunity_id"].to_pandas(), dtype=object), "stage": st,
                       "t": cols["entered_date"], "pos": np.arange(n)})[ok]
    df = df.sort_values(["id", "t", "pos"], kind="stable")
    same = (df["id"] == df["id"].shift()) & (df["stage"] == df["stage"].shift())
    out[df["pos"].to_numpy()[same.to_numpy()]] = True
    return out


def _finish_history(df: pd.DataFrame, derive_exit: bool) -> pd.DataFrame:
    df = df.sort_values(["opportunity_id", "entered_date"], kind="stable").reset_index(drop=True)
    if derive_exit and len(df):
        nxt = df.groupby("opportunity_id", sort=False)["entered_date"].shift(-1)
        df["exited_date"] = nxt.astype("datetime64[ns]")
    return df


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
