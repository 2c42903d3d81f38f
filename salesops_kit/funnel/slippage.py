"""Slippage: deals whose expected close date was pushed later (Salesforce's "pushed opportunities" report).

Read from the ``deal_history`` table (one row per recorded state of a deal: Salesforce's Data Export
``OpportunityHistory.csv``, or pipeline snapshots mapped to it). Definitions:

* a **push** is a record of a deal whose ``close_date`` is later than the close date of the deal's previous record
  (records ordered by ``recorded_date``; records of one instant are ordered latest close date first on every engine,
  so they make no push among themselves: no engine keeps file order (Spark does not); a record without a close date is
  skipped, so the next one is compared with the last known close date). A push's **days pushed** are the calendar
  days between the two close dates; a deal's days pushed are the sum over its pushes;
* a deal is **pushed** when it has at least one push. Deals counted: those with a record in ``deal_history`` and a
  row in ``opportunities`` (a deal without history cannot be seen slipping);
* **by stage**: a push is placed in the stage the deal was in at its ``recorded_date`` (its latest stage entry on or
  before it, from ``stage_history``); the share is deals pushed while in the stage / deals that were in the stage;
* **win rate pushed vs not**: won / closed among closed deals with and without a push (Newcombe interval of the
  difference, two-proportion test).

Each rep's pushed share is tested against the other reps' deals pooled (chi-square, Fisher's exact test for small
counts) with Benjamini-Hochberg false-discovery control across reps; the same per team. Row-level scans go through
narwhals (pandas, Polars, DuckDB); what is collected is one row per rep, team, stage and per pushed deal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import narwhals as nw
import numpy as np
import pandas as pd

from ..data.schema import StageModel
from ..engines.ops import (
    LOST,
    OPEN,
    WON,
    check_stages,
    collect,
    columns,
    day_number,
    days_between,
    lazy,
    outcome_code,
    require_columns,
    stage_stays,
)
from ..stats import bh_adjust, median_ci, rate_change_test, wilson_interval
from ..tools.results import Result

__all__ = ["Slippage", "slippage", "push_events", "SLIPPAGE_SEGMENTS"]

#: the segment columns whose pushed share is tested against the rest (when the opportunities have them)
SLIPPAGE_SEGMENTS = ("owner", "team")
_SEG_COLS = ["deals", "pushed_deals", "pushed_share", "ci_low", "ci_high", "pushes", "rest_pushed_share",
             "difference", "difference_ci_low", "difference_ci_high", "p_value", "test", "q_value", "flagged"]
_OVERALL_COLS = ["deals", "pushed_deals", "pushed_share", "ci_low", "ci_high", "pushes", "pushes_per_deal",
                 "pushes_per_pushed_deal", "days_pushed_median", "days_pushed_median_ci_low",
                 "days_pushed_median_ci_high", "days_pushed_q1", "days_pushed_q3"]
_STAGE_COLS = ["stage", "deals_in_stage", "pushed_deals", "pushed_share", "ci_low", "ci_high"]
_OUTCOME_COLS = ["group", "closed", "won", "win_rate", "ci_low", "ci_high"]
_PUSHED_COLS = ["opportunity_id", "owner", "team", "stage", "outcome", "amount", "pushes", "days_pushed"]


def _ordered(history) -> nw.LazyFrame:
    """``deal_history`` as a lazy frame with ``_row``: its records in time order. Records of one instant (the same
    ``recorded_date``) have no order a table keeps on every engine (Spark keeps no file order), so one rule holds on
    all of them: within an instant the latest close date comes first, and records of one instant never make a push
    among themselves (the conservative reading; the next instant is compared with the instant's earliest date)."""
    f = nw.from_native(history)
    f = f.lazy() if isinstance(f, nw.DataFrame) else f
    f = f.with_columns((-day_number(nw.col("close_date"))).alias("_neg_close"))
    return f.with_row_index("_row", order_by=["recorded_date", "_neg_close"]).drop("_neg_close")


def push_events(deal_history) -> nw.LazyFrame:
    """The records of ``deal_history`` with their pushes (lazy, any narwhals backend).

    Returns ``opportunity_id, recorded_date, close_date, previous_close_date, _row, is_push (0/1), days_pushed``
    (0 for a record that is not a push); records without a close date are left out.
    """
    h = lazy(deal_history, table="deal_history")
    require_columns(h, ["opportunity_id", "recorded_date", "close_date"], table="deal_history",
                    purpose="slippage (pushed close dates)")
    h = _ordered(deal_history).select("opportunity_id", "recorded_date", "close_date", "_row")
    h = h.filter(~nw.col("close_date").is_null())
    prev = nw.col("close_date").shift(1).over("opportunity_id", order_by=["recorded_date", "_row"])
    h = h.with_columns(prev.alias("previous_close_date"))
    push = (~nw.col("previous_close_date").is_null()) & (nw.col("close_date") > nw.col("previous_close_date"))
    h = h.with_columns(nw.when(push).then(nw.lit(1)).otherwise(nw.lit(0)).alias("is_push"))
    days = days_between(nw.col("previous_close_date"), nw.col("close_date"), frame=h)
    return h.with_columns(nw.when(nw.col("is_push") == 1).then(days).otherwise(nw.lit(0.0)).alias("days_pushed"))


@dataclass(frozen=True, repr=False)
class Slippage(Result):
    """Result of :func:`slippage`.

    Attributes
    ----------
    table : per rep (``owner``): ``owner, deals, pushed_deals, pushed_share, ci_low, ci_high, pushes,
        rest_pushed_share, difference (+ci), p_value, test, q_value, flagged`` (also ``summary()``).
    overall : one row: deals, pushed deals, pushed share (Wilson), pushes, pushes per deal and per pushed deal,
        days pushed per pushed deal (median with its interval, quartiles).
    by_team : as ``table``, per ``team``.
    by_stage : ``stage, deals_in_stage, pushed_deals, pushed_share, ci_low, ci_high`` (empty without stage history).
    outcome : closed deals pushed vs not: ``group (pushed / not pushed), closed, won, win_rate, ci_low, ci_high``.
    win_test : ``difference`` (pushed - not pushed), ``ci_low``, ``ci_high``, ``p_value``, ``test``.
    pushed_deals : one row per pushed deal: ``opportunity_id, owner, team, stage, outcome, amount, pushes,
        days_pushed`` (amounts in the report currency when the mapping gives rates).
    limitation : one sentence when there is nothing to measure (no deal_history, no deal in both tables: every
        table is empty; or no push at all: the tables hold the zero counts, nothing is drawn or found).
    stage_note : one sentence when the by-stage view cannot be made (no stage history).
    """

    table: pd.DataFrame
    overall: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_OVERALL_COLS))
    by_team: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["team", *_SEG_COLS]))
    by_stage: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_STAGE_COLS))
    outcome: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_OUTCOME_COLS))
    win_test: dict = field(default_factory=dict)
    pushed_deals: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_PUSHED_COLS))
    alpha: float = 0.05
    currency: str | None = None
    limitation: str = ""
    stage_note: str = ""

    @property
    def flagged(self) -> pd.DataFrame:
        """Reps whose pushed share differs from the other reps' after the false-discovery correction."""
        t = self.table
        return t[t["flagged"].astype(bool)] if len(t) else t

    def headline(self) -> str:
        from ..i18n import tr

        if self.limitation:
            return self.limitation
        r = self.overall.iloc[0]
        return tr("{pushed:,} of {deals:,} deals ({share:.1%}) had their close date pushed, {pushes:,} pushes in all; "
                  "a pushed deal slipped a median {days:.0f} days.", pushed=int(r["pushed_deals"]),
                  deals=int(r["deals"]), share=r["pushed_share"], pushes=int(r["pushes"]),
                  days=r["days_pushed_median"])

    def win_sentence(self) -> str:
        """Closed deals pushed vs never pushed: their win rates, the difference with its interval and the test's
        p-value, in one sentence (empty without closed deals in both groups)."""
        from ..i18n import t as label
        from ..i18n import tr

        w, o = self.win_test, self.outcome
        if not len(o) or not np.isfinite(w.get("p_value", np.nan)):
            return ""
        a, b = o.iloc[0], o.iloc[1]
        return tr("Closed deals pushed at least once won {a:.1%} ({ka:,} of {na:,}) vs {b:.1%} ({kb:,} of {nb:,}) for "
                  "the others: difference {d:+.1f} pp (95% CI {lo:+.1f} to {hi:+.1f}), {test} test, p = {p:.3g}.",
                  a=a["win_rate"], ka=int(a["won"]), na=int(a["closed"]), b=b["win_rate"], kb=int(b["won"]),
                  nb=int(b["closed"]), d=w["difference"] * 100, lo=w["ci_low"] * 100, hi=w["ci_high"] * 100,
                  test=label(w["test"]), p=float(w["p_value"]))

    def plot(self, ax=None, **kwargs):
        """Share of deals pushed per rep with 95% intervals, the overall share as a line
        (:func:`salesops_kit.plots.plot_pushed_share`)."""
        from ..plots.funnel import plot_pushed_share

        overall = float(self.overall["pushed_share"].iloc[0]) if len(self.overall) else None
        return plot_pushed_share(self.table, label="owner", overall=overall, ax=ax, **kwargs)


