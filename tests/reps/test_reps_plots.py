"""Rep-coaching charts return the Axes they drew on (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from test_reps import toy_ds  # noqa: E402

from salesops_kit import (
    plots,
    reps,  # noqa: E402
)
from salesops_kit.reps import drivers


@pytest.fixture(scope="module")
def analysed():
    ds = toy_ds(5, slow="Rep 01")
    return reps.compare_reps(ds), drivers.response_drivers(ds), reps.scorecard(ds)


def test_leaderboard_and_funnel_plot(analysed):
    comp, _, _ = analysed
    fig, ax = plt.subplots()
    assert plots.plot_rep_leaderboard(comp, ax=ax) is ax
    assert len(ax.get_yticklabels()) == 6 and ax.get_lines()  # company line drawn
    ax2 = comp.plot(metric="lead_conversion_rate")
    assert len(ax2.collections) >= 1 and len(ax2.get_lines()) == 5  # 4 limit curves + company
    assert "Rep 01" in [t.get_text() for t in ax2.texts]  # the flagged rep is labelled
    with pytest.raises(ValueError, match="metric must be one of .*; got 'nope'"):
        plots.plot_rep_leaderboard(comp, metric="nope")
    plt.close("all")


def test_response_conversion_and_win_rate_bars(analysed):
    _, drv, card = analysed
    ax = plots.plot_response_conversion(drv, owners=["Rep 01"])
    assert len(ax.patches) == len(drv.by_response)
    assert [line.get_label() for line in ax.get_lines()][-1] == "Rep 01"
    ax = card.plot()
    assert len(ax.patches) == 6
    plt.close("all")


def test_stage_heatmap_labels_cells_with_their_deals_and_drops_empty_transitions():
    t = pd.DataFrame({"owner": ["A", "B"], "P → Q": [1.0, 0.5], "Q → R": [float("nan")] * 2})
    n = pd.DataFrame({"owner": ["A", "B"], "P → Q": [1, 4], "Q → R": [0, 0]})
    ax = plots.plot_rep_stage_heatmap(t, counts=n)
    assert [x.get_text() for x in ax.get_xticklabels()] == ["P → Q"]     # no rep has data for Q → R
    assert sorted(x.get_text() for x in ax.texts) == ["100%\nn=1", "50%\nn=4"]
    plt.close("all")


def test_stage_heatmap_from_a_table():
    t = pd.DataFrame({"owner": ["A", "B"], "P → Q": [0.5, 0.7], "Q → W": [0.2, float("nan")]})
    ax = plots.plot_rep_stage_heatmap(t)
    assert [x.get_text() for x in ax.get_yticklabels()] == ["A", "B"]
    assert sorted(x.get_text() for x in ax.texts) == ["20%", "50%", "70%"]
    plt.close("all")
