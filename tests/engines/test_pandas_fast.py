"""pandas fast paths (salesops_kit.engines.pandas_fast) give what the narwhals scans they replace give."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest

from salesops_kit.data.load import load_dataset
from salesops_kit.engines import pandas_fast as _pandas_fast
from salesops_kit.value import customers

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def _narwhals_rfm(orders, **kw):
    with mock.patch.object(_pandas_fast, "rfm_pandas", lambda *a, **k: None):
        return customers.rfm_summary(orders, **kw)


def _orders(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    t = np.datetime64("2024-01-01T00:00", "s") + rng.integers(0, 500 * 86400, n).astype("timedelta64[s]")
    return pd.DataFrame({"customer_id": rng.integers(5, 400, n), "order_date": t.astype("datetime64[ns]"),
                         "amount": np.round(rng.gamma(2.0, 30.0, n), 2)})


@pytest.mark.parametrize("kw", [{}, {"calibration_end": "2024-09-30"},
                                {"calibration_end": "2024-09-30", "holdout_end": "2025-03-31", "freq": "M"},
                                {"calibration_end": "2024-03-01", "freq": "D"}])
def test_rfm_fast_path_equals_narwhals_scan(kw):
    o = _orders()
    got = customers.rfm_summary(o, **kw)
    pd.testing.assert_frame_equal(got, _narwhals_rfm(o, **kw), check_exact=False, rtol=1e-12, atol=1e-12)
    assert len(got) > 0


def test_rfm_fast_path_string_ids_missing_dates_and_sample():
    o = _orders()
    o["customer_id"] = "C" + o["customer_id"].astype(str)
    o.loc[::17, "order_date"] = pd.NaT
    before = o.copy()
    kw = {"calibration_end": "2024-10-31", "holdout_end": "2025-04-30"}
    pd.testing.assert_frame_equal(customers.rfm_summary(o, **kw), _narwhals_rfm(o, **kw),
                                  check_exact=False, rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(o, before)  # input not mutated
    ds = load_dataset(SAMPLE)
    kw = {"calibration_end": ds.as_of - pd.DateOffset(months=6), "holdout_end": ds.as_of}
    pd.testing.assert_frame_equal(customers.rfm_summary(ds.orders, **kw), _narwhals_rfm(ds.orders, **kw))


def test_rfm_fast_path_hands_back_what_it_does_not_handle():
    o = _orders(50)
    o.loc[3, "customer_id"] = None  # missing id: the narwhals scan decides
    assert _pandas_fast.rfm_pandas(o, customer_col="customer_id", date_col="order_date", amount_col="amount",
                                   cal=pd.Timestamp("2024-12-31"), hold=None, unit=7.0) is None
    pd.testing.assert_frame_equal(customers.rfm_summary(o), _narwhals_rfm(o))
    early = customers.rfm_summary(_orders(50), calibration_end="2020-01-01")  # nobody bought by then
    assert early.empty and list(early.columns) == list(_narwhals_rfm(_orders(50), calibration_end="2020-01-01").columns)


def _deals():
    # stages: Lead -> Qualified -> Proposal, won Won, lost Lost; a missing stage, an unknown label, a lost deal
    # without lost_at_stage (its group key is missing)
    return pd.DataFrame({"stage": ["Lead", "Won", "Lost", "Lost", None, "Qualified", "Bogus", "Won", "Lost"],
                         "lost_at_stage": [None, None, "Qualified", None, None, None, None, None, "Qualified"],
                         "owner": ["A", "A", "B", "B", "B", None, "A", "B", "A"]})


def test_with_outcome_equals_outcome_code():
    import narwhals as nw

    from salesops_kit.data.schema import StageModel
    from salesops_kit.engines.ops import collect, lazy, outcome_code

    stages = StageModel(order=("Lead", "Qualified", "Proposal"), won=("Won",), lost=("Lost",))
    df = _deals()
    before = df.copy()
    got = collect(_pandas_fast.with_outcome(lazy(df), stages))
    ref = collect(lazy(df).with_columns(outcome_code(stages).alias("_o")))
    # by hand: Lead 0, Won 1, Lost 2, Lost 2, missing 3, Qualified 0, Bogus 3, Won 1, Lost 2
    assert got["_o"].tolist() == ref["_o"].tolist() == [0, 1, 2, 2, 3, 0, 3, 1, 2]
    pd.testing.assert_frame_equal(df, before)
    assert isinstance(nw.from_native(df), nw.DataFrame) and "_o" not in df.columns


def test_group_sizes_equals_narwhals_group_by():
    import narwhals as nw

    from salesops_kit.engines.ops import collect, lazy

    df = _deals()
    keys = ["owner", "stage", "lost_at_stage"]
    got = _pandas_fast.group_sizes(df, keys)
    ref = collect(lazy(df).group_by(*keys, drop_null_keys=False).agg(nw.len().alias("n")))

    def canon(t):
        return sorted(tuple("<NA>" if pd.isna(v) else v for v in r) for r in t[keys + ["n"]].itertuples(index=False))

    assert canon(got) == canon(ref)
    assert got["n"].sum() == len(df) and got["n"].dtype == "float64"
    assert _pandas_fast.group_sizes(df.assign(stage=df["stage"].astype("category")), keys) is None  # not text: None


def test_run_sums_equal_pandas_group_sums():
    rng = np.random.default_rng(3)
    sizes = np.r_[rng.integers(1, 6, 400), 300, rng.integers(1, 40, 50)]  # short runs, one long, some medium
    vals = rng.normal(0, 1e6, sizes.sum()) / 3.0
    vals[::11] = np.nan  # skipped, as pandas skips them
    vals[5] = np.inf  # pandas resets the compensation after an infinite value
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    gid = np.repeat(np.arange(len(sizes)), sizes)
    ref = pd.Series(vals).groupby(gid).sum().to_numpy()
    np.testing.assert_array_equal(_pandas_fast._run_sums(vals, starts), ref)  # bit for bit


def _group_agg_rows(native):
    import narwhals as nw

    lf = nw.from_native(native).lazy()
    out = _pandas_fast.group_agg(lf, ["k"], nw.len().alias("n"), str_min={"first": "s", "other": "t"}).collect()
    def val(v):
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else v

    rows = [(val(r["k"]), r["n"], val(r["first"]), val(r["other"])) for r in out.rows(named=True)]
    return sorted(rows, key=lambda r: (r[0] is None, r[0] or ""))


def test_group_agg_text_minimum_by_hand_and_like_polars():
    import polars as pl

    # group a: s in {"b", "Ab", None} -> "Ab" (code-point order: upper case first); t all missing -> None
    # group b: s "é" vs "z" -> "z" (U+007A < U+00E9); t "x"
    # missing key: its own group, s "c"
    df = pd.DataFrame({"k": ["a", "a", "a", "b", "b", None],
                       "s": ["b", "Ab", None, "é", "z", "c"],
                       "t": [None, None, None, "x", "y", "w"]})
    expected = [("a", 3, "Ab", None), ("b", 2, "z", "x"), (None, 1, "c", "w")]
    before = df.copy()
    assert _group_agg_rows(df) == expected
    pd.testing.assert_frame_equal(df, before)  # the caller's frame is not modified
    assert _group_agg_rows(pl.from_pandas(df)) == expected
    assert _group_agg_rows(df.iloc[0:0]) == []


def test_deal_groups_with_history_fast_path_matches_the_scan_on_awkward_deals():
    """Awkward deals, each checked by hand below, through the pandas fast path and the narwhals scan."""
    from salesops_kit import funnel
    from salesops_kit.data.schema import StageModel

    st = StageModel(order=("Lead", "Qualify", "Propose"), won=("Won",), lost=("Lost",))
    opps = pd.DataFrame({
        "opportunity_id": ["A", "B", "C", "D", "E", "F"],
        "stage": ["Won", "Propose", "Qualify", "Lost", "Propose", "Lost"],
        "lost_at_stage": [None, None, None, "Qualify", None, None],
        "team": ["x", "x", None, "y", "y", "x"],
    })
    d = pd.to_datetime
    hist = pd.DataFrame({
        "opportunity_id": ["A", "A", "A", "A", "B", "B", "D", "E", "E", "E", "F", "F"],
        "stage": ["Lead", "Qualify", "Propose", "Won", "Lead", "Propose", "Lead", "Lead", "Qualify", "Qualify",
                  "Won", "Lead"],
        "entered_date": d(["2024-01-01", "2024-01-05", "2024-01-09", "2024-02-01", "2024-01-01", "2024-01-03",
                           "2024-01-02", "2024-01-10", "2024-01-04", None, "2024-01-20", None]),
    })
    # A: all three stages in order, won -> furthest 3, depth 3.  B: Lead, Propose (skips Qualify) -> furthest 2,
    # depth 0, s_0 = 1.  C: no history, current Qualify -> furthest 1, depth -1 (Lead never entered).
    # D: Lead, lost at Qualify -> furthest 1, depth 1.  E: Qualify entered (earliest 01-04) before Lead (01-10),
    # current Propose -> furthest 2, depth 0 (dates out of order stop it).  F: Lead with no date, a label outside
    # the funnel order (Won) ignored, lost without a stage -> furthest 0, depth 0.
    assert _pandas_fast.deal_groups_history(opps, hist, by=["team"], stages=st, has_lost_at=True) is not None
    fast = funnel.deal_groups(opps, history=hist, by=["team"], stages=st)
    with mock.patch.object(_pandas_fast, "deal_groups_history", lambda *a, **k: None):
        scan = funnel.deal_groups(opps, history=hist, by=["team"], stages=st)
    pd.testing.assert_frame_equal(fast, scan)
    got = {(r.stage, r.furthest, r.depth) for r in fast.itertuples()}
    assert got == {("Won", 3, 3), ("Propose", 2, 0), ("Qualify", 1, -1), ("Lost", 1, 1), ("Lost", 0, 0)}
    assert fast.loc[fast["stage"] == "Propose", "s_0"].sum() == 1  # B passed Lead without entering Qualify
    assert fast["n"].sum() == len(opps)


def test_rfm_summary_first_day_by_join_equals_the_ordered_first(monkeypatch):
    """On Spark rfm_summary takes the first day's amount by a join (no ordered `first` there): forced on
    Polars, that path gives what the ordered aggregate gives, holdout columns included."""
    import polars as pl

    orders = pl.from_pandas(_orders())
    want = customers.rfm_summary(orders, calibration_end="2024-09-30", holdout_end="2025-03-31")
    import narwhals as nw

    monkeypatch.setattr(customers, "_NO_ORDERED_FIRST", {nw.Implementation.POLARS})
    got = customers.rfm_summary(orders, calibration_end="2024-09-30", holdout_end="2025-03-31")
    pd.testing.assert_frame_equal(got, want)
    assert (want["frequency"] > 0).any()  # repeat customers: monetary value depends on the first day's amount
