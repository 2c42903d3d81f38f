"""The cost notebook's tables built for reading (:func:`salesops_kit.tools.show_table`): plain column names, money
with its currency code, rates as percentages, no index, no NaN. Each function takes a result of :mod:`.customers`,
:mod:`.costs`, :mod:`.clv` or :mod:`.sbg` and returns a :class:`~salesops_kit.tools.tables.Table` to display once;
the numbers themselves stay in the results (``summary()``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..i18n import format_date, format_month, kpi_label, t, tr, unit_label
from ..tools.tables import MISSING, format_number, show_table

__all__ = ["channel_names", "repeat_purchase_table", "retention_table", "churn_table", "revenue_per_customer_table",
           "simple_clv_table", "model_parameters_table", "monthly_cac_table", "cost_of_sales_table", "kpi_table",
           "survival_table", "customer_value_table", "rfm_segment_table", "segment_migration_table"]


def channel_names(segments: pd.Series) -> pd.Series:
    """``channel=Referral`` → ``Referral``, ``all`` → ``all channels`` (translated)."""
    s = segments.astype(str)
    return s.where(s != "all", t("all channels")).str.replace(r"^channel=", "", regex=True)


def _money(code: str | None) -> str | None:
    return code or None


def repeat_purchase_table(rpr: pd.DataFrame):
    """:func:`~.customers.repeat_purchase_rate` rows (``all`` first, then per channel)."""
    if rpr.empty:
        return show_table(pd.DataFrame({"channel": []}))
    t_ = pd.DataFrame({"channel": channel_names(rpr["segment"]), "number of customers": rpr["customers"],
                       "repeat customers": rpr["repeat_customers"],
                       "repeat purchase rate": rpr["repeat_purchase_rate"],
                       "95% CI low": rpr["ci_low"], "95% CI high": rpr["ci_high"]})
    cap = tr("Customers who ordered between {start} and {end}, and the share of them with two orders or more",
             start=format_date(rpr["window_start"].iloc[0]), end=format_date(rpr["window_end"].iloc[0]))
    return show_table(t_, caption=cap, units={"95% CI low": "%", "95% CI high": "%", "repeat purchase rate": "%"})


def retention_table(ret: pd.DataFrame):
    """:func:`~.customers.retention_at` rows: the share of a month's new customers ordering again in month m."""
    t_ = pd.DataFrame({"months after acquisition": ret["month"], "cohorts": ret["cohorts"],
                       "number of customers": ret["customers"], "still ordering": ret["active_customers"],
                       "retention": ret["retention"], "95% CI low": ret["ci_low"], "95% CI high": ret["ci_high"]})
    return show_table(t_, units={"retention": "%", "95% CI low": "%", "95% CI high": "%"},
                      caption=tr("Cohort retention, all cohorts pooled (all history)"))


def churn_table(ch: pd.DataFrame):
    """:func:`~.customers.churn` rows."""
    t_ = pd.DataFrame({"channel": channel_names(ch["segment"]), "active customers": ch["active_customers"],
                       "did not order again": ch["churned"], "churn rate": ch["churn_rate"],
                       "95% CI low": ch["ci_low"], "95% CI high": ch["ci_high"],
                       "expected lifespan (years)": ch["expected_lifespan_years"]})
    months = int(ch["window_months"].iloc[0]) if len(ch) else 12
    cap = tr("Churn: customers active in the previous {m} months who did not order in the last {m}", m=months)
    return show_table(t_, units={"churn rate": "%", "95% CI low": "%", "95% CI high": "%"},
                      decimals={"expected lifespan (years)": 2}, caption=cap)


def revenue_per_customer_table(cohorts, code: str | None, *, months: int = 12, max_rows: int = 12):
    """Cumulative revenue per customer of each complete acquisition cohort, month 0..``months``."""
    c = cohorts.table if hasattr(cohorts, "table") else cohorts
    c = c[c["complete"] & (c["segment"] == "all") & (c["month"] <= months)]
    piv = c.pivot(index="cohort_month", columns="month", values="cumulative_revenue_per_customer").sort_index()
    piv.columns = [str(int(m)) for m in piv.columns]
    piv.index = [format_month(d) for d in piv.index]
    piv.index.name = "acquisition month"
    cap = (tr("Cumulative revenue per customer ({code}) by month since acquisition; complete months only", code=code)
           if code else tr("Cumulative revenue per customer by month since acquisition; complete months only"))
    return show_table(piv, caption=cap, max_rows=max_rows, decimals={c_: 0 for c_ in piv.columns})


