"""Bottlenecks, calibration, time in stage, velocity and KPIs (issue 3): hand cases, parity, planted truth."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from scipy.stats import chi2

from salesops_kit import funnel
from salesops_kit.data.load import Dataset
from salesops_kit.data.schema import StageModel
from salesops_kit.funnel import bottlenecks
from salesops_kit.funnel.calibration import stage_calibration, stalled_deals, time_in_stage

S = StageModel(order=("A", "B", "C"), won=("W",), lost=("L",))
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def engines(df):
    tbl = pa.Table.from_pandas(df, preserve_index=False)
    return {"polars": pl.from_arrow(tbl), "lazy": pl.from_arrow(tbl).lazy(), "duckdb": duckdb.from_arrow(tbl)}


def bottleneck_case():
    # source X: 50 decided at A, 10 advanced (open at B), 40 lost at A; source Y: 40 advanced, 10 lost at A.
    stage = ["B"] * 10 + ["L"] * 40 + ["B"] * 40 + ["L"] * 10
    return pd.DataFrame({"opportunity_id": [str(i) for i in range(100)], "stage": stage,
                         "lost_at_stage": [None if s == "B" else "A" for s in stage],
                         "lead_source": ["X"] * 50 + ["Y"] * 50, "team": ["t"] * 100})


def test_bottleneck_by_hand():
    b = bottlenecks(bottleneck_case(), stages=S)
    assert b.segments == ("lead_source", "team")
    tested = b.cells.dropna(subset=["p_value"])
    # only A -> B can be tested for lead_source (B -> C has no decided deals; team has a single value: no "rest")
    assert set(zip(tested["column"], tested["segment"], tested["transition"], strict=True)) == {
        ("lead_source", "X", "A → B"), ("lead_source", "Y", "A → B")}
    x = b.flagged.iloc[0]
    assert len(b.flagged) == 1 and x["segment"] == "X"
    # 2x2 [[10, 40], [40, 10]], expected 25 everywhere: X2 = 4 * 15^2 / 25 = 36; two equal p-values -> q = p
    assert x["test"] == "chi-square" and x["p_value"] == pytest.approx(chi2.sf(36, 1))
    assert x["q_value"] == pytest.approx(x["p_value"])
    assert (x["conversion"], x["rest_conversion"], x["difference"]) == pytest.approx((0.2, 0.8, -0.6))
    assert x["difference_ci_low"] < -0.6 < x["difference_ci_high"] < 0
    assert x["ratio"] == pytest.approx(0.25) and x["cohens_h"] < -0.5
    for eng in engines(bottleneck_case()).values():
        pd.testing.assert_frame_equal(bottlenecks(eng, stages=S).cells, b.cells, check_dtype=False)


def test_bottleneck_small_counts_use_fisher_and_nothing_flagged_when_equal():
    df = bottleneck_case().iloc[list(range(0, 3)) + list(range(10, 13)) + list(range(50, 53)) + list(range(90, 93))]
    b = bottlenecks(df, stages=S, segments=["lead_source"])
    assert set(b.cells.dropna(subset=["p_value"])["test"]) == {"fisher"}
    same = bottleneck_case().assign(lead_source=lambda d: np.where(np.arange(100) % 2 == 0, "X", "Y"))
    assert bottlenecks(same, stages=S, segments=["lead_source"]).flagged.empty
    empty = bottlenecks(bottleneck_case().iloc[0:0], stages=S)
    assert empty.cells.empty and empty.flagged.empty


def calibration_case():
    # closed: W, W, L@A, L@A, L@B; open: A (p .1) x2, B (p .5), C (p .7)
    return pd.DataFrame({"opportunity_id": [str(i) for i in range(9)],
                         "stage": ["W", "W", "L", "L", "L", "A", "A", "B", "C"],
                         "lost_at_stage": [None, None, "A", "A", "B", None, None, None, None],
                         "probability": [1, 1, 0, 0, 0, 0.1, 0.1, 0.5, 0.7]})


def test_calibration_by_hand():
    c = stage_calibration(calibration_case(), stages=S)
    t = c.table
    # closed deals that reached A: 5 (2 won) ; B: 3 (2 won) ; C: 2 (2 won)
    assert t["closed"].tolist() == [5, 3, 2] and t["won"].tolist() == [2, 2, 2]
    assert t["realised_win_rate"].tolist() == pytest.approx([0.4, 2 / 3, 1.0])
    assert t["stated_probability"].tolist() == pytest.approx([0.1, 0.5, 0.7])
    # Brier stated: A 2(.9^2)+3(.1^2)=1.65, B 2(.5^2)+.5^2=.75, C 2(.3^2)=.18 -> 2.58/10
    assert c.brier_stated == pytest.approx(0.258)
    # Brier empirical: A 2(.6^2)+3(.4^2)=1.2, B 2(1/3)^2+(2/3)^2=2/3, C 0 -> (1.2+2/3)/10
    assert c.brier_empirical == pytest.approx((1.2 + 2 / 3) / 10)
    assert t["suggested_probability"].tolist() == pytest.approx(t["realised_win_rate"].tolist())
    given = stage_calibration(calibration_case(), stages=S, probabilities={"A": 0.4, "B": 2 / 3, "C": 1.0})
    assert given.brier_stated == pytest.approx(given.brier_empirical)
    for eng in engines(calibration_case()).values():
        pd.testing.assert_frame_equal(stage_calibration(eng, stages=S).table, t, check_dtype=False)


def history_case():
    as_of = pd.Timestamp("2024-03-31")
    rows = [("1", "A", "2024-01-01", "2024-01-03"), ("2", "A", "2024-01-01", "2024-01-05"),
            ("3", "A", "2024-01-01", "2024-01-07"), ("4", "A", "2024-03-21", None), ("5", "A", "2024-03-28", None),
            ("1", "B", "2024-01-03", None)]
    h = pd.DataFrame(rows, columns=["opportunity_id", "stage", "entered_date", "exited_date"])
    h["entered_date"] = pd.to_datetime(h["entered_date"])
    h["exited_date"] = pd.to_datetime(h["exited_date"])
    o = pd.DataFrame({"opportunity_id": ["1", "2", "3", "4", "5"], "stage": ["B", "L", "L", "A", "A"],
                      "lost_at_stage": [None, "A", "A", None, None], "owner": ["u", "v", "v", "u", "v"]})
    return o, h, as_of


def test_time_in_stage_and_stalled_by_hand():
    o, h, as_of = history_case()
    t = time_in_stage(h, stages=S, as_of=as_of)
    # A: completed stays 2, 4, 6 days (median 4, P90 6); two stays still open
    a = t.iloc[0]
    assert (a["completed_stays"], a["open_stays"], a["median_days"], a["p90_days"]) == (3, 2, 4, 6)
    assert np.isnan(t.iloc[1]["median_days"]) and t.iloc[1]["open_stays"] == 1
    s = stalled_deals(o, stage_history=h, stages=S, as_of=as_of, min_stays=1)  # 3 stays: judge them anyway
    # deal 4 has sat in A for 10 days > P90 6; deal 5 for 3 days; deal 1 in B has no completed B stays to compare
    assert s["opportunity_id"].tolist() == ["4"] and s["days_in_stage"].iloc[0] == 10
    assert s["times_threshold"].iloc[0] == pytest.approx(10 / 6)
    for name, eng in engines(h).items():
        pd.testing.assert_frame_equal(time_in_stage(eng, stages=S, as_of=as_of), t, check_dtype=False, obj=name)
        got = stalled_deals(engines(o)[name], stage_history=eng, stages=S, as_of=as_of, min_stays=1)
        pd.testing.assert_frame_equal(got, s, check_dtype=False, obj=name)
    with pytest.raises(ValueError, match="stage_history"):
        stalled_deals(o, stages=S, as_of=as_of)


def small_dataset():
    S2 = StageModel(order=("A", "B"), won=("W",), lost=("L",))
    opps = pd.DataFrame({
        "opportunity_id": ["1", "2", "3", "4", "5", "6"],
        "owner": ["ann", "ann", "ann", "bob", "bob", "bob"],
        "lead_source": ["web", "web", "ref", "ref", "ref", "web"],
        "stage": ["W", "L", "A", "W", "W", "L"],
        "lost_at_stage": [None, "A", None, None, None, "B"],
        "amount": [100.0, 50.0, 10.0, 300.0, 200.0, 5.0],
        "created_date": pd.to_datetime(["2024-01-01"] * 6),
        "close_date": pd.to_datetime(["2024-01-11", "2024-01-21", "2024-06-01", "2024-01-31", "2024-01-21",
                                      "2024-01-06"]),
    })
    leads = pd.DataFrame({"lead_id": list("abcdefgh"), "created_date": pd.to_datetime(["2023-12-01"] * 8),
                          "source": ["web"] * 4 + ["ref"] * 4, "owner": ["ann"] * 8,
                          "opportunity_id": ["1", "2", None, None, "4", None, None, None]})
    return Dataset({"opportunities": opps, "leads": leads}, {}, pd.DataFrame(), S2, pd.Timestamp("2024-04-01"))


def test_kpi_rows_by_hand():
    from salesops_kit.kpis import kpi_frame

    ds = small_dataset()
    k = kpi_frame(funnel.kpi_rows(ds)).set_index(["kpi", "segment"])
    # closed: ann W, L ; bob W, W, L -> overall 3/5, ann 1/2, bob 2/3
    assert k.loc[("win_rate", "all"), "value"] == pytest.approx(3 / 5)
    assert k.loc[("win_rate", "owner=bob"), "value"] == pytest.approx(2 / 3)
    assert k.loc[("win_rate", "lead_source=ref"), "value"] == pytest.approx(1.0)  # ref: W, W (and one open)
    assert k.loc[("deals_open", "all"), "value"] == 1 and k.loc[("won_revenue", "all"), "value"] == 600
    assert k.loc[("avg_won_deal_size", "owner=bob"), "value"] == pytest.approx(250)
    # won days: 10, 30, 20 -> naive mean 20; the open deal (ann, A) is censored at as-of
    assert k.loc[("sales_cycle_won_mean_days", "all"), "value"] == pytest.approx(20)
    assert k.loc[("sales_cycle_median_days", "all"), "value"] == 20
    # A -> B: 6 reached, open 1 (deal 3), lost at A 1 (deal 2) -> 4/5 ; B -> W: 4 reached, lost 1 -> 3/4
    assert k.loc[("stage_conversion_a_to_b", "all"), "value"] == pytest.approx(4 / 5)
    assert k.loc[("stage_conversion_b_to_w", "all"), "value"] == pytest.approx(3 / 4)
    # leads (all mature): 8 -> 3 opportunities -> 2 won ; web 4 -> 2 -> 1 ; ref 4 -> 1 -> 1
    assert k.loc[("lead_conversion_rate", "all"), "value"] == pytest.approx(3 / 8)
    assert k.loc[("lead_to_win_rate", "lead_source=web"), "value"] == pytest.approx(1 / 4)
    assert k.loc[("lead_to_win_rate", "owner=ann"), "value"] == pytest.approx(2 / 8)
    # velocity = open 1 x win rate 3/5 x avg won 200 / 20 days x 30.44
    assert k.loc[("sales_velocity_per_month", "all"), "value"] == pytest.approx(1 * 0.6 * 200 / 20 * 365.25 / 12)
    lo, hi = k.loc[("win_rate", "all"), ["ci_low", "ci_high"]]
    assert lo < 0.6 < hi
    no_opps = Dataset({}, {}, pd.DataFrame(), S, pd.Timestamp("2024-01-01"))
    assert funnel.kpi_rows(no_opps) == []


@pytest.mark.skipif(not (SAMPLE / "opportunities.csv").exists(), reason="sample data not generated")
@pytest.mark.parametrize("use_history", [True, False])
def test_sample_bottleneck_is_the_planted_one_and_only_it(use_history):
    from salesops_kit import load_dataset
    from salesops_kit.data import synth

    planted = synth.PLANTED["funnel_bottleneck"]
    ds = load_dataset(SAMPLE)
    b = bottlenecks(ds, use_history=use_history)
    assert set(b.segments) == {"lead_source", "team", "product", "region"}
    found = set(zip(b.flagged["column"], b.flagged["segment"], b.flagged["from_stage"], b.flagged["to_stage"],
                    strict=True))
    assert found == {(planted["column"], planted["segment"], *planted["transition"])}
    # the estimated effect is the analysis's, and it brackets the generator's conversion
    r = b.flagged.iloc[0]
    assert r["ci_low"] <= planted["conversion"] <= r["ci_high"]


@pytest.mark.slow
@pytest.mark.skipif(not (SAMPLE / "opportunities.csv").exists(), reason="sample data not generated")
@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_sample_loaded_lazily_gives_the_same_answers(engine):
    from salesops_kit import load_dataset

    ref, ds = load_dataset(SAMPLE), load_dataset(SAMPLE, engine=engine)
    assert not isinstance(ds.opportunities, pd.DataFrame)
    pd.testing.assert_frame_equal(pd.DataFrame(funnel.kpi_rows(ds)), pd.DataFrame(funnel.kpi_rows(ref)),
                                  check_dtype=False)
    for fn in (lambda d: funnel.stage_funnel(d, funnel_type="in_order").table, lambda d: bottlenecks(d).cells,
               lambda d: stage_calibration(d).table, lambda d: stalled_deals(d)):
        pd.testing.assert_frame_equal(fn(ds), fn(ref), check_dtype=False)


def test_no_weakest_step_finding_from_equal_or_overlapping_steps():
    from salesops_kit.funnel import funnel_findings
    from salesops_kit.funnel.stages import StageFunnel

    def funnel(conv, lo, hi):
        t = pd.DataFrame({"stage": ["A", "B", "C", "Won"], "next_stage": ["B", "C", "Won", None],
                          "reached": [20, 20, 20, 20], "advanced": [20, 20, 20, pd.NA], "open": [0, 0, 0, pd.NA],
                          "conversion": conv + [float("nan")], "conversion_ci_low": lo + [float("nan")],
                          "conversion_ci_high": hi + [float("nan")], "cumulative": [1.0, 1.0, 1.0, 1.0]})
        return StageFunnel(table=t, funnel_type="any_path", by=(), assumptions=(), unplaced_lost=0)

    equal = funnel([1.0, 1.0, 1.0], [0.84, 0.84, 0.84], [0.9999999999999999, 1.0, 1.0])
    assert not [f for f in funnel_findings(stage_funnel=equal) if "weakest" in f.metric]
    low = funnel([0.5, 0.9, 0.9], [0.3, 0.7, 0.7], [0.7, 0.97, 0.97])
    assert [f.metric for f in funnel_findings(stage_funnel=low) if "weakest" in f.metric] == ["weakest step A → B"]


@pytest.mark.skipif(not (SAMPLE / "opportunities.csv").exists(), reason="sample data not generated")
def test_kpi_rows_reuse_the_notebooks_results_and_give_the_same_rows(monkeypatch):
    """Notebook 01 hands its results to kpi_rows so the KPI table does not run the sales-cycle bootstrap (and the
    other sections) a second time: the rows are the same, the handed-over results are used, and a result made
    with other settings than the KPI's is computed again rather than reused."""
    from salesops_kit import load_dataset
    from salesops_kit.funnel import _kpis

    ds = load_dataset(SAMPLE)
    fresh = pd.DataFrame(funnel.kpi_rows(ds))
    cyc, cyc_seg = funnel.sales_cycle(ds), funnel.sales_cycle(ds, by="lead_source")  # as notebook 01 makes them
    given = dict(cycles=[cyc, cyc_seg, None], funnels=[funnel.stage_funnel(ds)],
                 by_stage=funnel.pipeline_by_stage(ds), coverage=funnel.pipeline_coverage(ds),
                 amounts=funnel.funnel_amounts(ds), slip=funnel.slippage(ds), reasons=funnel.loss_reasons(ds))
    calls = []
    real_cycle, real_funnel = _kpis.sales_cycle, _kpis.stage_funnel
    monkeypatch.setattr(_kpis, "sales_cycle", lambda d, by, **kw: calls.append(("cycle", tuple(by))) or
                        real_cycle(d, by=by, **kw))
    monkeypatch.setattr(_kpis, "stage_funnel", lambda d, by, **kw: calls.append(("funnel", tuple(by))) or
                        real_funnel(d, by=by, **kw))
    reused = pd.DataFrame(funnel.kpi_rows(ds, **given))
    pd.testing.assert_frame_equal(reused, fresh)
    # only the owner segment's cycle, and the two segments' funnels, were computed here
    assert sorted(calls) == [("cycle", ("owner",)), ("funnel", ("lead_source",)), ("funnel", ("owner",))]
    calls.clear()
    other = dict(cycles=[funnel.sales_cycle(ds, n_boot=50)], funnels=[funnel.stage_funnel(ds, funnel_type="in_order")],
                 slip=funnel.slippage(ds, alpha=0.2), reasons=funnel.loss_reasons(ds, alpha=0.2))
    pd.testing.assert_frame_equal(pd.DataFrame(funnel.kpi_rows(ds, **other)), fresh)
    assert ("cycle", ()) in calls and ("funnel", ()) in calls  # not the KPI's settings: computed again
