"""KPI time series for monitoring on tiny exports (worked out by hand), engine parity, the funnel's
win-rate definition, CSAT/NPS, and the plain messages for missing targets / CSAT / one period."""

import warnings

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from salesops_kit import funnel, load_dataset, monitor
from salesops_kit.data.schema import StageModel
from salesops_kit.monitor import _series as ms

warnings.filterwarnings("ignore", category=FutureWarning)

OPPS = """opportunity_id,owner,stage,amount,created_date,close_date,team,lead_source
O1,Ann,Closed Won,100,2025-09-01,2025-10-03,T1,Web
O2,Ann,Closed Lost,50,2025-09-01,2025-10-10,T1,Web
O3,Ben,Closed Won,300,2025-09-05,2025-10-20,T2,Ref
O4,Ben,Closed Lost,70,2025-09-05,2025-11-02,T2,Ref
O5,Ann,Closed Won,200,2025-10-01,2025-11-05,T1,Ref
O6,Ben,Closed Won,400,2025-10-01,2025-11-28,T2,Web
O7,Ann,Proposal,80,2025-11-01,2025-12-20,T1,Web
O8,Ann,Closed Won,10,2025-11-10,2025-12-01,T1,Web
"""
# CSAT: Ann Oct 5,4,2 (mean 11/3, satisfied 2/3); Nov 5 (one answer); Ben Oct 3; NPS rows (scale 10):
# Oct 10, 9, 7, 3 -> 2 promoters, 1 detractor of 4 -> NPS 0.25
CSAT = """owner,customer_id,score,survey_date,scale_max
Ann,,5,2025-10-02,5
Ann,,4,2025-10-12,5
Ann,,2,2025-10-22,5
Ann,,5,2025-11-02,5
Ben,,3,2025-10-05,5
Ann,,10,2025-10-03,10
Ann,,9,2025-10-04,10
Ben,,7,2025-10-05,10
Ben,,3,2025-10-06,10
"""


def _write(tmp_path, **tables):
    for name, text in tables.items():
        (tmp_path / f"{name}.csv").write_text(text)
    return load_dataset(tmp_path, as_of="2025-12-15")


@pytest.fixture
def ds(tmp_path):
    return _write(tmp_path, opportunities=OPPS, csat=CSAT)


def _get(s, kpi, seg, period):
    r = s[(s["kpi"] == kpi) & (s["segment"] == seg) & (s["period"] == pd.Timestamp(period))]
    assert len(r) == 1, (kpi, seg, period)
    return r.iloc[0]


def test_opportunity_series_by_hand(ds):
    s = monitor.kpi_series(ds, period="M")
    # October closes: O1 won, O2 lost, O3 won -> 2/3; November: O4 lost, O5 won, O6 won -> 2/3;
    # December (partial at 2025-12-15): O8 won -> 1/1
    assert _get(s, "win_rate", "all", "2025-10-01")[["successes", "n"]].tolist() == [2, 3]
    assert _get(s, "win_rate", "team=T1", "2025-10-01")[["successes", "n"]].tolist() == [1, 2]
    assert _get(s, "win_rate", "lead_source=Ref", "2025-11-01")[["successes", "n"]].tolist() == [1, 2]
    dec = _get(s, "win_rate", "all", "2025-12-01")
    assert dec["partial"] and dec["days"] == 15
    assert not _get(s, "win_rate", "all", "2025-11-01")["partial"]
    # won revenue Oct 100 + 300 = 400, Nov 200 + 400 = 600; average won deal Nov 300; deals won Nov 2
    assert _get(s, "won_revenue", "all", "2025-10-01")["value"] == 400
    assert _get(s, "won_revenue", "all", "2025-11-01")["value"] == 600
    assert _get(s, "avg_won_deal_size", "all", "2025-11-01")["value"] == 300
    assert _get(s, "deals_won", "owner=Ben", "2025-11-01")["value"] == 1
    # a rep's series starts at their first period; the grid has no gaps
    assert s[(s["kpi"] == "deals_won") & (s["segment"] == "all")]["period"].dt.month.tolist() == [10, 11, 12]


def test_quarterly_and_weekly(ds):
    q = monitor.kpi_series(ds, period="Q", kpis=["win_rate"])
    # Q4 2025: 5 won of 7 closed (O1..O6, O8), partial at as-of
    r = _get(q, "win_rate", "all", "2025-10-01")
    assert r[["successes", "n"]].tolist() == [5, 7] and r["partial"]
    w = monitor.kpi_series(ds, period="W", kpis=["win_rate"])
    # O1 closed Friday 2025-10-03: week from Monday 2025-09-29
    assert _get(w, "win_rate", "all", "2025-09-29")["n"] == 1
    with pytest.raises(ValueError, match=r"period must be one of W \(weeks from Monday\), M .*; got 'D'"):
        monitor.kpi_series(ds, period="D")


