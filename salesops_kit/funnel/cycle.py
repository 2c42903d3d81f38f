"""Sales-cycle length with open deals censored and lost deals as a competing outcome.

The naive answer (average days from created to close over won deals, as Salesforce CRM Analytics
and dbt_salesforce report it) is biased: deals still open are ignored, and so are the slow ones
that will win later. Here time runs from ``created_date`` to ``close_date``; open deals are
censored at ``as_of``; winning and losing are competing outcomes. The cumulative incidence of
winning (Aalen–Johansen, lifelines) gives the eventual win probability and, normalised by it, the
distribution of days to win among deals that win, whose median is the kit's sales cycle. A
Kaplan–Meier median of days to close (either outcome) and the naive won-only mean (labelled
biased) are shown beside it.

The row-level scan is one narwhals group-by (segment × days × outcome counts); the survival
estimators run on that small table with frequency weights.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import narwhals as nw
import numpy as np
import pandas as pd

from ..data.schema import StageModel
from ..engines.ops import (
    DUCKDB_DATES,
    LOST,
    OUTCOME_FLAGS,
    UNKNOWN,
    WON,
    as_list,
    as_pylit,
    collect,
    columns,
    count_groups,
    days_between,
    has_outcome_flags,
    lazy,
    outcome_code,
    raise_unknown_stages,
    resolve,
    sort_out,
    sql_ident,
)
from ..tools.results import Result
from ..tools.validation import require_columns as check_columns

__all__ = ["SalesCycle", "sales_cycle", "cycle_counts", "aalen_johansen", "median_days_to_win", "NAIVE_LABEL"]

NAIVE_LABEL = "biased: mean over won deals only (open deals and slow future wins ignored)"
_EPS = 1e-6  # won events are placed just before lost ones on the same day (exact for tied times)
_LATE = 4  # event code of deals created after as_of (left out)

SUMMARY_COLUMNS = ["deals", "won", "lost", "open", "win_probability", "median_days_to_win", "ci_low", "ci_high",
                   "km_median_days_to_close", "km_ci_low", "km_ci_high", "naive_won_mean_days",
                   "naive_won_median_days", "naive_label"]


@dataclass(frozen=True, repr=False)
class SalesCycle(Result):
    """Result of :func:`sales_cycle`.

    Attributes
    ----------
    table : DataFrame (also ``summary()``), one row per segment: ``<by>, deals, won, lost, open, win_probability``
        (cumulative incidence of winning at the last observed day), ``median_days_to_win, ci_low,
        ci_high`` (median of days to win among eventual winners, bootstrap 95% interval),
        ``km_median_days_to_close, km_ci_low, km_ci_high`` (Kaplan–Meier, either outcome),
        ``naive_won_mean_days, naive_won_median_days, naive_label`` (biased, for comparison).
    curves : DataFrame ``<by>, days, cif_won, cif_won_ci_low, cif_won_ci_high, cif_lost, at_risk``.
    logrank : DataFrame or None — ``test, statistic, p_value, dof`` (cause-specific log-rank of
        time to win across segments) when ``by`` is given.
    counts : DataFrame ``<by>, days, event, n`` (event 0 open/censored, 1 won, 2 lost).
    as_of : Timestamp
    notes : tuple of str
    settings : the interval's ``n_boot``, ``seed`` and ``level`` (a KPI table reuses only a result made with its own).
    """

    table: pd.DataFrame
    curves: pd.DataFrame
    logrank: pd.DataFrame | None
    counts: pd.DataFrame
    by: tuple[str, ...]
    as_of: pd.Timestamp
    notes: tuple[str, ...]
    dropped: dict = field(default_factory=dict, compare=False)  # deals left out: no_dates, negative, late
    #: the interval's settings (``n_boot``, ``seed``, ``level``): whether a KPI table may reuse this result
    settings: dict = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        return f"SalesCycle({self.headline()})"

    @property
    def limitation(self) -> str | None:
        """One sentence (in the report language) when these deals cannot support the section, else None: no
        won deal (no time to win), or by segment fewer than two segments with a won deal (nothing to compare)."""
        from ..i18n import tr

        t = self.table
        if not len(t) or int(t["won"].sum()) == 0:
            bad = {k: int(self.dropped.get(k, 0)) for k in ("negative", "no_dates", "late")}
            if any(bad.values()):  # won deals may exist, none with a usable created-to-close time
                return tr("No won deal has a usable time from created to close ({negative} deal(s) closed before "
                          "they were created, {no_dates} without dates and {late} created after the as-of date "
                          "were left out): the time to win cannot be estimated.", **bad)
            return tr("No deal has been won yet: the time to win cannot be estimated.")
        if self.by and int((t["won"] > 0).sum()) < 2:
            return tr("Fewer than two values of {column} have a won deal: there is nothing to compare.",
                      column=", ".join(self.by))
        return None

    def headline(self) -> str:
        from ..i18n import tr

        if self.limitation:
            return self.limitation
        if self.by:
            return tr("Sales cycle by {column}: {n} segments.", column=", ".join(self.by), n=len(self.table))
        r = self.table.iloc[0]
        return tr("Median {days} days from created to won (95% CI {low}–{high}; open deals censored at {as_of}, "
                  "lost deals competing); naive won-only mean {mean} days (biased).",
                  days=f"{r['median_days_to_win']:.0f}", low=f"{r['ci_low']:.0f}", high=f"{r['ci_high']:.0f}",
                  as_of=self.as_of.date(), mean=f"{r['naive_won_mean_days']:.0f}")

    def plot(self, ax=None, **kwargs):
        from ..plots.funnel import plot_cumulative_incidence

        return plot_cumulative_incidence(self, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        from ..findings import escape_html
        from ..tools import show_table

        lr = "" if self.logrank is None else show_table(self.logrank)._repr_html_()
        return (f"<p><b>Sales cycle</b>: {escape_html(self.headline())}</p>"
                + show_table(self.table)._repr_html_() + lr)


def cycle_counts(opportunities, *, as_of=None, by=None, stages: StageModel) -> tuple[pd.DataFrame, pd.Timestamp, dict]:
    """The one row-level scan: deals per (segment, whole days, outcome).

    Days run from ``created_date`` to ``close_date`` for deals closed by ``as_of`` and to ``as_of``
    for the rest (censored). Returns ``(counts, as_of, dropped)`` where counts has columns
    ``<by>, days, event, n`` and dropped counts deals left out (created after as_of, no dates,
    closed before created).
    """
    by = as_list(by)
    o = lazy(opportunities)
    names = columns(o)
    check_columns(names, ["stage", "created_date", "close_date"] + by, table="opportunities",
                  purpose="the sales cycle")
    flags = has_outcome_flags(names)  # the loader's is_won / is_closed: no stage label classified
    if as_of is None:
        closed = nw.col("is_closed") if flags else outcome_code(stages).is_in([WON, LOST])
        m = collect(o.select(nw.col("created_date").max().alias("c"),
                             nw.when(closed).then(nw.col("close_date")).otherwise(None).max().alias("d")))
        as_of = pd.Series([m["c"].iloc[0], m["d"].iloc[0]]).max()
    as_of = pd.Timestamp(as_of)
    # an as-of date without a time is that whole day: a deal created at 17:16 on it is not "after the as-of date"
    # (a Salesforce org's sample deals are all created on the export day); it is censored at 0 days
    day_end = as_of + pd.Timedelta(days=1) if as_of == as_of.normalize() else None
    g = None
    if flags and nw.dependencies.is_pandas_dataframe(opportunities):
        g = _cycle_cells_pandas(opportunities, by, as_of=as_of, day_end=day_end)
    elif flags and nw.dependencies.is_duckdb_relation(opportunities):
        g = _cycle_cells_duckdb(opportunities, by, as_of=as_of, day_end=day_end)
    if g is None:
        g = _cycle_cells(opportunities, o, by, stages=stages, flags=flags, as_of=as_of, day_end=day_end)
    late = g["event"] == _LATE
    g_late = g.loc[late, "n"].sum()
    g = g[~late]
    bad_dates = g["days"].isna()
    neg = g["days"] < 0
    dropped = {"no_dates": int(g.loc[bad_dates, "n"].sum()), "negative": int(g.loc[neg & ~bad_dates, "n"].sum()),
               "late": int(g_late)}
    g = g[~bad_dates & ~neg]
    g = g.groupby(by + ["days", "event"], dropna=False, sort=True)["n"].sum().reset_index()
    for c in ("days", "event", "n"):
        g[c] = g[c].astype("int64")
    return sort_out(g, by + ["days", "event"]), as_of, dropped


def _cycle_cells(opportunities, o, by: list[str], *, stages: StageModel, flags: bool, as_of: pd.Timestamp,
                 day_end) -> pd.DataFrame:
    """:func:`cycle_counts`' scan with narwhals (any engine): ``<by>, days, event, n`` before the left-out deals are
    taken out (event 4: created after as-of; days missing or negative)."""
    o = o.select(*dict.fromkeys(by + ["created_date", "close_date"] + (list(OUTCOME_FLAGS) if flags else ["stage"])))
    if flags:
        o = o.with_columns(nw.when(nw.col("is_won")).then(WON).when(nw.col("is_closed")).then(LOST).otherwise(0)
                           .alias("_o"))
    elif nw.dependencies.is_pandas_dataframe(opportunities):  # pandas: classify the distinct labels, not every row
        from ..engines.pandas_fast import with_outcome

        o = with_outcome(o, stages)
    else:
        o = o.with_columns(outcome_code(stages).alias("_o"))
    lit = nw.lit(as_pylit(as_of))
    created = nw.col("created_date")
    late = (created >= nw.lit(as_pylit(day_end))) if day_end is not None else (created > lit)
    o = o.with_columns((nw.col("_o").is_in([WON, LOST]) & (nw.col("close_date") <= lit)).alias("_cb"))
    o = o.with_columns(
        nw.when(nw.col("_o") == UNKNOWN).then(UNKNOWN).when(late).then(_LATE)
        .when(nw.col("_cb")).then(nw.col("_o")).otherwise(0).alias("event"),
        nw.when(nw.col("_cb") | (nw.col("_o").is_in([WON, LOST]) & nw.col("close_date").is_null()))
        .then(nw.col("close_date")).when(created > lit).then(created)
        .otherwise(lit).alias("_end"),  # closed without a date: dropped below
    )
    o = o.with_columns(days_between(nw.col("created_date"), nw.col("_end"), frame=o).alias("days"))
    g = collect(o.group_by(*(by + ["days", "event"]), drop_null_keys=False).agg(nw.len().alias("n")))
    if (g["event"] == UNKNOWN).any():
        raise_unknown_stages(o, stages)
    return g


def _cycle_cells_pandas(df: pd.DataFrame, by: list[str], *, as_of: pd.Timestamp, day_end) -> pd.DataFrame | None:
    """:func:`_cycle_cells` for a pandas frame with the loader's flags, in numpy (same cells)."""
    cr, cl = df["created_date"], df["close_date"]
    if any(not pd.api.types.is_datetime64_dtype(c.dtype) or isinstance(c.dtype, pd.DatetimeTZDtype)
           for c in (cr, cl)):
        return None
    created = cr.to_numpy().astype("datetime64[ns]")
    close = cl.to_numpy().astype("datetime64[ns]")
    won = df["is_won"].to_numpy(dtype=bool, na_value=False)
    closed = df["is_closed"].to_numpy(dtype=bool, na_value=False)
    t = np.datetime64(as_of.to_datetime64(), "ns")
    cb = closed & (close <= t)  # NaT compares False
    late = (created >= np.datetime64(day_end.to_datetime64(), "ns")) if day_end is not None else (created > t)
    event = np.where(late, _LATE, np.where(cb, np.where(won, WON, LOST), 0))
    end = np.where(cb | (closed & np.isnat(close)), close, np.where(created > t, created, t))
    delta = (end - created).astype(np.int64)
    days = np.floor_divide(delta, 86_400_000_000_000).astype("float64")
    days[np.isnat(end) | np.isnat(created)] = np.nan
    g = count_groups({**{c: df[c].to_numpy() for c in by}, "days": days, "event": event})
    return g


