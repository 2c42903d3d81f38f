"""The typed mapping (data.mapping) and the engine back-end interface the loader calls (engines.backend)."""

from __future__ import annotations

import pandas as pd
import pytest

from salesops_kit import MappingError, load_dataset, load_mapping
from salesops_kit.data.mapping import Mapping, TableSpec, resolve_columns
from salesops_kit.engines import TableResult, backend

HEADER = "opportunity_id,owner,stage,amount,created_date,close_date\n"


def test_load_mapping_parses_once_into_a_typed_mapping():
    m = load_mapping("salesforce")
    assert isinstance(m, Mapping) and m.name == "salesforce"
    spec = m.tables["opportunities"]
    assert isinstance(spec, TableSpec) and spec.dates.dayfirst is False and spec.probability_scale == 100
    assert "Stage" in spec.headers_for("stage") and spec.headers_for("no_such_column") == ("no_such_column",)
    assert m.stages.won == ("Closed Won",)
    assert load_mapping(m) is m
    # it still reads like the dict it was parsed from
    assert m["stages"]["won"] == ["Closed Won"] and dict(m)["name"] == "salesforce"
    assert (m | {"name": "x"})["name"] == "x" and isinstance(m | {}, dict)


def test_hubspot_history_is_derived_from_the_deal_table():
    m = load_mapping("hubspot")
    assert m.tables["stage_history"].from_table == "opportunities"
    assert [s.name for s in m.derived_from("opportunities")] == ["stage_history"]
    assert m.tables["stage_history"].entered[0].startswith("Date entered")


def test_parquet_copies_of_csv_globs(tmp_path):
    spec = TableSpec("orders", files=("orders*.csv",), exclude=("*old*",))
    files = [tmp_path / n for n in ("orders.parquet", "orders_old.parquet", "orders.csv.bak")]
    assert spec.match_files(files) == []
    assert spec.parquet_copies().match_files(files) == [tmp_path / "orders.parquet"]


def test_resolve_columns_names_what_is_missing_and_the_key_to_set():
    spec = load_mapping("canonical").tables["opportunities"]
    names = ["opportunity_id", "owner", "stage", "amount", "created_date", "Close Dt"]
    with pytest.raises(MappingError) as e:
        resolve_columns(spec, names, headers=names, path="opps.csv", mapping_name="canonical")
    msg = str(e.value)
    assert "close_date" in msg and "'Close Dt'" in msg and "tables.opportunities.columns.close_date" in msg
    assert e.value.missing == ("close_date",)


def test_dataset_keeps_the_mapping_as_a_dict(tmp_path):
    (tmp_path / "opportunities.csv").write_text(HEADER + "O1,A,Closed Won,1,2024-01-01,2024-02-01\n")
    ds = load_dataset(tmp_path, mapping=load_mapping("canonical"))
    assert type(ds.mapping) is dict and ds.mapping_name == "canonical"


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
def test_a_back_end_reads_one_table_like_the_loader(tmp_path, engine):
    (tmp_path / "opportunities.csv").write_text(HEADER + "O1,A,Closed Won,1,2024-01-01,2024-02-01\n"
                                                "O2,A,,1,2024-01-01,2024-03-01\n"
                                                "O3,A,Proposal,x,2024-01-01,2024-03-01\n", encoding="utf-8")
    m = load_mapping("canonical")
    res = backend(engine).read_table(m.tables["opportunities"], [tmp_path / "opportunities.csv"], stages=m.stages,
                                     mapping_name=m.name, unknown_stages="error")
    assert isinstance(res, TableResult) and res.derived == {}
    ds = load_dataset(tmp_path, engine=engine)
    assert res.account == ds.account.iloc[0].to_dict()
    pd.testing.assert_frame_equal(res.quarantine, ds.quarantine["opportunities"])
    assert res.quarantine["check"].tolist() == ["missing required value"]  # a deal without stage is no record
    pd.testing.assert_frame_equal(res.withheld, ds.withheld)  # the bad amount is withheld, its deal kept
    assert res.withheld[["column", "reason", "rows", "example"]].values.tolist() == [
        ["amount", "unparseable number", 1, "opportunities.csv:4"]]


STATUS_MAPPING = {
    "name": "status_crm",
    "tables": {"opportunities": {"file": "opportunities*.csv"}},
    "stages": {"order": ["Qualified", "Contact Made", "Demo Scheduled", "Proposal Made", "Negotiations Started"],
               "status": {"column": "status", "won": ["won", "Won", "Ganho"], "lost": ["lost", "Lost", "Perdido"],
                          "open": ["open", "Open"]}},
}
STATUS_ROWS = ("opportunity_id,owner,stage,status,amount,created_date,close_date\n"
               "D1,Ann,Proposal Made,won,100,2024-01-02,2024-02-01\n"
               "D2,Ann,Demo Scheduled,Lost,50,2024-01-03,2024-02-02\n"
               "D3,Bo,Qualified,open,70,2024-01-04,2024-03-01\n"
               "D4,Bo,Contact Made,Perdido,20,2024-01-05,2024-02-03\n"
               "D5,Bo,Negotiations Started,,30,2024-01-06,2024-04-01\n")


