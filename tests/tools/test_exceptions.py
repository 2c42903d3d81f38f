"""The error types: one per problem, each still caught by the except clauses written before it existed."""

from __future__ import annotations

import pickle
import warnings

import pandas as pd
import pytest

import salesops_kit
from salesops_kit.tools import exceptions as E


def test_missing_columns_is_caught_by_every_clause_that_caught_a_missing_column_before():
    e = E.MissingColumnsError("orders has no column(s) 'amount'", table="orders", missing=["amount"],
                              available=["order_date"])
    # analyses raised KeyError, forecasting/monitoring ValueError, the loader MappingError
    for old in (KeyError, LookupError, ValueError, E.MappingError, E.SalesopsError, Exception):
        assert isinstance(e, old)
    for clause in ((KeyError,), (ValueError,), (E.MappingError,), (ValueError, LookupError)):
        with pytest.raises(clause):
            raise e


def test_missing_columns_str_is_the_message_without_keyerror_quotes():
    msg = "orders has no column(s) 'amount' needed for the AOV; it has order_date."
    e = E.MissingColumnsError(msg, table="orders", missing=["amount"], available=["order_date"])
    assert str(e) == msg
    assert str(KeyError(msg)) == repr(msg)  # what KeyError alone would have printed
    assert (e.table, e.missing, e.available) == ("orders", ("amount",), ("order_date",))


def test_errors_survive_pickling_with_their_attributes():
    # the report computes KPIs in worker processes: errors travel back pickled
    e = pickle.loads(pickle.dumps(E.MissingColumnsError("m", table="leads", missing=["x"], available=["y"])))
    assert type(e) is E.MissingColumnsError and str(e) == "m" and e.missing == ("x",) and e.table == "leads"
    assert str(pickle.loads(pickle.dumps(E.InvalidOptionError("bad")))) == "bad"


@pytest.mark.parametrize(("cls", "bases"), [
    (E.MappingError, (ValueError, E.SalesopsError)),
    (E.MissingTablesError, (LookupError, E.SalesopsError)),
    (E.InvalidOptionError, (ValueError, E.SalesopsError)),
    (E.DataWarning, (UserWarning, E.SalesopsWarning)),
])
def test_each_type_keeps_its_former_builtin_base(cls, bases):
    assert issubclass(cls, bases)


def test_former_names_are_the_same_objects():
    from salesops_kit.data import load

    assert salesops_kit.MappingError is load.MappingError is E.MappingError
    assert salesops_kit.MissingTablesError is load.MissingTablesError is E.MissingTablesError
    assert load.DataWarning is E.DataWarning


def test_a_missing_column_in_an_analysis_is_one_type_with_the_house_message():
    from salesops_kit import funnel

    opps = pd.DataFrame({"opportunity_id": ["a"], "stage": ["Won"], "close_date": pd.to_datetime(["2024-01-01"])})
    with pytest.raises(KeyError) as info:  # the clause user code wrote before
        funnel.win_rate(opps, by="region", stages=_stages())
    e = info.value
    assert isinstance(e, E.MissingColumnsError) and e.missing == ("region",) and e.table == "opportunities"
    assert str(e).startswith("opportunities has no column(s) 'region' needed for the win rate; it has ")
    assert "tables.opportunities.columns" in str(e)


def test_a_missing_column_in_forecasting_is_the_same_type_and_still_a_value_error():
    from salesops_kit.forecast import monthly_series

    orders = pd.DataFrame({"order_date": pd.to_datetime(["2024-01-01"]), "amount": [1.0]})
    with pytest.raises(ValueError, match="order_dte") as info:
        monthly_series(orders, date="order_dte")
    assert isinstance(info.value, E.MissingColumnsError)
    assert "Set date= to the table's date column" in str(info.value)


def test_the_loader_raises_missing_columns_as_a_mapping_error(tmp_path):
    (tmp_path / "opportunities.csv").write_text("opportunity_id,stage\n1,Won\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(salesops_kit.MappingError) as info:
            salesops_kit.load_dataset(tmp_path)
    e = info.value
    assert isinstance(e, E.MissingColumnsError) and e.table == "opportunities" and "amount" not in e.available
    assert "Missing required column(s) in the opportunities file" in str(e) and "Headers found:" in str(e)


def test_an_invalid_option_is_one_type_and_still_a_value_error():
    from salesops_kit import engines

    with pytest.raises(ValueError, match="engine must be one of pandas, polars, duckdb, spark; got 'excel'") as info:
        engines.check_engine("excel")
    assert isinstance(info.value, E.InvalidOptionError)


def _stages():
    from salesops_kit.data.schema import StageModel

    return StageModel(order=("Open",), won=("Won",), lost=("Lost",))