def _cycle_cells_duckdb(rel, by: list[str], *, as_of: pd.Timestamp, day_end) -> pd.DataFrame | None:
    """:func:`_cycle_cells` on a DuckDB relation with the loader's flags, as one SQL statement (same cells; days
    are the elapsed time floored to whole days, as on the other engines)."""
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    if any(types.get(c) not in DUCKDB_DATES for c in ("created_date", "close_date")):
        return None

    q = sql_ident

    def ts(v: pd.Timestamp) -> str:
        return f"TIMESTAMP '{v.strftime('%Y-%m-%d %H:%M:%S.%f')}'"

    def col(c: str) -> str:  # DATE columns as timestamps (a cast on a TIMESTAMP column costs a pass)
        return c if types[c] == "TIMESTAMP" else f"CAST({c} AS TIMESTAMP)"

    t, cr, cl = ts(as_of), col("created_date"), col("close_date")
    late = f"{cr} >= {ts(day_end)}" if day_end is not None else f"{cr} > {t}"
    cb = f"(is_closed AND {cl} <= {t})"  # NULL (a missing flag or date) is not true: as on the other engines
    keys = ", ".join(q(c) for c in by) + (", " if by else "")
    days = (f"floor((epoch_us(CASE WHEN {cb} OR (is_closed AND {cl} IS NULL) THEN {cl} WHEN {cr} > {t} THEN {cr} "
            f"ELSE {t} END) - epoch_us({cr})) / 86400000000.0) AS days")
    event = (f"CASE WHEN {late} THEN {_LATE} WHEN {cb} THEN (CASE WHEN is_won THEN {WON} ELSE {LOST} END) ELSE 0 END "
             "AS event")
    g = rel.aggregate(f"{keys}{days}, {event}, count(*) AS n").df()  # grouped by the columns that are not aggregates
    g["days"] = g["days"].astype("float64")
    g["event"] = g["event"].astype("int64")
    g["n"] = g["n"].astype("int64")
    return g


