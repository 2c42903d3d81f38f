"""The rep coaching notebook's findings (number -> comparison -> decision), written from the results of
:mod:`.scorecard` (:func:`~.scorecard.scorecard`, :func:`~.scorecard.compare_reps`) and :mod:`.drivers`
(:func:`~.drivers.response_drivers`): the prose lives here, beside the computations, never inside them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..findings import Finding, Findings
from .drivers import Drivers, response_drivers
from .scorecard import COMPARED_METRICS, MIN_N, RepComparison, Scorecard, compare_reps, scorecard

__all__ = ["coaching_findings"]


def _pct(x) -> str:
    return f"{x:.0%}" if abs(x) >= 0.1 or x == 0 else f"{x:.1%}"


def _q(q) -> str:
    return f"q = {q:.2g}" if q >= 0.001 else "q < 0.001"


def _share(x) -> str:
    return "all" if x >= 1 else _pct(x)


def _hours(h) -> str:
    return "n/a" if pd.isna(h) else (f"{h:.0f} h" if h >= 10 else f"{h:.1f} h")


def _num(x):
    return x if isinstance(x, (int, float, np.floating)) and not isinstance(x, bool) else np.nan


def _rate_finding(r, *, evidence: str, suggestion: str, base_severity: float) -> Finding:
    """A rep's rate against the rest of the company (a flagged or a recognised row of the comparison)."""
    from ..i18n import tr  # findings text in the report language

    return Finding(
        subject=r.owner, metric=COMPARED_METRICS[r.metric][2], value=_pct(r.rate),
        benchmark=tr("rest of the company {rate}", rate=_pct(r.rest_rate)),
        interval=tr("{successes}/{trials}; shrunk {shrunk}, 95% interval {low}-{high}", successes=int(r.successes),
                    trials=int(r.trials), shrunk=_pct(r.shrunk_rate), low=_pct(r.shrunk_low),
                    high=_pct(r.shrunk_high)),
        q_value=float(r.q_value), evidence=evidence, suggestion=suggestion, topic="reps",
        severity=base_severity + min(-np.log10(max(r.q_value, 1e-12)), 12) / 12)


def coaching_findings(dataset, *, period=None, min_n: int = MIN_N, alpha: float = 0.05,
                      card: Scorecard | None = None, comparison: RepComparison | None = None,
                      drivers: Drivers | None = None) -> Findings:
    """Ordered coaching findings: number -> comparison -> decision.

    1. every rep significantly below the rest of the company on a metric (q < ``alpha``), with the
       behaviour that goes with the gap when one does (first-response time or activity per lead,
       judged by how much of the gap the rep's mix accounts for at company band rates, and whether
       the behaviour itself differs at q < ``alpha``) and a suggestion;
    2. every rep significantly above (recognised: share the practice);
    3. the company-wide response-time association;
    4. reps with too little data to judge (not ranked).
    """
    from ..i18n import tr  # findings text in the report language

    card = card if card is not None else scorecard(dataset, period=period)
    comp = comparison if comparison is not None else compare_reps(dataset, card=card, min_n=min_n, alpha=alpha)
    if drivers is None and dataset.leads is not None and "owner" in dataset.leads.columns:
        drivers = response_drivers(dataset, period=period)
    t = card.table.set_index("owner")
    out: list[Finding] = []
    for r in comp.flagged().itertuples(index=False):
        evidence, suggestion = _behaviour(r, t.loc[r.owner], drivers, alpha)
        out.append(_rate_finding(r, evidence=evidence, suggestion=suggestion, base_severity=3.0))
    for r in comp.recognised().itertuples(index=False):
        evidence = (tr("above the rest of the company after false-discovery control") if pd.isna(r.rank) else
                    tr("ranked {rank} of {n} on the shrunk rate; above the rest of the company after false-discovery "
                       "control", rank=int(r.rank),
                       n=int(comp.table.loc[(comp.table["metric"] == r.metric) & comp.table["eligible"]].shape[0])))
        suggestion = tr("recognise it and ask {rep} to walk the team through how they work their deals", rep=r.owner)
        out.append(_rate_finding(r, evidence=evidence, suggestion=suggestion, base_severity=2.0))
    if drivers is not None and len(drivers.by_response):
        b = drivers.by_response.set_index("response_band")
        if {"within 1 h", "after 24 h"} <= set(b.index):
            f, s = b.loc["within 1 h"], b.loc["after 24 h"]
            out.append(Finding(
                subject=tr("all reps"), metric="lead conversion by first-response time",
                value=tr("{rate} when answered within 1 h", rate=_pct(f["rate"])),
                benchmark=tr("{rate} after 24 h", rate=_pct(s["rate"])),
                interval=tr("95% CI {fast_low}-{fast_high} vs {slow_low}-{slow_high}", fast_low=_pct(f["rate_low"]),
                            fast_high=_pct(f["rate_high"]), slow_low=_pct(s["rate_low"]),
                            slow_high=_pct(s["rate_high"])),
                evidence=tr("{fast} and {slow} leads; an association across the company, not proof that answering "
                            "faster causes conversion", fast=int(f["leads"]), slow=int(s["leads"])),
                suggestion=tr("keep a same-day response standard for new leads and watch the share answered after 24 h "
                              "each month"),
                topic="reps", severity=1.0))
    small = sorted(set(comp.table.loc[~comp.table["eligible"] & (comp.table["trials"] > 0), "owner"]))
    if small:
        out.append(Finding(
            subject=tr("reps with too little data"), metric="not enough data",
            value=(tr("{n} reps under {min_n} trials on at least one metric", n=len(small), min_n=comp.min_n)
                   if len(small) > 1 else
                   tr("{n} rep under {min_n} trials on at least one metric", n=len(small), min_n=comp.min_n)),
            evidence=tr("not ranked or tested there: {reps}", reps=", ".join(small)),
            suggestion=tr("do not rank or coach on those metrics yet; re-check when they have more closed deals and "
                          "leads"), topic="reps", severity=0.5))
    return Findings(out, title="Rep coaching findings",
                    empty=tr("No rep differs from the rest of the company at q < {alpha:g} on any metric.",
                             alpha=alpha))


