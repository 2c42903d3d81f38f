"""Row-level scans behind the rep scorecard and drivers (issue 6), written with narwhals.

Each scan takes one canonical table as any narwhals-supported frame (pandas, Polars eager or lazy,
DuckDB relation, ...), pushes filtering and grouping to that engine and returns a small pandas frame
(one row per rep, or per rep x response band x activity band x source). Private: the public entry
points are :func:`salesops_kit.reps.scorecard`, :func:`salesops_kit.reps.compare_reps` and
:func:`salesops_kit.reps.drivers.response_drivers`.
"""

from __future__ import annotations

import datetime as _dt

import narwhals as nw
import numpy as np
import pandas as pd

from ..engines.ops import CLASH, hashed_left_join, seconds_between
from ..funnel.pipeline import quota_frame  # noqa: F401 - the quota-period rules live in the funnel (shared)

# response-time bands: index -> label (hours after the lead arrived); 4 = never answered
RESPONSE_BANDS = ("within 1 h", "1-4 h", "4-24 h", "after 24 h", "no response")
ACTIVITY_BANDS = ("0", "1", "2", "3+")


def _lazy(frame):
    return nw.from_native(frame).lazy()


def _cols(lf) -> list[str]:
    return list(lf.collect_schema().names())


def _done(lf) -> pd.DataFrame:
    return lf.collect().to_pandas()


def _py(ts) -> _dt.datetime:
    return pd.Timestamp(ts).floor("us").to_pydatetime()


def _between(col: str, start, end):
    expr = nw.lit(True)
    if start is not None:
        expr = expr & (nw.col(col) >= _py(start))
    if end is not None:
        expr = expr & (nw.col(col) <= _py(end))
    return expr


def deal_scan(opportunities, *, start=None, end=None, as_of) -> pd.DataFrame:
    """Per owner: closed/won deals closed in [start, end], won revenue, open pipeline at ``as_of``.

    Returns columns ``owner, team, deals_closed, deals_won, won_revenue, won_with_amount,
    deals_created, open_deals, open_pipeline`` (team = the alphabetically last non-missing team of the
    owner's deals, ``"all"`` without a team column), sorted by owner.
    """
    lf = _lazy(opportunities)
    cols = _cols(lf)
    fast = _deal_scan_pandas(opportunities, cols, start=start, end=end, as_of=as_of)
    if fast is None and nw.dependencies.is_duckdb_relation(opportunities):
        fast = _deal_scan_duckdb(opportunities, cols, start=start, end=end, as_of=as_of)
    if fast is not None:
        return _deal_table(fast)
    team = nw.col("team") if "team" in cols else nw.lit("all")
    closed = nw.col("is_closed").fill_null(False)
    won = nw.col("is_won").fill_null(False)
    in_period = _between("close_date", start, end)
    created_in = _between("created_date", start, end)
    open_now = ~closed & (nw.col("created_date") <= _py(as_of))
    out = (
        lf.filter(~nw.col("owner").is_null())
        .with_columns(
            _team=team,
            _closed=(closed & in_period).cast(nw.Int64),
            _won=(won & in_period).cast(nw.Int64),
            _won_amt=nw.when(won & in_period).then(nw.col("amount")).otherwise(nw.lit(None)),
            _created=created_in.cast(nw.Int64),
            _open=open_now.cast(nw.Int64),
            _open_amt=nw.when(open_now).then(nw.col("amount")).otherwise(nw.lit(None)),
        )
        .group_by("owner")
        .agg(
            team=nw.col("_team").max(),
            deals_closed=nw.col("_closed").sum(),
            deals_won=nw.col("_won").sum(),
            won_revenue=nw.col("_won_amt").sum(),
            won_with_amount=nw.col("_won_amt").count(),
            deals_created=nw.col("_created").sum(),
            open_deals=nw.col("_open").sum(),
            open_pipeline=nw.col("_open_amt").sum(),
        )
        .sort("owner")
    )
    return _deal_table(_done(out))


