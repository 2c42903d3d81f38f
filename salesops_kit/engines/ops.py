"""Engine-neutral helpers shared by the funnel and sales-cycle modules (private).

Row-level scans go through narwhals so that pandas, Polars (eager or lazy), DuckDB and (later)
PySpark frames are accepted; what comes back is a small pandas frame with plain numeric dtypes
(DuckDB returns ``Decimal`` for integer sums, which is converted here).
"""

from __future__ import annotations

import datetime as _dt
import decimal

import narwhals as nw
import numpy as np
import pandas as pd

from ..data.schema import StageModel
from ..tools.validation import option_error
from ..tools.validation import require_columns as check_columns


def lazy(df, *, table: str = "opportunities") -> nw.LazyFrame:
    """Wrap any supported native frame as a narwhals LazyFrame."""
    try:
        f = nw.from_native(df)
    except TypeError as exc:
        raise TypeError(
            f"{table}: expected a pandas, Polars or DuckDB frame (or a salesops_kit Dataset), got "
            f"{type(df).__name__}. Load the export with salesops_kit.load_dataset or pass a DataFrame."
        ) from exc
    return f.lazy() if isinstance(f, nw.DataFrame) else f


def columns(lf: nw.LazyFrame) -> list[str]:
    return list(lf.collect_schema().names())


def require_columns(lf: nw.LazyFrame, cols, *, table: str, purpose: str) -> None:
    """Raise :class:`~salesops_kit.tools.exceptions.MissingColumnsError` (the house-style message) if any is missing."""
    check_columns(columns(lf), cols, table=table, purpose=purpose)


def stage_stays(history) -> nw.LazyFrame:
    """Stage history as stays: consecutive rows of a deal in the same stage become one stay.

    Salesforce OpportunityHistory has a row for every change of amount, close date or probability, so a deal
    sitting in one stage can have several rows in a row. Per deal, ordered by ``entered_date``, a run of rows
    in the same stage is one stay: ``entered_date`` of its first row and ``exited_date`` of its last (null
    when the last row is still open). A later return to the stage (A, B, A) is a new stay. History with one
    row per stay comes back unchanged (row order aside). Lazy, on every narwhals backend (pandas, Polars,
    DuckDB); the columns are ``opportunity_id, stage, entered_date[, exited_date]``.
    """
    h = lazy(history, table="stage_history")
    require_columns(h, ["opportunity_id", "stage", "entered_date"], table="stage_history", purpose="stage stays")
    has_exit = "exited_date" in columns(h)
    h = h.select("opportunity_id", "stage", "entered_date", *(["exited_date"] if has_exit else []))
    prev = nw.col("stage").shift(1).over("opportunity_id", order_by="entered_date")
    h = h.with_columns(nw.when(prev.is_null() | (nw.col("stage") != prev)).then(1).otherwise(0).alias("_new"))
    h = h.with_columns(nw.col("_new").cum_sum().over("opportunity_id", order_by="entered_date").alias("_stay"))
    aggs = [nw.col("entered_date").min()]
    if has_exit:
        nxt = nw.col("_stay").shift(-1).over("opportunity_id", order_by="entered_date")
        h = h.with_columns(nw.when(nxt.is_null() | (nxt != nw.col("_stay"))).then(nw.col("exited_date"))
                           .alias("_last_exit"))
        aggs.append(nw.col("_last_exit").max().alias("exited_date"))
    g = h.group_by("opportunity_id", "stage", "_stay").agg(*aggs)
    return g.select("opportunity_id", "stage", "entered_date", *(["exited_date"] if has_exit else []))


def collect(lf: nw.LazyFrame) -> pd.DataFrame:
    """Collect a (small) narwhals result to pandas with plain numeric dtypes.

    Always a new frame: when the lazy frame wraps an unchanged pandas input, ``to_pandas`` hands back
    the caller's own object, and the dtype casts below must not reach it.
    """
    out = lf.collect().to_pandas().copy(deep=False)
    return plain_dtypes(out, out.columns)


