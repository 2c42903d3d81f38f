"""Monitoring on real-shaped exports (issue 14): money per currency without rates, and sections the data cannot
support (too few periods for control limits, no year-earlier period) say so in one sentence instead of an
empty chart or an 'all clear'."""

import warnings

import numpy as np
import pandas as pd

from salesops_kit import load_dataset, monitor
from salesops_kit.kpis import kpi_frame

warnings.filterwarnings("ignore", category=FutureWarning)

# Oct: COP won 4,000,000 (O1) and USD won 100 + 300 (O2, O3); Nov: COP won 2,000,000 (O5), USD won 50 (O6)
OPPS = """opportunity_id,owner,stage,amount,currency,created_date,close_date
O1,Ann,Closed Won,4000000,COP,2025-09-01,2025-10-03
O2,Ann,Closed Won,100,USD,2025-09-01,2025-10-10
O3,Ben,Closed Won,300,usd,2025-09-05,2025-10-20
O4,Ben,Closed Lost,70,USD,2025-09-05,2025-11-02
O5,Ann,Closed Won,2000000,COP,2025-10-01,2025-11-05
O6,Ben,Closed Won,50,USD,2025-10-01,2025-11-28
O7,Ann,Proposal,80,USD,2025-11-01,
"""


def _ds(tmp_path, mapping=None):
    (tmp_path / "opportunities.csv").write_text(OPPS)
    return load_dataset(tmp_path, as_of="2025-12-15", mapping=mapping or "canonical")


def test_money_series_are_per_currency_without_rates(tmp_path):
    s = monitor.kpi_series(_ds(tmp_path))
    money = s[s["kpi"].isin(["won_revenue", "avg_won_deal_size"])]
    # no company, owner or source series adds pesos to dollars: only currency=XXX (codes read case-blind)
    assert set(money["segment"]) == {"currency=COP", "currency=USD"}
    rev = money[money["kpi"] == "won_revenue"].set_index(["segment", "period"])["value"]
    assert rev[("currency=COP", pd.Timestamp("2025-10-01"))] == 4_000_000
    assert rev[("currency=USD", pd.Timestamp("2025-10-01"))] == 400
    assert rev[("currency=USD", pd.Timestamp("2025-11-01"))] == 50
    # counts and rates stay company-wide: 3 of 3 closed won in October
    wr = s[(s["kpi"] == "win_rate") & (s["segment"] == "all")].set_index("period")["value"]
    assert wr[pd.Timestamp("2025-10-01")] == 1.0


def test_money_kpi_rows_per_currency_in_their_code(tmp_path):
    ds = _ds(tmp_path)
    rv = monitor.review(ds, targets=False)
    assert any("2 currencies (COP, USD)" in n for n in rv.notes)
    k = kpi_frame(monitor.kpi_rows(ds, reviewed=rv))
    money = k[k["kpi"].str.startswith(("won_revenue", "avg_won_deal_size"))]
    assert len(money) and set(money["segment"]) <= {"currency=COP", "currency=USD"}
    cop = money[(money["kpi"] == "won_revenue_change_pop") & (money["segment"] == "currency=COP")].iloc[0]
    assert cop["value"] == 2_000_000 - 4_000_000 and cop["unit"] == "COP"
    assert "currency" not in set(k["unit"])


def test_with_rates_money_is_one_company_series(tmp_path):
    ds = _ds(tmp_path, mapping={"extends": "canonical", "currency": {"report": "USD", "rates": {"COP": 0.00025}}})
    s = monitor.kpi_series(ds)
    rev = s[(s["kpi"] == "won_revenue") & (s["segment"] == "all")].set_index("period")["value"]
    assert rev[pd.Timestamp("2025-10-01")] == 4_000_000 * 0.00025 + 400


def test_too_few_periods_say_so_and_draw_nothing(tmp_path):
    rv = monitor.review(_ds(tmp_path), targets=False)
    # three months of data: no control limit, no year-earlier period, nothing to judge
    assert not rv.limits["testable"].any()
    assert rv.charts_reason.startswith("No control chart") and "3 period(s)" in rv.charts_reason
    assert rv.yoy_reason.startswith("No year-over-year comparison")
    f = rv.findings()  # October vs November was tested, but no alert could be raised: not an 'all clear'
    assert len(f) == 0 and "no alert can be raised yet" in f.empty and not f.empty.startswith("No alert")


def test_enough_periods_have_no_reason(tmp_path):
    rows = ["opportunity_id,owner,stage,amount,created_date,close_date"]
    rng = np.random.default_rng(0)
    for m in range(1, 25):  # two years of monthly deals: limits and a year-earlier period exist
        for i in range(6):
            won = rng.random() < 0.5
            rows.append(f"D{m}_{i},Ann,{'Closed Won' if won else 'Closed Lost'},100,2024-{1 + (m - 1) % 12:02d}-01,"
                        f"{2024 + (m - 1) // 12}-{1 + (m - 1) % 12:02d}-15")
    (tmp_path / "opportunities.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(tmp_path, as_of="2026-01-10")
    rv = monitor.review(ds, targets=False)
    assert rv.charts_reason == "" and rv.yoy_reason == ""
    alerts = [r for r in monitor.kpi_rows(ds, reviewed=rv) if r["kpi"] == "alerts"]
    assert alerts and alerts[0]["value"] == len(rv.alerts)


def test_review_sentences_follow_the_report_language(tmp_path, monkeypatch):
    ds = _ds(tmp_path)
    monkeypatch.setenv("SALESOPS_LANG", "zh")
    rv = monitor.review(ds, targets=False)
    assert rv.headline().startswith("2025年11月 评审") and "最近 12 个周期" in rv.headline()  # the month by name
    assert any(n.startswith("只有 3 个周期的数据") for n in rv.notes)
    assert rv.charts_reason.startswith("不绘制控制图") and rv.yoy_reason.startswith("无同比比较")


def test_money_changes_of_one_currency_are_in_its_code(tmp_path):
    ds = _ds(tmp_path, mapping={"extends": "canonical", "currency": {"report": "USD", "rates": {"COP": 0.00025}}})
    k = kpi_frame(monitor.kpi_rows(ds, reviewed=monitor.review(ds, targets=False)))
    rev = k[(k["kpi"] == "won_revenue_change_pop") & (k["segment"] == "all")].iloc[0]
    # November 2,000,000 COP + 50 USD = 550 USD vs October 1,400 USD
    assert rev["value"] == 2_000_000 * 0.00025 + 50 - (4_000_000 * 0.00025 + 400) and rev["unit"] == "USD"
    assert set(k.loc[k["kpi"] == "win_rate_change_pop", "unit"]) == {"KPI units"}


def test_quotas_without_rates_over_several_currencies_say_so(tmp_path):
    (tmp_path / "quotas.csv").write_text("owner,period_start,quota\nAnn,2025-11-01,400\n")
    rv = monitor.review(_ds(tmp_path), targets=False)
    assert any(n.startswith("Quotas are not compared with won revenue") for n in rv.notes)
    at = rv.attainment
    won = at[at["kpi"] == "won_revenue"] if len(at) else at
    assert won["attainment"].isna().all()                             # no attainment of a mixed total
