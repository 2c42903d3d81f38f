"""``load_dataset(engine=..., keep=True)``: the files are read and checked once and the checked rows kept in the
engine (a DuckDB table, collected Polars frames), which is what ``open_dataset`` (every notebook's load cell) asks
for. Same tables, account, quarantine, withheld fields and flag counts as the plan that re-reads the files; and
the kept dataset no longer needs the files (the proof that later queries do not read them again)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from salesops_kit import engines
from salesops_kit.data import load as load_module
from salesops_kit.data.load import load_dataset, open_dataset

pytest.importorskip("polars")
pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
EXPORTS = ROOT / "tests" / "fixtures" / "exports"


def _frames(ds) -> dict[str, pd.DataFrame]:
    sort = {n: [c for c in ("opportunity_id", "lead_id", "order_id", "entered_date", "stage", "owner", "date",
                            "channel", "survey_date") if c in engines.column_names(t)] for n, t in ds.tables.items()}
    return {n: engines.to_pandas(t).sort_values(sort[n], kind="stable").reset_index(drop=True)
            for n, t in ds.tables.items()}


def _same_dataset(a, b) -> None:
    pd.testing.assert_frame_equal(a.account, b.account)
    pd.testing.assert_frame_equal(a.withheld, b.withheld)
    pd.testing.assert_frame_equal(a.flags.reset_index(drop=True), b.flags.reset_index(drop=True))
    assert a.as_of == b.as_of
    for name in a.quarantine:
        pd.testing.assert_frame_equal(a.quarantine[name], b.quarantine[name], obj=f"quarantine {name}")
    fa, fb = _frames(a), _frames(b)
    assert fa.keys() == fb.keys()
    for name in fa:
        pd.testing.assert_frame_equal(fa[name], fb[name], obj=name)


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
@pytest.mark.parametrize("source,mapping", [(SAMPLE, None), (EXPORTS / "salesforce_migrated", "salesforce"),
                                            (EXPORTS / "hubspot", "hubspot")])
def test_kept_checked_rows_give_the_same_dataset_and_need_the_files_no_more(tmp_path, engine, source, mapping):
    data = tmp_path / "data"
    shutil.copytree(source, data)
    plan = load_dataset(data, mapping=mapping, engine=engine)
    kept = load_dataset(data, mapping=mapping, engine=engine, keep=True)
    assert kept.account["rows_quarantined"].sum() + kept.account["rows_kept"].sum() == kept.account["rows_read"].sum()
    expected = _frames(plan)
    _same_dataset(kept, plan)

    data.rename(tmp_path / "moved")  # the kept dataset reads what it kept, not the files
    got = _frames(kept)
    for name in expected:
        pd.testing.assert_frame_equal(got[name], expected[name], obj=f"{name} after the files moved")
    with pytest.raises(Exception):  # noqa: B017,PT011 - the plan reads the files again (each engine words it)
        _frames(plan)


def test_duckdb_materialize_frees_the_kept_checked_rows(tmp_path):
    shutil.copytree(SAMPLE, tmp_path / "data")
    ds = load_dataset(tmp_path / "data", engine="duckdb", keep=True)

    def checked_tables(rel):  # the tables in the dataset's connection that hold checked rows
        return [t for (t,) in rel.query("_t", "select table_name from duckdb_tables()").fetchall()
                if t.startswith("__salesops_checked_")]

    assert len(checked_tables(ds.opportunities)) == len(ds.tables)  # one per table, read by the clean tables
    before = _frames(ds)
    m = engines.materialize(ds)
    assert checked_tables(m.opportunities) == []  # each table has its own copy now: the checked rows are dropped
    after = _frames(m)
    for name in before:
        pd.testing.assert_frame_equal(after[name], before[name], obj=name)


def test_duckdb_release_drops_the_kept_rows_of_a_dataset_never_materialised():
    from salesops_kit.engines import _lazy

    ds = load_dataset(SAMPLE, engine="duckdb", keep=True)
    con = _lazy._LOADED[id(ds.opportunities)][1].con  # the dataset's connection

    def checked_tables():
        return [t for (t,) in con.execute("select table_name from duckdb_tables()").fetchall()
                if t.startswith("__salesops_checked_")]

    assert len(checked_tables()) == len(ds.tables)
    assert all(id(t) in _lazy._LOADED for t in ds.tables.values())  # held until released
    engines.release(ds)
    assert checked_tables() == [] and not any(id(t) in _lazy._LOADED for t in ds.tables.values())


def test_open_dataset_keeps_polars_tables_only_when_the_files_fit(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    kept = open_dataset(data, engine="polars")
    monkeypatch.setattr(load_module, "POLARS_KEEP_SHARE", 10**15)  # as if the files were larger than the memory
    lazy = open_dataset(data, engine="polars")
    data.rename(tmp_path / "moved")
    assert len(engines.to_pandas(kept.opportunities)) == kept.account.set_index("table").loc["opportunities",
                                                                                             "rows_kept"]
    with pytest.raises(Exception):  # noqa: B017,PT011 - a lazy plan over files that are gone
        engines.to_pandas(lazy.opportunities)


def test_duckdb_memory_limit_from_the_environment(monkeypatch):
    """SALESOPS_DUCKDB_MEMORY (what `salesops report --engine duckdb` sets for each kernel) bounds the DuckDB of
    a dataset, and the loader's notes say so; a value DuckDB cannot read is a clear error naming the variable."""
    monkeypatch.setenv(engines.DUCKDB_MEMORY_ENV, "700MB")
    ds = load_dataset(SAMPLE, engine="duckdb")
    con = engines.backend("duckdb").con
    assert con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] in ("667.5 MiB", "700.0 MB")
    assert any("DuckDB memory limit" in n and "SALESOPS_DUCKDB_MEMORY" in n for n in ds.notes)
    monkeypatch.setenv(engines.DUCKDB_MEMORY_ENV, "lots")
    with pytest.raises(ValueError, match="SALESOPS_DUCKDB_MEMORY='lots' is not a DuckDB memory limit"):
        engines.backend("duckdb")
    monkeypatch.delenv(engines.DUCKDB_MEMORY_ENV)
    assert not any("DuckDB memory limit" in n for n in load_dataset(SAMPLE, engine="duckdb").notes)
