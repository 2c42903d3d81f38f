"""The review's findings on a hand-made review whose answers can be read off the frames: one event, one finding
(nested segments in adjacent months), an old alert labelled with its months and not asked to be acted on, the
company's revenue against target first with its gap as the stake, and the drawn limits quoted (not 3-sigma)."""

import numpy as np
import pandas as pd
import pytest

from salesops_kit import monitor
from salesops_kit.monitor.review import MonitorReview

REVIEW = pd.Timestamp("2025-11-01")
AS_OF = pd.Timestamp("2025-12-15")
CUT = 1.4e-4  # the BH cut-off p-value: z* = norm.isf(CUT / 2) = 3.81


def _point(kpi, segment, month, z, *, center=0.30, sigma=0.02, alert=True):
    from scipy import stats as st

    zstar = st.norm.isf(CUT / 2)
    return {"kpi": kpi, "segment": segment, "period": pd.Timestamp(month), "value": center + z * sigma,
            "stat": center + z * sigma, "center": center, "sigma": sigma, "lcl": center - zstar * sigma,
            "ucl": center + zstar * sigma, "z": z, "df": np.inf, "p_value": 2 * st.norm.sf(abs(z)),
            "q_value": 0.01 if alert else 0.5, "direction": ("up" if z > 0 else "down") if alert else "",
            "chart": "p", "alert": alert, "testable": True, "partial": False, "kind": "rate"}


def _review(points, attainment=None) -> MonitorReview:
    lim = pd.DataFrame(points)
    lim.attrs.update(z_star_cut=CUT, tests=400)
    window = tuple(pd.date_range("2024-12-01", "2025-11-01", freq="MS"))
    at = attainment if attainment is not None else pd.DataFrame(columns=[
        "kpi", "segment", "period", "target", "source", "actual", "partial", "projected", "attainment",
        "projected_attainment", "status"])
    return MonitorReview("M", REVIEW, AS_OF, window, pd.DataFrame({"period": lim["period"]}), lim,
                         pd.DataFrame(columns=monitor.CHANGE_COLUMNS), at, 0.05, teams=(("Dana", "Atlas"),),
                         currency="USD")


@pytest.fixture
def rv():
    return _review([
        _point("win_rate", "team=Boreal", "2025-05-01", -4.2), _point("win_rate", "team=Boreal", "2025-06-01", -3.9),
        _point("win_rate", "all", "2025-06-01", -4.7), _point("deals_won", "all", "2025-06-01", -3.9),
        _point("csat_mean", "owner=Dana", "2025-10-01", -7.8, center=4.2, sigma=0.2),
        _point("csat_mean", "owner=Dana", "2025-11-01", -7.3, center=4.2, sigma=0.2),
        _point("csat_mean", "team=Atlas", "2025-10-01", -4.1, center=4.1, sigma=0.1),
        _point("win_rate", "team=Cobalt", "2025-11-01", 1.0, alert=False),
    ])


def test_nested_alerts_in_adjacent_months_are_one_event_told_by_the_most_specific_series(rv):
    events = monitor.alert_events(rv)
    assert len(events) == 2  # June's team and company drop; Dana's CSAT dip with her team's
    told = {(e.at[0, "kpi"], e.at[0, "segment"]) for e in events}
    assert told == {("win_rate", "team=Boreal"), ("csat_mean", "owner=Dana")}
    june = next(e for e in events if e.at[0, "segment"] == "team=Boreal")
    assert set(zip(june["kpi"], june["segment"], strict=True)) == {
        ("win_rate", "team=Boreal"), ("win_rate", "all"), ("deals_won", "all")}
    f = rv.findings()
    assert len(f) == 2 and sorted(x.subject for x in f) == ["owner=Dana", "team=Boreal"]
    boreal = next(x for x in f if x.subject == "team=Boreal")
    assert "same event" in boreal.evidence and "all win rate" in boreal.evidence  # its knock-on effects


