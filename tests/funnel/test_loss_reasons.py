"""Loss reasons (issue 18, part 3): lost deals by reason, by segment, and the reasons that grew in the last
complete quarter — hand counts on a small frame on every engine, a real export (Pipedrive), and the sample's planted
surge found from the analysis."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats

from salesops_kit import funnel, load_dataset
from salesops_kit.data.schema import StageModel
from salesops_kit.funnel import NO_REASON
from salesops_kit.funnel._history_kpis import history_kpi_rows
from salesops_kit.funnel.loss_reasons import last_complete_quarter

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
PIPEDRIVE = ROOT / "tests" / "fixtures" / "exports" / "pipedrive"
STAGES = StageModel(order=("Prospecting", "Qualification"), won=("Closed Won",), lost=("Closed Lost",))
AS_OF = "2025-12-15"  # last complete quarter 2025-Q3; the four before: 2024-Q3 .. 2025-Q2

# stage, loss_reason, close_date, amount, region, lost_at_stage
DEALS = [
    ("Closed Lost", "Price", "2025-08-10", 100.0, "EU", "Prospecting"),       # quarter
    ("Closed Lost", "Competitor", "2025-07-01", 200.0, "EU", "Prospecting"),  # quarter
    ("Closed Lost", "Competitor", "2025-09-30", 300.0, "US", "Qualification"),  # quarter
    ("Closed Lost", " ", "2025-09-01", 50.0, "US", "Qualification"),          # quarter, blank reason
    ("Closed Lost", "Price", "2025-03-01", 10.0, "EU", "Prospecting"),        # base
    ("Closed Lost", "Price", "2024-07-01", 10.0, "US", "Prospecting"),        # base
    ("Closed Lost", "Competitor", "2024-12-31", 10.0, "US", "Qualification"),  # base
    ("Closed Lost", None, "2025-06-30", 10.0, "EU", "Prospecting"),           # base, no reason
    ("Closed Lost", "Price", "2024-06-30", 10.0, "EU", "Prospecting"),        # before the base: overall only
    ("Closed Lost", "Price", "2025-10-02", 10.0, "EU", "Prospecting"),        # current quarter, incomplete
    ("Closed Won", "Price", "2025-08-01", 999.0, "EU", None),                 # won: its reason is not counted
    ("Prospecting", None, "2025-12-31", 999.0, "US", None),                   # open
]


def _frame():
    d = pd.DataFrame(DEALS, columns=["stage", "loss_reason", "close_date", "amount", "region", "lost_at_stage"])
    d["close_date"] = pd.to_datetime(d["close_date"])
    d.insert(0, "opportunity_id", [f"d{i}" for i in range(len(d))])
    return d


_CON = duckdb.connect()


def _as(engine, frame):
    return {"pandas": lambda f: f, "polars": pl.from_pandas, "polars-lazy": lambda f: pl.from_pandas(f).lazy(),
            "duckdb": _CON.from_df}[engine](frame)


def test_last_complete_quarter():
    assert str(last_complete_quarter("2025-12-15")) == "2025Q3"
    assert str(last_complete_quarter("2025-12-31")) == "2025Q4"
    assert str(last_complete_quarter("2025-10-01")) == "2025Q3"


@pytest.mark.parametrize("engine", ["pandas", "polars", "polars-lazy", "duckdb"])
def test_reasons_by_hand(engine):
    r = funnel.loss_reasons(_as(engine, _frame()), stages=STAGES, as_of=AS_OF, min_lost=2)
    t = r.table.set_index("reason")
    # 10 lost deals: Price 5, Competitor 3, blank 2 (" " and None); the won deal's reason is not a loss reason
    assert t["lost"].to_dict() == {"Price": 5, "Competitor": 3, NO_REASON: 2}
    assert list(r.table["reason"]) == ["Price", "Competitor", NO_REASON]  # largest first, blank last
    assert t.loc["Price", "share"] == pytest.approx(0.5)
    assert t.loc["Competitor", "amount_lost"] == pytest.approx(510.0)
    assert r.no_reason == 2
    # region EU: Price 4 (one in the incomplete quarter), Competitor 1, blank 1 -> 6 lost; US: 4
    seg = r.by_segment[r.by_segment["column"] == "region"].set_index(["segment", "reason"])
    assert seg.loc[("EU", "Price"), ["lost", "segment_lost"]].tolist() == [4, 6]
    assert seg.loc[("US", "Competitor"), ["lost", "segment_lost"]].tolist() == [2, 4]
    # the quarter 2025-Q3: 4 lost (Price 1, Competitor 2, blank 1); the four before: 4 (Price 2, Competitor 1, blank 1)
    g = r.growth.set_index("reason")
    assert (r.quarter, r.base) == ("2025-Q3", "2024-Q3 – 2025-Q2")
    assert g.loc["Competitor", ["lost", "quarter_lost", "base_lost", "base_quarters_lost"]].tolist() == [2, 4, 1, 4]
    assert g.loc["Competitor", "change"] == pytest.approx(2 / 4 - 1 / 4)
    assert g.loc["Competitor", "amount_lost"] == pytest.approx(500.0)
    p = stats.fisher_exact([[2, 2], [1, 3]]).pvalue  # expected counts below 5: Fisher's exact test
    assert g.loc["Competitor", "p_value"] == pytest.approx(p)
    assert np.isnan(g.loc[NO_REASON, "p_value"]) and not g["grew"].any()


def test_the_growth_test_is_a_chi_square_when_counts_allow_and_bh_across_reasons():
    rows = ([("Closed Lost", "Competitor", "2025-08-01")] * 30 + [("Closed Lost", "Price", "2025-08-01")] * 30
            + [("Closed Lost", "Competitor", "2025-02-01")] * 20 + [("Closed Lost", "Price", "2025-02-01")] * 80)
    d = pd.DataFrame(rows, columns=["stage", "loss_reason", "close_date"])
    d["close_date"] = pd.to_datetime(d["close_date"])
    r = funnel.loss_reasons(d, stages=STAGES, as_of=AS_OF)
    g = r.growth.set_index("reason")
    chi = stats.chi2_contingency([[30, 30], [20, 80]], correction=False).pvalue
    assert g.loc["Competitor", "p_value"] == pytest.approx(chi) and g.loc["Price", "p_value"] == pytest.approx(chi)
    assert g.loc["Competitor", "q_value"] == pytest.approx(chi)  # BH of two equal p-values
    assert g["grew"].to_dict() == {"Competitor": True, "Price": False}  # Price fell: not a reason that grew
    found = funnel.history_findings(loss_reasons=r)
    assert [f.segment for f in found] == ["reason=Competitor"]
    assert found[0].stake is None  # no amount column: no money named


def test_too_few_lost_deals_say_so_in_one_sentence():
    r = funnel.loss_reasons(_frame(), stages=STAGES, as_of=AS_OF)  # 4 and 4 lost deals, 10 needed
    assert r.growth.empty and "Too few lost deals" in r.growth_note
    assert r.segment_note and not r.compared_columns  # no segment has 10 lost deals
    assert not list(funnel.history_findings(loss_reasons=r))


def test_without_loss_reason_or_lost_deals_one_sentence():
    r = funnel.loss_reasons(_frame().drop(columns="loss_reason"), stages=STAGES, as_of=AS_OF)
    assert r.limitation == r.headline() and "loss_reason" in r.limitation and r.table.empty
    r = funnel.loss_reasons(_frame().iloc[10:], stages=STAGES, as_of=AS_OF)  # won and open deals only
    assert r.limitation == r.headline() and r.table.empty
    r = funnel.loss_reasons(_frame().iloc[:0], stages=STAGES, as_of=AS_OF)  # an empty table is a valid input
    assert r.limitation and not list(funnel.history_findings(loss_reasons=r))


def test_pipedrive_lost_reasons_match_the_export():
    raw = pd.read_csv(next(PIPEDRIVE.glob("*.csv")))
    lost = raw[raw["Status"] == "lost"]
    ds = load_dataset(PIPEDRIVE, mapping="pipedrive")
    r = funnel.loss_reasons(ds)
    assert int(r.table["lost"].sum()) == len(lost)
    want = lost["Lost reason"].fillna("").str.strip().replace("", NO_REASON).value_counts().to_dict()
    assert r.table.set_index("reason")["lost"].to_dict() == want
    assert not list(funnel.history_findings(loss_reasons=r))  # 8 lost deals: nothing to find


@pytest.fixture(scope="module")
def sample():
    ds = load_dataset(SAMPLE)
    return ds, funnel.loss_reasons(ds)


def test_the_sample_surge_is_competitor_in_2025_q3_and_nothing_else(sample):
    _, r = sample
    assert r.quarter == "2025-Q3"
    assert r.grew["reason"].tolist() == ["Competitor"]  # planted: 30% of 2025-Q3's lost deals vs 15%
    c = r.grew.iloc[0]
    assert 1.6 < c["share"] / c["base_share"] < 2.8, (c["share"], c["base_share"])  # about doubled
    # no segment column mixes reasons differently beyond chance (nothing else is planted)
    assert len(r.segment_tests) >= 4 and (r.segment_tests["q_value"] >= r.alpha).all()


def test_the_sample_findings_name_the_surge_only_with_the_money_lost(sample):
    ds, r = sample
    found = funnel.history_findings(loss_reasons=r)
    assert [(f.segment, f.window) for f in found] == [("reason=Competitor", "2025-Q3")]
    o = ds.opportunities
    q3 = o[(o["stage"] == "Closed Lost") & (o["loss_reason"] == "Competitor")
           & (o["close_date"] >= "2025-07-01") & (o["close_date"] < "2025-10-01")]
    assert found[0].stake == pytest.approx(q3["amount"].sum())


def test_the_sample_kpis_quote_the_tables(sample):
    ds, r = sample
    rows = {(x["kpi"], x["segment"]): x for x in history_kpi_rows(ds, reasons=r, slip=funnel.slippage(ds))}
    share = r.table.set_index("reason").loc["Competitor", "share"]
    assert rows[("loss_reason_share", "reason=Competitor")]["value"] == pytest.approx(share)
    q = rows[("loss_reason_share_quarter", "reason=Competitor")]
    assert q["window"] == "2025-Q3" and q["value"] == pytest.approx(r.grew.iloc[0]["share"])
    assert q["ci_low"] < q["value"] < q["ci_high"]
