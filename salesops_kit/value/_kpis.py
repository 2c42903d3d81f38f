"""The customer-value KPIs of a Dataset (see :mod:`salesops_kit.kpis`): repeat purchase, retention, simple and
predictive CLV, CAC, LTV:CAC, payback and cost of sales, read from the results of :mod:`.customers` and
:mod:`.costs`, beside them rather than inside."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.currency import convert, needs_split, report_currency, single_currency
from ..i18n import format_month, tr
from .costs import UnitEconomics, cost_of_sales, predictive_ltv, unit_economics
from .customers import as_day, cohort_retention, lazy_table, max_date, repeat_purchase_rate, retention_at, simple_clv

__all__ = ["kpi_rows", "MONEY_KPIS"]

# KPIs whose value is money, or a ratio of money that a mix of currencies would distort
MONEY_KPIS = frozenset({"clv_simple", "cac", "clv_predictive_mean", "ltv_cac_ratio", "cac_payback_months",
                        "cost_of_sales_ratio", "customer_value_next_12m", "customer_value_top_decile_share",
                        "customers_at_risk", "rfm_champions_revenue_share"})


def kpi_rows(ds, *, horizon_months: int = 36, monthly_discount_rate: float = 0.01, n_boot: int = 1000,
             unit_econ: UnitEconomics | None = None, value=None, segments=None) -> list[dict]:
    """KPI values of the cost notebook (overall and ``channel=NAME``); [] without orders.

    Customer KPIs (repeat purchase, retention, simple CLV, predictive CLV) need orders; CAC,
    LTV:CAC, payback and cost of sales also need marketing_spend. ``unit_econ``: the result of
    :func:`unit_economics` on ``ds`` already computed (notebook 02 passes its own); it is used when it was
    called with the arguments this function would use, and computed here otherwise. ``value`` (a
    :class:`~.customer_value.CustomerValue` to as-of) and ``segments`` (:class:`~.segments.RFMSegments` at as-of):
    the notebook's own, reused; computed here otherwise.
    """
    orders = getattr(ds, "orders", None)
    if orders is None:
        return []
    # orders in the report currency with rates; over several currencies without rates no money KPI (nor a ratio of
    # money) is computed: a total would add pesos to dollars (the load note says which mapping block to add)
    split = needs_split(ds, "orders") if hasattr(ds, "mapping") else False
    code = None if split or not hasattr(ds, "mapping") else report_currency(ds, "orders") or single_currency(ds)
    raw_orders, orders = orders, convert(orders, ds, "orders") if hasattr(ds, "mapping") else orders
    of = lazy_table(orders, ["customer_id", "order_date", "amount"])  # any engine (pandas, Polars, DuckDB)
    last = max_date(of, "order_date")
    if last is None:  # no orders
        return []
    as_of = as_day(ds.as_of) if getattr(ds, "as_of", None) is not None else None
    by = "channel" if "channel" in of.collect_schema().names() else None
    rows: list[dict] = []

    def seg(s: str) -> str:
        return s if s == "all" or "=" in s else f"channel={s}"

    def add(kpi, segment, value, lo=np.nan, hi=np.nan, *, window):
        if split and kpi in MONEY_KPIS:
            return
        row = {"kpi": kpi, "segment": seg(segment), "value": value, "ci_low": lo, "ci_high": hi, "window": window}
        if code and kpi in MONEY_KPIS:
            row["currency"] = code
        rows.append(row)

    end = as_of or last
    last12, history = tr("last 12 months"), tr("all history")
    start12 = end - pd.DateOffset(months=12) + pd.Timedelta(days=1)
    for b in (None, by) if by else (None,):
        for _, r in repeat_purchase_rate(orders, window_start=start12, window_end=end, by=b).iterrows():
            if b is None or r["segment"] != "all":
                add("repeat_purchase_rate", r["segment"], r["repeat_purchase_rate"], r["ci_low"], r["ci_high"],
                    window=last12)
        for _, r in retention_at(cohort_retention(orders, as_of=end, by=b), months=(3, 12)).iterrows():
            add(f"retention_month_{int(r['month'])}", r["segment"], r["retention"], r["ci_low"], r["ci_high"],
                window=history)
    sc = simple_clv(orders, as_of=end, by=by)
    for _, r in sc.table.iterrows():
        add("clv_simple", r["segment"], r["clv"], window=last12)
    spend = ds.marketing_spend if hasattr(ds, "marketing_spend") else None
    try:
        if spend is not None:
            want = {"as_of": end, "start": None, "end": None, "horizon_months": horizon_months,
                    "monthly_discount_rate": monthly_discount_rate, "margin_rate": None, "n_boot": n_boot, "seed": 0,
                    "spend_model": "auto"}
            reuse = unit_econ is not None and unit_econ.settings == want and orders is raw_orders
            ue = unit_econ if reuse else unit_economics(
                orders, spend, as_of=end, horizon_months=horizon_months, monthly_discount_rate=monthly_discount_rate,
                n_boot=n_boot)
            acquired = ue.window_label()  # the window the findings quote
            for _, r in ue.table.iterrows():
                ch = r["channel"]
                add("new_customers", ch, r["new_customers"], window=acquired)
                add("cac", ch, r["cac"], window=acquired)
                add("clv_predictive_mean", ch, r["ltv"], r["ltv_ci_low"], r["ltv_ci_high"], window=acquired)
                add("ltv_cac_ratio", ch, r["ltv_cac"], r["ltv_cac_ci_low"], r["ltv_cac_ci_high"], window=acquired)
                add("cac_payback_months", ch, r["payback_months"], window=acquired)
            lo, hi = ue.window
            for _, r in cost_of_sales(spend, orders, start=lo, end=hi, by=by).iterrows():
                add("cost_of_sales_ratio", r["segment"], r["cost_of_sales_ratio"],
                    window=tr("{start} to {end}", start=format_month(lo), end=format_month(hi)))
        else:
            ltv, _ = predictive_ltv(orders, as_of=end, horizon_months=horizon_months,
                                    monthly_discount_rate=monthly_discount_rate)
            add("clv_predictive_mean", "all", float(ltv["ltv"].mean()), window=history)
            for ch, g in ltv.groupby("channel", sort=True):
                add("clv_predictive_mean", ch, float(g["ltv"].mean()), window=history)
    except ValueError:  # too little data to fit the purchase models: skip the model-based KPIs
        pass
    if not split:
        _customer_rows(orders, end, add, value=value, segments=segments)
    return rows


def _customer_rows(orders, end, add, *, value=None, segments=None) -> None:
    """The per-customer value and RFM KPIs (none when there are too few customers to fit or score)."""
    from .customer_value import customer_value
    from .segments import rfm_segments

    try:
        cv = value if value is not None else customer_value(orders, as_of=end)
    except ValueError:
        cv = None
    if cv is not None and len(cv.table):
        win = tr("next {months} months", months=cv.months)
        tot, lo, hi = cv.total()
        add("customer_value_next_12m", "all", tot, lo, hi, window=win)
        share, slo, shi = cv.top_share()
        add("customer_value_top_decile_share", "all", share, slo, shi, window=win)
        add("customers_at_risk", "all", len(cv.at_risk()), window=tr("at the as-of date"))
    try:
        seg = segments if segments is not None else rfm_segments(orders, as_of=end)
    except ValueError:
        seg = None
    if seg is not None:
        add("rfm_champions_revenue_share", "all", seg.share("champions")[1], window=tr("last 12 months"))
