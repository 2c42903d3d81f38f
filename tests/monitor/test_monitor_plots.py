"""Monitoring charts return the Axes they drew on (Agg backend)."""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from salesops_kit import plots
from salesops_kit.stats import control  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)


@pytest.fixture
def limits():
    # 18 months of 20/100 then a month at 2/100: the last point is an alert
    periods = pd.date_range("2024-01-01", periods=19, freq="MS")
    k = [20] * 18 + [2]
    s = pd.DataFrame({"kpi": "win_rate", "kind": "rate", "segment": "all", "period": periods, "partial": False,
                      "value": np.array(k) / 100, "n": 100.0, "successes": np.array(k, float), "days": 30.0})
    lim = control.control_limits(s)
    return control.flag_alerts(lim, periods=periods[-3:])


def test_control_chart_draws_values_limits_and_the_alert(limits):
    ax = plots.plot_control_chart(limits, kpi="win_rate", segment="all")
    assert isinstance(ax, matplotlib.axes.Axes)
    assert "win rate" in ax.get_title()
    # the alert is drawn as its own red scatter with one point
    alert = [c for c in ax.collections if c.get_label() == "alert"]
    assert len(alert) == 1 and len(alert[0].get_offsets()) == 1
    assert any(line.get_label() == "control limits" for line in ax.get_lines())
    plt.close(ax.figure)


def test_control_chart_uses_given_ax_and_handles_missing(limits):
    fig, ax = plt.subplots()
    assert plots.plot_control_chart(limits, kpi="win_rate", segment="team=X", ax=ax) is ax
    assert "no data" in ax.texts[0].get_text()
    plt.close(fig)


def test_small_multiples_and_scorecard(limits):
    axes = plots.plot_kpi_small_multiples(limits, kpis=["win_rate", "csat_mean"], ncols=2)
    assert axes.shape == (1, 2)
    assert axes[0, 0].get_title() == "win rate" and not axes[0, 1].axison  # no csat data: panel off
    plt.close(axes[0, 0].figure)
    sc = pd.DataFrame({"KPI": ["win rate", "won revenue"], "this period": ["2.0%", "90"],
                       "status": ["alert", "target missed"]})
    ax = plots.plot_scorecard_table(sc)
    assert isinstance(ax, matplotlib.axes.Axes) and not ax.axison
    tab = ax.tables[0]
    assert tab[1, 0].get_text().get_color() == "#c0392b"               # the alert row in red
    assert tab[2, 2].get_facecolor() != tab[1, 2].get_facecolor()      # the missed target shaded
    assert tab[0, 0].get_facecolor() != tab[1, 0].get_facecolor()      # the header shaded
    plt.close(ax.figure)


def test_money_axis_keeps_narrow_ranges_apart():
    from salesops_kit.plots import monitor as pm

    fig, ax = plt.subplots()
    ax.set_ylim(12_000, 12_300)                      # one average deal of 12,117: ticks must differ
    ax.yaxis.set_major_formatter(pm._formatter("avg_won_deal_size"))
    labels = [ax.yaxis.get_major_formatter()(v) for v in (12_000, 12_100, 12_200)]
    assert labels == ["12,000", "12,100", "12,200"]
    ax.set_ylim(0, 90_000)
    assert ax.yaxis.get_major_formatter()(25_000) == "25k"
    plt.close(fig)
