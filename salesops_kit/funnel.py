"""Stage funnel, lead funnel, win rate and sales velocity, with stated definitions and intervals.

Every function scans the row-level tables with narwhals (pandas, Polars eager/lazy and DuckDB
frames are accepted) and returns a small pandas result. Stage order and which stages mean won or
lost come from a :class:`~salesops_kit.schema.StageModel`: pass ``stages=`` or pass a
:class:`~salesops_kit.Dataset` (which carries ``ds.stages``) as the first argument. The kit never
guesses the order or the outcome from stage names.

Definitions (``salesops_kit.kpis`` states them in every report):

* stage conversion k → next = deals that moved past k / deals whose fate at k is known (reached k
  and are no longer open in k); open deals sitting in k are excluded, not counted as failures.
* cumulative conversion to k = deals that reached k / deals whose fate at k is known (every deal
  except those still open in an earlier stage); the won row is the closed win rate of the funnel.
* win rate ("closed", default) = won / (won + lost) among deals closed in the period; variant
  "created" = won / all deals created in the cohort period (open deals count as not won).
* lead conversion = leads converted to an opportunity / leads old enough (``maturity_days``).
* sales velocity = open deals × win rate × average won deal size / median cycle days (× 30.44
  for per month).

Bottlenecks live in :mod:`salesops_kit.bottlenecks`, calibration and time in stage in
:mod:`salesops_kit.calibration`, the sales cycle in :mod:`salesops_kit.cycle`.
"""

from __future__ import annotations

from dataclasses import dataclass

import narwhals as nw
import numpy as np
import pandas as pd

from ._funnel_scan import (
    as_list,
    as_pylit,
    check_labels,
    collect,
    columns,
    lazy,
    outcome_of,
    period_expr,
    require_columns,
    resolve,
    sort_out,
    won_label,
)
from .schema import StageModel
from .stats import wilson_interval

__all__ = ["StageFunnel", "stage_funnel", "win_rate", "lead_funnel", "sales_velocity", "kpi_rows",
           "WIN_RATE_DEFINITIONS", "FUNNEL_TYPES"]

FUNNEL_TYPES = ("any_path", "in_order")
DAYS_PER_MONTH = 365.25 / 12

WIN_RATE_DEFINITIONS = {
    "closed": "won / (won + lost) among deals closed in the period (close_date); open deals excluded",
    "created": "won / all deals created in the cohort period (created_date); open deals count as not won",
}

FUNNEL_COLUMNS = ["stage", "stage_index", "next_stage", "reached", "advanced", "lost", "open", "skipped",
                  "conversion", "conversion_ci_low", "conversion_ci_high",
                  "cumulative", "cumulative_ci_low", "cumulative_ci_high", "funnel_type"]


