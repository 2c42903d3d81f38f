"""Stage history that is not only stage changes (issue 14, part 4): Salesforce OpportunityHistory has a row for
every change of amount, close date or probability; consecutive rows of a deal in the same stage are one stay
(engines.ops.stage_stays), which the funnel, time in stage and stalled deals count."""

from pathlib import Path

import pandas as pd
import pytest

from salesops_kit import engines, funnel
from salesops_kit.data.schema import StageModel
from salesops_kit.engines.ops import collect, stage_stays
from salesops_kit.funnel.calibration import stalled_deals, time_in_stage

S = StageModel(order=("A", "B", "C"), won=("W",), lost=("L",))
AS_OF = pd.Timestamp("2024-03-01")
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
COLS = ["opportunity_id", "stage", "entered_date", "exited_date"]


def _h(rows):
    h = pd.DataFrame(rows, columns=COLS)
    return h.assign(entered_date=pd.to_datetime(h["entered_date"]), exited_date=pd.to_datetime(h["exited_date"]))


def history():
    # d1: A Jan 1-11, B Jan 11-31, won Jan 31. d2: A Jan 1-21, lost. d3: A Jan 5-10, B since Jan 10 (open).
    stays = _h([("d1", "A", "2024-01-01", "2024-01-11"), ("d1", "B", "2024-01-11", "2024-01-31"),
                ("d1", "W", "2024-01-31", None),
                ("d2", "A", "2024-01-01", "2024-01-21"), ("d2", "L", "2024-01-21", None),
                ("d3", "A", "2024-01-05", "2024-01-10"), ("d3", "B", "2024-01-10", None)])
    # the same stays with a row for every amount / close-date edit (as OpportunityHistory exports them)
    edits = _h([("d1", "A", "2024-01-01", "2024-01-04"), ("d1", "A", "2024-01-04", "2024-01-11"),
                ("d1", "B", "2024-01-11", "2024-01-15"), ("d1", "B", "2024-01-15", "2024-01-20"),
                ("d1", "B", "2024-01-20", "2024-01-31"), ("d1", "W", "2024-01-31", None),
                ("d2", "A", "2024-01-01", "2024-01-21"), ("d2", "L", "2024-01-21", None),
                ("d3", "A", "2024-01-05", "2024-01-10"), ("d3", "B", "2024-01-10", "2024-02-01"),
                ("d3", "B", "2024-02-01", None)])
    return stays, edits.sample(frac=1.0, random_state=3)   # unsorted, as an export may be


def opps():
    return pd.DataFrame({"opportunity_id": ["d1", "d2", "d3"], "stage": ["W", "L", "B"],
                         "amount": [10.0, 20.0, 30.0], "owner": ["x", "y", "x"]})


def _sorted(df):
    return df.sort_values(["opportunity_id", "entered_date"]).reset_index(drop=True)


@pytest.mark.parametrize("engine", ["pandas", "polars", "polars_lazy", "duckdb"])
def test_consecutive_same_stage_rows_are_one_stay(engine):
    stays, edits = history()
    conv = {"pandas": lambda d: d, "polars": engines.to_polars, "duckdb": engines.to_duckdb,
            "polars_lazy": lambda d: engines.to_polars(d, lazy=True)}[engine]
    got = _sorted(collect(stage_stays(conv(edits))))
    pd.testing.assert_frame_equal(got[COLS], _sorted(stays), check_dtype=False)
    # a return to a stage after another one is a new stay; without exit dates only entries come back
    back = _h([("d9", "A", "2024-01-01", "2024-01-02"), ("d9", "B", "2024-01-02", "2024-01-03"),
               ("d9", "A", "2024-01-03", "2024-01-04"), ("d9", "A", "2024-01-04", None)])
    got = _sorted(collect(stage_stays(conv(back.drop(columns="exited_date")))))
    assert got["stage"].tolist() == ["A", "B", "A"] and list(got.columns) == COLS[:3]
    got = _sorted(collect(stage_stays(conv(back))))
    assert got["exited_date"].isna().tolist() == [False, False, True]


def test_funnel_time_in_stage_and_stalls_count_stays():
    stays, edits = history()
    a = funnel.stage_funnel(opps(), stage_history=stays, stages=S).table
    b = funnel.stage_funnel(opps(), stage_history=edits, stages=S).table
    pd.testing.assert_frame_equal(a, b)
    t = time_in_stage(edits, stages=S, as_of=AS_OF).set_index("stage")
    pd.testing.assert_frame_equal(t.reset_index(), time_in_stage(stays, stages=S, as_of=AS_OF))
    # A: stays of 10 (d1), 20 (d2) and 5 (d3) days, not 3 + 7 + 20 + 5; B: d1's 20 days, d3's stay still open
    assert (t.loc["A", "completed_stays"], t.loc["A", "median_days"], t.loc["A", "mean_days"]) == (3, 10, 35 / 3)
    assert (t.loc["B", "completed_stays"], t.loc["B", "open_stays"], t.loc["B", "median_days"]) == (1, 1, 20)
    s = stalled_deals(opps(), stage_history=edits, stages=S, as_of=AS_OF, min_stays=1)
    pd.testing.assert_frame_equal(s, stalled_deals(opps(), stage_history=stays, stages=S, as_of=AS_OF, min_stays=1))
    # d3 has sat in B since Jan 10 (51 days at Mar 1), not since its last edit on Feb 1
    assert s[["opportunity_id", "days_in_stage", "threshold_days"]].values.tolist() == [["d3", 51.0, 20.0]]


@pytest.mark.slow
def test_sample_history_has_one_row_per_stay():
    if not (SAMPLE / "opportunities.csv").exists():
        pytest.skip("data/sample not generated")
    import salesops_kit

    ds = salesops_kit.load_dataset(SAMPLE)
    h = ds.stage_history
    pd.testing.assert_frame_equal(_sorted(collect(stage_stays(h))), _sorted(h[COLS]), check_dtype=False)
