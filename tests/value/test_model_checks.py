"""Model checks before model results (issue 15): each check fails where its model visibly does not fit, the
fallback is the simpler estimate, and the cost notebook's first finding answers "is growth profitable?"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesops_kit import kpis, value
from salesops_kit.value import clv, costs, customers, sbg
from salesops_kit.value.costs import UnitEconomics

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


# --- sBG ----------------------------------------------------------------------------------------------------


def test_sbg_check_fails_when_the_survivors_fall_faster_than_the_early_quarters_imply():
    # hand-made: a cohort that loses 20% a quarter for 3 quarters, then half of what is left every quarter
    n = [1000, 800, 640, 512, 256, 128, 64]
    c = sbg.holdout_check(n)
    assert c.fitted_periods == 3 and not c.passed
    w = c.worst
    assert int(w["period"]) == 6 and w["observed"] == 64 and w["projected"] > 64 * (1 + c.tolerance)
    assert c.max_relative_error == pytest.approx(w["projected"] / 64 - 1)
    assert "failed" in c.headline() and "not used" in c.headline()


def test_sbg_check_needs_a_period_to_check():
    with pytest.raises(ValueError, match="at least 3 periods"):
        sbg.holdout_check([100, 80])


# --- Gamma-Gamma independence and the fallback ------------------------------------------------------------


def test_independence_fails_only_when_the_correlation_is_significant_and_strong():
    rng = np.random.default_rng(1)
    x = rng.integers(1, 10, 2000)
    dependent = 20 * x + rng.normal(0, 5, 2000)  # spend grows with frequency
    assert not clv.gamma_gamma_independence(x, dependent).passed
    independent = rng.gamma(5, 10, 2000)
    c = clv.gamma_gamma_independence(x, independent)
    assert c.passed and abs(c.spearman) < 0.1
    few = clv.gamma_gamma_independence([1, 2], [10.0, 20.0])
    assert not few.testable and few.passed and "too few" in few.headline()


def _orders_spend_rising_with_frequency():
    """Customers who buy more often also spend more per order (the Gamma-Gamma assumption fails)."""
    rng = np.random.default_rng(3)
    rows = []
    for c in range(400):
        k = int(rng.integers(1, 8))  # purchases
        days = np.sort(rng.choice(np.arange(0, 500), size=k, replace=False))
        for d in days:
            rows.append((f"c{c}", pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(d)), 30.0 * k + rng.normal(0, 3),
                         "A" if c % 2 else "B"))
    return pd.DataFrame(rows, columns=["customer_id", "order_date", "amount", "channel"])


def test_a_failed_independence_check_values_orders_at_the_channel_average():
    o = _orders_spend_rising_with_frequency()
    ltv, models = costs.predictive_ltv(o, as_of="2024-06-30", horizon_months=12)
    assert not models["spend_check"].passed and models["spend_model"] == "average_order_value"
    forced, m2 = costs.predictive_ltv(o, as_of="2024-06-30", horizon_months=12, spend_model="gamma_gamma")
    assert m2["spend_model"] == "gamma_gamma" and not np.allclose(ltv["ltv"], forced["ltv"])
    aov, m3 = costs.predictive_ltv(o, as_of="2024-06-30", horizon_months=12, spend_model="average_order_value")
    np.testing.assert_allclose(aov["ltv"], ltv["ltv"])  # "auto" chose the average, as the check said
    with pytest.raises(ValueError, match="spend_model"):
        costs.predictive_ltv(o, spend_model="median")


# --- the answer first ---------------------------------------------------------------------------------------


def _ue(rows, spend):
    cols = ["channel", "new_customers", "cac", "ltv", "ltv_cac", "ltv_cac_ci_low", "ltv_cac_ci_high",
            "payback_months", "monthly_margin"]
    t = pd.DataFrame(rows, columns=cols)
    t["spend"] = [spend[c] for c in t["channel"]]
    return UnitEconomics(t, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(),
                         (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-06-30")), 36, {})


def test_lead_answers_with_the_ratio_the_target_and_the_unrecovered_spend():
    # web: 10 customers at CAC 50, LTV 200 (4.0); fair: 10 customers at CAC 300, LTV 150 (0.5): 1,500 of its
    # 3,000 spend does not come back. The blended row is given as 1.4 (interval 1.2-1.6): profitable, below 3.
    rows = [("web", 10, 50.0, 200.0, 4.0, 3.5, 4.5, 2.0, 25.0),
            ("fair", 10, 300.0, 150.0, 0.5, 0.4, 0.6, 30.0, 10.0),
            ("all", 20, 175.0, 245.0, 1.4, 1.2, 1.6, 8.0, 22.0)]
    ue = _ue(rows, {"web": 500.0, "fair": 3000.0, "all": 3500.0})
    f = ue.findings(currency="EUR")
    lead = f[0]
    assert lead.lead and lead.kpi == "ltv_cac_ratio" and lead.segment == "all"
    assert lead.value == "1.40" and lead.benchmark == "3.00 (target)"
    assert lead.window == "customers acquired 2024-01 to 2024-06"
    assert lead.stake == pytest.approx(3000 - 10 * 150)  # fair's spend its customers do not pay back
    assert "below the 3:1 target" in lead.suggestion and "1,500 EUR of fair spend" in lead.suggestion
    fair = next(x for x in f if x.subject == "channel fair")
    assert fair.stake is None  # the lead already moves that money: counted once
    web = next(x for x in f if x.subject == "channel web")
    assert "the fastest of the channels" in web.evidence  # one event, one finding: no separate payback finding
    assert not any(x.metric == "CAC payback" for x in f)


@pytest.mark.parametrize("lo,hi,words", [(0.5, 0.9, "growth loses money"), (0.9, 1.3, "does not clearly pay back"),
                                         (2.5, 3.5, "in line with the 3:1 target"), (3.2, 4.0, "above the 3:1")])
def test_lead_decision_follows_the_interval(lo, hi, words):
    mid = (lo + hi) / 2
    rows = [(ch, 10, 100.0, 100 * mid, mid, lo, hi, 5.0, 20.0) for ch in ("web", "all")]
    ue = _ue(rows, {"web": 1000.0, "all": 1000.0})
    lead = ue.findings()[0]
    assert lead.lead and words in lead.suggestion


# --- the sample: the numbers a manager reads are the KPI table's -------------------------------------------


@pytest.fixture(scope="module")
def sample():
    import salesops_kit as sk

    return sk.open_dataset(SAMPLE, mapping="canonical")


def test_sample_lead_quotes_the_kpi_row_and_sbg_fails_its_check(sample):
    ue = costs.unit_economics(sample.orders, sample.marketing_spend, as_of=sample.as_of, n_boot=200)
    kt = kpis.kpi_frame(value.kpi_rows(sample, n_boot=200, unit_econ=ue))
    surv = customers.survivors_by_period(sample.orders, as_of=sample.as_of, period_months=3)
    check = sbg.holdout_check(surv["survivors"])
    assert not check.passed  # order data are not contractual: the later quarters fall below the projection
    ret = customers.retention_at(customers.cohort_retention(sample.orders, as_of=sample.as_of), months=(12,)).iloc[0]
    f = value.cost_findings(ue, survival=check, retention=ret, currency="USD")
    assert f[0].lead and ue.models["spend_model"] == "gamma_gamma"  # Spearman 0.05: weak, below 0.3
    for x in f:
        if not x.kpi:
            continue
        row = kt[(kt["kpi"] == x.kpi) & (kt["segment"] == x.segment)].iloc[0]
        shown = f"{row['value']:.1%}" if row["unit"] == "share" else f"{row['value']:.2f}"
        assert x.value == shown, (x.kpi, x.segment)
        assert x.window == row["window"], x.kpi
    sbg_finding = next(x for x in f if x.kpi == "retention_month_12")
    assert "not used" in sbg_finding.suggestion and f"{int(check.worst['observed']):,}" in sbg_finding.evidence


# --- the CAC-vs-LTV chart: labels never overlap -----------------------------------------------------------


def test_cac_vs_ltv_labels_do_not_overlap_on_a_crowded_chart():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from salesops_kit import plots

    # the sample's shape: five channels within a few units of each other, one far away
    t = pd.DataFrame({"channel": ["A", "B", "C", "D", "E", "far", "all"],
                      "cac": [96.9, 119.9, 83.2, 84.7, 30.4, 455.8, 123.5],
                      "ltv": [177.0, 172.7, 163.3, 165.3, 168.4, 172.4, 170.3]})
    t["ltv_ci_low"], t["ltv_ci_high"] = t["ltv"] - 10, t["ltv"] + 10
    t["ltv_cac"] = t["ltv"] / t["cac"]
    ax = plots.plot_cac_vs_ltv(t, currency="USD")
    from matplotlib.text import Text

    ax.figure.canvas.draw()
    r = ax.figure.canvas.get_renderer()
    boxes = {x.get_text(): Text.get_window_extent(x, r) for x in ax.texts}  # the text, not its leader line
    assert set(boxes) == {"A", "B", "C", "D", "E", "far", "blended"}
    names = sorted(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not boxes[a].overlaps(boxes[b]), (a, b)
    assert ax.get_xlabel().endswith("(USD)")
    plt.close("all")
