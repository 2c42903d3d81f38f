"""Stage-probability calibration, time in stage and stalled deals.

* Calibration: the probability the CRM states for a stage (the ``probability`` of open deals in
  that stage, or given stage defaults) against the realised win rate of closed deals that reached
  the stage; Brier scores of the stated and of the empirical probabilities; a suggested probability
  per stage (the realised win rate with its Wilson interval).
* Time in stage (needs stage history): median, P75 and P90 days of completed stays per stage.
* Stalled deals: open deals that have sat in their current stage longer than that stage's P90.
"""

from __future__ import annotations

from dataclasses import dataclass

import narwhals as nw
import numpy as np
import pandas as pd

from ..data.schema import StageModel
from ..engines.ops import (
    check_labels,
    check_stages,
    collect,
    columns,
    days_between,
    lazy,
    require_columns,
    resolve,
    stage_stays,
)
from ..stats import weighted_quantile, wilson_interval
from ..tools.results import Result
from .stages import deal_groups

__all__ = ["Calibration", "stage_calibration", "time_in_stage", "stalled_deals"]


#: share of closed deals that may be lost deals without any recorded stage before the calibration is withheld
UNPLACED_TOLERANCE = 0.05


@dataclass(frozen=True, repr=False)
class Calibration(Result):
    """Result of :func:`stage_calibration`.

    Attributes
    ----------
    table : DataFrame, one row per open stage: ``stage, stage_index, closed, won, realised_win_rate,
        ci_low, ci_high, stated_probability, source, gap, brier_stated, brier_empirical,
        suggested_probability``.
    brier_stated / brier_empirical : Brier score over every (closed deal, stage it reached) pair
        using the stated, and the realised, probability of that stage.
    unplaced_lost : lost deals whose stages are unknown (no history row, no ``lost_at_stage``): they
        count in no stage, so every realised rate is overstated; past ``UNPLACED_TOLERANCE`` of the closed
        deals the calibration is withheld (see :attr:`limitation`).
    """

    table: pd.DataFrame
    brier_stated: float
    brier_empirical: float
    unplaced_lost: int = 0

    @property
    def limitation(self) -> str | None:
        """One sentence (in the report language) when these deals cannot support a calibration, else None."""
        from ..i18n import tr

        t = self.table
        if not len(t) or (t["source"] == "none").all():
            return tr("The export has no stage probabilities (no {column} column, no {key} in the mapping): there "
                      "is nothing to calibrate.", column="probability", key="stages.probabilities")
        placed = int(t["closed"].max()) if len(t) else 0
        # a few unplaced losses move the realised rates by less than their share; more than 5% of the closed deals
        # could move them by more than the gaps worth acting on
        if self.unplaced_lost and self.unplaced_lost > UNPLACED_TOLERANCE * (placed + self.unplaced_lost):
            return tr("{n} lost deal(s) have no recorded stage (no stage history, no {column}): the realised win "
                      "rate of every stage would count wins and miss those losses, so it is not shown.",
                      n=self.unplaced_lost, column="lost_at_stage")
        if not len(t.dropna(subset=["gap"])):
            return tr("No closed deal reached a stage that has a stated probability: there is nothing to "
                      "calibrate yet.")
        return None

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def __repr__(self) -> str:
        return f"Calibration({self.headline()})"

    def headline(self) -> str:
        from ..i18n import tr

        t = self.table.dropna(subset=["gap"])
        if self.limitation:
            return self.limitation
        w = t.loc[t["gap"].abs().idxmax()]
        # no Brier score here: the realised rates are fitted to these same deals, so they beat the stated
        # probabilities by construction (an in-sample comparison, not evidence)
        return tr("Largest gap at {stage}: the CRM states {p}, and {rate} of the {closed:,} closed deals that reached "
                  "it were won.", stage=w["stage"], p=f"{w['stated_probability']:.0%}",
                  rate=f"{w['realised_win_rate']:.0%}", closed=int(w["closed"]))

    def plot(self, ax=None, **kwargs):
        from ..plots.funnel import plot_calibration

        return plot_calibration(self.table, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        from ..findings import escape_html
        from ..tools import show_table

        return f"<p><b>Calibration</b>: {escape_html(self.headline())}</p>" + show_table(self.table)._repr_html_()


def stage_calibration(opportunities, *, stage_history=None, stages: StageModel | None = None,
                      probabilities: dict | None = None, use_history: bool = True) -> Calibration:
    """Stated stage probability vs realised win rate among closed deals that reached the stage.

    Parameters
    ----------
    opportunities : DataFrame (pandas / Polars / DuckDB) or Dataset
        ``opportunity_id, stage`` (+ ``lost_at_stage``, ``probability`` in [0, 1]).
    stage_history : optional, see :func:`~salesops_kit.funnel.stage_funnel`.
    probabilities : dict stage -> probability, optional
        The CRM's stage defaults. Default: the median ``probability`` of open deals currently in
        each stage (CRMs set it from the stage), else the mapping's ``stages.probabilities``.

    Returns
    -------
    Calibration
    """
    from ..data.load import Dataset

    mapping_probs = None
    if isinstance(opportunities, Dataset):
        mapping_probs = (opportunities.mapping.get("stages") or {}).get("probabilities")
    opps, history, stages, _ = resolve(opportunities, stages=stages)
    history = stage_history if stage_history is not None else (history if use_history else None)
    order = list(stages.order)
    g = deal_groups(opps, history=history, stages=stages)
    closed = g[g["outcome"] != "open"]
    won = g[g["outcome"] == "won"]
    n_closed = np.array([closed[f"e_{k}"].sum() for k in range(len(order))], dtype=float)
    n_won = np.array([won[f"e_{k}"].sum() for k in range(len(order))], dtype=float)
    source = "argument"
    stated = dict(probabilities or {})
    if not stated and "probability" in columns(lazy(opps)):
        o = lazy(opps).filter(nw.col("stage").is_in(order) & ~nw.col("probability").is_null())
        pr = collect(o.group_by("stage", "probability").agg(nw.len().alias("n")))
        for s, grp in pr.groupby("stage"):
            stated[s] = weighted_quantile(grp["probability"], grp["n"], 0.5)
        source = "median CRM probability of open deals in the stage"
    if not stated and mapping_probs:
        stated, source = dict(mapping_probs), "mapping stages.probabilities"
    p = np.array([float(stated[s]) if s in stated else np.nan for s in order])
    if np.nanmax(np.append(p, 0)) > 1:
        raise ValueError("Stage probabilities must be in [0, 1]; got values above 1 (percent?). Divide by 100 in the "
                         "mapping or pass probabilities={stage: p}.")
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n_closed > 0, n_won / np.where(n_closed > 0, n_closed, 1), np.nan)
        lo, hi = wilson_interval(n_won, n_closed)
        brier_s = (n_won * (1 - p) ** 2 + (n_closed - n_won) * p**2) / n_closed
        brier_e = (n_won * (1 - rate) ** 2 + (n_closed - n_won) * rate**2) / n_closed
    table = pd.DataFrame({
        "stage": order, "stage_index": np.arange(len(order)), "closed": n_closed.astype("int64"),
        "won": n_won.astype("int64"), "realised_win_rate": rate, "ci_low": np.atleast_1d(lo),
        "ci_high": np.atleast_1d(hi),
        "stated_probability": p, "source": np.where(np.isnan(p), "none", source), "gap": p - rate,
        "brier_stated": brier_s, "brier_empirical": brier_e, "suggested_probability": rate,
    })
    ok = n_closed > 0
    tot = n_closed[ok].sum()
    ok_s = ok & ~np.isnan(p)
    bs = float(np.sum((brier_s * n_closed)[ok_s]) / n_closed[ok_s].sum()) if ok_s.any() else np.nan
    be = float(np.sum((brier_e * n_closed)[ok]) / tot) if tot else np.nan
    unplaced = int(g.loc[(g["outcome"] == "lost") & (g["furthest"] < 0), "n"].sum()) if len(g) else 0
    return Calibration(table, bs, be, unplaced)


