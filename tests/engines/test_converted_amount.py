"""Salesforce's "Amount (converted)" (issue 14, part 2): a multi-currency org's report carries each deal's Amount in
its own currency (Amount Currency) and the Amount (converted) in the corporate currency. A mapping that reads the
converted column as the amount, with ``currency: {report: USD}``, gets every money KPI in USD and no per-currency
split, whatever the row's deal currency says; the built-in mapping (Amount) splits per deal currency. Checked
against a plain csv read of the fixture, on pandas, Polars and DuckDB."""

import csv
import importlib.util
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from salesops_kit import funnel
from salesops_kit.data import currency
from salesops_kit.data.load import load_dataset

FOLDER = Path(__file__).resolve().parents[1] / "fixtures" / "exports" / "salesforce_converted"
MAPPING = FOLDER / "mapping.yml"
ENGINES = ["pandas"] + [e for e in ("polars", "duckdb") if importlib.util.find_spec(e)]


def _records(path: Path) -> list[dict]:
    """The report's records by hand: rows with an Opportunity ID (the footer lines have none)."""
    with open(path, encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if (r.get("Opportunity ID") or "").strip()]


def _won_by(records, amount: str, code: str | None) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for r in records:
        if r["Stage"] == "Closed Won":
            out[code or r["Amount Currency"]] += float(r[amount])
    return dict(out)


def _won_revenue(ds) -> tuple[dict[str, float], list[str]]:
    """won_revenue per currency code, and the segments of those rows (owner/lead source views left out)."""
    rows = pd.DataFrame(funnel.kpi_rows(ds))
    rows = rows[(rows["kpi"] == "won_revenue") & ~rows["segment"].str.startswith(("owner=", "lead_source="))]
    return dict(zip(rows["currency"], rows["value"], strict=True)), list(rows["segment"])


@pytest.mark.parametrize("engine", ENGINES)
def test_converted_amount_is_one_currency(engine):
    recs = _records(FOLDER / "opportunities_report.csv")
    assert len({r["Amount Currency"] for r in recs}) == 3  # the deals really are in three currencies
    ds = load_dataset(FOLDER, mapping=MAPPING, engine=engine)
    assert currency.currencies(ds) == ["USD"] and not currency.needs_split(ds)
    assert currency.single_currency(ds) == "USD"
    got, segments = _won_revenue(ds)
    assert segments == ["all"]  # no currency=XXX rows
    assert got == pytest.approx(_won_by(recs, "Amount (converted)", "USD"))


@pytest.mark.parametrize("engine", ENGINES)
def test_deal_currency_amount_is_split(engine):
    recs = _records(FOLDER / "opportunities_report.csv")
    ds = load_dataset(FOLDER, mapping="salesforce", engine=engine)
    assert currency.needs_split(ds)
    got, segments = _won_revenue(ds)
    assert sorted(segments) == [f"currency={c}" for c in sorted(got)]
    assert got == pytest.approx(_won_by(recs, "Amount", None))


def test_converted_amount_without_its_currency_column(tmp_path):
    """A report without "Amount (converted) Currency": the deal currency column is not read for the converted
    amount; the unit is the mapping's report code."""
    df = pd.read_csv(FOLDER / "opportunities_report.csv", dtype=str, keep_default_na=False)
    df = df[df["Opportunity ID"] != ""].drop(columns=["Amount (converted) Currency"])
    df.to_csv(tmp_path / "opportunities_report.csv", index=False)
    ds = load_dataset(tmp_path, mapping=MAPPING)
    assert "currency" not in ds.opportunities.columns
    assert currency.currencies(ds) == ["USD"] and not currency.needs_split(ds)
    got, segments = _won_revenue(ds)
    assert segments == ["all"]
    assert got == pytest.approx(_won_by(_records(FOLDER / "opportunities_report.csv"), "Amount (converted)", "USD"))