def simple_clv_table(simple, code: str | None):
    """:class:`~.customers.SimpleCLV`: each input per segment, with units."""
    t_ = simple.table
    out = pd.DataFrame({"channel": channel_names(t_["segment"]), "active customers": t_["active_customers"],
                        "orders": t_["orders"], "revenue": t_["revenue"],
                        "average order value": t_["average_order_value"],
                        "purchases per year": t_["purchases_per_year"], "churn rate": t_["churn_rate"],
                        "expected lifespan (years)": t_["expected_lifespan_years"], "margin rate": t_["margin_rate"],
                        "simple CLV": t_["clv"]})
    money = {k: _money(code) for k in ("revenue", "average order value", "simple CLV")} if code else {}
    return show_table(out, units={**money, "churn rate": "%", "margin rate": "%"},
                      decimals={"revenue": 0, "average order value": 2, "simple CLV": 2, "purchases per year": 2,
                                "expected lifespan (years)": 2},
                      caption=tr("Simple CLV = average order value × purchases per year × expected lifespan × "
                                 "margin rate (last 12 months)"))


def model_parameters_table(*fits):
    """The parameters of fitted models (:class:`~salesops_kit.stats.mle.FittedModel`) with their 95% intervals."""
    rows = []
    for f in fits:
        if f is None:
            continue
        s = f.summary()
        rows.append(pd.DataFrame({"model": f.model, "parameter": s["param"], "estimate": s["estimate"],
                                  "95% CI low": s["ci_low"], "95% CI high": s["ci_high"]}))
    if not rows:
        return show_table(pd.DataFrame({"model": []}))
    return show_table(pd.concat(rows, ignore_index=True), decimals={"estimate": 3, "95% CI low": 3,
                                                                    "95% CI high": 3})


def monthly_cac_table(monthly: pd.DataFrame, period, code: str | None):
    """CAC per channel and blended in one month (``period``: its first day), with the trailing 3 months."""
    m = monthly[monthly["period"] == period]
    out = pd.DataFrame({"channel": m["channel"].astype(str).where(m["channel"] != "all", t("all channels")),
                        "spend": m["spend"], "new customers": m["new_customers"], "CAC": m["cac"],
                        "trailing 3-month CAC": m["cac_3m"]})
    money = {k: code for k in ("spend", "CAC", "trailing 3-month CAC")} if code else {}
    return show_table(out, units=money, decimals={"spend": 0, "CAC": 2, "trailing 3-month CAC": 2},
                      caption=tr("{month} (last complete month)", month=format_month(period)))


def cost_of_sales_table(cos: pd.DataFrame, code: str | None, window):
    """:func:`~.costs.cost_of_sales` rows: sales cost, revenue and their ratio."""
    out = pd.DataFrame({"channel": channel_names(cos["segment"]), "sales cost": cos["sales_cost"],
                        "revenue": cos["revenue"], "cost of sales": cos["cost_of_sales_ratio"]})
    money = {"sales cost": code, "revenue": code} if code else {}
    lo, hi = window
    return show_table(out, units={**money, "cost of sales": "%"}, decimals={"sales cost": 0, "revenue": 0},
                      caption=tr("Cost of sales = sales cost / revenue, {start} to {end}", start=format_month(lo),
                                 end=format_month(hi)))


def _kpi_value(v, unit: str) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return MISSING
    u = str(unit)
    if u == "share":
        return format_number(v, percent=True)
    if u in ("customers",):
        return format_number(v, decimals=0)
    if u == "months":
        return format_number(v, decimals=1)
    return format_number(v, decimals=0 if abs(float(v)) >= 1000 else 2)  # cents below 1,000, as the findings


_ABBREVIATIONS = {"cac": "CAC", "ltv": "LTV", "clv": "CLV"}


def _kpi_name(name: str) -> str:
    """The KPI's label; an abbreviation in a label made from the registry name is written in capitals."""
    label = kpi_label(name)
    return " ".join(_ABBREVIATIONS.get(w, w) for w in label.split(" ")) if label == name.replace("_", " ") else label


def _unit(unit: str) -> str:
    """The unit in the report language; money without a known code is "per customer", never "currency"."""
    if unit.startswith("currency "):
        return t(unit.removeprefix("currency "))
    return unit_label(unit)


