"""Every CSV export of the corpus (tests/fixtures/exports, data/external) read by Polars and DuckDB gives the tables
and row account the pandas loader gives: footers, a Windows-1252 Data Export (Salesforce's default encoding),
HubSpot API timestamps (2024-01-15T09:12:00.000Z), US 12-hour times, Dutch decimals, status-based Pipedrive."""

from pathlib import Path

import pandas as pd
import pytest

from salesops_kit import engines
from salesops_kit.data.load import load_dataset

pytest.importorskip("polars")
pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "exports"
PUBLIC = ROOT / "data" / "external"
BUILTIN = ("salesforce", "hubspot", "zoho", "jiandaoyun", "pipedrive")
# what the lazy engines do not read (README "Big data"): Excel workbooks and GB18030 text need pandas
PANDAS_ONLY = {"jiandaoyun": "GB18030 text", "jiandaoyun_xlsx": "an Excel workbook"}
KEYS = {"opportunities": ["opportunity_id"], "stage_history": ["opportunity_id", "entered_date", "stage"],
        "leads": ["lead_id"]}


def _folders() -> list[Path]:
    out = [p for p in sorted(FIX.iterdir()) if p.is_dir() and p.name not in PANDAS_ONLY]
    return out + [p for p in sorted(PUBLIC.iterdir())
                  if (p / "PROVENANCE.md").exists() and (p / "mapping.yml").exists()]


def _mapping(folder: Path) -> str:
    own = folder / "mapping.yml"
    return str(own) if own.exists() else next(b for b in BUILTIN if folder.name.startswith(b))


def _ns(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(**{c: df[c].astype("datetime64[ns]") for c in df.columns
                        if pd.api.types.is_datetime64_any_dtype(df[c])})


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
@pytest.mark.parametrize("folder", _folders(), ids=lambda p: p.name)
def test_lazy_engine_reads_the_export_like_pandas(folder, engine):
    ref = load_dataset(folder, mapping=_mapping(folder))
    ds = load_dataset(folder, mapping=_mapping(folder), engine=engine)
    assert_export_like_pandas(ds, ref, folder, engine)


def assert_export_like_pandas(ds, ref, folder, engine: str) -> list[str]:
    """An export loaded on another engine equals the pandas loader's: the account of the tables the files hold
    (pandas also derives a HubSpot history from Date-entered columns; lazy engines do not) and each table's rows,
    sorted by its key. Returns the tables compared."""
    tables = list(ds.account["table"])
    want_acc = ref.account[ref.account["table"].isin(tables)].reset_index(drop=True)
    pd.testing.assert_frame_equal(ds.account.reset_index(drop=True), want_acc)
    for name in tables:
        got, want = engines.to_pandas(ds.table(name)), ref.table(name)
        cols = [c for c in want.columns if c in got.columns]
        key = [k for k in KEYS.get(name, [cols[0]]) if k in cols]
        got = _ns(got[cols]).sort_values(key, kind="stable").reset_index(drop=True)
        want = _ns(want[cols]).sort_values(key, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=f"{folder.name}/{name} on {engine}")
    return tables


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_date_forms_of_real_exports(tmp_path, engine):
    """Dates as CRMs write them read to the same values on every engine."""
    forms = {  # raw value -> the date it is
        "2024-01-15T09:12:00.512Z": "2024-01-15 09:12:00.512",  # HubSpot API, milliseconds and UTC mark
        "2024-01-16T10:00:00Z": "2024-01-16 10:00:00",
        "1/10/2024 9:05 AM": "2024-01-10 09:05:00",          # US Salesforce report, 12-hour clock
        "1/10/2024 12:30 PM": "2024-01-10 12:30:00",
        "15 Apr, 2021 00:02:00": "2021-04-15 00:02:00",      # Zoho Analytics
        "Apr 15, 2024": "2024-04-15 00:00:00",
        "15-Apr-2024": "2024-04-15 00:00:00",
        "2024-02-03 14:05:07.250": "2024-02-03 14:05:07.250",
    }
    lines = ["Opportunity ID,Opportunity Owner,Stage,Amount,Created Date,Close Date"]
    lines += [f'00{i},Ann,Closed Won,100,"{raw}",' for i, raw in enumerate(forms)]
    (tmp_path / "opportunities_report.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ref = load_dataset(tmp_path, mapping="salesforce")
    want = pd.to_datetime(pd.Series(list(forms.values())), format="ISO8601")
    assert ref.opportunities.sort_values("opportunity_id")["created_date"].reset_index(drop=True).equals(want)
    got = engines.to_pandas(load_dataset(tmp_path, mapping="salesforce", engine=engine).opportunities)
    got = _ns(got).sort_values("opportunity_id")["created_date"].reset_index(drop=True)
    pd.testing.assert_series_equal(got, want, check_names=False)


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
@pytest.mark.parametrize("name", sorted(PANDAS_ONLY))
def test_what_the_lazy_engines_cannot_read_is_named(name, engine):
    """An Excel workbook or GB18030 text stops with the file and the fix, not a wrong header or a Parquet error."""
    folder = FIX / name
    with pytest.raises(ValueError, match="engine='pandas'") as err:
        load_dataset(folder, mapping="jiandaoyun", engine=engine)
    assert any(f.name in str(err.value) for f in folder.iterdir())  # the message names the file
    assert load_dataset(folder, mapping="jiandaoyun").account["rows_read"].sum() > 0  # pandas reads it
