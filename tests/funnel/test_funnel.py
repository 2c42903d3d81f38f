"""Stage funnel, win rate and lead funnel (issue 3): hand-computable cases, edge cases, engine parity."""

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from statsmodels.stats.proportion import proportion_confint

from salesops_kit import funnel
from salesops_kit.data.schema import StageModel
from salesops_kit.stats import (
    chi_square_independence,
    cohens_h,
    newcombe_diff_interval,
    two_proportion_test,
    weighted_quantile,
)

S = StageModel(order=("A", "B", "C"), won=("W",), lost=("L",))
T = pd.Timestamp


def opps_nohist():
    # d1 W, d2 L@A, d3 L@B, d4 open B, d5 open C, d6 open A, d7 W, d8 L@C
    return pd.DataFrame({
        "opportunity_id": [f"d{i}" for i in range(1, 9)],
        "owner": ["x", "x", "x", "x", "y", "y", "y", "y"],
        "stage": ["W", "L", "L", "B", "C", "A", "W", "L"],
        "lost_at_stage": [None, "A", "B", None, None, None, None, "C"],
        "amount": [100.0, 50.0, 60.0, 70.0, 80.0, 90.0, 300.0, 10.0],
        "created_date": pd.to_datetime(["2024-01-01"] * 8),
        "close_date": pd.to_datetime(["2024-01-11", "2024-01-05", "2024-02-01", "2024-03-01", "2024-03-01",
                                      "2024-03-01", "2024-01-31", "2024-02-10"]),
    })


def history_case():
    # h1 won A,B,C in order; h2 won A,C (skips B); h3 lost at B (A,B); h4 open at C (A,C); h5 open at B (A,B);
    # h6 lost at A; h7 won, entered B (01-05) before A (01-10) then C: reached every stage, but not in order.
    opps = pd.DataFrame({
        "opportunity_id": [f"h{i}" for i in range(1, 8)],
        "stage": ["W", "W", "L", "C", "B", "L", "W"],
        "lost_at_stage": [None, None, "B", None, None, "A", None],
        "team": ["t1", "t1", "t1", "t2", "t2", "t2", "t2"],
    })
    rows = [("h1", "A", "2024-01-01"), ("h1", "B", "2024-01-05"), ("h1", "C", "2024-01-10"), ("h1", "W", "2024-01-20"),
            ("h2", "A", "2024-01-01"), ("h2", "C", "2024-01-03"), ("h2", "W", "2024-01-09"),
            ("h3", "A", "2024-01-01"), ("h3", "B", "2024-01-04"), ("h3", "L", "2024-01-08"),
            ("h4", "A", "2024-01-01"), ("h4", "C", "2024-01-06"),
            ("h5", "A", "2024-01-01"), ("h5", "B", "2024-01-02"),
            ("h6", "A", "2024-01-01"), ("h6", "L", "2024-01-02"),
            ("h7", "A", "2024-01-10"), ("h7", "B", "2024-01-05"), ("h7", "C", "2024-01-20"), ("h7", "W", "2024-01-25")]
    hist = pd.DataFrame(rows, columns=["opportunity_id", "stage", "entered_date"])
    hist["entered_date"] = pd.to_datetime(hist["entered_date"])
    return opps, hist


def engines(df):
    """The same table as pandas, Polars eager, Polars lazy and a DuckDB relation."""
    tbl = pa.Table.from_pandas(df, preserve_index=False)
    return {"pandas": df, "polars": pl.from_arrow(tbl), "lazy": pl.from_arrow(tbl).lazy(),
            "duckdb": duckdb.from_arrow(tbl)}


def col(t, name):
    return t[name].astype(float).tolist()


# ---------------------------------------------------------------------------------------- stats helpers

