"""Working days per month from the ``holidays`` package, and working-day normalisation.

China's official calendar moves working days onto weekends around Spring Festival and National
Day (调休, make-up working days); ``holidays`` records them (``weekend_workdays``), so the number
of selling days per month is counted the way Chinese companies actually work. Other countries
use the same function (``country="US"``, ``"DE"``, ...; any code ``holidays`` supports).

The module name shadows the standard library's ``calendar`` only for code that imports it as
``salesops_kit.forecast.calendar``; absolute imports elsewhere are unaffected.
"""

from __future__ import annotations

from datetime import date, timedelta

import holidays as _hol
import numpy as np
import pandas as pd

from ..tools.validation import require_columns

__all__ = ["working_days", "normalise_working_days", "spring_festival_dates", "default_country",
           "CURRENCY_COUNTRY"]

_WD_COLUMNS = ["month", "calendar_days", "weekend_days", "holidays_on_weekdays", "makeup_workdays",
               "working_days", "spring_festival", "holiday_names"]


def _country(country: str | None, years, subdiv: str | None):
    if country is None:  # no holiday calendar: Saturday and Sunday off, every weekday a working day
        return _hol.HolidayBase(years=years)
    try:
        return _hol.country_holidays(country, subdiv=subdiv, years=years, language="en_US")
    except NotImplementedError:
        raise ValueError(
            f"country={country!r}: the holidays package has no calendar for it; use an ISO 3166 alpha-2 "
            f"code it supports (e.g. 'CN', 'US', 'GB', 'DE')."
        ) from None
    except (KeyError, ValueError):
        # language not supported for this country: fall back to the country's default language
        return _hol.country_holidays(country, subdiv=subdiv, years=years)


def spring_festival_dates(years) -> pd.Series:
    """First day of Spring Festival (Chinese Lunar New Year) per year, from the CN calendar.

    Returns a Series indexed by year with Timestamps (one per year given).
    """
    years = sorted({int(y) for y in years})
    cn = _country("CN", years, None)
    out = {}
    for y in years:
        days = [d for d in cn.get_named("Spring Festival") if d.year == y]
        out[y] = pd.Timestamp(min(days)) if days else pd.NaT
    return pd.Series(out, name="spring_festival", dtype="datetime64[ns]").rename_axis("year")


def working_days(start, end, *, country: str | None = "CN", subdiv: str | None = None) -> pd.DataFrame:
    """Working days per calendar month between ``start`` and ``end`` (months inclusive).

    A day is a working day when it is a weekday that is not a public holiday, or a weekend day the
    official calendar declares a working day (China's make-up days, ``holidays``'
    ``weekend_workdays``).

    Parameters
    ----------
    start, end : date-like
        Any dates inside the first and last month.
    country : str or None
        ISO code understood by the ``holidays`` package (default ``"CN"``); None: no public holidays, Saturday
        and Sunday off (:func:`default_country` picks it from the mapping or the currency).
    subdiv : str, optional
        State / province code (e.g. ``"CA"`` for US California).

    Returns
    -------
    DataFrame, one row per month, sorted: ``month`` (Timestamp, first day), ``calendar_days``,
    ``weekend_days``, ``holidays_on_weekdays`` (public holidays falling Monday-Friday),
    ``makeup_workdays`` (weekend days declared working days), ``working_days``,
    ``spring_festival`` (bool: the month holds the first day of Spring Festival; always False
    outside ``country="CN"``), ``holiday_names`` ("; "-joined, sorted).
    """
    if start is None or end is None or pd.isna(start) or pd.isna(end):
        return pd.DataFrame(columns=_WD_COLUMNS)
    first = pd.Timestamp(start).to_period("M")
    last = pd.Timestamp(end).to_period("M")
    if last < first:
        return pd.DataFrame(columns=_WD_COLUMNS)
    years = list(range(first.year, last.year + 1))
    cal = _country(country, years, subdiv)
    sf_months = set()
    if str(country).upper() in ("CN", "CHN", "CHINA"):
        sf = spring_festival_dates(years)
        sf_months = {pd.Timestamp(d).to_period("M") for d in sf.dropna()}
    rows = []
    for p in pd.period_range(first, last, freq="M"):
        d0 = date(p.year, p.month, 1)
        n = p.days_in_month
        days = [d0 + timedelta(days=i) for i in range(n)]
        weekend = [d for d in days if cal._is_weekend(d)]  # the country's weekend (Fri-Sat in some)
        weekday_hol = [d for d in days if d not in weekend and d in cal]
        makeup = [d for d in weekend if cal.is_working_day(d)]
        work = sum(cal.is_working_day(d) for d in days)
        names = sorted({cal.get(d) for d in days if d in cal and cal.get(d)})
        rows.append({
            "month": p.to_timestamp(), "calendar_days": n, "weekend_days": len(weekend),
            "holidays_on_weekdays": len(weekday_hol), "makeup_workdays": len(makeup), "working_days": int(work),
            "spring_festival": p in sf_months, "holiday_names": "; ".join(names),
        })
    out = pd.DataFrame(rows, columns=_WD_COLUMNS)
    return out.astype({"calendar_days": "int64", "weekend_days": "int64", "holidays_on_weekdays": "int64",
                       "makeup_workdays": "int64", "working_days": "int64", "spring_festival": "bool"})


