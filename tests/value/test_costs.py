"""costs.py: hand-computable CAC / LTV:CAC / payback / cost of sales, edge cases, KPI rows, planted truths."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from salesops_kit import kpis, value
from salesops_kit.value import costs

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


@pytest.fixture
def spend():
    return pd.DataFrame({
        "month": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01", "2024-02-01", "2024-02-01", "2024-03-01"]),
        "channel": ["Web", "Web", "Ads", "Ads", "Brand", "Web"],
        "spend": [60.0, 40.0, 50.0, 0.0, 30.0, 90.0],
        "cost_type": ["marketing", "sales", "marketing", "marketing", "marketing", "sales"],
    })


@pytest.fixture
def orders():
    return pd.DataFrame({
        "order_id": [f"o{i}" for i in range(8)],
        "customer_id": ["a", "a", "b", "b", "c", "d", "e", "f"],
        "order_date": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-01-05", "2024-02-10", "2024-01-03",
                                      "2024-01-04", "2024-02-15", "2024-03-02"]),
        "amount": [100.0, 50.0, 60.0, 40.0, 10.0, 10.0, 80.0, 20.0],
        "margin": [30.0, 10.0, 20.0, 20.0, -5.0, -5.0, 40.0, 5.0],
        "channel": ["Web", "Web", "Web", "Web", "Ads", "Ads", "Organic", "Web"],
    })


def test_cac_monthly_by_hand(spend, orders):
    t = costs.cac(spend, orders)
    w = t[(t["scope"] == "channel") & (t["channel"] == "Web")].set_index("period")
    # Web: Jan spend 100 (60 marketing + 40 sales), new a, b -> CAC 50; Feb no spend, no new -> NaN;
    # Mar spend 90 (sales), new f -> 90; trailing 3 months at Mar: 190 / 3
    jan, feb, mar = (pd.Timestamp(f"2024-0{m}-01") for m in (1, 2, 3))
    assert w.loc[jan, "cac"] == 50.0 and w.loc[jan, "marketing_spend"] == 60.0 and w.loc[jan, "sales_spend"] == 40.0
    assert np.isnan(w.loc[feb, "cac"]) and w.loc[feb, "cac_reason"] == "no spend and no new customers"
    assert w.loc[mar, "cac"] == 90.0
    assert w.loc[mar, "cac_3m"] == pytest.approx(190 / 3) and np.isnan(w.loc[feb, "cac_3m"])
    assert "fewer than 3" in w.loc[feb, "cac_3m_reason"]
    b = t[t["channel"] == "Brand"].set_index("period")
    assert np.isnan(b.loc[feb, "cac"]) and b.loc[feb, "cac_reason"] == "spend but no new customers"
    org = t[t["channel"] == "Organic"].set_index("period")
    assert org.loc[feb, "cac"] == 0.0 and "no spend" in org.loc[feb, "cac_reason"]
    bl = t[t["scope"] == "blended"].set_index("period")
    # blended Jan: 150 spend / 4 new (a, b, c, d); Feb: 30 / 1 (e)
    assert bl.loc[jan, "cac"] == 37.5 and bl.loc[feb, "cac"] == 30.0
    assert costs.cac(spend, orders, by=None)["scope"].unique().tolist() == ["blended"]


def test_cac_accepts_customer_table_and_quarters(spend, orders):
    cust = pd.DataFrame({"customer_id": ["a", "b"], "first_order": ["2024-01-01", "2024-02-01"],
                         "channel": ["Web", "Web"]})
    t = costs.cac(spend, cust, period="Q")
    w = t[(t["channel"] == "Web")]
    assert w["cac"].tolist() == [190 / 2]
    with pytest.raises(KeyError, match="customer table"):
        costs.cac(spend, pd.DataFrame({"x": [1]}))
    with pytest.raises(KeyError, match="marketing_spend"):
        costs.cac(spend.drop(columns="spend"), orders)


def test_cac_empty():
    e = costs.cac(pd.DataFrame({"month": [], "channel": [], "spend": []}),
                  pd.DataFrame({"customer_id": [], "order_date": pd.to_datetime([]), "amount": []}))
    assert e.empty and "cac" in e.columns


def test_unit_economics_fully_observed_by_hand(spend, orders):
    # horizon 2 months, as_of a year later: every LTV is observed margin (prediction adds nothing).
    u = costs.unit_economics(orders, spend, as_of="2025-03-31", horizon_months=2, monthly_discount_rate=0.0,
                             n_boot=200)
    t = u.table.set_index("channel")
    # Web: a 30+10, b 20+20 (Feb 10 is month 1), f 5 -> mean LTV 85/3; spend 100 + 90 -> CAC 190/3
    assert t.loc["Web", "ltv"] == pytest.approx(85 / 3)
    assert t.loc["Web", "cac"] == pytest.approx(190 / 3)
    assert t.loc["Web", "ltv_cac"] == pytest.approx(85 / 190)
    # payback = CAC / (12-month margin / 12) = (190/3) / (85/3/12) = 26.82...
    assert t.loc["Web", "payback_months"] == pytest.approx(190 / 3 / (85 / 3 / 12))
    assert t.loc["Web", "ltv_cac_ci_low"] <= t.loc["Web", "ltv_cac"] <= t.loc["Web", "ltv_cac_ci_high"]
    # Ads: negative margin -> negative ratio flagged, no payback, never a division error
    assert t.loc["Ads", "ltv"] == -5.0 and t.loc["Ads", "ltv_cac"] < 0
    assert t.loc["Ads", "ltv_cac_reason"] == "negative margin"
    assert np.isnan(t.loc["Ads", "payback_months"]) and "never pays back" in t.loc["Ads", "payback_reason"]
    # Brand: spend without customers; Organic: customers without spend
    assert np.isnan(t.loc["Brand", "cac"]) and t.loc["Brand", "ltv_cac_reason"] == "no new customers"
    assert t.loc["Organic", "cac"] == 0.0 and np.isnan(t.loc["Organic", "ltv_cac"])
    assert "undefined" in t.loc["Organic", "ltv_cac_reason"] and np.isnan(t.loc["Organic", "payback_months"])
    # blended: all spend 270 / 6 new customers
    assert t.loc["all", "cac"] == pytest.approx(45.0)
    # Web LTVs 40, 40, 5: every bootstrap mean <= 40 < CAC 63.3, so Web loses money too; Ads first (lowest)
    assert u.money_losing()["channel"].tolist() == ["Ads", "Web"]
    assert u.best_payback()["channel"] == "Web"


def test_cost_of_sales(spend, orders):
    c = costs.cost_of_sales(spend, orders).set_index("segment")
    # sales cost: Web 40 (Jan) + 90 (Mar) = 130; Web revenue 100+50+60+40+20 = 270
    assert c.loc["channel=Web", "cost_of_sales_ratio"] == pytest.approx(130 / 270)
    assert c.loc["all", "cost_of_sales_ratio"] == pytest.approx(130 / 370)
    assert np.isnan(c.loc["channel=Brand", "cost_of_sales_ratio"]) and c.loc["channel=Brand", "reason"]
    nc = costs.cost_of_sales(spend.drop(columns="cost_type"), orders)
    assert nc["cost_of_sales_ratio"].isna().all() and "cost_type" in nc["reason"].iloc[0]
    w = costs.cost_of_sales(spend, orders, start="2024-03-01", end="2024-03-31").set_index("segment")
    assert w.loc["channel=Web", "cost_of_sales_ratio"] == pytest.approx(90 / 20)


def test_inputs_not_mutated(spend, orders):
    s0, o0 = spend.copy(), orders.copy()
    costs.cac(spend, orders)
    costs.unit_economics(orders, spend, as_of="2025-03-31", horizon_months=2, n_boot=50)
    pd.testing.assert_frame_equal(spend, s0)
    pd.testing.assert_frame_equal(orders, o0)


def test_kpi_rows_missing_tables(orders):
    assert value.kpi_rows(SimpleNamespace(orders=None, marketing_spend=None, as_of=None)) == []
    names = {"repeat_purchase_rate", "retention_month_3", "retention_month_12", "clv_simple"}
    rows = value.kpi_rows(SimpleNamespace(orders=orders, marketing_spend=None, as_of=pd.Timestamp("2024-03-31")))
    assert names <= {r["kpi"] for r in rows}
    kpis.kpi_frame(rows)  # every name is registered


# --- the bundled sample company --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample():
    if not (SAMPLE / "orders.csv").exists():
        pytest.skip("data/sample not generated")
    import salesops_kit as sk

    return sk.load_dataset(SAMPLE, mapping="canonical")


@pytest.fixture(scope="module")
def sample_ue(sample):
    return costs.unit_economics(sample.orders, sample.marketing_spend, as_of=sample.as_of, n_boot=400)


def test_sample_bgnbd_intervals_contain_generator_parameters(sample_ue):
    from salesops_kit.data.synth import PLANTED

    bg = sample_ue.models["bgnbd"]
    assert bg.converged
    truth = PLANTED["bg_nbd"]  # weekly purchase process; rfm_summary in weeks
    for k in ("r", "alpha", "a", "b"):
        assert bg.ci_low[k] <= truth[k] <= bg.ci_high[k], (k, bg.ci_low[k], bg.ci_high[k], truth[k])
    gg = sample_ue.models["gamma_gamma"]
    for k in ("p", "q", "gamma"):
        assert gg.ci_low[k] <= PLANTED["gamma_gamma"][k] <= gg.ci_high[k], k


def test_sample_money_losing_and_best_channels_found_by_analysis(sample_ue):
    from salesops_kit.data.synth import PLANTED

    econ = PLANTED["channel_economics"]
    losing = sample_ue.money_losing()["channel"].tolist()
    assert losing == [econ["money_losing_channel"]]
    t = sample_ue.table[sample_ue.table["channel"] != "all"]
    above3 = t[t["ltv_cac_ci_low"] > 3]["channel"].tolist()
    assert above3 == [econ["ltv_cac_above_3_channel"]]
    # the same channel pays back fastest; findings name both planted channels
    assert sample_ue.best_payback()["channel"] == econ["ltv_cac_above_3_channel"]
    text = " ".join(sample_ue.findings().to_frame()["text"])
    assert econ["money_losing_channel"] in text and econ["ltv_cac_above_3_channel"] in text


def test_sample_kpi_rows_registered(sample):
    k = kpis.kpi_frame(value.kpi_rows(sample, n_boot=200))
    need = {"new_customers", "cac", "clv_simple", "clv_predictive_mean", "ltv_cac_ratio", "cac_payback_months",
            "repeat_purchase_rate", "retention_month_3", "retention_month_12", "cost_of_sales_ratio"}
    # the per-customer value and RFM KPIs (issue 18) describe the whole customer base: segment all only
    whole = {"customer_value_next_12m", "customer_value_top_decile_share", "customers_at_risk",
             "rfm_champions_revenue_share"}
    assert need | whole == set(k["kpi"])
    assert set(k.loc[k["kpi"].isin(whole), "segment"]) == {"all"}
    for name in need:
        segs = set(k.loc[k["kpi"] == name, "segment"])
        assert "all" in segs and any(s.startswith("channel=") for s in segs), name
    rates = k[k["unit"] == "share"]
    assert rates["value"].between(0, 1).all()


# --- plots (Agg backend; assertions on the returned Axes) -------------------------------------------------


def test_plots_return_axes(spend, orders):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from salesops_kit import plots
    from salesops_kit.value import clv, customers, sbg

    u = costs.unit_economics(orders, spend, as_of="2025-03-31", horizon_months=2, n_boot=50)
    ax = plots.plot_cac_vs_ltv(u.table)
    labels = {t.get_text() for t in ax.texts}
    assert {"Web", "Ads", "blended"} <= labels and len(ax.collections) >= 2
    assert u.plot().get_title().startswith("CAC vs LTV")
    cr = customers.cohort_retention(orders, as_of="2024-04-30")
    ax = plots.plot_retention_heatmap(cr)
    assert ax.images and ax.get_xlabel() == "months since acquisition month"
    assert cr.plot().images
    ax = plots.plot_cac_trend(costs.cac(spend, orders), column="cac")
    drawable = costs.cac(spend, orders).groupby(["scope", "channel"])["cac"].apply(lambda v: v.notna().any())
    assert len(ax.lines) == int(drawable.sum()) < len(drawable)  # a channel without any CAC value draws no line
    sim = clv.simulate_bgnbd_gg(500, r=0.5, alpha=5, a=0.8, b=2.5, seed=2)
    fit = clv.fit_bgnbd(sim["frequency"], sim["recency"], sim["T"])
    ax = plots.plot_p_alive_matrix(fit, rfm=sim)
    arr = ax.images[0].get_array()
    assert arr.min() >= 0 and arr.max() <= 1 and arr[0].min() == 1.0  # frequency 0 -> alive
    bins = pd.DataFrame({"frequency_bin": ["0", "1+"], "customers": [3, 2], "actual_mean": [0.2, 1.0],
                         "predicted_mean": [0.25, 0.9], "abs_error": [0.05, 0.1]})
    ax = plots.plot_holdout_calibration(bins)
    assert [ln.get_label() for ln in ax.lines] == ["actual", "BG/NBD prediction"]
    f = sbg.fit_sbg([1000, 700, 560, 480, 420])
    ax = plots.plot_survival(f.project(8, initial=1000, observed=[1000, 700, 560, 480, 420]), fitted_periods=4)
    assert len(ax.lines) == 3
    # empty inputs draw a titled empty chart instead of failing
    assert "no" in plots.plot_cac_vs_ltv(u.table.iloc[0:0]).get_title()
    assert "no" in plots.plot_retention_heatmap(customers.cohort_retention(orders.iloc[0:0])).get_title()
    plt.close("all")


def test_engine_parity(spend, orders):
    import duckdb
    import polars as pl

    ref = costs.unit_economics(orders, spend, as_of="2025-03-31", horizon_months=2, n_boot=50)
    ref_cac = costs.cac(spend, orders)
    for name, o in {"polars": pl.from_pandas(orders), "lazy": pl.from_pandas(orders).lazy(),
                    "duckdb": duckdb.sql("select * from orders")}.items():
        got = costs.unit_economics(o, spend, as_of="2025-03-31", horizon_months=2, n_boot=50)
        pd.testing.assert_frame_equal(got.table, ref.table, check_dtype=False, obj=name)
        pd.testing.assert_frame_equal(costs.cac(spend, o), ref_cac, check_dtype=False, obj=name)


@pytest.mark.parametrize("unit", ["us", "ms", "date"])
def test_new_customers_on_polars_by_first_order_keys_match_pandas(unit):
    """Polars counts acquisitions from one integer key per order (first order time, then the smallest channel):
    ties at the first time, missing channels, a channel named "(none)", dates before 1970 and after the as-of
    date give pandas' counts; order dates in nanoseconds (which microseconds could tie) take the join instead."""
    import polars as pl

    o = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", "c", "d", "d", "e", "f", "g"],
        "order_date": pd.to_datetime(["2024-01-05 10:00", "2024-01-05 10:00", "2024-01-02", "2024-02-01",
                                      "2024-02-01", "1969-07-20", "2024-03-01", "2024-01-31", "2024-02-03",
                                      "2026-01-01", "2024-03-05"], format="ISO8601"),
        "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, None],
        "channel": ["Web", "Ads", "Web", None, "Zeta", "Ads", "Web", None, "(none)", "Web", "Ads"]})
    if unit == "date":
        o["order_date"] = o["order_date"].dt.normalize()
    ref = costs.new_customers(o, as_of="2025-12-31")
    frame = pl.from_pandas(o).with_columns(pl.col("order_date").cast(pl.Date if unit == "date" else pl.Datetime(unit)))
    names = frame.columns
    assert costs._first_order_keys(frame.lazy(), names, pd.Timestamp("2025-12-31")) is not None  # the key path
    got = costs.new_customers(frame.lazy(), as_of="2025-12-31")
    pd.testing.assert_frame_equal(got, ref, check_dtype=False)
    # by hand: a (2024-01-02 Web), b (2024-02-01: Zeta, the missing channel ranks last), c (1969 Ads), d (Jan, none),
    # e ("(none)" counts with the missing ones); f after the as-of date, g without an amount
    assert got.set_index(["period", "channel"])["new_customers"].to_dict() == {
        (pd.Timestamp("1969-07-01"), "Ads"): 1, (pd.Timestamp("2024-01-01"), "(none)"): 1,
        (pd.Timestamp("2024-01-01"), "Web"): 1, (pd.Timestamp("2024-02-01"), "(none)"): 1,
        (pd.Timestamp("2024-02-01"), "Zeta"): 1}
    ns = pl.from_pandas(o).with_columns(pl.col("order_date").cast(pl.Datetime("ns")))
    assert costs._first_order_keys(ns.lazy(), names, None) is None


