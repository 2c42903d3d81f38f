"""Pipeline in money and coverage against quota (issue 18, part 1).

* :func:`pipeline_by_stage`: open deals and their amount per open stage (Salesforce's pipeline-by-stage report,
  built on :func:`~salesops_kit.funnel.metrics.open_pipeline`), weighted two ways and labelled: by the CRM's
  ``probability`` of each deal, and by the kit's historical win rate of the stage (closed deals that reached it,
  :func:`~salesops_kit.funnel.calibration.stage_calibration`).
* :func:`pipeline_coverage`: per rep, team and company, the open pipeline expected to close in the quota period
  running at the as-of date / the quota still to win in it (quota minus won so far); and, per team, the coverage
  the team needed in the past: for every complete quota period, the pipeline open at its start and expected to
  close in it against the quota, beside whether the period made quota.

The quota-period rules (a period's end, the period running at a date) are defined here, in the earliest topic that
uses them, and the rep scorecard (:mod:`salesops_kit.reps`) reads them from here. Scans go through narwhals (any
engine); the quotas table (reps x periods) is small and collected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import narwhals as nw
import numpy as np
import pandas as pd

from ..engines.ops import as_pylit, collect, columns, lazy, resolve
from ..tools.results import Result

__all__ = ["quota_frame", "current_quota_rows", "quota_window_label", "owner_teams", "period_pipeline",
           "PipelineByStage", "pipeline_by_stage", "FunnelAmounts", "funnel_amounts",
           "Coverage", "pipeline_coverage", "MIN_PERIODS", "MIN_EACH"]

#: complete quota periods a team needs before the coverage it needed is estimated, and periods of each kind
#: (made quota, missed) among them: a logistic fit on fewer says nothing (set before looking at any data)
MIN_PERIODS = 8
MIN_EACH = 3


# --------------------------------------------------------------------------------------------
# quota periods (shared with the rep scorecard)
# --------------------------------------------------------------------------------------------

def quota_frame(quotas) -> pd.DataFrame:
    """Quota rows (small: reps x months) as pandas with ``period_end`` filled (end of the month)."""
    q = nw.from_native(quotas).lazy()
    cols = list(q.collect_schema().names())
    keep = [c for c in ("owner", "period_start", "period_end", "quota") if c in cols]
    df = q.select(*keep).collect().to_pandas().copy()
    df["period_start"] = pd.to_datetime(df["period_start"])
    end = df["period_start"] + pd.offsets.MonthEnd(0)
    df["period_end"] = pd.to_datetime(df["period_end"]).fillna(end) if "period_end" in df else end
    return df


def current_quota_rows(q: pd.DataFrame, as_of) -> pd.DataFrame:
    """The rows of :func:`quota_frame` whose period runs at ``as_of`` (started on or before it, ending after it):
    the period whose quota is still to be won. A period ending on the as-of day is complete."""
    as_of = pd.Timestamp(as_of)
    return q[(q["period_start"] <= as_of) & (q["period_end"] > as_of)]


def quota_window_label(window, lang: str | None = None) -> str:
    """``2025-01 to 2025-11`` (months) or ``2025-01-01 to 2025-11-30`` (other periods) in the report language;
    one month is written once."""
    from ..i18n import format_date, format_month, tr

    first, last = (pd.Timestamp(x) for x in window)
    monthly = first.day == 1 and (last + pd.Timedelta(days=1)).day == 1
    fmt = format_month if monthly else format_date
    if monthly and first.to_period("M") == last.to_period("M"):
        return fmt(first, lang)
    return tr("{first} to {last}", lang=lang, first=fmt(first, lang), last=fmt(last, lang))


def owner_teams(opportunities) -> pd.Series:
    """Each owner's team, as the rep scorecard assigns it: the alphabetically last non-missing team of the owner's
    deals (``"all"`` without a team column). Index: owner."""
    lf = lazy(opportunities)
    team = nw.col("team") if "team" in columns(lf) else nw.lit("all")
    g = collect(lf.filter(~nw.col("owner").is_null()).with_columns(team.alias("_team"))
                .group_by("owner").agg(nw.col("_team").max()))
    return g.set_index("owner")["_team"].fillna("all").astype(str)


# --------------------------------------------------------------------------------------------
# pipeline by stage, weighted
# --------------------------------------------------------------------------------------------

PIPELINE_COLUMNS = ["stage", "open_deals", "open_amount", "deals_with_probability", "crm_probability",
                    "weighted_crm", "historical_win_rate", "historical_closed", "weighted_historical"]


@dataclass(frozen=True, repr=False)
class PipelineByStage(Result):
    """Result of :func:`pipeline_by_stage`.

    Attributes
    ----------
    table : one row per open stage: ``stage, open_deals, open_amount, deals_with_probability, crm_probability``
        (amount-weighted mean of the CRM's probability), ``weighted_crm`` (sum of amount x CRM probability over
        the deals that have one), ``historical_win_rate`` (won / closed among closed deals that reached the stage,
        all history; missing under ``MIN_DEALS`` such deals), ``historical_closed`` (those closed deals),
        ``weighted_historical`` (open amount x that rate).
    currency : the amounts' code (report currency), or None.
    limitation : one sentence when the data cannot support the section, else None.
    notes : sentences on what a weighting leaves out (no CRM probability, no historical rate).
    """

    table: pd.DataFrame
    currency: str | None = None
    limitation: str | None = None
    notes: tuple[str, ...] = ()

    def totals(self) -> dict:
        """Open deals, open amount and both weighted amounts over all open stages (NaN when not known; the
        history-weighted total only when every stage holding open money has a historical win rate)."""
        t = self.table
        out = {"open_deals": int(t["open_deals"].sum()) if len(t) else 0}
        for c in ("open_amount", "weighted_crm"):
            out[c] = float(t[c].sum(min_count=1)) if len(t) and t[c].notna().any() else float("nan")
        # weighted by history only when every stage with open money has a rate (else the total would understate)
        has = t["historical_win_rate"].notna() | ~(t["open_amount"].fillna(0) > 0)
        out["weighted_historical"] = float(t["weighted_historical"].sum()) if len(t) and has.all() and \
            t["weighted_historical"].notna().any() else float("nan")
        return out

    def headline(self) -> str:
        from ..i18n import format_money, tr

        if self.limitation:
            return self.limitation
        s = self.totals()
        kw = {"n": s["open_deals"], "amount": format_money(s["open_amount"], self.currency),
              "crm": format_money(s["weighted_crm"], self.currency),
              "hist": format_money(s["weighted_historical"], self.currency)}
        crm, hist = np.isfinite(s["weighted_crm"]), np.isfinite(s["weighted_historical"])
        if crm and hist:
            return tr("{n:,} open deals worth {amount}; {crm} weighted by the CRM's probabilities, {hist} weighted by "
                      "the stages' historical win rates.", **kw)
        if crm:
            return tr("{n:,} open deals worth {amount}; {crm} weighted by the CRM's probabilities.", **kw)
        if hist:
            return tr("{n:,} open deals worth {amount}; {hist} weighted by the stages' historical win rates.", **kw)
        return tr("{n:,} open deals worth {amount}.", **kw)

    def plot(self, ax=None, **kwargs):
        from ..plots.funnel import plot_pipeline_by_stage

        return plot_pipeline_by_stage(self.table, currency=self.currency, ax=ax, **kwargs)


def pipeline_by_stage(ds) -> PipelineByStage:
    """Open pipeline per open stage in count and amount, weighted by the CRM's probability and by the stage's
    historical win rate (each labelled; see :class:`PipelineByStage`).

    ``ds`` is a :class:`salesops_kit.Dataset`; amounts are in the report currency (``currency.rates``). Over several
    currencies without rates, or without amounts, the section is one sentence (:attr:`PipelineByStage.limitation`).
    """
    from ..data.currency import convert, needs_split, report_currency
    from ..i18n import tr
    from ._findings import MIN_DEALS
    from .calibration import UNPLACED_TOLERANCE, stage_calibration
    from .metrics import open_pipeline

    empty = pd.DataFrame(columns=PIPELINE_COLUMNS)
    if ds.opportunities is None:
        return PipelineByStage(empty, limitation=tr("No {table} table in this dataset: no pipeline.",
                                                    table="opportunities"))
    if needs_split(ds, "opportunities"):
        return PipelineByStage(empty, limitation=tr(
            "Amounts are in several currencies and the mapping gives no rates: the pipeline is not totalled in money "
            "(set currency.rates in the mapping)."))
    opps = convert(ds.opportunities, ds, "opportunities")
    have = columns(lazy(opps))
    if "amount" not in have:
        return PipelineByStage(empty, limitation=tr("No {column} column in {table}: the pipeline cannot be counted "
                                                    "in money (map it in {key}).", column="amount",
                                                    table="opportunities", key="tables.opportunities.columns"))
    base = open_pipeline(ds)
    if not len(base):
        return PipelineByStage(empty, limitation=tr("No open deal at the as-of date: there is no pipeline."))
    if base["open_amount"].isna().all():
        return PipelineByStage(empty, limitation=tr("No open deal has an amount: the pipeline cannot be counted in "
                                                    "money."))
    code = report_currency(ds, "opportunities")
    t = base[["stage", "open_deals", "open_amount"]].copy()
    notes = []
    if "probability" in have:
        amt = nw.col("amount").cast(nw.Float64)
        p = nw.col("probability").cast(nw.Float64)
        both = ~amt.is_null() & ~p.is_null()
        g = collect(lazy(opps).filter(nw.col("stage").is_in(list(ds.stages.order)))
                    .with_columns(nw.when(both).then(amt * p).otherwise(None).alias("_wp"),
                                  nw.when(both).then(amt).otherwise(None).alias("_wa"),
                                  nw.when(~p.is_null()).then(1).otherwise(0).alias("_hp"))
                    .group_by("stage").agg(nw.col("_wp").sum().alias("weighted_crm"),
                                           nw.col("_wa").sum().alias("_amount_p"),
                                           nw.col("_wp").count().alias("_n_wp"),
                                           nw.col("_hp").sum().alias("deals_with_probability")))
        t = t.merge(g, on="stage", how="left")
        t["weighted_crm"] = t["weighted_crm"].where(t["_n_wp"] > 0)
        t["crm_probability"] = t["weighted_crm"] / t["_amount_p"].where(t["_amount_p"] > 0)
        t["deals_with_probability"] = t["deals_with_probability"].fillna(0).astype("int64")
        t = t.drop(columns=["_amount_p", "_n_wp"])
        missing = int(t["open_deals"].sum() - t["deals_with_probability"].sum())
        if not t["deals_with_probability"].any():
            notes.append(tr("No open deal has a CRM probability: no CRM-weighted pipeline."))
        elif missing:
            notes.append(tr("{n:,} open deal(s) have no CRM probability and are left out of the CRM-weighted "
                            "pipeline.", n=missing))
    else:
        t["deals_with_probability"], t["crm_probability"], t["weighted_crm"] = 0, np.nan, np.nan
        notes.append(tr("No {column} column: no CRM-weighted pipeline.", column="probability"))
    cal = stage_calibration(ds)
    ct = cal.table[["stage", "closed", "realised_win_rate"]].rename(
        columns={"closed": "historical_closed", "realised_win_rate": "historical_win_rate"})
    placed = int(cal.table["closed"].max()) if len(cal.table) else 0
    unplaced = cal.unplaced_lost > UNPLACED_TOLERANCE * (placed + cal.unplaced_lost)  # the calibration's own rule
    if unplaced:  # the realised rates count wins and miss losses: no weighting by them
        ct = ct.assign(historical_win_rate=np.nan)
        notes.append(tr("{n:,} lost deal(s) have no recorded stage, so the stages' historical win rates would count "
                        "wins and miss those losses: the pipeline is not weighted by them.",
                        n=int(cal.unplaced_lost)))
    t = t.merge(ct, on="stage", how="left")
    t["historical_closed"] = t["historical_closed"].fillna(0).astype("int64")
    # a rate from a handful of closed deals moves by tens of points with one deal: no weighting by it
    t["historical_win_rate"] = t["historical_win_rate"].where(t["historical_closed"] >= MIN_DEALS)
    t["weighted_historical"] = t["open_amount"] * t["historical_win_rate"]
    if not unplaced and t["historical_win_rate"].isna().any():
        notes.append(tr("Stages reached by fewer than {min} closed deals have no historical win rate, and the "
                        "history-weighted pipeline is not totalled: {stages}.", min=MIN_DEALS,
                        stages=", ".join(t.loc[t["historical_win_rate"].isna(), "stage"].astype(str))))
    return PipelineByStage(t[PIPELINE_COLUMNS].reset_index(drop=True), code, None, tuple(notes))


# --------------------------------------------------------------------------------------------
# stage funnel in money
# --------------------------------------------------------------------------------------------

AMOUNT_FUNNEL_COLUMNS = ["stage", "stage_index", "reached", "reached_amount", "reached_no_amount", "won",
                         "won_amount"]


@dataclass(frozen=True, repr=False)
class FunnelAmounts(Result):
    """Result of :func:`funnel_amounts`.

    Attributes
    ----------
    table : one row per open stage: ``stage, stage_index, reached`` (deals that reached it, as
        :func:`~salesops_kit.funnel.stage_funnel` counts them), ``reached_amount`` (their amount; blank amounts add 0),
        ``reached_no_amount`` (those without an amount), ``won`` and ``won_amount`` (the deals among them won since).
    currency : the amounts' code (report currency), or None.
    funnel_type : as :attr:`StageFunnel.funnel_type` ("any_path", or "inferred" without stage history).
    limitation : one sentence when the data cannot support the section, else None.
    """

    table: pd.DataFrame
    currency: str | None = None
    funnel_type: str = "any_path"
    limitation: str | None = None

    def headline(self) -> str:
        from ..i18n import format_money, tr

        if self.limitation:
            return self.limitation
        top = self.table.iloc[0]
        return tr("{n:,} deals worth {amount} entered the funnel at {stage}; {won} of that amount was won.",
                  n=int(top["reached"]), amount=format_money(top["reached_amount"], self.currency),
                  stage=str(top["stage"]), won=format_money(top["won_amount"], self.currency))

    def plot(self, ax=None, **kwargs):
        from ..plots.funnel import plot_funnel_amounts

        return plot_funnel_amounts(self.table, currency=self.currency, ax=ax, **kwargs)


def funnel_amounts(ds) -> FunnelAmounts:
    """The stage funnel in money: per open stage, the amount of the deals that reached it and of those won after
    reaching it, in the report currency (see :class:`FunnelAmounts`).

    A deal reaches a stage by the rule of :func:`~salesops_kit.funnel.stage_funnel` (its default ``any_path``
    funnel): the stages entered in the stage history (plus the current stage of open deals and ``lost_at_stage``
    of lost deals); without history every open stage up to the current one (won deals: all of them). The rule is
    not restated here: the one grouped scan of :func:`~salesops_kit.funnel.deal_groups` runs with the amount as
    its segment key, so the counts are stage_funnel's ``reached`` by construction. Over several currencies without
    rates the table keeps the counts and leaves the amounts blank (:attr:`FunnelAmounts.limitation` says so).
    """
    from ..data.currency import convert, needs_split, report_currency
    from ..i18n import tr
    from .stages import deal_groups

    empty = pd.DataFrame(columns=AMOUNT_FUNNEL_COLUMNS)
    if ds.opportunities is None:
        return FunnelAmounts(empty, limitation=tr("No {table} table in this dataset: no pipeline.",
                                                  table="opportunities"))
    split = needs_split(ds, "opportunities")
    opps = ds.opportunities if split else convert(ds.opportunities, ds, "opportunities")
    if "amount" not in columns(lazy(opps)):
        return FunnelAmounts(empty, limitation=tr("No {column} column in {table}: the pipeline cannot be counted "
                                                  "in money (map it in {key}).", column="amount",
                                                  table="opportunities", key="tables.opportunities.columns"))
    _, history, stages, _ = resolve(ds)  # the history stage_funnel uses
    # (over several currencies the amounts are grouped as they stand, only to count the deals without one)
    native = nw.from_native(opps).with_columns(nw.col("amount").cast(nw.Float64).alias("_amt")).to_native()
    g = deal_groups(native, history=history, by=["_amt"], stages=stages)
    order = list(stages.order)
    if not len(g):
        return FunnelAmounts(empty, limitation=tr("No deal reached any stage of the funnel: there is nothing to "
                                                  "draw."))
    amt = pd.to_numeric(g["_amt"], errors="coerce").to_numpy(float)
    has = ~np.isnan(amt)
    won = (g["outcome"] == "won").to_numpy()
    rows = []
    for k, s in enumerate(order):
        e = g[f"e_{k}"].to_numpy()
        rows.append({"stage": s, "stage_index": k, "reached": int(e.sum()),
                     "reached_amount": float((e * np.where(has, amt, 0.0)).sum()),
                     "reached_no_amount": int(e[~has].sum()), "won": int(e[won].sum()),
                     "won_amount": float((e[won] * np.where(has, amt, 0.0)[won]).sum())})
    t = pd.DataFrame(rows, columns=AMOUNT_FUNNEL_COLUMNS)
    limitation = None
    if split:
        t[["reached_amount", "won_amount"]] = np.nan
        limitation = tr("Amounts are in several currencies and the mapping gives no rates: the funnel is shown in "
                        "deals only (set currency.rates in the mapping).")
    elif not has.any():
        t[["reached_amount", "won_amount"]] = np.nan
        limitation = tr("No deal has an amount: the funnel cannot be counted in money.")
    code = None if split else report_currency(ds, "opportunities")
    return FunnelAmounts(t, code, "any_path" if history is not None else "inferred", limitation)


# --------------------------------------------------------------------------------------------
# coverage against quota
# --------------------------------------------------------------------------------------------

CURRENT_COLUMNS = ["level", "team", "owner", "quota", "won", "remaining_quota", "open_deals", "pipeline",
                   "coverage", "needed_coverage", "needed_low", "needed_high"]
HISTORY_COLUMNS = ["team", "period_start", "period_end", "seen_on", "quota", "won_to_date", "remaining_quota",
                   "deals_open", "pipeline", "coverage", "won", "attainment", "made_quota"]
NEEDED_COLUMNS = ["team", "periods", "made", "needed_coverage", "ci_low", "ci_high", "method", "reason"]
COMPANY = "company"


@dataclass(frozen=True, repr=False)
class Coverage(Result):
    """Result of :func:`pipeline_coverage`.

    Attributes
    ----------
    table : the quota period running at the as-of date, one row per rep, team and the company (``level``
        rep/team/company): ``quota`` of the period, ``won`` so far (deals won from the period's start to the as-of
        date), ``remaining_quota`` (quota - won, at least 0), ``open_deals`` and ``pipeline`` (open deals whose
        expected close date falls in the period), ``coverage`` = pipeline / remaining quota (missing when the
        quota is already won), and the team's ``needed_coverage`` with its 95% interval.
    history : per team (and ``company``) and complete past quota period, seen on the same day of the period as the
        as-of date (``seen_on``): quota, ``won_to_date``, ``remaining_quota``, ``deals_open`` and ``pipeline``
        expected to close in the period, ``coverage``; then ``won`` in the whole period, ``attainment`` and
        ``made_quota`` (won >= quota).
    needed : per team (and ``company``): the coverage at which a period made quota (the 50% point of a logistic
        fit of made quota on log coverage, with a 95% delta-method interval), the periods behind it, or the reason
        it is not estimated.
    period : (first day, last day) of the running quota period, or None.
    close_date_source : which expected close date the history uses: ``deal_history`` (the close date in force at
        each period's start) or ``final`` (each deal's last close date: looks ahead, see the notebook's caveat).
    currency : the amounts' code, or None.
    limitation : one sentence when the data cannot support coverage at all, else None.
    """

    #: the label of the company rows, and the periods a rule on a team's history needs (read by the findings)
    COMPANY: ClassVar[str] = COMPANY
    MIN_PERIODS: ClassVar[int] = MIN_PERIODS

    table: pd.DataFrame
    history: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=HISTORY_COLUMNS))
    needed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=NEEDED_COLUMNS))
    period: tuple | None = None
    close_date_source: str = "final"
    currency: str | None = None
    limitation: str | None = None
    as_of: pd.Timestamp | None = None

    @property
    def window(self) -> str:
        """The running quota period in the report language (the window of the coverage KPIs)."""
        return quota_window_label(self.period) if self.period is not None else ""

    @staticmethod
    def period_label(start, end) -> str:
        """A quota period in the report language (``2025-12``)."""
        return quota_window_label((start, end))

    @property
    def caption(self) -> str:
        """``quota period 2025-12``: the caption of the coverage tables, in the report language."""
        from ..i18n import tr

        return tr("quota period {window}", window=self.window) if self.period is not None else ""

    def headline(self) -> str:
        from ..i18n import format_money, tr

        if self.limitation:
            return self.limitation
        c = self.table[self.table["level"] == COMPANY].iloc[0]
        if not np.isfinite(c["coverage"]):
            return tr("Quota period {window}: the reps have already won their quota ({won} of {quota}).",
                      window=self.window, won=format_money(c["won"], self.currency),
                      quota=format_money(c["quota"], self.currency))
        return tr("Quota period {window}: {pipeline} of open pipeline expected to close in it against {remaining} of "
                  "quota still to win: coverage {coverage:.2f}×.", window=self.window,
                  pipeline=format_money(c["pipeline"], self.currency),
                  remaining=format_money(c["remaining_quota"], self.currency), coverage=c["coverage"])

    def history_sentence(self) -> str:
        """How the past periods were seen: on which day of the period, with which close dates, how many periods."""
        from ..i18n import tr

        h = self.history[self.history["team"] == COMPANY] if len(self.history) else self.history
        if not len(h):
            return tr("No complete quota period before this one: the coverage needed cannot be learnt yet.")
        day = int((self.as_of.normalize() - self.period[0]).days) + 1
        if self.close_date_source == "deal_history":
            return tr("{n} complete quota periods, each seen on day {day} of the period as this one is now, with the "
                      "close dates in force that day (from {table}).", n=len(h), day=day, table="deal_history")
        return tr("{n} complete quota periods, each seen on day {day} of the period as this one is now, with each "
                  "deal's final close date (no {table} table), which looks ahead: deals that later slipped out of a "
                  "period are missed and deals pulled into it are counted.", n=len(h),
                  day=day, table="deal_history")

    def needed_sentences(self) -> list[str]:
        """What the history says about the coverage each team needed: one sentence per team whose need could be
        learnt (or bracketed), and one sentence for all the teams whose history cannot say it."""
        from ..i18n import tr

        n = self.needed
        if not len(n):
            return [self.needed_sentence()]
        said = n[n["ci_low"].notna()]
        out = [self.needed_sentence(team) for team in said["team"]]
        rest = n[n["ci_low"].isna()]
        few = (rest["made"] < MIN_EACH) | (rest["periods"] - rest["made"] < MIN_EACH) | (rest["periods"] < MIN_PERIODS)
        if len(rest) > 1 and few.all():  # one sentence for every team the history cannot speak for
            names = [tr("company") if x == COMPANY else str(x) for x in rest["team"]]
            out.append(tr("The coverage that made quota cannot be learnt for {teams}: at most {made} of {n} complete "
                          "periods made quota (at least {k} made and {k} missed of {m} periods are needed).",
                          teams=", ".join(names), made=int(rest["made"].max()), n=int(rest["periods"].max()),
                          k=MIN_EACH, m=MIN_PERIODS))
        else:
            out += [self.needed_sentence(x) for x in rest["team"]]
        return out

    def needed_sentence(self, team: str = COMPANY) -> str:
        """What the history says about the coverage ``team`` needed, in one sentence."""
        from ..i18n import tr

        n = self.needed[self.needed["team"] == team]
        if not len(n):
            return tr("No complete quota period before {date}: the coverage needed cannot be learnt yet.",
                      date=str(self.period[0].date()) if self.period else "")
        r = n.iloc[0]
        team = tr("company") if team == COMPANY else team
        if np.isfinite(r["needed_coverage"]):
            return tr("{team}: periods made quota from about {c:.2f}× coverage on this day of the period (95% CI "
                      "{lo:.2f}–{hi:.2f}×; {made} of {periods} complete periods made quota).", team=team,
                      c=r["needed_coverage"], lo=r["ci_low"], hi=r["ci_high"], made=int(r["made"]),
                      periods=int(r["periods"]))
        return tr("{team}: {reason}", team=team, reason=r["reason"])

    def plot(self, ax=None, **kwargs):
        from ..plots.funnel import plot_coverage_history

        return plot_coverage_history(self.history, self.needed, current=self.table, ax=ax, **kwargs)


def period_pipeline(opps, *, start, end, as_of) -> pd.DataFrame:
    """Per owner, in the quota period [start, end] running at ``as_of``: revenue won from its start to the as-of
    date (``won_to_date``), open deals now whose close date falls in the period and their amount. One scan."""
    s, e = as_pylit(start), as_pylit(end + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1))
    nxt = as_pylit(pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1))
    amt = nw.col("amount").cast(nw.Float64)
    closed = nw.col("is_closed").fill_null(False)
    # an open deal without created date (withheld) is pipeline now, its age unknown
    pipe = ~closed & ((nw.col("created_date") < nxt) | nw.col("created_date").is_null()) & (
        nw.col("close_date") >= s) & (nw.col("close_date") <= e)
    won = nw.col("is_won").fill_null(False) & (nw.col("close_date") >= s) & (nw.col("close_date") < nxt)
    lf = lazy(opps)
    lf = lf.select(*[c for c in ("owner", "created_date", "close_date", "is_closed", "is_won", "amount")
                     if c in columns(lf)])
    g = collect(lf.filter(~nw.col("owner").is_null())
                .with_columns(nw.when(pipe).then(1).otherwise(0).alias("_d"),
                              nw.when(pipe).then(amt).otherwise(None).alias("_p"),
                              nw.when(won).then(amt).otherwise(None).alias("_w"))
                .group_by("owner").agg(nw.col("_d").sum().alias("deals_open"), nw.col("_p").sum().alias("pipeline"),
                                       nw.col("_w").sum().alias("won_to_date")))
    for col in ("deals_open", "pipeline", "won_to_date"):
        g[col] = pd.to_numeric(g[col], errors="coerce").fillna(0.0)
    return g


def _count_at_or_after(col, bounds) -> nw.Expr:
    """How many of the increasing instants ``bounds`` the column is at or after (null when the column is): with
    period starts, the index of the period a date falls in, plus one. Plain comparisons: every engine."""
    out = nw.lit(0)
    for b in bounds:
        out = out + (col >= as_pylit(b)).cast(nw.Int64)
    return out


def _history_scans(ds, opps, starts, ends, cuts) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Two scans for every complete period k at once (periods sorted, not overlapping; ``ends``/``cuts`` are the
    instants just after the period's last day and after the day it is seen on): per owner and k, the revenue won
    in the period and up to its cut, and the deals open at the cut whose expected close date (in force at the cut
    with ``deal_history``, else final) falls in the period, with their amount."""
    def k_of(col):  # the period index of a date (-1 before the first period)
        return _count_at_or_after(nw.col(col), starts) - 1

    def cut_n(col):  # how many cuts fall at or before a date
        return _count_at_or_after(nw.col(col), cuts)

    lf = lazy(opps)
    have = columns(lf)
    lf = lf.select(*[c for c in ("opportunity_id", "owner", "created_date", "close_date", "is_closed", "is_won",
                                 "amount") if c in have]).filter(~nw.col("owner").is_null())
    amt = nw.col("amount").cast(nw.Float64)
    won = (lf.filter(nw.col("is_won").fill_null(False))
           .with_columns(k_of("close_date").alias("_k"), _count_at_or_after(nw.col("close_date"), ends).alias("_e"),
                         cut_n("close_date").alias("_c"), amt.alias("_a"))
           .filter((nw.col("_k") >= 0) & (nw.col("_e") == nw.col("_k")))  # in a period, not in a gap after it
           .with_columns(nw.when(nw.col("_c") <= nw.col("_k")).then(nw.col("_a")).otherwise(None).alias("_t"))
           .group_by("owner", "_k").agg(nw.col("_a").sum().alias("won"), nw.col("_t").sum().alias("won_to_date")))
    hist = ds.tables.get("deal_history")
    source = "deal_history" if hist is not None and "opportunity_id" in have else "final"
    if source == "deal_history":
        h = lazy(hist, table="deal_history")
        hcols = columns(h)
        h = h.select("opportunity_id", "recorded_date", nw.col("close_date").alias("_hclose"),
                     (nw.col("amount").cast(nw.Float64) if "amount" in hcols else nw.lit(None, nw.Float64))
                     .alias("_hamount"))
        first = nw.col("recorded_date").min().over("opportunity_id")
        h = h.with_columns(nw.col("recorded_date").shift(-1).over("opportunity_id", order_by="recorded_date")
                           .alias("_next"),
                           # the first record is taken as in force since the deal was created
                           nw.when(nw.col("recorded_date") == first).then(None).otherwise(nw.col("recorded_date"))
                           .alias("_rec"))
        rows = lf.join(h.drop("recorded_date"), on="opportunity_id", how="left").with_columns(
            nw.coalesce(nw.col("_hclose"), nw.col("close_date")).alias("_close"),
            nw.coalesce(nw.col("_hamount"), amt).alias("_amount"))
        rows = rows.with_columns(cut_n("_rec").alias("_cr"), cut_n("_next").alias("_cn"))
        in_force = (nw.col("_rec").is_null() | (nw.col("_cr") <= nw.col("_k"))) & (
            nw.col("_next").is_null() | (nw.col("_cn") >= nw.col("_k") + 1))
    else:
        rows = lf.with_columns(nw.col("close_date").alias("_close"), amt.alias("_amount"))
        in_force = nw.lit(True)
    rows = rows.with_columns(k_of("_close").alias("_k"), _count_at_or_after(nw.col("_close"), ends).alias("_e"),
                             cut_n("created_date").alias("_cc"), cut_n("close_date").alias("_cd"))
    open_at_cut = (nw.col("_cc") <= nw.col("_k")) & (
        ~nw.col("is_closed").fill_null(False) | (nw.col("_cd") >= nw.col("_k") + 1))
    pipe = (rows.filter((nw.col("_k") >= 0) & (nw.col("_e") == nw.col("_k")) & open_at_cut & in_force)
            .group_by("owner", "_k").agg(nw.len().alias("deals_open"), nw.col("_amount").sum().alias("pipeline")))
    return collect(won), collect(pipe), source


def _needed(history: pd.DataFrame, *, min_periods: int = MIN_PERIODS, min_each: int = MIN_EACH) -> dict:
    """The coverage at which a period made quota, from one team's complete periods seen on the as-of date's day of
    the period (periods with pipeline and quota still to win that day): the 50% point of a logistic regression of
    made quota on log coverage, ``exp(-b0 / b1)``, with a 95% delta-method interval on the log scale. Not estimated
    (``reason``) with fewer than ``min_periods`` such periods, fewer than
    ``min_each`` made or missed, when coverage and making quota separate perfectly (the 50% point lies between
    the highest missed and the lowest made coverage), or when more coverage did not go with making quota."""
    from ..i18n import tr

    h = history[(history["remaining_quota"] > 0) & (history["coverage"] > 0)]  # not yet made, some pipeline
    n, made = len(h), int(h["made_quota"].sum())
    out = {"periods": n, "made": made, "needed_coverage": np.nan, "ci_low": np.nan, "ci_high": np.nan,
           "method": "", "reason": ""}
    if n < min_periods or made < min_each or n - made < min_each:
        out["reason"] = tr("{made} of {n} complete quota periods made quota: too few of each kind (at least {k} made "
                           "and {k} missed of {m} periods) to learn the coverage that made quota.",
                           made=made, n=n, k=min_each, m=min_periods)
        return out
    x = np.log(h["coverage"].to_numpy(float))
    y = h["made_quota"].to_numpy(float)
    lo_made, hi_missed = x[y == 1].min(), x[y == 0].max()
    if lo_made > hi_missed:
        out["reason"] = tr("every period with at least {a:.2f}× coverage made quota and every period with at most "
                           "{b:.2f}× missed: the coverage needed lies between, no closer.", a=math.exp(lo_made),
                           b=math.exp(hi_missed))
        out["ci_low"], out["ci_high"], out["method"] = math.exp(hi_missed), math.exp(lo_made), "separation"
        return out
    import statsmodels.api as sm

    fit = sm.Logit(y, sm.add_constant(x)).fit(disp=0)
    b0, b1 = fit.params
    if not b1 > 0 or fit.pvalues[1] >= 0.05:
        out["reason"] = tr("coverage at the start did not predict making quota in {n} complete periods (logistic "
                           "slope p = {p:.2f}): no coverage level can be named.", n=n, p=float(fit.pvalues[1]))
        return out
    r = -b0 / b1
    cov = fit.cov_params()
    grad = np.array([-1 / b1, b0 / b1**2])
    se = float(np.sqrt(grad @ cov @ grad))
    out.update(needed_coverage=math.exp(r), ci_low=math.exp(r - 1.959964 * se), ci_high=math.exp(r + 1.959964 * se),
               method="logistic")
    return out


def pipeline_coverage(ds, *, min_periods: int = MIN_PERIODS) -> Coverage:
    """Pipeline coverage of the quota period running at the as-of date, per rep, team and company, with the
    coverage each team needed in past periods (see :class:`Coverage`).

    Coverage = open pipeline expected to close in the period (open deals at the as-of date whose close date falls
    between the period's first and last day) / remaining quota (the period's quota minus revenue won from its start
    to the as-of date, at least 0). A team's quota, won revenue and pipeline are its reps' (the rep's team as the
    scorecard assigns it: :func:`owner_teams`); the company's are all reps with a quota.

    History: every complete quota period (ended by the as-of date) is seen on the same day of the period as the
    as-of date is now (day 15 of each past month when as-of is 15 December): the deals open that day whose expected
    close date falls in the period, against the quota still to win that day, beside whether the period made quota.
    The expected close date is the one in force that day from ``deal_history`` when the dataset has one, else each
    deal's final close date (which looks ahead: deals that slipped out of the period are missed and deals pulled
    in are counted; :attr:`Coverage.close_date_source`).
    """
    from ..data.currency import convert, needs_split, report_currency
    from ..i18n import tr

    as_of = pd.Timestamp(ds.as_of)
    empty = pd.DataFrame(columns=CURRENT_COLUMNS)
    if ds.opportunities is None:
        return Coverage(empty, limitation=tr("No {table} table in this dataset: no pipeline.", table="opportunities"))
    if ds.quotas is None:
        return Coverage(empty, limitation=tr("No {table} table in this dataset: pipeline coverage needs a quota.",
                                             table="quotas"), as_of=as_of)
    if needs_split(ds, "opportunities"):
        return Coverage(empty, limitation=tr(
            "Amounts are in several currencies and the mapping gives no rates: coverage cannot divide one pipeline "
            "by one quota (set currency.rates in the mapping)."), as_of=as_of)
    opps = convert(ds.opportunities, ds, "opportunities")
    have = columns(lazy(opps))
    missing = [c for c in ("owner", "amount", "close_date", "created_date") if c not in have]
    if missing:
        return Coverage(empty, limitation=tr("No {column} column in {table}: pipeline coverage needs each deal's "
                                             "owner, amount and dates (map it in {key}).", column=missing[0],
                                             table="opportunities", key="tables.opportunities.columns"), as_of=as_of)
    q = quota_frame(ds.quotas).dropna(subset=["owner", "quota"])
    if not len(q):
        return Coverage(empty, limitation=tr("The {table} table is empty: pipeline coverage needs a quota.",
                                             table="quotas"), as_of=as_of)
    cur = current_quota_rows(q, as_of)
    if not len(cur):
        return Coverage(empty, limitation=tr("No quota period runs at the as-of date {date}: there is no remaining "
                                             "quota to cover.", date=str(as_of.date())), as_of=as_of)
    code = report_currency(ds, "opportunities")
    teams = owner_teams(opps)
    q = q.assign(team=q["owner"].map(teams).fillna("(no deals)"))
    cur = q.loc[cur.index]
    start, end = cur["period_start"].min(), cur["period_end"].max()
    day = as_of.normalize() - start  # how far into its period the as-of date is
    g = period_pipeline(opps, start=start, end=end, as_of=as_of).set_index("owner")
    reps = cur.groupby(["owner", "team"], as_index=False)["quota"].sum()
    for c in ("won_to_date", "deals_open", "pipeline"):
        reps[c] = reps["owner"].map(g[c]).fillna(0.0) if len(g) else 0.0
    t = _levels(reps, ["won_to_date", "deals_open", "pipeline"])
    t["_l"] = t["level"].map({COMPANY: 0, "team": 1, "rep": 2})
    t = t.sort_values(["_l", "team", "owner"]).reset_index(drop=True)
    t = t.rename(columns={"won_to_date": "won", "deals_open": "open_deals"})
    history, source = _history(ds, opps, q[q["period_end"] <= as_of], day)
    needed = pd.DataFrame([{"team": team, **_needed(h, min_periods=min_periods)}
                           for team, h in history.groupby("team", sort=False)] if len(history) else [],
                          columns=NEEDED_COLUMNS)
    nd = needed.set_index("team")
    for c, src in (("needed_coverage", "needed_coverage"), ("needed_low", "ci_low"), ("needed_high", "ci_high")):
        t[c] = t["team"].map(nd[src]).astype(float) if len(nd) else np.nan
    return Coverage(t[CURRENT_COLUMNS], history, needed, (start, end), source, code, None, as_of)


def _levels(reps: pd.DataFrame, sums: list[str]) -> pd.DataFrame:
    """Rep rows (``owner, team, quota`` and ``sums``) with their team and company rows; remaining quota and
    coverage on every row."""
    reps = reps.assign(level="rep")
    tm = reps.groupby("team", as_index=False)[["quota", *sums]].sum().assign(level="team", owner="")
    co = reps[["quota", *sums]].sum().to_frame().T.assign(level=COMPANY, team=COMPANY, owner="")
    t = pd.concat([co, tm, reps], ignore_index=True)
    for c in ("quota", *sums):
        t[c] = t[c].astype(float)
    t["deals_open"] = t["deals_open"].astype("int64")
    t["remaining_quota"] = (t["quota"] - t["won_to_date"]).clip(lower=0.0)
    t["coverage"] = t["pipeline"] / t["remaining_quota"].where(t["remaining_quota"] > 0)
    return t


def _history(ds, opps, done: pd.DataFrame, day: pd.Timedelta) -> tuple[pd.DataFrame, str]:
    """Per team (and the company) and complete quota period, seen ``day`` after its start: quota, won to that day,
    remaining quota, pipeline open that day expected to close in the period, coverage, won in the whole period,
    attainment and whether it made quota; and which close date the pipeline used. Periods that overlap another
    (reps on different calendars) are left out."""
    per = done[["period_start", "period_end"]].drop_duplicates().sort_values(["period_start", "period_end"])
    ok = per["period_start"] > per["period_end"].shift(1).fillna(pd.Timestamp.min)
    ok &= per["period_end"] < per["period_start"].shift(-1).fillna(pd.Timestamp.max)
    per = per[ok].reset_index(drop=True)
    if not len(per):
        return pd.DataFrame(columns=HISTORY_COLUMNS), "final"
    one = pd.Timedelta(days=1)
    cuts = [min(s + day, e) for s, e in zip(per["period_start"], per["period_end"], strict=True)]
    won, pipe, source = _history_scans(ds, opps, list(per["period_start"]), [e + one for e in per["period_end"]],
                                       [c + one for c in cuts])
    per = per.assign(_k=range(len(per)), seen_on=cuts)
    rows = done.merge(per, on=["period_start", "period_end"])
    reps = rows.groupby(["owner", "team", "_k", "period_start", "period_end", "seen_on"], as_index=False)["quota"].sum()
    for g, cols in ((won, ("won", "won_to_date")), (pipe, ("deals_open", "pipeline"))):
        g = g.assign(_k=g["_k"].astype(int)) if len(g) else pd.DataFrame(columns=["owner", "_k", *cols])
        reps = reps.merge(g[["owner", "_k", *cols]], on=["owner", "_k"], how="left")
        for c in cols:
            reps[c] = pd.to_numeric(reps[c], errors="coerce").fillna(0.0)
    keys = ["period_start", "period_end", "seen_on"]
    sums = ["quota", "won", "won_to_date", "deals_open", "pipeline"]
    tm = reps.groupby([*keys, "team"], as_index=False)[sums].sum().assign(level="team")
    co = reps.groupby(keys, as_index=False)[sums].sum().assign(level=COMPANY, team=COMPANY)
    h = pd.concat([co, tm], ignore_index=True)
    h["deals_open"] = h["deals_open"].astype("int64")
    h["remaining_quota"] = (h["quota"] - h["won_to_date"]).clip(lower=0.0)
    h["coverage"] = h["pipeline"] / h["remaining_quota"].where(h["remaining_quota"] > 0)
    h["attainment"] = h["won"] / h["quota"].where(h["quota"] > 0)
    h["made_quota"] = (h["won"] >= h["quota"]) & (h["quota"] > 0)
    h["_l"] = (h["level"] != COMPANY).astype(int)
    return h.sort_values(["_l", "team", "period_start"])[HISTORY_COLUMNS].reset_index(drop=True), source
