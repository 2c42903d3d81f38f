"""Data audit: what was read, what was rejected and why, which fields were withheld, what is kept but flagged.

The loader (:mod:`salesops_kit.data.load`) quarantines only rows that cannot be a record (a missing or
unparseable identity value, exact and conflicting duplicates, malformed lines, unknown stages when asked to);
every other problem keeps the row and withholds the field (unparseable dates and numbers elsewhere, negative
amounts, a closed deal without close date, a missing created date; close before created keeps both dates
and leaves cycle times only): ``Dataset.withheld``, shown here per table, column and reason with an
example (file:line). The engine back-ends flag kept rows that are usable but suspicious (open deals past
their close date, HubSpot-style default close dates, dates after ``as_of``, repeated rows in tables without ids:
:data:`~salesops_kit.data.schema.FLAG_CHECKS`; on pandas :func:`compute_flags`, row positions) and this
module summarises both in :func:`audit`, with examples, and writes the quarantine out.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import narwhals as nw
import numpy as np
import pandas as pd

from ..engines import n_rows
from ..engines._pandas import compute_flags
from ..tools.results import Result
from ..tools.validation import check_option
from . import schema as qc
from .schema import (
    AFTER_AS_OF,
    DEFAULT_CLOSE,
    FLAG_CHECKS,
    OPEN_PAST_CLOSE,
    REPEATED_ROW,
    TABLES,
    WITHHELD_CHECKS,
    WITHHELD_COLUMNS,
)

__all__ = ["AuditResult", "audit", "audit_findings", "write_quarantine", "coverage", "compute_flags", "FLAG_CHECKS",
           "FLAG_COLUMNS", "CHECK_COLUMNS", "WITHHELD_COLUMNS"]

FLAG_COLUMNS = ["table", "check", "row"]


# ------------------------------------------------------------------------------------------------
# audit

CHECK_COLUMNS = ["check", "table", "rows", "action", "detail", "examples"]

_WHAT = {
    qc.MALFORMED: "lines with the wrong number of fields (a broken quote or a stray delimiter?)",
    qc.MISSING: "rows missing a value that makes them a record (schema.IDENTITY: id, stage, an event's date)",
    qc.BAD_DATE: "dates that match no known format (set dates: {format: ...} or {dayfirst: ...} in the mapping)",
    qc.BAD_NUMBER: "amounts or numbers that are not numbers (set amount: {decimal: ..., thousands: ...})",
    qc.UNKNOWN_STAGE: "stage labels not in the mapping (add them to stages.aliases or stages.order/won/lost)",
    qc.NEGATIVE: "negative values where a plan needs one (spend, quota)",
    qc.EXACT_DUP: "exact copies of an earlier row (the first copy is kept)",
    qc.CONFLICT_DUP: "ids that appear on several rows with different values (all copies are set aside: "
                     "decide which one is right)",
}


# withheld fields: what it means and where the row still counts
_WITHHELD_WHAT = {
    qc.BAD_DATE: "dates that match no known format, set to missing; the row counts wherever the date is not "
                 "needed (set dates: {format: ...} or {dayfirst: ...} in the mapping)",
    qc.BAD_NUMBER: "numbers that are not numbers, set to missing (set amount: {decimal: ..., thousands: ...})",
    qc.NEGATIVE: "negative amounts (credits): the deal or order counts everywhere, its amount is left out of "
                 "money KPIs (set amount: {credits: true} in the mapping to keep credits)",
    qc.MISSING_VALUE: "blank values: the row counts wherever the field is not needed (an open deal without "
                      "created date counts in the pipeline by stage, not in cohorts)",
    qc.CLOSED_NO_CLOSE: "closed deals without close date: they count in the win rate over all time, not in period "
                        "views nor cycle times",
    qc.CLOSE_BEFORE_CREATED: "deals closed before they were created (entered after the fact): both dates are kept, "
                             "the deal counts everywhere except cycle-time statistics",
}


def _applies(check: str, name: str) -> bool:
    t = TABLES[name]
    if check == qc.BAD_NUMBER:
        return "float" in t.dtypes.values()
    if check == qc.UNKNOWN_STAGE:
        return name in ("opportunities", "stage_history")
    if check == qc.NEGATIVE:
        return any(qc.IDENTITY.get(name, ()).count(c) for c in qc.NONNEGATIVE.get(name, ()))
    if check in (OPEN_PAST_CLOSE, DEFAULT_CLOSE):
        return name == "opportunities"
    if check in (qc.EXACT_DUP, qc.CONFLICT_DUP):
        return t.id_column is not None
    if check == REPEATED_ROW:
        return t.id_column is None
    if check == AFTER_AS_OF:
        return name not in ("quotas", "marketing_spend")
    return True


def _pct(k: int, n: int) -> str:
    return f"{k / n:.1%}" if n else "n/a"


def _q_examples(q: pd.DataFrame) -> str:
    out = []
    for _, r in q.head(3).iterrows():
        where = f"{Path(str(r['source_file'])).name}:{r['source_line']}" if r["source_line"] >= 0 else \
            Path(str(r["source_file"])).name
        out.append(f"{where} {r['reason']}")
    return " | ".join(out)


def _flag_examples(name: str, df: pd.DataFrame, rows: np.ndarray, check: str) -> str:
    t = TABLES[name]
    out = []
    for r in rows[:3]:
        rec = df.iloc[int(r)]
        ident = f"{t.id_column} {rec[t.id_column]}" if t.id_column else f"row {int(r)}"
        if name == "opportunities" and check in (OPEN_PAST_CLOSE, DEFAULT_CLOSE, AFTER_AS_OF):
            out.append(f"{ident}: {rec['stage']}, created {_d(rec['created_date'])}, close {_d(rec['close_date'])}")
        else:
            out.append(f"{ident}: {t.date_column} {_d(rec[t.date_column])}")
    return " | ".join(out)


def _d(v) -> str:
    return "-" if pd.isna(v) else str(pd.Timestamp(v).date() if pd.Timestamp(v) == pd.Timestamp(v).normalize()
                                       else pd.Timestamp(v))


def _withheld_applies(check: str, name: str) -> bool:
    """Whether a kept row of ``name`` can have a field withheld for ``check``."""
    t = TABLES[name]
    ident = qc.IDENTITY.get(name, ())
    if check == qc.BAD_DATE:
        return any(d == "datetime" and c not in ident for c, d in t.dtypes.items())
    if check == qc.BAD_NUMBER:
        return any(d == "float" and c not in ident for c, d in t.dtypes.items())
    if check == qc.NEGATIVE:
        return any(c not in ident for c in qc.NONNEGATIVE.get(name, ()))
    if check == qc.MISSING_VALUE:
        return bool(qc.EXPECTED_VALUES.get(name))
    return name == "opportunities"  # closed without close date, close before created


def _withheld_examples(w: pd.DataFrame) -> str:
    """Up to three examples of a (table, reason): ``file:line column 'raw value'``, one per column."""
    out = []
    for r in w.head(3).itertuples(index=False):
        val = "" if r.value is None or r.value != r.value else f" {r.value!r}"
        out.append(f"{r.example} {r.column}{val}")
    return " | ".join(out)


def _empty_withheld() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in WITHHELD_COLUMNS})
    df["rows"] = df["rows"].astype("int64")
    return df


@dataclass(frozen=True, repr=False)
class AuditResult(Result):
    """What was read, what was rejected and why, which fields were withheld, what is kept but flagged.

    Attributes
    ----------
    checks : DataFrame, one row per (check, table, action) that applies: check, table, rows, action
        ("quarantined", "withheld" or "flagged"), detail (what it means and what to do), examples (up to
        three, as ``file:line reason``, ``file:line column 'value'`` or ``id: values``)
    account : the loader's row account (table, files, rows_read, rows_kept, rows_quarantined,
        footer_lines, other_lines); rows_read = rows_kept + rows_quarantined for every table
    notes : how the loader read ambiguous things (date order, percentages, duplicate headers, ...)
    as_of : the dataset's analysis date
    withheld : DataFrame, one row per (table, column, reason): rows (kept rows whose field was withheld),
        example (the first as ``file:line``), value (its raw value); see ``Dataset.withheld``
    """

    checks: pd.DataFrame
    account: pd.DataFrame
    notes: tuple[str, ...]
    as_of: pd.Timestamp
    withheld: pd.DataFrame = None

    def summary(self) -> pd.DataFrame:
        """Checks that found something: table, check, rows, action (sorted by table, then check)."""
        hit = self.checks[self.checks["rows"] > 0]
        return hit[["table", "check", "rows", "action"]].reset_index(drop=True)

    def headline(self, lang: str | None = None) -> str:
        """One sentence: rows read, kept, quarantined, kept with a field withheld, kept but flagged (in ``lang``,
        default the report language)."""
        from ..i18n import tr

        read = int(self.account["rows_read"].sum()) if len(self.account) else 0
        kept = int(self.account["rows_kept"].sum()) if len(self.account) else 0
        quar = int(self.account["rows_quarantined"].sum()) if len(self.account) else 0
        flagged = int(self.checks.loc[self.checks["action"] == "flagged", "rows"].sum())
        withheld = int(self.checks.loc[self.checks["action"] == "withheld", "rows"].sum())
        v = {"read": read, "kept": kept, "quar": quar, "pct": _pct(quar, read), "withheld": withheld,
             "flagged": flagged}
        if len(self.account) == 1:
            return tr("{read:,} rows read in 1 table: {kept:,} kept, {quar:,} quarantined ({pct}); {withheld:,} kept "
                      "with a field withheld, {flagged:,} kept but flagged.", lang=lang, **v)
        return tr("{read:,} rows read in {tables} tables: {kept:,} kept, {quar:,} quarantined ({pct}); {withheld:,} "
                  "kept with a field withheld, {flagged:,} kept but flagged.", lang=lang, tables=len(self.account),
                  **v)

    def shown(self, lang: str | None = None) -> pd.DataFrame:
        """The checks that found something (table, check, rows, action, detail, examples) with the table, check and
        action in ``lang`` (default the report language), for display; ``checks`` keeps the canonical names."""
        from ..i18n import t

        hit = self.checks[self.checks["rows"] > 0].reset_index(drop=True)
        hit = hit[["table", "check", "rows", "action", "detail", "examples"]].copy()
        for c in ("table", "check", "action"):
            hit[c] = [t(str(v), lang) for v in hit[c]]
        return hit

    def withheld_table(self, lang: str | None = None) -> pd.DataFrame:
        """The withheld fields per (table, column, reason) with the first example, tables and reasons in ``lang``
        (default the report language); column names stay as in ``withheld``."""
        from ..i18n import t

        w = (self.withheld if self.withheld is not None else _empty_withheld()).copy()
        for c in ("table", "reason"):
            w[c] = [t(str(v), lang) for v in w[c]]
        w["value"] = [v if isinstance(v, str) else "" for v in w["value"]]  # a blank raw value reads blank
        return w

    def text(self, lang: str | None = None) -> str:
        """Plain-text report for the terminal in ``lang`` (default the report language): headline, row account,
        withheld fields with their first example (file:line), checks that found something, notes."""
        from ..i18n import t, tr
        from ..i18n.notebook_text import translate_printed

        def frame(df: pd.DataFrame) -> str:
            return df.rename(columns=lambda c: t(str(c), lang)).to_string(index=False)

        acc = self.account.copy()
        if "table" in acc:
            acc["table"] = [t(str(v), lang) for v in acc["table"]]
        parts = [self.headline(lang), "", t("Rows per table (rows_read = rows_kept + rows_quarantined):", lang),
                 frame(acc)]
        footer = int(self.account["footer_lines"].sum()) if "footer_lines" in self.account else 0
        other = int(self.account["other_lines"].sum()) if "other_lines" in self.account else 0
        if footer:
            parts.append(tr("{n:,} export lines are not records (footers, subtotals, title rows): counted in "
                            "footer_lines, not in rows_read.", lang, n=footer))
        if other:
            parts.append(tr("{n:,} stage history records did not change the stage (amount, close-date or probability "
                            "edits): each run of them is one stay, counted in other_lines, not in rows_read.",
                            lang, n=other))
        parts.append("")
        w = self.withheld_table(lang)
        if len(w):
            parts += [t("Fields withheld (row kept, value set to missing; close before created: dates kept, "
                        "out of cycle times):", lang), frame(w), ""]
        else:
            parts += [t("No field withheld.", lang), ""]
        s = self.shown(lang)[["table", "check", "rows", "action"]]
        parts.append(frame(s) if len(s) else t("No check found anything.", lang))
        parts += [""] + [f"{t('note', lang)}: {translate_printed(n, lang)}" for n in self.notes]
        return "\n".join(parts).rstrip() + "\n"

    def __str__(self) -> str:
        """Plain-text report for the terminal in the report language (:meth:`text`)."""
        return self.text()

    def plot(self, ax=None):
        """Horizontal bars: rows per check and table that found something (quarantined vs kept)."""
        from ..plots.audit import plot_audit_bars

        return plot_audit_bars(self.summary(), ax=ax)

    def _repr_html_(self) -> str:
        e = html.escape
        notes = "".join(f"<li>{e(n)}</li>" for n in self.notes)
        w = self.withheld if self.withheld is not None else _empty_withheld()
        return (f"<div><p><b>Data audit</b> (as of {e(_d(self.as_of))}): {e(self.headline())}</p>"
                f"<p>Row account</p>{self.account.to_html(index=False, escape=True)}"
                + (f"<p>Fields withheld</p>{w.to_html(index=False, escape=True)}" if len(w) else "")
                + f"<p>Checks</p>{self.checks.to_html(index=False, escape=True)}"
                + (f"<p>Notes</p><ul>{notes}</ul>" if notes else "") + "</div>")


def audit(ds) -> AuditResult:
    """Audit a loaded :class:`~salesops_kit.data.load.Dataset`: every check, on every table it applies to.

    Quarantine checks count the rows the loader set aside (``ds.quarantine[table]['check']``); withheld
    checks count the kept rows with a field withheld (``ds.flags`` per row, else ``ds.withheld``); flag checks
    count kept rows in ``ds.flags`` (computed here if the dataset has none).

    Returns
    -------
    AuditResult; ``checks`` has columns check, table, rows, action, detail, examples, sorted by the
    schema's table order and then quarantined, withheld and flagged checks in their order.
    """
    from ..i18n import t, tr  # details in the report language

    flags = ds.flags if ds.flags is not None else compute_flags(ds.tables, stages=ds.stages, as_of=ds.as_of)
    withheld = getattr(ds, "withheld", None)
    withheld = _empty_withheld() if withheld is None else withheld
    acc = ds.account.set_index("table") if len(ds.account) else None
    rows = []
    for name in TABLES:
        df = ds.tables.get(name)
        if df is None:
            continue
        q = ds.quarantine.get(name)
        lazy = not isinstance(df, pd.DataFrame)  # a lazy engine's table: flags are counts, rows stay in the engine
        n_df = n_rows(df) if lazy else len(df)
        read = int(acc.loc[name, "rows_read"]) if acc is not None and name in acc.index else n_df
        for check in qc.QUARANTINE_CHECKS:
            if not _applies(check, name):
                continue
            sub = q[q["check"] == check] if q is not None and len(q) else None
            k = 0 if sub is None else len(sub)
            detail = tr("{k:,} of {n:,} rows ({pct}): {what}.", k=k, n=read, pct=_pct(k, read),
                        what=t(_WHAT[check])) if k else t("none found.")
            rows.append((check, name, k, "quarantined", detail, _q_examples(sub) if k else ""))
        f = flags[flags["table"] == name] if len(flags) else flags
        wt = withheld[withheld["table"] == name]
        for check in WITHHELD_CHECKS:
            if not _withheld_applies(check, name):
                continue
            w = wt[wt["reason"] == check]
            k = _withheld_rows(f, check, w)
            cols = ", ".join(dict.fromkeys(w["column"]))
            detail = (tr("{k:,} of {n:,} kept rows ({pct}), field {columns}: {what}.", k=k, n=n_df,
                         pct=_pct(k, n_df), columns=cols, what=t(_WITHHELD_WHAT[check])) if k else t("none found."))
            rows.append((check, name, k, "withheld", detail, _withheld_examples(w) if k else ""))
        for check in FLAG_CHECKS:
            if not _applies(check, name):
                continue
            if lazy:
                k = int(f.loc[f["check"] == check, "rows"].sum()) if len(f) else 0
                rows.append((check, name, k, "flagged", _flag_detail(check, name, k, n_df, ds.as_of),
                             _lazy_flag_examples(name, df, check, ds.as_of) if k else ""))
                continue
            idx = f.loc[f["check"] == check, "row"].to_numpy() if len(f) else np.zeros(0, dtype=int)
            k = len(idx)
            rows.append((check, name, k, "flagged", _flag_detail(check, name, k, len(df), ds.as_of),
                         _flag_examples(name, df, idx, check) if k else ""))
    checks = pd.DataFrame(rows, columns=CHECK_COLUMNS)
    checks["rows"] = checks["rows"].astype("int64")
    return AuditResult(checks, ds.account.copy(), tuple(getattr(ds, "notes", ()) or ()), ds.as_of,
                       withheld.reset_index(drop=True))


def _withheld_rows(f: pd.DataFrame, check: str, w: pd.DataFrame) -> int:
    """Kept rows with a field withheld for ``check``: from the per-row flags (positions or lazy counts), else
    the largest per-column count of the withheld table."""
    if len(f) and (f["check"] == check).any():
        sub = f[f["check"] == check]
        return int(sub["rows"].sum()) if "rows" in sub else int(sub["row"].nunique())
    return int(w["rows"].max()) if len(w) else 0


def _lazy_flag_examples(name: str, df, check: str, as_of) -> str:
    """Up to three flagged rows of a lazy table, found in its engine, in the words of :func:`_flag_examples`.

    A lazy table has no row positions: rows are taken in id order (tables with ids, which is file order
    for the usual exports), and repeated rows of a table without ids are named by their date alone."""
    t = TABLES[name]
    f = nw.from_native(df)
    f = f.lazy() if isinstance(f, nw.DataFrame) else f
    end = (as_of + pd.Timedelta(days=1)).to_pydatetime()
    if check == REPEATED_ROW:
        cols = f.collect_schema().names()
        rep = (f.group_by(cols).agg(nw.len().alias("__n")).filter(nw.col("__n") > 1)
               .sort(t.date_column, nulls_last=True).head(3).collect().to_pandas())
        return " | ".join(f"{t.date_column} {_d(v)}" for v in rep[t.date_column])
    if check == OPEN_PAST_CLOSE:
        cond = ~nw.col("is_closed") & (nw.col("close_date") < as_of.to_pydatetime())
    elif check == DEFAULT_CLOSE:
        cond = nw.col("close_date").dt.truncate("1d") == nw.col("created_date").dt.truncate("1mo").dt.offset_by(
            "1mo").dt.offset_by("-1d")
    else:  # AFTER_AS_OF
        cond = nw.col(t.date_column) >= end
        if name == "opportunities":
            cond = cond | (nw.col("is_closed") & (nw.col("close_date") >= end))
    keys = [t.id_column] if t.id_column else [t.date_column]
    sub = f.filter(cond).sort(keys, nulls_last=True).head(3).collect().to_pandas()
    out = []
    for rec in sub.to_dict("records"):
        ident = f"{t.id_column} {rec[t.id_column]}" if t.id_column else ""
        if name == "opportunities" and check in (OPEN_PAST_CLOSE, DEFAULT_CLOSE, AFTER_AS_OF):
            out.append(f"{ident}: {rec['stage']}, created {_d(rec['created_date'])}, close {_d(rec['close_date'])}")
        else:
            out.append(f"{ident + ': ' if ident else ''}{t.date_column} {_d(rec[t.date_column])}")
    return " | ".join(out)


def _flag_detail(check: str, name: str, k: int, n: int, as_of) -> str:
    """What a flag check found, in the report language."""
    from ..i18n import t, tr

    if not k:
        return t("none found.")
    v = {"k": k, "n": n, "pct": _pct(k, n), "as_of": _d(as_of)}
    if check == OPEN_PAST_CLOSE:
        return tr("{k:,} of {n:,} rows ({pct}) kept: open deals whose expected close date is before as_of {as_of}: "
                  "stale pipeline; update or close them before forecasting.", **v)
    if check == DEFAULT_CLOSE:
        return tr("{k:,} of {n:,} rows ({pct}) kept: close date is the last day of the creation month, {crm}'s "
                  "default; by chance about 1 in 30 would be. If the share is high, treat those close dates as "
                  "placeholders.", crm="HubSpot", **v)
    if check == AFTER_AS_OF:
        return tr("{k:,} of {n:,} rows ({pct}) kept: dated after as_of {as_of} (a later export mixed in, or as_of "
                  "set too early).", **v)
    return tr("{k:,} of {n:,} rows ({pct}) kept: identical rows in a table without ids (real repeats, or a file "
              "loaded twice?).", **v)


def write_quarantine(ds, out_dir) -> list[Path]:
    """Write each non-empty quarantine table to ``out_dir/quarantine_<table>.csv`` (UTF-8); return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLES:
        q = ds.quarantine.get(name)
        if q is None or q.empty:
            continue
        p = out / f"quarantine_{name}.csv"
        q.to_csv(p, index=False, encoding="utf-8")
        written.append(p)
    return written