def _behaviour(r, row: pd.Series, drivers: Drivers | None, alpha: float) -> tuple[str, str]:
    """Evidence sentence and suggestion for a rep flagged below the rest on one metric."""
    from ..i18n import t, tr  # findings text in the report language

    med = _num(row.get("first_response_median_hours"))
    med_co = _num(row.get("first_response_median_hours_company"))
    if r.metric == "lead_conversion_rate" and drivers is not None and r.owner in set(drivers.by_rep["owner"]):
        d = drivers.by_rep.set_index("owner").loc[r.owner]
        resp = drivers.explained(r.owner, "response")
        act = drivers.explained(r.owner, "activity")
        kind = drivers.associated_behaviour(r.owner, alpha=alpha)
        if kind == "first-response time":
            return (tr("median first response {median} vs {company} company-wide; {late} of leads answered after 24 h "
                       "or never vs {late_rest} for the rest ({q}); at the company's conversion per response band "
                       "this mix predicts {expected}, {share} of the gap (an association, not proof of cause)",
                       median=_hours(med), company=_hours(med_co), late=_pct(d["late_share"]),
                       late_rest=_pct(d["late_share_rest"]), q=_q(d["late_q"]),
                       expected=_pct(d["expected_from_response"]), share=t(_share(resp))),
                    tr("agree a same-day response target for new leads and review conversion in 30 days")
                    if (pd.notna(med) and med > 24) else
                    tr("agree a 4-hour response target for new leads and review conversion in 30 days"))
        if kind == "activity per lead":
            return (tr("{per_lead:.1f} logged activities per lead vs {per_lead_rest:.1f} for the rest; this mix "
                       "predicts {expected}, {share} of the gap (an association, not proof of cause)",
                       per_lead=d["activities_per_lead"], per_lead_rest=d["activities_per_lead_rest"],
                       expected=_pct(d["expected_from_activity"]), share=t(_share(act))),
                    tr("agree a follow-up cadence for new leads and review conversion in 30 days"))
        return (tr("median first response {median} vs {company} company-wide; neither response time nor logged "
                   "activity accounts for the gap", median=_hours(med), company=_hours(med_co)),
                tr("review a sample of recent unconverted leads with the rep to find the cause; re-check in 30 days"))
    if r.metric == "win_rate":
        apd, apd_co = _num(row.get("activities_per_deal")), _num(row.get("activities_per_deal_company"))
        ev = (tr("{per_deal:.1f} activities per deal vs {per_deal_company:.1f} company-wide", per_deal=apd,
                 per_deal_company=apd_co) if pd.notna(apd) and pd.notna(apd_co)
              else tr("activity data not available"))
        return ev, tr("review lost deals and the open pipeline with the rep in deal reviews; re-check in 30 days")
    if r.metric == "csat_satisfied_share":
        cm, cm_co = _num(row.get("csat_mean")), _num(row.get("csat_mean_company"))
        ev = (tr("CSAT mean {mean:.2f} vs {company:.2f} company-wide", mean=cm, company=cm_co)
              if pd.notna(cm) and pd.notna(cm_co) else "")
        return ev, tr("read the low-score answers with the rep and check them against recent months; re-check in "
                      "30 days")
    return "", tr("review with the rep; re-check in 30 days")
