"""Each KPI definition says which withheld fields leave a row out of it (issue 14), and the providers do what the
definitions say.

A rejected field is not a rejected row: the loader keeps a deal whose amount is a credit, whose close date is
missing, whose created date is blank, or that closed before it was created, and withholds the field. A hand-made
export plants one deal of each kind; the KPIs are checked against counts done by hand in the comments.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from salesops_kit import funnel, load_dataset
from salesops_kit.funnel.cycle import cycle_counts
from salesops_kit.i18n import catalog
from salesops_kit.kpis import REGISTRY, WITHHELD_PREFIX, definition

MAPPING = {"name": "t", "tables": {"opportunities": {"file": "opportunities.csv"}},
           "stages": {"order": ["Prospecting", "Qualification"], "won": ["Closed Won"], "lost": ["Closed Lost"]}}
# id, stage, created, close, amount                         cycle days (created -> close)
DEALS = [
    ("d1", "Closed Won", "2024-01-01", "2024-01-11", "100"),  # 10
    ("d2", "Closed Won", "2024-01-01", "2024-01-31", "300"),  # 30
    ("d3", "Closed Won", "2024-02-10", "2024-02-01", "200"),  # closed before created: kept, out of cycle times
    ("d4", "Closed Won", "2024-01-05", "2024-01-25", "-50"),  # a credit: amount withheld; 20
    ("d5", "Closed Lost", "2024-01-02", "", "80"),            # closed without close date: close_date withheld
    ("d6", "Closed Lost", "2024-01-03", "2024-01-13", "70"),  # 10
    ("d7", "Prospecting", "", "2024-04-30", "40"),            # open without created date: created_date withheld
    ("d8", "Qualification", "2024-02-01", "2024-04-30", "60"),  # open, censored at as-of
]
AS_OF = "2024-03-01"


def test_every_registry_kpi_says_which_withheld_fields_leave_a_row_out():
    zh = catalog("kpi_definitions", "zh")
    missing = [k for k, d in REGISTRY.items() if not d.withheld.strip()]
    assert not missing, f"KPIs without a withheld-field statement (kpis.WITHHELD_EFFECT): {missing}"
    for name, d in REGISTRY.items():
        assert d.definition.endswith(f"{WITHHELD_PREFIX}{d.withheld}."), name
        assert "扣留字段：" in zh[name], f"the zh definition of {name} does not say which withheld fields exclude"
        assert "扣留字段：" in definition(name, "zh") and WITHHELD_PREFIX in definition(name, "en"), name
    # a statement names real columns of the schema, or says none
    from salesops_kit.data.schema import TABLES

    cols = {c for t in TABLES.values() for c in t.dtypes}
    for name, d in REGISTRY.items():
        head = re.split(r"[:(;]", d.withheld)[0]
        named = set(re.findall(r"[a-z]+_[a-z_]+|\bamount\b|\bmargin\b", head))
        assert head.startswith(("none", "as ", "the date")) or (named and named <= cols), (name, head)


@pytest.fixture(scope="module", params=["pandas", "duckdb"])
def ds(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"withheld_{request.param}")
    pd.DataFrame(DEALS, columns=["opportunity_id", "stage", "created_date", "close_date", "amount"]).assign(
        owner="ann").to_csv(folder / "opportunities.csv", index=False)
    return load_dataset(folder, mapping=MAPPING, as_of=AS_OF, engine=request.param)


def _kpis(ds) -> dict:
    return {r["kpi"]: r["value"] for r in funnel.kpi_rows(ds) if r["segment"] == "all"}


def test_planted_problems_are_withheld_fields_not_rejected_rows(ds):
    acc = ds.account.set_index("table").loc["opportunities"]
    assert (acc["rows_read"], acc["rows_kept"], acc["rows_quarantined"]) == (8, 8, 0)
    w = {(r.column, r.reason): r.rows for r in ds.withheld.itertuples()}
    assert w == {("amount", "negative amount"): 1, ("close_date", "closed deal without close date"): 1,
                 ("created_date", "missing value"): 1, ("close_date", "close before created"): 1}


def test_win_rate_keeps_a_closed_deal_without_close_date(ds):
    assert REGISTRY["win_rate"].withheld.startswith("none over all time")
    k = _kpis(ds)
    # won d1-d4, lost d5 (no close date) and d6: 4 / 6, not 4 / 5
    assert (k["deals_won"], k["deals_lost"], k["win_rate"]) == (4, 2, pytest.approx(4 / 6))
    # "period views by close date leave it out": the monthly view closes 5 deals, d5 in no month
    by_month = funnel.win_rate(ds, period="M").table
    assert by_month["n"].sum() == 5 and by_month["lost"].sum() == 1


def test_won_revenue_adds_a_withheld_amount_as_zero_and_the_mean_leaves_it_out(ds):
    assert REGISTRY["won_revenue"].withheld.startswith("amount")
    assert REGISTRY["avg_won_deal_size"].withheld.startswith("amount")
    k = _kpis(ds)
    # won amounts 100 + 300 + 200 (d3, closed before created, is a won deal like any) + d4's withheld credit (0)
    assert k["won_revenue"] == pytest.approx(600.0)
    assert k["avg_won_deal_size"] == pytest.approx(600.0 / 3)  # d4 has no amount: 3 amounts, not 4
    assert k["deals_won"] == 4  # "it still counts in deals_won"


def test_sales_cycle_leaves_out_exactly_the_deals_its_definition_names(ds):
    assert REGISTRY["sales_cycle_median_days"].withheld.startswith("created_date and close_date")
    counts, _, dropped = cycle_counts(ds.opportunities, as_of=pd.Timestamp(AS_OF), stages=ds.stages)
    # left out: d5 (closed, no close date) and d7 (no created date) have no days; d3 closed before it was created
    assert dropped == {"no_dates": 2, "negative": 1, "late": 0}  # late: created after the as-of day
    assert int(counts["n"].sum()) == 5  # d1, d2, d4, d6 closed and d8 censored at as-of
    k = _kpis(ds)
    assert k["sales_cycle_won_mean_days"] == pytest.approx((10 + 30 + 20) / 3)  # d1, d2, d4: d3 left out


def test_open_pipeline_by_stage_keeps_an_open_deal_without_created_date(ds):
    assert REGISTRY["deals_open"].withheld.startswith("none")
    assert _kpis(ds)["deals_open"] == 2  # d7 (no created date) and d8
    f = funnel.stage_funnel(ds).table.set_index("stage")
    assert (int(f.loc["Prospecting", "open"]), int(f.loc["Qualification", "open"])) == (1, 1)  # d7 in Prospecting
