"""Rep coaching topic (notebook 04): scorecards, fair rep comparisons (shrinkage, FDR), response
drivers and coaching findings."""

from . import drivers
from ._findings import coaching_findings, fdr_note
from ._kpis import kpi_rows, kpi_windows
from ._tables import by_currency_table, differences_table, late_response_table, response_tables, scorecard_table
from .drivers import EXPLAINED_MIN, Drivers, response_drivers
from .scorecard import (
    COMPARED_METRICS,
    LEAD_MATURITY_DAYS,
    MIN_N,
    RepComparison,
    Scorecard,
    compare_reps,
    flag_reps,
    no_overdispersion_note,
    not_available,
    quota_reconciliation,
    quota_window,
    quota_window_label,
    scorecard,
    stage_conversion_by_rep,
    stage_conversion_reason,
)

__all__ = ["Scorecard", "RepComparison", "scorecard", "compare_reps", "flag_reps", "coaching_findings",
           "kpi_rows", "stage_conversion_by_rep", "stage_conversion_reason", "MIN_N", "LEAD_MATURITY_DAYS",
           "COMPARED_METRICS", "not_available", "Drivers", "response_drivers", "EXPLAINED_MIN", "drivers", "fdr_note",
           "kpi_windows", "quota_window", "quota_window_label", "quota_reconciliation", "scorecard_table",
           "differences_table", "response_tables", "late_response_table", "by_currency_table",
           "no_overdispersion_note"]
