"""Shared validators: one wording for every option check and every missing column."""

from __future__ import annotations

import narwhals as nw
import pandas as pd
import polars as pl
import pytest

from salesops_kit.tools import InvalidOptionError, MissingColumnsError
from salesops_kit.tools.validation import (
    check_level,
    check_option,
    check_options,
    column_names,
    missing_columns_message,
    renamed_keyword,
    require_columns,
)


def test_check_option_returns_the_value_and_names_what_is_allowed():
    assert check_option("freq", "M", ("M", "Q")) == "M"
    with pytest.raises(InvalidOptionError) as e:
        check_option("freq", "X", ("M", "Q"))
    assert str(e.value) == "freq must be one of M, Q; got 'X'."


def test_check_option_shows_descriptions_the_function_and_a_hint():
    with pytest.raises(ValueError) as e:
        check_option("method", "fdr", {"bh": "false-discovery rate", "bonferroni": "family-wise"},
                     where="flag_alerts", hint="See the docstring.")
    assert str(e.value) == ("flag_alerts: method must be one of bh (false-discovery rate), bonferroni (family-wise); "
                            "got 'fdr'. See the docstring.")


def test_check_option_refuses_unhashable_values_with_the_same_message():
    with pytest.raises(InvalidOptionError, match=r"got \['M'\]"):
        check_option("freq", ["M"], {"M": "monthly"})


def test_check_options_lists_every_unknown_value():
    assert check_options("method", ("ets", "theta"), ("ets", "theta", "arima")) == ["ets", "theta"]
    with pytest.raises(InvalidOptionError) as e:
        check_options("method", ["ets", "prophet", "lstm"], ("ets", "theta"), where="backtest")
    assert str(e.value) == "backtest: method must be one of ets, theta; got unknown method(s) 'prophet', 'lstm'."


@pytest.mark.parametrize("bad", [0, 1, 95, -0.1, "high", None, float("nan")])
def test_check_level_wants_a_probability(bad):
    with pytest.raises(InvalidOptionError, match="level must be a probability between 0 and 1"):
        check_level(bad)


def test_check_level_percent_and_name():
    assert check_level(0.9) == 0.9
    assert check_level(80, percent=True) == 80.0
    with pytest.raises(InvalidOptionError) as e:
        check_level(100, percent=True, where="forecast")
    assert str(e.value) == ("forecast: level must be a percentage between 0 and 100 (e.g. 95 for a 95% interval); "
                            "got 100.")


def test_require_columns_house_message_and_attributes():
    df = pd.DataFrame({"b": [1], "a": [2]})
    require_columns(df, ["a"], table="orders", purpose="x")  # nothing missing: no error
    with pytest.raises(MissingColumnsError) as e:
        require_columns(df, ["a", "amount", "order_date"], table="orders", purpose="the AOV")
    assert str(e.value) == ("orders has no column(s) 'amount', 'order_date' needed for the AOV; it has a, b. Map the "
                            "export's column to the canonical name in the mapping (tables.orders.columns) or rename it "
                            "before calling.")
    assert e.value.missing == ("amount", "order_date") and e.value.available == ("b", "a")


def test_require_columns_takes_a_hint_and_no_purpose():
    with pytest.raises(KeyError) as e:
        require_columns(["period"], ["period", "value"], table="series", hint="Pass monthly_series output.")
    assert str(e.value) == "series has no column(s) 'value'; it has period. Pass monthly_series output."
    assert missing_columns_message("leads", ["x"], []).startswith("leads has no column(s) 'x'; it has no columns.")


@pytest.mark.parametrize("make", [
    lambda d: pd.DataFrame(d), lambda d: pl.DataFrame(d), lambda d: pl.DataFrame(d).lazy(),
    lambda d: nw.from_native(pl.DataFrame(d)).lazy(), lambda d: list(d), lambda d: d,
])
def test_column_names_reads_every_frame_kind(make):
    assert column_names(make({"a": [1], "b": [2]})) == ["a", "b"]


def test_column_names_reads_a_duckdb_relation():
    duckdb = pytest.importorskip("duckdb")
    assert column_names(duckdb.sql("select 1 as a, 2 as b")) == ["a", "b"]


def test_renamed_keyword_accepts_the_old_name_with_a_warning():
    @renamed_keyword("levels", "level")
    def f(x, *, level=0.95):
        return level

    assert f(1, level=0.9) == 0.9
    with pytest.warns(DeprecationWarning, match=r"f\(levels=...\) is now f\(level=...\)"):
        assert f(1, levels=0.8) == 0.8
    with pytest.raises(TypeError, match="both"):
        f(1, level=0.9, levels=0.8)


def test_funnel_limits_takes_level_and_still_levels():
    from salesops_kit.stats import funnel_limits

    new = funnel_limits([10, 100], 0.3, level=(0.95, 0.998))
    with pytest.warns(DeprecationWarning):
        old = funnel_limits([10, 100], 0.3, levels=(0.95, 0.998))
    pd.testing.assert_frame_equal(new, old)
    assert list(new.columns) == ["trials", "low_95", "high_95", "low_99.8", "high_99.8"]
    assert list(funnel_limits([10], 0.3, level=0.9).columns) == ["trials", "low_90", "high_90"]
    with pytest.raises(InvalidOptionError):
        funnel_limits([10], 0.3, level=95)