def sql_ident(name) -> str:
    """A column name as a quoted SQL identifier (DuckDB, for the relation API's hand-written statements)."""
    return '"' + str(name).replace('"', '""') + '"'


def plain_dtypes(out: pd.DataFrame, cols) -> pd.DataFrame:
    """``out`` with the ``cols`` columns in the plain dtypes :func:`collect` hands back (in place): Decimal and
    integer columns as float64, dates as naive datetime64[ns]."""
    for c in cols:
        s = out[c]
        if s.dtype == object and len(s) and any(isinstance(v, decimal.Decimal) for v in s.dropna().head(5)):
            out[c] = pd.to_numeric(s.astype(float))
        elif s.dtype == object and len(s) and any(isinstance(v, _dt.date) for v in s.dropna().head(5)):
            out[c] = pd.to_datetime(s)
        elif str(s.dtype).startswith(("int", "Int", "uint", "UInt")) or str(s.dtype) in ("int32", "int64"):
            out[c] = s.astype("float64")
        elif str(s.dtype).startswith("datetime64") and getattr(s.dt, "tz", None) is None:
            if s.dtype != "datetime64[ns]":  # (astype copies even when the unit is already ns)
                out[c] = s.astype("datetime64[ns]")
        elif str(s.dtype).startswith("datetime64"):  # Spark's date_trunc: a session-zone timestamp, its wall time
            out[c] = s.dt.tz_localize(None).astype("datetime64[ns]")
    return out


def as_pylit(ts) -> _dt.datetime:
    return pd.Timestamp(ts).to_pydatetime()


def day_number(value):
    """Proleptic-Gregorian day number of a date expression (or a Timestamp): the calendar day, time ignored.

    Built from ``dt.year`` and ``dt.ordinal_day`` only, which every narwhals backend (pandas, Polars,
    DuckDB, PySpark) evaluates lazily; differences of day numbers are whole calendar days.
    """
    if isinstance(value, nw.Expr):
        y = value.dt.year() - 1
        return y * 365 + y // 4 - y // 100 + y // 400 + value.dt.ordinal_day()
    ts = pd.Timestamp(value)
    y = ts.year - 1
    return y * 365 + y // 4 - y // 100 + y // 400 + ts.dayofyear


def days_between(start, end, *, frame: nw.LazyFrame | None = None) -> nw.Expr:
    """Whole days from ``start`` to ``end`` (expressions, or a Timestamp for ``end``), as float; null when
    either is null.

    Elapsed time floored to whole days (``total_seconds // 86400``) on every backend that has it
    (pandas, Polars, DuckDB, ...). Backends without ``total_seconds`` (PySpark) count calendar days from
    ``dt.year``/``dt.ordinal_day``; the two agree on day-precision dates (the canonical schema's default)
    and differ only when a time of day makes the elapsed time shorter than the calendar difference.
    """
    impl = frame.implementation if frame is not None else None
    if impl is not None and impl.is_spark_like():
        d = day_number(end) - day_number(start)
        return (d if isinstance(d, nw.Expr) else nw.lit(d)).cast(nw.Float64)
    end = end if isinstance(end, nw.Expr) else nw.lit(as_pylit(end))
    return (end - start).dt.total_seconds() // 86400.0


def seconds_between(start: nw.Expr, end: nw.Expr, *, frame: nw.LazyFrame | None = None) -> nw.Expr:
    """Whole seconds elapsed from ``start`` to ``end`` (datetime expressions), as ``dt.total_seconds`` gives them;
    null when either is null. On PySpark, which has no durations in narwhals, from the calendar day numbers and the
    time of day: the same elapsed time for naive timestamps (what the loader gives)."""
    impl = frame.implementation if frame is not None else None
    if impl is None or not impl.is_spark_like():
        return (end - start).dt.total_seconds()

    def clock(e):
        return e.dt.hour() * 3600 + e.dt.minute() * 60 + e.dt.second()
    secs = (day_number(end) - day_number(start)) * 86400 + clock(end) - clock(start)
    us = end.dt.microsecond() - start.dt.microsecond()  # a part second left over truncates toward zero
    return (nw.when((us < 0) & (secs > 0)).then(secs - 1).when((us > 0) & (secs < 0)).then(secs + 1)
            .otherwise(secs)).cast(nw.Float64)


