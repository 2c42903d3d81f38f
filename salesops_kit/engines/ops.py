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
    for c in out.columns:
        s = out[c]
        if s.dtype == object and len(s) and any(isinstance(v, decimal.Decimal) for v in s.dropna().head(5)):
            out[c] = pd.to_numeric(s.astype(float))
        elif s.dtype == object and len(s) and any(isinstance(v, _dt.date) for v in s.dropna().head(5)):
            out[c] = pd.to_datetime(s)
        elif str(s.dtype).startswith(("int", "Int", "uint", "UInt")) or str(s.dtype) in ("int32", "int64"):
            out[c] = s.astype("float64")
        elif str(s.dtype).startswith("datetime64") and getattr(s.dt, "tz", None) is None:
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
