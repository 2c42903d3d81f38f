"""customers.py on tiny hand-computable frames, engine parity (pandas / polars / lazy / duckdb)."""

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from salesops_kit.value import customers


@pytest.fixture
def orders():
    # customer a: 2024-01-01 (two orders that day: 10 + 20), 2024-01-15 (40), 2024-03-01 (60)
    # customer b: 2024-01-29 (5) only; customer c: 2024-02-05 (7), 2024-04-02 (9) (c's second order is in holdout)
    return pd.DataFrame({
        "order_id": ["o1", "o2", "o3", "o4", "o5", "o6", "o7"],
        "customer_id": ["a", "a", "a", "a", "b", "c", "c"],
        "order_date": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 17:00", "2024-01-15", "2024-03-01",
                                      "2024-01-29", "2024-02-05", "2024-04-02"], format="ISO8601"),
        "amount": [10.0, 20.0, 40.0, 60.0, 5.0, 7.0, 9.0],
        "margin": [3.0, 6.0, 12.0, 18.0, 1.0, -2.0, -3.0],
        "channel": ["Web", "Web", "Web", "Web", "Ads", "Ads", "Ads"],
    })


def _engines(df):
    return {"pandas": df, "polars": pl.from_pandas(df), "lazy": pl.from_pandas(df).lazy(),
            "duckdb": duckdb.sql("select * from df")}


def test_rfm_summary_by_hand(orders):
    r = customers.rfm_summary(orders, calibration_end="2024-03-03", freq="D").set_index("customer_id")
    # a: purchase days 01-01, 01-15, 03-01 -> frequency 2, recency 60 days, T = 03-03 - 01-01 = 62 days,
    #    monetary value = mean(40, 60) = 50 (the first day's 30 is excluded)
    assert r.loc["a", ["frequency", "recency", "T", "monetary_value"]].tolist() == [2, 60.0, 62.0, 50.0]
    # b: one purchase -> 0, 0, T = 03-03 - 01-29 = 34 days, monetary 0
    assert r.loc["b", ["frequency", "recency", "T", "monetary_value"]].tolist() == [0, 0.0, 34.0, 0.0]
    assert r.loc["c", "frequency"] == 0 and r.loc["c", "T"] == 27.0
    w = customers.rfm_summary(orders, calibration_end="2024-03-03", freq="W").set_index("customer_id")
    assert w.loc["a", "recency"] == pytest.approx(60 / 7) and w.loc["a", "T"] == pytest.approx(62 / 7)
    m = customers.rfm_summary(orders, calibration_end="2024-03-03", freq="M").set_index("customer_id")
    assert m.loc["a", "T"] == pytest.approx(62 / 30.4375)


def test_rfm_holdout_by_hand(orders):
    r = customers.rfm_summary(orders, calibration_end="2024-01-31", holdout_end="2024-04-30", freq="D")
    r = r.set_index("customer_id")
    # calibration to 01-31: a (01-01, 01-15), b (01-29); c first buys in holdout -> not a calibration customer
    assert list(r.index) == ["a", "b"]
    assert r.loc["a", "frequency"] == 1 and r.loc["a", "frequency_holdout"] == 1  # 03-01
    assert r.loc["a", "monetary_value_holdout"] == 60.0
    assert r.loc["b", "frequency_holdout"] == 0
    assert (r["duration_holdout"] == 90.0).all()  # 01-31 -> 04-30
    with pytest.raises(ValueError, match="after calibration_end"):
        customers.rfm_summary(orders, calibration_end="2024-03-01", holdout_end="2024-02-01")


def test_rfm_engine_parity(orders):
    ref = customers.rfm_summary(orders, calibration_end="2024-02-20", holdout_end="2024-04-30")
    for name, nat in _engines(orders).items():
        got = customers.rfm_summary(nat, calibration_end="2024-02-20", holdout_end="2024-04-30")
        pd.testing.assert_frame_equal(got, ref, check_dtype=False, obj=name)


def test_rfm_empty_and_missing_column(orders):
    e = customers.rfm_summary(orders.iloc[0:0])
    assert e.empty and "frequency" in e.columns
    with pytest.raises(KeyError, match="amount"):
        customers.rfm_summary(orders.drop(columns="amount"))


