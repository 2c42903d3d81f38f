"""Pipeline in money and coverage against quota (issue 18, part 1), on a hand-made export whose numbers are counted
by hand in the comments, on pandas, Polars and DuckDB; the coverage-needed rule on hand-made histories; the findings
rule (strictly below, never from equal numbers); the one-sentence degradations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesops_kit import funnel, kpis, load_dataset
from salesops_kit.funnel._findings import _coverage_findings
from salesops_kit.funnel._kpis import pipeline_rows
from salesops_kit.funnel.pipeline import COMPANY, MIN_PERIODS, Coverage, _needed

MAPPING = {"name": "t", "tables": {"opportunities": {"file": "opportunities.csv"}, "quotas": {"file": "quotas.csv"}},
           "stages": {"order": ["P", "Q"], "won": ["Won"], "lost": ["Lost"]}}
AS_OF = "2024-03-15"
# id, owner, team, stage, amount, created, close, probability, lost_at_stage
DEALS = [
    ("d1", "ann", "A", "P", 400, "2024-02-20", "2024-03-25", 0.2, ""),   # open, closes in March: ann's pipeline
    ("d2", "ann", "A", "Q", 600, "2024-03-01", "2024-04-10", 0.5, ""),   # open, closes in April: not this period
    ("d3", "ann", "A", "Won", 300, "2024-02-01", "2024-03-05", 1, ""),  # won in March before as-of
    ("d4", "bob", "B", "Q", 200, "2024-03-10", "2024-03-31", 0.5, ""),   # open, closes in March: bob's pipeline
    ("d5", "bob", "B", "Lost", 100, "2024-01-05", "2024-02-20", 0, "Q"),  # open on 15 Feb, closes in Feb
    ("d6", "bob", "B", "Won", 500, "2024-01-02", "2024-02-10", 1, ""),  # won 10 Feb: bob's Feb quota won by the 15th
    ("d7", "ann", "A", "Won", 1200, "2024-01-03", "2024-01-20", 1, ""),  # open on 15 Jan, won 20 Jan: Jan made
    ("d8", "ann", "A", "Lost", 50, "2024-02-01", "2024-02-25", 0, "P"),  # open on 15 Feb, closes in Feb
    ("d9", "bob", "B", "P", 80, "2024-01-10", "2024-02-05", "", ""),    # open, overdue since Feb 5, no probability
    ("d10", "ann", "A", "Lost", 700, "2024-01-25", "2024-03-08", 0, "P"),  # expected 20 Feb until 21 Feb (history)
]
# cat (no quota, so in no coverage) closed 12 deals in 2023: 6 won, 6 lost at P, so that every stage has at least
# MIN_DEALS closed deals behind its historical win rate
OLD = [(f"c{i}", "cat", "C", "Won" if i < 6 else "Lost", 10, "2023-03-01", "2023-04-01", "", "" if i < 6 else "P")
       for i in range(12)]
QUOTAS = [(o, f"2024-0{m}-01", q) for m in (1, 2, 3) for o, q in (("ann", 1000), ("bob", 500))]
HISTORY = [("d10", "2024-01-25", "2024-02-20"), ("d10", "2024-02-21", "2024-03-08")]


def _write(folder, *, history=False, quotas=True, old=True):
    cols = ["opportunity_id", "owner", "team", "stage", "amount", "created_date", "close_date", "probability",
            "lost_at_stage"]
    pd.DataFrame(DEALS + (OLD if old else []), columns=cols).to_csv(folder / "opportunities.csv", index=False)
    mapping = {**MAPPING, "tables": dict(MAPPING["tables"])}
    if quotas:
        pd.DataFrame(QUOTAS, columns=["owner", "period_start", "quota"]).to_csv(folder / "quotas.csv", index=False)
    else:
        mapping["tables"].pop("quotas")
    if history:
        pd.DataFrame(HISTORY, columns=["opportunity_id", "recorded_date", "close_date"]).to_csv(
            folder / "deal_history.csv", index=False)
        mapping["tables"]["deal_history"] = {"file": "deal_history.csv"}
    return mapping


@pytest.fixture(scope="module", params=["pandas", "polars", "duckdb"])
def engine(request):
    return request.param


def _load(tmp_path, engine="pandas", **kw):
    mapping = _write(tmp_path, **kw)
    return load_dataset(tmp_path, mapping=mapping, as_of=AS_OF, engine=engine)


def test_pipeline_by_stage_by_hand(tmp_path, engine):
    pb = funnel.pipeline_by_stage(_load(tmp_path, engine))
    t = pb.table.set_index("stage")
    # P: d1 400 + d9 80; Q: d2 600 + d4 200
    assert t["open_deals"].to_dict() == {"P": 2, "Q": 2}
    assert t["open_amount"].to_dict() == {"P": 480, "Q": 800}
    # CRM: P 400 x 0.2 (d9 has no probability); Q 600 x 0.5 + 200 x 0.5
    assert t.loc["P", "weighted_crm"] == pytest.approx(80) and t.loc["Q", "weighted_crm"] == pytest.approx(400)
    assert t["deals_with_probability"].to_dict() == {"P": 1, "Q": 2}
    assert any("1 open deal(s) have no CRM probability" in n for n in pb.notes)
    # history: closed deals that reached P: d3 d6 d7 + 6 of cat's (won), d5 d8 d10 + 6 of cat's (lost) -> 9/18;
    # Q: d3 d6 d7 + 6 won, d5 lost at Q -> 9/10
    assert t.loc["P", "historical_win_rate"] == pytest.approx(0.5)
    assert t.loc["Q", "historical_win_rate"] == pytest.approx(0.9)
    assert t.loc["P", "weighted_historical"] == pytest.approx(240) and t.loc["Q", "weighted_historical"] == \
        pytest.approx(720)
    assert pb.totals()["open_amount"] == pytest.approx(1280)
    assert pb.totals()["weighted_historical"] == pytest.approx(960)


def test_a_stage_rate_from_fewer_than_min_deals_closed_deals_weights_nothing(tmp_path):
    mapping = _write(tmp_path, old=False)  # P: 6 closed deals, Q: 4
    pb = funnel.pipeline_by_stage(load_dataset(tmp_path, mapping=mapping, as_of=AS_OF))
    assert pb.table["historical_win_rate"].isna().all() and np.isnan(pb.totals()["weighted_historical"])
    assert any("fewer than 10 closed deals" in n for n in pb.notes)
    assert "historical" not in pb.headline() and "weighted by the CRM's probabilities" in pb.headline()


def test_coverage_of_the_running_period_by_hand(tmp_path, engine):
    cov = funnel.pipeline_coverage(_load(tmp_path, engine))
    assert cov.limitation is None and cov.period == (pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-31"))
    t = cov.table.set_index(["level", "team", "owner"])
    # ann: quota 1000, won d3 300, still to win 700, pipeline d1 400 (d2 closes in April) -> 400 / 700
    ann = t.loc[("rep", "A", "ann")]
    assert (ann["quota"], ann["won"], ann["remaining_quota"], ann["open_deals"], ann["pipeline"]) == \
        (1000, 300, 700, 1, 400)
    assert ann["coverage"] == pytest.approx(400 / 700)
    # bob: 500 to win, pipeline d4 200 (d9's close date is in February) -> 0.4
    assert t.loc[("rep", "B", "bob"), "coverage"] == pytest.approx(0.4)
    assert t.loc[("team", "B", ""), "coverage"] == pytest.approx(0.4)
    # company: 1500 - 300 = 1200 to win, 600 of pipeline
    assert t.loc[(COMPANY, COMPANY, ""), "coverage"] == pytest.approx(0.5)
    assert "coverage 0.50×" in cov.headline()


def test_past_periods_are_seen_on_the_as_of_day_of_the_period(tmp_path, engine):
    cov = funnel.pipeline_coverage(_load(tmp_path, engine))
    assert cov.close_date_source == "final"
    h = cov.history.set_index(["team", "period_start"])
    jan, feb = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")
    assert set(h["seen_on"]) == {pd.Timestamp("2024-01-15"), pd.Timestamp("2024-02-15")}  # as-of is day 15
    # team A, January: d7 open on the 15th, closes 20 Jan -> 1200 / 1000; won 1200: made
    a = h.loc[("A", jan)]
    assert (a["pipeline"], a["coverage"], a["won"], bool(a["made_quota"])) == (1200, 1.2, 1200, True)
    # team A, February: d8 (50) is open on the 15th and closes in Feb; d10 closed in March (final date); d1 is younger
    assert h.loc[("A", feb), "pipeline"] == 50 and h.loc[("A", feb), "coverage"] == pytest.approx(0.05)
    # team B, February: d6 won 10 Feb covers the 500 quota by the 15th: nothing left to cover
    b = h.loc[("B", feb)]
    assert (b["won_to_date"], b["remaining_quota"], b["pipeline"]) == (500, 0, 180)  # d5 100 + overdue d9 80
    assert np.isnan(b["coverage"]) and bool(b["made_quota"])
    c = h.loc[(COMPANY, jan)]
    assert (c["quota"], c["pipeline"], c["coverage"]) == (1500, 1200, pytest.approx(0.8))


def test_deal_history_gives_the_close_date_in_force_that_day(tmp_path, engine):
    cov = funnel.pipeline_coverage(_load(tmp_path, engine, history=True))
    assert cov.close_date_source == "deal_history"
    h = cov.history.set_index(["team", "period_start"])
    # on 15 Feb d10 was expected to close on 20 Feb (pushed to 8 Mar on 21 Feb): 50 + 700 in February's pipeline
    assert h.loc[("A", pd.Timestamp("2024-02-01")), "pipeline"] == 750
    assert "close dates in force that day" in cov.history_sentence()
    # the running period reads the deals' current close dates either way
    assert cov.table.loc[cov.table["owner"] == "ann", "pipeline"].iloc[0] == 400


def test_the_same_numbers_on_every_engine(tmp_path):
    out = {}
    for e in ("pandas", "polars", "duckdb"):
        folder = tmp_path / e
        folder.mkdir()
        cov = funnel.pipeline_coverage(_load(folder, e, history=True))
        out[e] = (cov.table, cov.history)
    for e in ("polars", "duckdb"):
        pd.testing.assert_frame_equal(out[e][0], out["pandas"][0], check_dtype=False)
        pd.testing.assert_frame_equal(out[e][1], out["pandas"][1], check_dtype=False)


def test_the_kpi_rows_are_the_tables_numbers(tmp_path):
    ds = _load(tmp_path)
    k = kpis.kpi_frame(pipeline_rows(ds)).set_index(["kpi", "segment"])
    assert k.loc[("open_pipeline_amount", "all"), "value"] == 1280
    assert k.loc[("open_pipeline_amount", "stage=P"), "value"] == 480
    assert k.loc[("open_pipeline_amount", "team=A"), "value"] == 1000  # d1 400 + d2 600
    assert k.loc[("weighted_pipeline_crm", "all"), "value"] == pytest.approx(480)
    assert k.loc[("weighted_pipeline_historical", "all"), "value"] == pytest.approx(960)
    assert k.loc[("pipeline_coverage", "owner=ann"), "value"] == pytest.approx(400 / 700)
    assert k.loc[("pipeline_coverage", "all"), "window"] == "2024-03"
    assert ("pipeline_coverage_needed", "team=A") not in k.index  # two past periods: too few to learn it


@pytest.mark.parametrize("what, sentence", [
    ("quotas", "pipeline coverage needs a quota"),
    ("as_of", "No quota period runs at the as-of date 2025-06-01"),
])
def test_without_quotas_or_a_running_period_coverage_is_one_sentence(tmp_path, what, sentence):
    mapping = _write(tmp_path, quotas=what != "quotas")
    ds = load_dataset(tmp_path, mapping=mapping, as_of="2025-06-01" if what == "as_of" else AS_OF)
    cov = funnel.pipeline_coverage(ds)
    assert sentence in cov.limitation and cov.headline() == cov.limitation and not len(cov.table)
    assert not [r for r in pipeline_rows(ds) if r["kpi"].startswith("pipeline_coverage")]
    assert _coverage_findings(cov) == []


def test_an_empty_quotas_table_is_one_sentence(tmp_path):
    mapping = _write(tmp_path)
    pd.DataFrame(columns=["owner", "period_start", "quota"]).to_csv(tmp_path / "quotas.csv", index=False)
    cov = funnel.pipeline_coverage(load_dataset(tmp_path, mapping=mapping, as_of=AS_OF))
    assert cov.limitation and "quotas" in cov.limitation


def test_without_amounts_the_pipeline_is_one_sentence(tmp_path):
    mapping = _write(tmp_path)
    deals = pd.read_csv(tmp_path / "opportunities.csv").assign(amount="")  # the column is required, blank here
    deals.to_csv(tmp_path / "opportunities.csv", index=False)
    ds = load_dataset(tmp_path, mapping=mapping, as_of=AS_OF)
    pb = funnel.pipeline_by_stage(ds)
    assert pb.limitation == "No open deal has an amount: the pipeline cannot be counted in money."
    assert not [r for r in pipeline_rows(ds) if "pipeline_" in r["kpi"] and "coverage" not in r["kpi"]]


def test_several_currencies_without_rates_are_never_totalled(tmp_path):
    mapping = _write(tmp_path)
    deals = pd.read_csv(tmp_path / "opportunities.csv")
    deals["currency"] = ["USD", "EUR"] * (len(deals) // 2)
    deals.to_csv(tmp_path / "opportunities.csv", index=False)
    ds = load_dataset(tmp_path, mapping=mapping, as_of=AS_OF)
    assert "several currencies" in funnel.pipeline_by_stage(ds).limitation
    assert "several currencies" in funnel.pipeline_coverage(ds).limitation


# --- the coverage a team needed -------------------------------------------------------------------------------------

def _hist(cov, made):
    n = len(cov)
    return pd.DataFrame({"team": "A", "coverage": cov, "remaining_quota": [100.0] * n, "made_quota": made,
                         "attainment": [1.1 if m else 0.5 for m in made]})


def test_the_needed_coverage_is_the_50_percent_point_of_the_fit():
    # log coverage symmetric around log 2, made above it except one flip on each side: by symmetry the logistic
    # fit crosses 50% exactly at 2x
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    x = np.concatenate([math.log(2) - d, math.log(2) + d])
    made = [False] * 8 + [True] * 8
    made[1], made[8 + 1] = True, False  # 2 x 0.82 made, 2 x 1.22 missed
    n = _needed(_hist(np.exp(x), made))
    assert n["method"] == "logistic" and n["needed_coverage"] == pytest.approx(2.0, rel=1e-6)
    assert n["ci_low"] < 2.0 < n["ci_high"] and (n["periods"], n["made"]) == (16, 8)


def test_perfect_separation_names_the_bracket_only():
    n = _needed(_hist([0.5, 0.6, 0.7, 0.8, 1.5, 1.6, 1.7, 1.8], [False] * 4 + [True] * 4))
    assert np.isnan(n["needed_coverage"]) and (n["ci_low"], n["ci_high"]) == (pytest.approx(0.8), pytest.approx(1.5))
    assert "lies between" in n["reason"]


@pytest.mark.parametrize("cov, made", [
    ([1.0] * 7, [True] * 3 + [False] * 4),  # fewer periods than MIN_PERIODS
    ([0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 1.7, 1.9, 2.1], [False] * 7 + [True] * 2),  # fewer than 3 made
])
def test_too_few_periods_say_so(cov, made):
    n = _needed(_hist(cov, made))
    assert np.isnan(n["needed_coverage"]) and "too few" in n["reason"]


# --- findings -------------------------------------------------------------------------------------------------------

def _coverage(current, past, needed=None):
    table = pd.DataFrame([{"level": "team", "team": "A", "owner": "", "quota": 1000.0, "won": 0.0,
                           "remaining_quota": 1000.0, "open_deals": 3, "pipeline": current * 1000.0,
                           "coverage": current, "needed_coverage": np.nan, "needed_low": np.nan,
                           "needed_high": np.nan}])
    starts = pd.date_range("2023-01-01", periods=len(past), freq="MS")
    hist = pd.DataFrame({"team": "A", "period_start": starts, "period_end": starts + pd.offsets.MonthEnd(0),
                         "seen_on": starts + pd.Timedelta(days=14), "quota": 1000.0, "won_to_date": 0.0,
                         "remaining_quota": 1000.0, "deals_open": 3, "pipeline": np.array(past) * 1000,
                         "coverage": past, "won": 500.0, "attainment": 0.5, "made_quota": False})
    nd = pd.DataFrame([{"team": "A", "periods": len(past), "made": 0, "needed_coverage": np.nan, "ci_low": np.nan,
                        "ci_high": np.nan, "method": "", "reason": "too few"}] if needed is None else [needed])
    return Coverage(table, hist, nd, (pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-31")), "final", "USD", None,
                    pd.Timestamp("2024-03-15"))


def test_a_team_below_every_past_period_is_a_finding_with_the_missing_pipeline_at_stake():
    past = [0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0]
    [f] = _coverage_findings(_coverage(0.5, past))
    # the usual coverage is the median 1.3x of the 1000 still to win: 1300 - 500 of pipeline held
    assert f.value == "0.50×" and f.stake == pytest.approx(800) and f.kpi == "pipeline_coverage"
    assert f.segment == "team=A" and "0.60× lowest" in f.benchmark and f.window == "2024-03"


def test_equal_to_the_lowest_past_period_or_too_few_periods_is_no_finding():
    past = [0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0]
    assert _coverage_findings(_coverage(0.6, past)) == []
    assert _coverage_findings(_coverage(0.5, past[: MIN_PERIODS - 1])) == []


def test_a_team_below_the_coverage_it_needed_is_a_finding():
    needed = {"team": "A", "periods": 20, "made": 8, "needed_coverage": 1.5, "ci_low": 1.2, "ci_high": 1.9,
              "method": "logistic", "reason": ""}
    [f] = _coverage_findings(_coverage(1.0, [1.1] * 8, needed))
    assert f.stake == pytest.approx(500) and "1.50× at which its past periods made quota" in f.benchmark
    assert _coverage_findings(_coverage(1.2, [1.3] * 8, needed)) == []  # at the interval's edge: no finding


def test_the_quota_still_to_win_and_the_teams_are_the_rep_scorecards(tmp_path):
    """One rule for the running quota period, the quota still to win and a rep's team: the coverage here and the
    rep scorecard (notebook 04) read them from the same functions, so they agree rep by rep."""
    from salesops_kit import reps

    ds = _load(tmp_path, history=True)
    counts = reps.scorecard(ds).counts.set_index("owner")
    t = funnel.pipeline_coverage(ds).table
    t = t[t["level"] == "rep"].set_index("owner")
    assert list(t.index) == ["ann", "bob"]
    c = counts.loc[t.index]
    remaining = (c["current_quota"] - c["won_current"]).clip(lower=0)
    assert t["remaining_quota"].to_dict() == remaining.to_dict() == {"ann": 700, "bob": 500}
    assert t["pipeline"].to_dict() == c["pipeline_in_period"].to_dict()
    assert t["team"].to_dict() == counts.loc[t.index, "team"].to_dict()


@pytest.mark.skipif(not (Path(__file__).resolve().parents[2] / "data" / "sample" / "quotas.csv").exists(),
                    reason="data/sample has not been generated")
def test_on_the_sample_teams_add_up_to_the_company_now_and_in_every_past_period():
    from salesops_kit import open_dataset

    cov = funnel.pipeline_coverage(open_dataset(Path(__file__).resolve().parents[2] / "data" / "sample"))
    t = cov.table
    reps_, teams, company = t[t["level"] == "rep"], t[t["level"] == "team"], t[t["level"] == COMPANY].iloc[0]
    for col in ("quota", "won", "pipeline", "open_deals"):
        assert teams[col].sum() == pytest.approx(reps_[col].sum()) == pytest.approx(company[col])
        assert teams.set_index("team")[col].to_dict() == pytest.approx(reps_.groupby("team")[col].sum().to_dict())
    assert company["coverage"] == pytest.approx(company["pipeline"] / company["remaining_quota"])
    h = cov.history
    per = h[h["team"] != COMPANY].groupby("period_start")[["quota", "pipeline", "won"]].sum()
    co = h[h["team"] == COMPANY].set_index("period_start")[["quota", "pipeline", "won"]]
    pd.testing.assert_frame_equal(per.sort_index(), co.sort_index(), check_dtype=False)
    assert (h["seen_on"] - h["period_start"]).dt.days.max() == (cov.as_of.normalize() - cov.period[0]).days