_FREQ = {"D": "1d", "W": "1w", "M": "1mo", "MS": "1mo", "ME": "1mo", "Q": "1q", "QS": "1q", "Y": "1y", "YS": "1y"}


def coverage(ds, *, freq: str = "M") -> pd.DataFrame:
    """Rows per table per period of its main date column (kept rows only).

    Parameters
    ----------
    ds : Dataset
    freq : "D", "W", "M" (default), "Q" or "Y"; periods are labelled by their first day

    Returns
    -------
    DataFrame with columns period (datetime64), table, rows (int64), sorted by table order then
    period; periods without rows inside a table's range appear with 0 so gaps show.
    """
    check_option("freq", freq, sorted(_FREQ))
    parts = []
    for name in TABLES:
        df = ds.tables.get(name)
        if df is None:
            continue
        col = TABLES[name].date_column
        f = nw.from_native(df)  # any engine: pandas, Polars (eager or lazy), DuckDB, PySpark
        f = f.lazy() if isinstance(f, nw.DataFrame) else f
        if col not in f.collect_schema().names():
            continue
        g = (f.select(nw.col(col).dt.truncate(_FREQ[freq]).alias("period")).drop_nulls().group_by("period")
             .agg(nw.len().alias("rows")).sort("period").collect().to_pandas())
        if g.empty:
            continue
        if getattr(g["period"].dt, "tz", None) is not None:  # Spark truncates to a session-zone timestamp
            g["period"] = g["period"].dt.tz_localize(None)
        step = {"D": "D", "W": "W-MON", "Q": "QS"}.get(freq, "YS" if freq.startswith("Y") else "MS")
        full = pd.date_range(g["period"].min(), g["period"].max(), freq=step)
        g = g.set_index("period").reindex(full.union(pd.DatetimeIndex(g["period"])), fill_value=0)
        g = g.rename_axis("period").reset_index()
        g.insert(1, "table", name)
        parts.append(g)
    if not parts:
        return pd.DataFrame({"period": pd.Series(dtype="datetime64[ns]"), "table": pd.Series(dtype=object),
                             "rows": pd.Series(dtype="int64")})
    out = pd.concat(parts, ignore_index=True)
    out["period"] = out["period"].astype("datetime64[ns]")
    out["rows"] = out["rows"].astype("int64")
    return out


