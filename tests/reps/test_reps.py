"""Rep scorecard and fair comparison (issue 6): hand-computable frames, missing tables, FDR simulation."""

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from salesops_kit import reps
from salesops_kit.data.load import Dataset, MissingTablesError
from salesops_kit.data.schema import StageModel
from salesops_kit.reps import _scans as scans
from salesops_kit.stats import bh_adjust, wilson_interval

STAGES = StageModel(("Prospecting", "Qualification", "Proposal", "Negotiation"), ("Closed Won",), ("Closed Lost",))
AS_OF = pd.Timestamp("2025-12-15")


def _opp(oid, owner, team, stage, amount, close):
    return dict(opportunity_id=oid, owner=owner, team=team, stage=stage, amount=float(amount),
                created_date=pd.Timestamp("2025-01-01"), close_date=pd.Timestamp(close),
                is_won=stage == "Closed Won", is_closed=stage in ("Closed Won", "Closed Lost"))


def _lead(lid, owner, hours, converted, created="2025-01-01 08:00"):
    c = pd.Timestamp(created)
    return dict(lead_id=lid, created_date=c, source="Web", owner=owner,
                first_response_date=None if hours is None else c + pd.Timedelta(hours=hours),
                opportunity_id=f"O-{lid}" if converted else None)


def hand_ds(drop=()):
    """Two reps, small enough to compute every number by hand (see test_scorecard_by_hand)."""
    opps = pd.DataFrame([
        _opp("A1", "Ann", "X", "Closed Won", 1000, "2025-01-10"),
        _opp("A2", "Ann", "X", "Closed Won", 3000, "2025-01-20"),
        _opp("A3", "Ann", "X", "Closed Won", 2000, "2025-02-05"),
        _opp("A4", "Ann", "X", "Closed Lost", 500, "2025-03-01"),
        _opp("A5", "Ann", "X", "Proposal", 5000, "2026-01-31"),
        _opp("B1", "Bob", "Y", "Closed Won", 4000, "2025-04-01"),
        _opp("B2", "Bob", "Y", "Closed Lost", 100, "2025-04-01"),
        _opp("B3", "Bob", "Y", "Closed Lost", 100, "2025-04-01"),
        _opp("B4", "Bob", "Y", "Closed Lost", 100, "2025-04-01"),
    ])
    leads = pd.DataFrame([
        _lead("L1", "Ann", 0.5, True), _lead("L2", "Ann", 2, True), _lead("L3", "Ann", 30, False),
        _lead("L4", "Ann", None, False), _lead("L5", "Bob", 10, False), _lead("L6", "Bob", 50, False),
        _lead("L7", "Ann", 1, True, created="2025-11-01 08:00"),  # younger than 90 days: not counted
    ])
    acts = pd.DataFrame([
        dict(owner="Ann", activity_date=pd.Timestamp("2025-01-02"), type="call", opportunity_id="A1", lead_id=None),
        dict(owner="Ann", activity_date=pd.Timestamp("2025-01-03"), type="email", opportunity_id="A2", lead_id=None),
        dict(owner="Ann", activity_date=pd.Timestamp("2025-01-01"), type="call", opportunity_id=None, lead_id="L1"),
    ])
    csat = pd.DataFrame([dict(owner=o, score=float(s), survey_date=pd.Timestamp("2025-05-01"), scale_max=5.0)
                         for o, s in (("Ann", 5), ("Ann", 4), ("Ann", 2), ("Bob", 3))])
    quotas = pd.DataFrame([dict(owner="Ann", period_start=pd.Timestamp(m), quota=q)
                           for m, q in (("2025-01-01", 10000.0), ("2025-02-01", 10000.0), ("2025-12-01", 8000.0))])
    tables = dict(opportunities=opps, leads=leads, activities=acts, csat=csat, quotas=quotas)
    for d in drop:
        tables.pop(d)
    return Dataset(tables, {}, pd.DataFrame(), STAGES, AS_OF)


