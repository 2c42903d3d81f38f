"""monthly_series's numpy scan on pandas (issue 17) counts what the narwhals scan on Polars counts, by hand."""

import pandas as pd
import polars as pl
import pytest

from salesops_kit.forecast.seasonal import monthly_series

ORDERS = pd.DataFrame({
    "order_date": pd.to_datetime(["2024-11-30 23:59:59", "2024-12-01 00:00:00", "2024-12-31 12:00:00", None,
                                  "2025-02-03 00:00:00", "2025-02-28 08:00:00", "2025-03-01 00:00:00"]),
    "amount": [10.0, 5.5, None, 100.0, 1.25, 2.0, 7.0]})


@pytest.mark.parametrize("value", ["amount", "count"])
def test_months_by_hand_on_pandas_and_polars(value):
    got = monthly_series(ORDERS, value=value, as_of="2025-02-28")
    # by hand: Nov 10 (1 order), Dec 5.5 + missing amount as 0 (2 orders), Jan empty, Feb 1.25 + 2 (2 orders);
    # the undated order and March (after as_of) are left out; February ends on as_of, so it is complete
    assert got["period"].dt.strftime("%Y-%m").tolist() == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert got["n"].tolist() == [1, 2, 0, 2]
    assert got["value"].tolist() == ([10.0, 5.5, 0.0, 3.25] if value == "amount" else [1.0, 2.0, 0.0, 2.0])
    pd.testing.assert_frame_equal(got, monthly_series(pl.from_pandas(ORDERS).lazy(), value=value, as_of="2025-02-28"))


def test_quarters_and_a_partial_last_month():
    q = monthly_series(ORDERS, freq="Q", as_of="2025-03-31")
    assert q["period"].dt.strftime("%Y-%m").tolist() == ["2024-10", "2025-01"]
    assert q["value"].tolist() == [15.5, 10.25] and q["n"].tolist() == [3, 3]
    assert monthly_series(ORDERS, as_of="2025-02-27")["period"].iloc[-1] == pd.Timestamp("2025-01-01")


@pytest.mark.parametrize("dtype", [pl.Date, pl.Datetime("ns"), pl.Datetime("ms")])
def test_polars_day_numbers_for_every_date_type_and_before_1970(dtype):
    old = pd.DataFrame({"order_date": pd.to_datetime(["1969-12-31 23:00:00", "1970-01-01 00:00:00",
                                                      "1969-11-15 00:00:00"]), "amount": [1.0, 2.0, 4.0]})
    f = pl.from_pandas(old).with_columns(pl.col("order_date").cast(dtype))
    got = monthly_series(f, as_of="1970-01-31")
    # by hand: November 1969 has 4, December 1969 has 1 (an hour before 1970 is still December), January 1970 has 2
    assert got["period"].dt.strftime("%Y-%m").tolist() == ["1969-11", "1969-12", "1970-01"]
    assert got["value"].tolist() == [4.0, 1.0, 2.0]
    pd.testing.assert_frame_equal(got, monthly_series(old, as_of="1970-01-31"))
