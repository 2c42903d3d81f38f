"""engines.ops.hashed_left_join: the Polars join on a hash of text keys is the plain left join, and says when two
keys share a hash (the callers then join on the keys)."""

import narwhals as nw
import pandas as pd
import polars as pl
import pytest

from salesops_kit.data.schema import StageModel
from salesops_kit.engines.ops import CLASH, hashed_left_join
from salesops_kit.funnel import metrics

LEFT = pl.DataFrame({"id": ["a", "b", None, "c", "a"], "x": [1, 2, 3, 4, 5]}).lazy()
RIGHT = pl.DataFrame({"id": ["a", "c", "d", None], "y": [10, 30, 40, 99]}).lazy()


def _rows(lf):
    return sorted(lf.collect().rows(), key=lambda r: r[1])


def test_hashed_join_equals_the_left_join_on_the_keys():
    got = hashed_left_join(nw.from_native(LEFT), nw.from_native(RIGHT), "id")
    # by hand: a -> 10 (twice), b -> no match, null -> no match (a null key matches nothing, not the null on the
    # right), c -> 30; no row matched through a shared hash
    assert _rows(nw.to_native(got).select("id", "x", "y", CLASH)) == [
        ("a", 1, 10, False), ("b", 2, None, False), (None, 3, None, False), ("c", 4, 30, False), ("a", 5, 10, False)]


def test_a_shared_hash_is_flagged(monkeypatch):
    orig = pl.Expr.hash
    monkeypatch.setattr(pl.Expr, "hash", lambda self, *a, **k: orig(self, *a, **k) % 1)  # every key one hash
    got = nw.to_native(hashed_left_join(nw.from_native(LEFT), nw.from_native(RIGHT), "id")).collect()
    # "b" now meets a, c and d: three rows, each a clash; "a" meets its own row (no clash) and c, d (clashes)
    b = got.filter(pl.col("id") == "b")
    assert len(b) == 3 and b[CLASH].all()
    a = got.filter((pl.col("id") == "a") & (pl.col("x") == 1))
    assert sorted(zip(a["y"], a[CLASH], strict=True)) == [(10, False), (30, True), (40, True)]


def test_other_engines_and_other_key_types_are_left_to_the_caller():
    assert hashed_left_join(nw.from_native(LEFT.collect().to_pandas()).lazy(),
                            nw.from_native(RIGHT.collect().to_pandas()).lazy(), "id") is None
    ints = pl.DataFrame({"id": [1, 2]}).lazy()
    assert hashed_left_join(nw.from_native(ints), nw.from_native(ints), "id") is None


@pytest.mark.parametrize("collide", [False, True])
def test_lead_funnel_on_polars_equals_pandas_with_and_without_a_shared_hash(monkeypatch, collide):
    leads = pd.DataFrame({"lead_id": [f"L{i}" for i in range(8)], "source": list("wwwwrrrr"),
                          "created_date": pd.to_datetime(["2025-01-01"] * 8),
                          "opportunity_id": ["O1", "O2", None, "O9", "O3", None, None, "O4"]})
    opps = pd.DataFrame({"opportunity_id": ["O1", "O2", "O3", "O4"], "stage": ["Won", "Lost", "Open", "Won"],
                         "is_won": [True, False, False, True], "is_closed": [True, True, False, True]})
    if collide:
        orig = pl.Expr.hash
        monkeypatch.setattr(pl.Expr, "hash", lambda self, *a, **k: orig(self, *a, **k) % 2)
    kw = dict(by="source", as_of=pd.Timestamp("2025-12-31"), stages=StageModel(order=("Open",), won=("Won",),
                                                                                  lost=("Lost",)))
    want = metrics.lead_funnel(leads, opps, **kw).table
    got = metrics.lead_funnel(pl.from_pandas(leads).lazy(), pl.from_pandas(opps).lazy(), **kw).table
    pd.testing.assert_frame_equal(want, got, check_dtype=False)
    # by hand: r: 4 leads, 2 opportunities (O3 open, O4 won); w: 4 leads, 3 converted (O9 has no deal), 1 won
    assert want.set_index("source")[["leads", "opportunities", "won", "open_opportunities"]].to_dict("index") == {
        "r": {"leads": 4, "opportunities": 2, "won": 1, "open_opportunities": 1},
        "w": {"leads": 4, "opportunities": 3, "won": 1, "open_opportunities": 0}}


@pytest.mark.parametrize("collide", [False, True])
def test_lead_cells_on_polars_equal_pandas_with_and_without_a_shared_hash(monkeypatch, collide):
    from salesops_kit.reps._scans import lead_cells

    leads = pd.DataFrame({"lead_id": ["L1", "L2", "L3", "L4"], "owner": ["Ann", "Ann", "Bo", "Bo"],
                          "source": ["w"] * 4, "created_date": pd.to_datetime(["2025-01-01"] * 4),
                          "opportunity_id": ["O1", None, None, None]})
    acts = pd.DataFrame({"lead_id": ["L1", "L1", "L1", "L1", "L3", None, "L9"], "owner": ["Ann"] * 7,
                         "activity_date": pd.to_datetime(["2025-01-02"] * 7)})
    if collide:
        orig = pl.Expr.hash
        monkeypatch.setattr(pl.Expr, "hash", lambda self, *a, **k: orig(self, *a, **k) % 2)
    kw = dict(cutoff=pd.Timestamp("2025-06-30"))
    want = lead_cells(leads, activities=acts, **kw)
    got = lead_cells(pl.from_pandas(leads).lazy(), activities=pl.from_pandas(acts).lazy(), **kw)
    pd.testing.assert_frame_equal(want, got, check_dtype=False)
    # by hand: L1 has 4 activities (band 3+), L3 one, L2 and L4 none
    bands = want.groupby("activity_band", observed=True)["leads"].sum().to_dict()
    assert bands == {"0": 2, "1": 1, "3+": 1}