def period_expr(col: str, period: str | None) -> nw.Expr:
    """Start of the calendar period of ``col``: None -> constant null, M/Q/Y (or month/quarter/year)."""
    unit = normalise_period(period)
    return nw.col(col).dt.truncate(unit)


def normalise_period(period: str | None) -> str:
    units = {"m": "1mo", "month": "1mo", "ms": "1mo", "q": "1q", "quarter": "1q", "qs": "1q",
             "y": "1y", "year": "1y", "ys": "1y", "a": "1y"}
    key = str(period).strip().lower()
    if key not in units:
        raise option_error("period", period, {None: "", "M": "month", "Q": "quarter", "Y": "year"})
    return units[key]


def as_list(by) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def resolve(data, *, stages: StageModel | None = None, as_of=None, need_stages: bool = True):
    """Split a Dataset or a frame into ``(opportunities, stage_history, stages, as_of)``.

    A :class:`salesops_kit.Dataset` brings its own stage model, stage history and as-of date; a
    bare frame needs ``stages=`` (the kit never guesses won/lost from stage names).
    """
    from ..data.dataset import Dataset

    history = None
    if isinstance(data, Dataset):
        stages = stages if stages is not None else data.stages
        as_of = as_of if as_of is not None else data.as_of
        history = data.stage_history
        data.require("opportunities", purpose="the funnel analysis")
        data = data.opportunities
    if need_stages:
        check_stages(stages)
    return data, history, stages, (None if as_of is None else pd.Timestamp(as_of))


def check_stages(stages) -> None:
    if not isinstance(stages, StageModel):
        raise TypeError(
            "stages= must be a salesops_kit.data.schema.StageModel (ordered open stages + won/lost labels), e.g. "
            "ds.stages from load_dataset, or StageModel(order=(...), won=(...), lost=(...)); the kit never guesses "
            "the stage order or which stages mean won/lost from their names."
        )
    if not stages.order or not stages.won:
        raise ValueError(
            f"The stage model needs at least one open stage and one won stage (got order={stages.order}, "
            f"won={stages.won}, lost={stages.lost}); set stages.order / stages.won / stages.lost in the mapping."
        )


def check_labels(values, stages: StageModel, *, table: str, column: str = "stage", allow_null: bool = True) -> None:
    """Raise if any value is not a label of the stage model (names the unknown labels)."""
    values = pd.Series(values)
    if not allow_null and values.isna().any():
        raise ValueError(
            f"{table}.{column} is missing for some rows; every deal needs a stage. Fix the export or let the "
            "loader quarantine those rows (load_dataset does)."
        )
    vals = {v for v in values.dropna().unique()}
    unknown = sorted(str(v) for v in vals if v not in set(stages.labels))
    if unknown:
        raise ValueError(
            f"{table}.{column} has stage label(s) not in the stage model: {', '.join(map(repr, unknown[:10]))}"
            f"{' …' if len(unknown) > 10 else ''}. Known labels: {', '.join(stages.labels)}. Add them to the "
            f"mapping's stages.order / won / lost, or map them with stages.aliases."
        )


def won_label(stages: StageModel) -> str:
    return stages.won[0] if len(stages.won) == 1 else " / ".join(stages.won)


def outcome_of(stage: pd.Series, stages: StageModel) -> pd.Series:
    """'won' / 'lost' / 'open' for canonical stage labels."""
    return pd.Series(np.where(stage.isin(stages.won), "won", np.where(stage.isin(stages.lost), "lost", "open")),
                     index=stage.index)


