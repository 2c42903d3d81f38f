"""`salesops report --engine polars|duckdb`: the report's load, audit and KPI table in the engine, the notebooks on
the lazy dataset, and the same kpis.csv / findings.csv as the pandas report (engine-sensitive fits excepted)."""

import duckdb
import pandas as pd
import polars as pl
import pytest

from salesops_kit import engines, quality
from salesops_kit.load import load_dataset
from salesops_kit.report import sample_data_dir

# ------------------------------------------------------------------------------------------------
# engine-neutral looks at a table (what the notebooks print about their inputs)

# 3 rows by hand: n_rows 3, columns in order, head(2) the first two ids
TINY = pd.DataFrame({"opportunity_id": ["a", "b", "c"], "amount": [1.0, 2.0, 3.0]})


def _frames():
    con = duckdb.connect()
    return {"pandas": TINY, "polars": pl.from_pandas(TINY), "polars-lazy": pl.from_pandas(TINY).lazy(),
            "duckdb": con.from_df(TINY)}


@pytest.mark.parametrize("kind", ["pandas", "polars", "polars-lazy", "duckdb"])
def test_n_rows_and_column_names_on_every_engine(kind):
    f = _frames()[kind]
    assert engines.n_rows(f) == 3
    assert engines.column_names(f) == ["opportunity_id", "amount"]
    h = engines.head(f, 2)
    assert isinstance(h, pd.DataFrame) and len(h) == 2 and list(h.columns) == ["opportunity_id", "amount"]
    if kind != "duckdb":  # a relation has no order: any two rows
        assert h["opportunity_id"].tolist() == ["a", "b"]


def test_n_rows_of_empty_lazy_frames():
    empty = TINY.iloc[:0]
    assert engines.n_rows(pl.from_pandas(empty).lazy()) == 0
    assert engines.n_rows(duckdb.connect().from_df(empty)) == 0
    assert engines.head(pl.from_pandas(empty).lazy()).empty


def test_head_of_pandas_is_the_frame_head_and_input_untouched():
    before = TINY.copy()
    pd.testing.assert_frame_equal(engines.head(TINY, 2), TINY.head(2))
    pd.testing.assert_frame_equal(TINY, before)


# ------------------------------------------------------------------------------------------------
# the audit on a lazy dataset (flags are counts; examples found in the engine)


@pytest.fixture(scope="module")
def pandas_sample():
    return load_dataset(sample_data_dir())


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_audit_on_a_lazy_dataset_matches_pandas(pandas_sample, engine):
    ref = quality.audit(pandas_sample)
    got = quality.audit(load_dataset(sample_data_dir(), engine=engine))
    cols = ["check", "table", "rows", "action", "detail"]
    pd.testing.assert_frame_equal(got.checks[cols], ref.checks[cols])
    assert got.headline() == ref.headline()
    for (tab, chk, ex), ref_ex in zip(got.checks[["table", "check", "examples"]].itertuples(index=False),
                                      ref.checks["examples"], strict=True):
        if chk == quality.REPEATED_ROW and ref_ex:  # no row positions in a lazy table: the dates only, same rows
            assert ex.split(" | ") == [e.split(": ", 1)[1] for e in ref_ex.split(" | ")], tab
        else:
            assert ex == ref_ex, (tab, chk)
