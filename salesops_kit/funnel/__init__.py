"""Funnel topic (notebook 01): stage and lead funnels, win rate, velocity, bottlenecks, stage
calibration, the sales cycle, and the pipeline in money with its coverage of quota (and the quota-period rules the
rep scorecard shares)."""

from ._bottlenecks import DEFAULT_SEGMENTS, Bottlenecks, bottlenecks
from ._findings import MIN_DEALS, funnel_findings, funnel_note
from ._history_findings import history_findings
from ._kpis import kpi_rows, show_kpis
from .calibration import Calibration, stage_calibration, stalled_deals, time_in_stage
from .cycle import NAIVE_LABEL, SalesCycle, aalen_johansen, cycle_counts, median_days_to_win, sales_cycle
from .loss_reasons import NO_REASON, LossReasons, loss_reason_note, loss_reasons
from .metrics import (
    DAYS_PER_MONTH,
    LEAD_FUNNEL_COLUMNS,
    LEAD_MATURITY_DAYS,
    LeadFunnel,
    SalesVelocity,
    deal_totals,
    lead_funnel,
    lead_maturity_cutoff,
    lead_maturity_window,
    open_pipeline,
    sales_velocity,
    won_revenue,
)
from .pipeline import (
    Coverage,
    FunnelAmounts,
    PipelineByStage,
    current_quota_rows,
    funnel_amounts,
    owner_teams,
    pipeline_by_stage,
    pipeline_coverage,
    quota_frame,
    quota_window_label,
)
from .slippage import Slippage, slippage, slippage_note
from .stages import FUNNEL_TYPES, WIN_RATE_DEFINITIONS, StageFunnel, WinRate, deal_groups, stage_funnel, win_rate

__all__ = ["StageFunnel", "stage_funnel", "deal_groups", "win_rate", "WinRate", "lead_funnel", "LeadFunnel",
           "sales_velocity", "SalesVelocity", "kpi_rows", "WIN_RATE_DEFINITIONS", "FUNNEL_TYPES", "deal_totals",
           "won_revenue", "funnel_findings", "LEAD_FUNNEL_COLUMNS", "DAYS_PER_MONTH", "Bottlenecks", "bottlenecks",
           "DEFAULT_SEGMENTS", "Calibration", "stage_calibration", "time_in_stage", "stalled_deals", "SalesCycle",
           "sales_cycle", "cycle_counts", "aalen_johansen", "median_days_to_win", "NAIVE_LABEL",
           "funnel_note", "MIN_DEALS", "LEAD_MATURITY_DAYS", "lead_maturity_cutoff", "lead_maturity_window",
           "open_pipeline", "show_kpis", "PipelineByStage", "pipeline_by_stage", "Coverage", "pipeline_coverage",
           "quota_frame", "current_quota_rows", "quota_window_label", "owner_teams", "FunnelAmounts", "funnel_amounts",
           "Slippage", "slippage", "slippage_note", "LossReasons", "loss_reasons", "loss_reason_note", "NO_REASON",
           "history_findings"]
