"""Funnel plots (issue 3): each returns the Axes it drew on (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from salesops_kit import (
    funnel,  # noqa: E402
    plots,
)
from salesops_kit.data.schema import StageModel  # noqa: E402
from salesops_kit.funnel import (
    bottlenecks,  # noqa: E402
    cycle,
)
from salesops_kit.funnel.calibration import stage_calibration  # noqa: E402

S = StageModel(order=("A", "B", "C"), won=("W",), lost=("L",))


@pytest.fixture
def opps():
    rng = np.random.default_rng(0)
    n = 300
    stage = rng.choice(["A", "B", "C", "W", "L"], n)
    return pd.DataFrame({
        "opportunity_id": [str(i) for i in range(n)], "stage": stage,
        "lost_at_stage": np.where(stage == "L", rng.choice(["A", "B", "C"], n), None),
        "lead_source": rng.choice(["x", "y", "z"], n), "probability": np.where(stage == "A", 0.2, 0.5),
        "created_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 200, n), "D"),
    }).assign(close_date=lambda d: d["created_date"] + pd.to_timedelta(rng.integers(1, 90, n), "D"))


def test_funnel_chart(opps):
    f = funnel.stage_funnel(opps, stages=S)
    fig, ax0 = plt.subplots()
    ax = plots.plot_funnel(f.table, ax=ax0)
    assert ax is ax0
    assert len(ax.patches) == 3 * 4  # moved on, lost, open for A, B, C, W
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == ["A", "B", "C", "W"]
    assert any("95% CI" in t.get_text() for t in ax.texts)
    # the label counts what the bar shows: its percentage is the moved-on part over the moved-on and lost parts,
    # and the three parts add up to the deals that reached the stage (the number at the bar's end)
    moved, lost, still_open = (ax.patches[i * 4:(i + 1) * 4] for i in range(3))
    for k, text in enumerate(ax.texts):
        m, lo, op = moved[k].get_width(), lost[k].get_width(), still_open[k].get_width()
        reached = int(text.get_text().split()[0].replace(",", ""))
        assert m + lo + op == reached
        if "%" in text.get_text():
            assert text.get_text().split()[1] == f"{m / (m + lo):.0%}"
    assert f.plot().get_title().startswith("Stage funnel")
    assert plots.plot_funnel(f.table, rate="cumulative").texts
    plt.close("all")


def test_heatmap_incidence_calibration(opps):
    b = bottlenecks(opps, stages=S, segments=["lead_source"])
    ax = plots.plot_conversion_heatmap(b.cells)
    assert len(ax.images) == 1 and len(ax.get_yticklabels()) == 3
    assert b.plot() is not None
    c = cycle.sales_cycle(opps, stages=S, by="lead_source", n_boot=50)
    ax = plots.plot_cumulative_incidence(c)
    assert len(ax.get_legend().get_texts()) == 3 and ax.get_ylim()[0] == 0
    assert c.plot().lines
    cal = stage_calibration(opps, stages=S)
    ax = plots.plot_calibration(cal.table)
    assert ax.get_xlim() == (0, 1) and len(ax.collections) >= 1
    empty = funnel.stage_funnel(opps.iloc[0:0], stages=S)
    assert "no deals" in plots.plot_funnel(empty.table).get_title()
    plt.close("all")


def test_conversion_heatmap_keeps_transitions_without_differences():
    cells = pd.DataFrame({"column": ["owner"] * 4, "segment": ["a", "a", "b", "b"],
                          "transition": ["A → B", "B → C", "A → B", "B → C"], "stage_index": [0, 1, 0, 1],
                          "difference": [0.1, np.nan, -0.1, np.nan], "significant": [False, None, False, None]})
    ax = plots.plot_conversion_heatmap(cells)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A → B", "B → C"]
    empty = plots.plot_conversion_heatmap(cells.assign(difference=np.nan))
    assert not empty.axison and "no cells" in empty.get_title()