def sort_out(df: pd.DataFrame, keys) -> pd.DataFrame:
    keys = [k for k in keys if k in df.columns]
    if keys and len(df):
        df = df.sort_values(keys, kind="stable", na_position="last")
    return df.reset_index(drop=True)


OPEN, WON, LOST, UNKNOWN = 0, 1, 2, 3


def outcome_code(stages: StageModel, column: str = "stage") -> nw.Expr:
    """0 open, 1 won, 2 lost, 3 not a label of the stage model (or missing) — hash look-ups, no string compares."""
    c = nw.col(column)
    return (nw.when(c.is_in(list(stages.won))).then(WON).when(c.is_in(list(stages.lost))).then(LOST)
            .when(c.is_in(list(stages.order))).then(OPEN).otherwise(UNKNOWN))


def raise_unknown_stages(lf: nw.LazyFrame, stages: StageModel, *, table: str = "opportunities",
                         column: str = "stage") -> None:
    """Name the labels of ``column`` that the stage model does not know (only called when some exist)."""
    bad = collect(lf.filter(~nw.col(column).is_in(list(stages.labels)) | nw.col(column).is_null())
                  .group_by(column, drop_null_keys=False).agg(nw.len().alias("n")))
    check_labels(bad[column], stages, table=table, column=column, allow_null=False)
    raise AssertionError("unreachable: unknown stage labels were counted but not found")  # pragma: no cover


# ---------------------------------------------------------------------------------------------------------------
# one grouped scan on the loader's derived columns (issue 17: each KPI function costs what its hand query costs)
# ---------------------------------------------------------------------------------------------------------------

#: the outcome columns the loader derives from the mapping's stage model on every engine (opportunities)
OUTCOME_FLAGS = ("is_won", "is_closed")


def has_outcome_flags(names) -> bool:
    """Whether a table's columns include the loader's ``is_won`` and ``is_closed``: the KPI scans then read them
    instead of classifying the stage labels again (a bare frame without them is classified from ``stages=``)."""
    return all(c in names for c in OUTCOME_FLAGS)


def count_true(col: str, lf: nw.LazyFrame | None = None) -> nw.Expr:
    """Rows where the boolean column ``col`` is true, as a plain integer on every backend (DuckDB's sum of
    booleans is a HUGEINT that reaches pandas as Decimal objects). ``lf`` is the frame it aggregates: a pandas-like
    one sums the flag (a plain sum: narwhals' pandas group-by runs a conditional expression row group by group)."""
    if lf is not None and lf.implementation.is_pandas_like():
        return nw.col(col).sum()
    return nw.when(nw.col(col)).then(nw.lit(1)).count()


_PERIOD_UNITS = {"1mo": "M", "1q": "Q", "1y": "Y"}


def _period_starts(d: np.ndarray, period: str) -> np.ndarray:
    """Start of the calendar period of each date (naive datetime64 values): months as ``datetime64[M]``, years as
    ``datetime64[Y]`` (NaT kept; :func:`count_groups` hands them back as ``datetime64[ns]``)."""
    unit = _PERIOD_UNITS[normalise_period(period)]
    if unit == "Y":
        return d.astype("datetime64[Y]")
    m = d.astype("datetime64[M]")
    if unit == "Q":
        mi = m.view(np.int64)
        return np.where(np.isnat(m), m, (mi - mi % 3).view("datetime64[M]"))
    return m


def _naive_dates(s: pd.Series) -> bool:
    return pd.api.types.is_datetime64_dtype(s.dtype) and not isinstance(s.dtype, pd.DatetimeTZDtype)