def test_inputs_not_mutated(orders):
    before = orders.copy()
    customers.rfm_summary(orders, holdout_end=None)
    customers.cohort_retention(orders, as_of="2024-04-30")
    customers.simple_clv(orders, as_of="2024-04-30")
    pd.testing.assert_frame_equal(orders, before)


def test_customer_table(orders):
    c = customers.customer_table(orders).set_index("customer_id")
    assert c.loc["a", "orders"] == 4 and c.loc["a", "revenue"] == 130.0 and c.loc["a", "margin"] == 39.0
    assert c.loc["c", "channel"] == "Ads" and c.loc["c", "cohort_month"] == pd.Timestamp("2024-02-01")
    c2 = customers.customer_table(orders.drop(columns=["channel", "margin"]))
    assert (c2["channel"] == "(none)").all() and c2["margin"].isna().all()
    for name, nat in _engines(orders).items():
        pd.testing.assert_frame_equal(customers.customer_table(nat), customers.customer_table(orders),
                                      check_dtype=False, obj=name)


def test_repeat_purchase_rate_window(orders):
    # window Jan 2024: a has 3 orders (o1, o2, o3), b has 1 -> 1 of 2 customers repeat
    r = customers.repeat_purchase_rate(orders, window_start="2024-01-01", window_end="2024-01-31")
    assert r["customers"].tolist() == [2] and r["repeat_customers"].tolist() == [1]
    assert r["repeat_purchase_rate"].iloc[0] == 0.5 and r["ci_low"].iloc[0] < 0.5 < r["ci_high"].iloc[0]
    # whole data by channel: Ads b (1 order), c (2 orders) -> 1/2; Web a -> 1/1
    g = customers.repeat_purchase_rate(orders, by="channel").set_index("segment")
    assert g.loc["channel=Ads", "repeat_purchase_rate"] == 0.5 and g.loc["channel=Web", "repeat_purchase_rate"] == 1.0
    for name, nat in _engines(orders).items():
        pd.testing.assert_frame_equal(customers.repeat_purchase_rate(nat, by="channel"), g.reset_index(), obj=name)


def test_cohort_retention_by_hand(orders):
    cr = customers.cohort_retention(orders, as_of="2024-04-30")
    t = cr.table.set_index(["cohort_month", "month"])
    jan, feb = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")
    # January cohort {a, b}: month 0 both, month 1 nobody, month 2 a (03-01), month 3 nobody
    assert t.loc[(jan, 0), "cohort_size"] == 2
    assert [t.loc[(jan, m), "retention"] for m in range(4)] == [1.0, 0.0, 0.5, 0.0]
    # February cohort {c}: month 2 (April) c
    assert t.loc[(feb, 2), "retention"] == 1.0
    # revenue per customer by cohort: January month 0 = (10 + 20 + 40 + 5) / 2
    assert t.loc[(jan, 0), "revenue_per_customer"] == 37.5
    assert t.loc[(jan, 2), "cumulative_revenue_per_customer"] == 67.5
    assert t["complete"].all()  # as_of is a month end
    m = cr.matrix()
    assert m.shape == (2, 4) and np.isnan(m.loc[feb, 3])  # Feb + 3 months = May, after as_of
    r3 = customers.retention_at(cr, months=(2, 3)).set_index("month")
    # month 2 pooled over Jan (1 of 2) and Feb (1 of 1) = 2/3; month 3 only Jan: 0/2
    assert r3.loc[2, "retention"] == pytest.approx(2 / 3) and r3.loc[3, "retention"] == 0.0
    assert r3.loc[3, "cohorts"] == 1


def test_cohort_retention_partial_month_and_parity(orders):
    cr = customers.cohort_retention(orders, as_of="2024-04-15")
    t = cr.table
    assert not t.loc[(t["cohort_month"] == "2024-01-01") & (t["month"] == 3), "complete"].iloc[0]
    r = customers.retention_at(cr, months=(3,))
    assert r["cohorts"].iloc[0] == 0 and np.isnan(r["retention"].iloc[0])
    for name, nat in _engines(orders).items():
        got = customers.cohort_retention(nat, as_of="2024-04-30", by="channel").table
        ref = customers.cohort_retention(orders, as_of="2024-04-30", by="channel").table
        pd.testing.assert_frame_equal(got, ref, check_dtype=False, obj=name)
    assert customers.cohort_retention(orders.iloc[0:0]).table.empty


