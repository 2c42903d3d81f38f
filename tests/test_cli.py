"""The salesops command line: audit, kpis, sample, mapping suggest (report has its own tests)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from salesops_kit import cli

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "exports"


def test_audit_prints_account_and_writes_quarantine(tmp_path, capsys):
    assert cli.main(["audit", str(FIX / "salesforce"), "--mapping", "salesforce",
                     "--quarantine-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "rows_read" in out and "opportunities" in out


def test_kpis_json_has_registry_columns(tmp_path, capsys):
    assert cli.main(["kpis", str(FIX / "hubspot"), "--mapping", "hubspot", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and set(rows[0]) == {"kpi", "segment", "value", "ci_low", "ci_high", "unit", "definition", "window"}
    by = {(r["kpi"], r["segment"]): r for r in rows}
    assert by[("rows_opportunities", "all")]["value"] == 6  # the six fixture deals


def test_unknown_mapping_is_a_clear_error(capsys):
    assert cli.main(["kpis", str(FIX / "hubspot"), "--mapping", "nosuchcrm"]) == 2
    err = capsys.readouterr().err
    assert "nosuchcrm" in err and "salesforce" in err


def test_sample_writes_canonical_files(tmp_path, capsys):
    assert cli.main(["sample", "--out", str(tmp_path), "--seed", "3", "--scale", "0.05"]) == 0
    opps = pd.read_csv(tmp_path / "opportunities.csv")
    assert {"opportunity_id", "owner", "stage", "amount", "created_date", "close_date"} <= set(opps.columns)
    assert len(opps) > 0


def test_mapping_suggest_prints_yaml(capsys):
    assert cli.main(["mapping", "suggest", str(FIX / "salesforce" / "opportunities_report.csv")]) == 0
    out = capsys.readouterr().out
    assert "opportunity_id" in out and "Opportunity ID" in out


def test_kpis_names_a_failing_provider_and_still_writes_the_others(tmp_path, capsys, monkeypatch):
    """Issue 14: like `salesops report`, one provider that raises is named on standard error, the command exits
    non-zero, and every other provider's KPIs are still written."""
    from salesops_kit import funnel

    def broken(ds):
        raise IndexError("single positional indexer is out-of-bounds")

    monkeypatch.setattr(funnel, "kpi_rows", broken)
    out = tmp_path / "kpis.csv"
    assert cli.main(["kpis", str(FIX / "hubspot"), "--mapping", "hubspot", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "salesops_kit.funnel.kpi_rows: IndexError: single positional indexer is out-of-bounds" in err
    table = pd.read_csv(out)
    assert ("rows_opportunities", "all") in set(zip(table["kpi"], table["segment"], strict=True))
    assert "win_rate" not in set(table["kpi"])  # the funnel's KPIs are the ones missing


# the fixture corpus, and the public exports in data/external (a folder with a PROVENANCE.md and a mapping.yml)
PUBLIC = ROOT / "data" / "external"
EXPORTS = sorted(p.name for p in FIX.iterdir() if p.is_dir()) + sorted(
    f"external/{p.name}" for p in PUBLIC.iterdir() if (p / "PROVENANCE.md").exists() and (p / "mapping.yml").exists())
BUILTIN = {"salesforce": "salesforce", "hubspot": "hubspot", "jiandaoyun": "jiandaoyun", "zoho": "zoho",
           "pipedrive": "pipedrive"}
# exports that still crash a KPI provider, with the fix (tests/data/test_public_exports.py says the same)


def _folder(name: str) -> Path:
    return PUBLIC / name.removeprefix("external/") if name.startswith("external/") else FIX / name


def _mapping_for(name: str) -> str:
    own = _folder(name) / "mapping.yml"
    return str(own) if own.exists() else BUILTIN[name.split("_")[0]]


def test_the_export_corpus_is_all_here():
    assert len(EXPORTS) >= 11 and {"jiandaoyun", "pipedrive", "salesforce_multicurrency"} <= set(EXPORTS)


@pytest.mark.parametrize("name", EXPORTS)
def test_kpis_exit_0_on_every_real_shaped_export(name, tmp_path, capsys):
    """Every export of the corpus gives a KPI table, with every provider computed (exit 0, nothing on stderr)."""
    out = tmp_path / "kpis.csv"
    assert cli.main(["kpis", str(_folder(name)), "--mapping", _mapping_for(name), "--out", str(out)]) == 0
    assert "error" not in capsys.readouterr().err
    kpis = pd.read_csv(out)
    assert {"rows_opportunities", "deals_won", "win_rate"} <= set(kpis["kpi"])