def _deal_table(df: pd.DataFrame) -> pd.DataFrame:
    df["team"] = df["team"].fillna("all").astype(str)
    for c in ("deals_closed", "deals_won", "won_with_amount", "deals_created", "open_deals"):
        df[c] = df[c].fillna(0).astype("int64")
    for c in ("won_revenue", "open_pipeline"):
        df[c] = df[c].astype("float64")
    return df.sort_values("owner", kind="stable").reset_index(drop=True)


DEAL_COLUMNS = ["owner", "team", "deals_closed", "deals_won", "won_revenue", "won_with_amount", "deals_created",
                "open_deals", "open_pipeline"]


def _sql_ts(v) -> str:
    return f"TIMESTAMP '{pd.Timestamp(_py(v)).strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def _dates(s: pd.Series) -> np.ndarray | None:
    if not pd.api.types.is_datetime64_dtype(s.dtype) or isinstance(s.dtype, pd.DatetimeTZDtype):
        return None
    return s.to_numpy().astype("datetime64[ns]")


def _np_between(d: np.ndarray, start, end) -> np.ndarray:
    ok = np.ones(len(d), dtype=bool)
    if start is not None:
        ok &= d >= np.datetime64(pd.Timestamp(_py(start)).to_datetime64(), "ns")
    if end is not None:
        ok &= d <= np.datetime64(pd.Timestamp(_py(end)).to_datetime64(), "ns")
    return ok  # NaT compares False


def _deal_scan_pandas(df, cols, *, start, end, as_of) -> pd.DataFrame | None:
    """:func:`deal_scan` on a pandas frame in numpy (one hash of the owner, ``bincount`` sums); None when the frame
    is not pandas or its dates are not naive datetime64 (the narwhals scan then runs)."""
    from ..engines.ops import count_groups

    if not nw.dependencies.is_pandas_dataframe(df):
        return None
    close, created = _dates(df["close_date"]), _dates(df["created_date"])
    if close is None or created is None:
        return None
    owner = df["owner"].to_numpy()
    keep = np.flatnonzero(pd.notna(owner))
    closed = df["is_closed"].to_numpy(dtype=bool, na_value=False)[keep]
    won = df["is_won"].to_numpy(dtype=bool, na_value=False)[keep]
    amount = df["amount"].to_numpy(dtype="float64", na_value=np.nan)[keep]
    in_period = _np_between(close[keep], start, end)
    open_now = ~closed & (created[keep] <= np.datetime64(pd.Timestamp(_py(as_of)).to_datetime64(), "ns"))
    w = won & in_period
    g = count_groups({"owner": owner[keep]},
                     counts={"deals_closed": closed & in_period, "deals_won": w,
                             "won_with_amount": w & ~np.isnan(amount),
                             "deals_created": _np_between(created[keep], start, end), "open_deals": open_now},
                     sums={"won_revenue": np.where(w, amount, np.nan), "open_pipeline": np.where(open_now, amount,
                                                                                                 np.nan)})
    if g is None:
        return None
    if "team" in cols:  # the alphabetically last team of the owner's deals: ranks of the sorted distinct teams
        codes, teams = pd.factorize(df["team"].to_numpy()[keep], sort=True)
        top = pd.Series(np.where(codes < 0, np.nan, codes)).groupby(owner[keep], sort=False).max()
        r = top.reindex(g["owner"]).to_numpy()
        g["team"] = np.where(np.isnan(r), None, np.asarray(teams, dtype=object)[np.nan_to_num(r).astype(np.int64)])
    else:
        g["team"] = "all"
    return g[DEAL_COLUMNS]