# --------------------------------------------------------------------------------------------
# stage funnel
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StageFunnel:
    """Result of :func:`stage_funnel`.

    Attributes
    ----------
    table : DataFrame, one row per (segment, stage) — the open stages in order, then the won row:
        ``<by columns>, stage, stage_index, next_stage, reached, advanced, lost, open, skipped,
        conversion, conversion_ci_low, conversion_ci_high, cumulative, cumulative_ci_low,
        cumulative_ci_high, funnel_type``.
    funnel_type : "any_path" (reached the stage by any path) or "in_order" (reached every stage
        before it, in order) — or "inferred" when there was no stage history.
    by : the segment columns.
    assumptions : the assumptions behind the counts, as sentences.
    unplaced_lost : lost deals whose last stage is unknown (no history row, no ``lost_at_stage``);
        they count only in the won row's denominator.
    """

    table: pd.DataFrame
    funnel_type: str
    by: tuple[str, ...]
    assumptions: tuple[str, ...]
    unplaced_lost: int

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def headline(self) -> str:
        t = self.table
        if not len(t) or self.by:
            return f"Stage funnel ({self.funnel_type}): {len(t)} rows."
        won = t[t["stage_index"] == t["stage_index"].max()].iloc[0]
        open_rows = t[t["stage_index"] < t["stage_index"].max()]
        worst = open_rows.loc[open_rows["conversion"].idxmin()] if open_rows["conversion"].notna().any() else None
        s = (f"{int(t['reached'].iloc[0]):,} deals entered; closed win rate {won['cumulative']:.1%} "
             f"(95% CI {won['cumulative_ci_low']:.1%}–{won['cumulative_ci_high']:.1%})")
        if worst is not None:
            s += f"; weakest step {worst['stage']} → {worst['next_stage']} at {worst['conversion']:.1%}"
        return s + "."

    def plot(self, ax=None, **kwargs):
        from .plots.funnel import plot_funnel

        return plot_funnel(self.table, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        from .findings import escape_html

        notes = "".join(f"<li>{escape_html(a)}</li>" for a in self.assumptions)
        return (f"<p><b>Stage funnel</b> ({escape_html(self.funnel_type)}): {escape_html(self.headline())}</p>"
                + self.table.round(4).to_html(index=False) + (f"<ul>{notes}</ul>" if notes else ""))


def stage_funnel(opportunities, *, stage_history=None, by=None, stages: StageModel | None = None,
                 funnel_type: str = "any_path", use_history: bool = True) -> StageFunnel:
    """Per stage: deals that reached it, advanced, were lost there, are still open there.

    Parameters
    ----------
    opportunities : DataFrame (pandas / Polars / DuckDB) or Dataset
        Columns ``opportunity_id, stage`` (+ ``lost_at_stage`` and the ``by`` columns when present).
        A Dataset brings ``stage_history`` and ``stages`` with it.
    stage_history : DataFrame, optional
        ``opportunity_id, stage, entered_date`` — one row per stage entered. With it, reached
        stages are observed (skipped stages are not counted as reached) and both funnel types exist.
        Without it, a deal is assumed to have passed every open stage up to its current one
        (won: all of them; lost: up to ``lost_at_stage``).
    by : str or list of str, optional
        Segment columns of ``opportunities``.
    stages : StageModel
        Stage order and won/lost labels (default: the Dataset's).
    funnel_type : "any_path" or "in_order"
        "any_path": a deal counts at every stage it entered; advancing = moving to any later stage.
        "in_order": a deal counts at stage k only if it entered every stage up to k in order
        (HubSpot's "in order" funnel); skipping a stage leaves the in-order path (``skipped``).
    use_history : bool
        Set False to ignore a Dataset's stage history (the inferred funnel).

    Returns
    -------
    StageFunnel
        ``table`` as described in :class:`StageFunnel`; rates are floats in [0, 1] with 95%
        Wilson intervals.
    """
    if funnel_type not in FUNNEL_TYPES:
        raise ValueError(f"funnel_type={funnel_type!r}; use one of {FUNNEL_TYPES}.")
    opps, ds_history, stages, _ = resolve(opportunities, stages=stages)
    history = stage_history if stage_history is not None else (ds_history if use_history else None)
    by = as_list(by)
    groups = deal_groups(opps, history=history, by=by, stages=stages)
    assumptions = []
    if history is None:
        ftype = "inferred"
        assumptions.append("No stage history: each deal is assumed to have passed every open stage before its "
                           "current one (won deals: all stages; lost deals: up to lost_at_stage).")
        funnel_type = "any_path"
    else:
        ftype = funnel_type
        assumptions.append("Reached stages are taken from stage history (plus the current stage of open deals and "
                           "lost_at_stage of lost deals); a skipped stage is not counted as reached.")
    assumptions.append("Open deals sitting in a stage are excluded from that stage's conversion (fate unknown), "
                       "not counted as failures.")
    unplaced = int(groups.loc[(groups["outcome"] == "lost") & (groups["furthest"] < 0), "n"].sum()) if len(groups) else 0
    if unplaced:
        assumptions.append(f"{unplaced} lost deal(s) have no stage information (no history, no lost_at_stage): they "
                           "count only in the won row's denominator, so per-stage conversions exclude them.")
    if len(groups) == 0:
        table = pd.DataFrame(columns=by + FUNNEL_COLUMNS)
    elif by:
        parts = []
        for key, g in groups.groupby(by, sort=True, dropna=False):
            t = _funnel_rows(g, stages, funnel_type)
            for col, v in zip(by, key if isinstance(key, tuple) else (key,), strict=True):
                t[col] = v
            parts.append(t)
        table = pd.concat(parts, ignore_index=True)[by + FUNNEL_COLUMNS[:-1]]
    else:
        table = _funnel_rows(groups, stages, funnel_type)
    if len(table):
        table["funnel_type"] = ftype
        table = sort_out(table[by + FUNNEL_COLUMNS], by + ["stage_index"])
    return StageFunnel(table, ftype, tuple(by), tuple(assumptions), unplaced)


def deal_groups(opportunities, *, history=None, by=(), stages: StageModel) -> pd.DataFrame:
    """Deals counted per (segment, current stage, furthest stage, in-order depth) — the one scan.

    Returns pandas columns ``<by>, stage, outcome, furthest, depth, n, e_0..e_{K-1}, s_0..s_{K-2}``:
    ``furthest`` is the furthest open stage index reached (K for won deals, -1 when unknown),
    ``depth`` the last stage index reached in order, ``e_k`` deals that entered stage k, ``s_k``
    deals that entered k, then moved past it without entering k+1.
    """
    by = list(by)
    order = list(stages.order)
    K = len(order)
    o = lazy(opportunities, table="opportunities")
    have = columns(o)
    require_columns(o, ["opportunity_id", "stage"] + by, table="opportunities", purpose="the stage funnel")
    has_lost_at = "lost_at_stage" in have
    keep = ["opportunity_id", "stage"] + (["lost_at_stage"] if has_lost_at else []) + by
    o = o.select(*dict.fromkeys(keep))
    is_won = nw.col("stage").is_in(list(stages.won))
    is_lost = nw.col("stage").is_in(list(stages.lost))

    def current(k: int) -> nw.Expr:
        cond = nw.col("stage") == order[k]
        if has_lost_at:
            cond = cond | (is_lost & (nw.col("lost_at_stage") == order[k]))
        return nw.when(cond).then(1).otherwise(0)

    if history is None:
        keys = by + ["stage"] + (["lost_at_stage"] if has_lost_at else [])
        g = collect(o.group_by(*keys, drop_null_keys=False).agg(nw.len().alias("n")))
        check_labels(g["stage"], stages, table="opportunities", allow_null=False)
        if has_lost_at:
            check_labels(g["lost_at_stage"], stages, table="opportunities", column="lost_at_stage")
        idx = {s: i for i, s in enumerate(order)}
        out = outcome_of(g["stage"], stages)
        cur = g["stage"].map(idx)
        lost_at = g["lost_at_stage"].map(idx) if has_lost_at else pd.Series(np.nan, index=g.index)
        fur = np.where(out == "won", K, np.where(out == "lost", lost_at.fillna(-1), cur))
        g = g.drop(columns=[c for c in ("lost_at_stage",) if c in g])
        g["outcome"] = out
        g["furthest"] = fur.astype(int)
        g["depth"] = g["furthest"].clip(upper=K if K else 0)
        g.loc[g["outcome"] == "won", "depth"] = K
        for k in range(K):
            g[f"e_{k}"] = np.where((g["furthest"] >= k) & (g["furthest"] >= 0), g["n"], 0)
        for k in range(K - 1):
            g[f"s_{k}"] = 0
        keys = by + ["stage", "outcome", "furthest", "depth"]
        g = g.groupby(keys, dropna=False, sort=True).sum(numeric_only=True).reset_index()
        return g

    h = lazy(history, table="stage_history")
    require_columns(h, ["opportunity_id", "stage", "entered_date"], table="stage_history", purpose="the stage funnel")
    hl = collect(h.group_by("stage", drop_null_keys=False).agg(nw.len().alias("n")))
    check_labels(hl["stage"], stages, table="stage_history", allow_null=False)
    h = h.select("opportunity_id", "stage", "entered_date").filter(nw.col("stage").is_in(order))
    h = h.with_columns(
        *[nw.when(nw.col("stage") == s).then(1).otherwise(0).alias(f"h_{k}") for k, s in enumerate(order)],
        *[nw.when(nw.col("stage") == s).then(nw.col("entered_date")).otherwise(None).alias(f"d_{k}")
          for k, s in enumerate(order)],
    )
    hg = h.group_by("opportunity_id").agg(*[nw.col(f"h_{k}").max() for k in range(K)],
                                          *[nw.col(f"d_{k}").min() for k in range(K)])
    d = o.with_columns(*[current(k).alias(f"c_{k}") for k in range(K)]).join(hg, on="opportunity_id", how="left")
    d = d.with_columns(*[nw.when((nw.col(f"h_{k}").fill_null(0) == 1) | (nw.col(f"c_{k}") == 1)).then(1).otherwise(0)
                         .alias(f"e_{k}") for k in range(K)])
    fur = nw.when(is_won).then(K)
    for k in reversed(range(K)):
        fur = fur.when(nw.col(f"e_{k}") == 1).then(k)
    d = d.with_columns(fur.otherwise(-1).alias("furthest"))
    d = d.with_columns(nw.col("e_0").alias("ok_0"))
    for k in range(1, K):
        date_ok = nw.when(nw.col(f"d_{k}").is_null() | nw.col(f"d_{k - 1}").is_null()).then(1).otherwise(
            nw.when(nw.col(f"d_{k}") >= nw.col(f"d_{k - 1}")).then(1).otherwise(0))
        d = d.with_columns((nw.col(f"ok_{k - 1}") * nw.col(f"e_{k}") * date_ok).alias(f"ok_{k}"))
    depth = nw.sum_horizontal(*[nw.col(f"ok_{k}") for k in range(K)]) - 1
    d = d.with_columns(nw.when(is_won & (depth == K - 1)).then(K).otherwise(depth).alias("depth"))
    d = d.with_columns(*[nw.when((nw.col(f"e_{k}") == 1) & (nw.col(f"e_{k + 1}") == 0) & (nw.col("furthest") > k))
                         .then(1).otherwise(0).alias(f"s_{k}") for k in range(K - 1)])
    keys = by + ["stage", "furthest", "depth"]
    g = collect(d.group_by(*keys, drop_null_keys=False).agg(
        nw.len().alias("n"), *[nw.col(f"e_{k}").sum() for k in range(K)], *[nw.col(f"s_{k}").sum() for k in range(K - 1)]))
    check_labels(g["stage"], stages, table="opportunities", allow_null=False)
    g.insert(len(by) + 1, "outcome", outcome_of(g["stage"], stages))
    for c in ["furthest", "depth", "n"] + [f"e_{k}" for k in range(K)] + [f"s_{k}" for k in range(K - 1)]:
        g[c] = g[c].astype("int64")
    return sort_out(g, keys)


def _funnel_rows(g: pd.DataFrame, stages: StageModel, funnel_type: str) -> pd.DataFrame:
    """The funnel of one segment from its deal groups (see :func:`deal_groups`)."""
    order = list(stages.order)
    K = len(order)
    n = g["n"].to_numpy()
    out = g["outcome"].to_numpy()
    fur = g["furthest"].to_numpy()
    dep = g["depth"].to_numpy()
    is_open, is_lost, is_won = out == "open", out == "lost", out == "won"
    unplaced_lost = n[is_lost & (fur < 0)].sum()
    if funnel_type == "any_path":
        reached = [g[f"e_{k}"].sum() for k in range(K)] + [n[is_won].sum()]
        lost = [n[is_lost & (fur == k)].sum() for k in range(K)]
        opn = [n[is_open & (fur == k)].sum() for k in range(K)]
        adv = [reached[k] - lost[k] - opn[k] for k in range(K)]
        skipped = [g[f"s_{k}"].sum() if k < K - 1 else 0 for k in range(K)]
        top = n[fur >= 0].sum()
        open_below = [n[is_open & (fur >= 0) & (fur < k)].sum() for k in range(K + 1)]
    else:
        reached = [n[dep >= k].sum() for k in range(K)] + [n[is_won & (dep == K)].sum()]
        lost = [n[is_lost & (fur == k) & (dep == k)].sum() for k in range(K)]
        opn = [n[is_open & (fur == k) & (dep == k)].sum() for k in range(K)]
        adv = [reached[k + 1] for k in range(K)]
        skipped = [reached[k] - adv[k] - lost[k] - opn[k] for k in range(K)]
        top = n[dep >= 0].sum()
        open_below = [n[is_open & (fur == dep) & (dep >= 0) & (dep < k)].sum() for k in range(K + 1)]
    reached = np.asarray(reached, dtype=float)
    decided = reached[:K] - np.asarray(opn, dtype=float)
    conv = np.where(decided > 0, np.asarray(adv, dtype=float) / np.where(decided > 0, decided, 1), np.nan)
    c_lo, c_hi = wilson_interval(np.asarray(adv, dtype=float), decided)
    cum_den = top - np.asarray(open_below, dtype=float)
    cum_den[K] += unplaced_lost  # known non-winners, stage unknown
    cum = np.where(cum_den > 0, reached / np.where(cum_den > 0, cum_den, 1), np.nan)
    m_lo, m_hi = wilson_interval(reached, cum_den)
    labels = order + [won_label(stages)]
    nan = [np.nan]
    return pd.DataFrame({
        "stage": labels,
        "stage_index": np.arange(K + 1),
        "next_stage": labels[1:] + [None],
        "reached": reached.astype("int64"),
        "advanced": pd.array(list(adv) + [pd.NA], dtype="Int64"),
        "lost": pd.array(list(lost) + [pd.NA], dtype="Int64"),
        "open": pd.array(list(opn) + [pd.NA], dtype="Int64"),
        "skipped": pd.array(list(skipped) + [pd.NA], dtype="Int64"),
        "conversion": np.concatenate([conv, nan]),
        "conversion_ci_low": np.concatenate([np.atleast_1d(c_lo), nan]),
        "conversion_ci_high": np.concatenate([np.atleast_1d(c_hi), nan]),
        "cumulative": cum,
        "cumulative_ci_low": np.atleast_1d(m_lo),
        "cumulative_ci_high": np.atleast_1d(m_hi),
    })


# --------------------------------------------------------------------------------------------
# win rate
# --------------------------------------------------------------------------------------------

def win_rate(opportunities, *, by=None, period: str | None = None, definition: str = "closed",
             stages: StageModel | None = None) -> pd.DataFrame:
    """Win rate with its definition and a 95% Wilson interval on every row.

    Parameters
    ----------
    opportunities : DataFrame (pandas / Polars / DuckDB) or Dataset
        ``stage`` plus ``close_date`` ("closed") or ``created_date`` ("created") when ``period``
        is set, and the ``by`` columns.
    by : str or list of str, optional
        Segment columns (e.g. ``owner``, ``lead_source``).
    period : None, "M", "Q" or "Y"
        Calendar period of the close date ("closed") or the creation date ("created").
    definition : "closed" (default) or "created"
        See ``WIN_RATE_DEFINITIONS``.
    stages : StageModel (default: the Dataset's)

    Returns
    -------
    DataFrame
        ``<by>, [period], won, lost, open, n, win_rate, ci_low, ci_high, definition`` where ``n``
        is the denominator (won + lost for "closed", all created for "created").
    """
    if definition not in WIN_RATE_DEFINITIONS:
        raise ValueError(f"definition={definition!r}; use 'closed' (won / (won + lost) among deals closed in the "
                         "period) or 'created' (won / all deals created in the cohort).")
    opps, _, stages, _ = resolve(opportunities, stages=stages)
    by = as_list(by)
    date_col = "close_date" if definition == "closed" else "created_date"
    o = lazy(opps)
    require_columns(o, ["stage"] + by + ([date_col] if period else []), table="opportunities", purpose="the win rate")
    keys = list(by)
    if period:
        o = o.with_columns(period_expr(date_col, period).alias("period"))
        keys.append("period")
    if definition == "closed":
        o = o.filter(nw.col("stage").is_in(list(stages.won + stages.lost)))
    g = collect(o.group_by(*(keys + ["stage"]), drop_null_keys=False).agg(nw.len().alias("n")))
    check_labels(g["stage"], stages, table="opportunities", allow_null=False)
    cols = keys + ["won", "lost", "open", "n", "win_rate", "ci_low", "ci_high", "definition"]
    if not len(g):
        return pd.DataFrame(columns=cols)
    g["outcome"] = outcome_of(g["stage"], stages)
    w = g.pivot_table(index=keys or None, columns="outcome", values="n", aggfunc="sum", fill_value=0,
                      dropna=False) if keys else g.groupby("outcome")["n"].sum().to_frame().T
    w = w.reindex(columns=["won", "lost", "open"], fill_value=0).reset_index(drop=not keys)
    if keys:
        w = w[(w[["won", "lost", "open"]].sum(axis=1) > 0)]
    for c in ("won", "lost", "open"):
        w[c] = w[c].astype("int64")
    w["n"] = w["won"] + w["lost"] + (w["open"] if definition == "created" else 0)
    w["win_rate"] = np.where(w["n"] > 0, w["won"] / w["n"].where(w["n"] > 0, 1), np.nan)
    lo, hi = wilson_interval(w["won"].to_numpy(), w["n"].to_numpy())
    w["ci_low"], w["ci_high"] = np.atleast_1d(lo), np.atleast_1d(hi)
    w["definition"] = f"{definition}: {WIN_RATE_DEFINITIONS[definition]}"
    w.columns.name = None
    return sort_out(w[cols], keys)


# --------------------------------------------------------------------------------------------
# lead funnel
# --------------------------------------------------------------------------------------------

LEAD_FUNNEL_COLUMNS = ["leads", "opportunities", "won", "open_opportunities",
                       "lead_to_opportunity", "lead_to_opportunity_ci_low", "lead_to_opportunity_ci_high",
                       "opportunity_to_win", "opportunity_to_win_ci_low", "opportunity_to_win_ci_high",
                       "lead_to_win", "lead_to_win_ci_low", "lead_to_win_ci_high", "maturity_days", "created_until"]


def lead_funnel(leads, opportunities=None, *, by=None, maturity_days: int = 90, as_of=None,
                stages: StageModel | None = None) -> pd.DataFrame:
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
        had time to convert).
    as_of : date, optional
        Default: the Dataset's as-of date, else the latest lead creation date.

    Returns
    -------
    DataFrame
        ``<by>, leads, opportunities, won, open_opportunities, lead_to_opportunity (+ci),
        opportunity_to_win (+ci), lead_to_win (+ci), maturity_days, created_until``; e.g. 1,000
        leads → 100 opportunities → 20 won gives 10%, 20% and 2%.
    """
    from .load import Dataset

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
        raise KeyError("leads has neither opportunity_id nor converted_date, so conversion cannot be seen; map one "
                       "of them (tables.leads.columns) in the mapping.")
    if as_of is None:
        as_of = collect(lf.select(nw.col("created_date").max()))["created_date"].iloc[0]
    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=int(maturity_days))
    lf = lf.filter(nw.col("created_date") <= as_pylit(cutoff))
    lf = lf.with_columns(nw.when(nw.col(conv_col).is_null()).then(0).otherwise(1).alias("_converted"))
    with_won = opportunities is not None and conv_col == "opportunity_id"
    keys = by + ["_converted"]
    if with_won:
        if stages is None:
            raise TypeError("lead_funnel needs stages= (a StageModel) to tell won deals apart; pass ds.stages.")
        ol = lazy(opportunities).select("opportunity_id", nw.col("stage").alias("_opp_stage"))
        lf = lf.select(*dict.fromkeys(by + ["opportunity_id", "_converted"])).join(ol, on="opportunity_id", how="left")
        keys.append("_opp_stage")
    g = collect(lf.group_by(*keys, drop_null_keys=False).agg(nw.len().alias("n")))
    if not len(g):
        return pd.DataFrame(columns=by + LEAD_FUNNEL_COLUMNS)
    if with_won:
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
    for name, num, den in (("lead_to_opportunity", "opportunities", "leads"), ("opportunity_to_win", "won", "opportunities"),
                           ("lead_to_win", "won", "leads")):
        k, n = t[num].to_numpy(float), t[den].to_numpy(float)
        t[name] = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
        lo, hi = wilson_interval(k, n)
        t[f"{name}_ci_low"], t[f"{name}_ci_high"] = np.atleast_1d(lo), np.atleast_1d(hi)
    if not with_won:
        for c in ("won", "open_opportunities"):
            t[c] = pd.array([pd.NA] * len(t), dtype="Int64")
        for c in [c for c in t.columns if c.startswith(("opportunity_to_win", "lead_to_win"))]:
            t[c] = np.nan
    t["maturity_days"] = int(maturity_days)
    t["created_until"] = cutoff
    return sort_out(t[by + LEAD_FUNNEL_COLUMNS], by)


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


def sales_velocity(opportunities, *, by=None, stages: StageModel | None = None, as_of=None,
                   cycle_summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Sales velocity = open deals × win rate × average won deal size / median cycle days.

    Parameters
    ----------
    opportunities : DataFrame or Dataset
        ``stage, amount, created_date, close_date`` + the ``by`` columns.
    by : segment columns, optional
    cycle_summary : DataFrame, optional
        ``SalesCycle.summary`` for the same ``by`` (computed when not given).

    Returns
    -------
    DataFrame
        ``<by>, open_deals, win_rate, avg_won_deal_size, cycle_median_days, velocity_per_day,
        velocity_per_month`` (currency per day / per month; win rate is the closed definition over all
        periods, cycle the censoring-aware median days to win from :func:`salesops_kit.cycle.sales_cycle`).
    """
    from .cycle import sales_cycle

    opps, _, stages, as_of = resolve(opportunities, stages=stages, as_of=as_of)
    by = as_list(by)
    tot = deal_totals(opps, by=by, stages=stages)
    if cycle_summary is None:
        cycle_summary = sales_cycle(opps, by=by, stages=stages, as_of=as_of, n_boot=0).summary
    cols = by + ["open_deals", "win_rate", "avg_won_deal_size", "cycle_median_days", "velocity_per_day",
                 "velocity_per_month"]
    if not len(tot):
        return pd.DataFrame(columns=cols)
    t = tot.copy()
    t["open_deals"] = t["open"]
    closed = t["won"] + t["lost"]
    t["win_rate"] = np.where(closed > 0, t["won"] / closed.where(closed > 0, 1), np.nan)
    t["avg_won_deal_size"] = np.where(t["won_amount_n"] > 0, t["won_amount"] / t["won_amount_n"].where(t["won_amount_n"] > 0, 1),
                                      np.nan)
    cs = cycle_summary[by + ["median_days_to_win"]] if by else cycle_summary[["median_days_to_win"]]
    t = t.merge(cs, on=by, how="left") if by else t.assign(median_days_to_win=cs["median_days_to_win"].iloc[0])
    t["cycle_median_days"] = t["median_days_to_win"].astype(float)
    days = t["cycle_median_days"].where(t["cycle_median_days"] > 0)
    t["velocity_per_day"] = t["open_deals"] * t["win_rate"] * t["avg_won_deal_size"] / days
    t["velocity_per_month"] = t["velocity_per_day"] * DAYS_PER_MONTH
    return sort_out(t[cols], by)


