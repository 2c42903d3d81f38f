"""On the bundled sample company the monthly review finds the planted monitoring events — one team's
win-rate drop for two months and the slow responder's CSAT dip — and nothing else.

PLANTED only says WHICH team / rep / months; every alert comes from the analysis."""

import warnings

import pandas as pd
import pytest

from salesops_kit import load_dataset, monitor
from salesops_kit.data.synth import PLANTED

warnings.filterwarnings("ignore", category=FutureWarning)
pytestmark = pytest.mark.slow  # one full monthly review of the sample company (~10 s on a busy machine)


@pytest.fixture(scope="module")
def rv():
    ds = load_dataset("data/sample")
    return monitor.review(ds, period="M")  # default: last complete month at the as-of date


def _months(names):
    return {pd.Timestamp(f"{m}-01") for m in names}


def test_review_period_is_the_last_complete_month(rv):
    as_of = pd.Timestamp(PLANTED["time_window"]["as_of"])
    assert rv.review == (as_of.to_period("M") - 1).start_time
    partial = rv.series[rv.series["partial"] & (rv.series["kpi"] == "win_rate")]
    assert set(partial["period"]) == {as_of.to_period("M").start_time}


def test_planted_team_win_rate_drop_is_alerted_in_both_months(rv):
    drop = PLANTED["team_win_rate_drop"]
    a = rv.alerts
    hit = a[(a["kpi"] == "win_rate") & (a["segment"] == f"team={drop['team']}")]
    assert set(hit["period"]) == _months(drop["months"])
    assert (hit["direction"] == "down").all() and hit["adverse"].all()
    assert (hit["q_value"] < 0.05).all()


def test_planted_csat_dip_is_alerted_and_its_year_over_year_change_is_significant(rv):
    dip = PLANTED["csat_dip"]
    a = rv.alerts
    hit = a[(a["kpi"] == "csat_mean") & (a["segment"] == f"owner={dip['owner']}")]
    assert set(hit["period"]) == _months(dip["months"])
    assert (hit["direction"] == "down").all()
    ch = rv.changes
    yoy = ch[(ch["kpi"] == "csat_mean") & (ch["segment"] == f"owner={dip['owner']}") & (ch["comparison"] == "yoy")]
    assert yoy["change"].iloc[0] < 0 and yoy["q_value"].iloc[0] < 0.05


def test_nothing_comparable_elsewhere(rv):
    """Every alert in the review window is one of the planted events or its arithmetic echo (the
    team's drop moves the company's win rate; the rep's dip moves their team's and the company's CSAT)."""
    drop, dip = PLANTED["team_win_rate_drop"], PLANTED["csat_dip"]
    teams = dict(rv.teams)
    drop_segs = {f"team={drop['team']}", "all"} | {f"owner={o}" for o, t in teams.items() if t == drop["team"]}
    dip_segs = {f"owner={dip['owner']}", f"team={teams[dip['owner']]}", "all"}
    a = rv.alerts
    explained = (
        (a["kpi"].isin(["win_rate", "deals_won", "won_revenue"]) & a["segment"].isin(drop_segs)
         & a["period"].isin(_months(drop["months"])) & a["adverse"])
        | (a["kpi"].isin(["csat_mean", "csat_satisfied_share"]) & a["segment"].isin(dip_segs)
           & a["period"].isin(_months(dip["months"])) & a["adverse"])
    )
    assert explained.all(), a[~explained].to_string()


def test_findings_name_the_events_and_who_acts(rv):
    f = rv.findings()
    subjects = [x.subject for x in f]
    assert f"team={PLANTED['team_win_rate_drop']['team']}" in subjects
    assert f"owner={PLANTED['csat_dip']['owner']}" in subjects
    rep = next(x for x in f if x.subject == f"owner={PLANTED['csat_dip']['owner']}")
    assert PLANTED["csat_dip"]["owner"] in rep.suggestion and rep.benchmark.startswith("expected")


def test_kpi_rows_reuse_a_matching_review_and_recompute_otherwise(rv):
    """Notebook 05 passes its own review to kpi_rows: the rows are those kpi_rows computes on its own. A review
    that does not match the registry's definitions (weekly, or alerts at q < 0.10) is not used."""
    ds = load_dataset("data/sample")
    own = pd.DataFrame(monitor.kpi_rows(ds))
    pd.testing.assert_frame_equal(pd.DataFrame(monitor.kpi_rows(ds, reviewed=rv)), own)
    loose = monitor.review(ds, period="M", alpha=0.10)
    assert len(loose.alerts) != len(rv.alerts)  # otherwise the check below could not tell the two apart
    pd.testing.assert_frame_equal(pd.DataFrame(monitor.kpi_rows(ds, reviewed=loose)), own)
