"""Planted truths in the bundled sample company, recovered through the rep analysis (issue 6).

``salesops_kit.data.synth.PLANTED`` says WHICH reps are planted; every verdict below comes from the
analysis (compare_reps, response_drivers, coaching_findings), never from the generator's numbers.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesops_kit as sk
from salesops_kit import reps
from salesops_kit.data.synth import PLANTED
from salesops_kit.reps import drivers

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (SAMPLE / "opportunities.csv").exists(), reason="sample data not generated")]

SLOW = PLANTED["slow_responder"]["owner"]
STAR = PLANTED["small_sample_star"]["owner"]
STRONG = PLANTED["strong_rep"]["owner"]


@pytest.fixture(scope="module")
def result():
    ds = sk.load_dataset(SAMPLE, mapping="canonical")
    card = reps.scorecard(ds)
    comp = reps.compare_reps(ds, card=card)
    drv = drivers.response_drivers(ds)
    found = reps.coaching_findings(ds, card=card, comparison=comp, drivers=drv)
    return ds, card, comp, drv, found


def test_slow_responder_flagged_with_response_time(result):
    _, card, comp, drv, found = result
    f = comp.flagged()
    assert SLOW in set(f["owner"])
    assert "lead_conversion_rate" in set(f.loc[f["owner"] == SLOW, "metric"])
    assert drv.associated_behaviour(SLOW) == "first-response time"
    first = found[0]
    assert first.subject == SLOW and first.metric == "lead conversion" and first.q_value < 0.05
    assert "first response" in first.evidence and "response target" in first.suggestion
    # the slow rep's median response is far above the company's
    t = card.table.set_index("owner")
    assert t.loc[SLOW, "first_response_median_hours"] > 3 * t.loc[SLOW, "first_response_median_hours_company"]
    # the generator's conversion for this rep lies inside the raw 95% interval from the analysis
    row = comp.table[(comp.table["owner"] == SLOW) & (comp.table["metric"] == "lead_conversion_rate")].iloc[0]
    assert row["rate_low"] <= PLANTED["slow_responder"]["lead_conversion"] <= row["rate_high"]


def test_small_sample_star_not_ranked_above_strong_nor_flagged(result):
    _, _, comp, _, found = result
    wr = comp.table[comp.table["metric"] == "win_rate"].set_index("owner")
    star, strong = wr.loc[STAR], wr.loc[STRONG]
    assert star["rate"] > strong["rate"]  # raw ratio would put the star on top ...
    assert star["shrunk_rate"] < strong["shrunk_rate"]  # ... shrinkage does not
    assert np.isnan(star["rank"]) or star["rank"] > strong["rank"]
    assert STAR not in set(comp.flagged()["owner"]) | set(comp.recognised()["owner"])
    assert all(f.subject != STAR for f in found)


def test_strong_rep_recognised(result):
    _, _, comp, _, found = result
    r = comp.recognised()
    assert STRONG in set(r.loc[r["metric"] == "win_rate", "owner"])
    assert comp.leaderboard("win_rate")["owner"].iloc[0] == STRONG
    assert any(f.subject == STRONG and f.metric == "win rate" for f in found)


def test_no_other_rep_flagged(result):
    _, _, comp, _, _ = result
    sig = comp.table[comp.table["q_value"] < 0.05]
    # below the rest: only the slow responder (a CSAT flag for the same rep is acceptable);
    # above the rest: only the strong rep
    assert set(sig.loc[sig["status"] == "below", "owner"]) <= {SLOW}
    assert set(sig.loc[sig["status"] == "above", "owner"]) <= {STRONG}


def test_kpis_on_sample(result):
    ds, _, comp, _, _ = result
    rows = reps.kpi_rows(ds)
    flagged = [r["value"] for r in rows if r["kpi"] == "reps_flagged"]
    assert flagged == [comp.flagged()["owner"].nunique()] and flagged[0] >= 1
    shr = {r["segment"]: r for r in rows if r["kpi"] == "win_rate_shrunk"}
    assert shr[f"owner={STRONG}"]["value"] == max(r["value"] for r in shr.values())
    assert all(r["ci_low"] <= r["value"] <= r["ci_high"] for r in shr.values())


def test_kpi_rows_reuse_default_results_and_recompute_others(result):
    """Notebook 04 hands its scorecard and comparison to kpi_rows: with the default arguments the rows are
    exactly those kpi_rows computes on its own; a comparison at another FDR level is not used."""
    ds, card, comp, _, _ = result
    own = pd.DataFrame(reps.kpi_rows(ds))
    pd.testing.assert_frame_equal(pd.DataFrame(reps.kpi_rows(ds, card=card, comp=comp)), own)
    loose = reps.compare_reps(ds, card=card, alpha=0.5)
    assert loose.flagged()["owner"].nunique() != comp.flagged()["owner"].nunique()  # the two are distinguishable
    pd.testing.assert_frame_equal(pd.DataFrame(reps.kpi_rows(ds, card=card, comp=loose)), own)


def test_findings_quote_the_kpi_rows_and_one_rep_is_one_finding(result):
    """Issue 15: the slow responder's CSAT gap is in the evidence of its one finding (one event, one finding), that
    finding leads (it answers "where does each rep need coaching?") with a money stake, and every finding naming a
    KPI prints the kpis.csv value of that KPI and segment."""
    ds, _, _, _, found = result
    slow = [f for f in found if f.subject == SLOW]
    assert len(slow) == 1 and slow[0].lead and slow[0].stake > 0
    assert "CSAT share satisfied" in slow[0].evidence
    rows = {(r["kpi"], r["segment"]): r["value"] for r in reps.kpi_rows(ds)}
    quoted = [f for f in found if f.kpi]
    assert quoted
    for f in quoted:
        assert f.value == f"{rows[(f.kpi, f.segment)]:.0%}", f
