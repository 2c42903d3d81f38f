"""KPI monitoring topic (notebook 05): KPI series per period and segment, period-over-period and
year-over-year changes, targets and attainment, control-chart alerts and the operating review."""

from ._findings import alert_findings, review_findings
from ._kpis import kpi_rows
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

__all__ = ["owner_teams", "KPI_SPECS", "KPISpec", "kpi_series", "changes", "change_sentence", "fmt", "read_targets",
           "targets_from_quotas", "attainment", "default_targets", "write_default_targets", "seasonal_factors",
           "review", "MonitorReview", "alert_findings", "review_findings", "kpi_rows", "last_complete_period",
           "CHANGE_COLUMNS", "TARGET_COLUMNS"]