def test_two_proportion_test_uses_chi_square_or_fisher():
    p, m = two_proportion_test(40, 100, 60, 100)
    assert m == "chi-square"
    # Pearson chi-square by hand: pooled 0.5, expected 50 in every cell, X2 = 4 * (10^2 / 50) = 8
    from scipy.stats import chi2
    assert p == pytest.approx(chi2.sf(8.0, 1))
    p, m = two_proportion_test(1, 4, 3, 4)
    assert m == "fisher"
    # Fisher 2x2 [[1,3],[3,1]]: two-sided p = P(1)+P(3)+P(0)+P(4) = (16+16+1+1)/70
    assert p == pytest.approx(34 / 70)
    assert np.isnan(two_proportion_test(0, 0, 3, 4)[0])


def test_chi_square_newcombe_cohen_quantile():
    stat, p, dof = chi_square_independence([[10, 10], [20, 0], [0, 0]])
    assert dof == 1 and stat > 0
    lo, hi = newcombe_diff_interval(40, 100, 60, 100)
    assert lo < -0.2 < hi < 0
    assert cohens_h(0.5, 0.5) == 0
    assert weighted_quantile([1, 2, 3], [1, 1, 2], 0.5) == 2  # cumulative 0.25, 0.5 -> 2
    assert weighted_quantile([1, 2, 3], [1, 1, 2], 0.51) == 3
    assert np.isnan(weighted_quantile([], [], 0.5))


# ---------------------------------------------------------------------------------------- stage funnel

def test_inferred_funnel_by_hand():
    f = funnel.stage_funnel(opps_nohist(), stages=S)
    t = f.table
    assert f.funnel_type == "inferred" and f.unplaced_lost == 0
    assert t["stage"].tolist() == ["A", "B", "C", "W"]
    # A: all 8 reached; lost d2, open d6 -> advanced 6 of 7 decided.  B: d1,d3,d4,d5,d7,d8; lost d3, open d4 -> 4/5.
    # C: d1,d5,d7,d8; lost d8, open d5 -> 2/3.  W: d1, d7.
    assert col(t, "reached") == [8, 6, 4, 2]
    assert col(t, "lost")[:3] == [1, 1, 1] and col(t, "open")[:3] == [1, 1, 1]
    assert col(t, "advanced")[:3] == [6, 4, 2]
    assert t["conversion"].iloc[:3].tolist() == pytest.approx([6 / 7, 4 / 5, 2 / 3])
    # cumulative: reached / (8 - open deals sitting below): A 8/8, B 6/7 (d6), C 4/6 (d6, d4), W 2/5 (= won/closed)
    assert t["cumulative"].tolist() == pytest.approx([1, 6 / 7, 4 / 6, 2 / 5])
    lo, hi = proportion_confint(6, 7, method="wilson")
    assert t["conversion_ci_low"].iloc[0] == pytest.approx(lo) and t["conversion_ci_high"].iloc[0] == pytest.approx(hi)
    lo, hi = proportion_confint(2, 5, method="wilson")
    assert t["cumulative_ci_low"].iloc[3] == pytest.approx(lo) and t["cumulative_ci_high"].iloc[3] == pytest.approx(hi)
    assert any("No stage history" in a for a in f.assumptions)


def test_open_deals_are_not_failures():
    # 10 deals at A: 2 advanced to B (open there), 2 lost at A, 6 still open at A -> conversion 2/4, not 2/10
    df = pd.DataFrame({"opportunity_id": [str(i) for i in range(10)],
                       "stage": ["B", "B", "L", "L"] + ["A"] * 6, "lost_at_stage": [None, None, "A", "A"] + [None] * 6})
    t = funnel.stage_funnel(df, stages=S).table
    assert t["conversion"].iloc[0] == pytest.approx(0.5)
    assert int(t["open"].iloc[0]) == 6


def test_history_any_path_by_hand():
    opps, hist = history_case()
    f = funnel.stage_funnel(opps, stage_history=hist, stages=S)
    t = f.table
    assert f.funnel_type == "any_path"
    # A entered by all 7; lost h6; skipped B: h2, h4.  B entered by h1,h3,h5,h7; lost h3, open h5 -> 2/3.
    # C entered by h1,h2,h4,h7; open h4 -> 3/3.  W: h1,h2,h7.
    assert col(t, "reached") == [7, 4, 4, 3]
    assert col(t, "advanced")[:3] == [6, 2, 3]
    assert col(t, "skipped")[:3] == [2, 0, 0]
    assert t["conversion"].iloc[:3].tolist() == pytest.approx([6 / 7, 2 / 3, 1.0])
    # cumulative: A 7/7; B 4/7; C 4/(7 - h5 open at B) ; W 3/(7 - 2 open) = won / closed
    assert t["cumulative"].tolist() == pytest.approx([1, 4 / 7, 4 / 6, 3 / 5])