def toy_ds(seed=0, *, names=None, slow=None, reps_n=6, deals=120, leads=400):
    """Reps with equal true rates except ``slow`` (answers late, converts less)."""
    rng = np.random.default_rng(seed)
    names = names or [f"Rep {i:02d}" for i in range(reps_n)]
    opps, lds = [], []
    for i, n in enumerate(names):
        for j in range(deals):
            won = rng.random() < 0.3
            opps.append(_opp(f"O{i}-{j}", n, "East" if i % 2 else "West", "Closed Won" if won else "Closed Lost",
                             1000, "2025-03-01"))
        for j in range(leads):
            hours = rng.exponential(40 if n == slow else 3)
            conv = rng.random() < (0.1 if n == slow else 0.25)
            lds.append(_lead(f"L{i}-{j}", n, hours, conv))
    return Dataset(dict(opportunities=pd.DataFrame(opps), leads=pd.DataFrame(lds)), {}, pd.DataFrame(), STAGES, AS_OF)


def test_scorecard_by_hand():
    ds = hand_ds()
    before = {k: v.copy() for k, v in ds.tables.items()}
    t = reps.scorecard(ds).table.set_index("owner")
    a, b = t.loc["Ann"], t.loc["Bob"]
    # Ann: 3 won of 4 closed; Bob 1 of 4; company 4/8; team X is Ann alone
    assert (a["deals_won"], a["deals_closed"], a["win_rate"]) == (3, 4, 0.75)
    assert b["win_rate"] == 0.25 and a["win_rate_company"] == 0.5 and a["win_rate_team"] == 0.75
    lo, hi = wilson_interval(3, 4)
    assert (a["win_rate_low"], a["win_rate_high"]) == pytest.approx((lo, hi))
    # won revenue 1000 + 3000 + 2000; average won deal 2000 (Bob 4000, company 10000 / 4)
    assert a["won_revenue"] == 6000 and a["avg_won_deal_size"] == 2000
    assert a["avg_won_deal_size_company"] == 2500
    assert (a["open_deals"], a["open_pipeline"]) == (1, 5000)
    # leads old enough: Ann 4 (2 converted), Bob 2 (0); L7 is younger than 90 days
    assert (a["leads"], a["leads_converted"], a["lead_conversion_rate"]) == (4, 2, 0.5)
    assert b["lead_conversion_rate"] == 0 and a["lead_conversion_rate_company"] == pytest.approx(2 / 6)
    # answered leads: Ann 0.5, 2, 30 -> median 2 h; company 0.5, 2, 10, 30, 50 -> 10 h
    assert a["first_response_median_hours"] == pytest.approx(2.0)
    assert a["first_response_median_hours_company"] == pytest.approx(10.0)
    # 2 deal activities / 5 deals created
    assert a["activities"] == 3 and a["activities_per_deal"] == pytest.approx(0.4)
    # CSAT 5, 4, 2 -> mean 11/3, satisfied (>= 4 of 5) 2/3; Bob 3 -> 0
    assert a["csat_mean"] == pytest.approx(11 / 3) and a["csat_satisfied_share"] == pytest.approx(2 / 3)
    assert b["csat_satisfied_share"] == 0
    # complete quota periods Jan + Feb = 20000; won inside them 1000 + 3000 + 2000 -> 0.3
    assert a["quota_attainment"] == pytest.approx(0.3)
    # December (current) quota 8000, nothing won yet -> remaining 8000; the open 5000 deal is expected to close on
    # 2026-01-31, after the December period, so it does not cover December's quota (funnel.pipeline_coverage's rule)
    assert a["pipeline_coverage"] == pytest.approx(0.0)
    assert np.isnan(b["quota_attainment"])
    # Kaplan-Meier time to win: wins at 9, 19, 35 days, one open deal censored -> S(19) = 0.5 -> 19
    assert a["cycle_median_days"] == 19
    for k, v in ds.tables.items():
        pd.testing.assert_frame_equal(v, before[k])


