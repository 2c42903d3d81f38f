"""KPI time series for monitoring (issue 9, private): row-level scans -> one row per KPI × segment × period.

:func:`kpi_series` (re-exported by :mod:`salesops_kit.monitor`) runs every scan below for a Dataset; the
monitored KPIs themselves are :data:`salesops_kit.stats.kpi_specs.KPI_SPECS`.

The row-level work (filters, per-day aggregation, the few raw values a bootstrap needs) runs through
narwhals, so pandas, Polars and DuckDB tables are accepted; days are rolled up to weeks, months or
quarters on the small daily result with pandas. Definitions are the registry's:

* ``win_rate`` = won / (won + lost) among deals closed in the period (``funnel.win_rate``, "closed");
  ``deals_won``, ``won_revenue`` (sum of won amounts), ``avg_won_deal_size`` by close date;
* ``lead_conversion_rate`` = leads with an opportunity / leads created in the period, only leads at
  least ``maturity_days`` old (``funnel.lead_funnel``); younger cohorts are marked partial;
* ``first_response_median_hours`` by lead creation date (``reps`` definition);
* ``new_customers`` = customers whose first order falls in the period, ``cac`` = spend in the period /
  new customers (months and quarters only);
* ``csat_mean``, ``csat_satisfied_share`` (score / scale_max >= 0.8, i.e. 4–5 of 5, as ``reps``) on
  answers whose scale is not 0–10; ``nps`` = promoters (9–10) − detractors (0–6) on 0–10 answers.
"""

from __future__ import annotations

import warnings

import narwhals as nw
import numpy as np
import pandas as pd

from ..engines.ops import as_pylit, columns, count_true, lazy, seconds_between
from ..engines.ops import collect as _collect
from ..engines.pandas_fast import group_agg
from ..stats.kpi_specs import KPI_SPECS
from ..tools.validation import check_options, option_error

FREQ = {"W": "W-SUN", "M": "M", "Q": "Q"}
YEAR_LAG = {"W": 52, "M": 12, "Q": 4}
SERIES_COLUMNS = ["kpi", "kind", "segment", "period", "period_end", "partial", "days", "n", "successes",
                  "detractors", "total", "value", "ci_low", "ci_high", "unit_var", "low_volume", "values"]


OPP_SEGMENTS = ("team", "owner", "lead_source")
LEAD_SEGMENTS = {"source": "lead_source", "owner": "owner"}
ORDER_SEGMENTS = ("channel",)
CSAT_SEGMENTS = ("team", "owner")


