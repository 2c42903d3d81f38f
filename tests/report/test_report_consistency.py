"""One number per KPI (issue 15, deliverable 1): on the sample report, every finding that names a KPI (``kpi``,
``segment``) quotes the number of that kpis.csv row, and every headline number on the index is its kpis.csv row,
compared at the precision the page prints (rates in %). The report is the session's sample report
(``test_report_support.sample_report``, shared with the end-to-end, browser and page tests).

The comparison is tested on its own first (hand-checkable numbers), and on the sample with a doctored record,
so that a pass means the numbers agree and not that nothing was compared.
"""

from __future__ import annotations

import pandas as pd
import pytest
import test_report_support as support
from bs4 import BeautifulSoup
from report_checks import agrees, finding_mismatches, headline_mismatches, parse_number, shift_number

from salesops_kit.report.pages import SUMMARY_DECISIONS, format_value

# --- the comparison -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shown, value, unit, same", [
    ("28.5%", 0.28476, "rate", True), ("28.6%", 0.28476, "rate", False), ("28%", 0.2849, "rate", True),
    ("1.66", 1.6623, "ratio", True), ("1.69", 1.6623, "ratio", False), ("1.662", 1.6623, "ratio", True),
    ("15,923 USD", 15923.4, "USD", True), ("15,924 USD", 15923.4, "USD", False),
    ("4.10", 4.0960, "score", True), ("4.02", 4.0960, "score", False), ("2,840.6 万 USD", 28_406_150, "USD", True),
    ("-3 days", -3.2, "days", True), ("88%", 0.8831, "share", True), ("no number", 1.0, "ratio", False),
])
def test_a_number_agrees_at_the_precision_it_is_shown(shown, value, unit, same):
    assert agrees(shown, value, unit) is same


def test_parse_number_keeps_the_shown_precision():
    assert parse_number("28.5% (95% CI 27%-30%)") == (28.5, pytest.approx(0.05), "%")
    assert parse_number("1,396,229 USD vs 734,430") == (1396229.0, 0.5, "")


KPIS = pd.DataFrame({"kpi": ["win_rate", "win_rate", "mase"], "segment": ["all", "team=Atlas", "all"],
                     "value": [0.28476, 0.26, 1.6623], "unit": ["rate", "rate", "ratio"]})


def test_finding_mismatches_name_the_finding_and_both_numbers():
    ok = pd.DataFrame([{"notebook": "01_f", "subject": "company", "kpi": "win_rate", "segment": "all",
                        "value": "28.5%"},
                       {"notebook": "05_m", "subject": "Atlas", "kpi": "win_rate", "segment": "team=Atlas",
                        "value": "26.0%"},
                       {"notebook": "03_s", "subject": "forecast", "kpi": None, "segment": "all", "value": "1.69"}])
    assert finding_mismatches(ok, KPIS) == []
    bad = ok.assign(value=["28.5%", "26.0%", "1.69"], kpi=["win_rate", "win_rate", "mase"])
    assert finding_mismatches(bad, KPIS) == ["03_s / forecast: quotes '1.69' for mase (all); kpis.csv has 1.6623 ratio"]
    missing = ok.assign(segment=["all", "team=Boreal", "all"])
    assert finding_mismatches(missing, KPIS) == [
        "05_m / Atlas: names KPI win_rate segment team=Boreal, which kpis.csv does not have"]


# --- the sample report --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    if not support.have_sample():
        pytest.skip("data/sample has not been generated")
    res = support.sample_report(tmp_path_factory)
    kpis = pd.read_csv(res.out_dir / "kpis.csv", dtype={"segment": str, "unit": str})
    findings = pd.read_csv(res.out_dir / "findings.csv", dtype=str, keep_default_na=False)
    return res, kpis, findings


@pytest.mark.slow
def test_every_finding_quotes_the_kpis_csv_number_it_names(sample):
    _, kpis, findings = sample
    named = findings[findings["kpi"].str.strip() != ""]
    assert len(named), "no finding names its KPI (Finding.kpi): nothing would be compared"
    problems = finding_mismatches(named, kpis)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_a_doctored_finding_is_caught(sample):
    """The sample's first finding that names a KPI, its value moved by ten of its last shown digits, fails."""
    _, kpis, findings = sample
    named = findings[findings["kpi"].str.strip() != ""]
    if not len(named):  # no finding names a KPI yet: one built from a kpis.csv row as the index prints it
        row = kpis[kpis["segment"] == "all"].iloc[0]
        named = pd.DataFrame([{"notebook": "00_x", "subject": "company", "kpi": row["kpi"], "segment": "all",
                               "value": format_value(row["value"], row["unit"])}])
    rec = named.iloc[[0]]
    doctored = rec.assign(value=[shift_number(rec["value"].item(), 10)])
    assert doctored["value"].item() != rec["value"].item()
    found = finding_mismatches(doctored, kpis)
    assert len(found) == 1 and repr(doctored["value"].item()) in found[0], found


@pytest.mark.slow
def test_every_headline_number_on_the_index_is_its_kpis_csv_row(sample):
    res, kpis, _ = sample
    index = (res.out_dir / "index.html").read_text(encoding="utf-8")
    problems = headline_mismatches(index, kpis)
    assert not problems, "\n".join(problems)
    first = BeautifulSoup(index, "html.parser").select_one("tr[data-kpi]")["data-kpi"]
    doctored = kpis.copy()
    at = (doctored["kpi"] == first) & (doctored["segment"] == "all")
    doctored.loc[at, "value"] = pd.to_numeric(doctored.loc[at, "value"]) * 1.5 + 1
    found = headline_mismatches(index, doctored)
    assert len(found) == 1 and f"/ {first}:" in found[0], found


@pytest.mark.slow
def test_the_executive_summary_opens_the_index_by_money_at_stake(sample):
    """At most five decisions, largest stake first, at most two per notebook, each stake with the sample's
    currency code (USD) and never the word "currency"; taken from findings that carry a stake or lead."""
    res, _, findings = sample
    soup = BeautifulSoup((res.out_dir / "index.html").read_text(encoding="utf-8"), "html.parser")
    h2 = [h.get_text() for h in soup.find_all("h2")]
    assert h2[0] == "Executive summary", h2
    items = soup.select("ol.decisions > li")
    candidates = findings[(findings["lead"] == "True") | (findings["stake"].str.strip() != "")]
    per_nb = candidates.groupby("notebook").size().clip(upper=2).sum()
    assert len(items) == min(SUMMARY_DECISIONS, per_nb)
    stakes = []
    for li in items:
        span = li.select_one("span.stake")
        if span is not None:
            text = span.get_text()
            assert "USD" in text and "currency" not in text, text
            stakes.append(parse_number(text.rsplit(":", 1)[-1])[0])  # "(money at stake: 255,837 USD)"
    links = [li.find("a")["href"] for li in items]
    assert all(links.count(h) <= 2 for h in links)
    first = len(set(links))  # every notebook's first decision before any notebook's second one
    assert len(set(links[:first])) == first
    round1 = [parse_number(li.select_one("span.stake").get_text().rsplit(":", 1)[-1])[0]
              for li in items[:first] if li.select_one("span.stake") is not None]
    assert round1 == sorted(round1, reverse=True) and stakes[:len(round1)] == round1