def test_an_old_alert_is_labelled_with_its_months_and_not_asked_to_be_acted_on(rv):
    f = {x.subject: x for x in rv.findings()}
    old, now = f["team=Boreal"], f["owner=Dana"]
    assert old.window == "May 2025 – June 2025" and now.window == "October 2025 – November 2025"
    assert "no action for December 2025" in old.suggestion and "act" not in old.suggestion.replace("action", "")
    assert now.suggestion.endswith("act in December 2025") and "Dana's customer success manager" in now.suggestion
    assert now.severity > old.severity  # the current event comes first


def test_findings_quote_the_drawn_limits_and_the_one_alert_rule(rv):
    dana = next(x for x in rv.findings() if x.subject == "owner=Dana")
    strongest = rv.alerts[(rv.alerts["segment"] == "owner=Dana")].sort_values("z").iloc[0]  # z = -7.8, October
    assert dana.benchmark == (f"control limits {strongest['lcl']:.2f}–{strongest['ucl']:.2f} in October 2025")
    assert "3-sigma" not in dana.benchmark
    assert f"|z| ≥ {rv.z_star():.1f}" in dana.evidence and "across 400 points judged" in dana.evidence
    assert rv.z_star() == pytest.approx(3.81, abs=0.01)


def test_the_company_revenue_target_leads_with_its_gap_as_the_stake(rv):
    at = pd.DataFrame([
        ("won_revenue", "all", REVIEW, 1000.0, "targets file", 800.0, False, 800.0, 0.8, 0.8, "missed"),
        ("won_revenue", "team=Atlas", REVIEW, 600.0, "targets file", 420.0, False, 420.0, 0.7, 0.7, "missed"),
        ("won_revenue", "all", pd.Timestamp("2025-12-01"), 900.0, "targets file", 450.0, True, 900.0, 0.5, 1.0,
         "on track"),
        ("win_rate", "team=Atlas", REVIEW, 0.30, "targets file", 0.24, False, 0.24, 0.8, 0.8, "missed"),
    ], columns=["kpi", "segment", "period", "target", "source", "actual", "partial", "projected", "attainment",
                "projected_attainment", "status"])
    r = _review(rv.limits.to_dict("records"), attainment=at)
    f = r.findings()
    lead = f[0]
    assert lead.lead and (lead.kpi, lead.segment, lead.window) == ("won_revenue_attainment", "all", "November 2025")
    assert lead.value == "80%" and lead.stake == pytest.approx(200.0)
    assert "gap 200 USD" in lead.evidence and "teams: Atlas 70%" in lead.evidence
    assert "December 2025 on pace for 100% of its target" in lead.evidence
    assert "alerts in November 2025: owner=Dana CSAT mean" in lead.evidence
    assert lead.suggestion == "head of sales to plan how December 2025 closes the 200 USD gap"
    # the team's revenue miss is in the lead's evidence, not a finding of its own; its win rate miss is
    assert not any(x.kpi == "won_revenue_attainment" and x.segment == "team=Atlas" for x in f)
    wr = next(x for x in f if x.kpi == "win_rate_attainment")
    assert (wr.value, wr.window, wr.stake) == ("80%", "November 2025", None)


def test_kpi_windows_name_the_period_each_row_covers(rv):
    w = monitor.kpi_windows(rv)
    assert w == {"all": "all history", "review": "November 2025", "pop": "November 2025 vs October 2025",
                 "yoy": "November 2025 vs November 2024", "alerts": "12 months to November 2025"}


def test_limits_text_keeps_a_value_just_past_its_limit_apart():
    assert monitor.limits_text(22, 22.2, 70.1, "int") == "22.2–70.1"      # "22 outside 22–70" would read equal
    assert monitor.limits_text(12, 22.2, 70.1, "int") == "22–70"
    assert monitor.limits_text(0.0448, 0.04483, 0.505, "pct") == "4.48%–50.50%"
