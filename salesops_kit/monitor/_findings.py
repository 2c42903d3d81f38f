"""The KPI review's findings (number -> comparison -> decision), written from a
:class:`~.review.MonitorReview` only: the prose lives here, beside the computations in :mod:`.review`,
:mod:`._series`, :mod:`._changes` and :mod:`.targets`, never inside them."""

from __future__ import annotations

import numpy as np

from ..findings import Finding, Findings
from ..stats.kpi_specs import KPI_SPECS, KPISpec, fmt
from . import _series as ms

__all__ = ["alert_findings", "review_findings"]


def _who(spec: KPISpec, segment: str, teams: dict) -> str:
    from ..i18n import t, tr  # findings text in the report language

    if segment == "all":
        return tr("head of sales") if spec.owner == "sales manager" else \
            tr("head of {function}", function=t(spec.owner.split()[0])) \
            if spec.owner != "customer success manager" else tr("head of customer success")
    col, _, val = segment.partition("=")
    role = t(spec.owner)
    if col == "owner":
        team = teams.get(val)
        return tr("{rep}'s {role}", rep=val, role=role) + (tr(" (team {team})", team=team) if team else "")
    if col == "team":
        return tr("the {role} of team {team}", role=role, team=val)
    return tr("the {role} responsible for {column} {value}", role=role, column=t(col.replace("_", " ")), value=val)


def _zstar(row) -> float:
    """The |z| at which this point's chart alerts (from its drawn limits)."""
    return float(abs(row["ucl"] - row["center"]) / row["sigma"]) if row["sigma"] > 0 else float("nan")


def alert_findings(rv) -> Findings:
    """One :class:`Finding` per alerted KPI × segment (consecutive alerted periods together) of a
    :class:`~.review.MonitorReview`."""
    from ..i18n import t, tr  # findings text in the report language

    a = rv.alerts
    teams = dict(rv.teams)
    out = []
    for (kpi, seg), g in a.groupby(["kpi", "segment"], sort=True):
        spec = KPI_SPECS[kpi]
        g = g.sort_values("period")
        per = [str(p.to_period(ms.FREQ[rv.period])) for p in g["period"]]
        vals = ", ".join(tr("{value} in {period}", value=fmt(v, spec.fmt), period=p)
                         for v, p in zip(g["value"], per, strict=True))
        chart = {"p": "p-chart", "u": "u-chart", "cp": "compound-Poisson", "xbar": "X̄-chart",
                 "ewma": "EWMA"}[g["chart"].iloc[0]]
        adverse = bool(g["adverse"].any())
        last = g.iloc[-1]
        below = last["direction"] == "down"
        lo3, hi3 = last["center"] - 3 * last["sigma"], last["center"] + 3 * last["sigma"]
        if spec.kind == "rate":
            hi3 = min(hi3, 1.0)
        out.append(Finding(
            subject=seg, metric=spec.label, value=vals,
            benchmark=tr("expected {low}–{high} (3-sigma {chart} range)",
                         low=fmt(max(lo3, 0) if spec.kind != "nps" else lo3, spec.fmt), high=fmt(hi3, spec.fmt),
                         chart=t(chart)),
            q_value=float(g["q_value"].min()),
            evidence=(tr("{n} period(s) below the control limits of the trailing baseline (centre {centre}; z = "
                         "{z:.1f}, alert threshold after false-discovery control |z| ≥ {zstar:.1f})", n=len(g),
                         centre=fmt(last["center"], spec.fmt), z=last["z"], zstar=_zstar(last)) if below else
                      tr("{n} period(s) above the control limits of the trailing baseline (centre {centre}; z = "
                         "{z:.1f}, alert threshold after false-discovery control |z| ≥ {zstar:.1f})", n=len(g),
                         centre=fmt(last["center"], spec.fmt), z=last["z"], zstar=_zstar(last))),
            suggestion=(tr("{who} to find the cause and act within the next period", who=_who(spec, seg, teams))
                        if adverse else tr("{who} to confirm what worked and keep it", who=_who(spec, seg, teams))),
            topic="monitoring", severity=float(np.abs(g["z"]).max()) * (2 if adverse else 1)))
    return Findings(out, title=tr("Alerts, {n} period(s) to {label}", n=len(rv.window), label=rv.label),
                    empty=tr("No KPI moved outside its control limits in the {n} period(s) to {label}.",
                             n=len(rv.window), label=rv.label))


