"""Each CRM export fixture (tests/fixtures/exports/<crm>/, written from the vendors' documented formats)
describes the same six deals; loaded through its built-in mapping it must give the same canonical answer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from salesops_kit import load_dataset

EXPORTS = Path(__file__).parents[1] / "fixtures" / "exports"

# The six deals, as written into every fixture (amount None = blank in the export).
DEALS = pd.DataFrame(
    [
        ("00610001", "early", 12000.00, "2024-01-15", "2024-04-30", False, False),
        ("00610002", "late", 8500.50, "2024-02-03", "2024-05-15", False, False),
        ("00610003", "won", 23000.00, "2024-01-20", "2024-03-05", True, True),
        ("00610004", "lost", 4200.00, "2024-02-10", "2024-03-28", True, False),
        ("00610005", "won", 1234.50, "2024-03-01", "2024-03-22", True, True),
        ("00610006", "lost", None, "2024-03-12", "2024-04-02", True, False),
    ],
    columns=["opportunity_id", "key", "amount", "created_date", "close_date", "is_closed", "is_won"],
)
# The label each mapping normalises a stage to (the mapping's own labels).
LABELS = {
    "salesforce": {"early": "Prospecting", "late": "Negotiation/Review", "won": "Closed Won", "lost": "Closed Lost"},
    "hubspot": {"early": "Appointment Scheduled", "late": "Contract Sent", "won": "Closed Won", "lost": "Closed Lost"},
    "zoho": {"early": "Qualification", "late": "Negotiation/Review", "won": "Closed Won", "lost": "Closed Lost"},
    "jiandaoyun": {"early": "初步接洽", "late": "商务谈判", "won": "赢单", "lost": "输单"},
}
CASES = [
    ("salesforce", "salesforce"),
    ("salesforce_api", "salesforce"),
    ("salesforce_eu", str(EXPORTS / "salesforce_eu" / "mapping.yml")),
    ("hubspot", "hubspot"),
    ("hubspot_api", "hubspot"),
    ("zoho", "zoho"),
    ("jiandaoyun", "jiandaoyun"),
    ("jiandaoyun_xlsx", "jiandaoyun"),
]


def _family(mapping: str) -> str:
    return "salesforce" if "salesforce" in mapping else mapping


@pytest.mark.parametrize("folder,mapping", CASES, ids=[c[0] for c in CASES])
def test_export_loads_to_the_same_canonical_deals(folder, mapping):
    ds = load_dataset(EXPORTS / folder, mapping=mapping)
    opp = ds.opportunities.sort_values("opportunity_id").reset_index(drop=True)
    exp = DEALS
    assert opp["opportunity_id"].tolist() == exp["opportunity_id"].tolist()  # ids stay text: leading zeros kept
    labels = LABELS[_family(mapping)]
    assert opp["stage"].tolist() == [labels[k] for k in exp["key"]]
    pd.testing.assert_series_equal(opp["amount"], exp["amount"].astype(float), check_names=False)
    assert opp["created_date"].dt.normalize().tolist() == pd.to_datetime(exp["created_date"]).tolist()
    assert opp["close_date"].dt.normalize().tolist() == pd.to_datetime(exp["close_date"]).tolist()
    assert opp["is_won"].tolist() == exp["is_won"].tolist()
    assert opp["is_closed"].tolist() == exp["is_closed"].tolist()
    acc = ds.account.set_index("table")
    assert (acc["rows_read"] == acc["rows_kept"] + acc["rows_quarantined"]).all()
    assert acc.loc["opportunities", "rows_kept"] == 6
    assert acc.loc["opportunities", "rows_quarantined"] == 0
    assert ds.as_of == pd.Timestamp("2024-04-02")  # last close of a closed deal; open deals' close dates are plans


def test_salesforce_report_footer_and_subtotal_are_counted_not_rows():
    ds = load_dataset(EXPORTS / "salesforce", mapping="salesforce")
    acc = ds.account.set_index("table")
    # 1 subtotal row + blank, Grand Totals, blank, Confidential, blank, copyright = 7 lines
    assert acc.loc["opportunities", "footer_lines"] == 7
    assert ds.opportunities["probability"].tolist() == [0.1, 0.9, 1.0, 0.0, 1.0, 0.0]  # "Probability (%)"


def test_salesforce_history_report_keeps_only_stage_changes():
    ds = load_dataset(EXPORTS / "salesforce", mapping="salesforce")
    sh = ds.stage_history
    acc = ds.account.set_index("table")
    # 20 history rows: 14 stage entries, 6 amount edits with From Stage == To Stage
    assert acc.loc["stage_history", "rows_kept"] == 14
    assert acc.loc["stage_history", "other_lines"] == 6
    d3 = sh[sh["opportunity_id"] == "00610003"]
    assert d3["stage"].tolist() == ["Prospecting", "Proposal/Price Quote", "Closed Won"]
    # exited = next entered (the export has no exit column)
    assert d3["exited_date"].tolist()[:2] == d3["entered_date"].tolist()[1:]
    assert pd.isna(d3["exited_date"].iloc[-1])


def test_salesforce_api_history_unsorted_and_non_stage_edits():
    ds = load_dataset(EXPORTS / "salesforce_api", mapping="salesforce")
    sh = ds.stage_history
    acc = ds.account.set_index("table")
    assert acc.loc["stage_history", "rows_kept"] == 14  # same entries as the report
    assert acc.loc["stage_history", "other_lines"] == 6  # one amount edit per deal
    d2 = sh[sh["opportunity_id"] == "00610002"]
    assert d2["stage"].tolist() == ["Prospecting", "Qualification", "Negotiation/Review"]
    assert d2["entered_date"].is_monotonic_increasing
    report = load_dataset(EXPORTS / "salesforce", mapping="salesforce").stage_history
    assert sh["stage"].tolist() == report["stage"].tolist()
    assert sh["entered_date"].dt.normalize().tolist() == report["entered_date"].tolist()


def test_salesforce_api_is_windows_1252():
    ds = load_dataset(EXPORTS / "salesforce_api", mapping="salesforce")
    assert ds.opportunities["opportunity_id"].iloc[0] == "00610001"
    raw = (EXPORTS / "salesforce_api" / "Opportunity.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_hubspot_date_entered_columns_become_stage_history():
    ds = load_dataset(EXPORTS / "hubspot", mapping="hubspot")
    sh = ds.stage_history
    d4 = sh[sh["opportunity_id"] == "00610004"]
    assert d4["stage"].tolist() == ["Appointment Scheduled", "Contract Sent", "Closed Lost"]
    assert d4["exited_date"].iloc[0] == d4["entered_date"].iloc[1]
    assert len(sh) == 13 and ds.quarantine["stage_history"].empty
    assert any("duplicate headers" in n for n in ds.notes)
    assert ds.opportunities["owner"].tolist()[0] == "Ann Lee"  # the first "Deal owner" column


def test_hubspot_api_internal_stage_ids():
    ds = load_dataset(EXPORTS / "hubspot_api", mapping="hubspot")
    assert set(ds.opportunities["stage"]) == {"Appointment Scheduled", "Contract Sent", "Closed Won", "Closed Lost"}
    sh = ds.stage_history
    assert sorted(sh.loc[sh["stage"] == "Closed Won", "opportunity_id"]) == ["00610003", "00610005"]


def test_zoho_account_id_from_lookup_id_column():
    ds = load_dataset(EXPORTS / "zoho", mapping="zoho")
    assert ds.opportunities["account_id"].iloc[0] == "zcrm_4150868000000610001"
    assert ds.opportunities["created_date"].iloc[1] == pd.Timestamp("2024-02-03 14:05")  # 02:05 PM


def test_jiandaoyun_gb18030_and_percent():
    ds = load_dataset(EXPORTS / "jiandaoyun", mapping="jiandaoyun")
    assert ds.opportunities["owner"].iloc[0] == "李安"
    assert ds.opportunities["probability"].tolist() == [0.1, 0.9, 1.0, 0.0, 1.0, 0.0]


def test_jiandaoyun_xlsx_total_row_is_footer():
    ds = load_dataset(EXPORTS / "jiandaoyun_xlsx", mapping="jiandaoyun")
    acc = ds.account.set_index("table")
    assert acc.loc["opportunities", "footer_lines"] == 2  # the blank row and the 合计 row
    assert acc.loc["opportunities", "rows_quarantined"] == 0


def test_single_file_path_is_accepted():
    ds = load_dataset(EXPORTS / "zoho" / "Deals_2024.csv", mapping="zoho")
    assert len(ds.opportunities) == 6


def test_salesforce_leads_report():
    ds = load_dataset(EXPORTS / "salesforce", mapping="salesforce")
    leads = ds.leads
    assert leads["lead_id"].tolist() == ["00Q5g000001", "00Q5g000002", "00Q5g000003"]
    assert leads["created_date"].tolist() == [pd.Timestamp("2024-01-10 09:05"), pd.Timestamp("2024-01-12 16:40"),
                                              pd.Timestamp("2024-01-18 11:00")]
    assert leads["opportunity_id"].tolist()[0] == "00610001" and pd.isna(leads["converted_date"].iloc[1])
    assert ds.account.set_index("table").loc["leads", "footer_lines"] == 4


def test_formatted_xlsx_report_with_title_rows(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Opportunity Pipeline"])
    ws.append(["As of 4/30/2024"])
    ws.append([])
    ws.append(["Opportunity Owner", "Stage", "Amount", "Close Date", "Created Date", "Opportunity ID"])
    ws.append(["Ann Lee", "Closed Won", 23000, "3/5/2024", "1/20/2024", "00610003"])
    ws.append(["Subtotal", None, 23000, None, None, None])
    ws.append(["Grand Totals (1 records)"])
    wb.save(tmp_path / "opportunities.xlsx")
    ds = load_dataset(tmp_path, mapping="salesforce")
    assert ds.opportunities["opportunity_id"].tolist() == ["00610003"]
    acc = ds.account.set_index("table").loc["opportunities"]
    # title and "As of" rows above the header, the subtotal and the Grand Totals line below
    assert (acc["rows_read"], acc["rows_quarantined"], acc["footer_lines"]) == (1, 0, 4)


def test_jiandaoyun_stage_records_become_stage_history():
    ds = load_dataset(EXPORTS / "jiandaoyun", mapping="jiandaoyun")
    sh = ds.stage_history
    assert len(sh) == 14 and ds.quarantine["stage_history"].empty
    d3 = sh[sh["opportunity_id"] == "00610003"]
    assert d3["stage"].tolist() == ["初步接洽", "方案报价", "赢单"]
    assert d3["entered_date"].tolist()[0] == pd.Timestamp("2024-01-20 10:00")
    assert d3["exited_date"].tolist()[:2] == d3["entered_date"].tolist()[1:]  # no 离开时间 column: next entry
    assert len(ds.opportunities) == 6  # the records file is not read as deals


def test_export_won_flag_disagreeing_with_stage_model_is_noted(tmp_path):
    text = (EXPORTS / "salesforce_api" / "Opportunity.csv").read_bytes().decode("cp1252")
    # a custom Spanish won stage the mapping only knows as an open stage (aliased to Negotiation/Review)
    text = text.replace("Closed Won,", "Ganado,")
    (tmp_path / "Opportunity.csv").write_text(text, encoding="cp1252")
    m = tmp_path / "m.yml"
    m.write_text("extends: salesforce\nstages:\n  aliases:\n    Ganado: Negotiation/Review\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="No won deals"):
        ds = load_dataset(tmp_path, mapping=m)
    note = [n for n in ds.notes if "own won flag" in n]
    assert note and "'Ganado' (2 rows)" in note[0] and "stages.won" in note[0]
    assert "export_is_won" not in ds.opportunities.columns


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
def test_pipedrive_status_export_against_a_plain_read(engine):
    """Issue 14: Pipedrive's deal export (won/lost in Status, the pipeline step in Stage) loads with
    ``mapping="pipedrive"``; won/lost/open counts, won value and the steps where deals were lost equal a plain
    pandas read of the file. The close date is Won time or Lost time, else Expected close date."""
    from salesops_kit import engines

    folder = EXPORTS / "pipedrive"
    raw = pd.read_csv(next(folder.glob("deals-*.csv")), dtype=str)
    ds = load_dataset(folder, mapping="pipedrive", engine=engine)
    got = engines.to_pandas(ds.opportunities)
    assert ds.account.loc[0, "rows_read"] == len(raw) == ds.account.loc[0, "rows_kept"]
    status = raw["Status"].str.lower()
    assert int(got["is_won"].sum()) == int((status == "won").sum())
    assert int((got["is_closed"] & ~got["is_won"]).sum()) == int((status == "lost").sum())
    assert int((~got["is_closed"]).sum()) == int((status == "open").sum())
    won_value = raw.loc[status == "won", "Value"].astype(float).sum()
    assert got.loc[got["is_won"], "amount"].sum() == pytest.approx(won_value)
    assert got.loc[got["is_closed"] & ~got["is_won"], "lost_at_stage"].value_counts().sort_index().to_dict() == \
        raw.loc[status == "lost", "Stage"].value_counts().sort_index().to_dict()
    assert set(got["stage"]) == {"Won", "Lost"} | set(raw.loc[status == "open", "Stage"])
    by_id = got.set_index("opportunity_id")
    closed_at = raw["Won time"].fillna(raw["Lost time"]).fillna(raw["Expected close date"])
    assert by_id.loc[raw["ID"], "close_date"].tolist() == pd.to_datetime(closed_at, format="ISO8601").tolist()
    assert by_id["close_date"].isna().sum() == 1  # the open deal without expected close date
    assert set(by_id["currency"]) == {"USD"}