def test_scorecard_period_filters_closed_deals():
    t = reps.scorecard(hand_ds(), period="2025-01").table.set_index("owner")
    assert (t.loc["Ann", "deals_closed"], t.loc["Ann", "deals_won"]) == (2, 2)
    assert t.loc["Bob", "deals_closed"] == 0 and np.isnan(t.loc["Bob", "win_rate"])
    t2 = reps.scorecard(hand_ds(), period=("2025-02-01", "2025-03-31")).table.set_index("owner")
    assert (t2.loc["Ann", "deals_closed"], t2.loc["Ann", "deals_won"]) == (2, 1)


@pytest.mark.parametrize("missing", ["csat", "quotas", "activities", "leads"])
def test_missing_tables_say_so(missing):
    ds = hand_ds(drop=(missing,))
    card = reps.scorecard(ds)
    col = {"csat": "csat_mean", "quotas": "quota_attainment", "activities": "activities_per_deal",
           "leads": "lead_conversion_rate"}[missing]
    text = f"not available: no {missing} table"
    assert (card.table[col] == text).all() and (card.table[col + "_company"] == text).all()
    assert card.notes[col] == text
    assert card.table["win_rate"].notna().all()
    comp = reps.compare_reps(ds, card=card, min_n=1)
    if missing in ("csat", "leads"):
        metric = "csat_satisfied_share" if missing == "csat" else "lead_conversion_rate"
        assert metric not in set(comp.table["metric"])
    f = reps.coaching_findings(ds, card=card, comparison=comp)
    assert isinstance(f.to_html(), str)
    kpis = {r["kpi"] for r in reps.kpi_rows(ds)}
    assert "win_rate_shrunk" in kpis and "reps_flagged" not in kpis  # nobody has 30 trials: none tested
    if missing == "csat":
        assert "csat_mean" not in kpis
    if missing == "quotas":
        assert "quota_attainment" not in kpis


def test_missing_owner_and_response_columns():
    ds = hand_ds()
    ds.tables["leads"] = ds.tables["leads"].drop(columns=["first_response_date"])
    t = reps.scorecard(ds).table
    assert (t["first_response_median_hours"] == "not available: no first_response_date column in the leads table").all()
    assert t["lead_conversion_rate"].notna().all()
    ds.tables["leads"] = ds.tables["leads"].drop(columns=["owner"])
    t = reps.scorecard(ds).table
    assert (t["lead_conversion_rate"] == "not available: no owner column in the leads table").all()


def test_scorecard_needs_opportunities():
    with pytest.raises(MissingTablesError, match="opportunities"):
        reps.scorecard(hand_ds(drop=("opportunities",)))
    assert reps.kpi_rows(hand_ds(drop=("opportunities",))) == []


def test_small_sample_not_ranked_or_flagged_and_q_values_are_bh():
    ds = toy_ds(1)
    opps = ds.tables["opportunities"]
    star = pd.DataFrame([_opp(f"S{j}", "Star", "West", "Closed Won" if j < 4 else "Closed Lost", 1000, "2025-03-01")
                         for j in range(5)])
    ds.tables["opportunities"] = pd.concat([opps, star], ignore_index=True)
    comp = reps.compare_reps(ds, min_n=30)
    s = comp.table[(comp.table["owner"] == "Star") & (comp.table["metric"] == "win_rate")].iloc[0]
    assert s["status"] == "not enough data" and np.isnan(s["rank"]) and np.isnan(s["q_value"])
    assert s["rate"] == 0.8 and s["shrunk_rate"] < 0.45  # 4/5 pulled hard towards ~30%
    assert comp.leaderboard()["owner"].iloc[-1] == "Star"
    el = comp.table[comp.table["eligible"]]
    assert np.allclose(el["q_value"], bh_adjust(el["p_value"].to_numpy()))
    assert sorted(comp.leaderboard()["rank"].dropna()) == list(range(1, 7))


