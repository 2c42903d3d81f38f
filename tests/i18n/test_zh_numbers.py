"""Chinese number conventions (issue 19, part 4): money in 万 / 亿 with its currency, months as 2025年11月, days as
2025年12月15日, percentages unchanged; English keeps the kit's formats."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from salesops_kit.i18n import format_date, format_money, format_month
from salesops_kit.report.pages import format_value


@pytest.mark.parametrize(("value", "currency", "per", "zh"), [
    (28_406_150, "CNY", "", "2,840.6 万元"),  # the example
    (28_406_150, "RMB", "", "2,840.6 万元"),
    (12_345_000, "USD", "", "1,234.5 万 USD"),  # other currencies keep their code
    (284_061_500, "CNY", "", "2.84 亿元"),
    (-150_000, "EUR", "", "-15.0 万 EUR"),
    (99_999, "USD", "", "99,999 USD"),  # under 10 万: in full
    (100_000, "CNY", "", "10.0 万元"),
    (622_324, "USD", "per month", "62.2 万 USD/月"),
    (622_324, "CNY", "per month", "62.2 万元/月"),
    (11_425_795, "", "", "1,142.6 万"),  # currency unknown: the scale only
])
def test_money_in_wan_and_yi(value, currency, per, zh):
    assert format_money(value, currency, "zh", per=per) == zh
    # the Chinese number is the value: 万 = 10^4, 亿 = 10^8
    num = zh.split(" ")[0].replace(",", "")
    scale = 1e8 if "亿" in zh else 1e4 if "万" in zh else 1
    assert float(num) * scale == pytest.approx(value, abs=scale * 0.05)


def test_english_money_is_unchanged():
    assert format_money(28_406_150, "USD", "en") == "28,406,150 USD"
    assert format_money(622_324.4, "USD", "en", per="per month") == "622,324 USD per month"
    assert format_money(float("nan"), "USD", "zh") == format_money(None, "USD", "en") == "–"


@pytest.mark.parametrize("value", ["2025-11", "2025-11-30", pd.Period("2025-11", "M"), dt.date(2025, 11, 3),
                                   pd.Timestamp("2025-11-15")])
def test_months(value):
    assert format_month(value, "zh") == "2025年11月"
    assert format_month(value, "en") == "2025-11"


def test_days():
    assert format_date("2025-12-05", "zh") == "2025年12月5日"
    assert format_date(pd.Timestamp("2025-12-15 10:00"), "zh") == "2025年12月15日"
    assert format_date(dt.date(2025, 12, 15), "en") == "2025-12-15"


def test_kpi_values_on_chinese_pages_use_wan_and_english_pages_keep_todays_format():
    assert format_value(28_406_150.3, "USD", lang="zh") == "2,840.6 万 USD"
    assert format_value(28_406_150.3, "CNY", lang="zh") == "2,840.6 万元"
    assert format_value(622_324.2, "USD per month", lang="zh") == "62.2 万 USD/月"
    assert format_value(28_406_150.3, "USD", lang="en") == "28,406,150 USD"
    assert format_value(622_324.2, "USD per month", lang="en") == "622,324 USD per month"
    # percentages, counts, days and small amounts read the same as before
    assert format_value(0.2848, "rate", lang="zh") == format_value(0.2848, "rate", lang="en") == "28.5%"
    assert format_value(30.35, "USD per customer", lang="zh") == "30.35 USD/客户"
    assert format_value(15_923, "USD", lang="zh") == "15,923 USD"


def test_findings_templates_write_wan_and_chinese_months():
    """A Chinese template asks for 万 / 年月 in its format spec; the English template keeps its own format."""
    from salesops_kit.i18n import tr

    tpl = "CRM weighted pipeline {amount:,.0f}{currency}"
    assert tr(tpl, lang="en", amount=510_119.4, currency=" USD") == "CRM weighted pipeline 510,119 USD"
    assert tr(tpl, lang="zh", amount=510_119.4, currency=" USD") == "CRM 加权管道 51.0 万 USD"
    assert tr(tpl, lang="zh", amount=51_011.9, currency="") == "CRM 加权管道 51,012"  # under 10 万: in full
    span = "{first:%Y-%m} to {last:%Y-%m}"
    first, last = pd.Timestamp("2025-12-01"), pd.Timestamp("2026-11-01")
    assert tr(span, lang="en", first=first, last=last) == "2025-12 to 2026-11"
    assert tr(span, lang="zh", first=first, last=last) == "2025年12月 至 2026年11月"


def test_monitoring_money_in_wan_on_chinese_pages(monkeypatch):
    from salesops_kit.stats.kpi_specs import fmt

    monkeypatch.setenv("SALESOPS_LANG", "en")
    assert fmt(785_959.95, "money") == "785,960" and fmt(0.267, "pct") == "26.7%"
    monkeypatch.setenv("SALESOPS_LANG", "zh")
    assert fmt(785_959.95, "money") == "78.6 万" and fmt(15_115, "money") == "15,115"
    assert fmt(0.267, "pct") == "26.7%" and fmt(52, "int") == "52"