def test_churn_by_hand():
    o = pd.DataFrame({"customer_id": ["a", "a", "b", "c", "d"],
                      "order_date": pd.to_datetime(["2023-03-01", "2024-03-01", "2023-05-01", "2023-06-01",
                                                    "2024-02-01"]),
                      "channel": ["X", "X", "Y", "X", "Y"]})
    # as_of 2024-06-30, window 12: previous window (2022-06-30, 2023-06-30] -> a, b, c active;
    # a ordered again in the last window, b and c did not -> churn 2/3, lifespan 1 / (2/3) = 1.5 years
    c = customers.churn(o, as_of="2024-06-30")
    assert c["active_customers"].iloc[0] == 3 and c["churned"].iloc[0] == 2
    assert c["expected_lifespan_years"].iloc[0] == pytest.approx(1.5)
    by = customers.churn(o, as_of="2024-06-30", by="channel").set_index("segment")
    assert by.loc["channel=X", "churn_rate"] == 0.5 and by.loc["channel=Y", "churn_rate"] == 1.0
    none = customers.churn(o, as_of="2030-01-01")
    assert none["active_customers"].iloc[0] == 0 and np.isnan(none["churn_rate"].iloc[0]) and none["reason"].iloc[0]


def test_simple_clv_inputs_by_hand():
    o = pd.DataFrame({"customer_id": ["a", "a", "b", "c", "a", "b"],
                      "order_date": pd.to_datetime(["2023-03-01", "2023-04-01", "2023-05-01", "2023-06-01",
                                                    "2024-03-01", "2024-04-01"]),
                      "amount": [10.0, 10.0, 10.0, 10.0, 100.0, 50.0], "margin": [0, 0, 0, 0, 30.0, 15.0]})
    s = customers.simple_clv(o, as_of="2024-06-30")
    r = s.table.iloc[0]
    # last 12 months: a (100), b (50): AOV 75, purchases/year 2 orders / 2 customers = 1;
    # churn: a, b, c active before, c lost -> 1/3, lifespan 3 years; margin 45/150 = 0.3
    # CLV = 75 × 1 × 3 × 0.3 = 67.5
    assert r["average_order_value"] == 75.0 and r["purchases_per_year"] == 1.0
    assert r["expected_lifespan_years"] == pytest.approx(3.0) and r["margin_rate"] == pytest.approx(0.3)
    assert r["clv"] == pytest.approx(67.5)
    assert set(s.inputs["input"]) == {"average_order_value", "purchases_per_year", "expected_lifespan_years",
                                      "margin_rate", "clv"}
    assert s.inputs["how"].str.len().min() > 5


def test_simple_clv_negative_margin_and_no_margin(orders):
    s = customers.simple_clv(orders.assign(margin=-1.0), as_of="2024-04-30", window_months=2)
    assert s.table["clv"].iloc[0] < 0
    assert "negative margin" in s.table["reason"].iloc[0]
    s2 = customers.simple_clv(orders.drop(columns="margin"), as_of="2024-04-30")
    assert s2.table["margin_rate"].iloc[0] == 1.0
    assert "revenue CLV" in s2.inputs.set_index("input").loc["margin_rate", "how"]


def test_survivors_by_period_by_hand():
    o = pd.DataFrame({"customer_id": ["a", "a", "b", "c", "c"],
                      "order_date": pd.to_datetime(["2024-01-01", "2024-05-01", "2024-01-10", "2024-01-20",
                                                    "2024-02-10"])})
    # periods of 3 months (91.3 days); as_of 2024-09-30 -> every customer has 2 full periods.
    # a: last order 121 days after first -> period 1; b: period 0; c: 21 days -> period 0
    s = customers.survivors_by_period(o, as_of="2024-09-30", period_months=3, periods=2)
    assert s["survivors"].tolist() == [3, 1, 0] and (s["customers"] == 3).all()
    from salesops_kit.value import sbg

    with pytest.raises(ValueError):
        sbg.fit_sbg([3, 3, 3])  # nobody lost: not identified
