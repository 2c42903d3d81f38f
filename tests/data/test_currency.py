"""Currencies: the mapping's ``currency:`` block, the money unit of a dataset, conversion, and the
four-currency Salesforce Data Export (per-currency money rows without rates, converted totals with rates)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from salesops_kit import cli
from salesops_kit.data.currency import convert, currencies, currency_note, needs_split, report_currency
from salesops_kit.data.dataset import Dataset
from salesops_kit.data.mapping import MappingError, currency_spec, load_mapping
from salesops_kit.data.schema import StageModel
from salesops_kit.kpis import kpi_frame, money_unit

EXPORT = Path(__file__).resolve().parents[1] / "fixtures" / "exports" / "salesforce_multicurrency"
RATES = {"COP": 0.00025, "MXN": 0.055, "PEN": 0.27}
STAGES = StageModel(order=("Open",), won=("Won",), lost=("Lost",))


def _ds(opps: pd.DataFrame, currency: dict | None = None) -> Dataset:
    return Dataset(tables={"opportunities": opps}, quarantine={}, account=pd.DataFrame(), stages=STAGES,
                   as_of=pd.Timestamp("2024-12-31"),
                   mapping={"name": "t", **({"currency": currency} if currency else {})})


def _opps(codes, amounts=None, close=None):
    n = len(codes)
    return pd.DataFrame({"opportunity_id": [f"o{i}" for i in range(n)], "stage": ["Won"] * n,
                         "amount": amounts or [100.0] * n, "currency": codes,
                         "close_date": pd.to_datetime(close or ["2024-01-15"] * n)})


def test_currency_block_is_parsed_once_on_the_mapping(tmp_path):
    m = load_mapping({"name": "x", "currency": {"report": "usd", "rates": {"cop": 0.00025, "MXN": 0.055}}})
    assert m.currency.report == "USD"
    assert m.currency.rates == (("COP", None, 0.00025), ("MXN", None, 0.055))
    assert not m.currency.monthly
    csv = tmp_path / "rates.csv"
    csv.write_text("currency,rate,month\nCOP,0.00025,2024-01\nCOP,0.0003,2024-02\n", encoding="utf-8")
    spec = currency_spec({"report": "USD", "rates": str(csv)})
    assert spec.monthly and spec.rates == (("COP", "2024-01", 0.00025), ("COP", "2024-02", 0.0003))
    assert load_mapping("salesforce").currency.report is None
    with pytest.raises(MappingError, match="currency.report"):
        currency_spec({"rates": {"COP": 1}})
    with pytest.raises(MappingError, match="does not exist"):
        currency_spec({"report": "USD", "rates": str(tmp_path / "nope.csv")})


def test_currencies_and_report_currency_on_hand_checkable_frames():
    one = _ds(_opps(["usd", "USD", None]))
    assert currencies(one) == ["USD"] and report_currency(one) == "USD" and not needs_split(one)
    assert currency_note(one) is None
    mixed = _ds(_opps(["COP", "USD", "MXN"]))
    assert currencies(mixed) == ["COP", "MXN", "USD"]
    assert report_currency(mixed) is None and needs_split(mixed)
    note = currency_note(mixed)
    assert "COP, MXN, USD" in note and "currency: {report: COP, rates: {MXN: <rate>, USD: <rate>}}" in note
    converted = _ds(_opps(["COP", "USD"]), {"report": "USD", "rates": {"COP": 0.00025}})
    assert report_currency(converted) == "USD" and not needs_split(converted) and currency_note(converted) is None
    none = _ds(_opps(["X"]).drop(columns="currency"), {"report": "EUR"})
    assert currencies(none) == ["EUR"] and report_currency(none) == "EUR"
    assert report_currency(_ds(_opps(["X"]).drop(columns="currency"))) is None


def test_convert_with_flat_and_monthly_rates(tmp_path):
    opps = _opps(["COP", "USD", "MXN", None], [4_000_000.0, 10.0, 1000.0, 5.0])
    ds = _ds(opps, {"report": "USD", "rates": {"COP": 0.00025, "MXN": 0.05}})
    out = convert(opps, ds)
    assert out["amount"].tolist() == pytest.approx([1000.0, 10.0, 50.0, 5.0])
    assert set(out["currency"]) == {"USD"}
    assert opps["amount"].iloc[0] == 4_000_000.0  # the input is not changed
    assert convert(opps, _ds(opps)) is opps  # no rates: unchanged
    with pytest.raises(MappingError, match=r"currency.rates.MXN"):
        convert(opps, _ds(opps, {"report": "USD", "rates": {"COP": 0.00025}}))
    csv = tmp_path / "rates.csv"
    csv.write_text("currency,rate,month\nCOP,0.0002,2024-01\nCOP,0.0004,2024-03\n", encoding="utf-8")
    opps = _opps(["COP"] * 4, [1000.0] * 4, ["2023-12-10", "2024-01-31", "2024-02-15", "2024-03-01"])
    out = convert(opps, _ds(opps, {"report": "USD", "rates": str(csv)}))
    # before the first month: the first rate; a month without a rate: the latest earlier month's
    assert out["amount"].tolist() == pytest.approx([0.2, 0.2, 0.2, 0.4])


def test_money_unit_replaces_the_word_currency_with_the_code():
    assert money_unit("currency", "USD") == "USD"
    assert money_unit("currency per month", "COP") == "COP per month"
    assert money_unit("currency per customer", None) == "currency per customer"
    f = kpi_frame([{"kpi": "won_revenue", "segment": "all", "value": 1.0, "currency": "PEN"},
                   {"kpi": "win_rate", "segment": "all", "value": 0.5}])
    assert dict(zip(f["kpi"], f["unit"], strict=True)) == {"won_revenue": "PEN", "win_rate": "rate"}


def _raw() -> pd.DataFrame:
    return pd.read_csv(EXPORT / "Opportunity.csv", dtype={"Id": str})


def _kpis(tmp_path, mapping) -> pd.DataFrame:
    out = tmp_path / "kpis.csv"
    assert cli.main(["kpis", str(EXPORT), "--mapping", str(mapping), "--out", str(out)]) == 0
    k = pd.read_csv(out, keep_default_na=False, na_values=[""], dtype={"value": str})
    return k.assign(value=pd.to_numeric(k["value"], errors="coerce"))  # dates of date_min_* become NaN


def test_four_currency_export_gives_per_currency_money_rows_and_no_total(tmp_path):
    k = _kpis(tmp_path, "salesforce")
    raw = _raw()
    won = raw[raw["StageName"] == "Closed Won"]
    money = k[k["kpi"].isin(["won_revenue", "avg_won_deal_size", "sales_velocity_per_month"])]
    assert set(money["segment"]) == {"currency=COP", "currency=MXN", "currency=PEN", "currency=USD"}
    rev = k[k["kpi"] == "won_revenue"].set_index("segment")
    for code, amounts in won.groupby("CurrencyIsoCode")["Amount"]:
        assert rev.loc[f"currency={code}", "value"] == pytest.approx(amounts.sum())
        assert rev.loc[f"currency={code}", "unit"] == code
    assert not (k["unit"] == "currency").any() or set(k.loc[k["unit"] == "currency", "kpi"]) <= {
        "forecast_next_12m_total", "pipeline_expected_next_quarter"}
    counts = k[k["segment"] == "all"].set_index("kpi")["value"]
    assert counts["deals_won"] == len(won) and counts["deals_lost"] == (raw["StageName"] == "Closed Lost").sum()


def test_four_currency_export_with_rates_equals_plain_pandas(tmp_path):
    mapping = tmp_path / "sf_rates.yml"
    mapping.write_text(yaml.safe_dump({"extends": "salesforce", "name": "sf_rates",
                                       "currency": {"report": "USD", "rates": RATES}}), encoding="utf-8")
    k = _kpis(tmp_path, mapping)
    raw = _raw()
    usd = raw["Amount"] * raw["CurrencyIsoCode"].map({**RATES, "USD": 1.0})
    won = raw["StageName"] == "Closed Won"
    rows = k[k["segment"] == "all"].set_index("kpi")
    assert rows.loc["won_revenue", "value"] == pytest.approx(usd[won].sum())
    assert rows.loc["won_revenue", "unit"] == "USD"
    assert rows.loc["avg_won_deal_size", "value"] == pytest.approx(usd[won].dropna().mean())
    assert rows.loc["sales_velocity_per_month", "unit"] == "USD per month"
    by_owner = k[(k["kpi"] == "won_revenue") & k["segment"].str.startswith("owner=")].set_index("segment")["value"]
    expect = usd[won].groupby(raw.loc[won, "OwnerId"]).sum()
    for owner, v in expect.items():
        assert by_owner[f"owner={owner}"] == pytest.approx(v)
    assert not k["segment"].str.startswith("currency=").any()
    assert np.isfinite(rows.loc["sales_velocity_per_month", "value"])


def test_the_audit_notes_the_mixed_currencies_once():
    from salesops_kit.data.load import load_dataset

    ds = load_dataset(EXPORT, mapping="salesforce")
    said = [n for n in ds.notes if "currencies" in n]
    assert len(said) == 1 and "(COP, MXN, PEN, USD)" in said[0] and "currency: {report: COP" in said[0]


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_rates_convert_on_lazy_engines(tmp_path, engine):
    mapping = tmp_path / "sf_rates.yml"
    mapping.write_text(yaml.safe_dump({"extends": "salesforce", "currency": {"report": "USD", "rates": RATES}}),
                       encoding="utf-8")
    out = tmp_path / "kpis.csv"
    cli.main(["kpis", str(EXPORT), "--mapping", str(mapping), "--out", str(out), "--engine", engine])
    k = pd.read_csv(out, dtype={"value": str})
    raw = _raw()
    usd = raw["Amount"] * raw["CurrencyIsoCode"].map({**RATES, "USD": 1.0})
    row = k[(k["kpi"] == "won_revenue") & (k["segment"] == "all")].iloc[0]
    assert float(row["value"]) == pytest.approx(usd[raw["StageName"] == "Closed Won"].sum()) and row["unit"] == "USD"


def test_the_sample_company_shows_its_code_as_the_money_unit():
    from salesops_kit.data.load import load_dataset
    from salesops_kit.funnel import kpi_rows

    sample = Path(__file__).resolve().parents[2] / "data" / "sample"
    ds = load_dataset(sample)
    assert currencies(ds) == ["USD"] and report_currency(ds) == "USD"
    f = kpi_frame(kpi_rows(ds))
    units = f.drop_duplicates("kpi").set_index("kpi")["unit"]
    assert units["won_revenue"] == "USD" and units["avg_won_deal_size"] == "USD"
    assert units["sales_velocity_per_month"] == "USD per month"
    assert (f.loc[f["kpi"] == "won_revenue", "segment"] == "all").any()


def test_the_sample_kpis_csv_never_says_currency(tmp_path):
    out = tmp_path / "kpis.csv"
    sample = Path(__file__).resolve().parents[2] / "data" / "sample"
    assert cli.main(["kpis", str(sample), "--out", str(out)]) == 0
    k = pd.read_csv(out, dtype={"value": str})
    assert not k["unit"].str.contains(r"\bcurrency\b").any()
    units = k.drop_duplicates("kpi").set_index("kpi")["unit"]
    assert units["won_revenue"] == "USD" and units["cac"] == "USD per customer"
    assert units["forecast_next_12m_total"] == "USD"


def test_won_revenue_by_period_never_mixes_currencies():
    from salesops_kit.data.load import load_dataset
    from salesops_kit.funnel import won_revenue

    raw = _raw()
    won = raw[raw["StageName"] == "Closed Won"]
    t = won_revenue(load_dataset(EXPORT, mapping="salesforce"), period="Q")
    got = t.groupby("currency")["won_revenue"].sum()
    assert got.to_dict() == pytest.approx(won.groupby("CurrencyIsoCode")["Amount"].sum().to_dict())
    ds = load_dataset(EXPORT, mapping={"extends": "salesforce", "currency": {"report": "USD", "rates": RATES}})
    t = won_revenue(ds, period="Q")
    assert "currency" not in t.columns
    usd = won["Amount"] * won["CurrencyIsoCode"].map({**RATES, "USD": 1.0})
    assert t["won_revenue"].sum() == pytest.approx(usd.sum()) and t["won_deals"].sum() == len(won)


def _export_with_closed_usd_deals(tmp_path, k: int = 8) -> Path:
    """The four-currency export plus ``k`` closed USD deals (half won), each with its stage history: the pipeline
    forecast learns from at least 10 closed deals, and the export alone has 9."""
    import shutil

    out = tmp_path / "sf_more"
    shutil.copytree(EXPORT, out)
    opp, hist = [], []
    for i in range(k):
        won = i % 2 == 0
        oid, made, close = f"00620000{i:02d}", f"2024-0{1 + i % 4}-0{1 + i}", f"2024-0{5 + i % 3}-1{i}"
        stage = "Closed Won" if won else "Closed Lost"
        opp.append(f"{oid},00160000{i:02d},Extra {i},{stage},{1000 * (i + 1)},{100 if won else 0},{close},"
                   f"{made} 09:00:00,0055000OwnA,1,{int(won)},Web,USD\n")
        hist += [f"0090000000000{i:02d}0,{oid},{made} 09:00:00,Prospecting,{1000 * (i + 1)},10,{close}\n",
                 f"0090000000000{i:02d}1,{oid},{close} 12:00:00,{stage},{1000 * (i + 1)},{100 if won else 0},{close}\n"]
    with open(out / "Opportunity.csv", "a", encoding="utf-8") as f:
        f.writelines(opp)
    with open(out / "OpportunityHistory.csv", "a", encoding="utf-8") as f:
        f.writelines(hist)
    return out


def test_forecast_money_kpis_are_converted_or_left_out(tmp_path):
    from salesops_kit import forecast
    from salesops_kit.data.load import load_dataset

    export = _export_with_closed_usd_deals(tmp_path)   # USD: 10 closed deals and an open one
    mixed = forecast.kpi_rows(load_dataset(export, mapping="salesforce"))
    money = {"forecast_next_12m_total", "pipeline_expected_next_quarter"}
    # several currencies, no rates: per currency (segment currency=XXX, in that code), never an 'all' total
    got = [r for r in mixed if r["kpi"] in money]
    assert got and all(r["segment"] == f"currency={r['currency']}" for r in got)
    assert {r["currency"] for r in got} <= {"COP", "MXN", "PEN", "USD"} and "USD" in {r["currency"] for r in got}
    ds = load_dataset(export, mapping={"extends": "salesforce", "currency": {"report": "USD", "rates": RATES}})
    rows = [r for r in forecast.kpi_rows(ds) if r["kpi"] in money]
    assert rows and all(r["currency"] == "USD" for r in rows)
    f = kpi_frame(rows)
    assert set(f["unit"]) == {"USD"}


def test_value_kpis_convert_orders_or_leave_money_out():
    from dataclasses import replace

    from salesops_kit import value
    from salesops_kit.data.load import load_dataset

    ds = load_dataset(Path(__file__).resolve().parents[2] / "data" / "sample")
    orders = ds.orders.copy()
    cop = orders.index % 2 == 0  # every other order in pesos, at 4,000 pesos a dollar
    orders["currency"] = np.where(cop, "COP", "USD")
    orders.loc[cop, "amount"] = orders.loc[cop, "amount"] * 4000
    keys = {"clv_simple", "cac", "clv_predictive_mean"}

    def money(d):
        rows = value.kpi_rows(d, n_boot=20)
        return {(r["kpi"], r["segment"]): r for r in rows if r["kpi"] in keys}

    base = money(ds)
    assert {r["currency"] for r in base.values()} == {"USD"}  # orders without a currency: the deals' only code
    mixed = replace(ds, tables={**ds.tables, "orders": orders})
    assert not money(mixed) and value.kpi_rows(mixed, n_boot=20)  # the non-money KPIs are still there
    rated = replace(mixed, mapping={**ds.mapping, "currency": {"report": "USD", "rates": {"COP": 0.00025}}})
    got = money(rated)
    assert got.keys() == base.keys() and base
    for k, r in got.items():
        assert r["value"] == pytest.approx(base[k]["value"], rel=1e-9) and r["currency"] == "USD"


def test_monitor_changes_of_money_kpis_never_mix_currencies():
    from salesops_kit import monitor
    from salesops_kit.data.load import load_dataset

    rows = monitor.kpi_rows(load_dataset(EXPORT, mapping="salesforce"))
    money = [r for r in rows if r["kpi"].startswith(("won_revenue_", "avg_won_deal_size_"))]
    # per currency only (segment currency=XXX, that code as unit), never a company, team or rep total
    assert money and all(r["segment"].startswith("currency=") for r in money)
    assert all(r.get("unit", r["segment"][9:]) == r["segment"][9:] for r in money)
    assert any(r["kpi"].startswith("deals_won_") or r["kpi"] == "alerts" for r in rows)


def test_sales_velocity_of_a_dataset_is_per_currency_or_converted():
    from salesops_kit.data.load import load_dataset
    from salesops_kit.funnel import sales_velocity

    t = sales_velocity(load_dataset(EXPORT, mapping="salesforce")).table
    assert sorted(t["currency"]) == ["COP", "MXN", "PEN", "USD"]
    raw = _raw()
    won = raw[(raw["StageName"] == "Closed Won") & raw["Amount"].notna()]
    assert t.set_index("currency")["avg_won_deal_size"].to_dict() == pytest.approx(
        won.groupby("CurrencyIsoCode")["Amount"].mean().to_dict())
    ds = load_dataset(EXPORT, mapping={"extends": "salesforce", "currency": {"report": "USD", "rates": RATES}})
    t = sales_velocity(ds).table
    usd = won["Amount"] * won["CurrencyIsoCode"].map({**RATES, "USD": 1.0})
    assert len(t) == 1 and t["avg_won_deal_size"].iloc[0] == pytest.approx(usd.mean())


def test_quota_attainment_is_converted_or_left_out():
    from dataclasses import replace

    from salesops_kit import reps
    from salesops_kit.data.load import load_dataset

    ds = load_dataset(Path(__file__).resolve().parents[2] / "data" / "sample")
    opps = ds.opportunities.copy()
    cop = opps.index % 2 == 0
    opps["currency"] = np.where(cop, "COP", "USD")
    opps.loc[cop, "amount"] = opps.loc[cop, "amount"] * 4000

    def attainment(d):
        return {r["segment"]: r["value"] for r in reps.kpi_rows(d) if r["kpi"] == "quota_attainment"}

    base = attainment(ds)
    mixed = replace(ds, tables={**ds.tables, "opportunities": opps})
    assert base and not attainment(mixed)
    rated = replace(mixed, mapping={**ds.mapping, "currency": {"report": "USD", "rates": {"COP": 0.00025}}})
    assert attainment(rated) == pytest.approx(base, rel=1e-9)
