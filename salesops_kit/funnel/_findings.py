"""The funnel notebook's findings (number → comparison → decision), written from results only: the prose
lives here, beside the computations in :mod:`.stages`, :mod:`.metrics`, :mod:`._bottlenecks`, :mod:`.cycle`
and :mod:`.calibration`, never inside them."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["funnel_findings", "funnel_note", "MIN_DEALS"]

from .metrics import ALL_HISTORY, MIN_DEALS  # noqa: F401 - MIN_DEALS is exported here too (funnel.MIN_DEALS)


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




def _money(x, code) -> str:
    from ..i18n import format_money  # "1,028,048 USD", "102.8 万 USD" in the report language

    return format_money(x, code)


def _open_at(pipeline, stage, column=None, segment=None) -> tuple[int, float | None, str | None]:
    """Open deals, their amount (None when unknown) and its currency at ``stage`` (of one segment)."""
    if pipeline is None or not len(pipeline):
        return 0, None, None
    p = pipeline[pipeline["stage"] == stage]
    if column is not None:
        if column not in p:
            return 0, None, None
        p = p[p[column].isna()] if segment is None or (isinstance(segment, float) and np.isnan(segment)) else \
            p[p[column] == segment]
    if not len(p):
        return 0, None, None
    amount = p["open_amount"].sum(min_count=1)
    code = p["currency"].dropna().iloc[0] if p["currency"].notna().any() else None
    return int(p["open_deals"].sum()), (float(amount) if pd.notna(amount) and code else None), code


def funnel_findings(*, stage_funnel=None, bottlenecks=None, cycle=None, calibration=None, lead=None, dataset=None,
                    coverage=None, slippage=None, loss_reasons=None):
    """The Findings of the funnel notebook, each number → comparison → decision, from results only.

    Parameters are the results of :func:`~salesops_kit.funnel.stage_funnel` (overall, no ``by``),
    :func:`~salesops_kit.funnel.bottlenecks`, :func:`~salesops_kit.funnel.sales_cycle` (overall),
    :func:`~salesops_kit.funnel.stage_calibration`, :func:`~salesops_kit.funnel.lead_funnel` (overall),
    :func:`~salesops_kit.funnel.pipeline_coverage`, :func:`~salesops_kit.funnel.slippage` and
    :func:`~salesops_kit.funnel.loss_reasons` (their findings: :func:`history_findings`); any may be None.
    ``dataset`` (optional) gives the open pipeline behind each decision (its ``stake``, in the report currency:
    :func:`~salesops_kit.funnel.open_pipeline`).

    The notebook's answer to "where do deals leak?" comes first (``lead``): the weakest step of the funnel when
    one is credibly below the others, else the strongest segment bottleneck, else the sales cycle.

    Returns
    -------
    salesops_kit.findings.Findings
    """
    from dataclasses import replace

    from ..findings import Findings
    from ._history_findings import history_findings
    from .metrics import open_pipeline

    pipe, seg_pipe = None, {}
    if dataset is not None and dataset.opportunities is not None:
        pipe = open_pipeline(dataset)
        flagged = getattr(bottlenecks, "flagged", None)
        for column in ([] if flagged is None else flagged["column"].drop_duplicates()):
            seg_pipe[column] = open_pipeline(dataset, by=column)
    steps, segs, others = [], [], []
    if stage_funnel is not None and len(stage_funnel.table) and not stage_funnel.by and not stage_funnel.limitation:
        steps = _stage_findings(stage_funnel, pipe, getattr(bottlenecks, "flagged", None))
    if bottlenecks is not None:
        segs = _bottleneck_findings(bottlenecks, seg_pipe)
    if cycle is not None and len(cycle.table) and not cycle.by:
        others += _cycle_findings(cycle)
    if calibration is not None and not calibration.limitation:
        others += _calibration_findings(calibration, pipe)
    lead = getattr(lead, "table", lead)  # a LeadFunnel or its table
    if lead is not None and len(lead):
        others += _lead_findings(lead)
    if coverage is not None and not coverage.limitation:
        others += _coverage_findings(coverage)
    if slippage is not None or loss_reasons is not None:
        others += list(history_findings(slippage=slippage, loss_reasons=loss_reasons))
    out = steps + segs + others
    answer = next(iter(steps + [f for f in segs if f.q_value is not None] + others[:1]), None)
    out = [replace(f, lead=True) if f is answer else f for f in out]
    return Findings(out, title="Funnel findings", empty="No funnel findings: too little data to say anything.")


def _bottleneck_findings(bottlenecks, seg_pipe=None) -> list:
    """Segments whose conversion at a step is significantly below the rest (or none)."""
    from ..findings import Finding
    from ..i18n import t as _label  # ('t' below is a table)
    from ..i18n import tr  # findings text in the report language
    from .stages import KPI_SEGMENTS, stage_conversion_kpi

    out = []
    cells = int(bottlenecks.cells["p_value"].notna().sum()) if len(bottlenecks.cells) else 0
    for _, r in bottlenecks.flagged.iterrows():
        n_open, stake, code = _open_at((seg_pipe or {}).get(r["column"]), r["from_stage"], r["column"], r["segment"])
        evidence = tr("{advanced:,} of {decided:,} decided deals advanced; difference {diff:+.1f} pp (95% CI "
                      "{diff_low:+.1f} to {diff_high:+.1f}), {test} test, BH across {cells} cells",
                      advanced=int(r["advanced"]), decided=int(r["decided"]), diff=r["difference"] * 100,
                      diff_low=r["difference_ci_low"] * 100, diff_high=r["difference_ci_high"] * 100,
                      test=_label(r["test"]), cells=cells)
        if n_open:
            evidence += "; " + (tr("{n:,} of its deals open at {stage} worth {amount}", n=n_open, stage=r["from_stage"],
                                   amount=_money(stake, code)) if stake is not None else
                                tr("{n:,} of its deals open at {stage}", n=n_open, stage=r["from_stage"]))
        kpi = (stage_conversion_kpi(r["from_stage"], r["to_stage"])
               if r["column"] in KPI_SEGMENTS and bottlenecks.funnel_type == "any_path" else "")
        out.append(Finding(
            subject=tr("{column} = {segment}", column=_label(r["column"]), segment=r["segment"]),
            metric=f"{r['transition']} conversion",
            value=_pct(r["conversion"]), benchmark=tr("{rate} for the other deals", rate=_pct(r["rest_conversion"])),
            interval=tr("95% CI {low}–{high}", low=_pct(r["ci_low"]), high=_pct(r["ci_high"])),
            q_value=float(r["q_value"]), evidence=evidence,
            suggestion=tr("review how {segment} deals are handled at {stage} (fit, offer, hand-off) before adding "
                          "more of them to the pipeline", segment=r["segment"], stage=r["from_stage"]),
            topic="funnel", severity=float(abs(r["difference"]) * 10 + 5), kpi=kpi,
            segment=f"{r['column']}={r['segment']}" if kpi else "all", window=ALL_HISTORY, stake=stake))
    # "no segment below the rest" is a finding only when some test had the deals to find one
    c = bottlenecks.cells
    powered = bool(len(c)) and bool(((c["p_value"].notna()) & (c["decided"] >= MIN_DEALS)
                                     & (c["rest_decided"] >= MIN_DEALS)).any())
    if not len(bottlenecks.flagged) and powered:
        # a cell below the rest with p < alpha on its own is "within normal variation" only because of the
        # false-discovery correction: say so, with the number of tests it corrects for
        raw = c[(c["p_value"] < bottlenecks.alpha) & c["below_rest"].astype(bool)] if len(c) else c
        evidence = tr("{cells} transition × segment cells tested", cells=bottlenecks.tested)
        if len(raw):
            r = raw.sort_values("p_value").iloc[0]
            evidence += "; " + tr("{n} cell(s) below the rest with p < {alpha} on their own (lowest: {column} = "
                                  "{segment} at {transition}, p = {p:.3f}) are not significant after the "
                                  "false-discovery correction across {cells} tests", n=len(raw),
                                  alpha=f"{bottlenecks.alpha:g}", column=_label(r["column"]), segment=r["segment"],
                                  transition=r["transition"], p=float(r["p_value"]), cells=bottlenecks.tested)
        out.append(Finding(
            subject=tr("all segments"), metric="stage conversion vs the rest",
            value=tr("no segment significantly below"), benchmark=f"BH q < {bottlenecks.alpha:g}",
            evidence=evidence, window=ALL_HISTORY,
            suggestion=tr("treat segment differences in this funnel as noise; do not reallocate on them"),
            topic="funnel", severity=1.0))
    return out


def _stage_findings(stage_funnel, pipeline=None, flagged=None) -> list:
    """The weakest step of the overall stage funnel, when it is credibly below the other steps; a segment
    significantly below the rest at that step (``flagged``: ``Bottlenecks.flagged``) is named as where to start."""
    from ..findings import Finding
    from ..i18n import tr  # findings text in the report language
    from .stages import stage_conversion_kpi

    out = []
    t = stage_funnel.table
    steps = t[t["next_stage"].notna() & t["conversion"].notna()]
    decided = pd.to_numeric(steps["reached"], errors="coerce") - pd.to_numeric(steps["open"], errors="coerce").fillna(0)
    steps = steps[decided >= MIN_DEALS]  # a rate from a handful of deals says nothing
    won = t.iloc[-1]
    if len(steps) > 1:
        w = steps.loc[steps["conversion"].idxmin()]
        others = steps.drop(index=w.name)["conversion"]
        # a weakest step is a finding only when it loses deals (a step every deal passes is never "weakest") and is
        # credibly below the others (never from equal numbers; a Wilson bound of 100% can be 0.9999999999999999)
        if not (w["conversion"] < 1 - 1e-9 and w["conversion_ci_high"] < others.median() - 1e-9):
            return out
        n_open, stake, code = _open_at(pipeline, w["stage"])
        evidence = tr("{advanced:,} of {decided:,} decided deals advanced; {open:,} still open there are not counted "
                      "as failures; closed win rate {win}", advanced=int(w["advanced"]),
                      decided=int(w["reached"]) - int(w["open"]), open=int(w["open"]), win=_pct(won["cumulative"]))
        if stake is not None:
            evidence += "; " + tr("open pipeline at {stage}: {n:,} deals worth {amount}", stage=w["stage"], n=n_open,
                                  amount=_money(stake, code))
        suggestion = tr("put pipeline reviews and coaching on the {stage} stage first", stage=w["stage"])
        here = flagged[flagged["from_stage"] == w["stage"]] if flagged is not None and len(flagged) else None
        if here is not None and len(here):
            b = here.sort_values("difference").iloc[0]
            suggestion = tr("start with the {segment} deals at {stage}: they convert {rate} there vs {rest} for the "
                            "other deals (see their finding); then coach the stage", segment=b["segment"],
                            stage=w["stage"], rate=_pct(b["conversion"]), rest=_pct(b["rest_conversion"]))
        out.append(Finding(
            subject=tr("stage funnel"), metric=f"weakest step {w['stage']} → {w['next_stage']}",
            value=_pct(w["conversion"]),
            benchmark=tr("{rate} median of the other steps", rate=_pct(others.median())),
            interval=tr("95% CI {low}–{high}", low=_pct(w["conversion_ci_low"]), high=_pct(w["conversion_ci_high"])),
            evidence=evidence, suggestion=suggestion,
            topic="funnel", severity=4.0, window=ALL_HISTORY, stake=stake,
            kpi=stage_conversion_kpi(w["stage"], w["next_stage"]) if stage_funnel.funnel_type == "any_path" else ""))
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
            evidence=tr("{open:,} open deals censored at {as_of}, {lost:,} lost deals competing; eventual win "
                        "probability {p}", open=int(r["open"]), as_of=cycle.as_of.date(), lost=int(r["lost"]),
                        p=_pct(r["win_probability"])),
            suggestion=(tr("plan pipeline coverage and forecasts on {days:.0f} days to win; the CRM's won-only "
                           "average understates it", days=days) if gap < -2 else
                        tr("plan pipeline coverage and forecasts on {days:.0f} days to win; the CRM's won-only "
                           "average overstates it", days=days) if gap > 2 else
                        tr("plan pipeline coverage and forecasts on {days:.0f} days to win", days=days)),
            topic="funnel", severity=3.0, kpi="sales_cycle_median_days", window=ALL_HISTORY))
    return out


def _calibration_findings(calibration, pipeline=None) -> list:
    """One finding for the stages whose stated win probability is outside the realised interval (one event: the
    CRM's stage probabilities), with the change in the probability-weighted open pipeline as its stake.

    No Brier score: the realised rates are computed from the same deals, so they beat the stated ones by
    construction (an in-sample comparison is not evidence)."""
    from ..findings import Finding
    from ..i18n import tr  # findings text in the report language

    t = calibration.table.dropna(subset=["stated_probability", "realised_win_rate"])
    off = t[((t["stated_probability"] < t["ci_low"]) | (t["stated_probability"] > t["ci_high"]))
            & (t["closed"] >= MIN_DEALS)]
    if not len(off):
        return []
    off = off.assign(_abs=off["gap"].abs()).sort_values("_abs", ascending=False)
    w = off.iloc[0]
    shift, code = 0.0, None
    for _, r in off.iterrows():
        _, amount, c = _open_at(pipeline, r["stage"])
        if amount is not None:
            shift += amount * (float(r["suggested_probability"]) - float(r["stated_probability"]))
            code = c
    stake = abs(shift) if code else None
    evidence = "; ".join(tr("{stage} {p:.0%} stated vs {rate} realised ({closed:,} closed deals)", stage=r["stage"],
                            p=r["stated_probability"], rate=_pct(r["realised_win_rate"]), closed=int(r["closed"]))
                         for _, r in off.iterrows())
    if stake:
        evidence += "; " + (tr("the probability-weighted open pipeline is understated by {amount}",
                               amount=_money(stake, code)) if shift > 0 else
                            tr("the probability-weighted open pipeline is overstated by {amount}",
                               amount=_money(stake, code)))
    return [Finding(
        subject=tr("CRM stage probabilities"),
        metric="win probability",
        value=tr("{n} of {m} stages outside the realised 95% CI", n=len(off), m=len(t)),
        benchmark=tr("largest gap at {stage}: {p:.0%} stated, {rate} realised", stage=w["stage"],
                     p=w["stated_probability"], rate=_pct(w["realised_win_rate"])),
        evidence=evidence,
        suggestion=tr("set the CRM's stage probabilities to the realised rates ({stages}) before the next forecast",
                      stages=", ".join(tr("{stage} about {p:.0%}", stage=r["stage"], p=r["suggested_probability"])
                                       for _, r in off.iterrows())),
        topic="funnel", severity=2.0 + float(w["_abs"]), window=ALL_HISTORY, stake=stake)]


def _lead_findings(lead) -> list:
    """Leads needed per won deal."""
    from ..findings import Finding
    from ..i18n import tr  # findings text in the report language
    from .metrics import LEAD_MATURITY_DAYS, lead_maturity_window

    out = []
    r = lead.iloc[0]
    if not pd.notna(r["lead_to_win"]):
        return out
    days = int(r["maturity_days"])
    window = lead_maturity_window(pd.Timestamp(r["created_until"]) + pd.Timedelta(days=days), days)
    out.append(Finding(
        subject=tr("leads"), metric="lead → won", value=_pct(r["lead_to_win"]),
        benchmark=tr("lead → opportunity {to_opportunity}, opportunity → won {to_win}",
                     to_opportunity=_pct(r["lead_to_opportunity"]), to_win=_pct(r["opportunity_to_win"])),
        interval=tr("95% CI {low}–{high}", low=_pct(r["lead_to_win_ci_low"]), high=_pct(r["lead_to_win_ci_high"])),
        evidence=tr("{leads:,} leads at least {days} days old", leads=int(r["leads"]), days=days),
        suggestion=tr("about {n:.0f} leads are needed per won deal", n=1 / r["lead_to_win"])
        if r["lead_to_win"] else "",
        topic="funnel", severity=1.5, kpi="lead_to_win_rate" if days == LEAD_MATURITY_DAYS else "", window=window))
    return out


def _coverage_findings(coverage) -> list:
    """Teams (and the company) whose pipeline coverage of the running quota period is below what they needed:
    under the 95% interval of the coverage at which their past periods made quota when history can say it
    (:attr:`~salesops_kit.funnel.Coverage.needed`), else (only then) below their coverage on the same day of every
    one of at least ``MIN_PERIODS`` past periods. Strictly below: equal numbers never make a finding. The stake is
    the pipeline missing to reach the needed (or the usual, median past) coverage of the quota still to win."""
    from ..findings import Finding
    from ..i18n import format_date, tr

    out = []
    if coverage.limitation or coverage.period is None or not len(coverage.table):
        return out
    COMPANY, MIN_PERIODS = coverage.COMPANY, coverage.MIN_PERIODS  # noqa: N806 - the result's constants
    code = coverage.currency
    t = coverage.table[coverage.table["level"] != "rep"]
    hist = coverage.history
    needed = coverage.needed.set_index("team") if len(coverage.needed) else None
    day = tr("day {n} of the period", n=int((coverage.as_of.normalize() - coverage.period[0]).days) + 1)
    for _, r in t.iterrows():
        cov, rem = r["coverage"], r["remaining_quota"]
        if not np.isfinite(cov) or rem <= 0:
            continue
        team = r["team"]
        subject = tr("company") if team == COMPANY else tr("team = {team}", team=team)
        segment = "all" if team == COMPANY else f"team={team}"
        n = needed.loc[team] if needed is not None and team in needed.index else None
        h = hist[(hist["team"] == team) & (hist["remaining_quota"] > 0)]
        evidence = tr("{pipeline} of open pipeline expected to close in the period ({deals:,} deals) against {rem} of "
                      "quota still to win", pipeline=_money(r["pipeline"], code), deals=int(r["open_deals"]),
                      rem=_money(rem, code))
        learnt = n is not None and np.isfinite(n["needed_coverage"])  # then it is the benchmark, not the range
        if learnt and cov < n["ci_low"]:
            stake = float(n["needed_coverage"] * rem - r["pipeline"])
            out.append(Finding(
                subject=subject, metric="pipeline coverage", value=f"{cov:.2f}×",
                benchmark=tr("{c:.2f}× at which its past periods made quota", c=n["needed_coverage"]),
                interval=tr("needed: 95% CI {lo:.2f}–{hi:.2f}×, {made} of {periods} periods made quota",
                            lo=n["ci_low"], hi=n["ci_high"], made=int(n["made"]), periods=int(n["periods"])),
                evidence=evidence + "; " + tr("seen on {day}", day=day),
                suggestion=tr("add about {amount} of pipeline that can close by {end}, or plan for missing quota",
                              amount=_money(stake, code), end=format_date(coverage.period[1])),
                topic="funnel", severity=3.5, kpi="pipeline_coverage", segment=segment, window=coverage.window,
                stake=stake))
        elif not learnt and len(h) >= MIN_PERIODS and cov < h["coverage"].min():
            usual = float(h["coverage"].median())
            low = h.loc[h["coverage"].idxmin()]
            stake = float(usual * rem - r["pipeline"])
            out.append(Finding(
                subject=subject, metric="pipeline coverage", value=f"{cov:.2f}×",
                benchmark=tr("{c:.2f}× lowest on the same day of its {n} past periods (median {m:.2f}×)",
                             c=float(low["coverage"]), n=len(h), m=usual),
                evidence=evidence + "; " + tr("the period at its lowest coverage ({period}) reached {att} of quota; "
                                              "{made} of {n} past periods made quota", n=len(h),
                                              period=coverage.period_label(low["period_start"], low["period_end"]),
                                              att=_pct(low["attainment"]), made=int(h["made_quota"].sum())),
                suggestion=tr("expect this period to fall further short than any in its history: add about {amount} "
                              "of pipeline that can close by {end} to be covered as usual, or reset the forecast",
                              amount=_money(stake, code), end=format_date(coverage.period[1])),
                topic="funnel", severity=3.0, kpi="pipeline_coverage", segment=segment, window=coverage.window,
                stake=stake))
    return out
