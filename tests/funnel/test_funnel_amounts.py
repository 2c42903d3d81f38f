"""The stage funnel in money (issue 18, part 1): funnel.funnel_amounts counts the deals stage_funnel counts as
reaching each open stage, and sums their amounts in the report currency."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesops_kit import funnel, kpis, load_dataset, open_dataset
from salesops_kit.funnel._kpis import pipeline_rows

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = ROOT / "tests" / "fixtures" / "exports"
ENGINES = ["pandas", "polars", "duckdb"]

MAPPING = {"name": "t", "tables": {"opportunities": {"file": "opportunities.csv"}},
           "stages": {"order": ["P", "Q"], "won": ["Won"], "lost": ["Lost"]}}
COLS = ["opportunity_id", "owner", "stage", "amount", "created_date", "close_date", "lost_at_stage"]
# id, stage, amount, lost_at_stage
DEALS = [("d1", "P", 400, ""), ("d2", "Q", 600, ""), ("d3", "Won", 300, ""), ("d4", "Q", 200, ""),
         ("d5", "Lost", 100, "Q"), ("d6", "Won", 500, ""), ("d7", "Won", 1200, ""), ("d8", "Lost", 50, "P"),
         ("d9", "P", 80, ""), ("d10", "Lost", 700, "P")]
# with stage history: h2 was won without entering Q, h5 has no amount, h4 has no history row
HDEALS = [("h1", "Won", 100, ""), ("h2", "Won", 50, ""), ("h3", "Lost", 30, "Q"), ("h4", "Q", 20, ""),
          ("h5", "P", "", "")]
HISTORY = [("h1", "P", "2024-01-02"), ("h1", "Q", "2024-01-10"), ("h1", "Won", "2024-02-01"),
           ("h2", "P", "2024-01-03"), ("h2", "Won", "2024-01-20"), ("h3", "P", "2024-01-04"),
           ("h5", "P", "2024-01-05")]


def _write(folder, deals, history=None, currency=None):
    rows = [(i, "ann", s, a, "2024-01-01", "2024-03-01", la) for i, s, a, la in deals]
    df = pd.DataFrame(rows, columns=COLS)
    if currency:
        df["currency"] = [currency[i % len(currency)] for i in range(len(df))]
    df.to_csv(folder / "opportunities.csv", index=False)
    mapping = {**MAPPING, "tables": dict(MAPPING["tables"])}
    if history:
        pd.DataFrame(history, columns=["opportunity_id", "stage", "entered_date"]).to_csv(
            folder / "stage_history.csv", index=False)
        mapping["tables"]["stage_history"] = {"file": "stage_history.csv"}
    return mapping


@pytest.mark.parametrize("engine", ENGINES)
def test_without_history_by_hand(tmp_path, engine):
    ds = load_dataset(tmp_path, mapping=_write(tmp_path, DEALS), as_of="2024-03-15", engine=engine)
    fa = funnel.funnel_amounts(ds)
    t = fa.table.set_index("stage")
    assert fa.funnel_type == "inferred" and fa.limitation is None
    # P: every deal (open at P or Q, won, lost at P or Q); won: d3 d6 d7
    assert t.loc["P", ["reached", "won"]].tolist() == [10, 3]
    assert t.loc["P", "reached_amount"] == pytest.approx(4130) and t.loc["P", "won_amount"] == pytest.approx(2000)
    # Q: d2 d4 (open there), d5 (lost at Q), d3 d6 d7 (won)
    assert t.loc["Q", ["reached", "won"]].tolist() == [6, 3]
    assert t.loc["Q", "reached_amount"] == pytest.approx(2900) and t.loc["Q", "won_amount"] == pytest.approx(2000)
    assert "4130" in fa.headline().replace(",", "")


@pytest.mark.parametrize("engine", ENGINES)
def test_with_history_by_hand(tmp_path, engine):
    ds = load_dataset(tmp_path, mapping=_write(tmp_path, HDEALS, HISTORY), as_of="2024-03-15", engine=engine)
    fa = funnel.funnel_amounts(ds)
    t = fa.table.set_index("stage")
    assert fa.funnel_type == "any_path"
    # P: h1 h2 h3 h5 entered it (h5 without an amount); won: h1 h2
    assert t.loc["P", ["reached", "reached_no_amount", "won"]].tolist() == [4, 1, 2]
    assert t.loc["P", "reached_amount"] == pytest.approx(180) and t.loc["P", "won_amount"] == pytest.approx(150)
    # Q: h1 (history), h3 (lost at Q), h4 (open there); h2 skipped it
    assert t.loc["Q", ["reached", "reached_no_amount", "won"]].tolist() == [3, 0, 1]
    assert t.loc["Q", "reached_amount"] == pytest.approx(150) and t.loc["Q", "won_amount"] == pytest.approx(100)


def _datasets():
    out = []
    if (ROOT / "data" / "sample" / "opportunities.csv").exists():
        out += [("sample", e) for e in ENGINES]
    return out + [(name, e) for name in ("salesforce_api", "hubspot") for e in ENGINES]


@pytest.mark.parametrize("source,engine", _datasets())
def test_the_counts_are_stage_funnels_reached(source, engine):
    if source == "sample":
        ds = open_dataset(ROOT / "data" / "sample", engine=engine)
    else:
        folder = EXPORTS / source
        mapping = folder / "mapping.yml" if (folder / "mapping.yml").exists() else source.split("_")[0]
        ds = load_dataset(folder, mapping=mapping, engine=engine)
    fa = funnel.funnel_amounts(ds)
    sf = funnel.stage_funnel(ds)
    opn = sf.table.iloc[:-1]  # the won row is last
    assert fa.funnel_type == sf.funnel_type
    assert fa.table["stage"].tolist() == opn["stage"].tolist()
    assert fa.table["reached"].tolist() == opn["reached"].astype(int).tolist()
    assert int(fa.table["reached"].iloc[0]) > 0
    assert (fa.table["won"] <= fa.table["reached"]).all()
    if fa.limitation is None:  # amounts: never more won than reached, and the top stage holds the most
        assert (fa.table["won_amount"] <= fa.table["reached_amount"] + 1e-6).all()


def test_several_currencies_without_rates_keep_the_counts_only(tmp_path):
    ds = load_dataset(tmp_path, mapping=_write(tmp_path, DEALS, currency=["USD", "EUR"]), as_of="2024-03-15")
    fa = funnel.funnel_amounts(ds)
    assert "several currencies" in fa.limitation and fa.headline() == fa.limitation
    assert fa.table["reached"].tolist() == [10, 6] and fa.table["reached_amount"].isna().all()
    assert fa.table["reached_no_amount"].tolist() == [0, 0]  # every deal has an amount, in its own currency
    assert fa.currency is None


def test_an_empty_table_is_one_sentence(tmp_path):
    ds = load_dataset(tmp_path, mapping=_write(tmp_path, []), as_of="2024-03-15")
    fa = funnel.funnel_amounts(ds)
    assert fa.limitation and fa.table.empty and fa.headline() == fa.limitation
    assert np.all(fa.table.columns == funnel.pipeline.AMOUNT_FUNNEL_COLUMNS)


def test_the_kpi_rows_are_the_tables_amounts(tmp_path):
    ds = load_dataset(tmp_path, mapping=_write(tmp_path, DEALS), as_of="2024-03-15")
    k = kpis.kpi_frame(pipeline_rows(ds)).set_index(["kpi", "segment"])
    assert k.loc[("stage_reached_amount", "stage=P"), "value"] == pytest.approx(4130)  # by hand, as above
    assert k.loc[("stage_reached_amount", "stage=Q"), "value"] == pytest.approx(2900)


def test_several_currencies_without_rates_publish_no_amount(tmp_path):
    ds = load_dataset(tmp_path, mapping=_write(tmp_path, DEALS, currency=["USD", "EUR"]), as_of="2024-03-15")
    assert not [r for r in pipeline_rows(ds) if r["kpi"] == "stage_reached_amount"]
