"""Issue 14: a rejected field is not a rejected row.

A Salesforce report (Dutch locale) of a CRM after a migration (tests/fixtures/exports/salesforce_migrated, recipe
in make_migrated_fixture.py): deals entered after they closed, a credit, closed deals without close date, open
deals without created date and one exact copy. Every deal is kept except the copy; the withheld fields equal the
planted problems; win rate, won counts and won revenue equal a plain-pandas count of the raw file, on every engine.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from salesops_kit import engines, funnel, load_dataset
from salesops_kit.data import audit as quality
from salesops_kit.data.load import DataWarning
from salesops_kit.funnel.cycle import cycle_counts

FOLDER = Path(__file__).parents[1] / "fixtures" / "exports" / "salesforce_migrated"
MAPPING = FOLDER / "mapping.yml"
RAW = FOLDER / "opportunities_report.csv"


def _load(path=FOLDER, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return load_dataset(path, mapping=MAPPING, **kw)


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    """The raw report read by plain pandas, independently of the kit: records are the rows with an id."""
    df = pd.read_csv(RAW, dtype=str, keep_default_na=False)
    df = df[df["Opportunity ID"].str.strip() != ""].copy()
    df["amount"] = df["Amount"].str.replace(".", "", regex=False).str.replace(",", ".", regex=False).astype(float)
    df["created"] = pd.to_datetime(df["Created Date"], format="%d-%m-%Y", errors="coerce")
    df["close"] = pd.to_datetime(df["Close Date"], format="%d-%m-%Y", errors="coerce")
    return df


@pytest.fixture(scope="module")
def unique(raw) -> pd.DataFrame:
    return raw.drop_duplicates()  # the exact copy is the only row that is not a record


@pytest.fixture(scope="module")
def planted(unique) -> dict:
    closed = unique["Stage"].isin(["Closed Won", "Closed Lost"])
    return {
        ("close_date", "close before created"): int((unique["close"] < unique["created"]).sum()),
        ("amount", "negative amount"): int((unique["amount"] < 0).sum()),
        ("close_date", "closed deal without close date"): int((closed & (unique["Close Date"] == "")).sum()),
        ("created_date", "missing value"): int((unique["Created Date"] == "").sum()),
    }


@pytest.fixture(scope="module")
def footerless(tmp_path_factory) -> Path:
    """The same report without the footer lines (the lazy engines read footers only as blank-id rows)."""
    out = tmp_path_factory.mktemp("migrated")
    lines = RAW.read_text(encoding="utf-8").splitlines()
    end = next(i for i, line in enumerate(lines) if line == '""')
    (out / RAW.name).write_text("\n".join(lines[:end]) + "\n", encoding="utf-8")
    return out


def test_every_deal_is_kept_but_the_copy(raw, unique):
    ds = _load()
    acc = ds.account.set_index("table").loc["opportunities"]
    assert acc["rows_read"] == len(raw) == acc["rows_kept"] + acc["rows_quarantined"]
    assert acc["rows_kept"] == len(unique) and acc["rows_quarantined"] == 1
    assert ds.quarantine["opportunities"]["check"].tolist() == ["exact duplicate row"]
    assert acc["footer_lines"] == 6


def test_withheld_counts_equal_the_planted_problems(planted):
    ds = _load()
    got = ds.withheld.set_index(["column", "reason"])["rows"].to_dict()
    assert got == planted
    assert planted == {("close_date", "close before created"): 12, ("amount", "negative amount"): 1,
                       ("close_date", "closed deal without close date"): 2, ("created_date", "missing value"): 6}
    # the examples name the file and line of the first such deal (header = line 1)
    ex = ds.withheld.set_index(["column", "reason"])["example"]
    assert ex[("amount", "negative amount")] == "opportunities_report.csv:31"
    # the audit shows the same table and one check row per reason
    res = quality.audit(ds)
    pd.testing.assert_frame_equal(res.withheld, ds.withheld)
    w = res.checks[res.checks["action"] == "withheld"].set_index("check")["rows"]
    assert w["close before created"] == 12 and w["negative amount"] == 1 and w["missing value"] == 6
    assert "Fields withheld" in str(res) and "opportunities_report.csv:31" in str(res)


def test_win_rate_and_won_revenue_equal_an_independent_count(unique):
    ds = _load()
    won = int((unique["Stage"] == "Closed Won").sum())
    lost = int((unique["Stage"] == "Closed Lost").sum())
    open_ = len(unique) - won - lost
    w = unique[unique["Stage"] == "Closed Won"]
    revenue = float(w.loc[w["amount"] > 0, "amount"].sum())  # the credit's amount is withheld from money KPIs
    assert (won, lost, open_) == (21, 10, 10)
    t = funnel.win_rate(ds).table.iloc[0]
    assert (t["won"], t["lost"]) == (won, lost) and t["win_rate"] == pytest.approx(won / (won + lost))
    k = pd.DataFrame(funnel.kpi_rows(ds))
    k = k[k["segment"] == "all"].set_index("kpi")["value"]
    assert k["deals_won"] == won and k["deals_lost"] == lost and k["deals_open"] == open_
    assert k["win_rate"] == pytest.approx(won / (won + lost))
    assert k["won_revenue"] == pytest.approx(revenue)


def test_each_withheld_field_leaves_only_its_kpi(unique):
    ds = _load()
    won = int((unique["Stage"] == "Closed Won").sum())
    # closed deals without close date: in the all-time win rate, not in the period view
    by_month = funnel.win_rate(ds, period="M").table
    assert by_month["won"].sum() == won - 1 and by_month["period"].notna().all()
    # deals closed before they were created: out of cycle-time statistics only; open deals without created
    # date and closed deals without close date have no cycle length either
    _, _, dropped = cycle_counts(ds.opportunities, as_of=ds.as_of, stages=ds.stages)
    assert dropped == {"negative": 12, "no_dates": 6 + 2, "late": 0}  # late: created after the as-of day
    # open deals without created date: in the pipeline by stage, not in creation cohorts
    o = ds.opportunities
    assert o[~o["is_closed"]].groupby("stage").size()["Prospecting"] == 6
    assert funnel.deal_totals(o, stages=ds.stages)["open"].iloc[0] == 10
    cohorts = funnel.win_rate(ds, definition="created", period="M").table
    assert cohorts["open"].sum() == 10 - 6 and cohorts["period"].notna().all()


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_same_on_every_engine(footerless, engine, unique):
    ref = _load(footerless)
    ds = _load(footerless, engine=engine)
    pd.testing.assert_frame_equal(ds.account, ref.account)
    pd.testing.assert_frame_equal(ds.withheld, ref.withheld)
    got = engines.to_pandas(ds.opportunities).sort_values("opportunity_id").reset_index(drop=True)
    exp = ref.opportunities.sort_values("opportunity_id").reset_index(drop=True)
    got = got[exp.columns].astype({c: "datetime64[ns]" for c in ("created_date", "close_date")})
    pd.testing.assert_frame_equal(got, exp, check_dtype=False)
    t = funnel.win_rate(ds.opportunities, stages=ds.stages).table.iloc[0]
    assert (t["won"], t["lost"]) == ((unique["Stage"] == "Closed Won").sum(), (unique["Stage"] == "Closed Lost").sum())
    flags = ds.flags.set_index(["table", "check"])["rows"]
    assert flags[("opportunities", "close before created")] == 12
    assert flags[("opportunities", "negative amount")] == 1