def _grouped_pandas(df: pd.DataFrame, by: list[str], *, period, drop_null_period: bool, where: str | None,
                    counts: tuple[str, ...], sums: tuple[str, ...]) -> pd.DataFrame | None:
    """:func:`grouped` for a pandas frame with numpy (:func:`count_groups`): rows selected first, each key hashed
    once (or, for dates and small integers, numbered by its offset from the smallest), counted with ``bincount``.
    None when it cannot (a date column that is not naive datetime64: the caller then runs the narwhals scan)."""
    if period is not None and not _naive_dates(df[period[0]]):
        return None
    keep = None if where is None else df[where].to_numpy(dtype=bool, na_value=False)
    sel = None if keep is None or keep.all() else np.flatnonzero(keep)

    def rows(v):
        return v if sel is None else v[sel]

    keys: dict[str, np.ndarray] = {}
    if period is not None:
        starts = _period_starts(rows(df[period[0]].to_numpy()), period[1])
        if drop_null_period:
            nat = np.isnat(starts)
            if nat.any():
                sel = np.flatnonzero(~nat) if sel is None else sel[~nat]
                starts = starts[~nat]
        keys["period"] = starts
    keys = {**{c: rows(df[c].to_numpy()) for c in by}, **keys}
    return count_groups(keys, counts={c: rows(df[c].to_numpy(dtype=bool, na_value=False)) for c in counts},
                        sums={c: rows(df[c].to_numpy(dtype="float64", na_value=np.nan)) for c in sums})