def _stays(stage_history, *, stages: StageModel, as_of) -> nw.LazyFrame:
    h = lazy(stage_history, table="stage_history")
    require_columns(h, ["opportunity_id", "stage", "entered_date"], table="stage_history", purpose="time in stage")
    h = stage_stays(h)  # consecutive rows in the same stage (field edits) are one stay
    has_exit = "exited_date" in columns(h)
    h = h.filter(nw.col("stage").is_in(list(stages.order)))
    ex = nw.col("exited_date")
    return h.with_columns(
        (days_between(nw.col("entered_date"), ex, frame=h) if has_exit
         else nw.lit(None, dtype=nw.Float64)).alias("days"),
        days_between(nw.col("entered_date"), as_of, frame=h).alias("age_days"),
        (nw.when(ex.is_null()).then(0).otherwise(1) if has_exit else nw.lit(0)).alias("completed"),
    )


def time_in_stage(stage_history, *, stages: StageModel | None = None, as_of=None) -> pd.DataFrame:
    """Days spent in each open stage (completed stays), from stage history.

    Parameters
    ----------
    stage_history : DataFrame or Dataset — ``opportunity_id, stage, entered_date, exited_date``.
    stages : StageModel (default: the Dataset's); as_of : the Dataset's or the latest entered date.

    Returns
    -------
    DataFrame
        ``stage, stage_index, completed_stays, open_stays, median_days, p75_days, p90_days,
        mean_days`` (stays still open at as-of are counted but not in the quantiles, which
        therefore understate long stays when many are open).
    """
    from ..data.load import Dataset

    if isinstance(stage_history, Dataset):
        ds = stage_history
        ds.require("stage_history", purpose="time in stage")
        stages = stages if stages is not None else ds.stages
        as_of = as_of if as_of is not None else ds.as_of
        stage_history = ds.stage_history
    check_stages(stages)
    if as_of is None:
        as_of = collect(lazy(stage_history).select(nw.col("entered_date").max()))["entered_date"].iloc[0]
    s = _stays(stage_history, stages=stages, as_of=as_of)
    g = collect(s.group_by("stage", "completed", "days", drop_null_keys=False).agg(nw.len().alias("n")))
    rows = []
    for k, st in enumerate(stages.order):
        x = g[(g["stage"] == st) & (g["completed"] == 1) & g["days"].notna()]
        d, n = x["days"].to_numpy(float), x["n"].to_numpy(float)
        rows.append({"stage": st, "stage_index": k, "completed_stays": int(n.sum()),
                     "open_stays": int(g.loc[(g["stage"] == st) & (g["completed"] == 0), "n"].sum()),
                     "median_days": weighted_quantile(d, n, 0.5), "p75_days": weighted_quantile(d, n, 0.75),
                     "p90_days": weighted_quantile(d, n, 0.9),
                     "mean_days": float(np.average(d, weights=n)) if n.sum() else np.nan})
    return pd.DataFrame(rows)


