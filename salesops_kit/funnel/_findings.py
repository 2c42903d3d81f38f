"""The funnel notebook's findings (number → comparison → decision), written from results only: the prose
lives here, beside the computations in :mod:`.stages`, :mod:`.metrics`, :mod:`._bottlenecks`, :mod:`.cycle`
and :mod:`.calibration`, never inside them."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["funnel_findings", "funnel_note", "MIN_DEALS"]

#: decided deals (closed, or past the step) a finding's number needs before it advises anything: below it a
#: rate or a median moves by tens of points with one deal, so the section shows the number but draws no finding
MIN_DEALS = 10


def funnel_note(key: str, **values) -> str:
    """A sentence the funnel notebook prints instead of a section its data cannot support, in the report language.

    ``key``: ``no_history_funnel``, ``no_history_stays``, ``no_leads``, ``no_segment_column`` (no values);
    ``unreached`` (``stages``: the stages nobody reached); ``stalled`` (``n`` deals, ``min`` stays); ``loaded``
    (``as_of``, ``n``, ``history``, ``leads``); ``stages`` (``order``, ``won``, ``lost``).
    """
    from ..i18n import tr

    if key == "loaded":  # as_of, n, history (bool), leads (bool)
        yes, no = tr("yes"), tr("no")
        return tr("as of {as_of}: {n:,} opportunities; stage history: {history}; leads: {leads}",
                  as_of=values["as_of"], n=values["n"], history=yes if values["history"] else no,
                  leads=yes if values["leads"] else no)
    if key == "stages":  # order, won, lost (lists of labels)
        return tr("stages: {order} | won: {won} | lost: {lost}", order=" → ".join(values["order"]),
                  won=", ".join(values["won"]), lost=", ".join(values["lost"]))
    if key == "no_history_funnel":
        return tr("No {table} table in this dataset: the funnel above is inferred from each deal's current stage.",
                  table="stage_history")
    if key == "no_history_stays":
        return tr("No {table} table in this dataset: time in stage and stalled deals are skipped.",
                  table="stage_history")
    if key == "no_leads":
        return tr("No {table} table in this dataset: the lead funnel is skipped.", table="leads")
    if key == "no_segment_column":
        return tr("No segment column in this dataset.")
    if key == "unreached":
        return tr("No deal reached {stages}: those stages are left out of the table and the chart.", **values)
    if key == "stalled":
        return tr("{n} open deal(s) older in their stage than its P90 (stages with at least {min} completed stays).",
                  **values)
    raise KeyError(f"no funnel note {key!r}; known: loaded, stages, no_history_funnel, no_history_stays, no_leads, "
                   "no_segment_column, unreached, stalled")


def _pct(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.1%}"


def funnel_findings(*, stage_funnel=None, bottlenecks=None, cycle=None, calibration=None, lead=None):
    """The Findings of the funnel notebook, each number → comparison → decision, from results only.

    Parameters are the results of :func:`~salesops_kit.funnel.stage_funnel` (overall, no ``by``),
    :func:`~salesops_kit.funnel.bottlenecks`, :func:`~salesops_kit.funnel.sales_cycle` (overall),
    :func:`~salesops_kit.funnel.stage_calibration` and :func:`~salesops_kit.funnel.lead_funnel` (overall); any
    may be None.

    Returns
    -------
    salesops_kit.findings.Findings
    """
    from ..findings import Findings

    out = []
    if bottlenecks is not None:
        out += _bottleneck_findings(bottlenecks)
    if stage_funnel is not None and len(stage_funnel.table) and not stage_funnel.by and not stage_funnel.limitation:
        out += _stage_findings(stage_funnel)
    if cycle is not None and len(cycle.table) and not cycle.by:
        out += _cycle_findings(cycle)
    if calibration is not None and not calibration.limitation:
        out += _calibration_findings(calibration)
    lead = getattr(lead, "table", lead)  # a LeadFunnel or its table
    if lead is not None and len(lead):
        out += _lead_findings(lead)
    return Findings(out, title="Funnel findings", empty="No funnel findings: too little data to say anything.")


def _bottleneck_findings(bottlenecks) -> list:
    """Segments whose conversion at a step is significantly below the rest (or none)."""
    from ..findings import Finding
    from ..i18n import t as _label  # ('t' below is a table)
    from ..i18n import tr  # findings text in the report language

    out = []
    for _, r in bottlenecks.flagged.iterrows():
        out.append(Finding(
            subject=tr("{column} = {segment}", column=_label(r["column"]), segment=r["segment"]),
            metric=f"{r['transition']} conversion",
            value=_pct(r["conversion"]), benchmark=tr("{rate} for the other deals", rate=_pct(r["rest_conversion"])),
            interval=tr("95% CI {low}–{high}", low=_pct(r["ci_low"]), high=_pct(r["ci_high"])),
            q_value=float(r["q_value"]),
            evidence=tr("{advanced} of {decided} decided deals advanced; difference {diff:+.1f} pp (95% CI "
                        "{diff_low:+.1f} to {diff_high:+.1f}), {test} test, BH across {cells} cells",
                        advanced=int(r["advanced"]), decided=int(r["decided"]), diff=r["difference"] * 100,
                        diff_low=r["difference_ci_low"] * 100, diff_high=r["difference_ci_high"] * 100,
                        test=_label(r["test"]), cells=int(bottlenecks.cells["p_value"].notna().sum())),
            suggestion=tr("review how {segment} deals are handled at {stage} (fit, offer, hand-off) before adding "
                          "more of them to the pipeline", segment=r["segment"], stage=r["from_stage"]),
            topic="funnel", severity=float(abs(r["difference"]) * 10 + 5)))
    # "no segment below the rest" is a finding only when some test had the deals to find one
    c = bottlenecks.cells
    powered = bool(len(c)) and bool(((c["p_value"].notna()) & (c["decided"] >= MIN_DEALS)
                                     & (c["rest_decided"] >= MIN_DEALS)).any())
    if not len(bottlenecks.flagged) and powered:
        out.append(Finding(
            subject=tr("all segments"), metric="stage conversion vs the rest",
            value=tr("no segment significantly below"), benchmark=f"BH q < {bottlenecks.alpha:g}",
            evidence=tr("{cells} transition × segment cells tested", cells=bottlenecks.tested),
            suggestion=tr("treat segment differences in this funnel as noise; do not reallocate on them"),
            topic="funnel", severity=1.0))
    return out


def _stage_findings(stage_funnel) -> list:
    """The weakest step of the overall stage funnel."""
    from ..findings import Finding
    from ..i18n import tr  # findings text in the report language

    out = []
    t = stage_funnel.table
    steps = t[t["next_stage"].notna() & t["conversion"].notna()]
    decided = pd.to_numeric(steps["reached"], errors="coerce") - pd.to_numeric(steps["open"], errors="coerce").fillna(0)
    steps = steps[decided >= MIN_DEALS]  # a rate from a handful of deals says nothing
    won = t.iloc[-1]
    if len(steps) > 1:
        w = steps.loc[steps["conversion"].idxmin()]
        others = steps.drop(index=w.name)["conversion"]
        # a weakest step is a finding only when it is credibly below the others (never from equal numbers)
        # (with a tolerance: a Wilson bound of 100% can come out as 0.9999999999999999)
        if not w["conversion_ci_high"] < others.median() - 1e-9:
            return out
        out.append(Finding(
            subject=tr("stage funnel"), metric=f"weakest step {w['stage']} → {w['next_stage']}",
            value=_pct(w["conversion"]),
            benchmark=(tr("{rate} median of the other steps", rate=_pct(others.median())) if len(others) else ""),
            interval=tr("95% CI {low}–{high}", low=_pct(w["conversion_ci_low"]), high=_pct(w["conversion_ci_high"])),
            evidence=tr("{advanced} of {decided} decided deals advanced; {open} still open there are not counted "
                        "as failures; closed win rate {win}", advanced=int(w["advanced"]),
                        decided=int(w["reached"]) - int(w["open"]), open=int(w["open"]),
                        win=_pct(won["cumulative"])),
            suggestion=tr("put pipeline reviews and coaching on the {stage} stage first", stage=w["stage"]),
            topic="funnel", severity=4.0))
    return out


def _cycle_findings(cycle) -> list:
    """The median days to win against the CRM's won-only average."""
    from ..findings import Finding
    from ..i18n import tr  # findings text in the report language

    out = []
    r = cycle.table.iloc[0]
    if np.isfinite(r["median_days_to_win"]) and r["won"] >= MIN_DEALS:
        gap = r["naive_won_mean_days"] - r["median_days_to_win"]
        days = r["median_days_to_win"]
        out.append(Finding(
            subject=tr("sales cycle"), metric="median days from created to won",
            value=tr("{days:.0f} days", days=days),
            benchmark=tr("{days:.0f} days naive won-only mean (biased)", days=r["naive_won_mean_days"]),
            interval=tr("95% CI {low:.0f}–{high:.0f} days", low=r["ci_low"], high=r["ci_high"]),
            evidence=tr("{open} open deals censored at {as_of}, {lost} lost deals competing; eventual win "
                        "probability {p}", open=int(r["open"]), as_of=cycle.as_of.date(), lost=int(r["lost"]),
                        p=_pct(r["win_probability"])),
            suggestion=(tr("plan pipeline coverage and forecasts on {days:.0f} days to win; the CRM's won-only "
                           "average understates it", days=days) if gap < -2 else
                        tr("plan pipeline coverage and forecasts on {days:.0f} days to win; the CRM's won-only "
                           "average overstates it", days=days) if gap > 2 else
                        tr("plan pipeline coverage and forecasts on {days:.0f} days to win", days=days)),
            topic="funnel", severity=3.0))
    return out


