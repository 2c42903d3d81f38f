"""The cost notebook's findings (number -> comparison -> decision), written from a
:class:`~.costs.UnitEconomics` only: the prose lives here, beside the computations in :mod:`.costs`, never
inside them."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["unit_economics_findings", "survival_finding", "cost_findings", "value_note", "TARGET_LTV_CAC",
           "customer_value_findings"]


def value_note(key: str, **values) -> str:
    """A sentence the cost notebook prints instead of a section its data cannot support, in the report language.

    ``key``: ``mixed_currencies`` (``n``, ``codes``: orders in several currencies and no rates: the money
    sections are skipped, never summed across currencies); ``no_orders``; ``empty_orders``; ``no_spend``;
    ``no_cohorts``; ``no_simple_clv``; ``few_customers`` (the purchase models cannot be fitted); ``few_quarters``;
    ``few_rfm`` (``n``) and ``few_rfm_earlier`` (``n``, ``date``): too few customers for RFM quintiles.
    """
    from ..i18n import tr

    if key == "mixed_currencies":
        return tr("Orders are in {n} currencies ({codes}) and the mapping gives no exchange rates: the money sections "
                  "(revenue per customer, CLV, CAC, LTV:CAC, payback) are skipped rather than adding one currency to "
                  "another; add {block} to the mapping to compute them.", block="currency: {report: ..., rates: {...}}",
                  **values)
    if key == "no_orders":
        return tr("This dataset has no {table} table: every section below is skipped.", table="orders")
    if key == "empty_orders":
        return tr("The {table} table is empty: every section below is skipped.", table="orders")
    if key == "no_spend":
        return tr("No {table} table: CAC, LTV:CAC and payback are skipped.", table="marketing_spend")
    if key == "no_cohorts":
        return tr("No acquisition cohort has a complete month yet: retention by cohort and revenue per customer are "
                  "skipped.")
    if key == "no_simple_clv":
        return tr("The simple CLV needs a churn rate, which compares two 12-month windows of orders: this history is "
                  "too short, so it is skipped.")
    if key == "few_customers":
        return tr("Too few customers and repeat purchases to fit the purchase models: the predictive CLV, LTV:CAC and "
                  "payback sections are skipped.")
    if key == "few_quarters":
        return tr("Not enough quarters of history for a survival curve.")
    if key == "few_rfm":
        return tr("Fewer than {n} customers with orders: too few for RFM quintile scores, so the segments are "
                  "skipped.", **values)
    if key == "few_rfm_earlier":
        return tr("Fewer than {n} customers had ordered by {date}: segment migration needs both dates, so it is "
                  "skipped.", **values)
    raise KeyError(f"no value note {key!r}; known: mixed_currencies, no_orders, empty_orders, no_spend, no_cohorts, "
                   "no_simple_clv, few_customers, few_quarters, few_rfm, few_rfm_earlier")


TARGET_LTV_CAC = 3.0  # the common 3:1 target (Skok; the registry's ltv_cac_ratio definition)


def _money(x: float, code: str | None) -> str:
    """An amount with its code: cents below 1,000, whole units from there (``123.50 USD``, ``255,837 USD``)."""
    v = f"{x:,.2f}" if abs(x) < 1000 else f"{x:,.0f}"
    return f"{v} {code}" if code else v


def _lead(ue, b, *, code, holdout, window):
    """The notebook's answer: is growth profitable? Blended LTV:CAC against break-even and the 3:1 target."""
    from ..findings import Finding
    from ..i18n import tr

    ratio, lo, hi = b["ltv_cac"], b["ltv_cac_ci_low"], b["ltv_cac_ci_high"]
    losing = ue.money_losing()
    unrecovered = ue.unrecovered_spend()
    lost = float(unrecovered.reindex(losing["channel"]).sum()) if len(losing) else 0.0
    evidence = [tr("CAC {cac} vs LTV {ltv} over {months} months, {n:,} new customers", cac=_money(b["cac"], code),
                   ltv=_money(b["ltv"], code), months=ue.horizon_months, n=int(b["new_customers"]))]
    if holdout is not None and not holdout.passed and pd.notna(holdout.relative_error):
        evidence.append(tr("the purchase model missed its holdout check ({err:+.0%}): the LTV is uncertain",
                           err=holdout.relative_error))
    if ue.models.get("spend_model") == "average_order_value":
        evidence.append(tr("order values are channel averages (Gamma-Gamma's independence assumption failed)"))
    if pd.notna(hi) and hi < 1:
        answer = tr("growth loses money: stop buying customers in the channels below break-even until CAC falls")
        stake = max(float(b["spend"] - b["new_customers"] * b["ltv"]), 0.0)
    elif pd.notna(lo) and lo < 1:
        answer = tr("growth does not clearly pay back (the interval includes break-even): hold spend flat until CAC "
                    "falls or LTV rises")
        stake = lost or None
    elif pd.notna(hi) and hi < TARGET_LTV_CAC:
        if len(losing):
            w = losing.iloc[0]
            answer = tr("growth is profitable but below the 3:1 target: {amount} of {channel} spend does not pay "
                        "back; move it to the channels above the target", amount=_money(lost, code),
                        channel=w["channel"])
        else:
            answer = tr("growth is profitable but below the 3:1 target: lower CAC or raise LTV before scaling spend")
        stake = lost or None
    elif pd.notna(lo) and lo > TARGET_LTV_CAC:
        answer = tr("growth is profitable above the 3:1 target: room to scale spend while watching marginal CAC")
        stake = None
    else:
        answer = tr("growth is profitable and in line with the 3:1 target: keep the channel mix")
        stake = None
    return Finding(subject=tr("all channels (blended)"), metric="LTV:CAC", value=f"{ratio:.2f}",
                   benchmark=tr("3.00 (target)"),
                   interval=tr("95% CI {low:.2f}-{high:.2f}", low=lo, high=hi) if pd.notna(lo) else "",
                   evidence="; ".join(evidence), suggestion=answer, topic="costs", severity=4.0,
                   kpi="ltv_cac_ratio", segment="all", window=window, stake=stake, lead=True)


