"""Rep coaching topic (notebook 04): scorecards, fair rep comparisons (shrinkage, FDR), response
drivers and coaching findings."""

from . import drivers
from ._findings import coaching_findings
from ._kpis import kpi_rows
from .drivers import EXPLAINED_MIN, Drivers, response_drivers
from .scorecard import (
    COMPARED_METRICS,
    LEAD_MATURITY_DAYS,
    MIN_N,
    RepComparison,
    Scorecard,
    compare_reps,
    flag_reps,
    not_available,
    scorecard,
    stage_conversion_by_rep,
    stage_conversion_reason,
)

__all__ = ["Scorecard", "RepComparison", "scorecard", "compare_reps", "flag_reps", "coaching_findings",
           "kpi_rows", "stage_conversion_by_rep", "stage_conversion_reason", "MIN_N", "LEAD_MATURITY_DAYS",
           "COMPARED_METRICS", "not_available", "Drivers", "response_drivers", "EXPLAINED_MIN", "drivers"]
