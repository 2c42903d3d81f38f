"""The KPI review's findings (number -> comparison -> decision), written from a
:class:`~.review.MonitorReview` only: the prose lives here, beside the computations in :mod:`.review`,
:mod:`._series`, :mod:`._changes` and :mod:`.targets`, never inside them.

One event, one finding: alerts that touch nested segments (a rep, their team, the company) in the same or
adjacent periods are one event, told by its most specific series with the others listed in its evidence. An
alert from before the reviewed period is labelled with its period and is not asked to be acted on next period.
The lead finding answers the notebook's question for the company: are we on target this period (the revenue gap
in the report currency), what changed, is it real, and who acts.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..findings import Finding, Findings
from ..stats.kpi_specs import KPI_SPECS, KPISpec, fmt
from . import _series as ms
from ._series import kpi_windows, period_name

__all__ = ["alert_findings", "review_findings", "alert_events", "limits_text", "source_findings"]


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


def _depth(segment: str) -> int:
    """How specific a segment is: a rep 3, a team 2, any other column 1, the company 0."""
    return 0 if segment == "all" else 3 if segment.startswith("owner=") else 2 if segment.startswith("team=") else 1


def _nested(a: str, b: str, teams: dict) -> bool:
    """True when one segment contains the other (the company contains all; a team contains its reps)."""
    if a == b or "all" in (a, b):
        return True
    for rep, team in ((a, b), (b, a)):
        if rep.startswith("owner=") and team.startswith("team=") and teams.get(rep[6:]) == team[5:]:
            return True
    return False


def alert_events(rv) -> list[pd.DataFrame]:
    """The alerts of a review grouped into events: two alerts are one event when they go the same way (both
    adverse or both favourable), their segments are nested (rep in team in company) and their periods are the
    same or adjacent. Each event is a frame of its alerted points, the series that tells it first (the most
    specific segment, then the largest |z|)."""
    a = rv.alerts
    if not len(a):
        return []
    a = a.reset_index(drop=True)
    teams = dict(rv.teams)
    ordinal = [pd.Timestamp(p).to_period(ms.FREQ[rv.period]).ordinal for p in a["period"]]
    parent = list(range(len(a)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            if (a.at[i, "adverse"] == a.at[j, "adverse"] and abs(ordinal[i] - ordinal[j]) <= 1
                    and _nested(a.at[i, "segment"], a.at[j, "segment"], teams)):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(a)):
        groups.setdefault(root(i), []).append(i)
    events = []
    for idx in groups.values():
        g = a.loc[idx].copy()
        g["depth"] = g["segment"].map(_depth)
        g["strength"] = g["z"].abs()
        top = (g.groupby(["kpi", "segment"], as_index=False).agg(depth=("depth", "first"), strength=("strength", "max"))
               .sort_values(["depth", "strength", "kpi", "segment"], ascending=[False, False, True, True]))
        order = {k: n for n, k in enumerate(zip(top["kpi"], top["segment"], strict=True))}
        g["rank"] = [order[k] for k in zip(g["kpi"], g["segment"], strict=True)]
        events.append(g.sort_values(["rank", "period"]).drop(columns=["depth", "strength"]).reset_index(drop=True))
    return sorted(events, key=lambda e: (-e["period"].max().value, -float(e["z"].abs().max())))


def limits_text(value: float, lcl: float, ucl: float, f: str) -> str:
    """Drawn control limits ``low–high`` in the KPI's format; a limit that would print like the value (an alert
    just past its limit: 22 against 22.2) gets one more decimal, so the text never reads "22 outside 22–70"."""
    def finer(x: float) -> str:
        return {"int": f"{x:,.1f}", "pct": f"{x:.2%}", "score": f"{x:.3f}", "hours": f"{x:.2f} h"}.get(f, fmt(x, f))
    same = fmt(value, f) in (fmt(lcl, f), fmt(ucl, f))
    return f"{finer(lcl)}–{finer(ucl)}" if same else f"{fmt(lcl, f)}–{fmt(ucl, f)}"


def _span(rv, periods) -> str:
    first, last = min(periods), max(periods)
    return rv.period_name(first) if first == last else f"{rv.period_name(first)} – {rv.period_name(last)}"


def _values(rv, g: pd.DataFrame, spec: KPISpec, *, with_periods: bool) -> str:
    from ..i18n import tr

    if with_periods:
        return ", ".join(tr("{value} in {period}", value=fmt(v, spec.fmt), period=rv.period_name(p))
                         for v, p in zip(g["value"], g["period"], strict=True))
    return ", ".join(fmt(v, spec.fmt) for v in g["value"])


def _event_finding(rv, ev: pd.DataFrame, teams: dict) -> Finding:
    from ..i18n import t, tr  # findings text in the report language

    kpi, seg = ev.at[0, "kpi"], ev.at[0, "segment"]
    spec = KPI_SPECS[kpi]
    head = ev[(ev["kpi"] == kpi) & (ev["segment"] == seg)].sort_values("period")
    last = head.loc[head["z"].abs().idxmax()]  # the strongest point: its centre, z and drawn limits are quoted
    lim = rv.limits
    df = lim[(lim["kpi"] == kpi) & (lim["segment"] == seg) & (lim["period"] == last["period"])]["df"]
    zstar = rv.z_star(float(df.iloc[0]) if len(df) else np.inf)
    adverse = bool(ev["adverse"].any())
    current = bool((ev["period"] == rv.review).any())
    below = last["direction"] == "down"
    rule = dict(n=len(head), centre=fmt(last["center"], spec.fmt), z=last["z"], zstar=zstar, m=rv.n_judged)
    evidence = (tr("{n} period(s) below its control limits (centre {centre} from the trailing baseline; z = {z:.1f}; "
                   "a point alerts when |z| ≥ {zstar:.1f}, the false-discovery threshold across {m} points judged)",
                   **rule) if below else
                tr("{n} period(s) above its control limits (centre {centre} from the trailing baseline; z = {z:.1f}; "
                   "a point alerts when |z| ≥ {zstar:.1f}, the false-discovery threshold across {m} points judged)",
                   **rule))
    others = []
    for (k, s), g in ev[(ev["kpi"] != kpi) | (ev["segment"] != seg)].groupby(["kpi", "segment"], sort=False):
        others.append(tr("{subject} {metric} {values}", subject=s, metric=t(KPI_SPECS[k].label),
                         values=_values(rv, g.sort_values("period"), KPI_SPECS[k], with_periods=True)))
    if others:
        evidence += "; " + tr("same event: {list}", list="; ".join(others))
    who = _who(spec, seg, teams)
    if current and adverse:
        suggestion = tr("{who} to find the cause and act in {next}", who=who, next=rv.next_name)
    elif current:
        suggestion = tr("{who} to confirm what worked and keep it", who=who)
    else:
        after = rv.period_name(ms.shift_period(ev["period"].max(), rv.period, -1))
        suggestion = tr("past alert, no alert since {after}: {who} to record its cause in the {label} review; no "
                        "action for {next}", after=after, who=who, label=rv.name, next=rv.next_name)
    stake = None
    money = ev[(ev["kpi"] == "won_revenue") & (ev["period"] == rv.review) & ev["adverse"]]
    if current and len(money) and rv.currency:
        stake = float((money["center"] - money["value"]).clip(lower=0).max())
    return Finding(
        subject=seg, metric=spec.label, window=_span(rv, head["period"]),
        value=_values(rv, head, spec, with_periods=False),
        benchmark=tr("control limits {limits}", limits=limits_text(last["value"], last["lcl"], last["ucl"], spec.fmt))
        if len(head) == 1 else tr("control limits {limits} in {period}", period=rv.period_name(last["period"]),
                                  limits=limits_text(last["value"], last["lcl"], last["ucl"], spec.fmt)),
        q_value=float(head["q_value"].min()), evidence=evidence, suggestion=suggestion, topic="monitoring",
        severity=float(ev["z"].abs().max()) * (2 if adverse else 1) * (1 if current else 0.5), stake=stake,
        segment=seg)


def alert_findings(rv) -> Findings:
    """One :class:`Finding` per alert event of a :class:`~.review.MonitorReview` (:func:`alert_events`)."""
    from ..i18n import tr  # findings text in the report language

    teams = dict(rv.teams)
    out = [_event_finding(rv, ev, teams) for ev in alert_events(rv)]
    return Findings(out, title=tr("Alerts, {n} period(s) to {label}", n=len(rv.window), label=rv.name),
                    empty=tr("No KPI moved outside its control limits in the {n} period(s) to {label}.",
                             n=len(rv.window), label=rv.name))


def _pct(v: float) -> str:
    return f"{v:.0%}"


def _company_target(rv, at: pd.DataFrame, events: list[pd.DataFrame], windows: dict, teams: dict):
    """The lead finding: the company's won revenue against its target in the reviewed period, with the gap in the
    report currency, the teams behind it, the change from last period and whether it is real, the period still
    running, and the alerts of the period. None without such a target (or without one currency)."""
    from ..i18n import t, tr

    code = rv.currency
    row = at[(at["kpi"] == "won_revenue") & (at["segment"] == "all") & (at["period"] == rv.review)]
    if not code or not len(row) or not np.isfinite(row["attainment"].iloc[0]):
        return None
    r = row.iloc[0]
    spec = KPI_SPECS["won_revenue"]
    gap = float(r["target"] - r["actual"])
    parts = []
    if gap > 0:
        parts.append(tr("gap {gap} {code}", gap=fmt(gap, "money"), code=code))
    tm = at[(at["kpi"] == "won_revenue") & at["segment"].str.startswith("team=") & (at["period"] == rv.review)
            & at["attainment"].notna()]
    if len(tm):
        parts.append(tr("teams: {list}", list=", ".join(f"{s[5:]} {_pct(a)}" for s, a in
                                                        zip(tm["segment"], tm["attainment"], strict=True))))
    ch = rv.changes
    pop = ch[(ch["kpi"] == "won_revenue") & (ch["segment"] == "all") & (ch["comparison"] == "pop")]
    if len(pop) and not pop.iloc[0]["note"]:
        parts.append(rv.change_text(next(pop.itertuples(index=False))))
    run = at[(at["kpi"] == "won_revenue") & (at["segment"] == "all") & at["partial"]]
    if len(run) and np.isfinite(run["projected_attainment"].iloc[0]):
        x = run.iloc[0]
        parts.append(tr("{next} on pace for {pct} of its target ({projected} of {target} {code} at the run rate)",
                        next=rv.period_name(x["period"]), pct=_pct(x["projected_attainment"]),
                        projected=fmt(x["projected"], "money"), target=fmt(x["target"], "money"), code=code))
    now = [e for e in events if (e["period"] == rv.review).any()]
    if now:
        parts.append(tr("alerts in {label}: {list}", label=rv.name, list=", ".join(
            f"{e.at[0, 'segment']} {t(KPI_SPECS[e.at[0, 'kpi']].label)}" for e in now)))
    else:
        parts.append(tr("no alert in {label}", label=rv.name))
    who = _who(spec, "all", teams)
    suggestion = (tr("{who} to plan how {next} closes the {gap} {code} gap", who=who, next=rv.next_name,
                     gap=fmt(gap, "money"), code=code) if r["attainment"] < 1 else
                  tr("{who}: on target in {label}, no action", who=who, label=rv.name))
    return Finding(
        subject="all", metric="won revenue target attainment", value=_pct(r["attainment"]),
        benchmark=tr("target {target} {code}, won {actual} {code} ({source})", target=fmt(r["target"], "money"),
                     actual=fmt(r["actual"], "money"), code=code, source=t(r["source"])),
        evidence="; ".join(parts), suggestion=suggestion, topic="monitoring",
        severity=float(max(0.0, 1 - r["attainment"])), kpi="won_revenue_attainment", segment="all",
        window=windows["review"], stake=round(gap, 2) if gap > 0 else None, lead=True)


def review_findings(rv, *, segments=("all", "team="), min_gap: float = 0.05) -> Findings:
    """The findings of a :class:`~.review.MonitorReview`: the company's revenue against target first (the lead:
    gap in the report currency, what changed, whether it is real, who acts), then one finding per alert event
    (:func:`alert_events`), then, for the company and teams, period-over-period or year-over-year changes
    significant after BH (q < alpha) that are not part of an alert event, and targets missed in the review period
    by more than ``min_gap`` (attainment below 95% by default; the teams' revenue misses are listed in the lead)."""
    from ..i18n import t, tr  # findings text in the report language

    teams = dict(rv.teams)
    windows = kpi_windows(rv)
    events = alert_events(rv)
    out = [_event_finding(rv, ev, teams) for ev in events]
    in_event = {(k, s) for ev in events for k, s in zip(ev["kpi"], ev["segment"], strict=True)}
    at = rv.attainment
    lead = _company_target(rv, at, events, windows, teams) if len(at) else None
    if lead is not None:
        out.append(lead)
    elif out:  # no company target: the strongest event of the reviewed period answers first
        now = [f for f, ev in zip(out, events, strict=True) if (ev["period"] == rv.review).any()]
        if now:
            best = max(now, key=lambda f: f.severity)
            out = [replace(best, lead=True) if f is best else f for f in out]

    def keep(seg: str) -> bool:
        return any(seg == x or (x.endswith("=") and seg.startswith(x)) for x in segments)
    ch = rv.changes
    sig = ch[ch["significant"] & ch["segment"].map(keep)] if len(ch) else ch
    for r in sig.itertuples(index=False):
        spec = KPI_SPECS[r.kpi]
        if (r.kpi, r.segment) in in_event:
            continue
        adverse = np.sign(r.change) != spec.direction
        who = _who(spec, r.segment, teams)
        money = spec.fmt == "money" and rv.currency
        if spec.fmt in ("pct", "nps"):
            value = tr("{x:+.1f} pts", x=r.change * 100)
            interval = tr("change 95% CI {low:+.1f} to {high:+.1f} pts", low=r.ci_low * 100, high=r.ci_high * 100)
        else:
            value = ("+" if r.change >= 0 else "−") + fmt(abs(r.change), spec.fmt)
            value += f" {rv.currency}" if money else ""
            interval = tr("change 95% CI {low} to {high}", low=fmt(r.ci_low, spec.fmt), high=fmt(r.ci_high, spec.fmt))
        out.append(Finding(
            subject=r.segment, metric=spec.label, value=value, window=windows[r.comparison], interval=interval,
            q_value=float(r.q_value), kpi=f"{r.kpi}_change_{r.comparison}", segment=r.segment,
            evidence=tr("from {base} to {value}; {test}, p = {p:.2g}", base=fmt(r.base_value, spec.fmt),
                        value=fmt(r.value, spec.fmt), test=t(r.test), p=r.p_value),
            suggestion=(tr("{who} to explain the drop at the next review", who=who) if r.change < 0 else
                        tr("{who} to explain the rise at the next review", who=who)),
            topic="monitoring", severity=(1.0 if adverse else 0.5) * float(-np.log10(max(r.q_value, 1e-12)))))
    if len(at):
        miss = at[(at["period"] == rv.review) & (at["status"] == "missed") & at["segment"].map(keep)
                  & (at["attainment"] < 1 - min_gap)]
        for r in miss.itertuples(index=False):
            spec = KPI_SPECS.get(r.kpi)
            if spec is None or (lead is not None and r.kpi == "won_revenue"):  # the lead lists the revenue misses
                continue
            if r.kpi in {"won_revenue", "avg_won_deal_size"} and not rv.currency:
                continue  # several currencies without rates: no money total to compare
            money = spec.fmt == "money"
            gap = abs(float(r.target - r.actual)) if money else None
            unit = f" {rv.currency}" if money else ""
            out.append(Finding(
                subject=r.segment, metric=f"{spec.label} target attainment", value=_pct(r.attainment),
                benchmark=tr("target {target}, actual {actual} ({source})", target=fmt(r.target, spec.fmt) + unit,
                             actual=fmt(r.actual, spec.fmt) + unit, source=t(r.source)),
                kpi=f"{r.kpi}_attainment", segment=r.segment, window=windows["review"], stake=gap,
                suggestion=tr("{who} to plan how {next} closes the gap", who=_who(spec, r.segment, teams),
                              next=rv.next_name),
                topic="monitoring", severity=float(max(0.0, 1 - r.attainment))))
    tested = bool(len(ch) and ch["p_value"].notna().any())
    if not tested and rv.charts_reason and not len(at):  # nothing could be judged: say so, not "all clear"
        empty = tr("Nothing can be judged for {label} yet: no control limit, no tested change and no target.",
                   label=rv.name)
    elif rv.charts_reason:  # changes were tested, but no alert could have been raised
        empty = tr("No significant change and no missed target in {label}; too few periods for control limits, "
                   "so no alert can be raised yet.", label=rv.name)
    else:
        empty = tr("No alert, no significant change and no missed target in {label}.", label=rv.name)
    return Findings(out, title=tr("KPI review {label}", label=rv.name), empty=empty)


# ---- where the revenue comes from (issue 18, part 6) ---------------------------------------------------------

SHARE_KPIS = {"deals": "won_revenue_share", "orders": "order_revenue_share"}


def _win_rate_finding(rs, r, code: str):
    """A level whose win rate differs from the other levels of its dimension pooled (q < alpha)."""
    from ..i18n import t, tr

    dim = t(r.dimension.replace("_", " "))
    subject = f"{r.dimension}={r.level}"
    below = r.win_rate < r.rest_rate
    avg = r.revenue / r.won if r.won else np.nan  # the level's mean won deal
    money = abs(r.rest_rate - r.win_rate) * r.closed * avg if np.isfinite(avg) else np.nan
    evidence = tr("{won} won of {closed} closed; {test}", won=f"{int(r.won):,}", closed=f"{int(r.closed):,}",
                  test=tr("Fisher exact test against the other levels pooled, one false-discovery family of {n} tests",
                          n=rs.n_tests))
    if code and np.isfinite(money):
        evidence += "; " + (tr("at the others' rate its deals would have won about {money} {code} more", money=fmt(
            money, "money"), code=code) if below else tr("at the others' rate its deals would have won about {money} "
                                                          "{code} less", money=fmt(money, "money"), code=code))
    who = tr("head of sales")
    suggestion = (tr("{who} to find why {dimension} {level} deals lose more often (qualification, pricing, "
                     "competition) and fix it in {next}", who=who, dimension=dim, level=r.level,
                     next=period_name(ms.shift_period(rs.end, "M", -1), "M")) if below else
                  tr("{who} to find what wins {dimension} {level} deals and use it for the others", who=who,
                     dimension=dim, level=r.level))
    return Finding(
        subject=subject, metric="win rate", window=rs.window, value=fmt(r.win_rate, "pct"),
        benchmark=tr("{rate} for the other levels of {dimension}", rate=fmt(r.rest_rate, "pct"), dimension=dim),
        interval=tr("95% CI {low} to {high}", low=fmt(r.ci_low, "pct"), high=fmt(r.ci_high, "pct")),
        q_value=float(r.q_win), evidence=evidence, suggestion=suggestion, topic="monitoring",
        severity=(2.0 if below else 1.0) * float(-np.log10(max(r.q_win, 1e-12))), segment=subject,
        stake=round(float(money), 2) if code and below and np.isfinite(money) else None)


def _share_finding(rs, r, rows: pd.DataFrame, code: str):
    """A product or region that carries most of the revenue (share above one half, q < alpha)."""
    from ..i18n import t, tr

    dim = t(r.dimension.replace("_", " "))
    subject = f"{r.dimension}={r.level}"
    total = float(rows["revenue"].sum())
    others = rows[(rows["level"] != r.level) & rows["share"].notna()]
    metric = "share of won revenue" if r.source == "deals" else "share of order revenue"
    unit = f" {code}" if code else ""
    evidence = tr("{revenue} of {total} in the window; the others: {list}", revenue=fmt(r.revenue, "money") + unit,
                  total=fmt(total, "money") + unit,
                  list=", ".join(f"{t(lv)} {s:.0%}" for lv, s in zip(others["level"], others["share"], strict=True)))
    return Finding(
        subject=subject, metric=metric, window=rs.window, value=f"{r.share:.0%}",
        benchmark=tr("half of the revenue"),
        interval=tr("95% CI {low} to {high}", low=f"{r.share_low:.0%}", high=f"{r.share_high:.0%}"),
        q_value=float(r.q_share), evidence=evidence,
        suggestion=tr("{who} to protect {dimension} {level} (its renewals, pricing and delivery) and to plan the "
                      "growth of the others: a fall in it moves {share} of the revenue", who=tr("head of sales"),
                      dimension=dim, level=r.level, share=f"{r.share:.0%}"),
        topic="monitoring", severity=float(-np.log10(max(r.q_share, 1e-12))), segment=subject,
        kpi=SHARE_KPIS[r.source], stake=round(float(r.revenue), 2) if code else None)


def _yoy_finding(rs, code: str):
    from ..i18n import tr

    y = rs.yoy
    drop = y["growth"] < 0
    unit = f" {code}" if code else ""
    gap = y["base"] - y["current"]
    metric = "won revenue growth year over year" if y["source"] == "deals" else "order revenue growth year over year"
    who = tr("head of sales")
    return Finding(
        subject="all", metric=metric, window=rs.window, value=f"{y['growth']:+.0%}",
        interval=tr("95% CI {low} to {high}", low=f"{y['ci_low']:+.0%}", high=f"{y['ci_high']:+.0%}"),
        q_value=float(y["q_value"]),
        evidence=tr("{current} against {base} in the 12 months before; compound-Poisson test of the log ratio",
                    current=fmt(y["current"], "money") + unit, base=fmt(y["base"], "money") + unit),
        suggestion=(tr("{who} to find which products, regions and account sizes fell (the tables above) and plan how "
                       "to win back {gap}", who=who, gap=fmt(gap, "money") + unit) if drop else
                    tr("{who} to find which products, regions and account sizes grew (the tables above) and keep "
                       "what drove it", who=who)),
        topic="monitoring", severity=(2.0 if drop else 1.0) * float(-np.log10(max(y["q_value"], 1e-12))),
        kpi="won_revenue_growth_yoy" if y["source"] == "deals" else "", segment="all",
        stake=round(float(gap), 2) if drop and code else None)


def source_findings(rs) -> Findings:
    """The findings of a :class:`~.sources.RevenueSources`: each product, region or account-size band whose win
    rate differs from the rest, each product or region carrying most of the revenue, and the year-over-year change
    of the window's revenue, each only when significant after one Benjamini–Hochberg correction over every test run
    (q < alpha). Equal numbers are never tested, so they never make a finding."""
    from ..i18n import tr

    out = []
    tab = rs.table
    for r in tab[tab["q_win"] < rs.alpha].itertuples(index=False):
        out.append(_win_rate_finding(rs, r, rs.currency))
    for r in tab[tab["q_share"] < rs.alpha].itertuples(index=False):
        rows = tab[(tab["source"] == r.source) & (tab["dimension"] == r.dimension)]
        out.append(_share_finding(rs, r, rows, rs.currency if r.source == "deals" else rs.order_currency))
    if np.isfinite(rs.yoy.get("q_value", np.nan)) and rs.yoy["q_value"] < rs.alpha:
        out.append(_yoy_finding(rs, rs.currency if rs.yoy["source"] == "deals" else rs.order_currency))
    n = rs.n_tests
    empty = (tr("No product, region or account size differs in win rate or carries most of the revenue, and revenue "
                "did not change significantly year over year ({n} tests, false-discovery rate {alpha:.0%}).",
                n=n, alpha=rs.alpha) if n else
             tr("Nothing to test for where the revenue comes from in the {window}: no product, region, account size or "
                "second year of revenue.", window=rs.window))
    return Findings(out, title=tr("Where the revenue comes from, {window}", window=rs.window), empty=empty)