def _deal_scan_duckdb(rel, cols, *, start, end, as_of) -> pd.DataFrame | None:
    """:func:`deal_scan` on a DuckDB relation as the one aggregate a person would write (``count(*) FILTER``)."""
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    if any(types.get(c) not in ("TIMESTAMP", "DATE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")
           for c in ("close_date", "created_date")):
        return None

    ts = _sql_ts

    def between(c: str) -> str:
        parts = ([f"{c} >= {ts(start)}"] if start is not None else []) + ([f"{c} <= {ts(end)}"] if end is not None
                                                                          else [])
        return " AND ".join(parts) or "TRUE"

    won = f"coalesce(is_won, false) AND {between('close_date')}"
    opn = f"NOT coalesce(is_closed, false) AND created_date <= {ts(as_of)}"
    team = "max(team)" if "team" in cols else "'all'"
    return rel.filter("owner IS NOT NULL").aggregate(
        f"owner, {team} AS team, count(*) FILTER (WHERE coalesce(is_closed, false) AND {between('close_date')}) "
        f"AS deals_closed, count(*) FILTER (WHERE {won}) AS deals_won, "
        f"coalesce(sum(CAST(amount AS DOUBLE)) FILTER (WHERE {won}), 0) AS won_revenue, "
        f"count(amount) FILTER (WHERE {won}) AS won_with_amount, "
        f"count(*) FILTER (WHERE {between('created_date')}) AS deals_created, "
        f"count(*) FILTER (WHERE {opn}) AS open_deals, "
        f"coalesce(sum(CAST(amount AS DOUBLE)) FILTER (WHERE {opn}), 0) AS open_pipeline").df()[DEAL_COLUMNS]


def won_revenue_between(opportunities, *, start, end) -> pd.DataFrame:
    """Per owner: revenue of deals won with close date in [start, end] (``owner, won_revenue``)."""
    lf = _lazy(opportunities)
    won = nw.col("is_won").fill_null(False) & _between("close_date", start, end)
    out = (lf.filter(won & ~nw.col("owner").is_null()).group_by("owner")
           .agg(won_revenue=nw.col("amount").sum()).sort("owner"))
    return _done(out)


def _response_hours(lf):
    return seconds_between(nw.col("created_date"), nw.col("first_response_date"), frame=lf) / 3600.0


def lead_frame(leads, *, start=None, end=None, cutoff, activities=None, hashed: bool = False):
    """Mature leads (created on or before ``cutoff``) with ``_converted``, ``_hours``, ``_band``
    (index into RESPONSE_BANDS) and ``_acts``/``_aband`` (activities logged on the lead) columns,
    as a narwhals LazyFrame (nothing is computed yet). ``hashed``: on Polars, activities are joined to their lead
    through :func:`~salesops_kit.engines.ops.hashed_left_join` and the frame has its ``_hash_clash`` column (the
    caller's aggregation must sum it and ask again without ``hashed`` when it is not 0)."""
    lf = _lazy(leads)
    cols = _cols(lf)
    conv = nw.lit(False)
    if "opportunity_id" in cols:
        conv = conv | ~nw.col("opportunity_id").is_null()
    if "converted_date" in cols:
        conv = conv | ~nw.col("converted_date").is_null()
    lf = lf.filter((nw.col("created_date") <= _py(cutoff)) & _between("created_date", start, end))
    hours = _response_hours(lf) if "first_response_date" in cols else nw.lit(None, dtype=nw.Float64)
    lf = lf.with_columns(_converted=conv.cast(nw.Int64), _hours=hours)
    band = (nw.when(nw.col("_hours").is_null()).then(nw.lit(4))
            .otherwise((nw.col("_hours") > 1).cast(nw.Int64) + (nw.col("_hours") > 4).cast(nw.Int64)
                       + (nw.col("_hours") > 24).cast(nw.Int64)))
    lf = lf.with_columns(_band=band)
    if activities is not None:
        acts = _lazy(activities)
        if "lead_id" in _cols(acts) and "lead_id" in cols:
            per_lead = (acts.filter(~nw.col("lead_id").is_null()).group_by("lead_id")
                        .agg(_acts=nw.len()))
            joined = hashed_left_join(lf, per_lead, "lead_id") if hashed else None
            lf = (joined if joined is not None else lf.join(per_lead, on="lead_id", how="left")).with_columns(
                _acts=nw.col("_acts").fill_null(0))
        else:
            activities = None
    if activities is None:
        lf = lf.with_columns(_acts=nw.lit(None, dtype=nw.Float64))
    lf = lf.with_columns(_aband=nw.when(nw.col("_acts") >= 3).then(nw.lit(3)).otherwise(nw.col("_acts")))
    return lf