def _limited(sentence: str, alpha: float) -> Slippage:
    return Slippage(pd.DataFrame(columns=["owner", *_SEG_COLS]), alpha=alpha, limitation=sentence)


def slippage(data, opportunities=None, *, stage_history=None, stages: StageModel | None = None,
             alpha: float = 0.05) -> Slippage:
    """How often, and by how much, deals' expected close dates were pushed; by rep, team and stage; and whether
    pushed deals win less often (see the module docstring for the definitions).

    Parameters
    ----------
    data : Dataset or DataFrame
        A Dataset brings ``deal_history``, opportunities (amounts in the report currency), stage history and the
        stage model. A frame is the ``deal_history`` table (``opportunity_id, recorded_date, close_date``) and
        needs ``opportunities`` (``opportunity_id, stage`` + ``owner``, ``team``, ``amount`` when present) and
        ``stages``; ``stage_history`` (optional) gives the by-stage view. Same engine for every frame.
    alpha : false-discovery rate for the per-rep (and per-team) tests, and the level of the win-rate test.

    Returns
    -------
    Slippage
        Without ``deal_history`` (or without any deal in both tables) ``.limitation`` says so in one sentence.
        E.g. a deal recorded with close dates 1 Mar, 15 Mar, 10 Mar, 20 Mar has 2 pushes (14 + 10 = 24 days).
    """
    from ..data.dataset import Dataset
    from ..i18n import tr

    code = None
    if isinstance(data, Dataset):
        from ..data.currency import convert, needs_split, report_currency

        ds = data
        ds.require("opportunities", purpose="slippage")
        history = ds.table("deal_history")
        opportunities = convert(ds.opportunities, ds, "opportunities")
        stage_history = ds.stage_history if stage_history is None else stage_history
        stages = ds.stages if stages is None else stages
        code = None if needs_split(ds, "opportunities") else report_currency(ds, "opportunities")
        split = code is None and needs_split(ds, "opportunities")
        if history is None:
            return _limited(slippage_note("no_history"), alpha)
    else:
        history, split = data, False
        if opportunities is None:
            raise TypeError("slippage(deal_history, opportunities, stages=...) needs the opportunities (owner, stage, "
                            "amount) beside a deal_history frame; or pass a Dataset.")
    check_stages(stages)
    ev = push_events(history)
    deals = ev.group_by("opportunity_id").agg(nw.len().alias("records"), nw.col("is_push").sum().alias("pushes"),
                                              nw.col("days_pushed").sum().alias("days_pushed"))
    o = lazy(opportunities)
    require_columns(o, ["opportunity_id", "stage"], table="opportunities", purpose="slippage")
    have = columns(o)
    segs = [c for c in SLIPPAGE_SEGMENTS if c in have]
    amount = (nw.col("amount").cast(nw.Float64) if "amount" in have and not split else nw.lit(None, nw.Float64))
    o = o.select("opportunity_id", *segs, outcome_code(stages).alias("_outcome"), amount.alias("amount"),
                 nw.col("stage"))
    d = deals.join(o, on="opportunity_id", how="inner").with_columns(
        nw.when(nw.col("pushes") > 0).then(nw.lit(1)).otherwise(nw.lit(0)).alias("_pushed"))
    # one scan for every count: deals, pushed deals and pushes per segment x pushed x outcome
    g = collect(d.group_by(*segs, "_pushed", "_outcome", drop_null_keys=False).agg(
        nw.len().alias("deals"), nw.col("pushes").sum().alias("pushes")))
    n_deals = int(g["deals"].sum()) if len(g) else 0
    if not n_deals:
        return _limited(tr("No deal of {table} has a row in opportunities: slippage cannot be measured.",
                           table="deal_history"), alpha)
    g["pushed_deals"] = g["deals"] * g["_pushed"]
    pushed = collect(d.filter(nw.col("_pushed") == 1).select(
        "opportunity_id", *segs, "stage", "_outcome", "amount", "pushes", "days_pushed"))
    pushed = _pushed_frame(pushed, segs)
    overall = _overall(g[["deals", "pushed_deals", "pushes"]].sum().to_frame().T, pushed)
    by_seg = {}
    for col in segs:
        by_seg[col] = _vs_rest(g.groupby(col, dropna=False, sort=False)[["deals", "pushed_deals", "pushes"]].sum()
                               .reset_index(), col, alpha)
    outcome, win_test = _win_effect(g.rename(columns={"deals": "n"}))
    by_stage, stage_note = pd.DataFrame(columns=_STAGE_COLS), ""
    if stage_history is None:
        stage_note = slippage_note("no_stage_history")
    else:
        by_stage = _by_stage(ev, d, stage_history, stages)
    owner = by_seg.get("owner", pd.DataFrame(columns=["owner", *_SEG_COLS]))
    nothing = "" if len(pushed) else tr("No close date was pushed: {deals:,} deals with history, none pushed.",
                                        deals=n_deals)
    team = by_seg.get("team", pd.DataFrame(columns=["team", *_SEG_COLS]))
    return Slippage(owner, limitation=nothing, overall=overall, by_team=team,
                    by_stage=by_stage, outcome=outcome, win_test=win_test, pushed_deals=pushed, alpha=float(alpha),
                    currency=code if pushed["amount"].notna().any() else None, stage_note=stage_note)


