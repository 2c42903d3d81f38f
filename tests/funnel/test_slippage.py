"""Slippage (issue 18, part 2): pushes of the expected close date from deal_history, by rep, team and stage, and
the win rate of pushed deals — hand counts on a small frame on every engine, and the sample's planted slipping rep
found from the analysis."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from salesops_kit import funnel, kpis, load_dataset
from salesops_kit.data.schema import StageModel
from salesops_kit.funnel._history_kpis import history_kpi_rows
from salesops_kit.tools.exceptions import MissingColumnsError

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
STAGES = StageModel(order=("Prospecting", "Qualification"), won=("Closed Won",), lost=("Closed Lost",))

# opportunity_id, recorded_date, close_date                  what it is (days pushed)
HISTORY = [
    ("d1", "2024-03-20", "2024-04-20"),  # push: 10 Apr -> 20 Apr (10), listed first: records are sorted by date
    ("d1", "2024-03-01", "2024-04-01"),  # creation
    ("d1", "2024-03-05", "2024-04-15"),  # push: 1 Apr -> 15 Apr (14)
    ("d1", "2024-03-10", "2024-04-10"),  # pulled in: not a push
    ("d2", "2024-03-01", "2024-03-30"),  # one record: never pushed
    ("d3", "2024-03-01", "2024-05-01"),  # tie on recorded_date: one instant, latest close date first on every
    ("d3", "2024-03-01", "2024-05-11"),  # engine -> no push inside an instant (whatever the file order)
    ("d4", "2024-03-01", "2024-05-11"),  # tie the other way round in the file: no push either
    ("d4", "2024-03-01", "2024-05-01"),
    ("d5", "2024-03-01", "2024-06-01"),
    ("d5", "2024-03-02", None),          # no close date: skipped
    ("d5", "2024-03-03", "2024-06-05"),  # push against the last known close date, 1 Jun (4)
    ("d9", "2024-03-01", "2024-07-01"),  # not in opportunities: not counted
    ("d9", "2024-03-02", "2024-07-09"),
]
OPPS = [  # opportunity_id, owner, team, stage, amount
    ("d1", "Ann", "North", "Closed Won", 100.0),
    ("d2", "Ann", "North", "Closed Lost", 200.0),
    ("d3", "Bob", "South", "Prospecting", 300.0),
    ("d4", "Bob", "South", "Closed Lost", 400.0),
    ("d5", "Bob", "South", "Closed Won", 500.0),
    ("d6", "Bob", "South", "Qualification", 600.0),  # no history: not counted
]
STAGE_HISTORY = [  # opportunity_id, stage, entered_date
    ("d1", "Prospecting", "2024-03-01"), ("d1", "Qualification", "2024-03-12"), ("d1", "Closed Won", "2024-04-20"),
    ("d2", "Prospecting", "2024-03-01"),
    ("d3", "Prospecting", "2024-03-01"),
    ("d5", "Prospecting", "2024-03-01"),
]


def _frames():
    h = pd.DataFrame(HISTORY, columns=["opportunity_id", "recorded_date", "close_date"])
    h["recorded_date"] = pd.to_datetime(h["recorded_date"])
    h["close_date"] = pd.to_datetime(h["close_date"])
    o = pd.DataFrame(OPPS, columns=["opportunity_id", "owner", "team", "stage", "amount"])
    s = pd.DataFrame(STAGE_HISTORY, columns=["opportunity_id", "stage", "entered_date"])
    s["entered_date"] = pd.to_datetime(s["entered_date"])
    return h, o, s


_CON = duckdb.connect()  # one connection: relations of different connections cannot be joined


def _as(engine, frame):
    if engine == "pandas":
        return frame
    if engine == "polars":
        return pl.from_pandas(frame)
    if engine == "polars-lazy":
        return pl.from_pandas(frame).lazy()
    return _CON.from_df(frame)


@pytest.mark.parametrize("engine", ["pandas", "polars", "polars-lazy", "duckdb"])
def test_pushes_by_hand(engine):
    h, o, s = (_as(engine, f) for f in _frames())
    r = funnel.slippage(h, o, stage_history=s, stages=STAGES)
    ov = r.overall.iloc[0]
    # d1 (2 pushes, 24 days) and d5 (1, 4) of d1-d5; d3's tie is one instant, no push
    assert (ov["deals"], ov["pushed_deals"], ov["pushes"]) == (5, 2, 3)
    assert ov["pushed_share"] == pytest.approx(2 / 5)
    assert ov["pushes_per_deal"] == pytest.approx(3 / 5) and ov["pushes_per_pushed_deal"] == pytest.approx(3 / 2)
    assert ov["days_pushed_median"] == 14 and (ov["days_pushed_q1"], ov["days_pushed_q3"]) == (9, 19)
    p = r.pushed_deals.set_index("opportunity_id")
    assert p["pushes"].to_dict() == {"d1": 2, "d5": 1}
    assert p["days_pushed"].to_dict() == {"d1": 24.0, "d5": 4.0}
    assert p.loc["d5", "outcome"] == "won" and p.loc["d5", "amount"] == 500
    owners = r.table.set_index("owner")
    assert owners["deals"].to_dict() == {"Ann": 2, "Bob": 3}
    assert owners["pushed_deals"].to_dict() == {"Ann": 1, "Bob": 1}
    assert owners.loc["Ann", "rest_pushed_share"] == pytest.approx(1 / 3)
    assert r.by_team.set_index("team")["pushed_deals"].to_dict() == {"North": 1, "South": 1}
    # closed deals: pushed d1, d5 both won; never pushed d2, d4 both lost
    out = r.outcome.set_index("group")
    assert out.loc["pushed", ["closed", "won"]].tolist() == [2, 2]
    assert out.loc["not pushed", ["closed", "won"]].tolist() == [2, 0]
    assert r.win_test["difference"] == pytest.approx(1.0)
    # stage at each push: d1 pushed on 5 Mar (Prospecting) and 20 Mar (Qualification); d5 in Prospecting
    st = r.by_stage.set_index("stage")
    assert st.loc["Prospecting", ["deals_in_stage", "pushed_deals"]].tolist() == [4, 2]
    assert st.loc["Qualification", ["deals_in_stage", "pushed_deals"]].tolist() == [1, 1]
    assert st.loc["Closed Won", "pushed_deals"] == 0


def test_wilson_interval_and_tests_of_the_reps():
    h, o, s = _frames()
    r = funnel.slippage(h, o, stage_history=s, stages=STAGES)
    ann = r.table.set_index("owner").loc["Ann"]
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(1, 2, method="wilson")
    assert (ann["ci_low"], ann["ci_high"]) == pytest.approx((lo, hi))
    assert ann["test"] == "two-proportion Fisher exact"  # 2 and 3 deals: expected counts below 5
    assert not r.table["flagged"].any()  # five deals prove nothing


def test_without_stage_history_the_stage_view_says_why():
    h, o, _ = _frames()
    r = funnel.slippage(h, o, stages=STAGES)
    assert r.by_stage.empty and "stage_history" in r.stage_note
    ds = _dataset(h, o, None)
    r = funnel.slippage(ds)
    assert r.by_stage.empty and "stage_history" in r.stage_note
    assert r.overall.iloc[0]["pushed_deals"] == 2


def _dataset(h, o, s, tmp=None):
    import tempfile

    folder = Path(tmp or tempfile.mkdtemp())
    o.assign(created_date="2024-03-01", close_date="2024-04-30").to_csv(folder / "opportunities.csv", index=False)
    if h is not None:
        h.to_csv(folder / "deal_history.csv", index=False, date_format="%Y-%m-%d")
    if s is not None:
        s.to_csv(folder / "stage_history.csv", index=False, date_format="%Y-%m-%d")
    mapping = {"name": "t", "tables": {"opportunities": {"file": "opportunities.csv"},
                                       "deal_history": {"file": "deal_history*.csv"},
                                       "stage_history": {"file": "stage_history*.csv"}},
               "stages": {"order": list(STAGES.order), "won": list(STAGES.won), "lost": list(STAGES.lost)}}
    return load_dataset(folder, mapping=mapping, as_of="2024-06-30")


def test_without_deal_history_one_sentence_no_finding_no_kpi(tmp_path):
    _, o, _ = _frames()
    ds = _dataset(None, o, None, tmp_path)
    r = funnel.slippage(ds)
    assert r.limitation == r.headline() and "OpportunityHistory.csv" in r.limitation
    assert r.table.empty and r.overall.empty
    assert not [f for f in funnel.history_findings(slippage=r)]
    assert not [x for x in history_kpi_rows(ds) if x["kpi"] == "pushed_deal_share"]


def test_an_empty_deal_history_is_a_valid_input():
    h, o, _ = _frames()
    r = funnel.slippage(h.iloc[:0], o, stages=STAGES)
    assert "slippage cannot be measured" in r.limitation and r.table.empty


def test_no_push_at_all_is_one_sentence_and_a_zero_share():
    h, o, _ = _frames()
    flat = h[h["opportunity_id"].isin(["d2"])]
    r = funnel.slippage(flat, o, stages=STAGES)
    assert r.limitation == r.headline() and "none pushed" in r.limitation
    assert r.overall.iloc[0][["deals", "pushed_deals"]].tolist() == [1, 0]
    assert not list(funnel.history_findings(slippage=r))


def test_a_missing_close_date_column_is_named():
    h, o, _ = _frames()
    with pytest.raises(MissingColumnsError, match="close_date"):
        funnel.slippage(h.drop(columns="close_date"), o, stages=STAGES)


def test_kpi_rows_of_a_dataset_by_hand(tmp_path):
    h, o, s = _frames()
    ds = _dataset(h, o, s, tmp_path)
    rows = {(x["kpi"], x["segment"]): x for x in history_kpi_rows(ds)}
    assert rows[("pushed_deal_share", "all")]["value"] == pytest.approx(2 / 5)
    assert rows[("pushed_deal_share", "owner=Bob")]["value"] == pytest.approx(1 / 3)
    assert rows[("pushes_per_deal", "all")]["value"] == pytest.approx(3 / 5)
    assert rows[("days_pushed_median", "all")]["value"] == 14
    assert rows[("win_rate_pushed", "all")]["value"] == 1.0
    assert rows[("win_rate_not_pushed", "all")]["value"] == 0.0
    frame = kpis.kpi_frame(list(rows.values()))  # every row is a registered KPI
    assert set(frame["unit"]) >= {"share", "days", "rate"}


@pytest.fixture(scope="module")
def sample():
    ds = load_dataset(SAMPLE)
    return ds, funnel.slippage(ds)


def test_the_sample_slipping_rep_is_found_and_is_the_only_one(sample):
    _, r = sample
    flagged = r.flagged
    assert flagged["owner"].tolist() == ["Liam Walsh"]  # planted: 30% of his deals pushed vs 15%
    liam = flagged.iloc[0]
    ratio = liam["pushed_share"] / liam["rest_pushed_share"]
    assert 1.5 < ratio < 2.6, ratio  # about twice as often
    assert liam["difference_ci_low"] > 0
    others = r.table[r.table["owner"] != "Liam Walsh"]
    assert (others["q_value"] >= r.alpha).all()


def test_the_sample_pushed_deals_win_like_the_others(sample):
    _, r = sample
    # planted: pushing is independent of the outcome, so the test must not call the difference real
    assert r.win_test["p_value"] >= r.alpha
    assert r.win_test["ci_low"] < 0 < r.win_test["ci_high"]


def test_the_sample_findings_name_the_slipping_rep_only(sample):
    ds, r = sample
    found = funnel.history_findings(slippage=r)
    assert [f.segment for f in found] == ["owner=Liam Walsh"]
    f = found[0]
    assert f.kpi == "pushed_deal_share" and f.q_value < 0.05
    open_pushed = r.pushed_deals[(r.pushed_deals["owner"] == "Liam Walsh") & (r.pushed_deals["outcome"] == "open")]
    assert f.stake == pytest.approx(open_pushed["amount"].sum())
    assert np.isfinite(r.overall.iloc[0]["days_pushed_median"])