def lead_cells(leads, *, start=None, end=None, cutoff, activities=None) -> pd.DataFrame:
    """Mature leads counted per ``owner, source, response_band, activity_band`` with ``leads,
    converted, hours_sum`` (small: at most reps x sources x 5 x 4 rows), sorted."""
    df = _lead_cells_pandas(leads, activities, start=start, end=end, cutoff=cutoff)
    for hashed in (True, False):
        if df is not None:
            break
        lf = lead_frame(leads, start=start, end=end, cutoff=cutoff, activities=activities, hashed=hashed)
        cols = _cols(lf)
        keys = [c for c in ("owner", "source") if c in cols]
        clash = [nw.col(CLASH).sum().alias(CLASH)] if CLASH in cols else []
        out = (lf.group_by(*keys, "_band", "_aband", drop_null_keys=False)
               .agg(nw.len().alias("leads"), nw.col("_converted").sum().alias("converted"),
                    nw.col("_hours").sum().alias("hours_sum"), *clash))
        df = _done(out)
        if clash:  # two lead ids with one hash (odds about n^2 / 2^64): join on the ids instead
            df = df.drop(columns=CLASH) if df[CLASH].sum() == 0 else None
    if "owner" not in df:
        df["owner"] = None
    if "source" not in df:
        df["source"] = "all"
    df["response_band"] = pd.Categorical(np.asarray(RESPONSE_BANDS, dtype=object)[df["_band"].astype(int)],
                                         categories=RESPONSE_BANDS, ordered=True)
    ab = df["_aband"]
    df["activity_band"] = pd.Categorical(
        [None if pd.isna(a) else ACTIVITY_BANDS[int(a)] for a in ab], categories=ACTIVITY_BANDS, ordered=True)
    df = df[["owner", "source", "response_band", "activity_band", "leads", "converted", "hours_sum"]].copy()
    df["leads"] = df["leads"].astype("int64")
    df["converted"] = df["converted"].fillna(0).astype("int64")
    return df.sort_values(["owner", "source", "response_band", "activity_band"]).reset_index(drop=True)


def response_medians(leads, *, groups: dict[str, list[str]] | None = None, start=None, end=None,
                     cutoff) -> pd.DataFrame:
    """Median first-response hours of mature, answered leads per owner, and per group of owners
    (``groups``: label -> owners, e.g. teams and the company). Columns ``group, responses,
    median_hours`` where ``group`` is an owner name or a group label."""
    lf = lead_frame(leads, start=start, end=end, cutoff=cutoff).filter(~nw.col("_hours").is_null())
    per_owner = _done(lf.filter(~nw.col("owner").is_null()).group_by("owner")
                      .agg(responses=nw.len(), median_hours=nw.col("_hours").median()))
    per_owner = per_owner.rename(columns={"owner": "group"})
    rows = [per_owner]
    for label, owners in (groups or {}).items():
        g = _done(lf.filter(nw.col("owner").is_in(list(owners)))
                  .select(responses=nw.len(), median_hours=nw.col("_hours").median()))
        rows.append(g.assign(group=label))
    out = pd.concat(rows, ignore_index=True)[["group", "responses", "median_hours"]]
    return out.sort_values("group").reset_index(drop=True)


def activity_scan(activities, *, start=None, end=None) -> pd.DataFrame:
    """Per owner: ``activities`` in [start, end] and ``deal_activities`` (those linked to a deal)."""
    lf = _lazy(activities)
    cols = _cols(lf)
    fast = _owner_counts(activities, "activity_date", start, end, counts={"activities": None},
                         present={"deal_activities": "opportunity_id" if "opportunity_id" in cols else None})
    if fast is not None:
        return fast
    on_deal = (~nw.col("opportunity_id").is_null()) if "opportunity_id" in cols else nw.lit(False)
    out = (lf.filter(_between("activity_date", start, end) & ~nw.col("owner").is_null())
           .with_columns(_deal=on_deal.cast(nw.Int64))
           .group_by("owner").agg(activities=nw.len(), deal_activities=nw.col("_deal").sum()).sort("owner"))
    return _done(out)