def test_win_rate_matches_the_funnel_definition():
    ds = load_dataset("data/sample")
    s = monitor.kpi_series(ds, period="M", kpis=["win_rate"])
    for by, prefix in (("team", "team="), ("lead_source", "lead_source=")):
        f = funnel.win_rate(ds, by=by, period="M").table
        mine = s[s["segment"].str.startswith(prefix)].copy()
        mine[by] = mine["segment"].str[len(prefix):]
        mine = mine.rename(columns={"n": "trials"})[[by, "period", "successes", "trials"]]
        m = f.merge(mine, on=[by, "period"], how="inner")
        assert len(m) == len(f)
        assert (m["won"] == m["successes"]).all() and ((m["won"] + m["lost"]) == m["trials"]).all()


def test_engine_parity_of_the_scans():
    o = pd.read_csv(pd.io.common.StringIO(OPPS), parse_dates=["created_date", "close_date"])
    sm = StageModel(order=("Prospecting", "Qualification", "Proposal", "Negotiation"), won=("Closed Won",),
                    lost=("Closed Lost",))
    kp = list(ms.KPI_SPECS)
    ref = pd.concat(ms.opportunity_series(o, stages=sm, period="M", as_of="2025-12-15", kpis=kp))
    arrow = pl.from_pandas(o).to_arrow()  # noqa: F841 (read by duckdb below)
    for native in (pl.from_pandas(o), pl.from_pandas(o).lazy(), duckdb.sql("select * from arrow")):
        got = pd.concat(ms.opportunity_series(native, stages=sm, period="M", as_of="2025-12-15", kpis=kp))
        cols = ["kpi", "segment", "period", "n", "successes", "value", "partial"]
        pd.testing.assert_frame_equal(got[cols].reset_index(drop=True), ref[cols].reset_index(drop=True),
                                      check_dtype=False)


def test_csat_and_nps_by_hand(ds):
    s = monitor.kpi_series(ds, period="M", kpis=["csat_mean", "csat_satisfied_share", "nps"], min_responses=2)
    oct_ann = _get(s, "csat_mean", "owner=Ann", "2025-10-01")
    assert oct_ann["value"] == pytest.approx(11 / 3) and oct_ann["n"] == 3
    assert _get(s, "csat_satisfied_share", "owner=Ann", "2025-10-01")["value"] == pytest.approx(2 / 3)
    # team through the owner's deals: Ann -> T1
    assert _get(s, "csat_mean", "team=T1", "2025-10-01")["value"] == pytest.approx(11 / 3)
    # 0-10 answers feed NPS only: 2 promoters, 1 detractor of 4 -> 0.25
    nps = _get(s, "nps", "all", "2025-10-01")
    assert nps["value"] == pytest.approx(0.25) and nps["n"] == 4
    assert _get(s, "csat_mean", "all", "2025-10-01")["n"] == 4  # the 1-5 answers only
    # Ann's single November answer is a low-response period: shown, marked
    nov = _get(s, "csat_mean", "owner=Ann", "2025-11-01")
    assert nov["low_volume"] and nov["value"] == 5


def test_low_response_periods_are_not_read_as_changes(ds):
    rv = monitor.review(ds, period="M", review="2025-11")
    ch = rv.changes[(rv.changes["kpi"] == "csat_mean") & (rv.changes["segment"] == "owner=Ann")]
    assert ch[ch["comparison"] == "pop"]["note"].iloc[0].startswith("low volume")


def test_missing_targets_csat_and_one_period_say_so(tmp_path):
    one = OPPS.splitlines()[0] + "\n" + "\n".join(OPPS.splitlines()[1:4]) + "\n"  # October closes only
    d = _write(tmp_path, opportunities=one)
    d.as_of = pd.Timestamp("2025-10-31")
    rv = monitor.review(d, period="M")
    text = " ".join(rv.notes)
    assert "No CSAT answers" in text and "NPS" in text
    assert "No targets file" in text and "No quotas table" in text
    assert "Only one period of data" in text
    assert len(rv.alerts) == 0 and rv.findings().to_markdown()
    assert rv.scorecard()["verdict"].str.startswith("no data").all()
    assert isinstance(rv._repr_html_(), str)


def test_targets_file_and_quotas_give_attainment(tmp_path):
    d = _write(tmp_path, opportunities=OPPS,
               quotas="owner,period_start,quota,period_end\nAnn,2025-11-01,400,2025-11-30\n"
                      "Ben,2025-11-01,400,2025-11-30\n")
    (tmp_path / "targets.csv").write_text("kpi,segment,period,target\nwin_rate,all,2025-11,0.5\n")
    rv = monitor.review(d, period="M", review="2025-11")
    a = rv.attainment.set_index(["kpi", "segment"])
    # win rate 2/3 vs 0.5 -> 133%; won revenue all 600 vs 800 -> 75%; Ann 200 / 400 = 50%
    assert a.loc[("win_rate", "all"), "attainment"] == pytest.approx(4 / 3)
    assert a.loc[("won_revenue", "all"), "attainment"] == pytest.approx(0.75)
    assert a.loc[("won_revenue", "owner=Ann"), "attainment"] == pytest.approx(0.5)
    sc = rv.scorecard().set_index("kpi")
    assert sc.loc["win_rate", "status"].startswith("met")


