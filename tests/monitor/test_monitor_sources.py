"""Where the revenue comes from (issue 18, part 6): revenue and win rate by product, region and account size, the
Pareto view and won revenue by month against a year earlier, on a hand-made export whose numbers are counted in the
comments; the sections that the data cannot support say so in one sentence; on the sample company the planted
concentration (most order revenue from one product) is found and nothing else is flagged."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from salesops_kit import load_dataset, monitor, plots
from salesops_kit.data import synth
from salesops_kit.kpis import kpi_frame
from salesops_kit.monitor._kpis import source_rows
from salesops_kit.monitor.sources import SOURCE_COLUMNS, share_interval

matplotlib.use("Agg")

MAPPING = {"name": "t", "tables": {"opportunities": {"file": "opportunities.csv"}, "orders": {"file": "orders.csv"}},
           "stages": {"order": ["Prospecting"], "won": ["Closed Won"], "lost": ["Closed Lost"]}}
AS_OF = "2025-12-15"  # window: the 12 months December 2024 - November 2025; December 2025 is still running
# id, stage, close date, amount, product, region, account
DEALS = [
    ("d1", "Closed Won", "2025-03-03", 100, "A", "N", "acc1"),
    ("d2", "Closed Won", "2025-03-04", 200, "A", "N", "acc1"),
    ("d3", "Closed Won", "2025-03-05", 300, "A", "S", "acc2"),
    ("d4", "Closed Lost", "2025-03-06", 50, "A", "S", "acc3"),
    ("d5", "Closed Won", "2025-03-07", 400, "B", "N", "acc3"),
    ("d6", "Closed Lost", "2025-03-08", 60, "B", "N", "acc3"),
    ("d7", "Closed Lost", "2025-03-09", 70, "B", "S", "acc3"),
    ("d8", "Closed Lost", "2025-03-10", 80, "B", "S", "acc3"),
    ("d0", "Closed Lost", "2023-06-01", 10, "A", "N", "acc1"),   # before both windows: acc1 has 3 deals
    ("d9", "Closed Won", "2024-03-10", 500, "A", "N", "acc4"),   # the year before the window
    ("d10", "Closed Won", "2025-12-05", 50, "A", "N", "acc5"),   # the running month
    ("d11", "Prospecting", "2026-01-31", 90, "A", "N", "acc6"),  # open: no win rate, no revenue
]
# in the window: A 3 won of 4 (600), B 1 of 4 (400); N 3 of 4 (700), S 1 of 4 (300); won revenue 1,000
# account size (deals up to as-of): acc1 3 deals -> 2-3 (2 closed, 2 won, 300), acc2 1 -> 1 deal (1, 1, 300),
# acc3 5 -> 4-9 (5 closed, 1 won, 400); accounts' won revenue 400, 300, 300
ORDERS = [("o1", "c1", "2025-02-01", 10, "X"), ("o2", "c1", "2025-05-01", 20, "X"), ("o3", "c2", "2025-06-01", 30, "X"),
          ("o4", "c3", "2025-07-01", 40, "Y"), ("o5", "c4", "2024-07-01", 99, "Y")]  # o5 before the window


def _write(folder, deals=DEALS, orders=ORDERS, drop=()):
    d = pd.DataFrame(deals, columns=["opportunity_id", "stage", "close_date", "amount", "product", "region",
                                     "account_id"])
    d["created_date"] = (pd.to_datetime(d["close_date"]) - pd.Timedelta(days=20)).dt.strftime("%Y-%m-%d")
    d["owner"] = "ann"
    d["currency"] = "USD"
    d.drop(columns=list(drop)).to_csv(folder / "opportunities.csv", index=False)
    if orders is not None:
        pd.DataFrame(orders, columns=["order_id", "customer_id", "order_date", "amount", "product"]).to_csv(
            folder / "orders.csv", index=False)
    m = MAPPING if orders is not None else {**MAPPING, "tables": {"opportunities": MAPPING["tables"]["opportunities"]}}
    return m


def _load(tmp_path, engine="pandas", **kw):
    m = _write(tmp_path, **kw)
    return load_dataset(tmp_path, mapping=m, as_of=AS_OF, engine=engine)


@pytest.fixture(scope="module")
def rs(tmp_path_factory):  # three accounts and three customers: a Pareto view from three (the default needs five)
    return monitor.revenue_sources(_load(tmp_path_factory.mktemp("src")), min_entities=3)


def _row(rs, source, dimension, level):
    t = rs.table
    r = t[(t["source"] == source) & (t["dimension"] == dimension) & (t["level"] == level)]
    assert len(r) == 1, (source, dimension, level)
    return r.iloc[0]


def test_window_is_the_twelve_complete_months_to_the_last_complete_month(rs):
    assert (rs.start, rs.end) == (pd.Timestamp("2024-12-01"), pd.Timestamp("2025-11-01"))
    assert rs.window == "12 months to November 2025"


def test_win_rates_shares_and_intervals_by_hand(rs):
    from statsmodels.stats.proportion import proportion_confint

    a, b = _row(rs, "deals", "product", "A"), _row(rs, "deals", "product", "B")
    assert (a["closed"], a["won"], a["revenue"]) == (4, 3, 600)
    assert (b["closed"], b["won"], b["revenue"]) == (4, 1, 400)
    assert a["win_rate"] == 0.75 and b["win_rate"] == 0.25
    lo, hi = proportion_confint(3, 4, method="wilson")
    assert a["ci_low"] == pytest.approx(lo) and a["ci_high"] == pytest.approx(hi)
    # share of won revenue 600 / 1,000; delta-method SE = sqrt(0.4² (100² + 200² + 300²) + 0.6² 400²) / 1,000
    se = math.sqrt(0.16 * 140_000 + 0.36 * 160_000) / 1000
    assert a["share"] == pytest.approx(0.6)
    assert a["share_low"] == pytest.approx(0.6 - 1.959964 * se, abs=1e-6)
    assert a["p_share"] == pytest.approx(st.norm.sf(0.1 / se))
    n_, s_ = _row(rs, "deals", "region", "N"), _row(rs, "deals", "region", "S")
    assert (n_["won"], n_["revenue"], s_["won"], s_["revenue"]) == (3, 700, 1, 300)


def test_two_levels_are_one_fisher_test_told_by_the_level_that_wins_less(rs):
    a, b = _row(rs, "deals", "product", "A"), _row(rs, "deals", "product", "B")
    assert np.isnan(a["p_win"])
    assert b["p_win"] == pytest.approx(st.fisher_exact([[1, 3], [3, 1]]).pvalue)  # 0.486
    assert b["rest_rate"] == 0.75


def test_account_size_bands_count_every_deal_of_the_account_up_to_as_of(rs):
    got = rs.rows("deals", "account_size").set_index("level")[["closed", "won", "revenue"]]
    assert got.to_dict("index") == {"1 deal": {"closed": 1, "won": 1, "revenue": 300},
                                    "2–3 deals": {"closed": 2, "won": 2, "revenue": 300},
                                    "4–9 deals": {"closed": 5, "won": 1, "revenue": 400}}
    assert rs.rows("deals", "account_size")["p_share"].isna().all()  # the kit's bins: no majority test
    assert list(monitor.size_band([1, 2, 3, 4, 9, 10, 250, 0])) == [
        "1 deal", "2–3 deals", "2–3 deals", "4–9 deals", "4–9 deals", "10+ deals", "10+ deals", None]


def test_one_false_discovery_family_over_every_test(rs):
    t = rs.table
    p = np.concatenate([t["p_win"].dropna(), t["p_share"].dropna(), [rs.yoy["p_value"]]])
    q = st.false_discovery_control(p, method="bh")
    assert rs.n_tests == len(p)
    assert sorted(np.concatenate([t["q_win"].dropna(), t["q_share"].dropna(), [rs.yoy["q_value"]]])) == \
        pytest.approx(sorted(q))


def test_pareto_top_20_percent_by_hand(rs):
    # accounts 400, 300, 300: the curve passes (1/3, 0.4), so at 20% it reads 0.4 x 0.2 / (1/3) = 0.24
    assert rs.top["accounts"] == (pytest.approx(0.24), 3)
    # customers in the window: c1 30, c2 30, c3 40 (o5 is before it): 0.4 x 0.6 = 0.24
    assert rs.top["customers"] == (pytest.approx(0.24), 3)
    assert monitor.top_share([5, 4, 3, 2, 1]) == pytest.approx(5 / 15)  # five: exactly the top one
    assert math.isnan(monitor.top_share([0, 0]))


def test_months_against_a_year_earlier_and_the_running_month_partial(rs):
    m = rs.months.set_index("month")
    assert len(m) == 13 and m["partial"].sum() == 1 and m.loc["2025-12-01", "partial"]
    assert m.loc["2025-03-01", "revenue"] == 1000 and m.loc["2025-03-01", "base"] == 500
    assert m.loc["2025-12-01", "revenue"] == 50
    y = rs.yoy  # 1,000 against 500; log-ratio SE = sqrt(300,000 / 1,000² + 500² / 500²)
    se = math.sqrt(0.3 + 1.0)
    assert (y["current"], y["base"], y["growth"]) == (1000, 500, 1.0)
    assert y["ci_low"] == pytest.approx(2 * math.exp(-1.959964 * se) - 1, abs=1e-5)
    assert y["p_value"] == pytest.approx(2 * st.norm.sf(math.log(2) / se))


def test_orders_by_product(rs):
    x = _row(rs, "orders", "product", "X")
    assert (x["closed"], x["revenue"], x["share"]) == (3, 60, pytest.approx(0.6))
    assert np.isnan(x["win_rate"])


def test_nothing_significant_on_few_deals_makes_no_finding(rs):
    f = rs.findings()
    assert len(f) == 0
    assert "tests" in f.empty


def test_kpi_rows_by_hand(rs):
    k = kpi_frame(source_rows(rs)).set_index(["kpi", "segment"])
    assert k.loc[("won_revenue_share", "product=A"), "value"] == pytest.approx(0.6)
    assert k.loc[("order_revenue_share", "product=Y"), "value"] == pytest.approx(0.4)
    assert k.loc[("top20_account_revenue_share", "all"), "value"] == pytest.approx(0.24)
    assert k.loc[("won_revenue_growth_yoy", "all"), "value"] == pytest.approx(1.0)
    assert (k["window"] == "12 months to November 2025").all()


def test_a_real_difference_is_flagged_and_equal_numbers_never_are(tmp_path):
    rows = [(f"a{i}", "Closed Won" if i < 45 else "Closed Lost", "2025-04-01", 100, "A", "N", f"x{i}")
            for i in range(50)]
    rows += [(f"b{i}", "Closed Won" if i < 10 else "Closed Lost", "2025-04-01", 100, "B", "N", f"y{i}")
             for i in range(50)]
    rs = monitor.revenue_sources(_load(tmp_path, deals=rows, orders=None))
    f = [x for x in rs.findings() if x.metric == "win rate"]
    assert [x.subject for x in f] == ["product=B"]  # 20% vs 90%: one test, told by the level that wins less
    assert f[0].q_value < 0.05 and f[0].value == "20.0%" and f[0].stake == pytest.approx(0.7 * 50 * 100)
    # the region has one level, and every amount is equal: no test, no finding
    assert rs.rows("deals", "region")["p_win"].isna().all()
    same = [(f"s{i}", "Closed Won" if i % 2 else "Closed Lost", "2025-04-01", 100, "AB"[i % 4 // 2], "N", f"z{i}")
            for i in range(200)]
    (tmp_path / "same").mkdir()
    rs2 = monitor.revenue_sources(_load(tmp_path / "same", deals=same, orders=None))
    assert rs2.table["p_win"].isna().all() and rs2.table["p_share"].isna().all()
    assert len(rs2.findings()) == 0


def test_a_product_carrying_most_revenue_is_one_finding_with_its_stake(tmp_path):
    orders = [(f"o{i}", f"c{i % 40}", "2025-05-01", 50 + i % 7, "Core" if i % 10 < 7 else "Other") for i in range(400)]
    rs = monitor.revenue_sources(_load(tmp_path, orders=orders))
    f = [x for x in rs.findings() if x.kpi == "order_revenue_share"]
    assert [x.subject for x in f] == ["product=Core"]
    core = _row(rs, "orders", "product", "Core")
    assert f[0].stake == pytest.approx(core["revenue"]) and f[0].value == f"{core['share']:.0%}"


@pytest.mark.parametrize("drop, section", [(("product",), "product"), (("region",), "region"),
                                           (("account_id",), "account_size")])
def test_a_missing_column_is_one_sentence_and_no_rows(tmp_path, drop, section):
    rs = monitor.revenue_sources(_load(tmp_path, drop=drop), min_entities=3)
    assert section in rs.reasons and rs.reasons[section].count(". ") == 0 and rs.reasons[section].endswith(".")
    assert not len(rs.rows("deals", section))
    if section == "account_size":
        assert "accounts" not in rs.top and "customers" in rs.top


def test_an_empty_export_says_so_in_one_sentence(tmp_path):
    rs = monitor.revenue_sources(_load(tmp_path, deals=[], orders=[]))
    assert list(rs.table.columns) == SOURCE_COLUMNS and not len(rs.table)
    assert rs.headline() == rs.reasons["all"] and "cannot be shown" in rs.reasons["all"]
    assert len(rs.findings()) == 0 and rs.tables() == [] and not len(rs.months)
    assert source_rows(rs) == []


def test_less_than_a_year_of_history_has_no_growth(tmp_path):
    rs = monitor.revenue_sources(_load(tmp_path, deals=[d for d in DEALS if d[0] not in ("d0", "d9")]))
    assert math.isnan(rs.yoy["growth"]) and "yoy" in rs.reasons and rs.yoy_text() == rs.reasons["yoy"]


def test_share_interval_is_nan_without_a_total():
    p, lo, hi, pv = share_interval([0.0], [0.0], 0.0, 0.0)
    assert np.isnan(p).all() and np.isnan(pv).all()


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_every_engine_gives_the_pandas_answer(tmp_path, rs, engine):
    other = monitor.revenue_sources(_load(tmp_path, engine=engine), min_entities=3)
    pd.testing.assert_frame_equal(other.table, rs.table, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(other.months, rs.months)
    assert {k: v[0] for k, v in other.top.items()} == pytest.approx({k: v[0] for k, v in rs.top.items()})
    assert {k: v for k, v in other.yoy.items() if k != "source"} == pytest.approx(
        {k: v for k, v in rs.yoy.items() if k != "source"})


def test_text_from_the_data_is_escaped(tmp_path):
    orders = [(f"o{i}", f"c{i}", "2025-05-01", 50, "<b>Core</b>" if i % 10 < 8 else "Other") for i in range(300)]
    html = monitor.revenue_sources(_load(tmp_path, orders=orders)).findings().to_html()
    assert "<b>Core" not in html and "&lt;b&gt;Core" in html


def test_charts_draw_and_say_when_there_is_nothing(rs, tmp_path):
    for f in (plots.plot_pareto, plots.plot_revenue_yoy_months, plots.plot_win_rates_by_source,
              plots.plot_revenue_shares):
        assert f(rs) is not None
    empty = monitor.revenue_sources(_load(tmp_path, deals=[], orders=[]))
    assert plots.plot_win_rates_by_source(empty) is not None and plots.plot_revenue_shares(empty) is not None
    assert rs.plot(kind="months") is not None
    matplotlib.pyplot.close("all")


# ---- the sample company -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample():
    from salesops_kit import open_dataset

    return monitor.revenue_sources(open_dataset(Path(__file__).resolve().parents[2] / "data" / "sample"))


def test_the_sample_product_carrying_most_order_revenue_is_found_and_nothing_else(sample):
    planted = synth.ORDER_PRODUCTS[int(np.argmax(synth.ORDER_PRODUCT_SHARE))]  # the generator's heaviest product
    found = sample.findings()
    share = [f for f in found if f.kpi in ("order_revenue_share", "won_revenue_share")]
    assert [(f.kpi, f.subject) for f in share] == [("order_revenue_share", f"product={planted}")]
    assert _row(sample, "orders", "product", planted)["share_low"] > 0.5
    # deals' products and regions win at equal rates by construction: no win-rate finding
    assert not [f for f in found if f.metric == "win rate"]
    assert (sample.table["q_win"].dropna() >= sample.alpha).all()


def test_several_currencies_without_rates_show_win_rates_and_no_money(tmp_path):
    m = _write(tmp_path, orders=None)
    f = pd.read_csv(tmp_path / "opportunities.csv")
    f.loc[f["opportunity_id"].isin(["d1", "d3"]), "currency"] = "EUR"
    f.to_csv(tmp_path / "opportunities.csv", index=False)
    rs = monitor.revenue_sources(load_dataset(tmp_path, mapping=m, as_of=AS_OF))
    a = _row(rs, "deals", "product", "A")
    assert (a["closed"], a["won"]) == (4, 3) and np.isnan(a["revenue"]) and np.isnan(a["share"])
    assert "money" in rs.reasons and "pareto" not in rs.reasons and not rs.top and rs.headline() == rs.reasons["money"]
    assert not len(rs.months) and "yoy" in rs.reasons and source_rows(rs) == []
    assert "won revenue" not in " ".join(rs.text("product").columns)


def test_too_few_accounts_for_a_pareto_view_and_one_level_for_a_chart(tmp_path):
    rs = monitor.revenue_sources(_load(tmp_path, drop=("product", "region")))  # 3 accounts, 3 customers; bands
    assert not rs.top and rs.reasons["pareto"] == ("No Pareto view: only 3 accounts, 3 customers with revenue in the "
                                                   "12 months to November 2025, fewer than 5 (the top 20% would be "
                                                   "less than one).")
    assert source_rows(rs) == [r for r in source_rows(rs) if not r["kpi"].startswith("top20")]
    assert rs.charts_reason == ""  # three account-size bands and two order products to compare
    one = [d[:6] + ("acc1",) for d in DEALS]  # every deal in one account: one band
    (tmp_path / "one").mkdir()
    rs1 = monitor.revenue_sources(_load(tmp_path / "one", deals=one, orders=None, drop=("product", "region")))
    assert len(rs1.rows("deals", "account_size")) == 1 and not len(rs1.comparable("win_rate"))
    assert rs1.charts_reason.startswith("No product, region or account size has two levels")
