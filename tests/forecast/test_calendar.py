"""Working days per month (issue 5): China's official calendar with make-up working days, US, normalisation."""

import pandas as pd
import pytest

from salesops_kit.forecast.calendar import normalise_working_days, spring_festival_dates, working_days


def _row(country, month):
    w = working_days(month, month, country=country)
    assert len(w) == 1
    return w.iloc[0]


def test_china_february_2024_make_up_sundays():
    # Official 2024 schedule (State Council notice): Spring Festival Feb 10-17 off, Sundays Feb 4 and
    # Feb 18 are working days. February 2024: 21 weekdays - Feb 12,13,14,15,16 (5) + 2 make-up = 18.
    r = _row("CN", "2024-02-01")
    assert r["working_days"] == 18
    assert r["makeup_workdays"] == 2
    assert r["holidays_on_weekdays"] == 5
    assert bool(r["spring_festival"])


def test_china_october_2024_make_up_saturday():
    # National Day Oct 1-7; Saturday Oct 12 is a working day (Sunday Sep 29 falls in September).
    # 23 weekdays - Oct 1,2,3,4,7 (5) + Oct 12 = 19.
    r = _row("CN", "2024-10-01")
    assert (r["working_days"], r["makeup_workdays"]) == (19, 1)
    assert not bool(r["spring_festival"])


def test_china_january_2023_and_2025_spring_festival_in_january():
    # Jan 2023: 22 weekdays - Jan 2 and Jan 23-27 (6) + Sat Jan 28, Sun Jan 29 = 18; LNY Jan 22.
    r = _row("CN", "2023-01-01")
    assert (r["working_days"], r["makeup_workdays"]) == (18, 2) and bool(r["spring_festival"])
    # Jan 2025: 23 weekdays - Jan 1, Jan 28-31 (5) + Sun Jan 26 = 19; Feb 2025: 20 - Feb 3,4 + Sat Feb 8 = 19.
    w = working_days("2025-01-15", "2025-02-10", country="CN")
    assert w["working_days"].tolist() == [19, 19]
    assert w["spring_festival"].tolist() == [True, False]


def test_china_2024_total_is_official_251():
    w = working_days("2024-01-01", "2024-12-31", country="CN")
    assert len(w) == 12 and w["working_days"].sum() == 251
    assert w["month"].is_monotonic_increasing


def test_us_july_2024():
    # 23 weekdays - Independence Day (Thursday) = 22; no make-up days, no Spring Festival outside CN.
    r = _row("US", "2024-07-01")
    assert (r["working_days"], r["makeup_workdays"], bool(r["spring_festival"])) == (22, 0, False)
    assert "Independence Day" in r["holiday_names"]


def test_spring_festival_dates():
    sf = spring_festival_dates([2023, 2024, 2025])
    assert [d.date().isoformat() for d in sf] == ["2023-01-22", "2024-02-10", "2025-01-29"]


def test_normalise_working_days_by_hand():
    s = pd.DataFrame({"period": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
                      "value": [220.0, 180.0, 210.0]})
    before = s.copy()
    out = normalise_working_days(s, country="CN")
    pd.testing.assert_frame_equal(s, before)
    # working days 22, 18, 21 -> per day 10, 10, 10; mean 61/3 -> normalised 10 * 61/3 each
    assert out["working_days"].tolist() == [22, 18, 21]
    assert out["value_per_working_day"].tolist() == pytest.approx([10, 10, 10])
    assert out["value_normalised"].tolist() == pytest.approx([10 * 61 / 3] * 3)
    assert out["spring_festival"].tolist() == [False, True, False]


def test_normalise_accepts_series_and_empty():
    s = pd.Series([1.0, 2.0], index=pd.period_range("2024-01", periods=2, freq="M"))
    assert normalise_working_days(s)["working_days"].tolist() == [22, 18]
    e = normalise_working_days(pd.DataFrame({"period": pd.Series(dtype="datetime64[ns]"),
                                             "value": pd.Series(dtype=float)}))
    assert e.empty and "value_normalised" in e


def test_errors_and_empty():
    with pytest.raises(ValueError, match="holidays package"):
        working_days("2024-01-01", "2024-02-01", country="XX")
    assert working_days("2024-03-01", "2024-01-01").empty
    with pytest.raises(ValueError, match="period, value"):
        normalise_working_days(pd.DataFrame({"x": [1]}))


class _DS:
    """The two things default_country reads: the mapping's raw dict and the money tables' currency codes."""

    def __init__(self, mapping, currency):
        self.mapping = mapping
        self.tables = {"opportunities": pd.DataFrame({"currency": currency, "amount": [1.0] * len(currency)})}


def test_default_country_from_mapping_then_currency():
    from salesops_kit.forecast.calendar import default_country

    assert default_country(_DS({}, ["CNY", "CNY"]))[0] == "CN"
    us, why = default_country(_DS({}, ["USD"]))
    assert us == "US" and "USD" in why                                  # no Chinese holidays on a US company
    assert default_country(_DS({}, ["EUR"]))[0] is None                 # EUR: many countries, none unless stated
    assert default_country(_DS({"calendar": {"country": "de"}}, ["EUR"]))[0] == "DE"
    assert default_country(_DS({"calendar": {"country": "CN"}}, ["USD"]))[0] == "CN"   # the mapping wins
    assert default_country(_DS({"calendar": {"country": "none"}}, ["CNY"]))[0] is None
    assert default_country(_DS({}, ["USD", "CNY"]))[0] is None          # several currencies: no guess


def test_calendar_block_is_checked_at_load():
    from salesops_kit.data.mapping import MappingError, calendar_country, load_mapping

    assert calendar_country({"country": "cn"}) == "CN" and calendar_country(None) is None
    with pytest.raises(MappingError, match="calendar"):
        load_mapping({"extends": "canonical", "calendar": "CN"})
    with pytest.raises(MappingError, match="country"):
        load_mapping({"extends": "canonical", "calendar": {"contry": "CN"}})


def test_no_country_means_weekends_only():
    # July 2024: 23 weekdays, Independence Day is not a holiday without a calendar
    r = working_days("2024-07-01", "2024-07-01", country=None).iloc[0]
    assert (r["working_days"], r["holidays_on_weekdays"], r["holiday_names"]) == (23, 0, "")
