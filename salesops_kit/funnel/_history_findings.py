"""The findings of slippage (:mod:`.slippage`) and loss reasons (:mod:`.loss_reasons`), number -> comparison ->
decision, written from their results only (the prose lives here, beside the computations)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import ALL_HISTORY, MIN_DEALS

__all__ = ["history_findings"]


def _pct(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.1%}"


def _money(x, code) -> str:
    from ..i18n import format_money

    return format_money(x, code)


def history_findings(*, slippage=None, loss_reasons=None):
    """Findings of the slippage and loss-reason sections: each rep whose share of pushed deals differs from the
    other reps' after the false-discovery correction; pushed deals' win rate when it differs from the others';
    each loss reason whose share of lost deals grew in the last complete quarter. Nothing else: a view without
    a significant difference writes no finding.

    Parameters are the results of :func:`~salesops_kit.funnel.slippage` and
    :func:`~salesops_kit.funnel.loss_reasons` (either may be None). The money behind a decision (``stake``) is
    the open amount of the rep's pushed deals, the open amount of pushed deals, and the amount lost to the reason
    in the quarter, in the report currency (None when the amounts are in several currencies without rates).
    """
    from ..findings import Findings

    out, ran = [], False
    if slippage is not None and not slippage.limitation:
        out += _rep_findings(slippage) + _win_findings(slippage)
        ran = True
    if loss_reasons is not None and not loss_reasons.limitation:
        out += _reason_findings(loss_reasons)
        ran = True
    return Findings(out, title="Slippage and loss-reason findings",
                    empty="No slippage or loss-reason findings: no rep, group or reason differs beyond chance."
                    if ran else "No slippage or loss-reason findings: the data cannot support them (see above).")


def _open_pushed(slip, owner=None) -> tuple[int, float | None]:
    """Open pushed deals (of one rep) and their amount (None without a currency or amounts)."""
    p = slip.pushed_deals
    p = p[p["outcome"] == "open"]
    if owner is not None:
        p = p[p["owner"] == owner]
    amount = p["amount"].sum(min_count=1)
    return len(p), (float(amount) if slip.currency and pd.notna(amount) and amount > 0 else None)


def _rep_findings(slip) -> list:
    from ..findings import Finding
    from ..i18n import t as _label
    from ..i18n import tr

    out = []
    reps = int(slip.table["p_value"].notna().sum())
    for _, r in slip.flagged.sort_values("difference", ascending=False).iterrows():
        n_open, stake = _open_pushed(slip, r["owner"])
        evidence = tr("{pushed:,} of {deals:,} deals pushed, {pushes:,} pushes; difference {diff:+.1f} pp (95% CI "
                      "{low:+.1f} to {high:+.1f}), {test} test, BH across {reps} reps", pushed=int(r["pushed_deals"]),
                      deals=int(r["deals"]), pushes=int(r["pushes"]), diff=r["difference"] * 100,
                      low=r["difference_ci_low"] * 100, high=r["difference_ci_high"] * 100, test=_label(r["test"]),
                      reps=reps)
        if n_open:
            evidence += "; " + (tr("{n:,} of the rep's pushed deals are open, worth {amount}", n=n_open,
                                   amount=_money(stake, slip.currency)) if stake is not None else
                                tr("{n:,} of the rep's pushed deals are open", n=n_open))
        up = r["difference"] > 0
        out.append(Finding(
            subject=tr("{column} = {segment}", column=_label("owner"), segment=r["owner"]),
            metric="share of deals pushed", value=_pct(r["pushed_share"]),
            benchmark=tr("{rate} for the other reps' deals", rate=_pct(r["rest_pushed_share"])),
            interval=tr("95% CI {low}–{high}", low=_pct(r["ci_low"]), high=_pct(r["ci_high"])),
            q_value=float(r["q_value"]), evidence=evidence,
            suggestion=(tr("review {rep}'s open deals' close dates before the forecast call and ask for a dated next "
                           "step whenever a close date moves", rep=r["owner"]) if up else
                        tr("ask {rep} how close dates are set: they slip less often than the other reps'",
                           rep=r["owner"])),
            topic="funnel", severity=3.0 + abs(float(r["difference"])) * 10, kpi="pushed_deal_share",
            segment=f"owner={r['owner']}", window=ALL_HISTORY, stake=stake if up else None))
    return out


def _win_findings(slip) -> list:
    """Pushed deals' win rate against never-pushed deals, only when the test says they differ."""
    from ..findings import Finding
    from ..i18n import t as _label
    from ..i18n import tr

    w, o = slip.win_test, slip.outcome
    if not len(o) or not np.isfinite(w.get("p_value", np.nan)) or w["p_value"] >= slip.alpha:
        return []
    a, b = o.iloc[0], o.iloc[1]
    if min(a["closed"], b["closed"]) < MIN_DEALS:
        return []
    n_open, stake = _open_pushed(slip)
    lower = w["difference"] < 0
    evidence = tr("{won:,} of {closed:,} closed pushed deals won; difference {diff:+.1f} pp (95% CI {low:+.1f} to "
                  "{high:+.1f}), {test} test, p = {p:.3g}", won=int(a["won"]), closed=int(a["closed"]),
                  diff=w["difference"] * 100, low=w["ci_low"] * 100, high=w["ci_high"] * 100,
                  test=_label(w["test"]), p=float(w["p_value"]))
    if n_open:
        evidence += "; " + (tr("{n:,} pushed deals are open, worth {amount}", n=n_open,
                               amount=_money(stake, slip.currency)) if stake is not None else
                            tr("{n:,} pushed deals are open", n=n_open))
    return [Finding(
        subject=tr("pushed deals"), metric="win rate", value=_pct(a["win_rate"]),
        benchmark=tr("{rate} for deals never pushed", rate=_pct(b["win_rate"])),
        interval=tr("95% CI {low}–{high}", low=_pct(a["ci_low"]), high=_pct(a["ci_high"])), evidence=evidence,
        suggestion=(tr("treat a pushed close date as a risk signal: weight pushed deals at their own win rate in the "
                       "forecast") if lower else
                    tr("a pushed close date is no sign of a lost deal here: do not discount pushed deals in the "
                       "forecast")),
        topic="funnel", severity=2.5, kpi="win_rate_pushed", window=ALL_HISTORY, stake=stake if lower else None)]


