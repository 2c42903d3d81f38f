"""Checks of a rendered report as a manager reads it (issue 15), shared by the sample and corpus tests.

- :func:`finding_mismatches` / :func:`headline_mismatches`: one number per KPI. A finding that names a KPI
  (``kpi``, ``segment``) quotes the number of that kpis.csv row; the index's headline table shows the kpis.csv
  row it names (``data-kpi``). Numbers are compared at the precision the page shows them (``28.5%`` against
  0.28476 agrees; ``28.6%`` does not).
- :func:`page_problems`: a page's tables and outputs read clean: no NaN/None/<NA>/NaT cell, no scientific
  notation, no table shown twice (as two HTML tables, or as HTML and again as printed text), no money whose unit
  is the word "currency". Each problem names the page and the table.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
from bs4 import BeautifulSoup

# --- numbers as the pages print them ----------------------------------------------------------------------------
# the first number of a text, with its scale (k, M, bn, 万, 亿) or percent sign
_NUMBER = re.compile(r"(?<![\w.])([-+−]?)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*(%|k\b|K\b|M\b|bn\b|万|亿)?")
_SCALE = {"k": 1e3, "K": 1e3, "M": 1e6, "bn": 1e9, "万": 1e4, "亿": 1e8}
_RATE_UNITS = {"rate", "share", "proportion", "fraction", "percent"}


def parse_number(text: str) -> tuple[float, float, str] | None:
    """``(value, half of the last shown digit, suffix)`` of the first number in ``text``; None without one.
    ``"28.5%"`` → (28.5, 0.05, "%"); ``"1,396,229 USD"`` → (1396229, 0.5, ""); ``"2,840.6 万 USD"`` → (28406000,
    500, "万")."""
    m = _NUMBER.search(str(text))
    if not m:
        return None
    sign, whole, frac, suffix = m.group(1), m.group(2), m.group(3) or "", m.group(4) or ""
    value = float(whole.replace(",", "") + frac)
    half = 0.5 * 10 ** -(len(frac) - 1 if frac else 0)
    if sign in ("-", "−"):
        value = -value
    scale = _SCALE.get(suffix, 1.0)
    return value * scale, half * scale, suffix


def shift_number(text: str, steps: int) -> str:
    """``text`` with its first number moved by ``steps`` of its last shown digit (``"28.5%"``, 10 → ``"29.5%"``),
    written the same way (thousands separators, decimals, scale and sign kept)."""
    m = _NUMBER.search(str(text))
    whole, frac = m.group(2), m.group(3) or ""
    decimals = len(frac) - 1 if frac else 0
    sign = -1 if m.group(1) in ("-", "−") else 1
    value = sign * float(whole.replace(",", "") + frac) + steps * 10 ** -decimals
    body = f"{abs(value):,.{decimals}f}" if "," in whole else f"{abs(value):.{decimals}f}"
    end = m.start() + len(m.group(1)) + len(whole) + len(frac)
    return text[:m.start()] + ("-" if value < 0 else m.group(1).replace("-", "").replace("−", "")) + body + text[end:]


def agrees(shown: str, value, unit: str) -> bool:
    """True when ``shown`` (as a page prints it) is ``value`` (a kpis.csv value in ``unit``) at the shown
    precision: a rate shown as a percentage is compared in percent. A value that is not a number (a date) is
    compared as text."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value).strip() != "" and str(shown).strip() == str(value).strip()
    parsed = parse_number(shown)
    if parsed is None or value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    number, half, suffix = parsed
    if suffix == "%" and (unit or "").lower() in _RATE_UNITS | {"rate"}:
        value = value * 100
    return abs(number - value) <= half * (1 + 1e-9) + 1e-12