def unit_economics_findings(ue, *, holdout=None, survival=None, retention=None, currency: str | None = None):
    """Findings of a :class:`~.costs.UnitEconomics`, the answer first: blended LTV:CAC against the 3:1 target
    (``lead``; with the model checks that weaken it), money-losing channels (LTV:CAC interval below 1), channels
    whose interval lies above 3 (with their payback), and the fastest payback when it is another channel.

    ``holdout``: the BG/NBD :class:`~.clv.HoldoutCheck`; ``survival``: the :class:`~.sbg.SBGCheck` and
    ``retention`` the observed month-12 retention row (``retention, ci_low, ci_high`` of
    :func:`~.customers.retention_at`): when the sBG check fails, a finding says so and leads with the observed
    retention. ``currency``: the code written after money.

    Returns
    -------
    salesops_kit.findings.Findings
    """
    from ..findings import Finding, Findings
    from ..i18n import tr  # findings text in the report language

    out = []
    window = ue.window_label()
    t = ue.table
    b = t[t["channel"] == "all"]
    lead_carries_money = False
    if len(b) and pd.notna(b["ltv_cac"].iloc[0]):
        out.append(_lead(ue, b.iloc[0], code=currency, holdout=holdout, window=window))
        lead_carries_money = out[-1].stake is not None
    unrecovered = ue.unrecovered_spend()
    for _, r in ue.money_losing().iterrows():
        lost = float(unrecovered.get(r["channel"], 0.0))
        out.append(Finding(subject=tr("channel {channel}", channel=r["channel"]), metric="LTV:CAC",
                           value=f"{r['ltv_cac']:.2f}", benchmark=tr("1.00 (break-even)"),
                           interval=tr("95% CI {low:.2f}-{high:.2f}", low=r["ltv_cac_ci_low"],
                                       high=r["ltv_cac_ci_high"]),
                           evidence=tr("CAC {cac} vs LTV {ltv} over {months} months, {n:,} new customers; {lost} of "
                                       "its spend does not pay back", cac=_money(r["cac"], currency),
                                       ltv=_money(r["ltv"], currency), months=ue.horizon_months,
                                       n=int(r["new_customers"]), lost=_money(lost, currency)),
                           suggestion=tr("this channel loses money on every customer it acquires: cut or "
                                         "renegotiate its spend"), topic="costs", severity=3.0,
                           kpi="ltv_cac_ratio", segment=f"channel={r['channel']}", window=window,
                           # the lead's decision already moves this money: counted once in the executive summary
                           stake=None if lead_carries_money else (lost or None)))
    bp = ue.best_payback()
    paying = t[(t["channel"] != "all") & t["payback_months"].notna()]
    blended = t.loc[t["channel"] == "all", "payback_months"]
    blended_pb = float(blended.iloc[0]) if len(blended) and pd.notna(blended.iloc[0]) else None
    fastest = bp["channel"] if bp is not None and len(paying) >= 2 else None  # "fastest" of one compares nothing
    above = t[(t["channel"] != "all") & (t["ltv_cac_ci_low"] > TARGET_LTV_CAC)]
    for _, r in above.iterrows():
        ev = tr("payback {months:.1f} months", months=r["payback_months"]) if pd.notna(r["payback_months"]) else ""
        if r["channel"] == fastest:
            ev = tr("payback {months:.1f} months, the fastest of the channels", months=r["payback_months"])
        out.append(Finding(subject=tr("channel {channel}", channel=r["channel"]), metric="LTV:CAC",
                           value=f"{r['ltv_cac']:.2f}", benchmark=tr("3.00 (target)"),
                           interval=tr("95% CI {low:.2f}-{high:.2f}", low=r["ltv_cac_ci_low"],
                                       high=r["ltv_cac_ci_high"]),
                           evidence=ev, suggestion=tr("room to scale spend here while watching marginal CAC"),
                           topic="costs", severity=2.0, kpi="ltv_cac_ratio", segment=f"channel={r['channel']}",
                           window=window))
    same = blended_pb is not None and fastest is not None and f"{bp['payback_months']:.1f}" == f"{blended_pb:.1f}"
    if fastest is not None and not same and fastest not in set(above["channel"]):  # one event, one finding
        out.append(Finding(subject=tr("channel {channel}", channel=bp["channel"]), metric="CAC payback",
                           value=tr("{months:.1f} months", months=bp["payback_months"]),
                           benchmark=tr("{months:.1f} months blended", months=blended_pb) if blended_pb else "",
                           evidence=tr("CAC {cac}, margin {margin} per new customer per month in the first 12 months",
                                       cac=_money(bp["cac"], currency), margin=_money(bp["monthly_margin"], currency)),
                           suggestion=tr("fastest to pay back: first candidate for extra budget"),
                           topic="costs", severity=1.0, kpi="cac_payback_months", segment=f"channel={bp['channel']}",
                           window=window))
    if survival is not None and not survival.passed and np.isfinite(survival.max_relative_error):
        out.append(survival_finding(survival, retention))
    return Findings(out, title="Cost metrics", empty="No channel stands out.")


