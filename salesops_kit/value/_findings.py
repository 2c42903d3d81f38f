"""The cost notebook's findings (number -> comparison -> decision), written from a
:class:`~.costs.UnitEconomics` only: the prose lives here, beside the computations in :mod:`.costs`, never
inside them."""

from __future__ import annotations

import pandas as pd

__all__ = ["unit_economics_findings", "value_note"]


def value_note(key: str, **values) -> str:
    """A sentence the cost notebook prints instead of a section its data cannot support, in the report language.

    ``key``: ``mixed_currencies`` (``n``, ``codes``: orders in several currencies and no rates: the money
    sections are skipped, never summed across currencies); ``no_orders``; ``no_spend``; ``few_quarters``.
    """
    from ..i18n import tr

    if key == "mixed_currencies":
        return tr("Orders are in {n} currencies ({codes}) and the mapping gives no exchange rates: the money sections "
                  "(revenue per customer, CLV, CAC, LTV:CAC, payback) are skipped rather than adding one currency to "
                  "another; add {block} to the mapping to compute them.", block="currency: {report: ..., rates: {...}}",
                  **values)
    if key == "no_orders":
        return tr("This dataset has no {table} table: every section below is skipped.", table="orders")
    if key == "no_spend":
        return tr("No {table} table: CAC, LTV:CAC and payback are skipped.", table="marketing_spend")
    if key == "few_quarters":
        return tr("Not enough quarters of history for a survival curve.")
    raise KeyError(f"no value note {key!r}; known: mixed_currencies, no_orders, no_spend, few_quarters")


def unit_economics_findings(ue):
    """Findings of a :class:`~.costs.UnitEconomics`: money-losing channels (LTV:CAC interval below 1), channels
    with LTV:CAC above 3 and the channel with the fastest CAC payback.

    Returns
    -------
    salesops_kit.findings.Findings
    """
    from ..findings import Finding, Findings
    from ..i18n import tr  # findings text in the report language

    out = []
    for _, r in ue.money_losing().iterrows():
        out.append(Finding(subject=tr("channel {channel}", channel=r["channel"]), metric="LTV:CAC",
                           value=f"{r['ltv_cac']:.2f}", benchmark=tr("1.00 (break-even)"),
                           interval=tr("95% CI {low:.2f}-{high:.2f}", low=r["ltv_cac_ci_low"],
                                       high=r["ltv_cac_ci_high"]),
                           evidence=tr("CAC {cac:,.2f} vs LTV {ltv:,.2f} over {months} months, {n} new customers",
                                       cac=r["cac"], ltv=r["ltv"], months=ue.horizon_months,
                                       n=int(r["new_customers"])),
                           suggestion=tr("this channel loses money on every customer it acquires: cut or "
                                         "renegotiate its spend"), topic="costs", severity=3.0))
    for _, r in ue.table[(ue.table["channel"] != "all") & (ue.table["ltv_cac_ci_low"] > 3)].iterrows():
        out.append(Finding(subject=tr("channel {channel}", channel=r["channel"]), metric="LTV:CAC",
                           value=f"{r['ltv_cac']:.2f}", benchmark=tr("3.00 (common target)"),
                           interval=tr("95% CI {low:.2f}-{high:.2f}", low=r["ltv_cac_ci_low"],
                                       high=r["ltv_cac_ci_high"]),
                           evidence=tr("payback {months:.1f} months", months=r["payback_months"]),
                           suggestion=tr("room to scale spend here while watching marginal CAC"),
                           topic="costs", severity=2.0))
    bp = ue.best_payback()
    paying = ue.table[(ue.table["channel"] != "all") & ue.table["payback_months"].notna()]
    blended = ue.table.loc[ue.table["channel"] == "all", "payback_months"]
    same = (bp is not None and len(blended) and pd.notna(blended.iloc[0])
            and f"{bp['payback_months']:.1f}" == f"{blended.iloc[0]:.1f}")  # never a finding from equal numbers
    if bp is not None and len(paying) >= 2 and not same:  # "fastest" of one channel compares nothing
        out.append(Finding(subject=tr("channel {channel}", channel=bp["channel"]), metric="CAC payback",
                           value=tr("{months:.1f} months", months=bp["payback_months"]),
                           benchmark=(tr("{months:.1f} months blended", months=blended.iloc[0]) if len(blended)
                                      and pd.notna(blended.iloc[0]) else ""),
                           evidence=tr("CAC {cac:,.2f}, margin {margin:,.2f} per new customer per month in the "
                                       "first 12 months", cac=bp["cac"], margin=bp["monthly_margin"]),
                           suggestion=tr("fastest to pay back: first candidate for extra budget"),
                           topic="costs", severity=1.0))
    return Findings(out, title="Cost metrics", empty="No channel stands out.")
