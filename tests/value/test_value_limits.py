"""Issue 14 (deliverables 2 and 5) for the cost topic, on small hand-made frames: orders in several currencies
without rates give no money KPI and one sentence naming the currencies; a payback finding needs two channels to
call one the fastest and never compares numbers that print the same."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from salesops_kit import value
from salesops_kit.data.load import Dataset
from salesops_kit.data.schema import StageModel
from salesops_kit.i18n import catalog
from salesops_kit.kpis import kpi_frame, lookup
from salesops_kit.value._kpis import MONEY_KPIS
from salesops_kit.value.costs import UnitEconomics

S = StageModel(order=("A",), won=("W",), lost=("L",))


def orders(currency):
    # 6 customers, customers 0-2 order twice (a repeat rate of 3/6), amounts 100 (first) and 50 (second)
    rows = []
    for c in range(6):
        rows.append((f"c{c}", "2024-01-10", 100.0, currency[c]))
        if c < 3:
            rows.append((f"c{c}", "2024-03-10", 50.0, currency[c]))
    o = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount", "currency"])
    o["order_date"] = pd.to_datetime(o["order_date"])
    return o


def dataset(o):
    return Dataset({"orders": o}, {}, pd.DataFrame(), S, pd.Timestamp("2024-06-30"))


def test_orders_in_several_currencies_give_no_money_kpi_and_keep_the_counts():
    mixed = kpi_frame(value.kpi_rows(dataset(orders(["USD", "MXN"] * 3)), n_boot=0))
    assert mixed["kpi"].isin(MONEY_KPIS).sum() == 0  # no CLV adding pesos to dollars
    assert "currency" not in " ".join(mixed["unit"].astype(str))
    rpr = mixed.set_index(["kpi", "segment"]).loc[("repeat_purchase_rate", "all"), "value"]
    assert rpr == pytest.approx(3 / 6)  # counts do not depend on the currency
    one = kpi_frame(value.kpi_rows(dataset(orders(["USD"] * 6)), n_boot=0))
    money = one[one["kpi"].isin(MONEY_KPIS)]
    assert len(money) and (money["unit"].str.startswith("USD")).all()  # the code, never the word "currency"
    assert all("currency" in lookup(k).unit for k in money["kpi"])  # the registry says these are money


def test_the_mixed_currency_note_names_the_codes_and_the_mapping_block():
    s = value.value_note("mixed_currencies", n=2, codes="MXN, USD")
    assert "2 currencies (MXN, USD)" in s and "currency: {report: ..., rates: {...}}" in s
    zh = catalog("templates", "zh")  # the page language follows SALESOPS_LANG: the Chinese entry keeps every value
    key = next(k for k in zh if k.startswith("Orders are in {n} currencies"))
    assert set(re.findall(r"\{(\w+)\}", zh[key])) == {"n", "codes", "block"}
    with pytest.raises(KeyError, match="mixed_currencies"):
        value.value_note("nonsense")


def _ue(rows):
    table = pd.DataFrame(rows, columns=["channel", "payback_months", "ltv_cac", "ltv_cac_ci_low", "ltv_cac_ci_high",
                                        "cac", "ltv", "new_customers", "monthly_margin"])
    return UnitEconomics(table, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), (None, None), 36, {})


def _payback(ue):
    return [f for f in ue.findings() if f.metric == "CAC payback"]


def test_fastest_payback_needs_two_channels_and_different_numbers():
    base = ("all", 6.0, 2.0, 1.5, 2.5, 100.0, 200.0, 20, 10.0)
    one = _ue([base, ("web", 4.0, 2.0, 1.5, 2.5, 100.0, 200.0, 10, 10.0)])
    assert _payback(one) == []  # the only channel is not "the fastest"
    two = _ue([base, ("web", 4.0, 2.0, 1.5, 2.5, 100.0, 200.0, 10, 10.0),
               ("ads", 8.0, 2.0, 1.5, 2.5, 100.0, 200.0, 10, 10.0)])
    got = _payback(two)
    assert len(got) == 1 and got[0].subject.endswith("web") and got[0].value != got[0].benchmark.split(" blended")[0]
    equal = _ue([("all", 4.0, 2.0, 1.5, 2.5, 100.0, 200.0, 20, 10.0),
                 ("web", 4.0, 2.0, 1.5, 2.5, 100.0, 200.0, 10, 10.0),
                 ("ads", 4.04, 2.0, 1.5, 2.5, 100.0, 200.0, 10, 10.0)])
    assert _payback(equal) == []  # 4.0 months vs 4.0 months blended: no finding from equal numbers
