"""Seasonality and forecasting topic (notebook 03): monthly series, seasonal profile, forecast
members and backtests, working-day calendars and the bottom-up pipeline forecast."""

from . import calendar, pipeline
from ._findings import findings
from ._kpis import kpi_rows
from .check import ForecastPlan, plan_forecast
from .limits import complete_months, forecast_limit, pattern_limit
from .models import Forecast
from .pipeline import AGE_BINS, PipelineForecast, pipeline_forecast
from .seasonal import (
    BacktestResult,
    SeasonalProfile,
    as_series,
    backtest,
    bookings_series,
    forecast,
    forecast_window,
    history_window,
    monthly_series,
    quarter_label,
    seasonal_profile,
    total_interval,
)

__all__ = ["monthly_series", "bookings_series", "seasonal_profile", "SeasonalProfile", "forecast", "Forecast",
           "backtest", "BacktestResult", "as_series", "findings", "kpi_rows", "pipeline_forecast", "PipelineForecast",
           "AGE_BINS", "calendar", "pipeline", "total_interval", "complete_months", "forecast_limit",
           "pattern_limit", "plan_forecast", "ForecastPlan", "quarter_label",
           "forecast_window", "history_window"]