# --------------------------------------------------------------------------------------------
# KPIs
# --------------------------------------------------------------------------------------------

KPI_SEGMENTS = (None, "owner", "lead_source")
LEAD_SEGMENTS = {"source": "lead_source", "owner": "owner"}


def _slug(label: str) -> str:
    import re

    return re.sub(r"[^0-9a-z]+", "_", str(label).strip().lower()).strip("_")


def _seg(col, value) -> str:
    return "all" if col is None else f"{col}={value}"


def kpi_rows(ds) -> list[dict]:
    """The funnel KPIs of a Dataset, overall and per owner and lead source (see ``salesops_kit.kpis``).

    Returns ``{kpi, segment, value, ci_low, ci_high}`` records; [] when the dataset has no opportunities.
    """
    from .cycle import sales_cycle
    from .stats import wilson_interval as _wilson

    if ds.opportunities is None:
        return []
    opps, stages = ds.opportunities, ds.stages
    have = set(columns(lazy(opps)))
    rows: list[dict] = []

    def add(kpi, seg, value, lo=np.nan, hi=np.nan):
        rows.append({"kpi": kpi, "segment": seg, "value": float(value) if value is not None else np.nan,
                     "ci_low": float(lo), "ci_high": float(hi)})

    for col in KPI_SEGMENTS:
        if col is not None and col not in have:
            continue
        by = [] if col is None else [col]
        tot = deal_totals(opps, by=by, stages=stages)
        cyc = sales_cycle(ds, by=by, detail=False)
        vel = sales_velocity(ds, by=by, cycle_summary=cyc.summary)
        fun = stage_funnel(ds, by=by).table
        for i, r in tot.iterrows():
            seg = _seg(col, r[col] if col else None)
            closed = r["won"] + r["lost"]
            lo, hi = _wilson(r["won"], closed)
            add("win_rate", seg, r["won"] / closed if closed else np.nan, lo, hi)
            add("deals_won", seg, r["won"])
            add("deals_lost", seg, r["lost"])
            add("deals_open", seg, r["open"])
            add("won_revenue", seg, r["won_amount"])
            n = r["won_amount_n"]
            if n:
                mean = r["won_amount"] / n
                sd = np.sqrt(max(r["won_amount_sq"] - n * mean**2, 0.0) / (n - 1)) if n > 1 else np.nan
                half = 1.959964 * sd / np.sqrt(n)
                add("avg_won_deal_size", seg, mean, mean - half, mean + half)
            v = vel.iloc[i] if not by else vel[vel[col] == r[col]].iloc[0]
            add("sales_velocity_per_month", seg, v["velocity_per_month"])
        for _, r in cyc.summary.iterrows():
            seg = _seg(col, r[col] if col else None)
            add("sales_cycle_median_days", seg, r["median_days_to_win"], r["ci_low"], r["ci_high"])
            add("sales_cycle_won_mean_days", seg, r["naive_won_mean_days"])
        for _, r in fun[fun["next_stage"].notna()].iterrows():
            seg = _seg(col, r[col] if col else None)
            add(f"stage_conversion_{_slug(r['stage'])}_to_{_slug(r['next_stage'])}", seg, r["conversion"],
                r["conversion_ci_low"], r["conversion_ci_high"])
    if ds.leads is not None:
        lhave = set(columns(lazy(ds.leads, table="leads")))
        for lcol in (None, *LEAD_SEGMENTS):
            if lcol is not None and lcol not in lhave:
                continue
            lt = lead_funnel(ds, by=[] if lcol is None else [lcol])
            for _, r in lt.iterrows():
                seg = _seg(None if lcol is None else LEAD_SEGMENTS[lcol], r[lcol] if lcol else None)
                add("lead_conversion_rate", seg, r["lead_to_opportunity"], r["lead_to_opportunity_ci_low"],
                    r["lead_to_opportunity_ci_high"])
                if pd.notna(r["lead_to_win"]):
                    add("lead_to_win_rate", seg, r["lead_to_win"], r["lead_to_win_ci_low"], r["lead_to_win_ci_high"])
    return rows
