"""``salesops mapping suggest FILE``: a draft mapping YAML for an export the kit does not know.

Headers are matched to canonical columns by English and Chinese synonyms (exact, after
normalising case, spaces and punctuation) and then by fuzzy matching (difflib); the stage values
found are listed for the ``stages:`` block (open stages ordered by the export's own probability when
it has one); headers that could not be placed are listed in a comment. The draft is valid YAML
that :func:`salesops_kit.load_dataset` accepts once the analyst has checked it.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pandas as pd

from .parse import parse_probability
from .readers import read_file
from .schema import TABLES

__all__ = ["suggest_mapping", "SYNONYMS", "match_headers"]

_ID = ["id", "record id", "编号", "数据id"]
SYNONYMS: dict[str, dict[str, list[str]]] = {
    "opportunities": {
        "opportunity_id": ["opportunity id", "deal id", "record id", "opportunityid", "hs object id", "商机编号",
                           "商机id", "机会编号", "negocio id", "id"],
        "owner": ["opportunity owner", "deal owner", "owner", "owner name", "sales rep", "salesperson", "rep",
                  "account executive", "ownerid", "hubspot owner id", "负责人", "销售负责人", "所属人", "业务员",
                  "销售", "proprietário", "responsável"],
        "stage": ["stage", "deal stage", "stagename", "sales stage", "pipeline stage", "dealstage", "销售阶段",
                  "商机阶段", "阶段", "etapa", "fase"],
        "amount": ["amount", "deal amount", "opportunity amount", "deal value", "value", "revenue",
                   "预计成交金额", "商机金额", "成交金额", "金额", "valor"],
        "created_date": ["created date", "create date", "created time", "createddate", "createdate", "created",
                         "date created", "创建时间", "创建日期", "提交时间", "negócio criado em", "data de criação"],
        "close_date": ["close date", "closing date", "closedate", "expected close date", "close", "预计成交日期",
                       "成交日期", "结单日期", "data de fechamento", "data prevista de fechamento"],
        "account_id": ["account id", "accountid", "account name id", "account name", "account", "company",
                       "associated company", "客户名称", "客户", "公司", "organização"],
        "team": ["team", "sales team", "owner role", "所属部门", "部门", "团队", "equipe"],
        "region": ["region", "territory", "sales region", "区域", "地区", "região"],
        "lead_source": ["lead source", "original source", "leadsource", "source", "商机来源", "线索来源", "来源",
                        "origem"],
        "product": ["product", "product name", "product family", "产品", "意向产品", "produto"],
        "probability": ["probability", "probability (%)", "deal probability", "win probability",
                        "hs deal stage probability", "赢率", "成交概率", "probabilidade"],
        "forecast_category": ["forecast category", "forecastcategoryname", "forecast category name", "预测类别"],
        "currency": ["currency", "currencyisocode", "amount currency", "opportunity currency", "币种", "货币", "moeda"],
        "lost_at_stage": ["lost at stage", "lost stage", "输单阶段"],
    },
    "leads": {
        "lead_id": ["lead id", "leadid", "contact id", "record id", "线索编号", "线索id"] + _ID,
        "created_date": ["created date", "create date", "createddate", "created time", "创建时间", "创建日期"],
        "source": ["lead source", "source", "original source", "leadsource", "channel", "线索来源", "来源", "渠道"],
        "owner": ["lead owner", "owner", "contact owner", "ownerid", "负责人"],
        "first_response_date": ["first response date", "first response", "first contact", "first contacted",
                                "首次跟进时间", "首次联系时间"],
        "converted_date": ["converted date", "convertdate", "converteddate", "转化时间", "转换日期"],
        "opportunity_id": ["converted opportunity id", "convertedopportunityid", "opportunity id", "商机编号"],
        "status": ["lead status", "status", "线索状态", "状态"],
    },
    "orders": {
        "order_id": ["order id", "order number", "invoice id", "invoice number", "transaction id", "订单编号",
                     "订单号", "订单id"],
        "customer_id": ["customer id", "customer", "client id", "account id", "客户编号", "客户id", "客户"],
        "order_date": ["order date", "invoice date", "purchase date", "transaction date", "date", "下单时间",
                       "订单日期", "日期"],
        "amount": ["amount", "order amount", "total", "revenue", "sales", "value", "订单金额", "金额", "实付金额"],
        "margin": ["margin", "gross margin", "profit", "毛利", "利润"],
        "product": ["product", "product name", "sku", "产品", "商品"],
        "channel": ["channel", "acquisition channel", "source", "渠道", "来源"],
    },
    "marketing_spend": {
        "month": ["month", "period", "date", "月份", "月"],
        "channel": ["channel", "source", "campaign type", "渠道"],
        "spend": ["spend", "cost", "amount", "budget spent", "花费", "费用", "成本"],
        "cost_type": ["cost type", "type", "费用类型"],
    },
    "activities": {
        "owner": ["owner", "assigned to", "user", "rep", "负责人", "跟进人"],
        "activity_date": ["activity date", "date", "due date", "created date", "跟进时间", "活动日期"],
        "type": ["type", "activity type", "task type", "subtype", "跟进方式", "类型"],
        "opportunity_id": ["opportunity id", "deal id", "related to id", "what id", "商机编号"],
        "lead_id": ["lead id", "who id", "contact id", "线索编号"],
    },
    "csat": {
        "score": ["score", "rating", "csat", "satisfaction", "nps", "评分", "满意度"],
        "survey_date": ["survey date", "response date", "date", "submitted at", "提交时间", "日期"],
        "owner": ["owner", "agent", "rep", "负责人"],
        "customer_id": ["customer id", "customer", "account id", "客户"],
        "scale_max": ["scale max", "max score", "满分"],
    },
    "quotas": {
        "owner": ["owner", "rep", "user", "sales rep", "负责人", "销售"],
        "period_start": ["period start", "start date", "month", "period", "开始日期", "月份"],
        "quota": ["quota", "target", "goal", "指标", "目标", "业绩目标"],
        "period_end": ["period end", "end date", "结束日期"],
    },
}
_WON = re.compile(r"\bwon\b|\bwin\b|ganho|gagn|ganad|赢|成交|签约|中标", re.IGNORECASE)
_LOST = re.compile(r"\blost\b|\blose\b|perdid|perdu|abandon|disqualif|输|丢|失败|流失", re.IGNORECASE)


def _norm(h: str) -> str:
    h = str(h).strip().strip('"').strip("\ufeff").casefold()
    h = re.sub(r"[_\-.:/]+", " ", h)
    return re.sub(r"\s+", " ", h).strip()


def match_headers(headers: list[str], table: str) -> dict[str, tuple[str, str]]:
    """Match headers to ``table``'s canonical columns: canonical -> (header, how), how = "synonym" or
    "fuzzy 0.xx". Each header is used at most once; exact synonyms win over fuzzy matches."""
    syn = SYNONYMS[table]
    norm = {h: _norm(h) for h in headers if str(h).strip()}
    out: dict[str, tuple[str, str]] = {}
    used: set[str] = set()
    for canon, words in syn.items():  # exact synonyms, in synonym priority order
        cands = [_norm(canon)] + [_norm(w) for w in words]
        for w in cands:
            hit = next((h for h, n in norm.items() if n == w and h not in used), None)
            if hit is not None:
                out[canon] = (hit, "synonym")
                used.add(hit)
                break
    scored = []
    for canon, words in syn.items():
        if canon in out:
            continue
        for h, n in norm.items():
            if h in used:
                continue
            best = max(difflib.SequenceMatcher(None, n, _norm(w)).ratio() for w in [canon] + words)
            if best >= 0.75:
                scored.append((best, canon, h))
    for score, canon, h in sorted(scored, key=lambda x: (-x[0], x[1], x[2])):
        if canon not in out and h not in used:
            out[canon] = (h, f"fuzzy {score:.2f}")
            used.add(h)
    return out


def _pick_table(headers: list[str], name: str) -> str:
    best, best_score = "opportunities", -1.0
    lname = name.lower()
    hints = {"leads": ("lead", "线索"), "orders": ("order", "订单", "invoice"),
             "activities": ("activit", "task", "跟进"),
             "marketing_spend": ("spend", "cost", "费用"), "csat": ("csat", "survey", "nps", "满意"),
             "quotas": ("quota", "target", "指标")}
    for table in SYNONYMS:
        m = match_headers(headers, table)
        req = TABLES[table].required
        score = sum(c in m for c in req) / len(req) + 0.01 * len(m)
        if any(k in lname for k in hints.get(table, ())):
            score += 0.5
        if score > best_score:
            best, best_score = table, score
    return best


def _q(s: str) -> str:
    return json.dumps(str(s), ensure_ascii=False)


def suggest_mapping(path_or_file) -> str:
    """Return a draft mapping YAML (text) for one export file (CSV, XLSX or Parquet).

    The draft names the table it guessed, maps every canonical column it could place (with how it
    matched as a comment), marks required columns it could not find, suggests ``dates``/``amount``
    settings when the values need them, lists the stage values for ``stages:`` and the headers it
    could not place. Check every line before use.
    """
    path = Path(path_or_file)
    raw = read_file(path)
    headers = [h for h in raw.headers if h.strip()]
    table = _pick_table(headers, path.name)
    m = match_headers(raw.table.column_names, table)
    df = raw.table.slice(0, 200_000).to_pandas()
    lines = [f"# Draft mapping for {path.name} (salesops mapping suggest): check every line, save it as a .yml file",
             "# and pass its path as mapping=... (or --mapping). Built-in mappings: canonical, salesforce, hubspot,",
             "# zoho, jiandaoyun; a file can start with `extends: <built-in>` and override only what differs.",
             "name: draft", "tables:", f"  {table}:", f"    file: {_q(path.name)}"]
    if raw.encoding and raw.encoding not in ("utf-8", "utf-8-sig"):
        lines.append(f"    encoding: {raw.encoding}   # detected")
    lines.append("    columns:")
    for canon in TABLES[table].dtypes:
        if canon in ("is_closed", "is_won"):
            continue
        if canon in m:
            h, how = m[canon]
            header = raw.headers[raw.table.column_names.index(h)] if h in raw.table.column_names else h
            lines.append(f"      {canon}: {_q(header)}   # {how}")
        elif canon in TABLES[table].required:
            lines.append(f"      {canon}: \"???\"   # REQUIRED, not found: put the header that holds it")
    lines += _value_hints(table, m, df)
    if table == "opportunities":
        lines += _stage_block(m, df)
    placed = {h for h, _ in m.values()}
    unplaced = [h for h, n in zip(raw.headers, raw.table.column_names, strict=False) if n not in placed and h.strip()]
    lines.append("# Headers not placed (add any you need under columns, or ignore them):")
    lines.append("#   " + (", ".join(_q(h) for h in unplaced) if unplaced else "(none)"))
    return "\n".join(lines) + "\n"


def _value_hints(table: str, m: dict, df: pd.DataFrame) -> list[str]:
    out = []
    dated = [h for c, (h, _) in m.items() if TABLES[table].dtypes.get(c) == "datetime"]
    firsts, seconds = [], []
    for h in dated:
        g = df[h].dropna().astype(str).str.extract(r"^(\d{1,2})[-/.](\d{1,2})[-/.]\d{2,4}")
        g = g.dropna().astype(int)
        firsts.append(bool((g[0] > 12).any()))
        seconds.append(bool((g[1] > 12).any()))
    if any(firsts) and not any(seconds):
        out.append("    dates: {dayfirst: true}   # a first number above 12 was found: day/month/year")
    elif dated:
        out.append("    dates: {dayfirst: false}   # month/day/year when ambiguous; set true for day/month/year")
    amt = [h for c, (h, _) in m.items() if c in ("amount", "spend", "margin", "quota")]
    for h in amt[:1]:
        s = df[h].dropna().astype(str)
        if s.str.contains(r",\d{1,2}\s*(?:€|\w{3})?$").any() and not s.str.contains(r"\.\d{1,2}$").any():
            out.append("    amount: {decimal: \",\", thousands: \".\"}   # decimal commas found")
    return out


def _stage_block(m: dict, df: pd.DataFrame) -> list[str]:
    if "stage" not in m:
        return ["stages:   # no stage column found: fill in", "  order: []", "  won: []", "  lost: []"]
    h = m["stage"][0]
    vals = df[h].dropna().astype(str).str.strip()
    vals = vals[vals != ""]
    counts = vals.value_counts()
    first_seen = list(dict.fromkeys(vals))
    won = [v for v in first_seen if _WON.search(v) and not _LOST.search(v)]
    lost = [v for v in first_seen if _LOST.search(v) and v not in won]
    open_ = [v for v in first_seen if v not in won and v not in lost]
    how = "in order of first appearance"
    if "probability" in m and open_:
        p = parse_probability(df[m["probability"][0]]).values
        med = pd.Series(p.to_numpy(), index=df.index).groupby(df[h].astype(str).str.strip()).median()
        if med.reindex(open_).notna().all():
            open_ = sorted(open_, key=lambda v: (med[v], first_seen.index(v)))
            how = "ordered by the export's median probability"
    out = ["stages:",
           f"  order: [{', '.join(_q(v) for v in open_)}]   # open stages, {how}: put them in funnel order",
           f"  won: [{', '.join(_q(v) for v in won)}]",
           f"  lost: [{', '.join(_q(v) for v in lost)}]",
           "# Stage values found (rows): " + ", ".join(f"{v} ({counts[v]})" for v in first_seen)]
    return out
