"""Export footers on the lazy engines: a Salesforce report ends with a blank line, "Grand Totals (N records)",
"Confidential Information - Do Not Distribute" and the copyright line (one quoted field each). The pandas reader
drops and counts them; Polars and DuckDB must read the same file to the same tables and the same row account
(DuckDB's own CSV sniffer read such a file as one column and the load stopped with a KeyError)."""

from pathlib import Path

import pandas as pd
import pytest

from salesops_kit import engines
from salesops_kit.data.load import load_dataset

pytest.importorskip("polars")
pytest.importorskip("duckdb")

EXPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "exports"
LAZY = ("polars", "duckdb")
KEYS = {"opportunities": ["opportunity_id"], "stage_history": ["opportunity_id", "entered_date"],
        "leads": ["lead_id"]}


def _same_tables(ds, ref, where):
    pd.testing.assert_frame_equal(ds.account.reset_index(drop=True), ref.account.reset_index(drop=True))
    for name in ref.account["table"]:
        got, want = engines.to_pandas(ds.table(name)), ref.table(name)
        cols = [c for c in want.columns if c in got.columns]
        key = KEYS[name]
        got = _ns(got[cols]).sort_values(key, kind="stable").reset_index(drop=True)
        want = _ns(want[cols]).sort_values(key, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=f"{name} on {where}")


def _ns(df: pd.DataFrame) -> pd.DataFrame:
    """Datetimes in one unit (the lazy engines give microseconds, pandas nanoseconds): values are compared."""
    return df.assign(**{c: df[c].astype("datetime64[ns]") for c in df.columns
                        if pd.api.types.is_datetime64_any_dtype(df[c])})


def _raw_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("engine", LAZY)
def test_salesforce_report_footers_read_like_pandas(engine):
    folder = EXPORTS / "salesforce"
    # the fixture really ends with footer lines (and its opportunities report has a full-width subtotal row)
    for f in ("opportunities_report.csv", "opportunity_history.csv", "leads_report.csv"):
        tail = _raw_lines(folder / f)[-6:]
        assert any(t.startswith('"Grand Totals') for t in tail) and '""' in tail, f
    ref = load_dataset(folder, mapping="salesforce")
    ds = load_dataset(folder, mapping="salesforce", engine=engine)
    _same_tables(ds, ref, engine)
    # footer lines counted per table: the lines after the last record that are not records
    acc = ds.account.set_index("table")
    for table, f in (("stage_history", "opportunity_history.csv"), ("leads", "leads_report.csv")):
        lines = _raw_lines(folder / f)
        n_footer = sum(1 for ln in lines[1:] if ln.count('","') == 0)
        assert acc.loc[table, "footer_lines"] == n_footer
        # every other line is a record: read (kept or quarantined), or a history edit that enters no new stage
        assert acc.loc[table, "rows_read"] + acc.loc[table, "other_lines"] == len(lines) - 1 - n_footer


@pytest.mark.parametrize("engine", LAZY)
def test_dutch_report_with_footers_reads_like_pandas(engine):
    """The migrated Dutch-locale report (every value quoted, d-M-yyyy, 12.000,00, footer lines)."""
    folder = EXPORTS / "salesforce_migrated"
    ref = load_dataset(folder, mapping=folder / "mapping.yml")
    ds = load_dataset(folder, mapping=folder / "mapping.yml", engine=engine)
    _same_tables(ds, ref, engine)
    assert ds.account.loc[0, "footer_lines"] > 0


@pytest.mark.parametrize("engine", LAZY)
def test_semicolon_file_with_footers_and_a_blank_line(tmp_path, engine):
    """A semicolon export, a blank line between records (not a row: neither read nor footer), a subtotal
    line and the footers: the same account and table as pandas."""
    (tmp_path / "opportunities_report.csv").write_text(
        '"Opportunity ID";"Opportunity Owner";"Stage";"Amount";"Created Date";"Close Date"\n'
        '"006A";"Ann";"Closed Won";"1200.50";"1/5/2024";"2/1/2024"\n'
        "\n"
        '"006B";"Bo";"Closed Lost";"300";"1/6/2024";"2/2/2024"\n'
        '"006C";"Ann";"Prospecting";"";"1/7/2024";""\n'
        '""\n'
        '"Grand Totals (3 records)"\n'
        '""\n'
        '"Confidential Information - Do Not Distribute"\n'
        '""\n'
        '"Copyright (c) 2000-2024 salesforce.com, inc. All rights reserved."\n', encoding="utf-8")
    ref = load_dataset(tmp_path, mapping="salesforce")
    assert ref.account.loc[0, ["rows_read", "rows_kept", "footer_lines"]].tolist() == [3, 3, 6]
    ds = load_dataset(tmp_path, mapping="salesforce", engine=engine)
    _same_tables(ds, ref, engine)
    won = engines.to_pandas(ds.opportunities).query("is_won")
    assert won["amount"].tolist() == [1200.5]
