"""New customers and CAC in the monitoring series when some customers' first order has no channel (issue 17)."""

import duckdb
import pandas as pd
import polars as pl
import pytest

from salesops_kit.monitor import _series as ms

# three customers first order in October 2025: 1 by search, 2 without a channel, 3 by social (3 orders again in
# November); search spends 100 in October and in November
ORDERS = pd.DataFrame({"customer_id": [1, 2, 3, 3],
                       "order_date": pd.to_datetime(["2025-10-02", "2025-10-05", "2025-10-07", "2025-11-01"]),
                       "amount": [10.0, 20.0, 30.0, 5.0], "channel": ["search", None, "social", "social"]})
SPEND = pd.DataFrame({"month": pd.to_datetime(["2025-10-01", "2025-11-01"]), "channel": ["search", "search"],
                      "spend": [100.0, 100.0]})


def _native(df: pd.DataFrame, engine: str):
    if engine == "pandas":
        return df
    if engine == "polars":
        return pl.from_pandas(df).lazy()
    return duckdb.from_arrow(pl.from_pandas(df).to_arrow())


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
def test_a_customer_without_channel_counts_once_in_the_company_only(engine):
    s = pd.concat(ms.order_series(_native(ORDERS, engine), _native(SPEND, engine), period="M", as_of="2025-11-30",
                                  kpis=["new_customers", "cac"]), ignore_index=True)
    octo = s[s["period"] == pd.Timestamp("2025-10-01")].set_index(["kpi", "segment"])
    # the company: customers 1, 2 and 3 (each once); per channel: search 1, social 1; no "(none)" channel
    assert octo.loc[("new_customers", "all"), "n"] == 3
    assert octo.loc[("new_customers", "channel=search"), "n"] == 1
    assert octo.loc[("new_customers", "channel=social"), "n"] == 1
    assert not s["segment"].str.contains("none").any()
    # blended CAC: October's spend over all three new customers; search's over its one
    assert octo.loc[("cac", "all"), "value"] == pytest.approx(100 / 3)
    assert octo.loc[("cac", "channel=search"), "value"] == pytest.approx(100.0)
