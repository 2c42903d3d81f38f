"""The scorecard's pipeline coverage is notebook 01's (funnel.pipeline_coverage), rep by rep and team by team."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesops_kit as sk
from salesops_kit import funnel, reps
from salesops_kit.data.schema import StageModel

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


@pytest.fixture(scope="module")
def ds():
    return sk.load_dataset(SAMPLE, mapping="canonical")


def test_scorecard_coverage_equals_the_funnel_coverage(ds):
    sc = reps.scorecard(ds)
    cov = funnel.pipeline_coverage(ds).table
    rep = cov[cov["level"] == "rep"].set_index("owner")["coverage"]
    got = sc.table.set_index("owner")["pipeline_coverage"].reindex(rep.index)
    np.testing.assert_allclose(got.to_numpy(float), rep.to_numpy(float), rtol=1e-12)
    bench = sc.benchmarks.set_index("group")["pipeline_coverage"]
    teams = cov[cov["level"] != "rep"].set_index("team")["coverage"]
    np.testing.assert_allclose(bench.reindex(teams.index).to_numpy(float), teams.to_numpy(float), rtol=1e-12)


def test_coverage_by_hand_on_a_small_frame():
    # one rep, a December quota of 100; won 30 so far; open deals closing in December 50 (counted) and in
    # January 40 (not counted): coverage = 50 / (100 - 30)
    opps = pd.DataFrame({
        "opportunity_id": ["a", "b", "c"], "owner": ["Ann"] * 3, "team": ["T"] * 3,
        "stage": ["Won", "Open", "Open"], "amount": [30.0, 50.0, 40.0],
        "created_date": pd.to_datetime(["2025-11-01", "2025-11-02", "2025-11-03"]),
        "close_date": pd.to_datetime(["2025-12-05", "2025-12-20", "2026-01-10"]),
        "is_closed": [True, False, False], "is_won": [True, False, False],
    })
    quotas = pd.DataFrame({"owner": ["Ann"], "period_start": pd.to_datetime(["2025-12-01"]),
                           "period_end": pd.to_datetime(["2025-12-31"]), "quota": [100.0]})
    ds = sk.Dataset(tables={"opportunities": opps, "quotas": quotas}, quarantine={},
                    account=pd.DataFrame(), stages=StageModel(order=("Open",), won=("Won",), lost=("Lost",)),
                    as_of=pd.Timestamp("2025-12-15"), mapping={})
    sc = reps.scorecard(ds)
    assert sc.table.loc[0, "pipeline_coverage"] == pytest.approx(50 / 70)