_FLAG_ACTION = {
    OPEN_PAST_CLOSE: "ask the owners to update or close these deals before forecasting",
    DEFAULT_CLOSE: "treat these close dates as placeholders in cycle and forecast analyses",
    AFTER_AS_OF: "check as_of, or remove the later export from the folder",
    REPEATED_ROW: "check whether a file was loaded twice",
}


def audit_findings(result: AuditResult, cov: pd.DataFrame | None = None):
    """The audit's findings (number → comparison → decision), most serious first.

    One finding per table with quarantined rows (with its main reasons), one per table with withheld fields
    (how many values of which field and why, the first example, what to do), one per flag check that found
    rows, and one per table whose coverage has empty periods inside its date range (``cov`` from
    :func:`coverage`).

    Returns
    -------
    :class:`salesops_kit.findings.Findings`
    """
    from ..findings import Finding, Findings
    from ..i18n import t, tr  # findings text in the report language

    out = []
    acc = result.account.set_index("table") if len(result.account) else pd.DataFrame()
    hits = result.checks[result.checks["rows"] > 0]
    lead = _answer(result, acc, hits)
    if lead is not None:
        out.append(lead)
    for table, grp in hits[hits["action"] == "quarantined"].groupby("table", sort=False):
        k = int(grp["rows"].sum())
        read = int(acc.loc[table, "rows_read"]) if table in acc.index else k
        reasons = ", ".join(tr("{check} ({rows:,})", check=t(c), rows=r)
                            for c, r in zip(grp["check"], grp["rows"], strict=True))
        out.append(Finding(subject=t(table), metric="rows quarantined", value=f"{k:,}",
                           benchmark=tr("{read:,} rows read", read=read),
                           interval=_pct(k, read), evidence=tr("reasons: {reasons}", reasons=reasons),
                           suggestion=tr("review quarantine_{table}.csv, fix at the source or in the mapping, reload",
                                         table=table),
                           topic="audit", severity=1.0 + k / max(read, 1)))
    wh = result.withheld if result.withheld is not None else _empty_withheld()
    for table, grp in wh.groupby("table", sort=False):
        out.append(_withheld_finding(table, grp, acc))
    for row in hits[hits["action"] == "flagged"].itertuples(index=False):
        out.append(Finding(subject=t(row.table), metric=row.check,
                           value=tr("{rows:,} rows kept and flagged", rows=int(row.rows)),
                           evidence=row.examples.split(" | ")[0] if row.examples else "",
                           suggestion=tr(_FLAG_ACTION[row.check]) if row.check in _FLAG_ACTION else
                           tr("review the flagged rows"),
                           topic="audit", severity=0.5))
    if cov is not None and len(cov):
        for table, grp in cov.groupby("table", sort=False):
            empty = grp.loc[grp["rows"] == 0, "period"]
            if len(empty):
                months = ", ".join(pd.DatetimeIndex(empty).strftime("%Y-%m")[:6])
                out.append(Finding(subject=t(table), metric="periods without rows", value=f"{len(empty)}",
                                   benchmark=tr("{n} periods in its range", n=len(grp)),
                                   evidence=tr("first: {months}", months=months),
                                   suggestion=tr("check whether the export is complete for those periods"),
                                   topic="audit", severity=0.8))
    return Findings(out, title="Data audit findings",
                    empty="Every row was kept, no check flagged anything and no period is empty.")


