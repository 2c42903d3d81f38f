"""`salesops report` end to end: the sample company (every notebook, built once per session), a dataset with
only opportunities (missing-table pages, Chinese, management version), and byte-identical re-runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import test_report_support as support

from salesops_kit.data.load import load_dataset
from salesops_kit.report.runner import NOTEBOOK_TABLES, build_report, find_notebooks, missing_tables

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not support.have_sample(), reason="data/sample has not been generated")]

EXPECTED = ("index.html", "kpis.csv", "kpis.xlsx", "findings.csv", "manifest.json")


def _check_files(res):
    out = res.out_dir
    for name in EXPECTED:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "quarantine").is_dir()
    index = (out / "index.html").read_text(encoding="utf-8")
    for r in res.runs:
        assert r.html is not None and r.html.is_file(), r.notebook
        assert f'href="{r.html.name}"' in index
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [n["notebook"] for n in manifest["notebooks"]] == [r.notebook for r in res.runs]
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    kpis = pd.read_csv(out / "kpis.csv")
    assert list(kpis.columns) == ["kpi", "segment", "value", "ci_low", "ci_high", "unit", "definition", "window"]
    assert kpis["definition"].notna().all()
    return index, manifest, kpis


def test_full_report_on_the_sample_data(tmp_path_factory):
    res = support.sample_report(tmp_path_factory)
    assert [r.notebook for r in res.runs] == [p.stem for p in find_notebooks()]
    failed = {r.notebook: f"cell [{r.failed_cell}]: {r.error}" for r in res.runs if r.status == "failed"}
    assert failed == {}
    assert all(r.status == "ok" for r in res.runs)  # the sample company has every table
    index, manifest, kpis = _check_files(res)
    assert manifest["as_of"] == "2025-12-15"
    assert {"rows_opportunities", "win_rate"} <= set(kpis["kpi"])
    assert "Headline KPIs" in index and "Data account" in index
    for r in res.runs:  # the analyst's version keeps the code
        assert "hl-ipython3" in r.html.read_text(encoding="utf-8"), r.notebook
    findings = pd.read_csv(res.out_dir / "findings.csv")
    assert set(findings["notebook"]) <= {r.notebook for r in res.runs}
    if len(res.runs) > 1:
        assert len(findings) > 0  # the topic notebooks render findings from their results


def test_rerun_gives_byte_identical_kpis_and_findings(tmp_path_factory):
    """A second run (management version, first two notebooks, one notebook at a time) writes the same kpis.csv
    bytes and the same findings.csv lines for the notebooks it ran. The first run took every topic's KPIs
    from the tables its notebook published; this one computes the topics it did not run itself, so the
    two ways of getting the KPI table must agree to the byte."""
    first = support.sample_report(tmp_path_factory)
    pick = [p.name[:2] for p in find_notebooks()][:2]
    if not pick:
        pytest.skip("no numbered notebooks yet")
    again = build_report(support.SAMPLE, out_dir=tmp_path_factory.mktemp("rerun"), notebooks=pick, no_code=True,
                         progress=False, jobs=1)
    assert (again.out_dir / "kpis.csv").read_bytes() == (first.out_dir / "kpis.csv").read_bytes()
    ran = {r.notebook for r in again.runs}
    lines1 = (first.out_dir / "findings.csv").read_text(encoding="utf-8").splitlines()
    lines2 = (again.out_dir / "findings.csv").read_text(encoding="utf-8").splitlines()
    keep = [lines1[0]] + [ln for ln in lines1[1:] if ln.split(",", 1)[0] in ran]
    assert lines2 == keep
    # customers.csv: the first run took notebook 02's table, this one (02 not run) fits the models itself
    assert (first.out_dir / "_executed" / "customers.parquet").is_file()
    assert not (again.out_dir / "_executed" / "customers.parquet").exists()
    assert (again.out_dir / "customers.csv").read_bytes() == (first.out_dir / "customers.csv").read_bytes()
    for r in again.runs:  # management version: no code cells
        if r.status == "ok":
            assert "hl-ipython3" not in r.html.read_text(encoding="utf-8")


def test_opportunities_only_dataset_builds_with_missing_table_pages_in_chinese(tmp_path_factory):
    code, printed, out = support.opportunities_only_report(tmp_path_factory)
    assert code == 0, printed
    res_runs = {p.stem: p for p in find_notebooks()}
    for stem in res_runs:
        assert (out / f"{stem}.html").is_file(), stem
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "核心指标" in index and "数据清点" in index and 'lang="zh-Hans"' in index
    for name in EXPECTED:
        assert (out / name).is_file(), name
    ds = load_dataset(out.parent / "data")
    for stem in res_runs:
        needs = missing_tables(ds, NOTEBOOK_TABLES.get(stem[:2], ()))
        page = (out / f"{stem}.html").read_text(encoding="utf-8")
        if needs:  # e.g. cost metrics needs orders: a page that says so and how to map it
            assert "此报告需要以下数据表" in page or "此报告至少需要以下数据表之一" in page
            for t in needs:
                assert f"tables.{t}.file" in page
            assert "skipped" in printed and stem in printed
        else:
            assert "hl-ipython3" not in page  # ran, management version: no code cell
            assert 'lang="zh"' in page
    kpis = pd.read_csv(out / "kpis.csv")
    # rows_opportunities counts the rows kept: rows in the file minus those quarantined (the sample's planted bad rows)
    n = len(pd.read_csv(out.parent / "data" / "opportunities.csv"))
    kept = kpis.loc[kpis.kpi == "rows_opportunities", "value"].astype(float).item()
    quarantined = kpis.loc[kpis.kpi == "rows_quarantined_opportunities", "value"].astype(float).item()
    assert kept == len(ds.opportunities) and kept + quarantined == n
    assert not (kpis["kpi"] == "rows_orders").any()
