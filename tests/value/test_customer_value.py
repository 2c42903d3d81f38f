"""The per-customer value table and RFM segments (issue 18, parts 4-5).

CDNOW checks compare with lifetimes 0.11.3 through the committed reference file written by
make_lifetimes_reference.py (lifetimes is not a test dependency); when lifetimes is importable the same numbers are
also recomputed live. Hand-count tests use frames small enough to check on paper."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesops_kit.value import clv, segments
from salesops_kit.value.customer_value import customer_value

HERE = Path(__file__).resolve().parent
REF = HERE / "lifetimes_cdnow_reference.csv"


def _reference():
    head = [ln for ln in REF.read_text().splitlines() if ln.startswith("#")]
    params = {}
    for ln in head[1:]:
        model, rest = ln[2:].split(" ", 1)
        params[model] = {k: float(v) for k, v in re.findall(r"(\w+)=([-0-9.e]+)", rest)}
    return pd.read_csv(REF, comment="#"), params


@pytest.fixture(scope="module")
def ref():
    return _reference()


def _rfm(d):
    return pd.DataFrame({"customer_id": d["ID"], "frequency": d["x"], "recency": d["t_x"], "T": d["T"],
                         "monetary_value": d["zbar"], "purchases": d["x"] + 1, "revenue": d["zbar"] * (d["x"] + 1)})


def _at(fit, values):
    from dataclasses import replace

    return replace(fit, params=pd.Series(values, index=fit.params.index, dtype=float))


def test_predictions_reproduce_lifetimes_on_cdnow_at_its_parameters(ref):
    d, p = ref
    fit = clv.fit_bgnbd(d["x"], d["t_x"], d["T"])
    rep = d["x"] > 0
    gg = clv.fit_gamma_gamma(d.loc[rep, "x"], d.loc[rep, "zbar"])
    bg_lt = _at(fit, [p["bgnbd"][k] for k in ("r", "alpha", "a", "b")])
    gg_lt = _at(gg, [p["gamma_gamma"][k] for k in ("p", "q", "v")])
    cv = customer_value(rfm=_rfm(d), bgnbd=bg_lt, gamma_gamma=gg_lt, spend_model="gamma_gamma")
    got = cv.table.set_index("customer_id").loc[d["ID"]]
    for ours, theirs in (("p_alive", "p_alive"), ("purchases_90d", "purchases_90d"),
                         ("purchases_365d", "purchases_365d"), ("expected_order_value", "expected_spend"),
                         ("clv", "clv_12m")):
        np.testing.assert_allclose(got[ours].to_numpy(), d[theirs].to_numpy(), rtol=1e-6, atol=1e-9, err_msg=ours)
    # the kit's own fit lands on lifetimes' optimum: predictions agree to 1e-5 relative (the parameters differ in the
    # 6th digit, the optimisers' tolerance)
    own = customer_value(rfm=_rfm(d), spend_model="gamma_gamma").table.set_index("customer_id").loc[d["ID"]]
    for ours, theirs in (("p_alive", "p_alive"), ("purchases_365d", "purchases_365d"), ("clv", "clv_12m")):
        np.testing.assert_allclose(own[ours].to_numpy(), d[theirs].to_numpy(), rtol=1e-5, err_msg=ours)


def test_live_lifetimes_matches_the_committed_reference_when_installed(ref):
    # The reference's provenance: lifetimes recomputes it when it is installed (not a CI dependency; without it the
    # committed numbers are checked above). Only the first 50 customers, to keep it fast.
    if importlib.util.find_spec("lifetimes") is None:
        return
    from lifetimes import BetaGeoFitter

    d, p = ref
    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series(p["bgnbd"])
    h = d.head(50)
    np.testing.assert_allclose(bgf.conditional_probability_alive(h["x"], h["t_x"], h["T"]), h["p_alive"], rtol=1e-9)


def test_published_conditional_expectation_through_the_table():
    # FHL (2005): x=2, t_x=30.43, T=38.86 -> 1.226 purchases in the next 39 weeks (parameters r, alpha, a, b of the
    # paper); the table's purchases_365d is the same function at 365/7 weeks.
    d = pd.read_csv(HERE.parents[1] / "data" / "external" / "cdnow" / "cdnow_customers_summary.csv")
    fit = clv.fit_bgnbd(d["frequency"], d["recency"], d["T"])
    assert float(fit.conditional_expected_purchases(39, 2, 30.43, 38.86)) == pytest.approx(1.226, abs=5e-4)
    one = pd.DataFrame({"customer_id": ["a"], "frequency": [2], "recency": [30.43], "T": [38.86],
                        "monetary_value": [10.0], "purchases": [3], "revenue": [30.0]})
    t = customer_value(rfm=one, bgnbd=fit, spend_model="average_order_value", n_draws=0).table
    assert t["purchases_365d"].iloc[0] == pytest.approx(
        float(fit.conditional_expected_purchases(365 / 7, 2, 30.43, 38.86)), rel=1e-12)


def test_delta_interval_agrees_with_parameter_draws_on_cdnow(ref):
    d, _ = ref
    fit = clv.fit_bgnbd(d["x"], d["t_x"], d["T"])
    rep = d["x"] > 0
    gg = clv.fit_gamma_gamma(d.loc[rep, "x"], d.loc[rep, "zbar"])
    sub = _rfm(d).head(300)
    kw = {"rfm": sub, "bgnbd": fit, "gamma_gamma": gg, "spend_model": "gamma_gamma"}
    a = customer_value(**kw)
    b = customer_value(**kw, interval="draws", n_draws=1000, seed=1)
    wa = (a.table["clv_high"] - a.table["clv_low"]) / a.table["clv"]
    wb = (b.table["clv_high"] - b.table["clv_low"]) / b.table["clv"]
    ratio = (wa / wb).to_numpy()
    assert np.all((ratio > 0.8) & (ratio < 1.2)), ratio.min()  # Monte Carlo error of 1000 draws' 2.5% quantiles
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05)
    assert (a.table["clv_low"] < a.table["clv"]).all() and (a.table["clv"] < a.table["clv_high"]).all()


def _orders(rows):
    return pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"]).assign(
        order_date=lambda f: pd.to_datetime(f["order_date"]))


def test_table_by_hand_sorted_top_share_and_at_risk():
    # two customers, hand-made fits: the table is sorted by CLV, the top share is the top row's share, and the
    # at-risk rule reads P(alive) and past revenue
    rfm = pd.DataFrame({"customer_id": ["lo", "hi", "gone"], "frequency": [0, 5, 6], "recency": [0.0, 50.0, 2.0],
                        "T": [10.0, 52.0, 60.0], "monetary_value": [0.0, 20.0, 30.0], "purchases": [1, 6, 7],
                        "revenue": [5.0, 120.0, 210.0]})
    base = clv.fit_bgnbd([0, 1, 2, 3, 5, 6], [0, 3, 20, 30, 40, 2], [10, 30, 40, 50, 52, 60])
    bg = _at(base, [1.0, 10.0, 2.0, 3.0])
    cv = customer_value(rfm=rfm, bgnbd=bg, spend_model="average_order_value", n_draws=0)
    t = cv.table
    assert list(t["clv"]) == sorted(t["clv"], reverse=True)
    aov = 335.0 / 14  # revenue / purchase days over all customers
    assert np.allclose(t["expected_order_value"], aov)
    assert t.loc[t["customer_id"] == "lo", "p_alive"].iloc[0] == 1.0
    p_gone = float(bg.p_alive(6, 2.0, 60.0))
    assert p_gone < 0.5
    share, _, _ = cv.top_share(1 / 3)
    assert share == pytest.approx(t["clv"].iloc[0] / t["clv"].sum())
    risk = cv.at_risk(high_value_share=1 / 3)  # the top third by revenue is "gone" (210)
    assert list(risk["customer_id"]) == ["gone"]
    assert risk["value_if_active"].iloc[0] == pytest.approx(risk["clv"].iloc[0] / p_gone)


def test_segment_map_is_the_published_grid():
    # the regular expressions of the published R x F map, applied to every RF score
    published = {r"[1-2][1-2]": "hibernating", r"[1-2][3-4]": "at risk", r"[1-2]5": "can't lose them",
                 r"3[1-2]": "about to sleep", r"33": "need attention", r"[3-4][4-5]": "loyal customers",
                 r"41": "promising", r"51": "new customers", r"[4-5][2-3]": "potential loyalists",
                 r"5[4-5]": "champions"}
    for r in range(1, 6):
        for f in range(1, 6):
            hits = [name for rx, name in published.items() if re.fullmatch(rx, f"{r}{f}")]
            assert hits == [segments.segment_of(r, f)], (r, f)


def test_rfm_scores_by_hand():
    # 10 customers: recency 1..10 days, purchases 1,1,1,1,2,2,3,4,5,6, revenue 10..100
    c = pd.DataFrame({"customer_id": [f"c{i:02d}" for i in range(10)], "recency_days": range(1, 11),
                      "purchases": [1, 1, 1, 1, 2, 2, 3, 4, 5, 6], "revenue": np.arange(10, 101, 10.0)})
    s = segments.rfm_scores(c)
    # R: the two most recent -> 5, ..., the two oldest -> 1
    assert list(s["r_score"]) == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    # F: the four 1-purchase customers share average rank 2.5 -> ceil(5 * 2.5 / 10) = 2; 2 purchases rank 5.5 -> 3;
    # 3 -> rank 7 -> 4; 4 -> rank 8 -> 4; 5 -> rank 9 -> 5; 6 -> 5
    assert list(s["f_score"]) == [2, 2, 2, 2, 3, 3, 4, 4, 5, 5]
    assert list(s["segment"]) == ["potential loyalists", "potential loyalists", "potential loyalists",
                                  "potential loyalists", "need attention", "need attention", "at risk", "at risk",
                                  "can't lose them", "can't lose them"]


def test_rfm_segments_revenue_share_and_migration_by_hand():
    # 25 customers with one order each 2024-01-01 .. 2024-01-25 (customer i on day i, amount i), plus customer c24
    # orders again on 2025-01-25 (amount 100): as of 2025-01-25 the 12-month revenue is c24's 100 only
    rows = [(f"c{i:02d}", f"2024-01-{i + 1:02d}", float(i + 1)) for i in range(25)] + [("c24", "2025-01-25", 100.0)]
    o = _orders(rows)
    seg = segments.rfm_segments(o, as_of="2025-01-25")
    t = seg.table.set_index("customer_id")
    assert t.loc["c24", "recency_days"] == 0 and t.loc["c24", "purchases"] == 2
    assert t.loc["c24", "revenue_12m"] == 100.0 and t["revenue_12m"].drop("c24").eq(0).all()
    # c24 alone has 2 purchases (average rank 25 -> F 5) and the most recent day (R 5): a champion
    assert t.loc["c24", "segment"] == "champions"
    n, share = seg.share("champions")
    assert (n, share) == (1, 1.0)
    mig = segments.segment_migration(o, as_of="2025-01-25", earlier="2024-01-25")
    m = mig.matrix()
    assert int(m.to_numpy().sum()) == 25  # every customer of the later date once
    assert mig.table["from_segment"].ne(segments.NOT_YET).all()  # all had ordered by 2024-01-25
    with pytest.raises(ValueError, match="at least 25 customers"):
        segments.segment_migration(o, as_of="2025-01-25", earlier="2024-01-20")


def test_too_few_customers_is_a_clear_error():
    o = _orders([("a", "2024-01-01", 1.0), ("b", "2024-02-01", 2.0)])
    with pytest.raises(ValueError, match="at least 25 customers"):
        segments.rfm_segments(o)


def test_kpi_rows_quote_the_results():
    from salesops_kit.value._kpis import _customer_rows
    from salesops_kit.value.customer_value import customer_value as cvf

    d, _ = _reference()
    rfm = _rfm(d).head(400)
    cv = cvf(rfm=rfm, spend_model="gamma_gamma")
    got = {}

    def add(k, s, v, lo=np.nan, hi=np.nan, *, window):
        got[k] = (v, lo, hi)

    class _Seg:
        def share(self, name):
            return 3, 0.25

    _customer_rows(None, None, add, value=cv, segments=_Seg())
    assert got["customer_value_next_12m"][0] == pytest.approx(cv.table["clv"].sum())
    assert got["customers_at_risk"][0] == len(cv.at_risk())
    assert got["rfm_champions_revenue_share"][0] == 0.25
    share, lo, hi = got["customer_value_top_decile_share"]
    assert lo < share < hi


def test_report_writes_customers_csv_sorted_by_clv(tmp_path):
    import salesops_kit as sk
    from salesops_kit.report.exports import CUSTOMERS_COLUMNS, write_customers

    sample = HERE.parents[1] / "data" / "sample"
    ds = sk.load_dataset(sample, mapping="canonical")
    files = write_customers(ds, tmp_path)
    assert set(files) == {"customers.csv", "customers.xlsx"}
    c = pd.read_csv(files["customers.csv"])
    assert list(c.columns) == CUSTOMERS_COLUMNS
    orders = pd.read_csv(sample / "orders.csv")
    assert len(c) == orders["customer_id"].nunique() and c["customer_id"].is_unique
    assert c["clv"].is_monotonic_decreasing
    assert (c["clv_low"] <= c["clv"]).all() and (c["clv"] <= c["clv_high"]).all()
    # revenue to date is the customer's order total (hand count on the raw file)
    top = c.iloc[0]
    assert top["revenue"] == pytest.approx(orders.loc[orders["customer_id"] == top["customer_id"], "amount"].sum())
    from openpyxl import load_workbook  # the spreadsheet holds the same rows, ids as text, header frozen

    ws = load_workbook(files["customers.xlsx"], read_only=False)["customers"]
    assert ws.max_row == len(c) + 1 and ws.freeze_panes == "A2"
    assert [ws.cell(1, j + 1).value for j in range(len(CUSTOMERS_COLUMNS))] == CUSTOMERS_COLUMNS
    assert ws.cell(2, 1).value == str(c["customer_id"].iloc[0]) and ws.cell(2, 1).data_type == "s"
    assert ws.cell(2, CUSTOMERS_COLUMNS.index("clv") + 1).value == pytest.approx(c["clv"].iloc[0])


def test_more_customers_than_an_excel_sheet_holds_get_the_csv_only(tmp_path, monkeypatch):
    import salesops_kit as sk
    from salesops_kit.report import exports

    ds = sk.load_dataset(HERE.parents[1] / "data" / "sample", mapping="canonical")
    n = ds.orders["customer_id"].nunique()
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", n)  # one row short: the header takes one
    files = exports.write_customers(ds, tmp_path)
    assert set(files) == {"customers.csv"} and not (tmp_path / "customers.xlsx").exists()
    assert len(pd.read_csv(files["customers.csv"])) == n
    with pytest.raises(ValueError, match="do not fit in one Excel sheet"):
        exports.write_xlsx(pd.DataFrame({"a": range(n)}), tmp_path / "x.xlsx")


def test_report_writes_no_customers_file_without_orders(tmp_path):
    import salesops_kit as sk
    from salesops_kit.report.exports import write_customers

    sample = HERE.parents[1] / "data" / "sample"
    ds = sk.load_dataset(sample, mapping="canonical")
    empty = ds.orders.iloc[0:0]
    ds.tables["orders"] = empty
    assert write_customers(ds, tmp_path) == {}
    assert not (tmp_path / "customers.csv").exists()


def test_same_answer_on_polars_and_duckdb():
    # the heavy scans run in the engine (narwhals), the model math on the collected per-customer table
    import duckdb
    import polars as pl

    o = pd.read_csv(HERE.parents[1] / "data" / "sample" / "orders.csv", parse_dates=["order_date"])
    o = o[o["order_date"] >= "2025-01-01"]
    ref_seg = segments.rfm_segments(o).table
    ref_cv = customer_value(o, n_draws=0).table
    con = duckdb.connect()
    for frame in (pl.from_pandas(o).lazy(), con.from_df(o)):
        seg = segments.rfm_segments(frame).table
        pd.testing.assert_frame_equal(seg.reset_index(drop=True), ref_seg, check_dtype=False)
        cv = customer_value(frame, n_draws=0).table
        pd.testing.assert_frame_equal(cv.drop(columns=["first_purchase", "last_purchase"]),
                                      ref_cv.drop(columns=["first_purchase", "last_purchase"]), check_dtype=False,
                                      rtol=1e-6)  # sums in another order: the last digits
