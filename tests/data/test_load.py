"""Loader: bad input ends in a clear error or in the quarantine, and the row account always adds up."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from salesops_kit import MappingError, load_dataset, load_mapping
from salesops_kit.data.load import DataWarning, builtin_mappings

HEADER = "opportunity_id,owner,stage,amount,created_date,close_date\n"


def _write(tmp_path, text: str, name: str = "opportunities.csv", encoding: str = "utf-8"):
    (tmp_path / name).write_bytes(text.encode(encoding))
    return tmp_path


def _adds_up(ds):
    acc = ds.account
    assert (acc["rows_read"] == acc["rows_kept"] + acc["rows_quarantined"]).all()
    for _, r in acc.iterrows():
        assert r["rows_kept"] == len(ds.tables[r["table"]])
        assert r["rows_quarantined"] == len(ds.quarantine[r["table"]])


def _load(tmp_path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return load_dataset(tmp_path, **kw)


def test_builtin_mappings_listed():
    assert {"canonical", "salesforce", "hubspot", "zoho", "jiandaoyun"} <= set(builtin_mappings())
    assert load_mapping("canonical")["stages"]["won"] == ["Closed Won"]


def test_missing_required_column_names_file_column_closest_header_and_key(tmp_path):
    _write(tmp_path, "opportunity_id,owner,stage,amount,created_date,Close Dt\n"
                     "O1,A,Prospecting,1,2024-01-01,2024-02-01\n")
    with pytest.raises(MappingError) as e:
        load_dataset(tmp_path)
    msg = str(e.value)
    assert "opportunities.csv" in msg
    assert "close_date" in msg
    assert "tables.opportunities.columns.close_date" in msg
    assert "'Close Dt'" in msg  # closest header (difflib)
    assert "Headers found: opportunity_id, owner, stage, amount, created_date, Close Dt" in msg


def test_unknown_stage_lists_labels_counts_and_yaml(tmp_path):
    _write(tmp_path, HEADER + "O1,A,Demo,1,2024-01-01,2024-01-02\nO2,A,Demo,1,2024-01-01,2024-01-02\n"
           "O3,A,Won!,1,2024-01-01,2024-01-02\nO4,A,Closed Won,1,2024-01-01,2024-01-02\n")
    with pytest.raises(MappingError) as e:
        load_dataset(tmp_path)
    msg = str(e.value)
    assert "'Demo' (2 rows)" in msg and "'Won!' (1 row)" in msg
    assert "stages:\n    aliases:\n      Demo: <one of:" in msg
    assert "stages.order" in msg
    assert ('    order: ["Prospecting", "Qualification", "Proposal", "Negotiation", "Demo", "Won!"]' in msg)
    ds = _load(tmp_path, unknown_stages="quarantine")
    assert len(ds.opportunities) == 1
    assert ds.quarantine["opportunities"]["check"].tolist() == ["unknown stage"] * 3
    _adds_up(ds)


def test_stage_aliases_and_case_insensitive(tmp_path):
    _write(tmp_path, HEADER + "O1,A, closed won ,1,2024-01-01,2024-01-02\nO2,A,won,1,2024-01-01,2024-01-02\n")
    canonical = load_mapping("canonical")
    m = canonical | {"stages": {**canonical["stages"], "aliases": {"won": "Closed Won"}}}
    ds = load_dataset(tmp_path, mapping=m)
    assert ds.opportunities["stage"].tolist() == ["Closed Won", "Closed Won"]
    assert ds.opportunities["is_won"].all() and ds.opportunities["is_closed"].all()


def test_undecodable_file_is_a_clear_error(tmp_path):
    (tmp_path / "opportunities.csv").write_bytes(HEADER.encode() + b"O1,A,Prospecting,1,\x81\x20\x8d\x90,2024-01-02\n")
    with pytest.raises(MappingError) as e:
        load_dataset(tmp_path)
    assert "opportunities.csv" in str(e.value) and "encoding" in str(e.value)


def test_binary_file_under_csv_name(tmp_path):
    (tmp_path / "opportunities.csv").write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(MappingError, match="binary"):
        load_dataset(tmp_path)


def test_empty_file_gives_empty_table_and_note(tmp_path):
    _write(tmp_path, "")
    _write(tmp_path, "lead_id,created_date,source\nL1,2024-01-01,Web\n", name="leads.csv")
    ds = load_dataset(tmp_path)
    assert ds.opportunities is not None and ds.opportunities.empty
    assert set(ds.opportunities.columns) >= {"opportunity_id", "stage", "is_won", "is_closed"}
    acc = ds.account.set_index("table")
    assert acc.loc["opportunities", ["files", "rows_read", "rows_kept", "rows_quarantined"]].tolist() == [1, 0, 0, 0]
    assert any("empty" in n for n in ds.notes)
    _adds_up(ds)


def test_header_only_file(tmp_path):
    _write(tmp_path, HEADER)
    ds = _load(tmp_path)
    assert ds.opportunities.empty
    assert list(ds.opportunities.columns) == ["opportunity_id", "owner", "stage", "amount", "created_date",
                                              "close_date", "is_closed", "is_won"]
    assert ds.opportunities["created_date"].dtype == "datetime64[ns]"
    assert pd.isna(ds.as_of)  # nothing to take it from
    _adds_up(ds)


def test_mixed_date_formats_in_one_column(tmp_path):
    _write(tmp_path, HEADER + "O1,A,Prospecting,1,2024-03-05,2024-06-01\nO2,A,Prospecting,1,3/5/2024,2024-06-01\n"
           "O3,A,Prospecting,1,2024年3月5日,2024-06-01\nO4,A,Prospecting,1,45356,2024-06-01\n"
           "O5,A,Prospecting,1,2024/3/5 10:30,2024-06-01\nO6,A,Prospecting,1,5th of March,2024-06-01\n")
    ds = load_dataset(tmp_path)
    o = ds.opportunities
    assert o["created_date"].iloc[:5].dt.normalize().unique().tolist() == [pd.Timestamp("2024-03-05")]
    # an unparseable created date is withheld (the deal is kept, its created date missing), not quarantined
    assert o["opportunity_id"].tolist()[-1] == "O6" and pd.isna(o["created_date"].iloc[-1])
    assert ds.quarantine["opportunities"].empty
    w = ds.withheld
    assert w[["column", "reason", "rows", "example", "value"]].values.tolist() == [
        ["created_date", "unparseable date", 1, "opportunities.csv:7", "5th of March"]]
    _adds_up(ds)


def test_dayfirst_from_mapping(tmp_path):
    _write(tmp_path, HEADER + "O1,A,Prospecting,1,05/03/2024,13/03/2024\n")
    m = load_mapping("canonical")
    m = {**m, "tables": {**m["tables"], "opportunities": {"file": "opportunities*.csv", "dates": {"dayfirst": True}}}}
    ds = load_dataset(tmp_path, mapping=m)
    assert ds.opportunities["created_date"].iloc[0] == pd.Timestamp("2024-03-05")
    assert ds.opportunities["close_date"].iloc[0] == pd.Timestamp("2024-03-13")


def test_duplicate_ids_exact_vs_conflicting(tmp_path):
    _write(tmp_path, HEADER + "O1,A,Prospecting,10,2024-01-01,2024-02-01\nO1,A,Prospecting,10,2024-01-01,2024-02-01\n"
           "O2,A,Prospecting,10,2024-01-01,2024-02-01\nO2,A,Prospecting,99,2024-01-01,2024-02-01\n"
           "O3,A,Prospecting,10,2024-01-01,2024-02-01\n")
    ds = load_dataset(tmp_path)
    # O1: first copy kept, exact second copy quarantined; O2: conflicting, both quarantined; O3 kept
    assert ds.opportunities["opportunity_id"].tolist() == ["O1", "O3"]
    q = ds.quarantine["opportunities"]
    assert q[["opportunity_id", "check"]].values.tolist() == [
        ["O1", "exact duplicate row"], ["O2", "conflicting duplicate id"], ["O2", "conflicting duplicate id"]]
    assert q["source_line"].tolist() == [3, 4, 5]
    assert q["reason"].iloc[0] == "exact duplicate of opportunities.csv:2"
    _adds_up(ds)


def test_negative_amount_and_close_before_created(tmp_path):
    _write(tmp_path, HEADER + "O1,A,Closed Won,-5,2024-01-01,2024-02-01\nO2,A,Closed Won,5,2024-03-01,2024-02-01\n"
           "O3,A,Closed Won,5,2024-01-01 15:00,2024-01-01\nO4,A,Closed Lost,,2024-01-01,\n")
    ds = load_dataset(tmp_path)
    # every deal is kept (issue 14): the problems withhold a field, not the row
    o = ds.opportunities.set_index("opportunity_id")
    assert o.index.tolist() == ["O1", "O2", "O3", "O4"] and ds.quarantine["opportunities"].empty
    assert np.isnan(o.loc["O1", "amount"])  # a credit: amount withheld from money KPIs, deal still won
    assert o.loc["O2", "close_date"] == pd.Timestamp("2024-02-01")  # close before created: both dates kept
    assert o.loc["O2", "created_date"] == pd.Timestamp("2024-03-01")
    assert pd.isna(o.loc["O4", "close_date"]) and o.loc["O4", "is_closed"]
    w = ds.withheld.set_index(["column", "reason"])
    # O3 closes the day it was created (before its time of day): nothing withheld
    assert w["rows"].to_dict() == {("amount", "negative amount"): 1, ("close_date", "close before created"): 1,
                                   ("close_date", "closed deal without close date"): 1}
    assert w.loc[("amount", "negative amount"), "value"] == "-5"  # raw text kept
    assert w.loc[("close_date", "close before created"), "example"] == "opportunities.csv:3"
    _adds_up(ds)


def test_credits_allowed_by_the_mapping(tmp_path):
    _write(tmp_path, HEADER + "O1,A,Closed Won,-5,2024-01-01,2024-02-01\nO2,A,Closed Won,5,2024-01-01,2024-02-01\n")
    m = load_mapping("canonical")
    m = {**m, "tables": {**m["tables"], "opportunities": {"file": "opportunities*.csv", "amount": {"credits": True}}}}
    for engine in ("pandas", "polars", "duckdb"):
        ds = load_dataset(tmp_path, mapping=m, engine=engine)
        from salesops_kit.engines import to_pandas

        assert to_pandas(ds.opportunities)["amount"].tolist() == [-5.0, 5.0], engine
        assert ds.withheld.empty, engine


def test_missing_values_quarantined_blank_amount_kept(tmp_path):
    _write(tmp_path, HEADER + ",A,Prospecting,1,2024-01-01,2024-02-01\nO2,A,,1,2024-01-01,2024-02-01\n"
           "O3,A,Prospecting,,2024-01-01,2024-02-01\nO4,A,Prospecting,abc,2024-01-01,2024-02-01\n"
           "O5,A,Prospecting,1,,2024-02-01\n")
    ds = load_dataset(tmp_path)
    # no id, no stage: not a record; a blank or unparseable amount or a blank created date: kept, field missing
    assert ds.opportunities["opportunity_id"].tolist() == ["O3", "O4", "O5"]
    assert ds.opportunities["amount"].isna().tolist() == [True, True, False]  # a deal without amount is a deal
    q = ds.quarantine["opportunities"]
    assert q["check"].tolist() == ["missing required value", "missing required value"]
    w = ds.withheld
    assert w[["column", "reason", "rows", "example"]].values.tolist() == [
        ["amount", "unparseable number", 1, "opportunities.csv:5"],
        ["created_date", "missing value", 1, "opportunities.csv:6"]]
    _adds_up(ds)


def test_malformed_line_and_footer_lines(tmp_path):
    _write(tmp_path, HEADER + "O1,A,Prospecting,1,2024-01-01,2024-02-01\nO2,A,Prospecting\n"
           "O3,A,Prospecting,1,2024-01-01,2024-02-01\n\"\"\n\"Grand Totals (3 records)\"\n")
    ds = load_dataset(tmp_path)
    acc = ds.account.set_index("table").loc["opportunities"]
    assert (acc["rows_read"], acc["rows_kept"], acc["rows_quarantined"], acc["footer_lines"]) == (3, 2, 1, 2)
    q = ds.quarantine["opportunities"]
    assert q["check"].tolist() == ["malformed line"] and q["source_line"].tolist() == [3]
    assert "expected 6, found 3" in q["reason"].iloc[0]


def test_semicolon_bom_decimal_comma(tmp_path):
    text = ("\ufeffopportunity_id;owner;stage;amount;created_date;close_date\r\n"
            '"O1";"Ann";"Prospecting";"13884,00";"2024-01-01";"2024-02-01"\r\n'
            '"O2";"Ann";"Prospecting";"1.234,50";"2024-01-01";"2024-02-01"\r\n')
    _write(tmp_path, text)
    m = load_mapping("canonical")
    m = {**m, "tables": {**m["tables"], "opportunities": {"file": "opportunities*.csv",
                                                          "amount": {"decimal": ",", "thousands": "."}}}}
    ds = load_dataset(tmp_path, mapping=m)
    assert ds.opportunities["amount"].tolist() == [13884.0, 1234.5]
    assert ds.opportunities["opportunity_id"].tolist() == ["O1", "O2"]


@pytest.mark.parametrize("encoding,owner", [("gb18030", "李安"), ("cp1252", "José Núñez"), ("utf-8-sig", "Zoë")])
def test_encodings_detected(tmp_path, encoding, owner):
    _write(tmp_path, HEADER + f"O1,{owner},Prospecting,1,2024-01-01,2024-02-01\n", encoding=encoding)
    ds = load_dataset(tmp_path)
    assert ds.opportunities["owner"].tolist() == [owner]


def test_parquet_and_xlsx(tmp_path):
    df = pd.DataFrame({"opportunity_id": ["O1", "O2"], "owner": ["A", "B"], "stage": ["Closed Won", "Proposal"],
                       "amount": [10.0, 20.0], "created_date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                       "close_date": pd.to_datetime(["2024-01-05", "2024-03-01"])})
    m = load_mapping("canonical")
    m = {**m, "tables": {"opportunities": {"file": ["opportunities*.parquet", "opportunities*.xlsx"]}}}
    df.to_parquet(tmp_path / "opportunities.parquet")
    ds = load_dataset(tmp_path, mapping=m)
    pd.testing.assert_frame_equal(ds.opportunities[df.columns], df)
    (tmp_path / "opportunities.parquet").unlink()
    df.to_excel(tmp_path / "opportunities.xlsx", index=False)
    ds = load_dataset(tmp_path, mapping=m)
    pd.testing.assert_frame_equal(ds.opportunities[df.columns], df)


def test_as_of_is_latest_event_not_open_close_date(tmp_path):
    _write(tmp_path, HEADER + "O1,A,Closed Won,1,2024-01-01,2024-02-10\nO2,A,Proposal,1,2024-02-01,2030-01-01\n")
    ds = load_dataset(tmp_path)
    assert ds.as_of == pd.Timestamp("2024-02-10")
    assert load_dataset(tmp_path, as_of="2024-03-01 15:00").as_of == pd.Timestamp("2024-03-01")


def test_zero_won_deals_warns_with_mapping_lines(tmp_path):
    _write(tmp_path, HEADER + "O1,A,Closed Lost,1,2024-01-01,2024-02-10\nO2,A,Proposal,1,2024-02-01,2024-05-01\n")
    with pytest.warns(DataWarning, match="No won deals") as rec:
        ds = load_dataset(tmp_path)
    assert "aliases" in str(rec[0].message) and "Closed Won" in str(rec[0].message)
    assert any("No won deals" in n for n in ds.notes)


def test_no_matching_files(tmp_path):
    _write(tmp_path, "x\n1\n", name="something.csv")
    with pytest.raises(MappingError, match="something.csv"):
        load_dataset(tmp_path, mapping="hubspot")


def test_unknown_mapping_name():
    with pytest.raises(MappingError, match="built-in"):
        load_mapping("nosuchcrm")


def test_extends_merges_over_builtin(tmp_path):
    p = tmp_path / "m.yml"
    p.write_text("extends: salesforce\ntables:\n  opportunities:\n    dates: {dayfirst: true}\n", encoding="utf-8")
    m = load_mapping(p)
    assert m["tables"]["opportunities"]["dates"] == {"dayfirst": True}
    assert m["tables"]["opportunities"]["columns"]["stage"] == ["Stage", "StageName"]
    assert m["name"] == "m"


def test_several_files_concatenate_with_line_numbers(tmp_path):
    _write(tmp_path, HEADER + "O1,A,Prospecting,1,2024-01-01,2024-02-01\n", name="opportunities_1.csv")
    _write(tmp_path, HEADER + "O2,A,Prospecting,1,2024-01-01,2024-02-01\nO3,A,Prospecting,-1,2024-01-01,2024-02-01\n",
           name="opportunities_2.csv")
    ds = load_dataset(tmp_path)
    assert ds.opportunities["opportunity_id"].tolist() == ["O1", "O2", "O3"]
    # the negative amount of O3 is withheld; the example names its file and line
    assert ds.withheld["example"].tolist() == ["opportunities_2.csv:3"]
    assert ds.account["files"].tolist() == [2]


def test_orders_without_customer_or_date_kept(tmp_path):
    _write(tmp_path, "order_id,customer_id,order_date,amount\nX1,C1,2024-01-01,5\nX2,,2024-01-02,5\n"
           "X3,C2,,7\nX4,C3,someday,8\n,C4,2024-01-03,9\n", name="orders.csv")
    ds = load_dataset(tmp_path)
    # an order is its id: without customer or date it is still revenue (not in customer KPIs or cohorts)
    assert ds.orders["order_id"].tolist() == ["X1", "X2", "X3", "X4"]
    assert ds.quarantine["orders"]["check"].tolist() == ["missing required value"]
    w = ds.withheld.set_index(["column", "reason"])["rows"].to_dict()
    assert w == {("order_date", "unparseable date"): 1, ("customer_id", "missing value"): 1,
                 ("order_date", "missing value"): 1}
    _adds_up(ds)


def test_sample_loads_cleanly():
    from pathlib import Path

    sample = Path(__file__).parents[2] / "data" / "sample"
    if not (sample / "opportunities.csv").exists():
        pytest.skip("sample data not generated")
    ds = load_dataset(sample)
    _adds_up(ds)
    assert ds.opportunities["is_won"].any()


def test_line_break_inside_quoted_value(tmp_path):
    _write(tmp_path, HEADER + 'O1,"Ann\nLee",Closed Won,1,2024-01-01,2024-02-01\n'
                              'O2,Bob,Closed Won,1,2024-01-01,2024-02-01\n')
    ds = load_dataset(tmp_path)
    assert ds.opportunities["owner"].tolist() == ["Ann\nLee", "Bob"]
    assert ds.quarantine["opportunities"].empty


def test_unknown_keyword_is_an_error(tmp_path):
    _write(tmp_path, HEADER)
    with pytest.raises(TypeError, match="unexpected"):
        load_dataset(tmp_path, mappping="canonical")


def test_source_line_exact_after_blank_lines_and_quoted_line_breaks(tmp_path):
    _write(tmp_path, HEADER + '\nO1,"Ann\nLee",Closed Won,1,2024-01-01,2024-02-01\n"only one field"\n\n'
           "O2,Bob,Closed Won,-1,2024-01-01,2024-02-01\n")
    ds = load_dataset(tmp_path)
    q = ds.quarantine["opportunities"].set_index("check")
    # line 1 header, 2 blank, 3-4 O1 (quoted line break), 5 malformed, 6 blank, 7 O2 (kept, amount withheld)
    assert ds.withheld["example"].tolist() == ["opportunities.csv:7"]
    assert q.loc["malformed line", "source_line"] == 5
