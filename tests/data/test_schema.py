"""data/README.md (the data dictionary) and salesops_kit/schema.py describe the same canonical schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from salesops_kit.data.schema import CSAT_ONE_OF, TABLES

README = Path(__file__).resolve().parents[2] / "data" / "README.md"
ROW = re.compile(r"^\|\s*`(?P<col>[a-z_]+)`\s*\|\s*(?P<dtype>[a-z]+)\s*\|\s*(?P<req>yes|no)\s*\|(?P<meaning>.*)\|\s*$")


def parse_dictionary(text: str) -> dict[str, list[tuple[str, str, bool, str]]]:
    """Tables of the '## Canonical schema' section: {table: [(column, dtype, required, meaning), ...]}."""
    m = re.search(r"^## Canonical schema\s*$(?P<body>.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if m is None:
        raise AssertionError("data/README.md has no '## Canonical schema' section")
    out: dict[str, list] = {}
    current = None
    for line in m.group("body").splitlines():
        h = re.match(r"^### `?(?P<name>[a-z_]+)`?\s*$", line)
        if h:
            current = h.group("name")
            out[current] = []
            continue
        r = ROW.match(line)
        if r and current is not None:
            out[current].append((r["col"], r["dtype"], r["req"] == "yes", r["meaning"].strip()))
    return out


@pytest.fixture(scope="module")
def dictionary():
    return parse_dictionary(README.read_text(encoding="utf-8"))


def test_same_tables_in_the_same_order(dictionary):
    assert list(dictionary) == list(TABLES)


@pytest.mark.parametrize("table", list(TABLES))
def test_same_columns_dtypes_and_required_flags(dictionary, table):
    documented = [(c, d, r) for c, d, r, _ in dictionary[table]]
    schema = [(c.name, c.dtype, c.required) for c in TABLES[table].columns]
    assert documented == schema
    assert all(meaning for *_, meaning in dictionary[table]), f"{table}: a column without a meaning"


def test_csat_one_of_rule_is_documented():
    text = README.read_text(encoding="utf-8")
    assert all(f"`{c}`" in text for c in CSAT_ONE_OF) and "CSAT_ONE_OF" in text


def test_parser_sees_a_disagreement():
    # hand-made dictionary: one table, one column marked optional where the schema says required
    text = "## Canonical schema\n\n### quotas\n\n| column | dtype | required | meaning |\n|---|---|---|---|\n" \
           "| `owner` | string | no | Rep. |\n\n## Next\n| `x` | string | yes | outside |\n"
    parsed = parse_dictionary(text)
    assert parsed == {"quotas": [("owner", "string", False, "Rep.")]}
    assert [(c, d, r) for c, d, r, _ in parsed["quotas"]] != [
        (c.name, c.dtype, c.required) for c in TABLES["quotas"].columns]
