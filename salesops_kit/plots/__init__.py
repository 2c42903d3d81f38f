"""Every chart of the kit: ``plot_<thing>(data, *, ..., ax=None, **kwargs) -> matplotlib Axes``.

Charts draw only through ``ax`` (a new figure when None) and never call ``plt.show``. They are
split by topic into submodules and re-exported here, so ``from salesops_kit import plots`` gives all.
This package sits above the topics: it imports no topic module (a result's ``.plot()`` imports its
chart inside the method), and at import time it loads matplotlib and the kit's labels only.
"""

from ._base import get_ax
from .audit import plot_audit_bars, plot_coverage
from .costs import (
    plot_cac_trend,
    plot_cac_vs_ltv,
    plot_estimates,
    plot_holdout_calibration,
    plot_p_alive_matrix,
    plot_retention_heatmap,
    plot_survival,
)
from .forecast import (
    plot_backtest,
    plot_decomposition,
    plot_forecast_fan,
    plot_pipeline_forecast,
    plot_seasonal_index,
    plot_seasonal_subseries,
)
from .funnel import (
    plot_calibration,
    plot_conversion_heatmap,
    plot_coverage_history,
    plot_cumulative_incidence,
    plot_funnel,
    plot_funnel_amounts,
    plot_loss_reasons,
    plot_pipeline_by_stage,
    plot_pushed_share,
)
from .monitor import (
    plot_control_chart,
    plot_kpi_small_multiples,
    plot_pareto,
    plot_revenue_shares,
    plot_revenue_yoy_months,
    plot_scorecard_table,
    plot_win_rates_by_source,
)
from .reps import (
    plot_rep_funnel,
    plot_rep_leaderboard,
    plot_rep_stage_heatmap,
    plot_response_conversion,
    plot_win_rate_bars,
)
from .value import plot_rfm_grid, plot_segment_migration, plot_value_concentration

__all__ = [
    "get_ax",
    # data audit
    "plot_coverage", "plot_audit_bars",
    # funnel
    "plot_funnel", "plot_conversion_heatmap", "plot_cumulative_incidence", "plot_calibration", "plot_pipeline_by_stage",
    "plot_funnel_amounts",
    "plot_coverage_history", "plot_pushed_share", "plot_loss_reasons",
    # costs and customer value
    "plot_retention_heatmap", "plot_cac_vs_ltv", "plot_cac_trend", "plot_holdout_calibration",
    "plot_p_alive_matrix", "plot_survival", "plot_estimates", "plot_rfm_grid", "plot_value_concentration",
    "plot_segment_migration",
    # seasonality and forecasting
    "plot_seasonal_index", "plot_seasonal_subseries", "plot_decomposition", "plot_forecast_fan", "plot_backtest",
    "plot_pipeline_forecast",
    # reps
    "plot_rep_leaderboard", "plot_rep_funnel", "plot_rep_stage_heatmap", "plot_response_conversion",
    "plot_win_rate_bars",
    # monitoring
    "plot_control_chart", "plot_kpi_small_multiples", "plot_scorecard_table", "plot_pareto", "plot_revenue_yoy_months",
    "plot_win_rates_by_source", "plot_revenue_shares",
]
