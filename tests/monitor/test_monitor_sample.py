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
    assert PLANTED["csat_dip"]["owner"] in rep.suggestion and rep.benchmark.startswith("control limits")
    # the dip runs into the reviewed month: act next month; the team's drop was months ago: not asked to act
    team = next(x for x in f if x.subject == f"team={PLANTED['team_win_rate_drop']['team']}")
    assert rep.suggestion.endswith(f"act in {rv.next_name}") and f"no action for {rv.next_name}" in team.suggestion
    # one event, one finding: the team's drop carries the company's echo in its evidence
    assert "all win rate" in team.evidence and not any(x.subject == "all" and x.metric == "win rate" for x in f)


def test_one_alert_rule_in_findings_limits_and_chart(rv):
    """A judged point in the window alerts exactly when |z| >= z*, the drawn limits are centre +- z* sigma, and
    the findings and the chart legend state the same z*."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from salesops_kit import plots

    zs = rv.z_star()  # normal reference; a point with few degrees of freedom has the Student-t cut-off
    lim = rv.limits[rv.limits["in_window"] & rv.limits["testable"].astype(bool)]
    cut = np.array([rv.z_star(d) for d in lim["df"]])
    assert (lim["alert"] == (lim["z"].abs() >= cut - 1e-9)).all()
    normal = lim[np.isinf(lim["df"]) & ~lim["log"].astype(bool) & (lim["kind"] != "rate")]
    assert len(normal) and np.allclose(normal["ucl"] - normal["center"], zs * normal["sigma"])
    for f in rv.findings():
        if "control limits" in f.benchmark:
            assert f"|z| ≥ {zs:.1f}" in f.evidence and "3-sigma" not in f.benchmark
    ax = plots.plot_control_chart(rv, kpi="win_rate", segment="all")
    assert f"control limits (|z| ≥ {zs:.1f})" in [line.get_label() for line in ax.get_lines()]
    plt.close(ax.figure)


def test_findings_quote_the_kpis_csv_row_they_name(rv):
    """The lead (company revenue against target) and any finding with ``kpi`` set print the value of the kpis.csv
    row with that kpi, segment and window; the CSAT rows say they are all history, not the reviewed month."""
    from salesops_kit.kpis import kpi_frame

    ds = load_dataset("data/sample")
    k = kpi_frame(monitor.kpi_rows(ds, reviewed=rv)).set_index(["kpi", "segment"])
    quoted = [f for f in rv.findings() if f.kpi]
    assert quoted and quoted[0].lead and quoted[0].kpi == "won_revenue_attainment"
    for f in quoted:
        row = k.loc[(f.kpi, f.segment)]
        assert row["window"] == f.window
        if f.kpi.endswith("_attainment"):
            assert f.value == f"{row['value']:.0%}"
    lead = quoted[0]
    at = rv.attainment
    company = at[(at["kpi"] == "won_revenue") & (at["segment"] == "all") & (at["period"] == rv.review)].iloc[0]
    assert lead.stake == pytest.approx(company["target"] - company["actual"], abs=0.01)
    assert k.loc[("csat_mean", "all"), "window"] == "all history"


def test_kpi_rows_reuse_a_matching_review_and_recompute_otherwise(rv):
    """Notebook 05 passes its own review to kpi_rows: the rows are those kpi_rows computes on its own. A review
    that does not match the registry's definitions (weekly, or alerts at q < 0.10) is not used."""
    ds = load_dataset("data/sample")
    own = pd.DataFrame(monitor.kpi_rows(ds))
    pd.testing.assert_frame_equal(pd.DataFrame(monitor.kpi_rows(ds, reviewed=rv)), own)
    loose = monitor.review(ds, period="M", alpha=0.10)
    assert len(loose.alerts) != len(rv.alerts)  # otherwise the check below could not tell the two apart
    pd.testing.assert_frame_equal(pd.DataFrame(monitor.kpi_rows(ds, reviewed=loose)), own)