def collect(lf) -> pd.DataFrame:
    """``_funnel_scan.collect`` without pandas' false-positive SettingWithCopyWarning (the frame is new)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.SettingWithCopyWarning)
        return _collect(lf)


def check_period(period: str) -> str:
    p = str(period).upper()
    if p not in FREQ:
        raise option_error("period", period, {"W": "weeks from Monday", "M": "months", "Q": "quarters"})
    return p


def period_start(dates, period: str) -> pd.Series:
    """Start (midnight) of the calendar period containing each date."""
    return pd.Series(pd.to_datetime(dates)).dt.to_period(FREQ[period]).dt.start_time


def period_end(starts, period: str) -> pd.Series:
    """Last day (midnight) of the period starting at each start."""
    return pd.Series(pd.to_datetime(starts)).dt.to_period(FREQ[period]).dt.end_time.dt.normalize()


def last_complete_period(as_of, period: str) -> pd.Timestamp:
    """Start of the last period whose last day is on or before ``as_of``."""
    p = pd.Timestamp(as_of).to_period(FREQ[period])
    if pd.Timestamp(as_of).normalize() >= p.end_time.normalize():
        return p.start_time
    return (p - 1).start_time


def shift_period(start: pd.Timestamp, period: str, k: int) -> pd.Timestamp:
    """Start of the period ``k`` periods before the one starting at ``start``."""
    return (pd.Timestamp(start).to_period(FREQ[period]) - k).start_time


def period_name(start, period: str = "M", lang: str | None = None) -> str:
    """A period as a manager reads it: ``November 2025``, ``Q4 2025``, ``week of 2025-11-03`` (Chinese:
    ``2025年11月``, ``2025年第4季度``, ``2025年11月3日当周``)."""
    from ..i18n import current_lang, format_date, format_month

    d = pd.Timestamp(start)
    zh = (lang or current_lang()).lower().startswith("zh")
    if period == "M":
        return format_month(d, "zh") if zh else d.strftime("%B %Y")
    if period == "Q":
        q = (d.month - 1) // 3 + 1
        return f"{d.year}年第{q}季度" if zh else f"Q{q} {d.year}"
    monday = d.to_period(FREQ["W"]).start_time
    return f"{format_date(monday, 'zh')}当周" if zh else f"week of {format_date(monday, 'en')}"


def kpi_windows(rv) -> dict[str, str]:
    """The window each kind of monitoring KPI row covers, in the report language: ``all`` (CSAT, NPS: every answer
    up to the as-of date), ``review`` (attainment: ``November 2025``), ``pop`` / ``yoy`` (a change: ``November
    2025 vs October 2025``) and ``alerts`` (``12 months to November 2025``). Findings quote the same words."""
    from ..i18n import tr

    before = {c: period_name(shift_period(rv.review, rv.period, k), rv.period) for c, k in
              (("pop", 1), ("yoy", YEAR_LAG[rv.period]))}
    return {"all": tr("all history"), "review": rv.name,
            **{c: tr("{period} vs {base}", period=rv.name, base=b) for c, b in before.items()},
            "alerts": tr("{n} months to {period}", n=len(rv.window), period=rv.name) if rv.period == "M" else
            tr("{n} periods to {period}", n=len(rv.window), period=rv.name)}


def parse_review(review, period: str) -> pd.Timestamp:
    """``"2025-11"``, ``"2025Q4"``, a date inside a week, or a Timestamp -> the period's start."""
    try:
        return pd.Period(str(review) if not isinstance(review, pd.Timestamp) else review, FREQ[period]).start_time
    except (ValueError, TypeError):
        try:
            return pd.Timestamp(review).to_period(FREQ[period]).start_time
        except (ValueError, TypeError):
            raise ValueError(f"review period {review!r} is not a {period} period; give e.g. '2025-11' (month), "
                             "'2025Q4' (quarter) or a date inside the week.") from None


def _grid(first: pd.Timestamp, last: pd.Timestamp, period: str) -> pd.DatetimeIndex:
    return pd.period_range(first, last, freq=FREQ[period]).start_time


def _seg_label(col: str | None, value) -> str:
    return "all" if col is None else f"{col}={value}"


def _day_end(as_of) -> object:
    return as_pylit(pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1))


# ---- rolling daily aggregates up to periods --------------------------------------------------------