def survival_finding(survival, retention=None):
    """The sBG check failed: the finding leads with the observed retention and says the projection is not used."""
    from ..findings import Finding
    from ..i18n import tr

    w = survival.worst
    ev = tr("the sBG projection is up to {err:.0%} off on held-out quarters (quarter {period}: {obs:,.0f} customers "
            "observed vs {proj:,.0f} projected; tolerance {tol:.0%})", err=survival.max_relative_error,
            period=int(w["period"]), obs=w["observed"], proj=w["projected"], tol=survival.tolerance)
    if retention is not None and pd.notna(retention.get("retention")):
        return Finding(subject=tr("customer retention"), metric="retention at month 12",
                       value=f"{retention['retention']:.1%}",
                       interval=tr("95% CI {low:.1%}-{high:.1%}", low=retention["ci_low"], high=retention["ci_high"]),
                       evidence=ev, suggestion=tr("plan on the observed retention; the sBG curve overstates survival "
                                                  "and is not used"), topic="costs", severity=1.5,
                       kpi="retention_month_12", window=tr("all history"))
    return Finding(subject=tr("customer retention"), metric="sBG projection error",
                   value=f"{survival.max_relative_error:.0%}", benchmark=tr("{tol:.0%} tolerance",
                                                                          tol=survival.tolerance),
                   evidence=ev, suggestion=tr("plan on the observed survivors; the sBG curve is not used"),
                   topic="costs", severity=1.5, window=tr("all history"))