def test_slow_rep_is_flagged_and_nobody_else():
    comp = reps.compare_reps(toy_ds(3, slow="Rep 02"))
    f = comp.flagged()
    assert list(f["owner"]) == ["Rep 02"] and list(f["metric"]) == ["lead_conversion_rate"]
    assert comp.table.loc[comp.table["status"] == "above"].empty or (comp.table["q_value"] > 0).all()


def test_flag_reps_hand_case():
    # rep 0: 5/50 vs rest 60/150 (40%): Fisher p tiny; rep 3 has 10 trials < min_n
    k = np.array([[5, 20, 22, 18]])
    n = np.array([[50, 50, 50, 10]])
    p, q, status = reps.flag_reps(k, n, min_n=30)
    assert status[0, 0] == "below" and status[0, 3] == "not enough data" and np.isnan(p[0, 3])
    assert np.allclose(q[0, :3], bh_adjust(p[0, :3]))


def test_fdr_simulation_identical_reps():
    # 15 reps x 2 metrics with identical true rates, 200 seeds: the share of runs flagging anyone
    # (= FDR when every null is true) must stay near the nominal 5% (Fisher is conservative).
    rng = np.random.default_rng(2026)
    seeds, nrep = 200, 15
    n = np.stack([rng.integers(40, 200, (seeds, nrep)), rng.integers(100, 300, (seeds, nrep))], axis=1)
    k = rng.binomial(n, np.array([0.25, 0.3])[None, :, None])
    _, q, status = reps.flag_reps(k, n, min_n=30, alpha=0.05)
    assert not (status == "not enough data").any()
    share = np.isin(status, ["below", "above"]).reshape(seeds, -1).any(axis=1).mean()
    assert 0.01 <= share <= 0.05 + 2.5 * np.sqrt(0.05 * 0.95 / seeds)  # at most 0.089
    # power check on the same machinery: one rep at half the rate is flagged in most runs
    k2 = k.copy()
    k2[:, 1, 0] = rng.binomial(n[:, 1, 0], 0.15)
    _, _, status2 = reps.flag_reps(k2, n, min_n=30, alpha=0.05)
    assert (status2[:, 1, 0] == "below").mean() > 0.8


def test_hostile_rep_names_render_inert():
    from html.parser import HTMLParser

    names = ["<script>alert(1)</script>", "[x](javascript:alert(1))", "<img src=x onerror=alert(2)>",
             "Rep 03", "Rep 04", "Rep 05"]
    ds = toy_ds(4, names=names, slow=names[0])
    f = reps.coaching_findings(ds)
    assert f and f[0].subject == names[0]
    tags, text = [], []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, attrs))

        def handle_data(self, data):
            text.append(data)

    P().feed(f.to_html())
    assert {t for t, _ in tags} <= {"h3", "ol", "li"}
    assert names[0] in "".join(text)
    md = f.to_markdown()
    assert "<script>" not in md and "](javascript" not in md and "<img" not in md


def _engines(df):
    return [df, pl.from_pandas(df), pl.from_pandas(df).lazy(), duckdb.from_arrow(pl.from_pandas(df).to_arrow())]


def test_scans_engine_parity():
    ds = hand_ds()
    o, ld = ds.tables["opportunities"], ds.tables["leads"]
    ref_d = scans.deal_scan(o, as_of=AS_OF)
    ref_l = scans.lead_cells(ld, cutoff=AS_OF - pd.Timedelta(days=90))
    for e_o, e_l in zip(_engines(o), _engines(ld), strict=True):
        pd.testing.assert_frame_equal(scans.deal_scan(e_o, as_of=AS_OF), ref_d, check_dtype=False)
        pd.testing.assert_frame_equal(scans.lead_cells(e_l, cutoff=AS_OF - pd.Timedelta(days=90)), ref_l,
                                      check_dtype=False)
    a, c = ds.tables["activities"], ds.tables["csat"]
    cut = AS_OF - pd.Timedelta(days=90)
    ref = (scans.activity_scan(a), scans.csat_scan(c), scans.response_medians(ld, groups={"all": ["Ann", "Bob"]},
                                                                              cutoff=cut),
           scans.lead_cells(ld, cutoff=cut, activities=a))
    for e_a, e_c, e_l in zip(_engines(a), _engines(c), _engines(ld), strict=True):
        got = (scans.activity_scan(e_a), scans.csat_scan(e_c),
               scans.response_medians(e_l, groups={"all": ["Ann", "Bob"]}, cutoff=cut),
               scans.lead_cells(e_l, cutoff=cut, activities=e_a))
        for g, r in zip(got, ref, strict=True):
            pd.testing.assert_frame_equal(g, r, check_dtype=False)