def test_history_in_order_by_hand():
    opps, hist = history_case()
    t = funnel.stage_funnel(opps, stage_history=hist, stages=S, funnel_type="in_order").table
    # in order: A all 7; B only h1,h3,h5 (h7 entered B before A); C only h1; W only h1.
    assert col(t, "reached") == [7, 3, 1, 1]
    # A: advanced in order 3, lost h6, left the order h2,h4,h7 -> conversion 3/7
    assert col(t, "skipped")[:3] == [3, 0, 0]
    assert t["conversion"].iloc[:3].tolist() == pytest.approx([3 / 7, 1 / 2, 1.0])
    # cumulative: the only open deal whose in-order fate is unknown is h5 (open at B, in order)
    assert t["cumulative"].tolist() == pytest.approx([1, 3 / 7, 1 / 6, 1 / 6])


def test_by_segment_and_dataset_like_inputs():
    opps, hist = history_case()
    t = funnel.stage_funnel(opps, stage_history=hist, stages=S, by="team").table
    assert t["team"].tolist() == ["t1"] * 4 + ["t2"] * 4
    # t1: h1,h2,h3 -> A 3 reached; t2: h4..h7 -> A 4 reached
    assert col(t[t.stage == "A"], "reached") == [3, 4]


def test_unplaced_lost_deals_are_stated():
    df = pd.DataFrame({"opportunity_id": ["1", "2", "3"], "stage": ["W", "L", "B"]})  # no lost_at_stage column
    f = funnel.stage_funnel(df, stages=S)
    assert f.unplaced_lost == 1
    assert any("no stage information" in a for a in f.assumptions)
    # won row: 1 won / (1 won + 1 lost) — the unplaced lost deal still counts as a known non-winner
    assert f.table["cumulative"].iloc[-1] == pytest.approx(0.5)


def test_all_won_all_lost_single_stage_empty():
    won = pd.DataFrame({"opportunity_id": ["1", "2"], "stage": ["W", "W"]})
    t = funnel.stage_funnel(won, stages=S).table
    assert t["conversion"].iloc[:3].tolist() == [1.0, 1.0, 1.0] and t["cumulative"].iloc[-1] == 1.0
    lost = pd.DataFrame({"opportunity_id": ["1", "2"], "stage": ["L", "L"], "lost_at_stage": ["A", "A"]})
    t = funnel.stage_funnel(lost, stages=S).table
    assert t["conversion"].iloc[0] == 0.0 and np.isnan(t["conversion"].iloc[1]) and t["cumulative"].iloc[-1] == 0.0
    assert any("no won deal" in a for a in funnel.stage_funnel(lost, stages=S).assumptions)  # a mapping slip is loud
    assert repr(funnel.stage_funnel(lost, stages=S)).startswith("StageFunnel(")
    one = StageModel(order=("Open",), won=("Won",), lost=("Lost",))
    df = pd.DataFrame({"opportunity_id": ["1", "2", "3", "4"], "stage": ["Open", "Won", "Lost", "Lost"],
                       "lost_at_stage": [None, None, "Open", None]})
    f = funnel.stage_funnel(df, stages=one)
    t = f.table
    assert t["stage"].tolist() == ["Open", "Won"]
    # placed: 1 open, 1 won, 1 lost at Open -> 1/2; deal 4 (lost, stage unknown) only in the won row: 1/(1+2)
    assert t["conversion"].iloc[0] == pytest.approx(1 / 2) and f.unplaced_lost == 1
    assert t["cumulative"].iloc[-1] == pytest.approx(1 / 3)
    empty = opps_nohist().iloc[0:0]
    f = funnel.stage_funnel(empty, stages=S)
    assert len(f.table) == 0 and "conversion" in f.table.columns
    assert len(funnel.stage_funnel(empty, stages=S, by="owner").table) == 0


