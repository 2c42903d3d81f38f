"""Sales cycle (issue 3): Aalen-Johansen by hand, censoring, lifelines agreement, engine parity, planted truth."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from salesops_kit.data.schema import StageModel
from salesops_kit.funnel import cycle

S = StageModel(order=("A", "B"), won=("W",), lost=("L",))
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def deals(spec, as_of="2024-12-31"):
    """spec: list of (days, outcome) with outcome W / L / open (days to close, or age at as_of when open)."""
    as_of = pd.Timestamp(as_of)
    rows = []
    for i, (d, o) in enumerate(spec):
        if o == "open":
            created = as_of - pd.Timedelta(days=d)
            rows.append((f"o{i}", "A", created, as_of + pd.Timedelta(days=30)))
        else:
            created = pd.Timestamp("2024-01-01")
            rows.append((f"o{i}", o, created, created + pd.Timedelta(days=d)))
    return pd.DataFrame(rows, columns=["opportunity_id", "stage", "created_date", "close_date"])


HAND = [(10, "W"), (10, "L"), (20, "W"), (15, "open"), (30, "W")]


def test_aalen_johansen_by_hand():
    # t=10: at risk 5, 1 won 1 lost -> CIF_won 1/5 = 0.2, S = 3/5
    # t=15: the open deal is censored.  t=20: at risk 2, 1 won -> CIF += 3/5 * 1/2 = 0.3 -> 0.5, S = 0.3
    # t=30: at risk 1, 1 won -> CIF += 0.3 -> 0.8.  Eventual win probability 0.8; half of it (0.4) first reached at 20.
    c = cycle.sales_cycle(deals(HAND), stages=S, as_of="2024-12-31", n_boot=0)
    r = c.summary().iloc[0]
    assert (r["deals"], r["won"], r["lost"], r["open"]) == (5, 3, 1, 1)
    assert r["win_probability"] == pytest.approx(0.8)
    assert r["median_days_to_win"] == 20
    assert r["naive_won_mean_days"] == pytest.approx(20.0) and "biased" in r["naive_label"]
    cur = c.curves.set_index("days")
    assert cur.loc[10, "cif_won"] == pytest.approx(0.2) and cur.loc[20, "cif_won"] == pytest.approx(0.5)
    assert cur.loc[10, "cif_lost"] == pytest.approx(0.2)
    assert cur.loc[30, "cif_won"] == pytest.approx(0.8)


def test_numpy_estimator_matches_lifelines_aalen_johansen():
    from lifelines import AalenJohansenFitter

    rng = np.random.default_rng(3)
    n = 400
    days = rng.integers(0, 60, n)
    ev = rng.choice([0, 1, 2], n, p=[0.2, 0.3, 0.5])
    t, cif1, _, _ = cycle.aalen_johansen(days, ev, np.ones(n))
    # lifelines jitters tied times at random; placing each won event 1e-6 days before the lost ones of the same day
    # is the exact tied-time estimator (same at-risk set, same S(t-)), so no jitter is needed
    # (+1 day: lifelines sets the cumulative incidence of its first event-table row to 0, so events at day 0
    # would vanish)
    aj = AalenJohansenFitter().fit(days + 1 - 1e-6 * (ev == 1), ev, event_of_interest=1)
    ref = aj.cumulative_density_.iloc[:, 0]
    idx = np.searchsorted(ref.index.to_numpy(), t + 1.5, side="right") - 1
    assert cif1 == pytest.approx(ref.to_numpy()[idx], abs=1e-12)
    # and the kit's curves (lifelines, weighted count table) equal the per-deal fit
    df = pd.DataFrame({"opportunity_id": [str(i) for i in range(n)], "stage": np.array(["A", "W", "L"])[ev],
                       "created_date": pd.Timestamp("2024-01-01")})
    df["close_date"] = df["created_date"] + pd.to_timedelta(days, "D")
    df.loc[ev == 0, "close_date"] = pd.Timestamp("2030-01-01")
    df.loc[ev == 0, "created_date"] = pd.Timestamp("2024-03-01") - pd.to_timedelta(days[ev == 0], "D")
    c = cycle.sales_cycle(df, stages=S, as_of="2024-03-01", n_boot=0)
    assert c.curves["cif_won"].to_numpy() == pytest.approx(cif1, abs=1e-12)


def test_open_deals_censored_not_ignored():
    # 10 quick wins at 10 days, 10 slow wins at 200 days, 5 lost at 50, 10 deals open for 100 days so far.
    # The open deals are still at risk of a slow win, so they count (censored) instead of vanishing.
    spec = [(10, "W")] * 10 + [(200, "W")] * 10 + [(100, "open")] * 10 + [(50, "L")] * 5
    c = cycle.sales_cycle(deals(spec), stages=S, n_boot=200, as_of="2024-12-31")
    r = c.summary().iloc[0]
    # CIF: t=10: 10/35; S after 10 = 25/35; t=50: 5 lost; S = 20/35; t=100 10 censored; t=200: at risk 10, 10 won
    # -> CIF += 20/35 -> final 30/35; half = 15/35 reached at 200 (10/35 < 15/35)
    assert r["win_probability"] == pytest.approx(30 / 35)
    assert r["median_days_to_win"] == 200
    assert r["naive_won_mean_days"] == pytest.approx(105.0)
    assert r["ci_low"] <= r["median_days_to_win"] <= r["ci_high"]


def test_edge_cases_and_segments():
    allopen = deals([(5, "open"), (7, "open")])
    r = cycle.sales_cycle(allopen, stages=S).summary().iloc[0]
    assert r["won"] == 0 and np.isnan(r["median_days_to_win"]) and np.isnan(r["naive_won_mean_days"])
    alllost = deals([(5, "L"), (7, "L")])
    r = cycle.sales_cycle(alllost, stages=S).summary().iloc[0]
    assert r["win_probability"] == 0 and np.isnan(r["median_days_to_win"])
    empty = deals(HAND).iloc[0:0]
    c = cycle.sales_cycle(empty, stages=S, as_of="2024-12-31")
    assert len(c.summary()) == 0 and "median_days_to_win" in c.summary().columns
    df = deals(HAND + [(40, "W"), (45, "W"), (5, "L")])
    df["team"] = ["a"] * 5 + ["b"] * 3
    before = df.copy()
    c = cycle.sales_cycle(df, stages=S, by="team", as_of="2024-12-31")
    pd.testing.assert_frame_equal(df, before)
    assert c.summary()["team"].tolist() == ["a", "b"]
    # b: lost at 5, won at 40 and 45 -> CIF 1/3 at 40, 2/3 at 45; half of 2/3 is first reached at 40
    assert c.summary()["median_days_to_win"].tolist() == [20, 40]
    assert c.logrank is not None and 0 <= c.logrank["p_value"].iloc[0] <= 1
    # deals closed after as_of are open at as_of; deals created after as_of are left out
    late = deals([(10, "W"), (20, "W")])
    late.loc[1, "created_date"] = pd.Timestamp("2025-06-01")
    r = cycle.sales_cycle(late, stages=S, as_of="2024-01-05").summary().iloc[0]
    # closed 01-11, after as_of 01-05: open; the other deal is not yet created
    assert (r["deals"], r["won"], r["open"]) == (1, 0, 1)


@pytest.mark.parametrize("engine", ["polars", "lazy", "duckdb"])
def test_engine_parity(engine):
    df = deals(HAND + [(40, "W"), (45, "W"), (5, "L")])
    df["team"] = ["a"] * 5 + ["b"] * 3
    tbl = pa.Table.from_pandas(df, preserve_index=False)
    nat = {"polars": pl.from_arrow(tbl), "lazy": pl.from_arrow(tbl).lazy(), "duckdb": duckdb.from_arrow(tbl)}[engine]
    ref = cycle.sales_cycle(df, stages=S, by="team", as_of="2024-12-31", n_boot=100)
    got = cycle.sales_cycle(nat, stages=S, by="team", as_of="2024-12-31", n_boot=100)
    pd.testing.assert_frame_equal(got.summary(), ref.summary(), check_dtype=False)
    pd.testing.assert_frame_equal(got.counts, ref.counts, check_dtype=False)


def _generator_won_median_days(n=400_000, seed=1):
    """The generator's won-deal cycle, simulated from its stated parameters (not from the sample)."""
    from salesops_kit.data import synth

    planted = synth.PLANTED.get("sales_cycle", {})
    if "won_median_days" in planted:
        return float(planted["won_median_days"])
    # synth: each reached stage lasts Gamma(shape 2, mean STAGE_MEAN_DAYS[k]) + 1 days; a share of deals skip
    # Qualification; created = entry to the first stage, close = end of the last; days = ceil(sum).
    rng = np.random.default_rng(seed)
    means = np.asarray(synth.STAGE_MEAN_DAYS)
    dur = rng.gamma(2.0, means / 2.0, size=(n, len(means))) + 1.0
    dur[rng.random(n) < synth.SKIP_QUALIFICATION, 1] = 0.0
    return float(np.median(np.ceil(dur.sum(axis=1))))


