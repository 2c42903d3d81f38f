"""Stage funnel, lead funnel, win rate and sales velocity, with stated definitions and intervals.

Every function scans the row-level tables with narwhals (pandas, Polars eager/lazy and DuckDB
frames are accepted) and returns a small pandas result. Stage order and which stages mean won or
lost come from a :class:`~salesops_kit.data.schema.StageModel`: pass ``stages=`` or pass a
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

Bottlenecks live in :mod:`salesops_kit.funnel._bottlenecks`, calibration and time in stage in
:mod:`salesops_kit.funnel.calibration`, the sales cycle in :mod:`salesops_kit.funnel.cycle`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import narwhals as nw
import numpy as np
import pandas as pd

from ..data.schema import StageModel
from ..engines.ops import (
    LOST,
    OPEN,
    OUTCOME_FLAGS,
    UNKNOWN,
    WON,
    as_list,
    check_labels,
    collect,
    columns,
    grouped,
    has_outcome_flags,
    lazy,
    outcome_code,
    outcome_of,
    period_expr,
    raise_unknown_stages,
    require_columns,
    resolve,
    sort_out,
    stage_stays,
    won_label,
)
from ..stats import wilson_interval
from ..tools.results import Result
from ..tools.validation import check_option
from ..tools.validation import require_columns as check_columns

__all__ = ["StageFunnel", "stage_funnel", "deal_groups", "win_rate", "WinRate", "WIN_RATE_DEFINITIONS", "FUNNEL_TYPES",
           "KPI_SEGMENTS", "stage_conversion_kpi"]

FUNNEL_TYPES = ("any_path", "in_order")

# The closed win rate, written once: win_rate scopes it to the deals closed in each period, the KPI registry
# (salesops_kit.kpis, "win_rate") to the closed deals of all periods.
CLOSED_WIN_RATE = "won / (won + lost) among {closed}; open deals excluded"

WIN_RATE_DEFINITIONS = {
    "closed": CLOSED_WIN_RATE.format(closed="deals closed in the period (close_date)"),
    "created": "won / all deals created in the cohort period (created_date); open deals count as not won",
}

FUNNEL_COLUMNS = ["stage", "stage_index", "next_stage", "reached", "advanced", "lost", "open", "skipped",
                  "conversion", "conversion_ci_low", "conversion_ci_high",
                  "cumulative", "cumulative_ci_low", "cumulative_ci_high", "funnel_type"]


# --------------------------------------------------------------------------------------------
# stage funnel
# --------------------------------------------------------------------------------------------

#: the segment columns the funnel KPIs are published for (None: every deal); kpis.csv's segment is "owner=NAME"
KPI_SEGMENTS = (None, "owner", "lead_source")


def stage_conversion_kpi(stage, next_stage) -> str:
    """The kpis.csv name of a step's conversion: ``stage_conversion_{from}_to_{to}`` with each stage label as a
    name part (lower-case word characters in any script, 初步接洽 stays 初步接洽; runs of anything else as one
    underscore; a label with no word character at all gets a stable short hash)."""

    def slug(label) -> str:
        text = str(label).strip().lower()
        return re.sub(r"\W+", "_", text).strip("_") or "x" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]

    return f"stage_conversion_{slug(stage)}_to_{slug(next_stage)}"


@dataclass(frozen=True, repr=False)
class StageFunnel(Result):
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

    def __repr__(self) -> str:
        return f"StageFunnel({self.headline()})"

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

    @property
    def unreached(self) -> list[str]:
        """Open stages no deal reached (overall funnel only): the table keeps them, the chart leaves them out."""
        t = self.table
        if self.by or not len(t):
            return []
        opn = t.iloc[:-1]  # the won row is last
        return opn.loc[opn["reached"] == 0, "stage"].astype(str).tolist()

    @property
    def shown(self) -> pd.DataFrame:
        """The table without the open stages nobody reached (what the chart draws)."""
        return self.table[~self.table["stage"].astype(str).isin(self.unreached)].reset_index(drop=True)

    @property
    def limitation(self) -> str | None:
        """One sentence (in the report language) when these deals cannot support a stage funnel, else None:
        no deal at all, no deal whose fate at any stage is known (all open), or lost deals none of which has a
        recorded stage (per-stage conversion would count their wins and none of their losses)."""
        from ..i18n import tr

        t = self.table
        if not len(t) or int(t["reached"].sum()) == 0:
            return tr("No deal reached any stage of the funnel: there is nothing to draw.")
        if self.by:
            return None
        if not t["conversion"].notna().any():
            return tr("No deal has left an open stage yet (moved on from it or lost there): no stage conversion can "
                      "be measured.")
        placed_lost = int(pd.to_numeric(t["lost"].iloc[:-1], errors="coerce").fillna(0).sum()) if "lost" in t else 0
        if self.unplaced_lost and not placed_lost:
            return tr("The {lost:,} lost deals have no recorded stage (no stage history, no {column}): every "
                      "stage conversion would read 100%, so the stage funnel is not shown.",
                      lost=self.unplaced_lost, column="lost_at_stage")
        return None

    def plot(self, ax=None, **kwargs):
        from ..plots.funnel import plot_funnel

        return plot_funnel(self.shown, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        from ..findings import escape_html
        from ..tools import show_table

        notes = "".join(f"<li>{escape_html(a)}</li>" for a in self.assumptions)
        return (f"<p><b>Stage funnel</b> ({escape_html(self.funnel_type)}): {escape_html(self.headline())}</p>"
                + show_table(self.table)._repr_html_() + (f"<ul>{notes}</ul>" if notes else ""))


@dataclass(frozen=True, repr=False)
class WinRate(Result):
    """Result of :func:`win_rate`.

    Attributes
    ----------
    table : DataFrame ``<by>, [period], won, lost, open, n, win_rate, ci_low, ci_high, definition`` (also
        ``summary()``), where ``n`` is the denominator (won + lost for "closed", all created for "created").
    definition : "closed" or "created" (the text is in ``WIN_RATE_DEFINITIONS`` and the table's ``definition``).
    by : the segment columns.
    period : None, "M", "Q" or "Y".
    """

    table: pd.DataFrame
    definition: str
    by: tuple[str, ...] = ()
    period: str | None = None

    def headline(self) -> str:
        t = self.table
        if t.empty:
            return f"Win rate ({self.definition}): no deals."
        if self.by or self.period:
            per = list(self.by) + (["period"] if self.period else [])
            return f"Win rate ({self.definition}) by {', '.join(per)}: {len(t)} rows."
        r = t.iloc[0]
        return (f"Win rate ({self.definition}) {r['win_rate']:.1%} (95% CI {r['ci_low']:.1%}–{r['ci_high']:.1%}; "
                f"{int(r['won']):,} won of {int(r['n']):,}).")

    def plot(self, ax=None, **kwargs):
        """The win rate per row with its 95% interval (:func:`salesops_kit.plots.plot_estimates`)."""
        from ..plots.costs import plot_estimates

        keys = list(self.by) + (["period"] if self.period else [])
        t = self.table.assign(_row=self.table[keys].astype(str).agg(" | ".join, axis=1) if keys else self.definition)
        return plot_estimates(t, value="win_rate", label="_row", ax=ax, **kwargs)


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
    check_option("funnel_type", funnel_type, FUNNEL_TYPES)
    opps, ds_history, stages, _ = resolve(opportunities, stages=stages)
    history = stage_history if stage_history is not None else (ds_history if use_history else None)
    by = as_list(by)
    from ..i18n import tr  # the assumptions are printed on the report pages

    groups = deal_groups(opps, history=history, by=by, stages=stages)
    assumptions = []
    if history is None:
        ftype = "inferred"
        assumptions.append(tr("No stage history: each deal is assumed to have passed every open stage before its "
                              "current one (won deals: all stages; lost deals: up to {column}).",
                              column="lost_at_stage"))
        funnel_type = "any_path"
    else:
        ftype = funnel_type
        assumptions.append(tr("Reached stages are taken from stage history (plus the current stage of open deals "
                              "and {column} of lost deals); a skipped stage is not counted as reached.",
                              column="lost_at_stage"))
    assumptions.append(tr("Open deals sitting in a stage are excluded from that stage's conversion (fate unknown), "
                          "not counted as failures."))
    unplaced = (int(groups.loc[(groups["outcome"] == "lost") & (groups["furthest"] < 0), "n"].sum())
                if len(groups) else 0)
    if unplaced:
        assumptions.append(tr("{n} lost deal(s) have no stage information (no history, no {column}): they count only "
                              "in the won row's denominator, so per-stage conversions exclude them.", n=unplaced,
                              column="lost_at_stage"))
    n_won = int(groups.loc[groups["outcome"] == "won", "n"].sum()) if len(groups) else 0
    n_lost = int(groups.loc[groups["outcome"] == "lost", "n"].sum()) if len(groups) else 0
    if n_lost and not n_won:
        assumptions.append(tr("WARNING: {n} lost deals and no won deal at all — check that the mapping's {key} "
                              "({won}) matches the export's won stage label.", n=n_lost, key="stages.won",
                              won=", ".join(stages.won)))
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
    o = lazy(opportunities, table="opportunities")
    have = columns(o)
    require_columns(o, ["opportunity_id", "stage"] + by, table="opportunities", purpose="the stage funnel")
    has_lost_at = "lost_at_stage" in have
    if history is None:
        return _groups_from_current_stage(opportunities, o, by=by, stages=stages, has_lost_at=has_lost_at)
    keep = ["opportunity_id", "stage"] + (["lost_at_stage"] if has_lost_at else []) + by
    o = o.select(*dict.fromkeys(keep))  # (not before: the counts without history group the keys without a copy)
    return _groups_from_history(opportunities, o, history, by=by, stages=stages, has_lost_at=has_lost_at)


def _groups_from_current_stage(opportunities, o, *, by: list[str], stages: StageModel, has_lost_at: bool
                               ) -> pd.DataFrame:
    """:func:`deal_groups` without stage history: each deal has reached its current (or lost-at) stage and
    every stage before it, in order."""
    order = list(stages.order)
    K = len(order)
    keys = by + ["stage"] + (["lost_at_stage"] if has_lost_at else [])
    g = None
    if nw.dependencies.is_pandas_dataframe(opportunities):  # pandas: count hashed label codes
        from ..engines.pandas_fast import group_sizes

        g = group_sizes(opportunities, keys)
    if g is None:
        g = collect(o.group_by(*keys, drop_null_keys=False).agg(nw.len().alias("n")))
    check_labels(g["stage"], stages, table="opportunities", allow_null=False)
    g["_o"] = np.select([g["stage"].isin(stages.won), g["stage"].isin(stages.lost)], [WON, LOST], OPEN)
    g["_key"] = g["lost_at_stage"].where(g["_o"] == LOST, g["stage"]) if has_lost_at else g["stage"]
    g = g.drop(columns=["stage"] + (["lost_at_stage"] if has_lost_at else []))
    if has_lost_at:
        check_labels(g.loc[g["_o"] == LOST, "_key"], stages, table="opportunities", column="lost_at_stage")
    idx = {s: i for i, s in enumerate(order)}
    out = pd.Series(np.select([g["_o"] == WON, g["_o"] == LOST], ["won", "lost"], "open"), index=g.index)
    lost_at = g["_key"].map(idx) if has_lost_at else pd.Series(np.nan, index=g.index)
    fur = np.where(out == "won", K, np.where(out == "lost", lost_at.fillna(-1), g["_key"].map(idx)))
    g = g.rename(columns={"_key": "stage"}).drop(columns="_o")
    g["outcome"] = out
    g["furthest"] = fur.astype(int)
    g["depth"] = g["furthest"]
    for k in range(K):
        g[f"e_{k}"] = np.where((g["furthest"] >= k) & (g["furthest"] >= 0), g["n"], 0)
    for k in range(K - 1):
        g[f"s_{k}"] = 0
    keys = by + ["stage", "outcome", "furthest", "depth"]
    g = g.groupby(keys, dropna=False, sort=True).sum(numeric_only=True).reset_index()
    return g


def _groups_from_history(opportunities, o, history, *, by: list[str], stages: StageModel, has_lost_at: bool
                         ) -> pd.DataFrame:
    """:func:`deal_groups` from the stage history: stages entered, in-order depth and skips per deal."""
    order = list(stages.order)
    K = len(order)
    is_won = nw.col("stage").is_in(list(stages.won))
    is_lost = nw.col("stage").is_in(list(stages.lost))

    def current(k: int) -> nw.Expr:
        cond = nw.col("stage") == order[k]
        if has_lost_at:
            cond = cond | (is_lost & (nw.col("lost_at_stage") == order[k]))
        return nw.when(cond).then(1).otherwise(0)

    h = lazy(history, table="stage_history")
    require_columns(h, ["opportunity_id", "stage", "entered_date"], table="stage_history", purpose="the stage funnel")
    hl = collect(h.group_by("stage", drop_null_keys=False).agg(nw.len().alias("n")))
    check_labels(hl["stage"], stages, table="stage_history", allow_null=False)
    h = stage_stays(h)  # field-edit rows in the same stage are one stay (the counts below do not change)
    if nw.dependencies.is_pandas_dataframe(opportunities) and nw.dependencies.is_pandas_dataframe(history):
        from ..engines.pandas_fast import deal_groups_history

        g = deal_groups_history(opportunities, collect(h), by=by, stages=stages, has_lost_at=has_lost_at)
        if g is not None:
            return _finish_groups(g, by, stages)
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
        nw.len().alias("n"), *[nw.col(f"e_{k}").sum() for k in range(K)],
        *[nw.col(f"s_{k}").sum() for k in range(K - 1)]))
    return _finish_groups(g, by, stages)


def _finish_groups(g: pd.DataFrame, by: list[str], stages: StageModel) -> pd.DataFrame:
    K = len(stages.order)
    check_labels(g["stage"], stages, table="opportunities", allow_null=False)
    g.insert(len(by) + 1, "outcome", outcome_of(g["stage"], stages))
    for c in ["furthest", "depth", "n"] + [f"e_{k}" for k in range(K)] + [f"s_{k}" for k in range(K - 1)]:
        g[c] = g[c].astype("int64")
    return sort_out(g, by + ["stage", "furthest", "depth"])


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
             stages: StageModel | None = None) -> WinRate:
    """Win rate with its definition and a 95% Wilson interval on every row.

    Parameters
    ----------
    opportunities : DataFrame (pandas / Polars / DuckDB) or Dataset
        ``stage`` plus ``close_date`` ("closed") or ``created_date`` ("created") when ``period``
        is set, and the ``by`` columns.
    by : str or list of str, optional
        Segment columns (e.g. ``owner``, ``lead_source``).
    period : None, "M", "Q" or "Y"
        Calendar period of the close date ("closed") or the creation date ("created"); a deal without
        that date (withheld on load) is left out of the period view, not out of the all-time rate.
    definition : "closed" (default) or "created"
        See ``WIN_RATE_DEFINITIONS``.
    stages : StageModel (default: the Dataset's)

    Returns
    -------
    WinRate
        ``.table``: ``<by>, [period], won, lost, open, n, win_rate, ci_low, ci_high, definition`` where
        ``n`` is the denominator (won + lost for "closed", all created for "created").
    """
    check_option("definition", definition, WIN_RATE_DEFINITIONS)
    opps, _, stages, _ = resolve(opportunities, stages=stages)
    by = as_list(by)
    date_col = "close_date" if definition == "closed" else "created_date"
    o = lazy(opps)
    names = columns(o)
    check_columns(names, ["stage"] + by + ([date_col] if period else []), table="opportunities",
                  purpose="the win rate")
    keys = list(by) + (["period"] if period else [])
    cols = keys + ["won", "lost", "open", "n", "win_rate", "ci_low", "ci_high", "definition"]
    if has_outcome_flags(names):  # the loader's is_won / is_closed: one group-by on them, no label classified
        # a deal without the date (a withheld field) counts over all time, not in period views
        g = grouped(opps, o, by, period=(date_col, period) if period else None,
                    where="is_closed" if definition == "closed" else None,
                    counts=("is_won",) if definition == "closed" else OUTCOME_FLAGS)
        rows = g["n"].to_numpy()
        won = g["is_won"].to_numpy()
        closed = rows if definition == "closed" else g["is_closed"].to_numpy()
        w = {**{k: g[k].to_numpy() for k in keys}, "won": won, "lost": closed - won, "open": rows - closed}
    else:
        w = _win_counts_from_labels(opps, o, by, keys, period=period, date_col=date_col, definition=definition,
                                    stages=stages)
        w = None if w is None else {c: w[c].to_numpy() for c in keys + ["won", "lost", "open"]}
    if w is None or not len(w["won"]):
        return WinRate(pd.DataFrame(columns=cols), definition, tuple(by), period)
    for c in ("won", "lost", "open"):
        w[c] = w[c].astype("int64")
    nn = w["won"] + w["lost"] + (w["open"] if definition == "created" else 0)
    lo, hi = wilson_interval(w["won"], nn)
    w.update(n=nn, win_rate=np.where(nn > 0, w["won"] / np.where(nn > 0, nn, 1), np.nan), ci_low=np.atleast_1d(lo),
             ci_high=np.atleast_1d(hi), definition=f"{definition}: {WIN_RATE_DEFINITIONS[definition]}")
    return WinRate(sort_out(pd.DataFrame(w, columns=cols), keys), definition, tuple(by), period)


def _win_counts_from_labels(opps, o, by: list[str], keys: list[str], *, period, date_col: str, definition: str,
                            stages: StageModel) -> pd.DataFrame | None:
    """Won / lost / open per group from the stage labels (a frame without the loader's ``is_won``/``is_closed``):
    ``<keys>, won, lost, open``, None when no deal counts."""
    o = o.select(*dict.fromkeys(by + ["stage"] + ([date_col] if period else [])))
    if period:  # a deal without the date (a withheld field) counts over all time, not in period views
        o = o.with_columns(period_expr(date_col, period).alias("period")).filter(~nw.col("period").is_null())
    if nw.dependencies.is_pandas_dataframe(opps):  # pandas: classify the distinct labels, not every row
        from ..engines.pandas_fast import with_outcome

        o = with_outcome(o, stages)
    else:
        o = o.with_columns(outcome_code(stages).alias("_o"))
    g = collect(o.group_by(*(keys + ["_o"]), drop_null_keys=False).agg(nw.len().alias("n")))
    if (g["_o"] == UNKNOWN).any():
        raise_unknown_stages(o, stages)
    if definition == "closed":
        g = g[g["_o"] != OPEN]
    if not len(g):
        return None
    g["outcome"] = g["_o"].map({OPEN: "open", WON: "won", LOST: "lost"})
    w = g.pivot_table(index=keys or None, columns="outcome", values="n", aggfunc="sum", fill_value=0,
                      dropna=False) if keys else g.groupby("outcome")["n"].sum().to_frame().T
    w = w.reindex(columns=["won", "lost", "open"], fill_value=0).reset_index(drop=not keys)
    if keys:
        w = w[(w[["won", "lost", "open"]].sum(axis=1) > 0)]
    return w