def test_kpi_rows_registered(ds):
    from salesops_kit.kpis import kpi_frame

    f = kpi_frame(monitor.kpi_rows(ds))
    assert {"csat_satisfied_share", "nps", "win_rate_change_pop"} <= set(f["kpi"])
    assert not f["kpi"].str.endswith("_change_yoy").any()  # no data a year back
    assert f.loc[(f["kpi"] == "nps") & (f["segment"] == "all"), "value"].iloc[0] == pytest.approx(0.25)
    # four months: no control limit could be computed, so no alert could be raised: no 'alerts = 0' row
    assert monitor.review(ds).charts_reason and "alerts" not in set(f["kpi"])


def test_kpi_rows_empty_dataset(tmp_path):
    d = _write(tmp_path, quotas="owner,period_start,quota\nAnn,2025-11-01,400\n")
    assert monitor.kpi_rows(d) == []


NPS_ONLY = "owner,score,survey_date,scale_max\n" + "".join(
    f"Ann,{s},2025-{m:02d}-{d:02d},10\n" for m in (9, 10, 11) for d, s in enumerate((10, 9, 9, 8, 7, 3, 10, 9, 2, 10, 9,
                                                                                       6), start=1))


def test_csat_only_dataset_with_nps(tmp_path):
    # 12 answers a month: promoters 10, 9, 9, 10, 9, 10, 9 = 7; detractors 3, 2, 6 = 3 -> NPS (7 - 3) / 12
    d = _write(tmp_path, csat=NPS_ONLY)
    rv = monitor.review(d, period="M", review="2025-11")
    nps = rv.series[(rv.series["kpi"] == "nps") & (rv.series["segment"] == "all")]
    assert nps["value"].tolist()[:3] == pytest.approx([4 / 12] * 3)
    assert np.isnan(nps["value"].iloc[3]) and nps["partial"].iloc[3]  # December: no answers yet
    assert not (rv.series["kpi"] == "csat_mean").any()  # no 1-5 answers: no CSAT mean
    ch = rv.changes[(rv.changes["kpi"] == "nps") & (rv.changes["comparison"] == "pop")].iloc[0]
    assert ch["change"] == 0 and ch["p_value"] == 1.0
    assert "No opportunities" in " ".join(rv.notes)
    assert rv.findings().to_markdown()


def test_orders_only_weekly_review(tmp_path):
    rows = ["order_id,customer_id,order_date,amount,channel"]
    rows += [f"O{i},C{i % 40},2025-{1 + i // 60:02d}-{1 + i % 27:02d},{50 + i % 7},Web" for i in range(600)]
    d = _write(tmp_path, orders="\n".join(rows) + "\n")
    rv = monitor.review(d, period="W")
    assert set(rv.series["kpi"]) == {"new_customers"}  # no CAC without spend, and never weekly
    assert rv.series["period"].dt.dayofweek.eq(0).all()  # weeks start on Monday


def test_review_period_errors(ds):
    with pytest.raises(ValueError, match="after the as-of date"):
        monitor.review(ds, review="2026-03")
    with pytest.raises(ValueError, match="not a M period"):
        monitor.review(ds, review="soon")


def test_engine_parity_of_csat_and_lead_scans():
    c = pd.read_csv(pd.io.common.StringIO(CSAT), parse_dates=["survey_date"])
    leads = pd.DataFrame({"lead_id": ["L1", "L2", "L3"], "source": ["Web", "Web", "Ref"], "owner": ["Ann"] * 3,
                          "created_date": pd.to_datetime(["2025-06-01 09:00", "2025-06-02 10:00", "2025-07-01 08:00"]),
                          "first_response_date": pd.to_datetime(["2025-06-01 11:00", "2025-06-03 10:00", None]),
                          "opportunity_id": ["O1", None, None]})
    kp = list(ms.KPI_SPECS)
    ref_c = pd.concat(ms.csat_series(c, period="M", as_of="2025-12-15", kpis=kp))
    ref_l = pd.concat(ms.lead_series(leads, period="M", as_of="2025-12-15", kpis=kp))
    # June: 1 of 2 leads converted; median response of 2 h and 24 h = 13 h
    jun = ref_l[(ref_l["segment"] == "all") & (ref_l["period"] == pd.Timestamp("2025-06-01"))]
    assert jun.set_index("kpi").loc["lead_conversion_rate", "value"] == 0.5
    assert jun.set_index("kpi").loc["first_response_median_hours", "value"] == 13.0
    cols = ["kpi", "segment", "period", "n", "value"]
    for conv in (pl.from_pandas, lambda x: pl.from_pandas(x).lazy()):
        got_c = pd.concat(ms.csat_series(conv(c), period="M", as_of="2025-12-15", kpis=kp))
        got_l = pd.concat(ms.lead_series(conv(leads), period="M", as_of="2025-12-15", kpis=kp))
        pd.testing.assert_frame_equal(got_c[cols].reset_index(drop=True), ref_c[cols].reset_index(drop=True),
                                      check_dtype=False)
        pd.testing.assert_frame_equal(got_l[cols].reset_index(drop=True), ref_l[cols].reset_index(drop=True),
                                      check_dtype=False)
