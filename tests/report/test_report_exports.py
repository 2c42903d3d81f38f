"""Report files without running notebooks: spreadsheet safety, determinism, findings collection, manifest,
quarantine, and escaping on the index and missing-table pages."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from salesops_kit.data.load import load_dataset
from salesops_kit.findings import FINDINGS_MIME, Finding, Findings
from salesops_kit.report import NotebookRun
from salesops_kit.report.exports import (
    build_manifest,
    collect_findings,
    csv_text,
    findings_table,
    neutralise,
    write_findings,
    write_kpis,
    write_quarantine,
    write_xlsx,
)
from salesops_kit.report.pages import format_value, headline_kpis, index_page, missing_page

HOSTILE = ("<script>alert(1)</script>", "<img src=x onerror=alert(2)>", '=HYPERLINK("http://x","y")',
           "[x](javascript:alert(3))")


@pytest.mark.parametrize("raw, safe", [
    ("=1+2", "'=1+2"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
    ("-12.5", "-12.5"), ("-3%", "-3%"), ("+4", "+4"), ("-1,234.50", "-1,234.50"), ("-1e-3", "-1e-3"),
    ("Ann Lee", "Ann Lee"), ("owner==x", "owner==x"), ("", ""), (-3.5, -3.5), (None, None),
])
def test_neutralise(raw, safe):
    assert neutralise(raw) == safe


def _kpis():
    return pd.DataFrame({
        "kpi": ["win_rate", "win_rate", "date_min_opportunities", "delta"],
        "segment": ["all", '=HYPERLINK("http://x","y")', "all", "owner=-1+1"],
        "value": [0.2345678901234567, 0.1, "2024-01-01", -2.5],
        "ci_low": [0.2, np.nan, np.nan, -3.0],
        "ci_high": [0.3, np.nan, np.nan, -2.0],
        "unit": ["rate", "rate", "date", "days"],
        "definition": ["won / closed", "won / closed", "-earliest date", "@change"],
    })


def test_kpis_csv_is_neutralised_keeps_negative_numbers_and_is_byte_identical(tmp_path):
    a = write_kpis(_kpis(), tmp_path / "a")["kpis.csv"].read_bytes()
    b = write_kpis(_kpis().sample(frac=1, random_state=1), tmp_path / "b")["kpis.csv"].read_bytes()
    assert a == b  # same rows in another order -> same bytes (sorted, fixed formatting)
    text = a.decode()
    assert "\r" not in text
    df = pd.read_csv(tmp_path / "a" / "kpis.csv", keep_default_na=False)
    assert list(df.columns) == ["kpi", "segment", "value", "ci_low", "ci_high", "unit", "definition", "window"]
    assert '\'=HYPERLINK("http://x","y")' in set(df["segment"])
    assert set(df["definition"]) >= {"'-earliest date", "'@change"}
    delta = df[df.kpi == "delta"].iloc[0]
    assert float(delta["value"]) == -2.5 and float(delta["ci_low"]) == -3.0  # genuine negatives stay numbers
    assert "0.234567890123" in text and "0.2345678901234567" not in text  # 12 significant digits


def test_kpis_xlsx_has_no_formula_cells_and_numbers_stay_numbers(tmp_path):
    path = write_kpis(_kpis(), tmp_path)["kpis.xlsx"]
    ws = load_workbook(path).active
    cells = [c for row in ws.iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert not any(t.startswith(("=", "+", "-", "@")) for t in texts)
    assert '\'=HYPERLINK("http://x","y")' in texts
    assert -2.5 in [c.value for c in cells]


def test_write_xlsx_forces_text_even_for_unneutralised_looking_values(tmp_path):
    p = write_xlsx(pd.DataFrame({"a": ["=1+1", "x"], "b": [1.0, np.nan]}), tmp_path / "x.xlsx")
    ws = load_workbook(p).active
    assert ws["A2"].value == "'=1+1" and ws["A2"].data_type == "s"
    assert ws["B2"].value == 1 and ws["B3"].value is None


def _executed_nb(path: Path, *findings_blocks) -> Path:
    nb = nbformat.v4.new_notebook()
    for block in findings_blocks:
        cell = nbformat.v4.new_code_cell("findings")
        cell.outputs = [nbformat.v4.new_output("display_data", data=block._repr_mimebundle_())]
        nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")]))
    nbformat.write(nb, path)
    return path


def test_collect_findings_from_executed_notebook_and_findings_csv(tmp_path):
    f1 = Findings([Finding(subject=HOSTILE[2], metric="win rate", value="12%", benchmark="20%", q_value=0.01,
                           severity=2.0, suggestion="-coach"),
                   Finding(subject="Ann", metric="cycle", value="-3 days", severity=1.0)], title="Reps")
    f2 = Findings([Finding(subject=HOSTILE[0], metric="cac", value="$5")], title="Costs")
    nb = _executed_nb(tmp_path / "01_x.ipynb", f1, f2)
    recs = collect_findings(nb)
    assert [r["subject"] for r in recs] == [HOSTILE[2], "Ann", HOSTILE[0]]
    assert [r["rank"] for r in recs] == [1, 2, 3] and recs[2]["title"] == "Costs"
    table = findings_table({"01_x": recs, "00_a": []})
    assert table["notebook"].tolist() == ["01_x"] * 3
    assert table["text"].iloc[0].startswith(HOSTILE[2] + ": win rate 12% vs 20%")
    p1 = write_findings({"01_x": recs}, tmp_path / "a")
    p2 = write_findings({"01_x": collect_findings(nb)}, tmp_path / "b")
    assert p1.read_bytes() == p2.read_bytes()
    back = pd.read_csv(p1, keep_default_na=False)
    assert back["subject"].iloc[0] == "'" + HOSTILE[2]
    assert back["suggestion"].iloc[0] == "'-coach"
    assert back["value"].iloc[1] == "'-3 days"  # text, not a number: neutralised
    assert float(back["q_value"].iloc[0]) == 0.01 and back["q_value"].iloc[1] == ""


def test_findings_csv_with_no_findings_has_the_header(tmp_path):
    p = write_findings({}, tmp_path)
    assert p.read_text().startswith("notebook,rank,title,subject,metric,value")


def test_collect_findings_ignores_other_outputs(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "x"}),
                    nbformat.v4.new_output("display_data", data={FINDINGS_MIME: {"title": None, "findings": []}})]
    nb.cells = [cell, nbformat.v4.new_markdown_cell("# md")]
    nbformat.write(nb, tmp_path / "n.ipynb")
    assert collect_findings(tmp_path / "n.ipynb") == []


@pytest.fixture
def small_data(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    pd.DataFrame({
        "opportunity_id": ["a", "b", "c", "d"], "owner": [HOSTILE[0], "Bo", "Cy", HOSTILE[2]],
        "stage": ["Closed Won", "Closed Lost", "Proposal", ""], "amount": ["100", "50", "70", "20"],  # d: no stage
        "created_date": ["2024-01-01", "2024-01-05", "2024-02-01", "2024-01-01"],
        "close_date": ["2024-02-01", "2024-02-10", "2024-03-01", "not a date"],
    }).to_csv(d / "opportunities.csv", index=False)
    return d


def test_quarantine_written_per_table_with_reason_and_neutralised(tmp_path, small_data):
    ds = load_dataset(small_data)
    written = write_quarantine(ds, tmp_path / "q")
    assert len(written) == 1 and written[0].name.endswith("opportunities.csv")  # quality.write_quarantine names it
    q = pd.read_csv(written[0], dtype=str, keep_default_na=False)
    assert len(q) == 1 and q["opportunity_id"].item() == "d"
    assert q["reason"].str.len().item() > 0
    assert q["owner"].item() == "'" + HOSTILE[2]  # neutralised for spreadsheets


def test_manifest_lists_inputs_with_checksums_parameters_and_runs(tmp_path, small_data):
    import hashlib

    ds = load_dataset(small_data)
    runs = [NotebookRun("01_funnel", "ok", 1.23456, tmp_path / "01_funnel.html"),
            NotebookRun("02_costs", "skipped", 0.0, tmp_path / "02_costs.html", missing=("orders",))]
    m = build_manifest(ds, data_dir=small_data, mapping="canonical", params={"as_of": None, "mapping": "canonical"},
                       runs=runs, lang="en", no_code=True)
    json.dumps(m)  # serialisable
    (inp,) = m["inputs"]
    raw = (small_data / "opportunities.csv").read_bytes()
    assert inp == {"file": "opportunities.csv", "table": "opportunities", "bytes": len(raw),
                   "sha256": hashlib.sha256(raw).hexdigest()}
    assert m["mapping"]["name"] == "canonical" and m["mapping"]["content"]["stages"]["won"] == ["Closed Won"]
    assert m["as_of"] == str(ds.as_of.date())
    assert m["versions"]["pandas"] == pd.__version__ and m["versions"]["python"]
    assert m["kit"]["version"]
    assert m["notebooks"][0]["seconds"] == 1.235 and m["notebooks"][1]["missing_tables"] == ["orders"]
    assert m["options"] == {"lang": "en", "no_code": True}


def test_index_page_escapes_everything_from_the_data(small_data):
    ds = load_dataset(small_data)
    kpis = pd.DataFrame({"kpi": ["win_rate"], "segment": ["all"], "value": [0.5], "ci_low": [0.2], "ci_high": [0.8],
                         "unit": ["rate"], "definition": ["<b>won</b> / closed"]})
    runs = [NotebookRun("04_rep_coaching", "failed", 2.0, Path("04_rep_coaching.html"), failed_cell=7,
                        error=f"ValueError: {HOSTILE[1]}")]
    recs = {"04_rep_coaching": [{"subject": h, "metric": "win rate", "value": "1%", "evidence": h} for h in HOSTILE]}
    html = index_page(runs=runs, ds=ds, kpis=kpis, findings=recs, params={"mapping": HOSTILE[0]}, files=["kpis.csv"])
    for h in HOSTILE[:2]:
        assert h not in html  # no tag from the data survives
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<b>won</b>" not in html and "50.0%" in html and "20.0% – 80.0%" in html
    assert "[7]" in html and "04 · Rep coaching" in html
    assert html.count("<script") == 0 and "Content-Security-Policy" in html


def test_missing_page_names_tables_columns_and_mapping_keys(small_data):
    ds = load_dataset(small_data)
    html = missing_page("02_cost_metrics", ("orders", "marketing_spend"), ds)
    for needed in ("orders", "marketing_spend", "tables.orders.file", "tables.marketing_spend.file", "customer_id",
                   "order_date", "spend", "salesops mapping suggest"):
        assert needed in html
    zh = missing_page("02_cost_metrics", ("orders",), ds, lang="zh")
    assert "此报告需要以下数据表" in zh and "订单" in zh and "tables.orders.file" in zh and 'lang="zh-Hans"' in zh


def test_headline_kpis_pick_known_names_else_row_counts():
    k = pd.DataFrame({"kpi": ["rows_opportunities", "win_rate", "win_rate", "cac"],
                      "segment": ["all", "owner=A", "all", "all"], "value": [3, 0.5, 0.4, 10.0], "ci_low": np.nan,
                      "ci_high": np.nan, "unit": ["rows", "rate", "rate", "currency"],
                      "definition": ""})
    assert headline_kpis(k)[["kpi", "value"]].values.tolist() == [["win_rate", 0.4], ["cac", 10.0]]
    assert headline_kpis(k[k.kpi == "rows_opportunities"])["kpi"].tolist() == ["rows_opportunities"]
    assert len(headline_kpis(k.iloc[0:0])) == 0


@pytest.mark.parametrize("value, unit, text", [
    (0.2345, "rate", "23.4%"), (1234.0, "rows", "1,234 rows"), (61.5, "days", "61.50 days"), (np.nan, "rate", "–"),
    ("2024-01-01", "date", "2024-01-01"), (3.456, "ratio", "3.46"), (-0.5, "share", "-50.0%"),
])
def test_format_value(value, unit, text):
    assert format_value(value, unit) == text


def test_csv_text_formats_floats_deterministically():
    df = pd.DataFrame({"x": [0.1 + 0.2, 1e20, np.inf, -0.0, 3.0]})
    assert csv_text(df) == "x\n0.3\n1e+20\ninf\n0\n3\n"


def test_findings_csv_text_in_chinese_keeps_the_recorded_fields():
    recs = {"01_f": [{"subject": "Partner", "metric": "win rate", "value": "20%", "benchmark": "30%", "rank": 1}]}
    zh = findings_table(recs, lang="zh")
    assert zh["text"].item() == "Partner: 赢单率 20% 对比 30%"
    assert zh["metric"].item() == "win rate"  # the record as the notebook wrote it
    assert findings_table(recs)["text"].item() == "Partner: win rate 20% vs 30%"