def review_findings(rv, *, segments=("all", "team="), min_gap: float = 0.05) -> Findings:
    """The findings of a :class:`~.review.MonitorReview`: every alert (:func:`alert_findings`), plus, for the
    company and teams, period-over-period or year-over-year changes significant after BH (q < alpha) that are
    not already alerts, and targets missed in the review period by more than ``min_gap`` (attainment below 95%
    by default)."""
    from ..i18n import t, tr  # findings text in the report language

    out = list(alert_findings(rv))
    alerted = {(f.metric, f.subject) for f in out}

    def keep(seg: str) -> bool:
        return any(seg == x or (x.endswith("=") and seg.startswith(x)) for x in segments)
    ch = rv.changes
    sig = ch[ch["significant"] & ch["segment"].map(keep)] if len(ch) else ch
    for r in sig.itertuples(index=False):
        spec = KPI_SPECS[r.kpi]
        if (spec.label, r.segment) in alerted:
            continue
        adverse = np.sign(r.change) != spec.direction
        base = "last period" if r.comparison == "pop" else "a year earlier"
        who = _who(spec, r.segment, dict(rv.teams))
        out.append(Finding(
            subject=r.segment, metric=f"{spec.label} ({'vs ' + base})", value=fmt(r.value, spec.fmt),
            benchmark=(tr("{value} last period", value=fmt(r.base_value, spec.fmt)) if r.comparison == "pop" else
                       tr("{value} a year earlier", value=fmt(r.base_value, spec.fmt))), q_value=float(r.q_value),
            interval=tr("change 95% CI {low} to {high}", low=fmt(r.ci_low, spec.fmt), high=fmt(r.ci_high, spec.fmt))
            if spec.fmt not in ("pct", "nps") else
            tr("change 95% CI {low:+.1f} to {high:+.1f} pts", low=r.ci_low * 100, high=r.ci_high * 100),
            evidence=tr("{test}, p = {p:.2g}", test=t(r.test), p=r.p_value),
            suggestion=(tr("{who} to explain the drop at the next review", who=who) if r.change < 0 else
                        tr("{who} to explain the rise at the next review", who=who)),
            topic="monitoring", severity=(1.0 if adverse else 0.5) * float(-np.log10(max(r.q_value, 1e-12)))))
    at = rv.attainment
    if len(at):
        miss = at[(at["period"] == rv.review) & (at["status"] == "missed") & at["segment"].map(keep)
                  & (at["attainment"] < 1 - min_gap)]
        for r in miss.itertuples(index=False):
            spec = KPI_SPECS.get(r.kpi)
            if spec is None:
                continue
            out.append(Finding(
                subject=r.segment, metric=f"{spec.label} vs target", value=fmt(r.actual, spec.fmt),
                benchmark=tr("target {target} ({source})", target=fmt(r.target, spec.fmt), source=t(r.source)),
                evidence=tr("attainment {attainment:.0%} in {label}", attainment=r.attainment, label=rv.label),
                suggestion=tr("{who} to plan the gap into next period", who=_who(spec, r.segment, dict(rv.teams))),
                topic="monitoring", severity=float(max(0.0, 1 - r.attainment))))
    tested = bool(len(ch) and ch["p_value"].notna().any())
    if not tested and rv.charts_reason and not len(at):  # nothing could be judged: say so, not "all clear"
        empty = tr("Nothing can be judged for {label} yet: no control limit, no tested change and no target.",
                   label=rv.label)
    elif rv.charts_reason:  # changes were tested, but no alert could have been raised
        empty = tr("No significant change and no missed target in {label}; too few periods for control limits, "
                   "so no alert can be raised yet.", label=rv.label)
    else:
        empty = tr("No alert, no significant change and no missed target in {label}.", label=rv.label)
    return Findings(out, title=tr("KPI review {label}", label=rv.label), empty=empty)