def rollup(daily: pd.DataFrame, *, kpi: str, kind: str, period: str, as_of, segments: dict[str, str],
           values: pd.DataFrame | None = None, immature_from=None, first=None) -> pd.DataFrame:
    """Daily aggregates -> series rows (``SERIES_COLUMNS``) overall and per segment column.

    ``daily`` has ``_day`` plus the segment columns and ``n`` (rows), ``s`` (sum of the KPI's 0/1 or
    amount), optionally ``d`` (detractors, NPS) and ``spend`` (CAC). ``values`` (``_day``, segment
    columns, ``x``) holds raw values for means, medians and sums. ``segments`` maps a column of
    ``daily`` to its label in ``segment`` (``source`` -> ``lead_source``). Periods run from the first
    with data (per segment) to the as-of period; a period not over at ``as_of`` (or younger than the
    maturity cut-off ``immature_from``) is ``partial``.
    """
    as_of = pd.Timestamp(as_of).normalize()
    if daily is None or len(daily) == 0:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    d = daily.copy()
    d["period"] = period_start(d["_day"], period).to_numpy()
    if values is not None and len(values):
        v = values.copy()
        v["period"] = period_start(v["_day"], period).to_numpy()
    else:
        v = None
    first = d["period"].min() if first is None else first
    grid = _grid(first, as_of, period)
    ends = period_end(grid, period).to_numpy()
    out = []
    for col in [None, *segments]:
        keys = ["period"] if col is None else [col, "period"]
        agg = [c for c in ("n", "s", "d", "spend") if c in d]
        g = d.groupby(keys, dropna=True)[agg].sum()
        # every segment's periods, from its first period with data (the company: ``first``) to as-of, built
        # for all segments at once: segments in sorted order, periods ascending within each
        if col is None:
            segs, starts = [None], np.array([np.datetime64(pd.Timestamp(first), "ns")])
        else:
            st = g.reset_index().groupby(col, sort=True)["period"].min()
            segs, starts = list(st.index), st.to_numpy(dtype="datetime64[ns]")
        if not len(segs):
            continue
        gridv = grid.to_numpy(dtype="datetime64[ns]")
        off = np.searchsorted(gridv, starts, side="left")
        m = len(gridv) - off
        pos = np.repeat(off, m) + (np.arange(m.sum()) - np.repeat(np.cumsum(m) - m, m))
        seg_rep = np.repeat(np.arange(len(segs)), m)
        per = gridv[pos]
        if col is None:
            gg = g.reindex(pd.DatetimeIndex(per, name="period"))
        else:
            keys_idx = pd.MultiIndex.from_arrays([st.index[seg_rep], per], names=keys)
            gg = g.reindex(keys_idx)
        labels = np.array([_seg_label(segments.get(col, col), sv) for sv in segs], dtype=object)
        frame = pd.DataFrame({"kpi": kpi, "kind": kind, "segment": labels[seg_rep],
                              "period": pd.DatetimeIndex(per), "period_end": ends[pos]})
        frame["partial"] = frame["period_end"] > as_of
        if immature_from is not None:
            frame["partial"] |= frame["period_end"] >= pd.Timestamp(immature_from)
        days_full = (frame["period_end"] - frame["period"]).dt.days + 1
        days_part = (as_of - frame["period"]).dt.days + 1
        frame["days"] = np.minimum(days_full, days_part).astype(float)
        frame["n"] = gg["n"].fillna(0).to_numpy(dtype=float)
        frame["successes"] = gg["s"].fillna(0).to_numpy(dtype=float) if kind in ("rate", "nps") else np.nan
        frame["detractors"] = gg["d"].fillna(0).to_numpy(dtype=float) if kind == "nps" else np.nan
        frame["total"] = gg["spend"].to_numpy(dtype=float) if "spend" in gg else \
            gg["s"].fillna(0).to_numpy(dtype=float) if "s" in gg else np.nan
        if v is not None:
            vg = _split_values(v, keys)
            empty = np.array([])
            frame["values"] = [np.asarray(vg.get(p if col is None else (segs[i], p), empty), dtype=float)
                               for i, p in zip(seg_rep, pd.DatetimeIndex(per), strict=True)]
        else:
            frame["values"] = None
        out.append(frame)
    res = pd.concat(out, ignore_index=True)
    return _values(res, kind)


def _split_values(v: pd.DataFrame, keys: list[str]) -> dict:
    """Raw values per group key (a tuple for several keys, the period alone for one), without a
    Python-level groupby loop."""
    vv = v.dropna(subset=keys)
    if not len(vv):
        return {}
    g = vv.groupby(keys, sort=True)
    codes = g.ngroup().to_numpy()
    x = vv["x"].to_numpy(dtype=float)
    order = np.lexsort((x, codes))  # sorted within each group: a bootstrap's draws must not depend on row order,
    x = x[order]                    # which a lazy engine (DuckDB) does not keep
    sizes = np.bincount(codes)
    parts = np.split(x, np.cumsum(sizes)[:-1])
    idx = g.size().index
    return dict(zip(idx, parts, strict=True))