# Share of rows read that may be rejected before the audit says to fix the export before relying on the analyses
# (a convention, stated in the finding: 1 row in 100).
USABLE_REJECTED_SHARE = 0.01


def _answer(result: AuditResult, acc: pd.DataFrame, hits: pd.DataFrame):
    """The audit's answer to its question (can the analyses rely on this export?): rows kept of rows read over
    every table, what was rejected, withheld and flagged, and the decision. None when nothing was read."""
    from ..findings import Finding
    from ..i18n import format_date, tr

    if not len(acc) or int(acc["rows_read"].sum()) == 0:
        return None
    read, kept = int(acc["rows_read"].sum()), int(acc["rows_kept"].sum())
    rejected = read - kept
    withheld = int(result.withheld["rows"].sum()) if result.withheld is not None and len(result.withheld) else 0
    flagged = int(hits.loc[hits["action"] == "flagged", "rows"].sum())
    usable = rejected <= USABLE_REJECTED_SHARE * read
    return Finding(
        subject=tr("all tables"), metric="rows kept",
        value=tr("{kept:,} of {read:,} rows read", kept=kept, read=read) if rejected else
        tr("all {read:,} rows read", read=read),
        evidence=tr("{rejected:,} rows quarantined, {withheld:,} values withheld in kept rows, {flagged:,} rows kept "
                    "and flagged", rejected=rejected, withheld=withheld, flagged=flagged),
        suggestion=tr("the analyses can rely on this export; fix what the findings below name at the source") if usable
        else tr("more than 1 row in 100 was rejected: fix the export or the mapping before relying on the analyses"),
        topic="audit", severity=10.0, lead=True, window=tr("as of {date}", date=format_date(result.as_of)))