def test_status_block_is_parsed_once_into_the_stage_model():
    m = load_mapping(STATUS_MAPPING)
    assert m.stages.status.column == "status" and m.stages.status.lost == ("lost", "Lost", "Perdido")
    assert m.stages.won == ("Won",) and m.stages.lost == ("Lost",)  # the labels a won/lost deal gets
    assert m.stages.status.classify(" ganho ") == "won" and m.stages.status.classify(None) == "open"
    assert m.stages.status.classify("deleted") is None  # `open` is listed: anything else is unknown
    assert m.tables["opportunities"].headers_for("deal_status") == ("status",)
    with pytest.raises(MappingError, match="stages.status.lost"):
        load_mapping({"stages": {"order": ["A"], "status": {"column": "Status", "won": ["won"]}}})


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
def test_status_column_decides_won_and_lost_and_keeps_the_pipeline_step(tmp_path, engine):
    """Issue 14: a status-based CRM (Pipedrive) - the stage column is the pipeline step, the status says won/lost.
    A won/lost deal's stage is the model's Won/Lost label; a lost deal's step is its lost_at_stage."""
    (tmp_path / "opportunities.csv").write_text(STATUS_ROWS, encoding="utf-8")
    from salesops_kit import engines

    ds = load_dataset(tmp_path, mapping=STATUS_MAPPING, engine=engine)
    got = engines.to_pandas(ds.opportunities).sort_values("opportunity_id").set_index("opportunity_id")
    assert got["stage"].tolist() == ["Won", "Lost", "Qualified", "Lost", "Negotiations Started"]
    assert got["lost_at_stage"].tolist() == [None, "Demo Scheduled", None, "Contact Made", None]
    assert got["is_won"].tolist() == [True, False, False, False, False]
    assert got["is_closed"].tolist() == [True, True, False, True, False]
    assert ds.account.loc[0, "rows_kept"] == 5 and ds.account.loc[0, "rows_quarantined"] == 0


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
def test_unknown_status_is_an_error_or_quarantined(tmp_path, engine):
    (tmp_path / "opportunities.csv").write_text(STATUS_ROWS + "D6,Bo,Qualified,deleted,5,2024-01-07,2024-04-01\n",
                                                encoding="utf-8")
    with pytest.raises(MappingError, match=r"(?s)'deleted' \(1 row\).*stages.status.open"):
        load_dataset(tmp_path, mapping=STATUS_MAPPING, engine=engine)
    ds = load_dataset(tmp_path, mapping=STATUS_MAPPING, engine=engine, unknown_stages="quarantine")
    q = ds.quarantine["opportunities"]
    assert q[["check", "reason"]].values.tolist() == [["unknown stage",
                                                       "status not in the mapping, deal_status: 'deleted'"]]
    assert ds.account.loc[0, "rows_kept"] == 5 and ds.account.loc[0, "rows_quarantined"] == 1


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
def test_coalesce_column_takes_the_first_non_blank_header_per_row(tmp_path, engine):
    """``close_date: {coalesce: [...]}``: per row, the first non-blank of the headers present (Pipedrive's Won
    time / Lost time / Expected close date); a row blank in all of them has no close date."""
    (tmp_path / "opportunities.csv").write_text(
        "opportunity_id,owner,stage,amount,created_date,Won time,Lost time,Expected\n"
        "A,Ann,Closed Won,1,2024-01-02,2024-02-01 10:00:00,,2024-03-01\n"
        "B,Ann,Closed Lost,1,2024-01-02,,2024-02-05 11:00:00,2024-03-01\n"
        "C,Ann,Proposal,1,2024-01-02, ,,2024-03-09\n"
        "D,Ann,Proposal,1,2024-01-02,,,\n", encoding="utf-8")
    m = {"name": "x", "tables": {"opportunities": {"file": "opportunities.csv", "columns": {
        "close_date": {"coalesce": ["Won time", "Lost time", "No such header", "Expected"]}}}},
         "stages": {"order": ["Proposal"], "won": ["Closed Won"], "lost": ["Closed Lost"]}}
    assert load_mapping(m).tables["opportunities"].coalesce == frozenset({"close_date"})
    from salesops_kit import engines

    got = engines.to_pandas(load_dataset(tmp_path, mapping=m, engine=engine).opportunities)
    got = got.sort_values("opportunity_id")["close_date"].tolist()
    assert got[:3] == [pd.Timestamp("2024-02-01 10:00"), pd.Timestamp("2024-02-05 11:00"), pd.Timestamp("2024-03-09")]
    assert pd.isna(got[3])