@pytest.mark.skipif(not (SAMPLE / "opportunities.csv").exists(), reason="sample data not generated")
def test_sample_cycle_median_recovers_generator():
    from salesops_kit import load_dataset

    ds = load_dataset(SAMPLE)
    c = cycle.sales_cycle(ds)
    r = c.summary().iloc[0]
    truth = _generator_won_median_days()
    assert r["ci_low"] <= truth <= r["ci_high"], (truth, r[["median_days_to_win", "ci_low", "ci_high"]].tolist())
    assert r["open"] > 0 and r["lost"] > 0


def test_unknown_stage_raises_and_undated_closed_deal_is_left_out():
    df = deals(HAND)
    df.loc[0, "close_date"] = pd.NaT  # a won deal without a close date
    c = cycle.sales_cycle(df, stages=S, as_of="2024-12-31", n_boot=0)
    assert c.summary()["deals"].iloc[0] == 4 and any("without created/close dates" in n for n in c.notes)
    bad = deals(HAND)
    bad.loc[1, "stage"] = "Zombie"
    with pytest.raises(ValueError, match="Zombie"):
        cycle.sales_cycle(bad, stages=S, as_of="2024-12-31")


@pytest.mark.parametrize("engine", ["pandas", "polars", "lazy", "duckdb"])
def test_days_between_on_every_engine(engine):
    import narwhals as nw

    from salesops_kit.engines.ops import collect, day_number, days_between, lazy

    df = pd.DataFrame({"a": pd.to_datetime(["2024-02-28 00:00", "2023-12-31 23:00", "2024-01-01 00:00",
                                            "2024-05-05 00:00"]),
                       "b": pd.to_datetime(["2024-03-01 00:00", "2024-01-02 01:00", "2025-01-01 00:00", None])})
    nat = df if engine == "pandas" else {
        "polars": pl.from_pandas(df), "lazy": pl.from_pandas(df).lazy(),
        "duckdb": duckdb.from_arrow(pa.Table.from_pandas(df, preserve_index=False))}[engine]
    lf = lazy(nat)
    got = collect(lf.select(days_between(nw.col("a"), nw.col("b"), frame=lf).alias("d"),
                            days_between(nw.col("a"), pd.Timestamp("2024-12-31"), frame=lf).alias("e"),
                            (day_number(nw.col("b")) - day_number(nw.col("a"))).cast(nw.Float64).alias("cal")))
    # leap day 2024-02-29 counted; 23:00 -> 01:00 two days later is 1 day 2 hours elapsed -> 1 whole day (2 calendar
    # days, the PySpark fallback's count); 2024 has 366 days; null stays null
    assert got["d"].iloc[:3].tolist() == [2.0, 1.0, 366.0] and np.isnan(got["d"].iloc[3])
    assert got["cal"].iloc[:3].tolist() == [2.0, 2.0, 366.0]
    assert got["e"].tolist() == [307.0, 365.0, 365.0, 240.0]