def _values(f: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Fill ``value`` and its 95% interval from the sufficient statistics of each kind."""
    from scipy import stats as st

    from ..stats import nps_interval, wilson_interval

    n = f["n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "rate":
            k = f["successes"].to_numpy(dtype=float)
            f["value"] = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
            lo, hi = wilson_interval(k, n)
            f["ci_low"], f["ci_high"] = lo, hi
        elif kind == "count":
            f["value"] = n
            f["ci_low"] = np.where(n > 0, st.chi2.ppf(0.025, 2 * n) / 2, 0.0)
            f["ci_high"] = st.chi2.ppf(0.975, 2 * n + 2) / 2
        elif kind == "nps":
            v, lo, hi = nps_interval(f["successes"], f["detractors"], n)
            f["value"], f["ci_low"], f["ci_high"] = v, lo, hi
        elif kind == "ratio":
            tot = f["total"].to_numpy(dtype=float)
            f["value"] = np.where(n > 0, tot / np.where(n > 0, n, 1), np.nan)
            # Poisson interval of the customer count, spend fixed
            f["ci_low"] = np.where(n > 0, tot / (st.chi2.ppf(0.975, 2 * n + 2) / 2), np.nan)
            f["ci_high"] = np.where(n > 0, tot / np.where(n > 0, st.chi2.ppf(0.025, 2 * n) / 2, 1), np.nan)
        else:
            stat = {"mean": np.mean, "median": np.median, "sum": np.sum}[kind]
            vals = f["values"]
            f["value"] = [float(stat(x)) if x is not None and len(x) else (0.0 if kind == "sum" else np.nan)
                          for x in vals]
            if kind == "mean":
                se = [float(np.std(x, ddof=1) / np.sqrt(len(x))) if x is not None and len(x) > 1 else np.nan
                      for x in vals]
                tq = st.t.ppf(0.975, np.maximum(n - 1, 1))
                f["ci_low"] = f["value"] - tq * np.asarray(se)
                f["ci_high"] = f["value"] + tq * np.asarray(se)
            elif kind == "sum":
                se = np.sqrt([float(np.sum(np.square(x))) if x is not None else np.nan for x in vals])
                f["ci_low"], f["ci_high"] = f["value"] - 1.96 * se, f["value"] + 1.96 * se
            else:
                from ..stats import median_ci

                ci = [median_ci(x)[1:] if x is not None and len(x) else (np.nan, np.nan) for x in vals]
                f["ci_low"] = [c[0] for c in ci]
                f["ci_high"] = [c[1] for c in ci]
    f["unit_var"] = np.nan
    if kind == "mean":
        f["unit_var"] = [float(np.var(x, ddof=1)) if x is not None and len(x) > 1 else np.nan for x in f["values"]]
    elif kind == "sum":  # the period's sum of squared amounts (compound-Poisson variance of the total)
        f["unit_var"] = [float(np.sum(np.square(x))) if x is not None else 0.0 for x in f["values"]]
    elif kind == "nps":
        with np.errstate(invalid="ignore", divide="ignore"):
            pp, pm = f["successes"] / f["n"], f["detractors"] / f["n"]
            f["unit_var"] = (pp + pm - (pp - pm) ** 2) * f["n"] / (f["n"] - 1)
    f["low_volume"] = False
    return f[SERIES_COLUMNS]


# ---- scans per table ------------------------------------------------------------------------------

def _present(lf, cols) -> list[str]:
    have = set(columns(lf))
    return [c for c in cols if c in have]


def opportunity_series(opps, *, stages, period: str, as_of, kpis, money_by: str | None = None) -> list[pd.DataFrame]:
    """win_rate, deals_won, won_revenue, avg_won_deal_size by close date, overall and per team / owner /
    lead source (those present). Months and quarters take won and lost counts from ``funnel.win_rate``;
    weeks (which it does not offer) use a daily scan with the same definition.

    ``money_by="currency"`` (deals in several currencies, no rates): the money KPIs are per ``currency=XXX``
    only, with no company, team, owner or source series (each would add amounts in different currencies)."""
    lf = lazy(opps, table="opportunities")
    segs = _present(lf, OPP_SEGMENTS)
    closed = list(stages.won + stages.lost)
    lf = lf.filter(~nw.col("close_date").is_null() & (nw.col("close_date") < _day_end(as_of))
                   & nw.col("stage").is_in(closed))
    lf = lf.with_columns(_day=nw.col("close_date").dt.truncate("1d"),
                         _won=nw.col("stage").is_in(list(stages.won)).cast(nw.Int64))
    out = []
    if period in ("M", "Q"):  # the funnel's own win rate (definition "closed"), finest cells, summed up
        from ..funnel.stages import win_rate

        w = win_rate(opps, by=segs, period=period, stages=stages).table
        w = w[pd.to_datetime(w["period"]) <= pd.Timestamp(as_of)]
        daily = w[segs].assign(_day=pd.to_datetime(w["period"]), n=(w["won"] + w["lost"]).astype(float),
                               s=w["won"].astype(float))
        daily = daily[daily["n"] > 0]
        dw = daily.assign(n=daily["s"])[lambda d: d["n"] > 0]
    else:  # weeks: the same definition from a daily scan
        daily = collect(lf.group_by("_day", *segs, drop_null_keys=False).agg(n=nw.len(), s=nw.col("_won").sum()))
        dw = daily.assign(n=daily["s"])[lambda d: d["n"] > 0] if len(daily) else daily
    if not len(daily):
        return out
    first = period_start(pd.Series([daily["_day"].min()]), period).iloc[0]
    sm = {c: c for c in segs}
    if "win_rate" in kpis:
        out.append(rollup(daily, kpi="win_rate", kind="rate", period=period, as_of=as_of, segments=sm, first=first))
    won = lf.filter(nw.col("_won") == 1)
    if "deals_won" in kpis and len(dw):
        out.append(rollup(dw[["_day", *segs, "n"]], kpi="deals_won", kind="count", period=period, as_of=as_of,
                          segments=sm, first=first))
    if {"won_revenue", "avg_won_deal_size"} & set(kpis):
        msegs, msm = segs, sm
        if money_by is not None:
            won = won.with_columns(nw.col(money_by).cast(nw.String).str.strip_chars().str.to_uppercase())
            msegs, msm = [money_by], {money_by: money_by}
        vals = collect(won.filter(~nw.col("amount").is_null()).select("_day", *msegs, x=nw.col("amount")))
        dv = vals.groupby(["_day", *msegs], dropna=False).size().rename("n").reset_index() if len(vals) else None
        if dv is not None:
            dv["s"] = 0.0
            for kpi, kind in (("won_revenue", "sum"), ("avg_won_deal_size", "mean")):
                if kpi in kpis:
                    part = rollup(dv, kpi=kpi, kind=kind, period=period, as_of=as_of, segments=msm, values=vals,
                                  first=first)
                    out.append(part if money_by is None else part[part["segment"] != "all"])
    return out


def lead_series(leads, *, period: str, as_of, kpis, maturity_days: int = 90) -> list[pd.DataFrame]:
    """lead_conversion_rate (mature leads only) and first_response_median_hours by lead creation date."""
    lf = lazy(leads, table="leads")
    have = columns(lf)
    segs = [c for c in LEAD_SEGMENTS if c in have]
    sm = {c: LEAD_SEGMENTS[c] for c in segs}
    lf = lf.filter(~nw.col("created_date").is_null() & (nw.col("created_date") < _day_end(as_of)))
    lf = lf.with_columns(_day=nw.col("created_date").dt.truncate("1d"))
    out = []
    conv = [c for c in ("opportunity_id", "converted_date") if c in have]
    if "lead_conversion_rate" in kpis and conv:
        flag = nw.lit(False)
        for c in conv:
            flag = flag | ~nw.col(c).is_null()
        cutoff = pd.Timestamp(as_of).normalize() - pd.Timedelta(days=int(maturity_days))
        # converted leads counted (a plain integer on every engine; DuckDB's sum of a cast flag is a HUGEINT that
        # reaches pandas as Decimal objects, one per day and segment)
        daily = collect(lf.with_columns(_c=flag).group_by("_day", *segs, drop_null_keys=False)
                        .agg(n=nw.len(), s=count_true("_c", lf)))
        if len(daily):
            out.append(rollup(daily, kpi="lead_conversion_rate", kind="rate", period=period, as_of=as_of,
                              segments=sm, immature_from=cutoff + pd.Timedelta(days=1)))
    if "first_response_median_hours" in kpis and "first_response_date" in have:
        hrs = seconds_between(nw.col("created_date"), nw.col("first_response_date"), frame=lf) / 3600.0
        vals = collect(lf.filter(~nw.col("first_response_date").is_null()).select("_day", *segs, x=hrs))
        if len(vals):
            dv = vals.groupby(["_day", *segs], dropna=False).size().rename("n").reset_index()
            dv["s"] = 0.0
            out.append(rollup(dv, kpi="first_response_median_hours", kind="median", period=period, as_of=as_of,
                              segments=sm, values=vals))
    return out


def order_series(orders, spend, *, period: str, as_of, kpis) -> list[pd.DataFrame]:
    """new_customers by first-order date (per acquisition channel) and CAC = spend / new customers.

    Months and quarters with spend take both from ``costs.cac`` (per channel, summed for the company);
    weeks (no CAC: spend is monthly) count first orders from a scan with the same definition."""
    lf = lazy(orders, table="orders")
    have = columns(lf)
    segs = [c for c in ORDER_SEGMENTS if c in have]
    lf = lf.filter(~nw.col("order_date").is_null() & (nw.col("order_date") < _day_end(as_of)))
    aggs = [nw.col("order_date").min().alias("_first")]
    firsts = collect(lf.group_by("customer_id").agg(*aggs))
    if segs:  # acquisition channel = channel of the first order
        ch = collect(group_agg(lf.select("customer_id", "order_date", *segs).join(
            lf.group_by("customer_id").agg(_first=nw.col("order_date").min()), on="customer_id")
            .filter(nw.col("order_date") == nw.col("_first")), ["customer_id"], str_min={c: c for c in segs}))
        firsts = firsts.merge(ch, on="customer_id", how="left")
    if not len(firsts):
        return []
    firsts["_day"] = pd.to_datetime(firsts["_first"]).dt.normalize()
    daily = firsts.groupby(["_day", *segs], dropna=False).size().rename("n").reset_index()
    daily["s"] = 0.0
    out = []
    sm = {c: c for c in segs}
    use_costs = (period in ("M", "Q") and spend is not None and "channel" in segs  # row count on any engine
                 and lazy(spend, table="marketing_spend").select(nw.len()).collect().item() > 0)
    if use_costs:  # the cost module's CAC and new customers per channel (months, quarters)
        from ..value.costs import cac

        c = cac(spend, orders, by="channel", period=period, as_of=as_of)
        c = c[(c["scope"] == "channel") & (pd.to_datetime(c["period"]) <= pd.Timestamp(as_of))]
        both = pd.DataFrame({"_day": pd.to_datetime(c["period"]), "channel": c["channel"],
                             "n": c["new_customers"].astype(float), "s": 0.0, "spend": c["spend"].astype(float)})
        # customers without a channel still count in the company total
        nochan = daily[daily["channel"].isna()] if "channel" in daily else daily.iloc[0:0]
        nc = pd.concat([both[both["n"] > 0][["_day", "channel", "n", "s"]], nochan], ignore_index=True)
    else:
        nc, both = daily, None
    if "new_customers" in kpis:
        out.append(rollup(nc, kpi="new_customers", kind="count", period=period, as_of=as_of, segments=sm))
    if "cac" in kpis and both is not None:
        out.append(rollup(both, kpi="cac", kind="ratio", period=period, as_of=as_of, segments={"channel": "channel"}))
    return out


def csat_series(csat, *, period: str, as_of, kpis, owner_team: pd.DataFrame | None = None,
                satisfied_share: float = 0.8) -> list[pd.DataFrame]:
    """csat_mean and csat_satisfied_share on answers not on a 0–10 scale (scale_max default 5); nps on
    0–10 answers (promoters 9–10, detractors 0–6). Per owner, and per team through ``owner_team``
    (owner -> team from the opportunities)."""
    lf = lazy(csat, table="csat")
    have = columns(lf)
    lf = lf.filter(~nw.col("survey_date").is_null() & ~nw.col("score").is_null()
                   & (nw.col("survey_date") < _day_end(as_of)))
    scale = nw.col("scale_max").fill_null(5.0) if "scale_max" in have else nw.lit(5.0)
    lf = lf.with_columns(_day=nw.col("survey_date").dt.truncate("1d"), _scale=scale)
    segs = ["owner"] if "owner" in have else []
    vals = collect(lf.select("_day", *segs, "_scale", x=nw.col("score")))
    if owner_team is not None and segs and len(vals):
        vals = vals.merge(owner_team, on="owner", how="left")
        segs = ["team", "owner"]
    sm = {c: c for c in segs}
    out = []
    cs = vals[vals["_scale"] != 10].drop(columns="_scale")
    if len(cs):
        dv = cs.assign(s=(cs["x"] / vals.loc[cs.index, "_scale"] >= satisfied_share).astype(float))
        daily = dv.groupby(["_day", *segs], dropna=False).agg(n=("x", "size"), s=("s", "sum")).reset_index()
        if "csat_mean" in kpis:
            out.append(rollup(daily, kpi="csat_mean", kind="mean", period=period, as_of=as_of, segments=sm,
                              values=cs))
        if "csat_satisfied_share" in kpis:
            out.append(rollup(daily, kpi="csat_satisfied_share", kind="rate", period=period, as_of=as_of,
                              segments=sm))
    nps = vals[vals["_scale"] == 10]
    if "nps" in kpis and len(nps):
        dn = nps.assign(s=(nps["x"] >= 9).astype(float), d=(nps["x"] <= 6).astype(float))
        daily = dn.groupby(["_day", *segs], dropna=False).agg(n=("x", "size"), s=("s", "sum"),
                                                              d=("d", "sum")).reset_index()
        out.append(rollup(daily, kpi="nps", kind="nps", period=period, as_of=as_of, segments=sm))
    return out


# ---- every monitored KPI -------------------------------------------------------------------------

CSAT_MIN_RESPONSES = 10


def kpi_series(ds, *, period: str = "M", kpis=None, maturity_days: int = 90,
               min_responses: int = CSAT_MIN_RESPONSES, min_n: int = 5) -> pd.DataFrame:
    """Every monitored KPI per period, overall (``segment = "all"``) and per segment.

    Parameters
    ----------
    ds : Dataset (``load_dataset``); missing tables just drop their KPIs.
    period : ``"W"`` (weeks from Monday), ``"M"`` or ``"Q"``.
    kpis : names from ``KPI_SPECS`` (default all).
    maturity_days : leads younger than this at ``as_of`` are not counted in lead conversion (their
        periods are ``partial``), as in ``funnel.lead_funnel``.
    min_responses, min_n : a CSAT/NPS period with fewer answers than ``min_responses`` (other means,
        medians and CAC: fewer than ``min_n`` observations) is ``low_volume``: shown, never alerted.

    Returns
    -------
    DataFrame ``kpi, kind, segment, period`` (start), ``period_end, partial, days`` (days covered up to
    ``as_of``), ``n`` (trials / observations / events / new customers), ``successes, detractors, total``
    (spend for CAC, sum for totals), ``value, ci_low, ci_high, low_volume, values`` (raw values of
    means, medians and totals), sorted by kpi, segment, period.
    """
    period = check_period(period)
    wanted = list(KPI_SPECS) if kpis is None else list(kpis)
    check_options("kpi", wanted, list(KPI_SPECS), hint="Only these KPIs are monitored.")
    as_of = ds.as_of
    parts: list[pd.DataFrame] = []
    money_by = None
    if getattr(ds, "mapping", None) is not None:  # a Dataset: money in the report currency, or per currency
        from ..data.currency import converted, needs_split

        ds = converted(ds)
        money_by = "currency" if needs_split(ds, "opportunities") else None
    opps = ds.opportunities
    if row_count(opps):
        parts += opportunity_series(opps, stages=ds.stages, period=period, as_of=as_of, kpis=wanted, money_by=money_by)
    if row_count(ds.leads):
        parts += lead_series(ds.leads, period=period, as_of=as_of, kpis=wanted, maturity_days=maturity_days)
    if row_count(ds.orders):
        parts += order_series(ds.orders, ds.marketing_spend, period=period, as_of=as_of, kpis=wanted)
    if row_count(ds.csat):
        parts += csat_series(ds.csat, period=period, as_of=as_of, kpis=wanted, owner_team=owner_teams(opps))
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    s = pd.concat(parts, ignore_index=True)
    table = s["kpi"].map(lambda k: KPI_SPECS[k].table)
    kind = s["kind"]
    need = np.where(table == "csat", min_responses, min_n)
    s["low_volume"] = kind.isin(["mean", "median", "nps", "ratio"]).to_numpy() & (s["n"].to_numpy() < need)
    s["low_volume"] |= (table == "csat").to_numpy() & (s["n"].to_numpy() < need)
    return s.sort_values(["kpi", "segment", "period"], kind="stable").reset_index(drop=True)


def row_count(table) -> int:
    """Rows of a table on any engine (0 for None): narwhals ``len`` in a select, as a LazyFrame has no ``len()``."""
    return 0 if table is None else int(lazy(table).select(nw.len()).collect().item())


def owner_teams(opps) -> pd.DataFrame | None:
    """owner -> team (the team of most of the owner's deals), or None without a team column."""
    if opps is None:
        return None
    lf = lazy(opps, table="opportunities")
    if "team" not in columns(lf):
        return None
    t = collect(lf.select("owner", "team").drop_nulls().group_by("owner", "team").agg(nw.len().alias("count")))
    t = t.sort_values(["owner", "count", "team"], ascending=[True, False, True], kind="stable")
    return t.drop_duplicates("owner")[["owner", "team"]].reset_index(drop=True)