def test_kpi_rows_shape():
    rows = reps.kpi_rows(hand_ds())
    assert all(set(r) >= {"kpi", "segment", "value"} for r in rows)
    segs = {r["segment"] for r in rows if r["kpi"] == "win_rate_shrunk"}
    assert segs == {"owner=Ann", "owner=Bob"}
    # no rep has the 30 closed deals a test needs: no count of flagged reps (a 0 would read 'nobody is below')
    assert [r["value"] for r in rows if r["kpi"] == "reps_flagged"] == []
    from salesops_kit.kpis import kpi_frame

    df = kpi_frame(rows)
    assert set(df["kpi"]) >= {"win_rate_shrunk", "lead_conversion_rate_shrunk", "first_response_median_hours",
                              "quota_attainment", "csat_mean"}


def test_win_counts_agree_with_funnel_win_rate():
    # the scorecard's closed-deal win rate is the funnel issue's default definition (won / (won + lost))
    from salesops_kit import funnel

    ds = toy_ds(6)
    t = reps.scorecard(ds).table.set_index("owner")
    w = funnel.win_rate(ds.opportunities, by="owner", stages=ds.stages).table.set_index("owner")
    assert (t["deals_won"] == w["won"]).all() and (t["deals_closed"] == w["won"] + w["lost"]).all()
    assert np.allclose(t["win_rate"], w["win_rate"])


# --- issue 15: one windowed quota attainment, reconciled with the company target ---------------------------------
def _quota_ds(as_of="2025-12-15"):
    """Ann: quotas Nov 2024 - Dec 2025 at 10,000 a month; won 4,000 in Nov 2024, 3,000 in Jan 2025, 5,000 in Nov 2025
    and 9,000 in Dec 2025 (the running month)."""
    opps = pd.DataFrame([_opp("W0", "Ann", "X", "Closed Won", 4000, "2024-11-10"),
                         _opp("W1", "Ann", "X", "Closed Won", 3000, "2025-01-20"),
                         _opp("W2", "Ann", "X", "Closed Won", 5000, "2025-11-05"),
                         _opp("W3", "Ann", "X", "Closed Won", 9000, "2025-12-02")])
    months = pd.date_range("2024-11-01", "2025-12-01", freq="MS")
    quotas = pd.DataFrame({"owner": "Ann", "period_start": months, "quota": 10000.0})
    return Dataset(dict(opportunities=opps, quotas=quotas), {}, pd.DataFrame(), STAGES, pd.Timestamp(as_of))


def test_quota_attainment_is_the_year_to_date_of_complete_periods():
    card = reps.scorecard(_quota_ds())
    # complete periods of 2025: Jan-Nov (December is still running, 2024 is last year): 11 x 10,000 = 110,000;
    # won in them 3,000 + 5,000 = 8,000 -> 8,000 / 110,000
    assert card.quota_window == (pd.Timestamp("2025-01-01"), pd.Timestamp("2025-11-30"))
    a = card.table.set_index("owner").loc["Ann"]
    assert a["quota"] == 110000 and a["quota_attainment"] == pytest.approx(8000 / 110000)
    assert reps.quota_window_label(card.quota_window, "en") == "2025-01 to 2025-11"
    assert reps.quota_window_label(card.quota_window, "zh") == "2025年1月至2025年11月"
    # in January the year to date is last year's 12 complete months (Dec 2024 + ... ): Jan-Dec 2025
    jan = reps.scorecard(_quota_ds("2026-01-10"))
    assert jan.quota_window == (pd.Timestamp("2025-01-01"), pd.Timestamp("2025-12-31"))
    assert jan.table.set_index("owner").loc["Ann", "quota_attainment"] == pytest.approx(17000 / 120000)
    row = [r for r in reps.kpi_rows(_quota_ds()) if r["kpi"] == "quota_attainment"]
    assert [(r["value"], r["window"]) for r in row] == [(pytest.approx(8000 / 110000), "2025-01 to 2025-11")]


