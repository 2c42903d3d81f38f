"""The rep coaching notebook's findings (number -> comparison -> decision), written from the results of
:mod:`.scorecard` (:func:`~.scorecard.scorecard`, :func:`~.scorecard.compare_reps`) and :mod:`.drivers`
(:func:`~.drivers.response_drivers`): the prose lives here, beside the computations, never inside them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..findings import Finding, Findings
from .drivers import Drivers, response_drivers
from .scorecard import COMPARED_METRICS, MIN_N, RepComparison, Scorecard, compare_reps, scorecard

__all__ = ["coaching_findings", "fdr_note"]


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


# the rep KPI (kpis.csv) whose value a rate finding quotes: its shrunk rate; CSAT share has no rep KPI row
_KPI = {"win_rate": "win_rate_shrunk", "lead_conversion_rate": "lead_conversion_rate_shrunk"}
# a rep flagged on several metrics is one coaching case: the first of these leads it when no gap has a money stake
_ORDER = ("lead_conversion_rate", "win_rate", "csat_satisfied_share")


def _rate_finding(r, *, evidence: str, suggestion: str, base_severity: float, window: str = "",
                  stake: float | None = None) -> Finding:
    """A rep's rate against the rest of the company (a flagged or a recognised row of the comparison). The value
    is the shrunk rate, the number kpis.csv publishes for the rep (``kpi``/``segment``)."""
    from ..i18n import tr  # findings text in the report language

    return Finding(
        subject=r.owner, metric=COMPARED_METRICS[r.metric][2], value=_pct(r.shrunk_rate),
        benchmark=tr("rest of the company {rate}", rate=_pct(r.rest_rate)),
        interval=tr("shrunk towards the company; raw {successes}/{trials} = {raw}; 95% interval {low}-{high}",
                    successes=int(r.successes), trials=int(r.trials), raw=_pct(r.rate), low=_pct(r.shrunk_low),
                    high=_pct(r.shrunk_high)),
        q_value=float(r.q_value), evidence=evidence, suggestion=suggestion, topic="reps",
        severity=base_severity + min(-np.log10(max(r.q_value, 1e-12)), 12) / 12,
        kpi=_KPI.get(r.metric, ""), segment=f"owner={r.owner}" if r.metric in _KPI else "all", window=window,
        stake=stake)


def _number(x) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return x


def _years(frame, col: str, *, start, end) -> float:
    """Years from the first ``col`` value (or ``start``) to ``end``: the span a count covers (at least a month)."""
    import narwhals as nw

    from ..engines.ops import lazy

    lf = lazy(frame)
    if col not in lf.collect_schema().names():
        return float("nan")
    first = lf.select(nw.col(col).min()).collect().item()
    if first is None:
        return float("nan")
    first = pd.Timestamp(first) if start is None else max(pd.Timestamp(first), pd.Timestamp(start))
    return max((pd.Timestamp(end) - first).days / 365.25, 1 / 12)


def _stakes(dataset, card: Scorecard, comp: RepComparison, drivers: Drivers | None) -> dict:
    """Won revenue a year that each flagged rep's gap costs, in the scorecard's money unit, at the company's own
    conversion and average won deal: ``(owner, metric) -> amount`` (and ``"response"`` for the company-wide
    late-response gap). A lead-conversion gap: missed conversions x the company's win rate x its average won deal;
    a win-rate gap: missed wins x the average won deal. None where money is not comparable (several currencies
    without rates) or the metric has no money (CSAT)."""
    from ..funnel.metrics import lead_maturity_cutoff
    from .scorecard import period_bounds

    co = card.benchmarks.set_index("group").loc["company"] if len(card.benchmarks) else pd.Series(dtype=object)
    deal, win = _number(co.get("avg_won_deal_size")), _number(co.get("win_rate"))
    out: dict = {}
    if not (deal > 0 and win >= 0):
        return out
    as_of = pd.Timestamp(dataset.as_of)
    start, end, _ = period_bounds(card.settings.get("period"), as_of)
    lead_end = min(end, lead_maturity_cutoff(as_of, card.settings.get("maturity_days", 90)))
    lead_years = (_years(dataset.leads, "created_date", start=start, end=lead_end)
                  if dataset.leads is not None else float("nan"))
    deal_years = _years(dataset.opportunities, "close_date", start=start, end=end)
    for r in comp.flagged().itertuples(index=False):
        gap = (r.rest_rate - r.rate) * r.trials
        if r.metric == "lead_conversion_rate" and lead_years > 0:
            out[(r.owner, r.metric)] = gap * win * deal / lead_years
        elif r.metric == "win_rate" and deal_years > 0:
            out[(r.owner, r.metric)] = gap * deal / deal_years
    if drivers is not None and len(drivers.by_response) and lead_years > 0:
        b = drivers.by_response.set_index("response_band")
        if {"within 1 h", "after 24 h"} <= set(b.index):
            f, sl = b.loc["within 1 h"], b.loc["after 24 h"]
            out["response"] = max(f["rate"] - sl["rate"], 0.0) * sl["leads"] * win * deal / lead_years
    return {k: float(v) for k, v in out.items() if np.isfinite(v)}


def fdr_note(comp: RepComparison) -> str:
    """One sentence naming the reps that are "within normal variation" only because of the false-discovery
    correction (p < alpha on their own test, q >= alpha across all the tests); "" when there are none."""
    from ..i18n import t, tr

    tb = comp.table
    if not len(tb):
        return ""
    saved = tb[(tb["p_value"] < comp.alpha) & (tb["q_value"] >= comp.alpha)]
    if not len(saved):
        return ""
    tests = int(tb["p_value"].notna().sum())
    items = "; ".join(tr("{rep} on {metric} ({rate} vs {rest}, p = {p:.3f}, q = {q:.2f})", rep=r.owner,
                         metric=t(COMPARED_METRICS[r.metric][2]), rate=_pct(r.rate), rest=_pct(r.rest_rate),
                         p=r.p_value, q=r.q_value) for r in saved.itertuples(index=False))
    return tr("Within normal variation only after the false-discovery correction across {n} tests (p < {alpha:g} "
              "on its own test, q >= {alpha:g}): {items}.", n=tests, alpha=comp.alpha, items=items)


def coaching_findings(dataset, *, period=None, min_n: int = MIN_N, alpha: float = 0.05,
                      card: Scorecard | None = None, comparison: RepComparison | None = None,
                      drivers: Drivers | None = None, currency: str | None = None) -> Findings:
    """Ordered coaching findings: number -> comparison -> decision; the first answers "where does each rep need
    coaching?".

    1. one finding per rep significantly below the rest of the company (q < ``alpha``) on some metric: the gap
       with the largest money stake (won revenue a year at the company's conversion and average won deal) or, with
       none, the first of lead conversion, win rate, CSAT; the rep's other gaps are listed in its evidence, with
       the behaviour that goes with the gap when one does (first-response time or activity per lead, judged by how
       much of the gap the rep's mix accounts for at company band rates, and whether the behaviour itself differs
       at q < ``alpha``) and a suggestion. The costliest is the lead finding;
    2. every rep significantly above (recognised: share the practice);
    3. the company-wide response-time association, when its two bands differ;
    4. reps with too little data to judge (not ranked).

    ``currency`` names the money unit of the stakes in their sentences (the scorecard's amounts).
    """
    from ..i18n import format_money, t, tr  # findings text in the report language
    from ._kpis import kpi_windows

    card = card if card is not None else scorecard(dataset, period=period)
    comp = comparison if comparison is not None else compare_reps(dataset, card=card, min_n=min_n, alpha=alpha)
    if drivers is None and dataset.leads is not None and "owner" in dataset.leads.columns:
        drivers = response_drivers(dataset, period=period)
    t_ = card.table.set_index("owner")
    windows = kpi_windows(dataset, card, lang=None)
    window = {"win_rate": windows["win_rate_shrunk"], "csat_satisfied_share": windows["csat_mean"],
              "lead_conversion_rate": windows["lead_conversion_rate_shrunk"]}
    stakes = _stakes(dataset, card, comp, drivers)
    out: list[Finding] = []
    flagged = comp.flagged()
    flagged = flagged[flagged["metric"].isin(_ORDER)]
    cases = []
    for owner, g in flagged.groupby("owner", sort=True):
        g = g.assign(_stake=[stakes.get((owner, m), np.nan) for m in g["metric"]],
                     _order=[_ORDER.index(m) for m in g["metric"]])
        g = g.sort_values(["_stake", "_order"], ascending=[False, True], na_position="last")
        cases.append((g.iloc[0], g.iloc[1:]))
    top = max((c[0]["_stake"] for c in cases if pd.notna(c[0]["_stake"])), default=None)
    lead_given = False
    for first, rest in sorted(cases, key=lambda c: -(c[0]["_stake"] if pd.notna(c[0]["_stake"]) else -1)):
        r = _Row(first)
        if _pct(r.shrunk_rate) == _pct(r.rest_rate):
            continue  # a gap that prints as no gap is no finding
        evidence, suggestion = _behaviour(r, t_.loc[r.owner], drivers, alpha)
        stake = None if pd.isna(first["_stake"]) else float(first["_stake"])
        parts = [evidence] if evidence else []
        if stake is not None:
            parts.append(tr("at the company's win rate and average won deal the gap costs about {amount} of won "
                            "revenue a year", amount=format_money(stake, currency)))
        for o in rest.itertuples(index=False):
            parts.append(tr("also below the rest on {metric}: {rate} vs {rest} ({q})", metric=t(
                COMPARED_METRICS[o.metric][2]), rate=_pct(o.rate), rest=_pct(o.rest_rate), q=_q(o.q_value)))
        f = _rate_finding(r, evidence="; ".join(parts), suggestion=suggestion, base_severity=3.0,
                          window=window[r.metric], stake=stake)
        if not lead_given and (top is None or stake == top):
            f = _with(f, lead=True)
            lead_given = True
        out.append(f)
    for r in comp.recognised().itertuples(index=False):
        if _pct(r.shrunk_rate) == _pct(r.rest_rate):
            continue
        evidence = (tr("above the rest of the company after false-discovery control") if pd.isna(r.rank) else
                    tr("ranked {rank} of {n} on the shrunk rate; above the rest of the company after false-discovery "
                       "control", rank=int(r.rank),
                       n=int(comp.table.loc[(comp.table["metric"] == r.metric) & comp.table["eligible"]].shape[0])))
        suggestion = tr("recognise it and ask {rep} to walk the team through how they work their deals", rep=r.owner)
        out.append(_rate_finding(r, evidence=evidence, suggestion=suggestion, base_severity=2.0,
                                 window=window.get(r.metric, "")))
    if drivers is not None and len(drivers.by_response):
        b = drivers.by_response.set_index("response_band")
        if {"within 1 h", "after 24 h"} <= set(b.index):
            f, s = b.loc["within 1 h"], b.loc["after 24 h"]
            # only when the two bands' intervals do not overlap (else it is a comparison of equal rates)
            if (f["rate_low"] > s["rate_high"] or s["rate_low"] > f["rate_high"]) and _pct(f["rate"]) != _pct(
                    s["rate"]):
                stake = stakes.get("response")
                ev = tr("{fast} and {slow} leads; an association across the company, not proof that answering "
                        "faster causes conversion", fast=int(f["leads"]), slow=int(s["leads"]))
                if stake is not None and f["rate"] > s["rate"]:
                    ev += "; " + tr("at the company's win rate and average won deal the late answers go with about "
                                    "{amount} of won revenue a year", amount=format_money(stake, currency))
                out.append(Finding(
                    subject=tr("all reps"), metric="lead conversion by first-response time",
                    value=tr("{rate} when answered within 1 h", rate=_pct(f["rate"])),
                    benchmark=tr("{rate} after 24 h", rate=_pct(s["rate"])),
                    interval=tr("95% CI {fast_low}-{fast_high} vs {slow_low}-{slow_high}",
                                fast_low=_pct(f["rate_low"]), fast_high=_pct(f["rate_high"]),
                                slow_low=_pct(s["rate_low"]), slow_high=_pct(s["rate_high"])),
                    evidence=ev,
                    suggestion=tr("keep a same-day response standard for new leads and watch the share answered "
                                  "after 24 h each month"),
                    topic="reps", severity=1.0, window=window["lead_conversion_rate"],
                    stake=stake if f["rate"] > s["rate"] else None))
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


class _Row:
    """A row of the comparison table with attribute access (as ``itertuples`` gives)."""

    def __init__(self, row: pd.Series):
        self.__dict__.update(row.to_dict())


def _with(f: Finding, **changes) -> Finding:
    from dataclasses import replace

    return replace(f, **changes)


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