def test_kpi_rows_on_lazy_tables(spend, orders):
    import polars as pl

    ds_pd = SimpleNamespace(orders=orders, marketing_spend=spend, as_of=pd.Timestamp("2025-03-31"))
    ds_pl = SimpleNamespace(orders=pl.from_pandas(orders).lazy(), marketing_spend=pl.from_pandas(spend).lazy(),
                            as_of=pd.Timestamp("2025-03-31"))
    a = kpis.kpi_frame(value.kpi_rows(ds_pd, n_boot=50))
    b = kpis.kpi_frame(value.kpi_rows(ds_pl, n_boot=50))
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    assert value.kpi_rows(SimpleNamespace(orders=orders.iloc[0:0], marketing_spend=spend, as_of=None)) == []


def test_kpi_rows_reuse_a_matching_unit_economics_and_recompute_otherwise(sample, sample_ue):
    """Notebook 02 hands its unit economics to kpi_rows: used only when made with the same arguments. The
    fixture's fit used 400 resamples, so kpi_rows(n_boot=400) may reuse it and must give what it computes
    itself; kpi_rows(n_boot=1000) must not take it (its intervals would be those of 400 resamples)."""
    own = pd.DataFrame(value.kpi_rows(sample, n_boot=400))
    pd.testing.assert_frame_equal(pd.DataFrame(value.kpi_rows(sample, n_boot=400, unit_econ=sample_ue)), own)
    default = pd.DataFrame(value.kpi_rows(sample))
    pd.testing.assert_frame_equal(pd.DataFrame(value.kpi_rows(sample, unit_econ=sample_ue)), default)
    assert not default.equals(own)  # 400 vs 1000 resamples: the reused fit would have shown