def stalled_deals(opportunities, *, stage_history=None, stages: StageModel | None = None, as_of=None,
                  quantile: float = 0.9, by=None, min_stays: int = 10) -> pd.DataFrame:
    """Open deals older in their current stage than that stage's ``quantile`` of completed stays.

    Parameters
    ----------
    opportunities : DataFrame or Dataset — ``opportunity_id, stage`` (+ ``owner, amount`` and ``by``).
    stage_history : DataFrame — ``opportunity_id, stage, entered_date, exited_date``.
    quantile : the threshold quantile (default P90).
    min_stays : completed stays a stage needs for a threshold (default 10: the P90 of fewer is their maximum);
        an open deal in a stage with fewer is not judged.

    Returns
    -------
    DataFrame
        ``opportunity_id, stage, [owner, amount, currency,] days_in_stage, threshold_days, times_threshold``,
        longest-stalled first.
    """
    opps, history, stages, as_of = resolve(opportunities, stages=stages, as_of=as_of)
    history = stage_history if stage_history is not None else history
    if history is None:
        raise ValueError("stalled_deals needs stage_history (when each deal entered its current stage); the dataset "
                         "has none — add the stage history export (tables.stage_history in the mapping).")
    if as_of is None:
        as_of = collect(lazy(history).select(nw.col("entered_date").max()))["entered_date"].iloc[0]
    s = _stays(history, stages=stages, as_of=as_of)
    g = collect(s.filter(nw.col("completed") == 1).group_by("stage", "days").agg(nw.len().alias("n")))
    thr = {st: weighted_quantile(x["days"], x["n"], quantile) for st, x in g.groupby("stage")
           if x["n"].sum() >= min_stays}
    o = lazy(opps)
    # an amount is shown with its currency (a list of deals in several currencies is not one unit)
    extra = ([c for c in ("owner", "amount", "currency") if c in columns(o)]
             + [c for c in (by or []) if c not in ("owner", "amount", "currency")])
    o = o.filter(nw.col("stage").is_in(list(stages.order))).select("opportunity_id", "stage", *extra)
    s = _stays(history, stages=stages, as_of=as_of).filter(nw.col("completed") == 0)
    s = s.group_by("opportunity_id", "stage").agg(nw.col("age_days").min().alias("days_in_stage"))
    j = o.join(s, on=["opportunity_id", "stage"], how="inner")
    cond = None
    for st, v in thr.items():
        if v is not None and not np.isnan(v):
            one = (nw.col("stage") == st) & (nw.col("days_in_stage") > v)
            cond = one if cond is None else cond | one
    # no stage has a threshold: nothing is judged stalled (a literal False is no filter narwhals accepts)
    out = collect(j.filter(cond) if cond is not None else j.head(0)).copy()
    check_labels(out["stage"], stages, table="opportunities")
    out["threshold_days"] = out["stage"].map(thr).astype(float)
    out["times_threshold"] = out["days_in_stage"] / out["threshold_days"].where(out["threshold_days"] > 0)
    out = out.sort_values(["times_threshold", "opportunity_id"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True)
