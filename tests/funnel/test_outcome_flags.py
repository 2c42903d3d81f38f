"""The KPI scans read the loader's is_won / is_closed when present (issue 17) and give what the stage labels give.

The reference is the same function on the same deals without the two columns (the stage labels classified with the
stage model), on pandas, Polars and DuckDB; deals with a missing owner, a missing close date, a time of day and a
close before creation are planted so every branch of the scans is taken.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesops_kit import engines, funnel
from salesops_kit.data.schema import StageModel
from salesops_kit.funnel import cycle, metrics

pl = pytest.importorskip("polars")
duckdb = pytest.importorskip("duckdb")

STAGES = StageModel(order=("Lead", "Demo", "Offer"), won=("Won",), lost=("Lost",))
AS_OF = pd.Timestamp("2025-06-30")


@pytest.fixture(scope="module")
def deals() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 600
    stage = rng.choice(["Lead", "Demo", "Offer", "Won", "Lost"], size=n, p=[0.1, 0.1, 0.1, 0.35, 0.35])
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 560 * 86400, n), unit="s")
    close = created + pd.to_timedelta(rng.integers(0, 120 * 86400, n), unit="s")
    d = pd.DataFrame({"opportunity_id": [f"D{i}" for i in range(n)],
                      "owner": rng.choice(["Ann", "Ben", "Cy"], size=n).astype(object), "team": "East",
                      "stage": stage.astype(object), "amount": rng.gamma(2.0, 5000.0, n),
                      "created_date": created, "close_date": close})
    d.loc[:4, "owner"] = None
    d.loc[5:9, "close_date"] = pd.NaT  # closed without a date: out of the cycle, in the all-time win rate
    d.loc[10:14, "close_date"] = d.loc[10:14, "created_date"] - pd.Timedelta(hours=3)  # closed before created
    d.loc[15:17, "amount"] = np.nan
    d.loc[d.index[-3:], "created_date"] = AS_OF + pd.Timedelta(days=3)  # created after the as-of date
    d["is_won"] = d["stage"].isin(STAGES.won)
    d["is_closed"] = d["is_won"] | d["stage"].isin(STAGES.lost)
    return d


def _on(df: pd.DataFrame, engine: str):
    if engine == "pandas":
        return df
    if engine == "polars":
        return engines.to_polars(df, lazy=True)
    return engines.to_duckdb(df, con=duckdb.connect())


def _same(got: pd.DataFrame, ref: pd.DataFrame) -> None:
    def norm(t):
        t = t.reset_index(drop=True).copy()
        for c in [c for c in t.columns if t[c].dtype == "object"]:
            t[c] = t[c].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else v)
        return t
    pd.testing.assert_frame_equal(norm(got), norm(ref), check_dtype=False, rtol=1e-9)


CALLS = {
    "win_rate[closed,owner,M]": lambda d: funnel.win_rate(d, by="owner", period="M", stages=STAGES).table,
    "win_rate[created,Q]": lambda d: funnel.win_rate(d, period="Q", definition="created", stages=STAGES).table,
    "win_rate[all]": lambda d: funnel.win_rate(d, stages=STAGES).table,
    "won_revenue[owner,M]": lambda d: metrics.won_revenue(d, by="owner", stages=STAGES),
    "won_revenue[Y]": lambda d: metrics.won_revenue(d, period="Y", stages=STAGES),
    "cycle_counts[owner]": lambda d: cycle.cycle_counts(d, by="owner", as_of=AS_OF, stages=STAGES)[0],
    "cycle_counts[noon]": lambda d: cycle.cycle_counts(d, as_of=AS_OF + pd.Timedelta(hours=12), stages=STAGES)[0],
    "cycle_dropped": lambda d: pd.DataFrame([cycle.cycle_counts(d, as_of=AS_OF, stages=STAGES)[2]]),
    "cycle_as_of": lambda d: pd.DataFrame({"as_of": [cycle.cycle_counts(d, stages=STAGES)[1]]}),
}


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
@pytest.mark.parametrize("case", sorted(CALLS))
def test_flags_give_what_the_labels_give(deals, case, engine):
    ref = CALLS[case](deals.drop(columns=["is_won", "is_closed"]))  # the stage labels, classified
    assert len(ref)
    _same(CALLS[case](_on(deals, engine)), ref)


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
def test_the_flags_are_what_is_read(engine):
    """When the flags are there they decide the outcome: a deal the loader marked won counts as won, whatever its
    label says (the loader derived the flags from the same stage model; the scan does not classify labels again)."""
    d = pd.DataFrame({"owner": ["A", "A", "A", "B"], "stage": ["Lost", "Lost", "Lead", "Won"],
                      "amount": [10.0, 20.0, 5.0, 7.0],
                      "created_date": pd.to_datetime(["2025-01-01"] * 4),
                      "close_date": pd.to_datetime(["2025-01-11", "2025-02-01", "NaT", "2025-01-03"]),
                      "is_won": [True, False, False, True], "is_closed": [True, True, False, True]})
    t = funnel.win_rate(_on(d, engine), by="owner", stages=STAGES).table
    assert t[["owner", "won", "lost"]].values.tolist() == [["A", 1, 1], ["B", 1, 0]]
    r = metrics.won_revenue(_on(d, engine), stages=STAGES)
    assert r["won_deals"].tolist() == [2] and r["won_revenue"].tolist() == [17.0]  # January: 10 (A) + 7 (B)
    c, _, _ = cycle.cycle_counts(_on(d, engine), as_of=pd.Timestamp("2025-03-01"), stages=STAGES)
    assert c[["days", "event", "n"]].values.tolist() == [[2, 1, 1], [10, 1, 1], [31, 2, 1], [59, 0, 1]]


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
def test_lead_funnel_on_flags_gives_what_the_labels_give(deals, engine):
    rng = np.random.default_rng(11)
    n = 400
    leads = pd.DataFrame({"lead_id": [f"L{i}" for i in range(n)],
                          "source": rng.choice(["Web", "Event"], size=n).astype(object),
                          "created_date": AS_OF - pd.to_timedelta(rng.integers(0, 400 * 86400, n), unit="s"),
                          "opportunity_id": np.where(rng.random(n) < 0.4, deals["opportunity_id"].to_numpy()[
                              rng.integers(0, len(deals), n)], None)})
    leads.loc[:3, "source"] = None
    leads.loc[4:6, "opportunity_id"] = "not-a-deal"  # converted, its deal not in the table: neither won nor open
    ref = metrics.lead_funnel(leads, deals.drop(columns=["is_won", "is_closed"]), by="source", as_of=AS_OF,
                              stages=STAGES).table
    assert ref["won"].sum() > 0 and ref["open_opportunities"].sum() > 0
    con = duckdb.connect() if engine == "duckdb" else None
    on = (lambda d: engines.to_duckdb(d, con=con)) if con else (lambda d: _on(d, engine))
    _same(metrics.lead_funnel(on(leads), on(deals), by="source", as_of=AS_OF, stages=STAGES).table, ref)