def _withheld_finding(table: str, w: pd.DataFrame, acc: pd.DataFrame):
    """The finding of one table's withheld fields: values withheld of the kept rows, per field and reason (in
    the withheld table's order), the first example, and what to do for each reason."""
    from ..findings import Finding
    from ..i18n import current_lang, t, tr

    sep = "；" if current_lang() == "zh" else "; "
    n = int(w["rows"].sum())
    kept = int(acc.loc[table, "rows_kept"]) if table in acc.index else n
    fields = sep.join(tr("{column} {rows:,} ({reason})", column=r.column, rows=int(r.rows), reason=t(r.reason))
                       for r in w.itertuples(index=False))
    first = w.iloc[0]
    evidence = tr("{fields}; first: {example} {column}", fields=fields, example=first["example"],
                  column=first["column"])
    actions = [_withheld_action(reason) for reason in dict.fromkeys(w["reason"])]
    value = tr("1 value") if n == 1 else tr("{n:,} values", n=n)
    # the share of kept rows with a withheld field: exact for one column (a row has one value in it); for several,
    # a row may lack more than one, so it lies between the largest column's share and values / rows (capped at 100%)
    per_column = w.groupby("column", sort=False)["rows"].sum()
    low, high = int(per_column.max()), min(n, kept)
    share = (_pct(n, kept) if len(per_column) == 1 or low >= high else
             tr("{low}–{high} of rows", low=_pct(low, kept), high=_pct(high, kept)))
    return Finding(subject=t(table), metric="fields withheld", value=value,
                   benchmark=tr("{kept:,} rows kept", kept=kept), interval=share, evidence=evidence,
                   suggestion=sep.join(actions), topic="audit", severity=0.6 + 0.4 * min(n / max(kept, 1), 1.0))


def _withheld_action(reason: str) -> str:
    """What the analyst can do about one withheld reason; a mapping key is passed as a value, so that the YAML
    stays as written in every language."""
    from ..i18n import tr

    if reason == qc.BAD_DATE:
        return tr("if the dates share one format, set {key} in the mapping and reload, else fix them at the source",
                  key="dates: {format: ...} / {dayfirst: ...}")
    if reason == qc.BAD_NUMBER:
        return tr("set {key} in the mapping to read these numbers, or fix them at the source",
                  key="amount: {decimal: ..., thousands: ...}")
    if reason == qc.NEGATIVE:
        return tr("if they are credits (refunds), set {key} in the mapping to count them in money KPIs, else correct "
                  "them at the source", key="amount: {credits: true}")
    if reason == qc.MISSING_VALUE:
        return tr("fill the blank values at the source (the rows already count wherever the field is not needed)")
    if reason == qc.CLOSED_NO_CLOSE:
        return tr("fill the close dates in the CRM so that these deals count in period views and cycle times")
    if reason == qc.CLOSE_BEFORE_CREATED:
        return tr("fix the created dates a migration overwrote (later than the close dates): until then these deals "
                  "are left out of cycle times only")
    return tr("review these fields at the source")