def test_inputs_not_mutated_and_errors_name_the_problem():
    df = opps_nohist()
    before = df.copy()
    funnel.stage_funnel(df, stages=S)
    funnel.win_rate(df, stages=S, by="owner", period="M")
    pd.testing.assert_frame_equal(df, before)
    with pytest.raises(TypeError, match="StageModel"):
        funnel.stage_funnel(df)
    bad = df.assign(stage=df["stage"].replace("W", "Closed Won!"))
    with pytest.raises(ValueError, match="Closed Won!"):
        funnel.stage_funnel(bad, stages=S)
    with pytest.raises(KeyError, match="region"):
        funnel.stage_funnel(df, stages=S, by="region")


# ---------------------------------------------------------------------------------------- win rate

def test_win_rate_closed_and_created_by_hand():
    df = opps_nohist()
    res = funnel.win_rate(df, stages=S, by="owner")
    w = res.table
    assert res.definition == "closed" and res.by == ("owner",)
    assert res.headline().startswith("Win rate (closed) by owner")
    # x: d1 won, d2 d3 lost (d4 open) -> 1/3 ; y: d7 won, d8 lost (d5 d6 open) -> 1/2
    assert w["owner"].tolist() == ["x", "y"]
    assert col(w, "won") == [1, 1] and col(w, "lost") == [2, 1]
    assert w["win_rate"].tolist() == pytest.approx([1 / 3, 1 / 2])
    assert w["definition"].str.startswith("closed:").all()
    lo, hi = proportion_confint(1, 3, method="wilson")
    assert (w["ci_low"].iloc[0], w["ci_high"].iloc[0]) == pytest.approx((lo, hi))
    c = funnel.win_rate(df, stages=S, definition="created").table
    assert c["win_rate"].iloc[0] == pytest.approx(2 / 8) and int(c["n"].iloc[0]) == 8
    assert c["definition"].iloc[0].startswith("created:")


def test_win_rate_by_period():
    w = funnel.win_rate(opps_nohist(), stages=S, period="M").table
    # closed in Jan: d1 won, d2 lost, d7 won (01-31) -> 2/3; Feb: d3 lost, d8 lost -> 0/2
    assert w["period"].tolist() == [T("2024-01-01"), T("2024-02-01")]
    assert w["win_rate"].tolist() == pytest.approx([2 / 3, 0.0])
    assert funnel.win_rate(opps_nohist().iloc[0:0], stages=S).table.empty
    bad = opps_nohist()
    bad.loc[2, "stage"] = "Zombie"
    with pytest.raises(ValueError, match="Zombie"):
        funnel.win_rate(bad, stages=S)
    with pytest.raises(ValueError, match="definition"):
        funnel.win_rate(opps_nohist(), stages=S, definition="zoho")


def test_won_revenue_by_month():
    r = funnel.won_revenue(opps_nohist(), stages=S)
    # won: d1 (100, closed 01-11) and d7 (300, closed 01-31) -> one month, 2 deals, 400
    assert r["period"].tolist() == [T("2024-01-01")]
    assert r["won_deals"].tolist() == [2] and r["won_revenue"].tolist() == [400.0]
    assert funnel.won_revenue(opps_nohist().iloc[0:0], stages=S).empty


# ---------------------------------------------------------------------------------------- lead funnel