def _reason_findings(lr) -> list:
    from ..findings import Finding
    from ..i18n import t as _label
    from ..i18n import tr

    out = []
    tested = int(lr.growth["p_value"].notna().sum()) if len(lr.growth) else 0
    for _, r in lr.grew.iterrows():
        stake = float(r["amount_lost"]) if lr.currency and pd.notna(r["amount_lost"]) else None
        evidence = tr("{k:,} of {n:,} deals lost in {quarter} cite it vs {k0:,} of {n0:,} in the four quarters "
                      "before; change {diff:+.1f} pp (95% CI {low:+.1f} to {high:+.1f}), {test} test, BH across "
                      "{reasons} reasons", k=int(r["lost"]), n=int(r["quarter_lost"]), quarter=lr.quarter,
                      k0=int(r["base_lost"]), n0=int(r["base_quarters_lost"]), diff=r["change"] * 100,
                      low=r["change_ci_low"] * 100, high=r["change_ci_high"] * 100, test=_label(r["test"]),
                      reasons=tested)
        if stake is not None:
            evidence += "; " + tr("{amount} lost to it in {quarter}", amount=_money(stake, lr.currency),
                                  quarter=lr.quarter)
        out.append(Finding(
            subject=tr("loss reason {reason}", reason=r["reason"]), metric="share of lost deals",
            value=_pct(r["share"]), benchmark=tr("{rate} in {base}", rate=_pct(r["base_share"]), base=lr.base),
            q_value=float(r["q_value"]), evidence=evidence,
            suggestion=tr("find out why more deals were lost to {reason} in {quarter} (win-loss reviews of those "
                          "deals) and act on it before the next quarter", reason=r["reason"],
                          quarter=lr.quarter),
            topic="funnel", severity=3.0 + float(r["change"]) * 10, kpi="loss_reason_share_quarter",
            segment=f"reason={r['reason']}", window=lr.quarter, stake=stake))
    return out
