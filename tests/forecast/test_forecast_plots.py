"""Forecast charts (issue 5): each returns the Axes it drew on (Agg backend), empty inputs draw a titled Axes."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from salesops_kit import plots  # noqa: E402
from salesops_kit.forecast import backtest, forecast, seasonal_profile  # noqa: E402

FACT = np.array([0.9, 0.75, 0.95, 1.0, 1.0, 0.95, 1.3, 1.3, 1.25, 0.95, 0.85, 0.8])


@pytest.fixture(scope="module")
def series():
    t = np.arange(48)
    return pd.Series(1000 * 1.01 ** t * FACT[t % 12], index=pd.period_range("2021-01", periods=48, freq="M"))


def test_seasonal_index_and_subseries(series):
    p = seasonal_profile(series)
    fig, ax = plt.subplots()
    out = plots.plot_seasonal_index(p, ax=ax)
    assert out is ax and len(ax.patches) == 12
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["Jan", "Feb"]
    assert len(plots.plot_seasonal_index(p, by="quarter").patches) == 4
    ax2 = plots.plot_seasonal_subseries(series)
    assert len(ax2.lines) == 12
    ax3 = plots.plot_decomposition(p)
    assert len(ax3.lines) == 2
    # two panels, never a second y-axis on one: the ratio bars are on their own Axes below
    assert len(ax3.figure.axes) == 2 and len(ax3.figure.axes[1].patches) == 48 and not ax3.patches
    plt.close("all")


def test_fan_chart_backtest_and_empty(series):
    fc = forecast(series, horizon=6, method="seasonal_naive")
    ax = plots.plot_forecast_fan(series, fc.table)
    assert len(ax.collections) == 2 and len(ax.lines) == 2
    ax = fc.plot(history=series)  # the result draws the same chart
    assert len(ax.collections) == 2 and len(ax.lines) == 2 and "seasonal_naive" in ax.get_legend_handles_labels()[1][-1]
    assert len(fc.plot().lines) == 1  # without history: the forecast alone
    bt = backtest(series, horizon=6, folds=2, methods=("seasonal_naive", "theta", "ets"))
    ax = plots.plot_backtest(bt)   # one panel per origin: the actuals and seasonal naive only (combo not run)
    panels = ax.figure.axes
    # 48 months to 2024-12, 6 held back at each of 2 origins: training ends 2023-12 and 2024-06
    assert len(panels) == 2 and [a.get_title() for a in panels] == ["data to 2023-12", "data to 2024-06"]
    assert all(len(a.lines) == 2 for a in panels)                       # actual + seasonal naive, not 3 methods
    ax = plots.plot_backtest(bt, methods=("theta", "seasonal_naive"))
    assert all(len(a.lines) == 3 and len(a.collections) == 1 for a in ax.figure.axes)   # theta's 80% band
    # a partial last month is drawn hollow and unjoined, never as a crash
    hist = pd.DataFrame({"period": series.index.to_timestamp(), "value": series.to_numpy(),
                         "complete": [True] * 47 + [False]})
    ax = plots.plot_forecast_fan(hist, fc.table, unit="USD")
    joined = ax.lines[0]
    assert len(joined.get_xdata()) == 47 and ax.get_ylabel() == "amount (USD)"
    assert ax.lines[1].get_linestyle() == "None" and len(ax.lines[1].get_xdata()) == 1
    empty = seasonal_profile(series.iloc[:10])
    assert "not enough" in plots.plot_seasonal_index(empty).get_title()
    plt.close("all")


def test_pipeline_plot():
    from test_pipeline import S, data  # tests/ is on sys.path (rootdir-less test modules)

    from salesops_kit.forecast.pipeline import pipeline_forecast

    opp, sh = data()
    pf = pipeline_forecast(opp, as_of="2024-03-20", stage_history=sh, stages=S, n_sims=200, horizon_months=3)
    ax = plots.plot_pipeline_forecast(pf)
    assert len(ax.patches) == 3 and ax.get_ylabel() == "bookings"
    plt.close("all")