def cost_findings(ue=None, *, holdout=None, survival=None, retention=None, currency: str | None = None):
    """The cost notebook's Findings: :func:`unit_economics_findings` when there is a unit-economics result
    (``ue``), else only what the model checks say (the sBG finding when its check fails)."""
    from ..findings import Findings

    if ue is not None:
        return unit_economics_findings(ue, holdout=holdout, survival=survival, retention=retention, currency=currency)
    out = []
    if survival is not None and not survival.passed and np.isfinite(survival.max_relative_error):
        out.append(survival_finding(survival, retention))
    return Findings(out, title="Cost metrics", empty="No findings.")


def customer_value_findings(value, *, segments=None, currency: str | None = None, top_share: float | None = None):
    """Findings of the per-customer value table (:class:`~.customer_value.CustomerValue`): the top tenth of customers
    by predicted CLV and the share of the predicted value they hold (written when its interval lies above the equal
    share, named by their ids), and the at-risk customers (past revenue in the top fifth, P(alive) below one half)
    with the value they would bring if still active. ``segments`` (:class:`~.segments.RFMSegments`) adds nothing
    here: its numbers are KPIs and its table is shown; the decisions are about named customers.

    Returns
    -------
    salesops_kit.findings.Findings
    """
    from ..findings import Finding, Findings
    from ..i18n import tr
    from .customer_value import AT_RISK_P_ALIVE, HIGH_VALUE_SHARE, TOP_SHARE

    share_of = TOP_SHARE if top_share is None else top_share
    out = []
    t = value.table
    window = tr("next {months} months", months=value.months)
    n = value.top_n(share_of)
    share, lo, hi = value.top_share(share_of)
    equal = n / len(t) if len(t) else np.nan
    if len(t) >= 20 and np.isfinite(lo) and lo > equal:  # never a finding from equal numbers
        top = value.top(share_of)
        total_top = float(top["clv"].sum())
        names = ", ".join(str(c) for c in top["customer_id"].head(5))
        out.append(Finding(
            subject=tr("top {share:.0%} of customers ({n:,})", share=share_of, n=n), metric="share of predicted value",
            value=f"{share:.1%}", benchmark=tr("{equal:.0%} if every customer were worth the same", equal=equal),
            interval=tr("95% CI {low:.1%}-{high:.1%}", low=lo, high=hi),
            evidence=tr("{total} of the {all} the customers are expected to bring; the largest: {names}",
                        total=_money(total_top, currency), all=_money(float(t["clv"].sum()), currency), names=names),
            suggestion=tr("give these customers named account owners and track their orders monthly: losing one "
                          "costs many average customers"),
            topic="costs", severity=2.5, kpi="customer_value_top_decile_share", segment="all", window=window,
            stake=total_top))
    risk = value.at_risk()
    if len(risk):
        lost = float((risk["value_if_active"] - risk["clv"]).sum())
        names = ", ".join(str(c) for c in risk["customer_id"].head(5))
        out.append(Finding(
            subject=tr("customers with high past revenue who have likely stopped buying"), metric="customers at risk",
            value=f"{len(risk):,}",
            evidence=tr("past revenue in the top {top:.0%} of customers and P(alive) below {p:.0%}; they brought "
                        "{past} so far and would bring {lost} more over the next {months} months if still active; "
                        "the largest: {names}", top=HIGH_VALUE_SHARE, p=AT_RISK_P_ALIVE,
                        past=_money(float(risk["revenue"].sum()), currency), lost=_money(lost, currency),
                        months=value.months, names=names),
            suggestion=tr("contact them with a win-back offer, largest past revenue first"),
            topic="costs", severity=2.0, kpi="customers_at_risk", segment="all", window=tr("at the as-of date"),
            stake=lost or None))
    return Findings(out, title="Customer value", empty="No customer stands out.")