def slippage_note(key: str) -> str:
    """A sentence the notebook prints instead of a slippage view its data cannot support (report language).

    ``no_history``: no deal_history table; ``no_stage_history``: pushes cannot be placed in stages.
    """
    from ..i18n import tr

    if key == "no_history":
        return tr("No {table} table in this dataset: slippage needs every recorded close date of each deal "
                  "(the {export}, or pipeline snapshots mapped as {table}).",
                  table="deal_history", export="Salesforce Data Export OpportunityHistory.csv")
    if key == "no_stage_history":
        return tr("No {table} table in this dataset: pushes are not placed in stages.", table="stage_history")
    raise KeyError(f"no slippage note {key!r}; known: no_history, no_stage_history")


def _pushed_frame(p: pd.DataFrame, segs: list[str]) -> pd.DataFrame:
    names = {OPEN: "open", WON: "won", LOST: "lost"}
    p = p.assign(outcome=p["_outcome"].map(names).fillna("unknown")).drop(columns="_outcome")
    for c in ("owner", "team"):
        if c not in p:
            p[c] = None
    p["pushes"] = p["pushes"].astype("int64")
    p["days_pushed"] = p["days_pushed"].astype(float)
    p["amount"] = p["amount"].astype(float)
    return p[_PUSHED_COLS].sort_values(["days_pushed", "opportunity_id"], ascending=[False, True],
                                       kind="stable").reset_index(drop=True)


