"""Lead funnel, deal totals and sales velocity (re-exported by :mod:`salesops_kit.funnel`; the funnel KPIs are in
:mod:`._kpis`).

Scans go through narwhals like the rest of the funnel; see :mod:`salesops_kit.funnel` for the definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import narwhals as nw
import numpy as np
import pandas as pd

from ..data.schema import StageModel
from ..engines.ops import (
    CLASH,
    as_list,
    as_pylit,
    check_labels,
    collect,
    columns,
    count_groups,
    grouped,
    has_outcome_flags,
    hashed_left_join,
    lazy,
    outcome_of,
    plain_dtypes,
    require_columns,
    resolve,
    sort_out,
)
from ..stats import wilson_interval
from ..tools.exceptions import MissingColumnsError
from ..tools.results import Result
from ..tools.validation import require_columns as check_columns

__all__ = ["lead_funnel", "LeadFunnel", "deal_totals", "won_revenue", "sales_velocity", "SalesVelocity",
           "LEAD_FUNNEL_COLUMNS", "DAYS_PER_MONTH", "LEAD_MATURITY_DAYS", "lead_maturity_cutoff",
           "lead_maturity_window", "open_pipeline"]

DAYS_PER_MONTH = 365.25 / 12

#: a lead counts in a conversion rate once it is this many days old at the as-of date (younger leads have not had
#: time to convert); the one default of the funnel (notebook 01) and the rep scorecard (notebook 04)
#: decided deals (closed, or past the step) a finding's number needs before it advises anything: below it a
#: rate or a median moves by tens of points with one deal, so the section shows the number but draws no finding
MIN_DEALS = 10
ALL_HISTORY = "all history"  # the window of a figure computed over every deal in the export
LEAD_MATURITY_DAYS = 90


def lead_maturity_cutoff(as_of, maturity_days: int = LEAD_MATURITY_DAYS) -> pd.Timestamp:
    """The last instant a lead may be created and still count as mature: the END of the calendar day
    ``maturity_days`` before the as-of day (inclusive, to the microsecond).

    The one definition of a mature lead, by calendar day: with ``as_of`` 2025-12-15 and 90 days, every lead
    created on or before 2025-09-16 (any time of that day) counts, so a lead created at 10:00 on 2025-09-16 is
    not left out because the as-of date has no time of day. Filter with ``created_date <= cutoff``.
    """
    day = pd.Timestamp(as_of).normalize() - pd.Timedelta(days=int(maturity_days))
    return day + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)


def lead_maturity_window(as_of, maturity_days: int = LEAD_MATURITY_DAYS, lang: str | None = None) -> str:
    """The window of a mature-lead figure, in the report language: ``leads created by 2025-09-16, at least 90
    days old`` (the as-of date 2025-12-15 less 90 days)."""
    from ..i18n import format_date, tr

    return tr("leads created by {date}, at least {days} days old", lang=lang,
              date=format_date(lead_maturity_cutoff(as_of, maturity_days), lang), days=int(maturity_days))


# --------------------------------------------------------------------------------------------
# lead funnel
# --------------------------------------------------------------------------------------------

LEAD_FUNNEL_COLUMNS = ["leads", "opportunities", "won", "open_opportunities",
                       "lead_to_opportunity", "lead_to_opportunity_ci_low", "lead_to_opportunity_ci_high",
                       "opportunity_to_win", "opportunity_to_win_ci_low", "opportunity_to_win_ci_high",
                       "lead_to_win", "lead_to_win_ci_low", "lead_to_win_ci_high", "maturity_days", "created_until"]
_LEAD_STEPS = ("lead_to_opportunity", "opportunity_to_win", "lead_to_win")


@dataclass(frozen=True, repr=False)
class LeadFunnel(Result):
    """Result of :func:`lead_funnel`.

    Attributes
    ----------
    table : DataFrame ``<by>, leads, opportunities, won, open_opportunities, lead_to_opportunity (+ci),
        opportunity_to_win (+ci), lead_to_win (+ci), maturity_days, created_until`` (also ``summary()``).
    by : the segment columns.
    maturity_days : leads younger than this at ``as_of`` are left out.
    """

    table: pd.DataFrame
    by: tuple[str, ...] = ()
    maturity_days: int = LEAD_MATURITY_DAYS

    def headline(self) -> str:
        t = self.table
        if t.empty:
            return f"Lead funnel: no lead at least {self.maturity_days} days old."
        if self.by:
            return f"Lead funnel by {', '.join(self.by)}: {len(t)} segments."
        r = t.iloc[0]
        s = (f"{int(r['leads']):,} leads → {int(r['opportunities']):,} opportunities "
             f"({r['lead_to_opportunity']:.1%})")
        if pd.notna(r["lead_to_win"]):
            s += f" → {int(r['won']):,} won ({r['lead_to_win']:.1%} of leads)"
        return s + f"; leads at least {self.maturity_days} days old."

    def plot(self, ax=None, **kwargs):
        """The conversion steps (one segment) or lead → opportunity per segment, with 95% intervals
        (:func:`salesops_kit.plots.plot_estimates`)."""
        from ..plots.costs import plot_estimates

        t = self.table
        if self.by:
            lab = t[list(self.by)].astype(str).agg(" | ".join, axis=1)
            long = pd.DataFrame({"step": lab, "rate": t["lead_to_opportunity"],
                                 "ci_low": t["lead_to_opportunity_ci_low"],
                                 "ci_high": t["lead_to_opportunity_ci_high"]})
        else:
            r = t.iloc[0] if len(t) else pd.Series(dtype=float)
            long = pd.DataFrame([{"step": s.replace("_", " "), "rate": r.get(s), "ci_low": r.get(f"{s}_ci_low"),
                                  "ci_high": r.get(f"{s}_ci_high")} for s in _LEAD_STEPS]) if len(t) else \
                pd.DataFrame(columns=["step", "rate", "ci_low", "ci_high"])
        return plot_estimates(long, value="rate", label="step", ax=ax, **kwargs)


def lead_funnel(leads, opportunities=None, *, by=None, maturity_days: int = LEAD_MATURITY_DAYS, as_of=None,
                stages: StageModel | None = None) -> LeadFunnel:
    """Leads → opportunities → won deals, counting only leads old enough to have converted.

    Parameters
    ----------
    leads : DataFrame or Dataset
        ``lead_id, created_date`` and ``opportunity_id`` (or ``converted_date``) + the ``by`` columns
        (e.g. ``source``, ``owner``). A Dataset brings opportunities, stages and as-of.
    opportunities : DataFrame, optional
        ``opportunity_id, stage`` — needed for the won level (same engine as ``leads``).
    maturity_days : int
        Only leads created at least this many days before ``as_of`` count (younger leads have not
        had time to convert): created on or before the day :func:`lead_maturity_cutoff` names.
    as_of : date, optional
        Default: the Dataset's as-of date, else the latest lead creation date.

    Returns
    -------
    LeadFunnel
        ``.table``: ``<by>, leads, opportunities, won, open_opportunities, lead_to_opportunity (+ci),
        opportunity_to_win (+ci), lead_to_win (+ci), maturity_days, created_until``; e.g. 1,000
        leads → 100 opportunities → 20 won gives 10%, 20% and 2%.
    """
    from ..data.load import Dataset

    if isinstance(leads, Dataset):
        ds = leads
        ds.require("leads", purpose="the lead funnel")
        opportunities = ds.opportunities if opportunities is None else opportunities
        stages = stages if stages is not None else ds.stages
        as_of = as_of if as_of is not None else ds.as_of
        leads = ds.leads
    by = as_list(by)
    lf = lazy(leads, table="leads")
    have = columns(lf)
    require_columns(lf, ["created_date"] + by, table="leads", purpose="the lead funnel")
    conv_col = "opportunity_id" if "opportunity_id" in have else "converted_date"
    if conv_col not in have:
        raise MissingColumnsError("leads has neither opportunity_id nor converted_date, so conversion cannot be seen; "
                                  "map one of them (tables.leads.columns) in the mapping.", table="leads",
                                  missing=["opportunity_id", "converted_date"], available=have)
    if as_of is None:
        as_of = collect(lf.select(nw.col("created_date").max()))["created_date"].iloc[0]
    cutoff = lead_maturity_cutoff(as_of, maturity_days)
    g, with_won = _lead_groups(lf, opportunities, by=by, conv_col=conv_col, cutoff=cutoff, stages=stages)
    if not len(g):
        return LeadFunnel(pd.DataFrame(columns=by + LEAD_FUNNEL_COLUMNS), tuple(by), int(maturity_days))
    t = _lead_rates(g, by, stages=stages, with_won=with_won)
    t["maturity_days"] = int(maturity_days)
    t["created_until"] = cutoff.normalize()  # the last creation day counted (inclusive)
    return LeadFunnel(sort_out(t[by + LEAD_FUNNEL_COLUMNS], by), tuple(by), int(maturity_days))


def _lead_groups(lf, opportunities, *, by: list[str], conv_col: str, cutoff: pd.Timestamp,
                 stages: StageModel | None) -> tuple[pd.DataFrame, bool]:
    """Mature leads counted per segment, converted or not (and their opportunity's stage when the opportunities
    are given): ``(counts, whether the won level is known)``."""
    with_won = opportunities is not None and conv_col == "opportunity_id"
    if with_won and stages is None:
        raise TypeError("lead_funnel needs stages= (a StageModel) to tell won deals apart; pass ds.stages.")
    ol = lazy(opportunities) if with_won else None
    if with_won and has_outcome_flags(columns(ol)):  # the loader's is_won / is_closed: no label classified
        g = _lead_counts_from_flags(nw.to_native(lf), lf, opportunities, ol, by=by, cutoff=cutoff)
        if g is not None:
            return g, with_won
    lf = lf.filter(nw.col("created_date") <= as_pylit(cutoff))
    lf = lf.with_columns(nw.when(nw.col(conv_col).is_null()).then(0).otherwise(1).alias("_converted"))
    keys = by + ["_converted"]
    if with_won:
        ol = ol.select("opportunity_id", nw.col("stage").alias("_opp_stage"))
        lf = lf.select(*dict.fromkeys(by + ["opportunity_id", "_converted"])).join(ol, on="opportunity_id", how="left")
        keys.append("_opp_stage")
    g = collect(lf.group_by(*keys, drop_null_keys=False).agg(nw.len().alias("n")))
    return g, with_won


def _lead_counts_from_flags(leads, lf, opportunities, ol, *, by: list[str], cutoff: pd.Timestamp):
    """Mature leads per segment with the opportunity flags joined: ``<by>, _converted, _won, _open, n`` (one row
    per combination; ``_won``/``_open`` are 1 for a converted lead whose opportunity is won / still open). One
    join and one group-by on the loader's flags; on pandas a hash look-up of the opportunity ids instead of a
    merge (None when the ids are not unique: the caller's join then counts a lead once per matching deal)."""
    if nw.dependencies.is_pandas_dataframe(leads) and nw.dependencies.is_pandas_dataframe(opportunities):
        cd = leads["created_date"]
        if pd.api.types.is_datetime64_dtype(cd.dtype) and not isinstance(cd.dtype, pd.DatetimeTZDtype):
            keep = np.flatnonzero(cd.to_numpy() <= np.datetime64(cutoff.to_datetime64()))
            oid = leads["opportunity_id"].to_numpy()[keep]
            conv = pd.notna(oid)
            try:
                pos = pd.Index(opportunities["opportunity_id"]).get_indexer(oid)
            except pd.errors.InvalidIndexError:  # duplicated opportunity ids
                pos = None
            if pos is not None:
                hit = pos >= 0
                won = np.zeros(len(oid), dtype=bool)
                opn = np.zeros(len(oid), dtype=bool)
                won[hit] = opportunities["is_won"].to_numpy(dtype=bool, na_value=False)[pos[hit]]
                opn[hit] = ~opportunities["is_closed"].to_numpy(dtype=bool, na_value=True)[pos[hit]]
                g = count_groups({**{c: leads[c].to_numpy()[keep] for c in by},
                                  "_converted": conv.astype(np.int64), "_won": (won & conv).astype(np.int64),
                                  "_open": (opn & conv).astype(np.int64)})
                if g is not None:
                    return plain_dtypes(g, by)
    lf = lf.filter(nw.col("created_date") <= as_pylit(cutoff)).select(*dict.fromkeys(by + ["opportunity_id"]))
    conv = ~nw.col("opportunity_id").is_null()
    # only converted leads are joined to their deal (most leads never convert): two small group-bys, one join
    rest = collect(lf.filter(~conv).group_by(*by, drop_null_keys=False).agg(nw.len().alias("n")) if by
                   else lf.filter(~conv).select(nw.len().alias("n")))
    rest = rest.assign(_converted=0, _won=0, _open=0)
    ol = ol.select("opportunity_id", nw.col("is_won").alias("_w"), nw.col("is_closed").alias("_c"))
    keys = by + ["_converted", "_won", "_open"]

    def counts(j, *extra):
        j = j.with_columns(nw.lit(1).alias("_converted"), nw.col("_w").fill_null(False).cast(nw.Int64).alias("_won"),
                           (~nw.col("_c").fill_null(True)).cast(nw.Int64).alias("_open"))
        return collect(j.group_by(*keys, drop_null_keys=False).agg(nw.len().alias("n"), *extra))

    g = None
    hashed = hashed_left_join(lf.filter(conv), ol, "opportunity_id")  # Polars: the join on a hash of the ids
    if hashed is not None:
        g = counts(hashed, nw.col(CLASH).sum().alias(CLASH))
        g = g.drop(columns=CLASH) if g[CLASH].sum() == 0 else None  # two ids with one hash: join on the ids
    if g is None:
        g = counts(lf.filter(conv).join(ol, on="opportunity_id", how="left"))
    return pd.concat([g, rest[rest["n"] > 0]], ignore_index=True)


def _lead_rates(g: pd.DataFrame, by: list[str], *, stages: StageModel | None, with_won: bool) -> pd.DataFrame:
    """Leads, opportunities, won and open per segment with the three conversion rates and their Wilson intervals."""
    if "_won" in g:  # counted on the loader's flags
        g["_won"], g["_open"] = g["_won"] == 1, g["_open"] == 1
    elif with_won:
        g["_won"] = g["_opp_stage"].isin(stages.won) & (g["_converted"] == 1)
        g["_open"] = g["_opp_stage"].isin(stages.order) & (g["_converted"] == 1)
    else:
        g["_won"], g["_open"] = False, False
    g["_opps"] = g["_converted"] == 1
    agg = {"leads": g["n"], "opportunities": g["n"] * g["_opps"], "won": g["n"] * g["_won"],
           "open_opportunities": g["n"] * g["_open"]}
    t = pd.DataFrame(agg)
    if by:
        t[by] = g[by]
        t = t.groupby(by, dropna=False, sort=True).sum().reset_index()
    else:
        t = t.sum().to_frame().T
    for c in ("leads", "opportunities", "won", "open_opportunities"):
        t[c] = t[c].astype("int64")
    for name, num, den in (("lead_to_opportunity", "opportunities", "leads"),
                           ("opportunity_to_win", "won", "opportunities"), ("lead_to_win", "won", "leads")):
        k, n = t[num].to_numpy(float), t[den].to_numpy(float)
        t[name] = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
        lo, hi = wilson_interval(k, n)
        t[f"{name}_ci_low"], t[f"{name}_ci_high"] = np.atleast_1d(lo), np.atleast_1d(hi)
    if not with_won:
        for c in ("won", "open_opportunities"):
            t[c] = pd.array([pd.NA] * len(t), dtype="Int64")
        for c in [c for c in t.columns if c.startswith(("opportunity_to_win", "lead_to_win"))]:
            t[c] = np.nan
    return t


# --------------------------------------------------------------------------------------------
# open pipeline (the money behind a funnel decision)
# --------------------------------------------------------------------------------------------

def open_pipeline(ds, *, by=None) -> pd.DataFrame:
    """Open deals and their amount per open stage (and ``by`` columns), in the report currency.

    Returns ``stage, <by>, open_deals, open_amount, currency``; ``open_amount`` is missing (and ``currency``
    None) when the deals are in several currencies without rates (no total across codes), or when no open deal
    there has an amount. The money a funnel finding moves (its ``stake``) is read from here.
    """
    from ..data.currency import convert, needs_split, report_currency

    by = as_list(by)
    cols = ["stage", *by, "open_deals", "open_amount", "currency"]
    if ds.opportunities is None:
        return pd.DataFrame(columns=cols)
    split = needs_split(ds, "opportunities")
    code = None if split else report_currency(ds, "opportunities")
    lf = lazy(convert(ds.opportunities, ds, "opportunities"))
    have = columns(lf)
    if any(c not in have for c in by):
        return pd.DataFrame(columns=cols)
    amount = nw.col("amount").cast(nw.Float64) if "amount" in have and not split else nw.lit(None, nw.Float64)
    g = collect(lf.filter(nw.col("stage").is_in(list(ds.stages.order)))
                .with_columns(amount.alias("_amount"))
                .group_by("stage", *by, drop_null_keys=False)
                .agg(nw.len().alias("open_deals"), nw.col("_amount").sum().alias("open_amount"),
                     nw.col("_amount").count().alias("_n_amount")))
    g["open_amount"] = g["open_amount"].where(g["_n_amount"] > 0).astype(float)
    g["currency"] = code if code and g["open_amount"].notna().any() else None
    g["open_deals"] = g["open_deals"].astype("int64")
    order = {s: i for i, s in enumerate(ds.stages.order)}
    g = g.assign(_o=g["stage"].map(order)).sort_values(["_o", *by]).reset_index(drop=True)
    return g[cols]


# --------------------------------------------------------------------------------------------
# sales velocity
# --------------------------------------------------------------------------------------------

def deal_totals(opportunities, *, by=None, stages: StageModel) -> pd.DataFrame:
    """One scan: per segment, won / lost / open counts and won amount sum, sum of squares and count.

    Returns ``<by>, won, lost, open, won_amount, won_amount_sq, won_amount_n``.
    """
    by = as_list(by)
    o = lazy(opportunities)
    require_columns(o, ["stage", "amount"] + by, table="opportunities", purpose="deal totals")
    o = o.select(*dict.fromkeys(by + ["stage", "amount"]))
    is_won = nw.col("stage").is_in(list(stages.won))
    amt = nw.col("amount").cast(nw.Float64)
    o = o.with_columns(nw.when(is_won).then(amt).otherwise(None).alias("_wa"))
    o = o.with_columns((nw.col("_wa") * nw.col("_wa")).alias("_wa2"))
    g = collect(o.group_by(*(by + ["stage"]), drop_null_keys=False).agg(
        nw.len().alias("n"), nw.col("_wa").sum().alias("won_amount"), nw.col("_wa2").sum().alias("won_amount_sq"),
        nw.col("_wa").count().alias("won_amount_n")))
    check_labels(g["stage"], stages, table="opportunities", allow_null=False)
    cols = by + ["won", "lost", "open", "won_amount", "won_amount_sq", "won_amount_n"]
    if not len(g):
        return pd.DataFrame(columns=cols)
    out = outcome_of(g["stage"], stages)
    for o_ in ("won", "lost", "open"):
        g[o_] = np.where(out == o_, g["n"], 0)
    g = g.drop(columns=["stage", "n"])
    t = g.groupby(by, dropna=False, sort=True).sum().reset_index() if by else g.sum().to_frame().T
    for c in ("won", "lost", "open", "won_amount_n"):
        t[c] = t[c].astype("int64")
    return sort_out(t[cols], by)


def won_revenue(opportunities, *, period: str = "M", by=None, stages: StageModel | None = None) -> pd.DataFrame:
    """Won deals and won revenue per close period (and segment).

    Parameters
    ----------
    opportunities : DataFrame (pandas / Polars / DuckDB) or Dataset — ``stage, amount, close_date`` + ``by``.
    period : "M", "Q" or "Y" — calendar period of ``close_date``.

    Returns
    -------
    DataFrame
        ``<by>, period, won_deals, won_revenue`` (blank amounts count as 0), sorted. From a Dataset, amounts are
        in the report currency when the mapping gives ``currency.rates``; over several currencies without rates
        the rows are per ``currency`` too (never a total mixing them).
    """
    from ..data.currency import convert, needs_split
    from ..data.dataset import Dataset
    from ..engines.ops import period_expr

    ds = opportunities if isinstance(opportunities, Dataset) else None
    opps, _, stages, _ = resolve(opportunities, stages=stages)
    by = as_list(by)
    if ds is not None:
        opps = convert(opps, ds, "opportunities")
        if needs_split(ds, "opportunities") and "currency" not in by:
            by = by + ["currency"]
    o = lazy(opps)
    names = columns(o)
    check_columns(names, ["stage", "amount", "close_date"] + by, table="opportunities", purpose="won revenue")
    if has_outcome_flags(names):  # the loader's is_won: one group-by, no label classified
        g = grouped(opps, o, by, period=("close_date", period), drop_null_period=False, where="is_won",
                    sums=("amount",)).rename(columns={"n": "won_deals", "amount": "won_revenue"})
        return sort_out(g[by + ["period", "won_deals", "won_revenue"]], by + ["period"])
    o = o.select(*dict.fromkeys(by + ["stage", "amount", "close_date"]))
    o = o.filter(nw.col("stage").is_in(list(stages.won))).with_columns(
        period_expr("close_date", period).alias("period"), nw.col("amount").cast(nw.Float64).alias("won_revenue"))
    g = collect(o.group_by(*(by + ["period"]), drop_null_keys=False).agg(
        nw.len().alias("won_deals"), nw.col("won_revenue").sum()))
    if len(g):
        g["won_deals"] = g["won_deals"].astype("int64")
    return sort_out(g[by + ["period", "won_deals", "won_revenue"]], by + ["period"])


@dataclass(frozen=True, repr=False)
class SalesVelocity(Result):
    """Result of :func:`sales_velocity`.

    Attributes
    ----------
    table : DataFrame ``<by>, open_deals, win_rate, avg_won_deal_size, cycle_median_days, velocity_per_day,
        velocity_per_month`` (also ``summary()``).
    by : the segment columns.
    """

    table: pd.DataFrame
    by: tuple[str, ...] = ()

    def headline(self) -> str:
        t = self.table
        if t.empty:
            return "Sales velocity: no deals."
        if self.by:
            return f"Sales velocity by {', '.join(self.by)}: {len(t)} segments."
        r = t.iloc[0]
        return (f"Sales velocity {r['velocity_per_month']:,.0f} per month = {int(r['open_deals']):,} open deals × "
                f"{r['win_rate']:.1%} win rate × {r['avg_won_deal_size']:,.0f} average won deal ÷ "
                f"{r['cycle_median_days']:.0f} median days to win × {DAYS_PER_MONTH:.2f}.")

    def plot(self, ax=None, **kwargs):
        """Velocity per month per segment (:func:`salesops_kit.plots.plot_estimates`)."""
        from ..plots.costs import plot_estimates

        t = self.table
        lab = t[list(self.by)].astype(str).agg(" | ".join, axis=1) if self.by else pd.Series(["all"] * len(t))
        return plot_estimates(t.assign(_row=lab.to_numpy()), value="velocity_per_month", label="_row", ax=ax, **kwargs)


def sales_velocity(opportunities, *, by=None, stages: StageModel | None = None, as_of=None,
                   cycle_summary: pd.DataFrame | None = None) -> SalesVelocity:
    """Sales velocity = open deals × win rate × average won deal size / median cycle days.

    Parameters
    ----------
    opportunities : DataFrame or Dataset
        ``stage, amount, created_date, close_date`` + the ``by`` columns.
    by : segment columns, optional
    cycle_summary : DataFrame, optional
        ``SalesCycle.table`` for the same ``by`` (computed when not given).

    Returns
    -------
    SalesVelocity
        ``.table``: ``<by>, open_deals, win_rate, avg_won_deal_size, cycle_median_days, velocity_per_day,
        velocity_per_month`` (currency per day / per month; win rate is the closed definition over all
        periods, cycle the censoring-aware median days to win from :func:`salesops_kit.funnel.cycle.sales_cycle`).
        From a Dataset, amounts are in the report currency when the mapping gives ``currency.rates``; over
        several currencies without rates the rows are per ``currency`` too (never a velocity mixing them).
    """
    from ..data.currency import convert, needs_split
    from ..data.dataset import Dataset
    from .cycle import sales_cycle

    ds = opportunities if isinstance(opportunities, Dataset) else None
    opps, _, stages, as_of = resolve(opportunities, stages=stages, as_of=as_of)
    by = as_list(by)
    if ds is not None:
        opps = convert(opps, ds, "opportunities")
        if needs_split(ds, "opportunities") and "currency" not in by:
            by = by + ["currency"]
            cycle_summary = None  # the given summary is not per currency
    tot = deal_totals(opps, by=by, stages=stages)
    if cycle_summary is None:
        cycle_summary = sales_cycle(opps, by=by, stages=stages, as_of=as_of, n_boot=0).table
    cols = by + ["open_deals", "win_rate", "avg_won_deal_size", "cycle_median_days", "velocity_per_day",
                 "velocity_per_month"]
    if not len(tot):
        return SalesVelocity(pd.DataFrame(columns=cols), tuple(by))
    t = tot.copy()
    t["open_deals"] = t["open"]
    closed = t["won"] + t["lost"]
    t["win_rate"] = np.where(closed > 0, t["won"] / closed.where(closed > 0, 1), np.nan)
    with_amount = t["won_amount_n"] > 0
    t["avg_won_deal_size"] = np.where(with_amount, t["won_amount"] / t["won_amount_n"].where(with_amount, 1), np.nan)
    cs = cycle_summary[by + ["median_days_to_win"]] if by else cycle_summary[["median_days_to_win"]]
    # no deal with a usable time to win (e.g. every won deal closed before it was created): no cycle, no velocity
    t = (t.merge(cs, on=by, how="left") if by else
         t.assign(median_days_to_win=cs["median_days_to_win"].iloc[0] if len(cs) else np.nan))
    t["cycle_median_days"] = t["median_days_to_win"].astype(float)
    days = t["cycle_median_days"].where(t["cycle_median_days"] > 0)
    t["velocity_per_day"] = t["open_deals"] * t["win_rate"] * t["avg_won_deal_size"] / days
    t["velocity_per_month"] = t["velocity_per_day"] * DAYS_PER_MONTH
    return SalesVelocity(sort_out(t[cols], by), tuple(by))
