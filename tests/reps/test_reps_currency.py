"""Rep coaching on real-shaped exports (issue 14): money never summed across currencies, and a comparison the
data cannot support (one rep, no rep with enough trials) says so in one sentence instead of a chart."""

import numpy as np

from salesops_kit import load_dataset, reps

# Ann: won 4,000,000 COP (a) and 100 USD (b), open 900 USD (e); Ben: won 300 USD (c), lost (d)
OPPS = """opportunity_id,owner,stage,amount,currency,created_date,close_date
a,Ann,Closed Won,4000000,COP,2025-01-05,2025-02-10
b,Ann,Closed Won,100,USD,2025-01-05,2025-02-20
c,Ben,Closed Won,300,usd,2025-01-05,2025-02-15
d,Ben,Closed Lost,70,USD,2025-01-05,2025-02-25
e,Ann,Proposal,900,USD,2025-03-01,
"""


def _ds(tmp_path, text=OPPS, mapping=None):
    (tmp_path / "opportunities.csv").write_text(text)
    return load_dataset(tmp_path, as_of="2025-03-20", mapping=mapping or "canonical")


def test_scorecard_money_is_per_currency_without_rates(tmp_path):
    card = reps.scorecard(_ds(tmp_path))
    t = card.table.set_index("owner")
    assert str(t.loc["Ann", "won_revenue"]).startswith("not available: amounts in 2 currencies (COP, USD)")
    assert "won_revenue" in card.notes and "avg_won_deal_size_company" in card.notes
    assert t.loc["Ann", "deals_won"] == 2 and t.loc["Ben", "win_rate"] == 0.5       # counts stay per rep
    m = card.by_currency.set_index(["owner", "currency"])
    assert m.loc[("Ann", "COP"), "won_revenue"] == 4_000_000 and m.loc[("Ann", "USD"), "won_revenue"] == 100
    assert m.loc[("Ann", "USD"), "open_pipeline"] == 900 and m.loc[("Ben", "USD"), "avg_won_deal_size"] == 300
    assert ("Ben", "COP") not in m.index                                            # no deal there


def test_scorecard_with_rates_or_one_currency_has_no_split(tmp_path):
    one = _ds(tmp_path, OPPS.replace("COP", "USD"))
    card = reps.scorecard(one)
    assert card.by_currency.empty and card.table.set_index("owner").loc["Ann", "won_revenue"] == 4_000_100


def test_comparison_without_enough_data_gives_one_sentence(tmp_path):
    comp = reps.compare_reps(_ds(tmp_path))
    why = comp.chart_reason("win_rate")
    assert why.startswith("No win rate comparison: no rep has 30 or more trials (the most is 2)")
    rows = ["opportunity_id,owner,stage,amount,created_date,close_date"]
    rows += [f"x{i},Solo,{'Closed Won' if i % 2 else 'Closed Lost'},10,2025-01-01,2025-02-01" for i in range(40)]
    (tmp_path / "opportunities.csv").write_text("\n".join(rows) + "\n")
    solo = reps.compare_reps(load_dataset(tmp_path, as_of="2025-03-20"))
    assert solo.chart_reason("win_rate").startswith("No win rate comparison: 1 rep(s) with data")


def test_enough_reps_and_trials_have_no_reason(tmp_path):
    rng = np.random.default_rng(1)
    rows = ["opportunity_id,owner,stage,amount,created_date,close_date"]
    for r in ("A", "B", "C"):
        rows += [f"{r}{i},{r},{'Closed Won' if rng.random() < 0.4 else 'Closed Lost'},10,2025-01-01,2025-02-01"
                 for i in range(35)]
    (tmp_path / "opportunities.csv").write_text("\n".join(rows) + "\n")
    assert reps.compare_reps(load_dataset(tmp_path, as_of="2025-03-20")).chart_reason("win_rate") == ""


def test_scorecard_sentences_follow_the_report_language(tmp_path, monkeypatch):
    ds = _ds(tmp_path)
    monkeypatch.setenv("SALESOPS_LANG", "zh")
    card = reps.scorecard(ds)
    assert card.headline().startswith("1 个团队共 2 名销售代表，已关闭 4 个商机（截至 2025-03-20 的全部数据）")
    assert card.table["leads"].iloc[0] == "不可用：没有 leads 表"
    comp = reps.compare_reps(ds, card=card)
    assert comp.headline().startswith("低于公司其他人的销售代表：0 名")
    assert comp.chart_reason().startswith("不比较赢单率")


def test_a_handful_of_deals_gets_an_honest_shrunk_interval(tmp_path):
    # 1 of 1, 1 of 1, 0 of 2: maximum likelihood runs to no pooling (prior mass at 0 and 1) and gave the reps
    # with one won deal a 95% interval of 100% to 100%; the prior is kept at least as strong as a uniform one
    rows = ["opportunity_id,owner,stage,amount,created_date,close_date",
            "a,A,Closed Won,1,2025-01-01,2025-02-01", "b,B,Closed Won,1,2025-01-01,2025-02-01",
            "c,C,Closed Lost,1,2025-01-01,2025-02-01", "d,C,Closed Lost,1,2025-01-01,2025-02-01"]
    (tmp_path / "opportunities.csv").write_text("\n".join(rows) + "\n")
    comp = reps.compare_reps(load_dataset(tmp_path, as_of="2025-03-20"))
    fit = comp.fits.iloc[0]
    assert fit["concentration"] == 2.0 and "raised to 2" in fit["method"]
    a = comp.table.set_index("owner").loc["A"]
    # posterior Beta(2 m + 1, 2 (1 - m)) with m the fitted mean: its 95% interval is wide, not 100%-100%
    assert a["shrunk_low"] < 0.5 and a["shrunk_high"] > 0.95 and 0.5 < a["shrunk_rate"] < 1