def test_quota_reconciliation_states_the_ratio_of_quotas_to_the_company_target():
    card = reps.scorecard(_quota_ds())
    months = [f"2025-{m:02d}" for m in range(1, 12)]
    targets = pd.DataFrame({"kpi": "won_revenue", "segment": "all", "period": months, "target": 5000.0})
    text = reps.quota_reconciliation(card, targets, currency="USD", lang="en")
    # won 8,000 vs quotas 110,000 (7%); the company target is 11 x 5,000 = 55,000: 15% of it; quotas 2.00x
    assert "won 8,000 USD against quotas summing to 110,000 USD (7%)" in text
    assert "55,000 USD" in text and "15% of target" in text and "2.00×" in text
    short = reps.quota_reconciliation(card, targets.iloc[:5], currency="USD", lang="en")
    assert "covers 5 of its 11 months" in short
    assert "No company won-revenue target" in reps.quota_reconciliation(card, None, lang="en")


def test_mature_leads_are_the_funnels():
    # the one definition of a mature lead (funnel.lead_maturity_cutoff): a lead created at 10:00 on the day 90 days
    # before the as-of date counts in the scorecard, the drivers and the lead funnel alike
    from salesops_kit import funnel

    day = (AS_OF - pd.Timedelta(days=90)).strftime("%Y-%m-%d")
    leads = pd.DataFrame([_lead("E1", "Ann", 1, True, created=f"{day} 10:00"),
                          _lead("E2", "Ann", 1, False, created="2025-01-01 08:00"),
                          _lead("E3", "Ann", 1, False, created=f"{(AS_OF - pd.Timedelta(days=89)).date()} 08:00")])
    ds = Dataset(dict(opportunities=hand_ds().opportunities, leads=leads), {}, pd.DataFrame(), STAGES, AS_OF)
    n_funnel = int(funnel.lead_funnel(ds).table["leads"].sum())
    assert n_funnel == 2
    assert int(reps.scorecard(ds).table["leads"].sum()) == n_funnel
    assert int(reps.drivers.response_drivers(ds).by_rep["leads"].sum()) == n_funnel


def test_stage_heatmap_of_zeros_is_one_sentence():
    zeros = pd.DataFrame({"owner": ["Ann", "Bob"], "A → B": [0.0, 0.0], "B → C": [np.nan, 0.0]})
    assert "0%" in reps.stage_conversion_reason(zeros)
    some = zeros.assign(**{"A → B": [0.5, 0.0]})
    assert reps.stage_conversion_reason(some) == ""
    assert reps.stage_conversion_reason(zeros.assign(**{"A → B": [np.nan, np.nan], "B → C": [np.nan, np.nan]}))


def test_one_finding_per_rep_and_the_costliest_leads():
    # the slow rep is below on lead conversion: its finding leads, names the KPI row it quotes and its money stake
    ds = toy_ds(11, slow="Rep 00")
    f = reps.coaching_findings(ds, currency="USD")
    below = [x for x in f if x.severity >= 3]
    assert len({x.subject for x in below}) == len(below)  # one event (rep), one finding
    assert f[0].lead and f[0].subject == "Rep 00" and sum(x.lead for x in f) == 1
    assert f[0].kpi == "lead_conversion_rate_shrunk" and f[0].segment == "owner=Rep 00" and f[0].stake > 0
    row = next(r for r in reps.kpi_rows(ds) if r["kpi"] == f[0].kpi and r["segment"] == f[0].segment)
    assert f[0].value == f"{row['value']:.0%}"  # the finding quotes the KPI row's number