def test_lead_funnel_1000_100_20():
    n_old, n_young = 1000, 50
    leads = pd.DataFrame({
        "lead_id": [f"l{i}" for i in range(n_old + n_young)],
        "created_date": [T("2024-01-01")] * n_old + [T("2024-06-25")] * n_young,
        "source": ["s"] * (n_old + n_young),
        "opportunity_id": [f"o{i}" if i < 100 else None for i in range(n_old)]
        + [f"y{i}" if i < 25 else None for i in range(n_young)],
    })
    opps = pd.DataFrame({"opportunity_id": [f"o{i}" for i in range(100)] + [f"y{i}" for i in range(25)],
                         "stage": ["W"] * 20 + ["L"] * 70 + ["A"] * 10 + ["W"] * 25})
    res = funnel.lead_funnel(leads, opps, stages=S, maturity_days=90, as_of="2024-07-01")
    t = res.table
    assert res.headline() == ("1,000 leads → 100 opportunities (10.0%) → 20 won (2.0% of leads); leads at least 90 "
                              "days old.")
    # the 50 young leads (6 days old) are not counted; 1,000 -> 100 -> 20 is 10%, 20%, 2%
    r = t.iloc[0]
    assert (r["leads"], r["opportunities"], r["won"]) == (1000, 100, 20)
    assert (r["lead_to_opportunity"], r["opportunity_to_win"], r["lead_to_win"]) == pytest.approx((0.10, 0.20, 0.02))
    lo, hi = proportion_confint(20, 1000, method="wilson")
    assert (r["lead_to_win_ci_low"], r["lead_to_win_ci_high"]) == pytest.approx((lo, hi))
    assert r["open_opportunities"] == 10
    by = funnel.lead_funnel(leads, opps, stages=S, by="source", maturity_days=0, as_of="2024-07-01").table
    assert by["leads"].tolist() == [1050] and by["won"].tolist() == [45]


# ---------------------------------------------------------------------------------------- engine parity

@pytest.mark.parametrize("engine", ["polars", "lazy", "duckdb"])
def test_engine_parity(engine):
    df = opps_nohist()
    opps, hist = history_case()
    ref = {
        "inferred": funnel.stage_funnel(df, stages=S, by="owner").table,
        "history": funnel.stage_funnel(opps, stage_history=hist, stages=S, by="team").table,
        "in_order": funnel.stage_funnel(opps, stage_history=hist, stages=S, funnel_type="in_order").table,
        "win": funnel.win_rate(df, stages=S, by="owner", period="M").table,
        "created": funnel.win_rate(df, stages=S, definition="created", period="Q").table,
        "totals": funnel.deal_totals(df, stages=S, by="owner"),
        "revenue": funnel.won_revenue(df, stages=S, by="owner"),
    }
    e_df, e_opps, e_hist = engines(df)[engine], engines(opps)[engine], engines(hist)[engine]
    got = {
        "inferred": funnel.stage_funnel(e_df, stages=S, by="owner").table,
        "history": funnel.stage_funnel(e_opps, stage_history=e_hist, stages=S, by="team").table,
        "in_order": funnel.stage_funnel(e_opps, stage_history=e_hist, stages=S, funnel_type="in_order").table,
        "win": funnel.win_rate(e_df, stages=S, by="owner", period="M").table,
        "created": funnel.win_rate(e_df, stages=S, definition="created", period="Q").table,
        "totals": funnel.deal_totals(e_df, stages=S, by="owner"),
        "revenue": funnel.won_revenue(e_df, stages=S, by="owner"),
    }
    for k in ref:
        pd.testing.assert_frame_equal(got[k], ref[k], check_dtype=False, obj=k)


@pytest.mark.parametrize("engine", ["polars", "lazy", "duckdb"])
def test_lead_funnel_engine_parity(engine):
    leads = pd.DataFrame({"lead_id": ["a", "b", "c", "d"], "source": ["s1", "s1", "s2", "s2"],
                          "created_date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-06-30"]),
                          "opportunity_id": ["d1", None, "d8", "d7"]})
    ref = funnel.lead_funnel(leads, opps_nohist(), stages=S, by="source", as_of="2024-07-01", maturity_days=30).table
    got = funnel.lead_funnel(engines(leads)[engine], engines(opps_nohist())[engine], stages=S, by="source",
                             as_of="2024-07-01", maturity_days=30).table
    pd.testing.assert_frame_equal(got, ref, check_dtype=False)
    assert ref["leads"].tolist() == [2, 1] and ref["won"].tolist() == [1, 0]