def _key_codes(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group codes (0..k-1, int64) and the k key values of one key array; missing values (None, NaN, NaT) get the
    last code and a missing value. Dates and whole numbers spanning a small range are numbered by their offset
    from the smallest (no hashing; codes of absent values simply count no row); anything else is hashed."""
    v = np.asarray(v)
    if v.dtype.kind in "iuMf" and len(v):
        if v.dtype.kind == "M":
            iv = v.view(np.int64)
            miss = iv == np.iinfo(np.int64).min
        elif v.dtype.kind == "f":
            miss = np.isnan(v)
            iv = np.where(miss, 0.0, v)
            iv = iv.astype(np.int64) if np.array_equal(iv, np.floor(iv)) and np.abs(iv).max() < 2**52 else None
        else:
            iv, miss = v.astype(np.int64), np.zeros(len(v), dtype=bool)
        ok = ~miss
        if iv is not None and ok.any():
            lo, hi = int(iv[ok].min()), int(iv[ok].max())
            if hi - lo < max(4 * len(v), 1 << 16):
                c = iv - lo
                vals = np.arange(lo, hi + 1, dtype=np.int64)
                u = vals.view(v.dtype) if v.dtype.kind == "M" else vals.astype(v.dtype)
                if miss.any():
                    c[miss] = hi - lo + 1
                    u = np.append(u, np.array([np.datetime64("NaT")], dtype=v.dtype) if v.dtype.kind == "M"
                                  else np.array([np.nan]))
                return c, u
    c, u = pd.factorize(v)  # missing -> -1 (asking for a missing group costs two more passes)
    c = c.astype(np.int64)
    u = np.asarray(u)
    if len(c) and c.min() < 0:  # missing values: a group of their own, after the present ones
        c[c < 0] = len(u)
        na = np.array([np.datetime64("NaT")], dtype=u.dtype) if u.dtype.kind == "M" else np.array(
            [np.nan], dtype=object if u.dtype == object else float)
        u = np.concatenate([u, na]) if u.dtype.kind in "MO" else np.append(u.astype(float), na)
    return c, u


def count_groups(keys: dict, *, counts: dict | None = None, sums: dict | None = None) -> pd.DataFrame | None:
    """Rows per distinct combination of the ``keys`` arrays (equal length, one per key column), with numpy: each key
    hashed once (``pd.factorize``; missing values are a group of their own, NaN / NaT), the groups counted and
    summed with ``bincount``. Returns ``<keys>, n, <counts>, <sums>`` in no particular order (``n`` and each of
    ``counts``, the rows where that boolean array is true, int64; each of ``sums`` the sum of that float array, NaN
    skipped); None when the key space is too large to number (the caller then runs its narwhals scan)."""
    counts, sums = counts or {}, sums or {}
    m = len(next(iter(keys.values()))) if keys else len(next(iter({**counts, **sums}.values()), []))
    codes, uniques, radix = None, [], 1
    for name, v in keys.items():
        c, u = _key_codes(v)
        if u.dtype.kind == "M":
            u = u.astype("datetime64[ns]")
        radix *= max(len(u), 1)
        if radix >= 2**62:
            return None
        codes = c if codes is None else codes * max(len(u), 1) + c
        uniques.append((name, u))
    if codes is None:
        codes = np.zeros(m, dtype=np.int64)
    if radix <= max(4 * m, 1 << 16):
        gid, present = codes, None
    else:  # sparse key space: number the groups present
        gid, present = pd.factorize(codes)
        gid = gid.astype(np.int64)
    size = radix if present is None else len(present)
    n = np.bincount(gid, minlength=size)
    rows = np.flatnonzero(n) if present is None else np.arange(size)
    out = {}
    rest = rows.copy() if present is None else np.asarray(present, dtype=np.int64)
    for name, u in reversed(uniques):
        k = max(len(u), 1)
        out[name] = u[rest % k] if len(u) else np.array([], dtype=object)
        rest = rest // k
    res = {name: out[name] for name, _ in uniques}
    res["n"] = n[rows].astype("int64")
    for c, v in counts.items():
        res[c] = np.bincount(gid, weights=v, minlength=size)[rows].astype("int64")
    for c, v in sums.items():
        res[c] = np.bincount(gid, weights=np.where(np.isnan(v), 0.0, v), minlength=size)[rows]
    return pd.DataFrame(res)


#: DuckDB column types the direct SQL scans truncate and subtract (others take the narwhals scan)
DUCKDB_DATES = ("DATE", "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "TIMESTAMP_US")
_DUCKDB_UNITS = {"M": "month", "Q": "quarter", "Y": "year"}


def _grouped_duckdb(rel, by: list[str], *, period, drop_null_period: bool, where: str | None,
                    counts: tuple[str, ...], sums: tuple[str, ...]) -> pd.DataFrame | None:
    """:func:`grouped` on a DuckDB relation as the statement a person would write (``WHERE``, ``count(*)
    FILTER``, grouped by the key columns) through the relation API, fetched with DuckDB's own pandas conversion:
    narwhals' expression building and Arrow round trip cost as much as the query on a million rows. None for a date
    column that is not a plain DATE/TIMESTAMP (the narwhals scan then runs)."""
    q = sql_ident
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    sel = [q(c) for c in by]
    cond = [] if where is None else [q(where)]
    if period is not None:
        col, unit = period
        if types.get(col) not in DUCKDB_DATES:
            return None
        sel.append(f"CAST(date_trunc('{_DUCKDB_UNITS[_PERIOD_UNITS[normalise_period(unit)]]}', {q(col)}) "
                   "AS TIMESTAMP) AS period")
        if drop_null_period:
            cond.append(f"{q(col)} IS NOT NULL")
    aggs = (["count(*) AS n"] + [f"count(*) FILTER (WHERE {q(c)}) AS {q(c)}" for c in counts]
            + [f"coalesce(sum(CAST({q(c)} AS DOUBLE)), 0) AS {q(c)}" for c in sums])
    if cond:
        rel = rel.filter(" AND ".join(cond))
    g = rel.aggregate(", ".join(sel + aggs)).df()  # grouped by the columns that are not aggregates
    if not sel:
        g = g[g["n"] > 0].reset_index(drop=True)
    if "period" in g and g["period"].dtype != "datetime64[ns]":
        g["period"] = g["period"].astype("datetime64[ns]")
    for c in ("n", *counts):
        g[c] = g[c].astype("int64")
    for c in sums:
        g[c] = g[c].astype("float64")
    return g


def grouped(frame, lf: nw.LazyFrame, by, *, period=None, drop_null_period: bool = True, where: str | None = None,
            counts=(), sums=()) -> pd.DataFrame:
    """One grouped scan: rows per group of ``by`` (and ``period``), among the rows where the boolean column
    ``where`` is true.

    ``period`` is ``(date column, "M" | "Q" | "Y")``: a ``period`` key holding the start of the calendar period
    (rows without the date left out when ``drop_null_period``, else a missing period of their own). Returns a
    pandas frame ``<by>, [period], n, <counts>, <sums>`` in no particular order: ``n`` rows, each of ``counts``
    the rows where that boolean column is true (int64), each of ``sums`` the sum of that column (nulls skipped,
    0.0 when there is none). Missing key values are a group of their own. ``frame`` is the native table ``lf``
    wraps: a pandas frame takes a numpy path (one hash of each key, ``bincount``), every other engine runs the
    one narwhals group-by.
    """
    by, counts, sums = as_list(by), tuple(counts), tuple(sums)
    out = None
    if nw.dependencies.is_pandas_dataframe(frame):
        out = _grouped_pandas(frame, by, period=period, drop_null_period=drop_null_period, where=where,
                              counts=counts, sums=sums)
    elif nw.dependencies.is_duckdb_relation(frame):
        out = _grouped_duckdb(frame, by, period=period, drop_null_period=drop_null_period, where=where,
                              counts=counts, sums=sums)
    if out is not None:  # the keys in the dtypes the narwhals scan hands back (collect)
        return plain_dtypes(out, by)
    keys = list(by)
    if period is not None:
        lf = lf.with_columns(period_expr(period[0], period[1]).alias("period"))
        if drop_null_period:
            lf = lf.filter(~nw.col("period").is_null())
        keys.append("period")
    if where is not None:
        lf = lf.filter(nw.col(where))
    aggs = [nw.len().alias("n"), *[count_true(c, lf).alias(c) for c in counts],
            *[nw.col(c).cast(nw.Float64).sum().alias(c) for c in sums]]
    if keys:
        g = collect(lf.group_by(*keys, drop_null_keys=False).agg(*aggs))
    else:  # no key: one row, none when no row qualifies (as a group-by gives)
        g = collect(lf.select(*aggs))
        g = g[g["n"] > 0].reset_index(drop=True)
    for c in ("n", *counts):
        g[c] = g[c].astype("int64")
    for c in sums:
        g[c] = g[c].astype("float64")
    return g


CLASH = "_hash_clash"


def hashed_left_join(left: nw.LazyFrame, right: nw.LazyFrame, key: str) -> nw.LazyFrame | None:
    """``left`` left-joined to ``right`` on the text column ``key`` through a 64-bit hash of it, on Polars (a join on
    unsigned integers is 2-3x faster there than on strings); None for another engine or a key that is not text on
    both sides (the caller joins on the key itself).

    Exact, not probabilistic: the result has a boolean column ``_hash_clash`` (:data:`CLASH`), true on a row that
    two different keys with the same hash matched. The caller sums it in the same aggregation and, when the sum is
    not 0 (odds about n^2 / 2^64), joins again on the key; a null key matches nothing, as in the plain join."""
    ln, rn = nw.to_native(left), nw.to_native(right)
    if not (nw.dependencies.is_polars_lazyframe(ln) and nw.dependencies.is_polars_lazyframe(rn)):
        return None
    import polars as pl

    if ln.collect_schema().get(key) != pl.String or rn.collect_schema().get(key) != pl.String:
        return None
    h = pl.when(pl.col(key).is_not_null()).then(pl.col(key).hash())
    other = "__salesops_right_key"
    j = ln.with_columns(__salesops_hash=h).join(rn.with_columns(__salesops_hash=h).rename({key: other}),
                                                on="__salesops_hash", how="left")
    clash = pl.col(other).is_not_null() & (pl.col(other) != pl.col(key))
    return nw.from_native(j.with_columns(clash.alias(CLASH)).drop("__salesops_hash", other))