def kpi_table(kt: pd.DataFrame, *, segment: str = "all"):
    """The topic's KPI rows of one segment (``kpis.kpi_frame`` output), each value in its own unit."""
    k = kt[kt["segment"] == segment]
    out = pd.DataFrame({
        "KPI": [_kpi_name(x) for x in k["kpi"]],
        "value": [_kpi_value(v, u) for v, u in zip(k["value"], k["unit"], strict=True)],
        "95% CI": [MISSING if pd.isna(lo) else f"{_kpi_value(lo, u)} – {_kpi_value(hi, u)}"
                   for lo, hi, u in zip(k["ci_low"], k["ci_high"], k["unit"], strict=True)],
        "unit": [_unit(str(u)) for u in k["unit"]],
        "window": k["window"].fillna("").astype(str) if "window" in k else "",
    })
    return show_table(out)


def survival_table(check):
    """:class:`~.sbg.SBGCheck`: observed and projected survivors per quarter, held-out quarters marked."""
    tb = check.table
    out = pd.DataFrame({"quarter since the first order": tb["period"], "observed customers": tb["observed"],
                        "sBG projection": tb["projected"], "projection error": tb["relative_error"],
                        "used to fit": ~tb["held_out"]})
    out.loc[out["quarter since the first order"] == 0, "projection error"] = np.nan
    return show_table(out, units={"projection error": "%"}, decimals={"observed customers": 0, "sBG projection": 0})


def customer_value_table(value, code: str | None, *, max_rows: int = 20):
    """:class:`~.customer_value.CustomerValue`: the top customers by predicted CLV (the full table is customers.csv
    of ``salesops report``)."""
    tb = value.table
    unit = {"W": "weeks", "D": "days", "M": "months"}.get(value.freq, value.freq)
    out = pd.DataFrame({
        "customer": tb["customer_id"].astype(str), "repeat purchases": tb["frequency"],
        f"recency ({unit})": tb["recency"], f"age T ({unit})": tb["T"],
        "mean repeat order value": tb["monetary_value"], "revenue to date": tb["revenue"],
        "P(alive)": tb["p_alive"], "expected purchases, next 90 days": tb["purchases_90d"],
        "expected purchases, next 365 days": tb["purchases_365d"], "predicted CLV": tb["clv"],
        "95% CI low": tb["clv_low"], "95% CI high": tb["clv_high"]})
    money = ("mean repeat order value", "revenue to date", "predicted CLV", "95% CI low", "95% CI high")
    cap = tr("Customers by predicted CLV: discounted revenue expected over the next {months} months (BG/NBD x "
             "Gamma-Gamma, {rate:.0%} a month); the interval is the models' parameter uncertainty only",
             months=value.months, rate=value.monthly_discount_rate)
    return show_table(out, caption=cap, max_rows=max_rows, units={**({k: code for k in money} if code else {}),
                                                                  "P(alive)": "%"},
                      decimals={f"recency ({unit})": 1, f"age T ({unit})": 1, "mean repeat order value": 2,
                                "revenue to date": 0, "expected purchases, next 90 days": 2,
                                "expected purchases, next 365 days": 2, "predicted CLV": 0, "95% CI low": 0,
                                "95% CI high": 0})


def rfm_segment_table(segments, code: str | None):
    """:class:`~.segments.RFMSegments`: size and revenue share of each segment (best first)."""
    s = segments.summary()
    from .segments import segment_label

    out = pd.DataFrame({"segment": [segment_label(x) for x in s["segment"]], "customers": s["customers"],
                        "share of customers": s["customer_share"], "revenue, last 12 months": s["revenue_12m"],
                        "share of revenue": s["revenue_share"],
                        "days since last purchase (mean)": s["mean_recency_days"],
                        "purchases (mean)": s["mean_purchases"]})
    cap = tr("RFM segments on {date}: R and F quintile scores, the 10-segment R x F map; revenue of the 12 months "
             "to that date", date=format_date(segments.as_of))
    return show_table(out, caption=cap, units={"share of customers": "%", "share of revenue": "%",
                                               **({"revenue, last 12 months": code} if code else {})},
                      decimals={"revenue, last 12 months": 0, "days since last purchase (mean)": 0,
                                "purchases (mean)": 1})


def segment_migration_table(migration):
    """:class:`~.segments.SegmentMigration`: customers by segment at the earlier date (rows) and now (columns)."""
    from .segments import segment_label

    m = migration.matrix()
    m.index = [segment_label(x) for x in m.index]
    m.columns = [segment_label(x) for x in m.columns]
    m.index.name = tr("segment on {date}", date=format_date(migration.earlier))
    cap = tr("Customers by segment on {earlier} (rows) and on {later} (columns)",
             earlier=format_date(migration.earlier), later=format_date(migration.later))
    return show_table(m, caption=cap, decimals={c: 0 for c in m.columns})
