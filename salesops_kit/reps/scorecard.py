"""Rep scorecards and fair rep comparisons (issue 6).

A manager ranking reps on raw ratios puts the rep with 4 wins in 5 deals on top and misses the rep
with a real problem hidden in noise. Here every rate is shrunk towards the team with an
empirical-Bayes beta-binomial prior fitted across reps, each rep is tested against the rest of the
company with an exact test, the false-discovery rate is controlled across all reps x metrics
(Benjamini-Hochberg), and a rep below a minimum sample is "not enough data": shown, never ranked
or flagged. The behaviours behind a gap live in :mod:`salesops_kit.reps.drivers`; the ranked coaching
findings in :mod:`salesops_kit.reps._findings` and the rep KPI rows in :mod:`salesops_kit.reps._kpis` (both
re-exported by :mod:`salesops_kit.reps`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..funnel.metrics import LEAD_MATURITY_DAYS, lead_maturity_cutoff
from ..funnel.pipeline import current_quota_rows, period_pipeline, quota_window_label
from ..stats import bh_adjust, fisher_vs_rest, fit_beta_binomial, funnel_limits, shrink_rates, wilson_interval  # noqa: F401
from ..stats.shrinkage import plausible_prior
from ..tools.results import Result
from . import _scans as scans

__all__ = ["Scorecard", "RepComparison", "scorecard", "compare_reps", "flag_reps",
           "stage_conversion_by_rep", "stage_conversion_reason",
           "MIN_N", "LEAD_MATURITY_DAYS", "COMPARED_METRICS", "not_available", "quota_window", "quota_window_label",
           "quota_reconciliation", "no_overdispersion_note"]

MIN_N = 30  # fewer trials than this on a metric: "not enough data", never ranked or flagged
# LEAD_MATURITY_DAYS and lead_maturity_cutoff are the funnel's (notebook 01): one definition of a mature lead
# binomial metrics compared across reps: metric -> (successes column, trials column, label)
COMPARED_METRICS = {
    "win_rate": ("deals_won", "deals_closed", "win rate"),
    "lead_conversion_rate": ("leads_converted", "leads", "lead conversion"),
    "csat_satisfied_share": ("csat_satisfied", "csat_responses", "CSAT share satisfied"),
}
# metrics that get team and company benchmark columns beside them
BENCHMARKED = ("win_rate", "avg_won_deal_size", "cycle_median_days", "lead_conversion_rate",
               "first_response_median_hours", "activities_per_deal", "csat_mean", "csat_satisfied_share",
               "quota_attainment", "pipeline_coverage")
# scorecard columns that come from each optional table
_FROM_TABLE = {
    "leads": ("leads", "leads_converted", "lead_conversion_rate", "lead_conversion_rate_low",
              "lead_conversion_rate_high", "first_response_median_hours"),
    "activities": ("activities", "activities_per_deal"),
    "csat": ("csat_responses", "csat_mean", "csat_satisfied", "csat_satisfied_share", "csat_satisfied_share_low",
             "csat_satisfied_share_high"),
    "quotas": ("quota", "quota_attainment", "pipeline_coverage"),
}


def not_available(table: str, column: str | None = None) -> str:
    """The text a scorecard column holds when its table (or column) is missing."""
    from ..i18n import tr

    if column:
        return tr("not available: no {column} column in the {table} table", column=column, table=table)
    return tr("not available: no {table} table", table=table)


def period_bounds(period, as_of: pd.Timestamp):
    """``period`` (None, "2025", "2025Q3", "2025-06", or a (start, end) pair) -> (start, end, label);
    the end never passes the end of the as-of day."""
    day_end = as_of.normalize() + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    if period is None:
        from ..i18n import tr

        return None, day_end, tr("all data to {date}", date=as_of.date().isoformat())
    if isinstance(period, (tuple, list)):
        start, end = pd.Timestamp(period[0]), pd.Timestamp(period[1])
        if end == end.normalize():
            end = end + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
        label = f"{start.date().isoformat()} to {end.date().isoformat()}"
    else:
        p = pd.Period(str(period))
        start, end, label = p.start_time, p.end_time, str(p)
    if start > day_end:
        raise ValueError(f"period {period!r} starts after the as-of date {as_of.date()}; choose an earlier period.")
    return start, min(end, day_end), label


def _ratio(num, den):
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _cycle_medians(dataset, owners: dict[str, list[str]], as_of) -> dict[str, float]:
    """Median days from created to won per owner, per team and for the company, from the funnel
    issue's :func:`salesops_kit.funnel.cycle.sales_cycle` (Aalen-Johansen: open deals censored at
    ``as_of``, lost deals a competing outcome; the median among deals that eventually win)."""
    from ..funnel.cycle import sales_cycle

    opps = dataset.opportunities
    kw = dict(as_of=as_of, stages=dataset.stages, n_boot=0, detail=False)
    out: dict[str, float] = {}
    per_owner = sales_cycle(opps, by="owner", **kw).table
    out.update(zip(per_owner["owner"].astype(str), per_owner["median_days_to_win"], strict=True))
    if "team" in opps.columns:
        per_team = sales_cycle(opps, by="team", **kw).table
        out.update({f"team:{t}": v for t, v in zip(per_team["team"].astype(str), per_team["median_days_to_win"],
                                                   strict=True)})
    company = sales_cycle(opps, **kw).table
    out["company"] = float(company["median_days_to_win"].iloc[0]) if len(company) else np.nan
    for label in owners:
        out.setdefault(label, np.nan)
    return out


@dataclass(frozen=True, repr=False)
class Scorecard(Result):
    """Per-rep scorecard with team and company benchmarks.

    Attributes
    ----------
    table : one row per rep (owner): owner, team, deals_closed, deals_won, won_revenue,
        win_rate (+ _low/_high, 95% Wilson), avg_won_deal_size, cycle_median_days (median days
        from created to won, open deals censored, lost competing: :func:`salesops_kit.funnel.cycle.sales_cycle`),
        open_deals, open_pipeline, leads, leads_converted, lead_conversion_rate (+ _low/_high),
        first_response_median_hours, activities, activities_per_deal, csat_responses, csat_mean,
        csat_satisfied, csat_satisfied_share (+ _low/_high), quota and quota_attainment (revenue won in the
        rep's complete quota periods of :attr:`quota_window`, the year to date by default, / those quotas),
        pipeline_coverage; and ``<metric>_team`` / ``<metric>_company`` beside every benchmarked
        metric. A column whose table is missing holds the text ``"not available: no <table> table"``.
    benchmarks : the same metrics for every team and for the company (column ``level``: team/company).
    counts : the raw per-rep counts the metrics came from (numeric even when a table is missing: 0).
    notes : column -> reason it is not available.
    period : the period label.
    """

    table: pd.DataFrame
    benchmarks: pd.DataFrame
    counts: pd.DataFrame
    notes: dict = field(default_factory=dict)
    period: str = ""
    settings: dict = field(default_factory=dict, repr=False, compare=False)  # the call's arguments, for reuse
    # deals in several currencies without rates: owner, currency, deals_won, won_revenue, avg_won_deal_size,
    # open_deals, open_pipeline per rep and currency (the money columns of ``table`` are "not available" then)
    by_currency: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)
    # (first day, last day) of the complete quota periods behind quota_attainment (:func:`quota_window`), or None
    quota_window: tuple | None = field(default=None, compare=False)

    def summary(self) -> pd.DataFrame:
        cols = ["owner", "team", "deals_closed", "win_rate", "win_rate_team", "lead_conversion_rate",
                "first_response_median_hours", "csat_mean", "quota_attainment"]
        return self.table[[c for c in cols if c in self.table]]

    def headline(self) -> str:
        t = self.table
        from ..i18n import tr

        if not self.notes:
            return tr("{reps} reps in {teams} teams, {closed:,} deals closed ({period}).", reps=len(t),
                      teams=t["team"].nunique(), closed=int(self.counts["deals_closed"].sum()), period=self.period)
        return tr("{reps} reps in {teams} teams, {closed} deals closed ({period}); {n} scorecard columns not "
                  "available.", reps=len(t), teams=t["team"].nunique(), closed=int(self.counts["deals_closed"].sum()),
                  period=self.period, n=len(self.notes))

    def plot(self, ax=None, **kwargs):
        from ..plots.reps import plot_win_rate_bars

        return plot_win_rate_bars(self.table, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        from ..findings import escape_html

        return f"<p>{escape_html(self.headline())}</p>" + self.summary().round(4).to_html(index=False)


def _metrics(c: pd.DataFrame) -> pd.DataFrame:
    """Ratios (and Wilson intervals) from summed counts; works for reps, teams and the company."""
    m = pd.DataFrame(index=c.index)
    for name, (k, n, _) in COMPARED_METRICS.items():
        m[name] = _ratio(c[k], c[n])
        lo, hi = wilson_interval(c[k].to_numpy(float), c[n].to_numpy(float))
        m[f"{name}_low"], m[f"{name}_high"] = lo, hi
    m["avg_won_deal_size"] = _ratio(c["won_revenue"], c["won_with_amount"])
    m["activities_per_deal"] = _ratio(c["deal_activities"], c["deals_created"])
    m["csat_mean"] = _ratio(c["csat_sum"], c["csat_responses"])
    m["quota_attainment"] = _ratio(c["won_in_quota_window"], c["quota"])
    # open pipeline expected to close in the current quota period / quota still to win in it (funnel's rule: a
    # team's remaining quota is its quota minus its won revenue, so one rep over quota offsets another)
    m["pipeline_coverage"] = _ratio(c["pipeline_in_period"], (c["current_quota"] - c["won_current"]).clip(lower=0))
    return m


_COUNT_COLS = ("deals_closed", "deals_won", "won_revenue", "won_with_amount", "deals_created", "open_deals",
               "open_pipeline", "leads", "leads_converted", "activities", "deal_activities", "csat_responses",
               "csat_sum", "csat_sumsq", "csat_satisfied", "quota", "won_in_quota_window", "current_quota",
               "won_current", "pipeline_in_period")


_INT_COLS = ("deals_closed", "deals_won", "won_with_amount", "deals_created", "open_deals", "leads", "leads_converted",
             "activities", "deal_activities", "csat_responses", "csat_satisfied")


def scorecard(dataset, *, period=None, maturity_days: int = LEAD_MATURITY_DAYS) -> Scorecard:
    """Per-rep scorecard with team and company benchmarks beside each metric.

    Parameters
    ----------
    dataset : :class:`salesops_kit.Dataset` with ``opportunities`` (required) and optionally
        ``leads`` (owner, first_response_date), ``activities``, ``csat`` (owner), ``quotas``.
    period : None (all data to the as-of date), a pandas period string ("2025", "2025Q3",
        "2025-06") or a ``(start, end)`` pair. Deals count by close date, leads by created date
        (only leads at least ``maturity_days`` old at the as-of date), activities, CSAT answers by
        their dates; quota attainment uses complete quota periods starting in the period.
    """
    dataset.require("opportunities", purpose="the rep scorecard")
    as_of = pd.Timestamp(dataset.as_of)
    start, end, label = period_bounds(period, as_of)
    cutoff = min(end, lead_maturity_cutoff(as_of, maturity_days))
    leads = dataset.leads
    lead_owner = leads is not None and "owner" in leads.columns
    c = _rep_counts(dataset, start=start, end=end, as_of=as_of, cutoff=cutoff, lead_owner=lead_owner)

    teams = {t: sorted(g["owner"]) for t, g in c.groupby("team", sort=True)}
    groups = {f"team:{t}": o for t, o in teams.items()} | {"company": list(c["owner"])}
    bench, cyc, med = _benchmarks(dataset, c, groups, start=start, end=end, cutoff=cutoff, lead_owner=lead_owner)

    t = pd.concat([c, _metrics(c)], axis=1)
    t["cycle_median_days"] = [cyc.get(o, np.nan) for o in t["owner"]]
    t["first_response_median_hours"] = [med.get(o, np.nan) for o in t["owner"]]
    for m in BENCHMARKED:
        t[f"{m}_team"] = [bench.at[f"team:{tm}", m] for tm in t["team"]]
        t[f"{m}_company"] = bench.at["company", m]

    notes = _mark_not_available(dataset, t, bench, lead_owner=lead_owner)
    per_currency = _money_by_currency(dataset, t, bench, notes, start=start, end=end)
    bench = bench.reset_index(names="group")
    bench.insert(0, "level", np.where(bench["group"] == "company", "company", "team"))
    bench["group"] = bench["group"].str.replace("^team:", "", regex=True)
    internal = ("won_with_amount", "deal_activities", "csat_sum", "csat_sumsq", "won_in_quota_window",
                "current_quota", "won_current", "pipeline_in_period")
    order = ["owner", "team"] + [x for x in t.columns if x not in ("owner", "team") + internal]
    qwin = quota_window(dataset.quotas, start=start, end=end, as_of=as_of) if dataset.quotas is not None else None
    return Scorecard(t[order], bench, c, notes, label, {"period": period, "maturity_days": maturity_days},
                     per_currency, qwin)


MONEY_COLUMNS = ("won_revenue", "avg_won_deal_size", "open_pipeline", "quota_attainment", "pipeline_coverage")


def _money_by_currency(dataset, t: pd.DataFrame, bench: pd.DataFrame, notes: dict, *, start, end) -> pd.DataFrame:
    """Deals in several currencies without rates: the money columns of the scorecard (and their benchmarks) say
    "not available" instead of adding pesos to dollars, and the won revenue and open pipeline come per rep and
    currency instead. An empty frame when the deals have one money unit."""
    from ..data.currency import currencies, needs_split
    from ..i18n import tr

    cols = ["owner", "currency", "deals_won", "won_revenue", "avg_won_deal_size", "open_deals", "open_pipeline"]
    if getattr(dataset, "mapping", None) is None or not needs_split(dataset, "opportunities"):
        return pd.DataFrame(columns=cols)
    import narwhals as nw

    codes = currencies(dataset, "opportunities")
    text = tr("not available: amounts in {n} currencies ({codes}) and no exchange rates; see by_currency",
              n=len(codes), codes=", ".join(codes))
    _withhold(t, bench, notes, MONEY_COLUMNS, text)
    code = nw.col("currency").cast(nw.String).str.strip_chars().str.to_uppercase()
    parts = []
    for c in codes:
        sub = nw.from_native(dataset.opportunities).filter(code == c).to_native()
        d = scans.deal_scan(sub, start=start, end=end, as_of=end)
        d = d[(d["deals_won"] > 0) | (d["open_deals"] > 0)]
        parts.append(d.assign(currency=c, avg_won_deal_size=_ratio(d["won_revenue"], d["won_with_amount"])))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    return out[cols].sort_values(["owner", "currency"]).reset_index(drop=True)


def _rep_counts(dataset, *, start, end, as_of, cutoff, lead_owner: bool) -> pd.DataFrame:
    """One row per rep: the counts and sums every scorecard metric is computed from (deals, leads, activities,
    CSAT, quotas; a missing table's columns are 0)."""
    opps = dataset.opportunities
    c = scans.deal_scan(opps, start=start, end=end, as_of=end)
    if lead_owner:
        lc = scans.lead_cells(dataset.leads, start=start, end=cutoff, cutoff=cutoff)
        lc = lc.dropna(subset=["owner"]).groupby("owner", as_index=False)[["leads", "converted"]].sum()
        c = c.merge(lc.rename(columns={"converted": "leads_converted"}), on="owner", how="outer")
    acts = dataset.activities
    if acts is not None:
        c = c.merge(scans.activity_scan(acts, start=start, end=end), on="owner", how="outer")
    cs = dataset.csat
    if cs is not None and "owner" in cs.columns:
        c = c.merge(scans.csat_scan(cs, start=start, end=end), on="owner", how="outer")
    if dataset.quotas is not None:
        c = c.merge(_quota_counts(dataset, opps, start, end, as_of), on="owner", how="outer")
    for col in _COUNT_COLS:
        c[col] = pd.to_numeric(c[col], errors="coerce").fillna(0) if col in c else 0
        if col in _INT_COLS:
            c[col] = c[col].astype("int64")
    c["team"] = c["team"].fillna("(no deals)").astype(str)
    c["owner"] = c["owner"].astype(str)
    return c.sort_values("owner").reset_index(drop=True)


def _benchmarks(dataset, c: pd.DataFrame, groups: dict[str, list[str]], *, start, end, cutoff, lead_owner: bool):
    """Team and company metrics (indexed ``team:<name>`` and ``company``), with the cycle and first-response
    medians of every group and rep: ``(bench, cycle medians, response medians)``."""
    sums = c.groupby("team", sort=True)[list(_COUNT_COLS)].sum()
    sums.index = [f"team:{t}" for t in sums.index]
    sums.loc["company"] = c[list(_COUNT_COLS)].sum()
    bench = pd.concat([sums, _metrics(sums)], axis=1)
    cyc = _cycle_medians(dataset, groups, end)
    bench["cycle_median_days"] = [cyc.get(g, np.nan) for g in bench.index]
    leads = dataset.leads
    if lead_owner and "first_response_date" in leads.columns:
        med = scans.response_medians(leads, groups=groups, start=start, end=cutoff, cutoff=cutoff)
        med = med.set_index("group")["median_hours"]
        bench["first_response_median_hours"] = [med.get(g, np.nan) for g in bench.index]
    else:
        med = pd.Series(dtype=float)
        bench["first_response_median_hours"] = np.nan
    return bench, cyc, med


def _mark_not_available(dataset, t: pd.DataFrame, bench: pd.DataFrame, *, lead_owner: bool) -> dict[str, str]:
    """Columns whose table (or column) is missing hold the "not available" text; returns column -> text."""
    notes: dict[str, str] = {}
    leads, cs = dataset.leads, dataset.csat
    missing = {name: not_available(name) for name in _FROM_TABLE if dataset.tables.get(name) is None}
    if leads is not None and not lead_owner:
        missing["leads"] = not_available("leads", "owner")
    if cs is not None and "owner" not in cs.columns:
        missing["csat"] = not_available("csat", "owner")
    for name, text in missing.items():
        _withhold(t, bench, notes, _FROM_TABLE[name], text)
    if lead_owner and "first_response_date" not in leads.columns:
        text = not_available("leads", "first_response_date")
        for col in ("first_response_median_hours", "first_response_median_hours_team",
                    "first_response_median_hours_company"):
            notes[col], t[col] = text, text
        bench["first_response_median_hours"] = text
    return notes


def quota_window(quotas, *, start=None, end=None, as_of) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The window of :func:`scorecard`'s ``quota_attainment``: ``(first day, last day)`` of the complete quota
    periods it covers, or None when no quota period is complete.

    With a scorecard ``period`` (``start`` given): the complete quota periods that start in it. Without one: the
    year to date, i.e. the complete quota periods (ended by the as-of date) that start in the calendar year of the
    last one to end (January to November 2025 at an as-of date of 2025-12-15; the whole of 2025 at 2026-01-10).
    A period still running at the as-of date never counts: its quota is for the whole period.
    """
    q = scans.quota_frame(quotas)
    done = q[(q["period_end"] <= as_of) & (q["period_start"] <= (end if end is not None else as_of))]
    if start is not None:
        done = done[done["period_start"] >= start]
    if not len(done):
        return None
    last = done["period_end"].max()
    first = done["period_start"].min() if start is not None else max(done["period_start"].min(),
                                                                     pd.Timestamp(year=last.year, month=1, day=1))
    return first, last


def quota_reconciliation(card: Scorecard, targets: pd.DataFrame | None = None, *, currency: str | None = None,
                         lang: str | None = None) -> str:
    """One or two sentences that put the scorecard's quota attainment beside the company's won-revenue target over
    the same months: the team's won revenue, the sum of the rep quotas and the company target (``targets``: rows
    ``kpi, segment, period, target`` as :func:`salesops_kit.monitor.read_targets` reads targets.csv; the
    ``won_revenue`` / ``all`` rows of the window's months are used). Rep quotas often add up to more than the
    company target (over-assignment), so reps far below quota can sit beside a company on target; the sentence
    says by how much. Without quotas, or a target for every month of the window, it says what is missing."""
    from ..i18n import format_money, tr

    if card.quota_window is None or "quota_attainment" in card.notes:
        return card.notes.get("quota_attainment") or tr("No complete quota period yet: no quota attainment.",
                                                        lang=lang)
    label = quota_window_label(card.quota_window, lang)
    c = card.counts
    won, quota = float(c["won_in_quota_window"].sum()), float(c["quota"].sum())
    head = tr("Quota attainment, {window}: the reps won {won} against quotas summing to {quota} ({share:.0%}).",
              lang=lang, window=label, won=format_money(won, currency, lang), quota=format_money(quota, currency, lang),
              share=won / quota if quota > 0 else float("nan"))
    months = [str(m) for m in pd.period_range(card.quota_window[0], card.quota_window[1], freq="M")]
    tg = pd.DataFrame(columns=["kpi", "segment", "period", "target"]) if targets is None else targets
    tg = tg[(tg["kpi"] == "won_revenue") & (tg["segment"] == "all")]
    if "source" in tg:
        tg = tg[tg["source"] != "quotas"]  # a target made from the quotas themselves reconciles nothing
    tg = tg.assign(period=tg["period"].astype(str)).drop_duplicates("period", keep="last").set_index("period")
    have = [m for m in months if m in tg.index]
    if not have:
        return head + " " + tr("No company won-revenue target for these months to reconcile it with.", lang=lang)
    if len(have) < len(months):
        return head + " " + tr("The company won-revenue target covers {n} of its {m} months, so the two cannot be "
                               "reconciled.", lang=lang, n=len(have), m=len(months))
    target = float(tg.loc[months, "target"].sum())
    return head + " " + tr(
        "The company won-revenue target for the same months is {target}, so the same revenue is {att:.0%} of "
        "target: the rep quotas add up to {ratio:.2f}× the company target, so attainment of quota reads {ratio:.2f}× "
        "lower than attainment of the company target (the monitoring notebook's target attainment is for its review "
        "month only).",
        lang=lang, target=format_money(target, currency, lang), att=won / target if target > 0 else float("nan"),
        ratio=quota / target if target > 0 else float("nan"))


def _quota_counts(dataset, opps, start, end, as_of) -> pd.DataFrame:
    """Per owner: quota of the complete periods in :func:`quota_window`, revenue won inside the owner's periods
    there, and the remaining quota of the current (incomplete) period."""
    q = scans.quota_frame(dataset.quotas)
    window = quota_window(dataset.quotas, start=start, end=end, as_of=as_of)
    done = q.iloc[:0] if window is None else q[(q["period_end"] <= window[1]) & (q["period_start"] >= window[0])]
    out = (done.groupby("owner", sort=True)
           .agg(quota=("quota", "sum"), _start=("period_start", "min"), _end=("period_end", "max"))
           .reset_index())
    out["won_in_quota_window"] = 0.0
    # revenue won between the first start and the last end of the owner's complete periods
    for (s, e), idx in out.groupby(["_start", "_end"]).groups.items():
        w = scans.won_revenue_between(opps, start=s, end=e + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1))
        w = w.set_index("owner")["won_revenue"]
        out.loc[idx, "won_in_quota_window"] = out.loc[idx, "owner"].map(w).fillna(0.0).to_numpy()
    # the current period: its quota, revenue won in it so far and the open pipeline expected to close in it, by
    # the funnel's rule (funnel.pipeline_coverage), so the scorecard's coverage is the notebook 01 number per rep
    cur = current_quota_rows(q, as_of)
    rem = pd.DataFrame(columns=["owner", "current_quota", "won_current", "pipeline_in_period"])
    if len(cur):
        s, e = cur["period_start"].min(), cur["period_end"].max()
        g = period_pipeline(opps, start=s, end=e, as_of=as_of).set_index("owner")
        rem = cur.groupby("owner", as_index=False)["quota"].sum().rename(columns={"quota": "current_quota"})
        rem["won_current"] = rem["owner"].map(g["won_to_date"]).fillna(0.0) if len(g) else 0.0
        rem["pipeline_in_period"] = rem["owner"].map(g["pipeline"]).fillna(0.0) if len(g) else 0.0
    return out.drop(columns=["_start", "_end"]).merge(rem, on="owner", how="outer")


@dataclass(frozen=True, repr=False)
class RepComparison(Result):
    """Fair comparison of reps on every binomial metric.

    Attributes
    ----------
    table : one row per rep x metric: owner, team, metric, successes, trials, rate, rate_low,
        rate_high (95% Wilson), shrunk_rate, shrunk_low, shrunk_high (95% posterior), rest_rate
        (all other reps pooled), company_rate, p_value (two-sided Fisher exact, rep vs rest),
        q_value (Benjamini-Hochberg across all eligible reps x metrics), eligible (trials >= min_n),
        status ("not enough data", "below", "above", "in line"), funnel_band ("inside 95%",
        "outside 95%", "outside 99.8%" of the funnel-plot limits around the company rate), rank
        (1 = highest shrunk rate among eligible reps; NaN when not eligible).
    fits : one row per metric: metric, alpha, beta, prior_mean, concentration, n_groups, method.
    min_n, alpha : the minimum sample and the FDR level.
    """

    table: pd.DataFrame
    fits: pd.DataFrame
    min_n: int = MIN_N
    alpha: float = 0.05
    settings: dict = field(default_factory=dict, repr=False, compare=False)  # the call's arguments, for reuse

    def chart_reason(self, metric: str = "win_rate") -> str:
        """One sentence when ``metric`` cannot be compared across reps (fewer than two reps with trials, or no rep
        with ``min_n`` trials: nobody is ranked or tested), so no leaderboard or funnel chart is drawn; "" when
        it can."""
        from ..i18n import t, tr

        g = self.table[self.table["metric"] == metric] if len(self.table) else self.table
        label = t(COMPARED_METRICS[metric][2]) if metric in COMPARED_METRICS else metric
        reps = int((g["trials"] > 0).sum()) if len(g) else 0
        if reps < 2:
            return tr("No {metric} comparison: {n} rep(s) with data, and a rep is compared with the rest of the "
                      "company.", metric=label, n=reps)
        if not g["eligible"].astype(bool).any():
            return tr("No {metric} comparison: no rep has {min_n} or more trials (the most is {most}), so none is "
                      "ranked or tested yet.", metric=label, min_n=self.min_n, most=int(g["trials"].max()))
        return ""

    def flagged(self) -> pd.DataFrame:
        """Reps significantly below the rest on a metric (q < alpha)."""
        return self.table[self.table["status"] == "below"].reset_index(drop=True)

    def recognised(self) -> pd.DataFrame:
        """Reps significantly above the rest on a metric (q < alpha)."""
        return self.table[self.table["status"] == "above"].reset_index(drop=True)

    def leaderboard(self, metric: str = "win_rate") -> pd.DataFrame:
        """One metric, ranked by shrunk rate (eligible reps first, "not enough data" last)."""
        t = self.table[self.table["metric"] == metric]
        return t.sort_values(["rank", "owner"], na_position="last").reset_index(drop=True)

    def summary(self) -> pd.DataFrame:
        cols = ["owner", "metric", "successes", "trials", "rate", "shrunk_rate", "shrunk_low", "shrunk_high",
                "rest_rate", "q_value", "status", "rank"]
        return self.table[cols]

    def headline(self) -> str:
        from ..i18n import tr

        f, r = self.flagged(), self.recognised()
        small = self.table.loc[~self.table["eligible"], "owner"].nunique()
        return tr("Reps below the rest of the company: {below}; above: {above} ({metrics} metrics, q < {alpha:g}). "
                  "Reps under {min_n} trials on some metric (not ranked there): {small}.",
                  below=f["owner"].nunique(), above=r["owner"].nunique(), metrics=self.table["metric"].nunique(),
                  alpha=self.alpha, min_n=self.min_n, small=small)

    def plot(self, ax=None, *, metric: str = "win_rate", **kwargs):
        from ..plots.reps import plot_rep_funnel

        return plot_rep_funnel(self, metric=metric, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        from ..findings import escape_html

        return f"<p>{escape_html(self.headline())}</p>" + self.summary().round(4).to_html(index=False)


def compare_reps(dataset, *, period=None, min_n: int = MIN_N, alpha: float = 0.05,
                 metrics: tuple[str, ...] | None = None, card: Scorecard | None = None) -> RepComparison:
    """Shrink every rep's rates towards the company, test each rep against the rest, control the FDR.

    For each metric in ``COMPARED_METRICS`` that the dataset supports: a beta-binomial prior is
    fitted across all reps by maximum likelihood (:func:`salesops_kit.stats.fit_beta_binomial`),
    shrunk rates get 95% posterior intervals, each rep with at least ``min_n`` trials is compared
    with all other reps pooled by a two-sided Fisher exact test, and the p-values of all eligible
    reps x metrics are adjusted together (Benjamini-Hochberg). Reps under ``min_n`` are "not enough
    data": shown with their shrunk rate, never tested, ranked or flagged.
    """
    card = card if card is not None else scorecard(dataset, period=period)
    settings = {"scorecard": card.settings, "min_n": min_n, "alpha": alpha, "metrics": metrics}
    c = card.counts
    metrics = tuple(metrics or COMPARED_METRICS)
    unavailable = {col.split("_")[0] for col in card.notes}
    parts, fits = [], []
    for metric in metrics:
        k_col, n_col, _ = COMPARED_METRICS[metric]
        if metric in card.notes or (metric == "csat_satisfied_share" and "csat" in unavailable):
            continue
        k = c[k_col].to_numpy(dtype=float)
        n = c[n_col].to_numpy(dtype=float)
        if n.sum() == 0:
            continue
        # no overdispersion found: the weakest prior the data allow, not full pooling (every interval the same)
        fit = _at_least_uniform(plausible_prior(k, n, fit_beta_binomial(k, n)))
        fits.append({"metric": metric, "alpha": fit.alpha, "beta": fit.beta, "prior_mean": fit.mean,
                     "concentration": fit.concentration, "n_groups": fit.n_groups, "method": fit.method})
        sh = shrink_rates(k, n, fit=fit)
        _, rest = fisher_vs_rest(k.astype(int), n.astype(int))
        lo, hi = wilson_interval(k, n)
        p0 = k.sum() / n.sum()
        lim = funnel_limits(n, p0)
        rate = sh["raw_rate"].to_numpy()
        band = np.where((rate < lim["low_99.8"]) | (rate > lim["high_99.8"]), "outside 99.8%",
                        np.where((rate < lim["low_95"]) | (rate > lim["high_95"]), "outside 95%", "inside 95%"))
        parts.append(pd.DataFrame({
            "owner": c["owner"], "team": c["team"], "metric": metric, "successes": k, "trials": n,
            "rate": rate, "rate_low": lo, "rate_high": hi, "shrunk_rate": sh["shrunk_rate"],
            "shrunk_low": sh["shrunk_low"], "shrunk_high": sh["shrunk_high"], "rest_rate": rest,
            "company_rate": p0, "eligible": n >= min_n, "funnel_band": np.where(n > 0, band, ""),
        }))
        fits[-1]["company_rate"] = p0
    cols = ["owner", "team", "metric", "successes", "trials", "rate", "rate_low", "rate_high", "shrunk_rate",
            "shrunk_low", "shrunk_high", "rest_rate", "company_rate", "p_value", "q_value", "eligible", "status",
            "funnel_band", "rank"]
    if not parts:
        return RepComparison(pd.DataFrame(columns=cols), pd.DataFrame(columns=[
            "metric", "alpha", "beta", "prior_mean", "concentration", "n_groups", "method", "company_rate"]),
            min_n, alpha, settings)
    t = pd.concat(parts, ignore_index=True)
    m, r = len(parts), len(c)
    k = t["successes"].to_numpy().reshape(m, r)
    n = t["trials"].to_numpy().reshape(m, r)
    p, q, status = flag_reps(k, n, min_n=min_n, alpha=alpha)
    t["p_value"], t["q_value"], t["status"] = p.ravel(), q.ravel(), status.ravel()
    t["rank"] = (t["shrunk_rate"].where(t["eligible"]).groupby(t["metric"])
                 .rank(ascending=False, method="min"))
    t = t.sort_values(["metric", "owner"]).reset_index(drop=True)[cols]
    return RepComparison(t, pd.DataFrame(fits), min_n, alpha, settings)


def no_overdispersion_note(metric: str, concentration: float) -> str:
    """The sentence that says a metric's prior is the weakest the data allow (the fit found no difference between
    reps beyond chance), so the shrunk intervals are not the pooled rate's."""
    from ..i18n import t, tr

    label = t(COMPARED_METRICS[metric][2]) if metric in COMPARED_METRICS else metric
    return tr("{metric}: no difference between reps beyond chance; each rep's interval uses the weakest prior the data "
              "allow (worth {n:,.0f} trials), not the pooled rate.", metric=label, n=float(concentration))


MIN_CONCENTRATION = 2.0  # a prior at least as strong as a uniform Beta(1, 1)


def _at_least_uniform(fit):
    """The fitted prior, its strength (alpha + beta) raised to :data:`MIN_CONCENTRATION` at the same mean when the
    maximum-likelihood fit ran to no pooling at all: with a handful of reps and deals (1 of 1, 1 of 1, 0 of 2) the
    fit puts the prior's mass at 0 and 1, and a rep with one won deal got a 95% interval of 100% to 100%."""
    from dataclasses import replace

    if fit.concentration >= MIN_CONCENTRATION:
        return fit
    m = fit.mean
    return replace(fit, alpha=MIN_CONCENTRATION * m, beta=MIN_CONCENTRATION * (1 - m),
                   method=f"{fit.method}, strength raised to {MIN_CONCENTRATION:g} (a uniform prior's)")


def flag_reps(successes, trials, *, min_n: int = MIN_N, alpha: float = 0.05):
    """The flagging rule of :func:`compare_reps` on count arrays (vectorised over leading axes).

    ``successes``/``trials`` have shape ``(..., metrics, reps)``. Each rep with ``trials >= min_n``
    is tested against all other reps pooled (two-sided Fisher exact); the p-values of all eligible
    reps x metrics of one batch element are Benjamini-Hochberg adjusted together.

    Returns
    -------
    (p_value, q_value, status) arrays of the input shape; status is "not enough data", "below",
    "above" or "in line" (q >= alpha).
    """
    k = np.asarray(successes, dtype=np.int64)
    n = np.asarray(trials, dtype=np.int64)
    p, rest = fisher_vs_rest(k, n)
    eligible = n >= min_n
    p = np.where(eligible, p, np.nan)
    flat = p.reshape(-1, p.shape[-2] * p.shape[-1]) if p.ndim >= 2 else p.reshape(1, -1)
    q = np.vstack([bh_adjust(row) for row in flat]).reshape(p.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
    sig = q < alpha
    status = np.select([~eligible, sig & (rate < rest), sig & (rate > rest)],
                       ["not enough data", "below", "above"], "in line")
    return p, q, status


def stage_conversion_by_rep(dataset, *, value: str = "conversion") -> pd.DataFrame:
    """Per-rep stage-to-stage conversion (rows: owner; columns "Stage → Next stage"), from the
    funnel module's :func:`salesops_kit.funnel.stage_funnel` with ``by="owner"`` (stage history used
    when present; open deals in a stage are not counted as failures). ``value`` is a column of the
    stage funnel (``conversion``, ``reached``, ...) or ``"decided"``: the deals that advanced or were lost
    there (the denominator of the conversion)."""
    from ..funnel.stages import stage_funnel

    dataset.require("opportunities", purpose="the per-rep stage conversion")
    sf = stage_funnel(dataset.opportunities, stage_history=dataset.stage_history, by="owner", stages=dataset.stages)
    t = sf.table[sf.table["next_stage"].notna()].copy()
    if value == "decided":
        t["decided"] = pd.to_numeric(t["advanced"], errors="coerce") + pd.to_numeric(t["lost"], errors="coerce")
    t["transition"] = t["stage"].astype(str) + " → " + t["next_stage"].astype(str)
    order = list(dict.fromkeys(t.sort_values("stage_index")["transition"]))
    wide = t.pivot(index="owner", columns="transition", values=value).reindex(columns=order)
    wide.columns.name = None
    return wide.astype(float).reset_index().sort_values("owner").reset_index(drop=True)


def stage_conversion_reason(stage_rates: pd.DataFrame | None = None) -> str:
    """The sentence notebook 04 prints instead of a per-rep stage heatmap that would show nothing: no cell with a
    decided deal, or every cell 0% (no deal advanced anywhere: a heatmap of zeros). "" when ``stage_rates``
    (:func:`stage_conversion_by_rep`) has something to draw; without it, the no-data sentence."""
    from ..i18n import tr

    vals = None if stage_rates is None else stage_rates.drop(columns="owner", errors="ignore").to_numpy(float)
    if vals is not None and np.isfinite(vals).any():
        if np.nanmax(vals) > 0 and np.nanmin(vals) < np.nanmax(vals):
            return ""
        if np.nanmax(vals) == 0:
            return tr("No stage conversion by rep: no rep's deal has advanced past any stage yet, so every cell would "
                      "read 0%.")
        return tr("No stage conversion by rep: every rep converts {rate:.0%} at every stage, so there is nothing to "
                  "compare.", rate=float(np.nanmax(vals)))
    return tr("No stage conversion by rep: no rep has a deal that advanced or was lost at a stage before the end.")


def _withhold(t, bench: dict, notes: dict, cols, text: str) -> None:
    """Write ``text`` (why a column is not available) into each of ``cols``, its team and company benchmark
    columns, the benchmark row and the notes: the scorecard says why instead of showing a number."""
    for col in cols:
        for suffix in ("", "_team", "_company"):
            if col + suffix in t:
                notes[col + suffix] = text
                t[col + suffix] = text
        if col in bench:
            bench[col] = text
