"""Findings a manager trusts (issue 15): the notebook's answer first, money at stake, one calibration finding
without an in-sample score, never a weakest step from equal rates, the false-discovery correction named, and the one
definition of a mature lead (by calendar day)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesops_kit import funnel
from salesops_kit.data.load import Dataset
from salesops_kit.data.schema import StageModel
from salesops_kit.funnel import bottlenecks, funnel_findings
from salesops_kit.funnel.calibration import Calibration
from salesops_kit.funnel.stages import StageFunnel

S = StageModel(order=("A", "B", "C"), won=("W",), lost=("L",))
AS_OF = pd.Timestamp("2024-12-31")
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def step_funnel(conv, lo, hi, opened=(0, 0, 0)):
    t = pd.DataFrame({"stage": ["A", "B", "C", "W"], "next_stage": ["B", "C", "W", None],
                      "reached": [40, 40, 40, 40], "advanced": [20, 36, 36, pd.NA], "lost": [20, 4, 4, pd.NA],
                      "open": list(opened) + [pd.NA], "conversion": conv + [np.nan],
                      "conversion_ci_low": lo + [np.nan], "conversion_ci_high": hi + [np.nan],
                      "cumulative": [1.0, 0.5, 0.45, 0.4]})
    return StageFunnel(table=t, funnel_type="any_path", by=(), assumptions=(), unplaced_lost=0)


def deals_dataset():
    # open deals: 2 at A (100 + 300), 1 at B (50); the rest closed
    opps = pd.DataFrame({"opportunity_id": [str(i) for i in range(6)], "stage": ["A", "A", "B", "W", "L", "L"],
                         "amount": [100.0, 300.0, 50.0, 1000.0, 10.0, 20.0], "currency": ["EUR"] * 6,
                         "lead_source": ["x", "y", "x", "x", "y", "y"]})
    return Dataset({"opportunities": opps}, {}, pd.DataFrame(), S, AS_OF)


def test_open_pipeline_by_hand():
    p = funnel.open_pipeline(deals_dataset())
    assert p["stage"].tolist() == ["A", "B"] and p["open_deals"].tolist() == [2, 1]
    assert p["open_amount"].tolist() == [400.0, 50.0] and set(p["currency"]) == {"EUR"}
    by = funnel.open_pipeline(deals_dataset(), by="lead_source")
    assert by.set_index(["stage", "lead_source"])["open_amount"].to_dict() == {("A", "x"): 100.0, ("A", "y"): 300.0,
                                                                              ("B", "x"): 50.0}


def test_weakest_step_leads_with_the_open_pipeline_at_stake():
    f = funnel_findings(stage_funnel=step_funnel([0.5, 0.9, 0.9], [0.35, 0.77, 0.77], [0.65, 0.97, 0.97]),
                        dataset=deals_dataset())
    first = f[0]
    assert first.lead and first.metric == "weakest step A → B" and first.stake == 400.0
    assert first.kpi == "stage_conversion_a_to_b" and first.window == "all history"
    assert "400 EUR" in first.evidence and sum(x.lead for x in f) == 1


def test_a_step_every_deal_passes_is_never_weakest():
    # all steps at 100%: equal values; and a 100% step beside higher-bounded ones is no leak either
    equal = step_funnel([1.0, 1.0, 1.0], [0.91, 0.91, 0.91], [1.0, 1.0, 1.0])
    assert not [x for x in funnel_findings(stage_funnel=equal) if "weakest" in x.metric]


def test_calibration_is_one_finding_without_an_in_sample_score_and_with_the_pipeline_shift():
    t = pd.DataFrame({"stage": ["A", "B"], "stage_index": [0, 1], "closed": [100, 50], "won": [30, 25],
                      "realised_win_rate": [0.3, 0.5], "ci_low": [0.22, 0.37], "ci_high": [0.4, 0.63],
                      "stated_probability": [0.1, 0.2], "source": ["column"] * 2, "gap": [0.2, 0.3],
                      "suggested_probability": [0.3, 0.5]})
    cal = Calibration(t, brier_stated=0.3, brier_empirical=0.2)
    f = [x for x in funnel_findings(calibration=cal, dataset=deals_dataset()) if x.metric == "win probability"]
    assert len(f) == 1  # one event: the CRM's stage probabilities
    text = f[0].sentence(str)
    assert "Brier" not in text and "2 of 2 stages" in text
    # the weighted open pipeline moves by 400 x (0.3 - 0.1) + 50 x (0.5 - 0.2) = 80 + 15 = 95 EUR
    assert f[0].stake == pytest.approx(95.0) and "understated by 95 EUR" in text
    assert "Brier" not in cal.headline()


def fdr_case():
    # 8 segments of 30 decided deals at A: one converts 12/30, the others 18/30 (p ~ 0.04 on its own test)
    conv = [12] + [18] * 7
    stage, source = [], []
    for i, k in enumerate(conv):
        stage += ["B"] * k + ["L"] * (30 - k)
        source += [f"s{i}"] * 30
    return pd.DataFrame({"opportunity_id": [str(i) for i in range(len(stage))], "stage": stage,
                         "lost_at_stage": [None if s == "B" else "A" for s in stage], "lead_source": source})


def test_within_normal_variation_only_after_the_false_discovery_correction_says_so():
    bn = bottlenecks(fdr_case(), stages=S, segments=["lead_source"])
    low = bn.cells[bn.cells["segment"] == "s0"].iloc[0]
    assert low["p_value"] < 0.05 <= low["q_value"] and bn.flagged.empty  # the premise of the case
    f = [x for x in funnel_findings(bottlenecks=bn) if x.metric == "stage conversion vs the rest"]
    assert len(f) == 1
    assert f"not significant after the false-discovery correction across {bn.tested} tests" in f[0].evidence
    assert "s0" in f[0].evidence


def test_a_mature_lead_is_counted_by_calendar_day():
    # as of 2025-12-15 with 90 days: every lead created on 2025-09-16, at any time of the day, is mature
    cut = funnel.lead_maturity_cutoff("2025-12-15", 90)
    assert cut.normalize() == pd.Timestamp("2025-09-16") and cut > pd.Timestamp("2025-09-16 23:59:59")
    assert cut < pd.Timestamp("2025-09-17")
    leads = pd.DataFrame({"lead_id": ["a", "b", "c"], "opportunity_id": [None, None, None],
                          "created_date": pd.to_datetime(["2025-09-16 00:00", "2025-09-16 10:00",
                                                          "2025-09-17 00:00"])})
    t = funnel.lead_funnel(leads, as_of="2025-12-15", maturity_days=90).table
    assert int(t["leads"].iloc[0]) == 2 and t["created_until"].iloc[0] == pd.Timestamp("2025-09-16")
    assert funnel.lead_maturity_window("2025-12-15", 90, lang="en") == \
        "leads created by 2025-09-16, at least 90 days old"


@pytest.mark.slow
def test_sample_mature_leads_agree_with_the_rep_scorecard():
    from salesops_kit import load_dataset, reps

    ds = load_dataset(SAMPLE)
    lf = funnel.lead_funnel(ds).table
    assert int(lf["leads"].iloc[0]) == int(reps.scorecard(ds).table["leads"].sum())


def test_every_funnel_kpi_row_states_its_window():
    ds = deals_dataset()
    opps = ds.opportunities.assign(created_date=pd.Timestamp("2024-01-01"),
                                   close_date=[pd.NaT, pd.NaT, pd.NaT] + [pd.Timestamp("2024-03-01")] * 3)
    rows = funnel.kpi_rows(Dataset({"opportunities": opps}, {}, pd.DataFrame(), S, AS_OF))
    window = {(r["kpi"], r["segment"]): r["window"] for r in rows}
    assert window[("win_rate", "all")] == "all history" and window[("deals_open", "all")] == "as of date"
    assert all(w for w in window.values())
    shown = funnel.show_kpis(pd.DataFrame([{**r, "unit": "rate" if r["kpi"] == "win_rate" else "deals"}
                                           for r in rows]))
    win = shown.frame[shown.frame.iloc[:, 0] == "win_rate"].iloc[0]
    assert win.iloc[1] == "33.3%" and win.iloc[3] == "%"  # 1 won of 3 closed deals