def _calibration_findings(calibration) -> list:
    """Stages whose stated win probability is outside the realised interval."""
    from ..findings import Finding
    from ..i18n import tr  # findings text in the report language

    out = []
    t = calibration.table.dropna(subset=["stated_probability", "realised_win_rate"])
    off = t[((t["stated_probability"] < t["ci_low"]) | (t["stated_probability"] > t["ci_high"]))
            & (t["closed"] >= MIN_DEALS)]
    for _, r in off.iterrows():
        out.append(Finding(
            subject=tr("stage {stage}", stage=r["stage"]), metric="win probability",
            value=tr("{p:.0%} stated", p=r["stated_probability"]),
            benchmark=tr("{rate} realised among {closed} closed deals", rate=_pct(r["realised_win_rate"]),
                         closed=int(r["closed"])),
            interval=tr("95% CI {low}–{high}", low=_pct(r["ci_low"]), high=_pct(r["ci_high"])),
            evidence=tr("Brier score {stated:.3f} with stated vs {empirical:.3f} with realised stage probabilities",
                        stated=calibration.brier_stated, empirical=calibration.brier_empirical),
            suggestion=tr("set the {stage} probability to about {p:.0%} in the CRM", stage=r["stage"],
                          p=r["suggested_probability"]),
            topic="funnel", severity=2.0 + abs(float(r["gap"]))))
    return out


def _lead_findings(lead) -> list:
    """Leads needed per won deal."""
    from ..findings import Finding
    from ..i18n import tr  # findings text in the report language

    out = []
    r = lead.iloc[0]
    out.append(Finding(
        subject=tr("leads"), metric="lead → won", value=_pct(r["lead_to_win"]),
        benchmark=tr("lead → opportunity {to_opportunity}, opportunity → won {to_win}",
                     to_opportunity=_pct(r["lead_to_opportunity"]), to_win=_pct(r["opportunity_to_win"])),
        interval=tr("95% CI {low}–{high}", low=_pct(r["lead_to_win_ci_low"]), high=_pct(r["lead_to_win_ci_high"])),
        evidence=tr("{leads:,} leads at least {days} days old", leads=int(r["leads"]), days=int(r["maturity_days"])),
        suggestion=tr("about {n:.0f} leads are needed per won deal", n=1 / r["lead_to_win"])
        if r["lead_to_win"] else "",
        topic="funnel", severity=1.5))
    return out
