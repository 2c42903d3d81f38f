"""`salesops mapping suggest`: a draft mapping that, for the documented exports, loads the same deals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from salesops_kit import load_dataset
from salesops_kit.data.suggest import match_headers, suggest_mapping

EXPORTS = Path(__file__).parents[1] / "fixtures" / "exports"


@pytest.mark.parametrize("rel,builtin", [
    ("zoho/Deals_2024.csv", "zoho"),
    ("jiandaoyun/商机.csv", "jiandaoyun"),
    ("hubspot/all-deals.csv", "hubspot"),
    ("salesforce_eu/opportunities_eu.csv", str(EXPORTS / "salesforce_eu" / "mapping.yml")),
    ("salesforce_api/Opportunity.csv", "salesforce"),
])
def test_draft_loads_like_the_builtin_mapping(tmp_path, rel, builtin):
    src = EXPORTS / rel
    text = suggest_mapping(src)
    m = yaml.safe_load(text)
    assert m["name"] == "draft" and "opportunities" in m["tables"]
    shutil.copy(src, tmp_path / src.name)
    (tmp_path / "draft.yml").write_text(text, encoding="utf-8")
    got = load_dataset(tmp_path / src.name, mapping=tmp_path / "draft.yml").opportunities
    ref = load_dataset(src, mapping=builtin).opportunities
    cols = ["opportunity_id", "stage", "amount", "created_date", "close_date", "is_closed", "is_won"]
    assert got[cols].equals(ref[cols])


def test_draft_lists_stage_values_and_unplaced_headers():
    text = suggest_mapping(EXPORTS / "zoho" / "Deals_2024.csv")
    m = yaml.safe_load(text)
    assert m["stages"] == {"order": ["Qualification", "Negotiation/Review"], "won": ["Closed Won"],
                           "lost": ["Closed Lost"]}  # open stages ordered by Zoho's own probability
    assert "Closed Won (2)" in text
    assert '#   "Deal Name", "Account Name"' in text  # Account Name.id is the id; the name is not placed
    assert m["tables"]["opportunities"]["columns"]["account_id"] == "Account Name.id"


def test_fuzzy_match_and_missing_required(tmp_path):
    f = tmp_path / "export.csv"
    f.write_text("Deal Ref,Sales Stage,Amt,Created On,Expected Closing,Zzz\nD1,Open,5,2024-01-01,2024-02-01,x\n",
                 encoding="utf-8")
    text = suggest_mapping(f)
    cols = yaml.safe_load(text)["tables"]["opportunities"]["columns"]
    assert cols["stage"] == "Sales Stage"
    assert cols["owner"] == "???" and "REQUIRED, not found" in text
    assert '"Zzz"' in text.splitlines()[-1]


def test_match_headers_chinese_and_each_header_once():
    m = match_headers(["负责人", "销售阶段", "金额", "创建时间"], "opportunities")
    assert m["owner"] == ("负责人", "synonym") and m["amount"][0] == "金额"
    m = match_headers(["Owner"], "opportunities")
    assert list(m) == ["owner"]


def test_guesses_the_orders_table(tmp_path):
    f = tmp_path / "export.csv"
    f.write_text("Order Number,Customer ID,Order Date,Total\nA1,C1,2024-01-01,5\n", encoding="utf-8")
    m = yaml.safe_load(suggest_mapping(f))
    assert m["tables"]["orders"]["columns"] == {"order_id": "Order Number", "customer_id": "Customer ID",
                                                "order_date": "Order Date", "amount": "Total"}
    assert "stages" not in m
