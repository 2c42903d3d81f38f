"""How much history each part of the seasonality notebook needs, and the one sentence it says when a series has
less (a 12-month forecast from three months drew intervals from -135 to +135 million and a flat chart)."""

from __future__ import annotations

__all__ = ["MIN_PATTERN_MONTHS", "complete_months", "forecast_limit", "pattern_limit"]

# The month-by-month pattern (subseries chart, seasonal profile) needs each calendar month seen twice.
MIN_PATTERN_MONTHS = 24


def complete_months(series) -> int:
    """Complete periods of a :func:`monthly_series` frame (all rows when it has no ``complete`` column)."""
    if series is None or not len(series):
        return 0
    return int(series["complete"].sum()) if "complete" in series else len(series)


def forecast_limit(series, horizon: int = 12) -> str | None:
    """None when ``series`` can support a ``horizon``-month forecast, else the sentence saying why not: a forecast
    here never reaches further ahead than the history goes back (fewer complete months than ``horizon``)."""
    from ..i18n import tr

    n = complete_months(series)
    if n >= horizon:
        return None
    if n == 0:
        return tr("No complete month of history: nothing to forecast.")
    if n == 1:
        return tr("Only 1 complete month of history: too short for a {h}-month forecast (a forecast never reaches "
                  "further ahead than the history goes back), so none is shown.", h=horizon)
    return tr("Only {n} complete months of history: too short for a {h}-month forecast (a forecast never reaches "
              "further ahead than the history goes back), so none is shown.", n=n, h=horizon)


def pattern_limit(series) -> str | None:
    """None when ``series`` has two full years (each calendar month seen twice), else the sentence saying why the
    month-by-month pattern is not drawn."""
    from ..i18n import tr

    n = complete_months(series)
    if n >= MIN_PATTERN_MONTHS:
        return None
    if n == 1:
        return tr("Only 1 complete month of history: the month-by-month pattern needs two full years ({need} months), "
                  "so it is not drawn.", need=MIN_PATTERN_MONTHS)
    return tr("Only {n} complete months of history: the month-by-month pattern needs two full years ({need} months), "
              "so it is not drawn.", n=n, need=MIN_PATTERN_MONTHS)