def _kpi_rows(kpis: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    return {(str(r["kpi"]), str(r["segment"])): r for _, r in kpis.iterrows()}


def finding_mismatches(findings: pd.DataFrame, kpis: pd.DataFrame) -> list[str]:
    """Every finding with ``kpi`` set whose ``value`` does not print its kpis.csv row's number (or names a row that
    kpis.csv does not have): ``"<notebook> / <subject>: ..."``."""
    rows = _kpi_rows(kpis)
    out = []
    for _, f in findings.iterrows():
        kpi = f.get("kpi")
        if kpi is None or (isinstance(kpi, float) and math.isnan(kpi)) or not str(kpi).strip():
            continue
        seg = f.get("segment")
        seg = "all" if seg is None or (isinstance(seg, float) and math.isnan(seg)) or not str(seg) else str(seg)
        where = f"{f.get('notebook', '?')} / {f.get('subject', '?')}"
        row = rows.get((str(kpi), seg))
        if row is None:
            out.append(f"{where}: names KPI {kpi} segment {seg}, which kpis.csv does not have")
        elif not agrees(str(f.get("value", "")), row["value"], str(row["unit"])):
            out.append(f"{where}: quotes {f.get('value')!r} for {kpi} ({seg}); kpis.csv has {row['value']} "
                       f"{row['unit']}")
    return out


def headline_mismatches(index_html: str, kpis: pd.DataFrame) -> list[str]:
    """Every headline row of the index (``tr[data-kpi]``) whose value cell does not print its kpis.csv row
    (segment all); also when the index has no headline row at all while kpis.csv has rows."""
    rows = _kpi_rows(kpis)
    soup = BeautifulSoup(index_html, "html.parser")
    shown = soup.select("tr[data-kpi]")
    out = [] if shown or not len(kpis) else ["index.html: no headline KPI row (tr[data-kpi])"]
    for tr in shown:
        kpi = tr["data-kpi"]
        cells = [td.get_text(" ", strip=True) for td in tr.find_all("td")]
        row = rows.get((kpi, "all"))
        if row is None:
            out.append(f"index.html / Headline KPIs / {kpi}: not in kpis.csv (segment all)")
        elif not agrees(cells[1], row["value"], str(row["unit"])):
            out.append(f"index.html / Headline KPIs / {kpi}: shows {cells[1]!r}, kpis.csv has {row['value']} "
                       f"{row['unit']}")
    return out


# --- clean pages ------------------------------------------------------------------------------------------------
MISSING = {"nan", "none", "<na>", "nat", "null"}
SCIENTIFIC = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?[eE][-+]?\d+(?![\w.])")
MONEY_AS_CURRENCY = re.compile(r"\d[\d,.]*\s*(?:万|亿)?\s*currency\b|\(currency\)|\bcurrency per\b|\bcurrency/")
AMOUNT_IN_CURRENCY = re.compile(r"\d[\d,.]*\s*(?:万|亿)?\s*currency\b")  # printed prose may say "currency per unit"
_UNIT_HEADERS = {"unit", "units", "单位"}


def _table_name(tb, i: int) -> str:
    cap = tb.find("caption")
    if cap and cap.get_text(strip=True):
        return f"table {i} '{cap.get_text(' ', strip=True)[:60]}'"
    head = [c.get_text(" ", strip=True) for c in tb.find_all("tr")[0].find_all(["th", "td"])] if tb.find("tr") else []
    return f"table {i} [{' | '.join(h for h in head[:4] if h)[:60]}]"


def _outputs_text(soup) -> list[str]:
    """The printed text of the page's outputs (``<pre>`` blocks of output areas, not code inputs)."""
    outs = soup.select("div.jp-OutputArea-output pre") or [
        p for p in soup.find_all("pre") if not p.find_parent(class_="jp-InputArea")]
    return [p.get_text() for p in outs]


def page_problems(path: Path) -> list[str]:
    """The problems of one page: ``"<page> / <table>: <problem>: <example>"``, empty when clean."""
    page = Path(path).name
    soup = BeautifulSoup(Path(path).read_text(encoding="utf-8"), "html.parser")
    for inp in soup.select("div.jp-InputArea, div.jp-Cell-inputWrapper"):  # code is not page content
        inp.decompose()
    problems: list[str] = []
    seen: dict[tuple, str] = {}
    tables = soup.find_all("table")
    for i, tb in enumerate(tables, 1):
        name = _table_name(tb, i)
        rows = [[c.get_text(" ", strip=True) for c in tr.find_all(["th", "td"])] for tr in tb.find_all("tr")]
        head = rows[0] if rows else []
        unit_cols = {j for j, h in enumerate(head) if h.strip().lower() in _UNIT_HEADERS}
        flat = [c for r in rows for c in r]
        bad = [c for c in flat if c.strip().lower() in MISSING]
        if bad:
            problems.append(f"{page} / {name}: {len(bad)} missing-value cell(s) shown as {bad[0]!r}")
        sci = [c for c in flat if SCIENTIFIC.search(c)]
        if sci:
            problems.append(f"{page} / {name}: scientific notation in {len(sci)} cell(s), e.g. {sci[0]!r}")
        cur = [c for c in head if MONEY_AS_CURRENCY.search(c)]
        cur += [c for r in rows[1:] for j, c in enumerate(r)
                if MONEY_AS_CURRENCY.search(c) or (j in unit_cols and re.search(r"\bcurrency\b", c))]
        if cur:
            problems.append(f"{page} / {name}: the word 'currency' as a unit, e.g. {cur[0]!r}")
        key = tuple(flat)
        if len(flat) > 2 and key in seen:
            problems.append(f"{page} / {name}: the same table as {seen[key]}")
        seen.setdefault(key, name)
    printed = _outputs_text(soup)
    for text in printed:
        m = SCIENTIFIC.search(text)
        if m:
            line = next(ln for ln in text.splitlines() if m.group() in ln).strip()
            problems.append(f"{page} / printed output: scientific notation {m.group()!r} in {line[:80]!r}")
        for ln in text.splitlines():
            row = re.search(r"\S\s{2,}\S", ln) and re.search(r"\d", ln)  # a printed table row: aligned columns
            if row and re.search(r"(?:^|\s)(NaN|None|<NA>|NaT)(?:\s|$)", ln):
                problems.append(f"{page} / printed output: a missing value printed in a table row: {ln.strip()[:80]!r}")
                break
        m = AMOUNT_IN_CURRENCY.search(text)
        if m:
            problems.append(f"{page} / printed output: the word 'currency' as a unit: {m.group()!r}")
    problems += _tables_printed_again(page, tables, printed)
    return problems


def _tables_printed_again(page: str, tables, printed: list[str]) -> list[str]:
    """A table shown as HTML whose header and first row are also printed as text (``print(df)`` beside it)."""
    out = []
    for i, tb in enumerate(tables, 1):
        rows = [[c.get_text(" ", strip=True) for c in tr.find_all(["th", "td"])] for tr in tb.find_all("tr")]
        if len(rows) < 2:
            continue
        words = [w for w in rows[0] + rows[1] if len(w) > 1 and " " not in w]  # long text is cut when printed
        if len(words) < 3:
            continue
        for text in printed:
            tokens = set(text.split())
            if sum(w in tokens for w in words) >= 0.8 * len(words):
                out.append(f"{page} / {_table_name(tb, i)}: shown as a table and printed again as text")
                break
    return out