def _overall(tot: pd.DataFrame, pushed: pd.DataFrame) -> pd.DataFrame:
    n, k, pushes = (int(tot[c].iloc[0]) for c in ("deals", "pushed_deals", "pushes"))
    lo, hi = wilson_interval(k, n)
    days = pushed["days_pushed"].to_numpy(float)
    med, mlo, mhi = median_ci(days)
    q1, q3 = (np.percentile(days, [25, 75]) if len(days) else (np.nan, np.nan))
    row = {"deals": n, "pushed_deals": k, "pushed_share": k / n, "ci_low": float(lo), "ci_high": float(hi),
           "pushes": pushes, "pushes_per_deal": pushes / n, "pushes_per_pushed_deal": pushes / k if k else np.nan,
           "days_pushed_median": med, "days_pushed_median_ci_low": mlo, "days_pushed_median_ci_high": mhi,
           "days_pushed_q1": float(q1), "days_pushed_q3": float(q3)}
    return pd.DataFrame([row], columns=_OVERALL_COLS)


def _vs_rest(g: pd.DataFrame, col: str, alpha: float) -> pd.DataFrame:
    """Each segment's pushed share against the other segments' deals pooled; BH q-values across segments."""
    g = g.copy()
    for c in ("deals", "pushed_deals", "pushes"):
        g[c] = g[c].astype("int64")
    n, k = g["deals"].to_numpy(float), g["pushed_deals"].to_numpy(float)
    N, K = n.sum(), k.sum()
    g["pushed_share"] = k / n
    lo, hi = wilson_interval(k, n)
    g["ci_low"], g["ci_high"] = np.atleast_1d(lo), np.atleast_1d(hi)
    tests = [rate_change_test(ki, ni, K - ki, N - ni) for ki, ni in zip(k, n, strict=True)]
    g["rest_pushed_share"] = [(K - ki) / (N - ni) if N > ni else np.nan for ki, ni in zip(k, n, strict=True)]
    g["difference"] = [x["change"] for x in tests]
    g["difference_ci_low"] = [x["ci_low"] for x in tests]
    g["difference_ci_high"] = [x["ci_high"] for x in tests]
    g["p_value"] = [x["p_value"] for x in tests]
    g["test"] = [x["test"] for x in tests]
    g["q_value"] = bh_adjust(g["p_value"].to_numpy(float)) if len(g) > 1 else np.nan
    g["flagged"] = (g["q_value"] < alpha) & (len(g) > 1)
    return g[[col, *_SEG_COLS]].sort_values(col, kind="stable", na_position="last").reset_index(drop=True)


