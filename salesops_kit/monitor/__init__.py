"""KPI monitoring topic (notebook 05): KPI series per period and segment, period-over-period and
year-over-year changes, targets and attainment, control-chart alerts and the operating review; where the revenue comes
from (revenue and win rate by product, region and account size, the accounts' Pareto view, won revenue by month
against a year earlier)."""

from ._findings import alert_events, alert_findings, limits_text, review_findings, source_findings
from ._kpis import kpi_rows, kpis_table, kpis_text, tables_used
from ._series import kpi_windows
from .review import (
    CHANGE_COLUMNS,
    KPI_SPECS,
    TARGET_COLUMNS,
    KPISpec,
    MonitorReview,
    attainment,
    change_sentence,
    changes,
    default_targets,
    fmt,
    kpi_series,
    last_complete_period,
    owner_teams,
    read_targets,
    review,
    seasonal_factors,
    targets_from_quotas,
    write_default_targets,
)
from .sources import RevenueSources, lorenz, revenue_sources, size_band, top_share

__all__ = ["owner_teams", "KPI_SPECS", "KPISpec", "kpi_series", "changes", "change_sentence", "fmt", "read_targets",
           "targets_from_quotas", "attainment", "default_targets", "write_default_targets", "seasonal_factors",
           "review", "MonitorReview", "alert_events", "alert_findings", "review_findings", "kpi_rows",
           "kpi_windows", "kpis_text", "revenue_sources", "RevenueSources", "source_findings", "size_band",
           "lorenz", "top_share", "kpis_table", "tables_used",
           "last_complete_period", "limits_text",
           "CHANGE_COLUMNS", "TARGET_COLUMNS"]