def normalise_working_days(series, *, country: str | None = "CN", subdiv: str | None = None) -> pd.DataFrame:
    """Put a monthly series on a per-working-day basis (and rescale to an average month).

    ``value_normalised = value / working_days * mean(working_days)``: a month with fewer selling
    days (Spring Festival, October Golden Week) is no longer read as weak demand.

    Parameters
    ----------
    series : DataFrame with ``period`` (month start) and ``value`` (e.g. from
        :func:`salesops_kit.forecast.monthly_series`), or a pandas Series with a monthly
        DatetimeIndex / PeriodIndex.

    Returns
    -------
    DataFrame sorted by ``period`` with the input columns plus ``working_days``,
    ``value_per_working_day``, ``value_normalised`` and ``spring_festival``. Empty input gives an
    empty frame with these columns.
    """
    if isinstance(series, pd.Series):
        idx = series.index
        per = idx.to_timestamp() if isinstance(idx, pd.PeriodIndex) else pd.DatetimeIndex(idx)
        df = pd.DataFrame({"period": per.to_period("M").to_timestamp(), "value": series.to_numpy(dtype=float)})
    else:
        require_columns(series, ["period", "value"], table="series", purpose="normalise_working_days",
                        hint="Pass the output of forecast.monthly_series (columns period, value) or a pandas Series.")
        df = series.copy()
    cols = list(df.columns) + ["working_days", "value_per_working_day", "value_normalised", "spring_festival"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df.sort_values("period").reset_index(drop=True)
    wd = working_days(df["period"].min(), df["period"].max(), country=country, subdiv=subdiv)
    df["_month"] = pd.to_datetime(df["period"]).dt.to_period("M").dt.to_timestamp()
    m = df.merge(wd[["month", "working_days", "spring_festival"]].rename(columns={"month": "_month"}),
                 on="_month", how="left")
    with np.errstate(divide="ignore", invalid="ignore"):
        m["value_per_working_day"] = m["value"] / m["working_days"].where(m["working_days"] > 0)
    m["value_normalised"] = m["value_per_working_day"] * m["working_days"].mean()
    return m[cols]


# the country whose public holidays a company in this currency most likely keeps; a currency shared by several
# countries (EUR, XOF, ...) names none: set the mapping's ``calendar: {country: ..}`` instead
CURRENCY_COUNTRY = {"CNY": "CN", "RMB": "CN", "USD": "US", "GBP": "GB", "JPY": "JP", "CAD": "CA", "AUD": "AU",
                    "INR": "IN", "BRL": "BR", "MXN": "MX", "KRW": "KR", "CHF": "CH", "SEK": "SE", "NOK": "NO",
                    "DKK": "DK", "PLN": "PL", "SGD": "SG", "HKD": "HK", "TWD": "TW", "NZD": "NZ", "ZAR": "ZA",
                    "COP": "CO", "CLP": "CL", "ARS": "AR", "PEN": "PE", "TRY": "TR", "ILS": "IL", "IDR": "ID"}


def default_country(ds) -> tuple[str | None, str]:
    """The holiday calendar's country for a dataset and why: the mapping's ``calendar: {country: CN}`` when given
    (``country: none`` for no holidays), else inferred from the data's single currency (CNY -> CN, USD -> US;
    EUR and other shared currencies -> none). Returns ``(country or None, reason)``; None means weekends only."""
    from ..data.currency import single_currency
    from ..data.mapping import calendar_country
    from ..i18n import tr  # the reason is printed on the page: in the report language

    block = (getattr(ds, "mapping", None) or {}).get("calendar")
    if block:
        c = calendar_country(block)
        return c, (tr("Holiday calendar: calendar.country {c} from the mapping.", c=c) if c
                   else tr("Holiday calendar: none (the mapping's calendar says no country)."))
    cur = single_currency(ds)
    c = CURRENCY_COUNTRY.get(str(cur).upper()) if cur else None
    if c:
        return c, tr("Holiday calendar: country {c}, inferred from the currency {cur} (set calendar: "
                     "{{country: ..}} in the mapping to change it).", c=c, cur=cur)
    if cur:
        return None, tr("Holiday calendar: none, the currency {cur} is used in several countries; set calendar: "
                        "{{country: ..}} in the mapping.", cur=cur)
    return None, tr("Holiday calendar: none, the data has no single currency; set calendar: {{country: ..}} in the "
                    "mapping.")