def _win_effect(out: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Win rate of closed deals pushed vs not pushed, with the Newcombe interval of the difference and a test."""
    rows = []
    out = out[out["_outcome"].isin([WON, LOST])]
    for flag, name in ((1, "pushed"), (0, "not pushed")):
        sub = out[out["_pushed"] == flag]
        won = int(sub.loc[sub["_outcome"] == WON, "n"].sum())
        closed = int(sub["n"].sum())
        lo, hi = wilson_interval(won, closed)
        rows.append({"group": name, "closed": closed, "won": won, "win_rate": won / closed if closed else np.nan,
                     "ci_low": float(lo), "ci_high": float(hi)})
    t = pd.DataFrame(rows, columns=_OUTCOME_COLS)
    a, b = t.iloc[0], t.iloc[1]
    r = rate_change_test(a["won"], a["closed"], b["won"], b["closed"])
    test = {"difference": r["change"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
            "p_value": r["p_value"] if a["closed"] and b["closed"] else np.nan, "test": r["test"]}
    return t, test


def _by_stage(ev: nw.LazyFrame, d: nw.LazyFrame, stage_history, stages: StageModel) -> pd.DataFrame:
    """Deals pushed while in each stage / deals that were in it (stage at a push: latest entry on or before it)."""
    ids = d.select("opportunity_id")
    stays = stage_stays(stage_history).select("opportunity_id", "stage", "entered_date").join(
        ids, on="opportunity_id", how="inner")
    pushes = ev.filter(nw.col("is_push") == 1).select("opportunity_id", "recorded_date", "_row")
    j = pushes.join(stays, on="opportunity_id", how="inner").filter(nw.col("entered_date") <= nw.col("recorded_date"))
    j = j.with_columns(nw.col("entered_date").max().over("opportunity_id", "_row").alias("_latest"))
    j = j.filter(nw.col("entered_date") == nw.col("_latest"))
    k = collect(j.select("opportunity_id", "stage").unique().group_by("stage").agg(nw.len().alias("pushed_deals")))
    n = collect(stays.select("opportunity_id", "stage").unique().group_by("stage").agg(
        nw.len().alias("deals_in_stage")))
    if not len(n):
        return pd.DataFrame(columns=_STAGE_COLS)
    t = n.merge(k, on="stage", how="left").fillna({"pushed_deals": 0})
    t["deals_in_stage"] = t["deals_in_stage"].astype("int64")
    t["pushed_deals"] = t["pushed_deals"].astype("int64")
    t["pushed_share"] = t["pushed_deals"] / t["deals_in_stage"]
    lo, hi = wilson_interval(t["pushed_deals"].to_numpy(float), t["deals_in_stage"].to_numpy(float))
    t["ci_low"], t["ci_high"] = np.atleast_1d(lo), np.atleast_1d(hi)
    order = {s: i for i, s in enumerate(stages.labels)}
    t = t.assign(_o=t["stage"].map(order).fillna(len(order))).sort_values(["_o", "stage"]).drop(columns="_o")
    return t[_STAGE_COLS].reset_index(drop=True)
