"""Public CRM exports nobody here wrote (data/external/<name>/, each with its PROVENANCE.md and mapping.yml):
the kit's won/lost counts and won money per currency equal a plain csv read of the raw file written here by hand
(not the kit's loader), every table's rows read = kept + quarantined and every record of the file is accounted
for, on pandas, Polars and DuckDB; ``salesops kpis`` exits 0 with no provider error."""

import csv
import importlib.util
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd
import pytest

from salesops_kit import cli, engines
from salesops_kit.data.load import load_dataset

EXTERNAL = Path(__file__).resolve().parents[2] / "data" / "external"
ENGINES = ["pandas"] + [e for e in ("polars", "duckdb") if importlib.util.find_spec(e)]

# How to read each export by hand: its deals file, the columns, the won/lost stage labels, and per other table
# the file and its number of records. Written from the raw files (see each PROVENANCE.md), not from the kit.
# Salesforce writes its empty id in every unset lookup of a Data Export (it is no record's id).
SALESFORCE_EMPTY_ID = "000000000000000AAA"
RAW = {
    "salesforce_devorg": {
        "deals": "Opportunity.csv", "id": "Id", "stage": "StageName", "amount": "Amount", "currency": None,
        "code": None, "won": {"Closed Won"}, "lost": {"Closed Lost"},
        "other_files": {"stage_history": "OpportunityHistory.csv", "deal_history": "OpportunityHistory.csv",
                        "leads": "Lead.csv"},
        "leads": {"file": "Lead.csv", "opportunity": "ConvertedOpportunityId", "converted": "ConvertedDate"},
    },
    "maven_crm": {  # accounts/products/sales_teams.csv are lookup tables the kit does not load
        "deals": "sales_pipeline.csv", "id": "opportunity_id", "stage": "deal_stage", "amount": "close_value",
        "currency": None, "code": None, "won": {"Won"}, "lost": {"Lost"}, "other_files": {},
    },
}


def _public_exports() -> list[str]:
    return sorted(p.name for p in EXTERNAL.iterdir()
                  if p.is_dir() and (p / "PROVENANCE.md").exists() and (p / "mapping.yml").exists())


def test_every_public_export_is_read_here():
    """A new export in data/external needs its hand-written read above (or this test fails)."""
    assert _public_exports() and set(_public_exports()) == set(RAW)


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _by_hand(name: str) -> dict:
    spec = RAW[name]
    rows = [r for r in _rows(EXTERNAL / name / spec["deals"]) if (r[spec["id"]] or "").strip()]
    stages = Counter(r[spec["stage"]].strip() for r in rows)
    money: dict[str, float] = defaultdict(float)
    for r in rows:
        if r[spec["stage"]].strip() in spec["won"] and r[spec["amount"]].strip():
            code = spec["code"] or (r[spec["currency"]].strip().upper() if spec["currency"] else "")
            money[code] += float(r[spec["amount"]])
    return {"deals": len(rows), "won": sum(stages[s] for s in spec["won"]),
            "lost": sum(stages[s] for s in spec["lost"]), "won_money": dict(money)}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(RAW))
def test_counts_and_money_equal_a_plain_read(name, engine):
    folder = EXTERNAL / name
    want = _by_hand(name)
    ds = load_dataset(folder, mapping=folder / "mapping.yml", engine=engine)
    opps = engines.to_pandas(ds.opportunities)
    assert len(opps) == want["deals"]  # no deal of these exports is quarantined
    won, lost = opps["is_won"].astype(bool), opps["is_closed"].astype(bool) & ~opps["is_won"].astype(bool)
    assert (int(won.sum()), int(lost.sum())) == (want["won"], want["lost"])
    codes = opps["currency"].fillna("").str.upper() if "currency" in opps.columns else pd.Series("", opps.index)
    got = opps[won].groupby(codes[won])["amount"].sum().to_dict()
    assert got == pytest.approx(want["won_money"])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(RAW))
def test_every_record_is_accounted_for(name, engine):
    folder = EXTERNAL / name
    spec = RAW[name]
    ds = load_dataset(folder, mapping=folder / "mapping.yml", engine=engine)
    acc = ds.account.set_index("table")
    assert (acc["rows_read"] == acc["rows_kept"] + acc["rows_quarantined"]).all()
    files = {"opportunities": spec["deals"], **spec["other_files"]}
    assert set(acc.index) == set(files)
    for table, f in files.items():
        n_records = len(_rows(folder / f))  # csv records of the file (quoted line breaks stay in one record)
        # a record is read (kept or quarantined), a footer line, or a history edit that enters no new stage
        assert acc.loc[table, ["rows_read", "footer_lines", "other_lines"]].sum() == n_records, table


@pytest.mark.parametrize("name", sorted(RAW))
def test_kpis_exit_0(name, tmp_path, capsys):
    folder = EXTERNAL / name
    out = tmp_path / "kpis.csv"
    code = cli.main(["kpis", str(folder), "--mapping", str(folder / "mapping.yml"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0 and "KPI not computed" not in err, err
    kpis = pd.read_csv(out)
    assert {"rows_opportunities", "deals_won", "win_rate"} <= set(kpis["kpi"])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(n for n in RAW if "leads" in RAW[n]))
def test_lead_conversions_equal_a_plain_read(name, engine):
    """Leads linked to an opportunity and leads with a conversion date, counted by hand (an empty id links none)."""
    folder, spec = EXTERNAL / name, RAW[name]["leads"]
    rows = _rows(folder / spec["file"])
    linked = sum(1 for r in rows if r[spec["opportunity"]].strip() not in ("", SALESFORCE_EMPTY_ID))
    converted = sum(1 for r in rows if r[spec["converted"]].strip())
    ds = load_dataset(folder, mapping=folder / "mapping.yml", engine=engine)
    leads = engines.to_pandas(ds.leads)
    assert len(leads) == len(rows)
    assert (int(leads["opportunity_id"].notna().sum()), int(leads["converted_date"].notna().sum())) == (
        linked, converted)
