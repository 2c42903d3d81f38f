"""Audit: quarantine and flag checks counted per table, quarantine CSVs, coverage over time."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from salesops_kit import load_dataset
from salesops_kit.data import audit as quality  # noqa: E402
from salesops_kit.plots.audit import plot_audit_bars, plot_coverage  # noqa: E402

OPPS = """opportunity_id,owner,stage,amount,created_date,close_date
O1,Ann,Closed Won,100,2024-01-05,2024-01-20
O2,Ann,Proposal,100,2024-01-10,2024-01-31
O3,Bob,Proposal,100,2024-02-01,2024-12-31
O4,Bob,Closed Lost,-1,2024-02-02,2024-02-20
O5,Bob,Closed Lost,5,2024-03-02,2024-02-20
O6,Bob,Closed Won,5,yesterday,2024-02-20
O7,Bob,Closed Won,<b>bold</b>,2024-03-01,2024-03-20
O1,Ann,Closed Won,100,2024-01-05,2024-01-20
"""
ACTS = """owner,activity_date,type
Ann,2024-01-05,call
Ann,2024-01-05,call
Bob,2024-03-05,email
"""
ORDERS = """order_id,customer_id,order_date,amount
X1,C1,2024-01-03,10
X2,,2024-01-04,10
X3,C2,2024-03-09,10
"""


@pytest.fixture
def ds(tmp_path):
    (tmp_path / "opportunities.csv").write_text(OPPS, encoding="utf-8")
    (tmp_path / "activities.csv").write_text(ACTS, encoding="utf-8")
    (tmp_path / "orders.csv").write_text(ORDERS, encoding="utf-8")
    return load_dataset(tmp_path)


def _rows(res, table, check):
    c = res.checks
    return int(c.loc[(c["table"] == table) & (c["check"] == check), "rows"].iloc[0])


def test_audit_counts_by_hand(ds):
    res = quality.audit(ds)
    # quarantined: O4 negative, O5 close (02-20) before created (03-02), O6 bad date, O7 bad amount, O1 copy exact
    assert _rows(res, "opportunities", "negative amount") == 1
    assert _rows(res, "opportunities", "close before created") == 1
    assert _rows(res, "opportunities", "unparseable date") == 1
    assert _rows(res, "opportunities", "unparseable number") == 1
    assert _rows(res, "opportunities", "exact duplicate row") == 1
    assert _rows(res, "opportunities", "conflicting duplicate id") == 0
    assert _rows(res, "orders", "order without customer") == 1
    # as_of = latest event: O1..O3 kept; closed close dates 2024-01-20; orders 2024-03-09; activities 2024-03-05
    assert ds.as_of == pd.Timestamp("2024-03-09")
    # flagged: O2 open, close 2024-01-31 < as_of, and close = last day of creation month (HubSpot default);
    # O3 close 2024-12-31 is in the future (not past) and not its creation month's end
    assert _rows(res, "opportunities", "open deal past close date") == 1
    assert _rows(res, "opportunities", "default close date (last day of creation month)") == 1
    assert _rows(res, "activities", "repeated row (table without ids)") == 1
    assert list(res.checks.columns) == quality.CHECK_COLUMNS
    assert set(res.checks["action"]) == {"quarantined", "flagged"}
    assert (res.account["rows_read"] == res.account["rows_kept"] + res.account["rows_quarantined"]).all()


def test_audit_examples_and_summary(ds):
    res = quality.audit(ds)
    c = res.checks.set_index(["table", "check"])
    assert c.loc[("opportunities", "negative amount"), "examples"].startswith("opportunities.csv:5 negative amount")
    assert "O2" in c.loc[("opportunities", "open deal past close date"), "examples"]
    s = res.summary()
    assert list(s.columns) == ["table", "check", "rows", "action"] and (s["rows"] > 0).all()
    assert "quarantined" in res.headline()


def test_dates_after_explicit_as_of(tmp_path):
    (tmp_path / "opportunities.csv").write_text(OPPS, encoding="utf-8")
    ds = load_dataset(tmp_path, as_of="2024-01-31")
    res = quality.audit(ds)
    # kept: O1 (created 01-05, closed 01-20), O2 (created 01-10), O3 (created 02-01): O3 is after as_of
    assert _rows(res, "opportunities", "date after as_of") == 1


def test_repr_html_escapes_data_text(ds):
    h = quality.audit(ds)._repr_html_()
    assert "<b>bold</b>" not in h and "&lt;b&gt;bold&lt;/b&gt;" in h
    assert h == quality.audit(ds)._repr_html_()  # deterministic


def test_write_quarantine(ds, tmp_path):
    out = tmp_path / "q"
    paths = quality.write_quarantine(ds, out)
    assert [p.name for p in paths] == ["quarantine_opportunities.csv", "quarantine_orders.csv"]
    back = pd.read_csv(paths[0], dtype=str)
    assert len(back) == len(ds.quarantine["opportunities"]) == 5
    assert {"reason", "check", "source_file", "source_line"} <= set(back.columns)


def test_coverage_counts_and_gaps(ds):
    cov = quality.coverage(ds)
    opp = cov[cov["table"] == "opportunities"].set_index("period")["rows"]
    # kept opportunities: O1, O2 (January), O3 (February)
    assert opp.to_dict() == {pd.Timestamp("2024-01-01"): 2, pd.Timestamp("2024-02-01"): 1}
    act = cov[cov["table"] == "activities"].set_index("period")["rows"]
    # activities in January (2) and March (1): February shows as a gap with 0 rows
    assert act.tolist() == [2, 0, 1]
    assert list(cov.columns) == ["period", "table", "rows"]
    with pytest.raises(ValueError):
        quality.coverage(ds, freq="fortnight")


def test_coverage_plot_and_audit_bars(ds):
    cov = quality.coverage(ds)
    ax = plot_coverage(cov)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0].startswith("opportunities") and len(labels) == 3
    ax = plot_audit_bars(quality.audit(ds).summary())
    assert len(ax.patches) == len(quality.audit(ds).summary())
    ax = plot_coverage(cov.iloc[0:0])
    assert "no dated rows" in ax.get_title()


def test_audit_on_header_only_dataset(tmp_path):
    (tmp_path / "opportunities.csv").write_text(OPPS.splitlines()[0] + "\n", encoding="utf-8")
    ds = load_dataset(tmp_path)
    res = quality.audit(ds)
    assert (res.checks["rows"] == 0).all() and res.summary().empty
    assert quality.coverage(ds).empty


def test_str_is_a_terminal_report(ds):
    text = str(quality.audit(ds))
    assert text.splitlines()[0] == quality.audit(ds).headline()
    assert "negative amount" in text and "rows_quarantined" in text


def test_audit_findings(ds):
    res = quality.audit(ds)
    cov = quality.coverage(ds)
    f = quality.audit_findings(res, cov)
    subjects = [(x.subject, x.metric) for x in f]
    # opportunities: 5 of 8 rows quarantined -> the most serious finding comes first
    assert subjects[0] == ("opportunities", "rows quarantined") and f[0].value == "5"
    assert ("orders", "rows quarantined") in subjects
    assert ("activities", "periods without rows") in subjects  # February has no activity
    assert ("opportunities", "open deal past close date") in subjects