def aalen_johansen(days, event, n):
    """Aalen–Johansen cumulative incidences on a count table (vectorised over bootstrap rows).

    ``days``/``event`` are 1-d (cells), ``n`` is (cells,) or (B, cells). Returns ``(times, cif_won,
    cif_lost, at_risk)`` with arrays of shape (T,) or (B, T). Tied won/lost/censored times follow
    the usual convention (events before censoring; identical to lifelines' estimator).
    """
    days = np.asarray(days, dtype=float)
    event = np.asarray(event)
    n = np.asarray(n, dtype=float)
    two_d = n.ndim == 2
    n = np.atleast_2d(n)
    times = np.unique(days)
    pos = np.searchsorted(times, days)
    T = len(times)
    d1 = np.zeros((n.shape[0], T))
    d2 = np.zeros((n.shape[0], T))
    tot = np.zeros((n.shape[0], T))
    np.add.at(d1.T, pos[event == 1], n[:, event == 1].T)
    np.add.at(d2.T, pos[event == 2], n[:, event == 2].T)
    np.add.at(tot.T, pos, n.T)
    at_risk = np.cumsum(tot[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        h1 = np.where(at_risk > 0, d1 / at_risk, 0.0)
        h2 = np.where(at_risk > 0, d2 / at_risk, 0.0)
    surv = np.cumprod(1 - h1 - h2, axis=1)
    lag = np.concatenate([np.ones((n.shape[0], 1)), surv[:, :-1]], axis=1)
    cif1 = np.cumsum(lag * h1, axis=1)
    cif2 = np.cumsum(lag * h2, axis=1)
    if not two_d:
        return times, cif1[0], cif2[0], at_risk[0]
    return times, cif1, cif2, at_risk


def median_days_to_win(times, cif_won):
    """Smallest day at which the cumulative incidence of winning reaches half its final value
    (the median days to win among deals that win); NaN when nobody won. Vectorised over rows."""
    c = np.atleast_2d(cif_won)
    final = c[:, -1:] if c.shape[1] else np.zeros((c.shape[0], 1))
    ok = (c >= 0.5 * final - 1e-12) & (final > 0)
    idx = np.where(ok.any(axis=1), ok.argmax(axis=1), -1)
    med = np.where(idx >= 0, np.asarray(times, dtype=float)[np.clip(idx, 0, None)] if len(times) else np.nan, np.nan)
    return float(med[0]) if np.ndim(cif_won) == 1 else med


def sales_cycle(opportunities, *, as_of=None, by=None, stages: StageModel | None = None, n_boot: int = 400,
                seed: int = 0, level: float = 0.95, detail: bool = True) -> SalesCycle:
    """Days from created to won, censoring-aware, with lost deals as a competing outcome.

    Parameters
    ----------
    opportunities : DataFrame (pandas / Polars / DuckDB) or Dataset
        ``stage, created_date, close_date`` (+ the ``by`` columns).
    as_of : date, optional
        Censoring date for open deals (default: the Dataset's, else the latest created/closed date).
    by : segment columns, optional — adds a cause-specific log-rank test across segments.
    stages : StageModel (default: the Dataset's)
    n_boot : bootstrap resamples for the median's interval (0 = no interval); ``seed`` fixes them.
    detail : False skips the lifelines fits (pointwise bands of the curves, Kaplan–Meier median to
        close, log-rank): the median and its interval are unchanged (same estimator on the counts).

    Returns
    -------
    SalesCycle
    """
    opps, _, stages, as_of = resolve(opportunities, stages=stages, as_of=as_of)
    by = as_list(by)
    counts, as_of, dropped = cycle_counts(opps, as_of=as_of, by=by, stages=stages)
    rows, curves = [], []
    groups = counts.groupby(by, sort=True, dropna=False) if by else ([((), counts)] if len(counts) else [])
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        r, curve = _segment_cycle(dict(zip(by, key, strict=True)), g, n_boot=n_boot, seed=seed, level=level,
                                  detail=detail)
        rows.append(r)
        curves.append(curve)
    summary = pd.DataFrame(rows, columns=by + SUMMARY_COLUMNS)
    for c in ("deals", "won", "lost", "open"):
        summary[c] = summary[c].astype("int64")
    curve_df = (pd.concat(curves, ignore_index=True) if curves else
                pd.DataFrame(columns=by + ["days", "cif_won", "cif_won_ci_low", "cif_won_ci_high", "cif_lost",
                                           "at_risk"]))
    logrank = _logrank(counts, by) if detail and by and len(summary) >= 2 and (counts["event"] == 1).any() else None
    return SalesCycle(sort_out(summary, by), sort_out(curve_df, by + ["days"]), logrank, counts, tuple(by), as_of,
                      tuple(_cycle_notes(dropped)), dropped,
                      {"n_boot": int(n_boot), "seed": seed, "level": float(level)})


def _cycle_notes(dropped: dict) -> list[str]:
    notes = ["Open deals are censored at the as-of date; lost deals are a competing outcome (Aalen–Johansen).",
             "median_days_to_win is the median among deals that eventually win (cumulative incidence normalised "
             "by the eventual win probability); the interval is a bootstrap over deals."]
    if dropped["no_dates"]:
        notes.append(f"{dropped['no_dates']} deal(s) without created/close dates were left out.")
    if dropped["negative"]:
        notes.append(f"{dropped['negative']} deal(s) closed before they were created were left out.")
    if dropped.get("late"):
        notes.append(f"{dropped['late']} deal(s) created after the as-of date were left out.")
    return notes


def _segment_cycle(seg: dict, g: pd.DataFrame, *, n_boot: int, seed: int, level: float, detail: bool
                   ) -> tuple[dict, pd.DataFrame]:
    """One segment's summary row and curves from its (days, event, n) counts."""
    days, ev, n = g["days"].to_numpy(), g["event"].to_numpy(), g["n"].to_numpy()
    won_n, lost_n, open_n = (int(n[ev == e].sum()) for e in (1, 2, 0))
    r = {**seg, "deals": int(n.sum()), "won": won_n, "lost": lost_n, "open": open_n}
    times, cif1, cif2, at_risk = aalen_johansen(days, ev, n)
    r["win_probability"] = float(cif1[-1]) if len(cif1) else np.nan
    r["median_days_to_win"] = median_days_to_win(times, cif1) if len(times) else np.nan
    r["ci_low"] = r["ci_high"] = np.nan
    if n_boot and won_n:
        r["ci_low"], r["ci_high"] = _bootstrap_median(days, ev, n, times, n_boot=n_boot, seed=seed, level=level)
    cif_lo = cif_hi = np.full(len(times), np.nan)
    r["km_median_days_to_close"] = r["km_ci_low"] = r["km_ci_high"] = np.nan
    if detail and won_n + lost_n:
        cif1, cif_lo, cif_hi, km = _lifelines_fits(days, ev, n, times, cif1, won_n=won_n, level=level)
        r.update(km)
    w = ev == 1
    r["naive_won_mean_days"] = float(np.average(days[w], weights=n[w])) if won_n else np.nan
    r["naive_won_median_days"] = _wmedian(days[w], n[w]) if won_n else np.nan
    r["naive_label"] = NAIVE_LABEL
    curve = pd.DataFrame({**seg, "days": times.astype("int64"), "cif_won": cif1, "cif_won_ci_low": cif_lo,
                          "cif_won_ci_high": cif_hi, "cif_lost": cif2, "at_risk": at_risk.astype("int64")})
    return r, curve


def _bootstrap_median(days, ev, n, times, *, n_boot: int, seed: int, level: float) -> tuple[float, float]:
    """Bootstrap interval of the median days to win (deals resampled); NaNs when no resample has a median."""
    rng = np.random.default_rng(seed)
    boot = rng.multinomial(int(n.sum()), n / n.sum(), size=int(n_boot))
    _, b1, _, _ = aalen_johansen(days, ev, boot)
    meds = median_days_to_win(times, b1)
    meds = meds[~np.isnan(meds)]
    if not len(meds):
        return np.nan, np.nan
    lo, hi = (float(np.quantile(meds, q, method="inverted_cdf")) for q in ((1 - level) / 2, (1 + level) / 2))
    return lo, hi


def _lifelines_fits(days, ev, n, times, cif1, *, won_n: int, level: float):
    """lifelines' Aalen–Johansen (pointwise band of the win curve) and Kaplan–Meier (median days to close):
    ``(cif_won, band low, band high, {km_median_days_to_close, km_ci_low, km_ci_high})``."""
    from lifelines import AalenJohansenFitter, KaplanMeierFitter
    from lifelines.utils import median_survival_times

    cif_lo = cif_hi = np.full(len(times), np.nan)
    # won just before lost on the same day (exact for ties, no jitter); +1 day keeps every event after
    # lifelines' first event-table row, whose cumulative incidence it sets to 0
    dur = days + 1.0 + np.where(ev == 1, -_EPS, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aj = AalenJohansenFitter(calculate_variance=won_n > 0, alpha=1 - level).fit(
            dur, ev, event_of_interest=1, weights=n)
        km = KaplanMeierFitter(alpha=1 - level).fit(days, event_observed=(ev > 0).astype(int), weights=n)
    if won_n:
        grid = np.searchsorted(aj.cumulative_density_.index.to_numpy(), times + 1.5, side="right") - 1
        cif1 = aj.cumulative_density_.iloc[grid, 0].to_numpy()
        ci = aj.confidence_interval_.iloc[grid]
        cif_lo, cif_hi = ci.iloc[:, 0].to_numpy(), ci.iloc[:, 1].to_numpy()
    kci = median_survival_times(km.confidence_interval_)
    return cif1, cif_lo, cif_hi, {"km_median_days_to_close": float(km.median_survival_time_),
                                  "km_ci_low": float(kci.iloc[0, 0]), "km_ci_high": float(kci.iloc[0, 1])}


def _logrank(counts: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Cause-specific log-rank test of time to win across the ``by`` segments (lost and open censored)."""
    from lifelines.statistics import multivariate_logrank_test

    labels = counts[by].astype(str).agg(" | ".join, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = multivariate_logrank_test(counts["days"], labels, (counts["event"] == 1).astype(int),
                                        weights=counts["n"])
    return pd.DataFrame([{"test": f"log-rank, time to win (lost and open censored) across {', '.join(by)}",
                          "statistic": float(res.test_statistic), "p_value": float(res.p_value),
                          "dof": int(res.degrees_of_freedom)}])


def _wmedian(values, weights) -> float:
    from ..stats import weighted_quantile

    return weighted_quantile(values, weights, 0.5)