def _owner_counts(frame, date_col: str, start, end, *, counts: dict, present: dict) -> pd.DataFrame | None:
    """Rows per owner with ``date_col`` in [start, end] (owner present), on pandas (numpy) or DuckDB (one
    aggregate): ``owner``, then ``counts`` (name -> None, all rows) and ``present`` (name -> a column counted where
    it is not missing, or None for 0), sorted by owner. None for another engine or dates that are not naive
    datetime64 / DATE / TIMESTAMP (the caller's narwhals scan then runs)."""
    from ..engines.ops import count_groups

    if nw.dependencies.is_pandas_dataframe(frame):
        d = _dates(frame[date_col])
        if d is None:
            return None
        owner = frame["owner"].to_numpy()
        keep = np.flatnonzero(pd.notna(owner) & _np_between(d, start, end))
        g = count_groups({"owner": owner[keep]}, counts={
            k: np.zeros(len(keep), dtype=bool) if c is None else pd.notna(frame[c].to_numpy()[keep])
            for k, c in present.items()})
        if g is None:
            return None
        g = g.rename(columns={"n": next(iter(counts))})
    elif nw.dependencies.is_duckdb_relation(frame):
        types = dict(zip(frame.columns, (str(t) for t in frame.types), strict=True))
        if types.get(date_col) not in ("TIMESTAMP", "DATE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
            return None
        cond = ["owner IS NOT NULL"] + [f"{date_col} {op} {_sql_ts(v)}" for op, v in ((">=", start), ("<=", end))
                                         if v is not None]
        aggs = [f"count(*) AS {next(iter(counts))}"] + [f"count({c}) AS {k}" if c else f"0 AS {k}"
                                                         for k, c in present.items()]
        g = frame.filter(" AND ".join(cond)).aggregate(f"owner, {', '.join(aggs)}").df()
    else:
        return None
    for c in [*counts, *present]:
        g[c] = g[c].astype("int64")
    return g[["owner", *counts, *present]].sort_values("owner", kind="stable").reset_index(drop=True)


def csat_scan(csat, *, start=None, end=None, satisfied_share: float = 0.8) -> pd.DataFrame:
    """Per owner: ``csat_responses, csat_sum, csat_sumsq, csat_satisfied`` (score / scale_max >=
    ``satisfied_share``, i.e. 4-5 on a 1-5 scale; scale_max defaults to 5)."""
    lf = _lazy(csat)
    cols = _cols(lf)
    fast = _csat_scan_direct(csat, cols, start=start, end=end, satisfied_share=satisfied_share)
    if fast is not None:
        return fast
    scale = nw.col("scale_max").fill_null(5.0) if "scale_max" in cols else nw.lit(5.0)
    out = (lf.filter(_between("survey_date", start, end) & ~nw.col("owner").is_null()
                     & ~nw.col("score").is_null())
           .with_columns(_sat=(nw.col("score") / scale >= satisfied_share).cast(nw.Int64),
                         _sq=nw.col("score") * nw.col("score"))
           .group_by("owner")
           .agg(csat_responses=nw.len(), csat_sum=nw.col("score").sum(), csat_sumsq=nw.col("_sq").sum(),
                csat_satisfied=nw.col("_sat").sum())
           .sort("owner"))
    return _done(out)


CSAT_COLUMNS = ["owner", "csat_responses", "csat_sum", "csat_sumsq", "csat_satisfied"]


def _csat_scan_direct(frame, cols, *, start, end, satisfied_share: float) -> pd.DataFrame | None:
    """:func:`csat_scan` on pandas (numpy) or DuckDB (one aggregate); None otherwise (the narwhals scan runs)."""
    from ..engines.ops import count_groups

    if nw.dependencies.is_pandas_dataframe(frame):
        d = _dates(frame["survey_date"])
        if d is None:
            return None
        owner = frame["owner"].to_numpy()
        score = frame["score"].to_numpy(dtype="float64", na_value=np.nan)
        keep = np.flatnonzero(pd.notna(owner) & ~np.isnan(score) & _np_between(d, start, end))
        x = score[keep]
        scale = (frame["scale_max"].to_numpy(dtype="float64", na_value=np.nan)[keep] if "scale_max" in cols
                 else np.full(len(keep), 5.0))
        scale = np.where(np.isnan(scale), 5.0, scale)
        g = count_groups({"owner": owner[keep]}, counts={"csat_satisfied": x / scale >= satisfied_share},
                         sums={"csat_sum": x, "csat_sumsq": x * x})
        if g is None:
            return None
        g = g.rename(columns={"n": "csat_responses"})
    elif nw.dependencies.is_duckdb_relation(frame):
        types = dict(zip(frame.columns, (str(t) for t in frame.types), strict=True))
        if types.get("survey_date") not in ("TIMESTAMP", "DATE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
            return None
        cond = ["owner IS NOT NULL", "score IS NOT NULL"] + [f"survey_date {op} {_sql_ts(v)}" for op, v in
                                                             ((">=", start), ("<=", end)) if v is not None]
        scale = "coalesce(CAST(scale_max AS DOUBLE), 5.0)" if "scale_max" in cols else "5.0"
        x = "CAST(score AS DOUBLE)"
        g = frame.filter(" AND ".join(cond)).aggregate(
            f"owner, count(*) AS csat_responses, sum({x}) AS csat_sum, sum({x} * {x}) AS csat_sumsq, "
            f"count(*) FILTER (WHERE {x} / {scale} >= {float(satisfied_share)!r}) AS csat_satisfied").df()
    else:
        return None
    for c in ("csat_responses", "csat_satisfied"):
        g[c] = g[c].astype("int64")
    return g[CSAT_COLUMNS].sort_values("owner", kind="stable").reset_index(drop=True)


def _lead_cells_pandas(leads, activities, *, start, end, cutoff) -> pd.DataFrame | None:
    """The grouped cells of :func:`lead_cells` for pandas tables in numpy (the same columns as its narwhals scan:
    ``owner, source, _band, _aband, leads, converted, hours_sum``): activities counted per lead id, the leads' and
    the activities' ids hashed together once; None when a table is not pandas or a date column is not naive
    datetime64."""
    from ..engines.ops import count_groups

    if not nw.dependencies.is_pandas_dataframe(leads) or (
            activities is not None and not nw.dependencies.is_pandas_dataframe(activities)):
        return None
    cols = list(leads.columns)
    created = _dates(leads["created_date"])
    first = _dates(leads["first_response_date"]) if "first_response_date" in cols else None
    if created is None or ("first_response_date" in cols and first is None):
        return None
    keep = _np_between(created, None, cutoff) & _np_between(created, start, end)
    keep = np.flatnonzero(keep)
    conv = np.zeros(len(keep), dtype=bool)
    for c in ("opportunity_id", "converted_date"):
        if c in cols:
            conv |= pd.notna(leads[c].to_numpy()[keep])
    if first is not None:
        delta = (first[keep] - created[keep]).astype(np.int64)
        hours = np.where(np.isnat(first[keep]) | np.isnat(created[keep]), np.nan, delta * 1e-9 / 3600.0)
    else:
        hours = np.full(len(keep), np.nan)
    with np.errstate(invalid="ignore"):
        band = np.where(np.isnan(hours), 4, (hours > 1).astype(np.int64) + (hours > 4) + (hours > 24))
    aband = np.full(len(keep), np.nan)
    if activities is not None and "lead_id" in activities.columns and "lead_id" in cols:
        lid = leads["lead_id"].to_numpy()[keep]
        # one hash of the leads' and the activities' ids together (missing ids -> -1, not counted)
        codes, uniq = pd.factorize(np.concatenate([lid, activities["lead_id"].to_numpy()]))
        mine, theirs = codes[:len(lid)], codes[len(lid):]
        n_per = np.bincount(theirs[theirs >= 0], minlength=len(uniq))
        acts = np.where(mine >= 0, n_per[np.clip(mine, 0, None)] if len(uniq) else 0, 0)
        aband = np.minimum(acts, 3).astype(float)
    keys = {c: leads[c].to_numpy()[keep] for c in ("owner", "source") if c in cols}
    g = count_groups({**keys, "_band": band, "_aband": aband}, counts={"converted": conv}, sums={"hours_sum": hours})
    if g is None:
        return None
    return g.rename(columns={"n": "leads"})
