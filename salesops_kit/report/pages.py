"""The report's own pages: ``index.html`` and the "tables missing" pages, in English or Chinese.

The HTML is in Jinja2 templates (``salesops_kit/report/templates/*.html.j2``: the page shell, the index and
the missing-table page), rendered with autoescape as nbconvert's own templates are; this module prepares
what they show (values formatted, labels translated). Every value a template prints goes through
:func:`salesops_kit.findings.escape_html`, the kit's one escaping rule; the only HTML handed to a template
as ``Markup`` is HTML the kit built and escaped itself (finding sentences, the body passed to :func:`page`).
Pages carry a Content-Security-Policy that allows no script and no network request, so they load offline
with nothing to inject into.
"""

from __future__ import annotations

import functools
import math
import re

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ..findings import escape_html as esc
from ..i18n import format_date, format_money, glossary, kpi_label, t, unit_label
from ..kpis import definition

__all__ = ["CSP", "page", "missing_page", "index_page", "HEADLINE_KPIS", "format_value", "headline_kpis",
           "notebook_title", "executive_summary", "finding_fields", "SUMMARY_DECISIONS", "FINDING_FIELDS"]

# No script, no network: images and fonts only as data: URIs, styles inline.
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
       "base-uri 'none'; form-action 'none'")

# The KPIs shown on the index page (segment "all"), in this order, when the dataset yields them.
HEADLINE_KPIS = (
    "won_revenue", "win_rate", "lead_conversion_rate", "sales_cycle_median_days", "sales_velocity_per_month",
    "avg_won_deal_size", "new_customers", "cac", "ltv_cac_ratio", "cac_payback_months", "repeat_purchase_rate",
    "forecast_next_12m_total", "pipeline_expected_next_quarter", "csat_mean", "reps_flagged", "alerts",
)
_FALLBACK_KPIS = ("rows_opportunities", "rows_leads", "rows_orders")
# The executive summary: at most this many decisions across topics, at most PER_NOTEBOOK from one notebook.
SUMMARY_DECISIONS = 5
_PER_NOTEBOOK = 2
# The fields of a findings record that rebuild its Finding (findings.csv keeps the same ones).
FINDING_FIELDS = ("subject", "metric", "value", "benchmark", "interval", "q_value", "evidence", "suggestion", "topic",
                  "severity", "kpi", "segment", "window", "stake", "lead")
_RATE_UNITS = {"rate", "share", "proportion", "fraction", "%", "percent"}
_COUNT_UNITS = ("rows", "count", "deals", "reps", "customers", "leads", "alerts")

_DOWNLOADS = {
    "kpis.csv": "every KPI with its interval, unit and definition",
    "kpis.xlsx": "every KPI with its interval, unit and definition",
    "findings.csv": "every finding of every notebook",
    "customers.csv": "every customer with P(alive), expected purchases and predicted CLV, by CLV",
    "customers.xlsx": "every customer with P(alive), expected purchases and predicted CLV, by CLV",
    # customers.csv when there is no customers.xlsx (exports.XLSX_MAX_ROWS): says why, not just leaves it out
    "customers.csv only": ("every customer with P(alive), expected purchases and predicted CLV, by CLV; CSV only: "
                           "more customers than one Excel sheet holds"),
    "quarantine/": "rejected rows per table, with the reason",
    "manifest.json": ("what produced this report: input files and checksums, mapping, parameters, versions, "
                      "run times"),
}


# --- rendering ---------------------------------------------------------------------------------------
def _finalize(value):
    """Every ``{{ value }}`` of a template: escaped by the kit's rule (``escape_html``: ``& < > " '``, control
    characters dropped, line breaks as spaces, None and NaN as empty). ``Markup`` passes unchanged: it is
    HTML the kit escaped itself. Autoescape stays on underneath (filters, anything this hook does not see)."""
    return value if isinstance(value, Markup) else Markup(esc(value))


@functools.cache
def _environment() -> Environment:
    return Environment(loader=PackageLoader("salesops_kit.report", "templates"), autoescape=True,
                       finalize=_finalize, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)


def _render(template: str, *, lang: str, **context) -> str:
    """Render one of the templates in the report language (``t`` translates the template's own labels)."""
    return _environment().get_template(template).render(
        lang=lang, lang_code="zh-Hans" if lang == "zh" else "en",
        csp=Markup(CSP),  # Markup: the kit's constant, written as it is (no '"', '<' or '&' in it)
        t=functools.partial(t, lang=lang), **context)


def page(title: str, body: str, *, lang: str = "en") -> str:
    """A complete, self-contained HTML page (no script, no external resource) around ``body``, HTML that
    the caller built and escaped (the runner's "could not be run" pages escape the notebook name and error)."""
    return _render("page.html.j2", lang=lang, title=title, body=Markup(body))  # Markup: escaped by the caller


def notebook_title(stem: str, lang: str = "en") -> str:
    """``01_funnel_analysis`` → ``01 · Funnel analysis`` (translated)."""
    num, _, rest = stem.partition("_")
    words = rest.replace("_", " ").strip()
    words = words[:1].upper() + words[1:]
    words = re.sub(r"\b(kpi|cac|clv|ltv|csat|nps)\b", lambda m: m.group(1).upper(), words, flags=re.I)
    return f"{num} · {t(words, lang)}" if rest else stem


def missing_page(name: str, missing: tuple[str, ...], ds, *, lang: str = "en", any_of: bool = False) -> str:
    """The page for a notebook whose tables are missing: which tables, their columns, and the mapping keys
    (``any_of``: the notebook needs at least one of them)."""
    from ..data.schema import TABLES

    tables = []
    for m in missing:
        spec = TABLES.get(m)
        required, optional = (spec.required, spec.optional) if spec else ((), ())
        tables.append({"name": m, "required": ", ".join(required), "optional": ", ".join(optional),
                       "columns": list(required)})
    return _render("missing.html.j2", lang=lang, title=notebook_title(name, lang), missing=tables, any_of=any_of,
                   tables="、".join(missing) if lang == "zh" else ", ".join(missing), mapping=ds.mapping_name)


_MONEY_UNIT = re.compile(r"^([A-Z]{3}|currency)((?: per .+)?)$")


def format_value(value, unit: str, *, lang: str = "en") -> str:
    """Format a KPI value for display: rates as percentages, counts without decimals, else 3 significant
    decimals; the unit follows in the report language. On Chinese pages an amount of money of 100,000 or more
    is written in 万 / 亿 with its currency (``2,840.6 万 USD``, ``2,840.6 万元``: :func:`i18n.format_money`)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    u = (unit or "").lower()
    if u in _RATE_UNITS:
        return f"{value * 100:.1f}%"
    money = _MONEY_UNIT.match(unit or "")
    if money and lang == "zh" and abs(value) >= 100:
        code = "" if money.group(1) == "currency" else money.group(1)
        return format_money(value, code, lang, per=money.group(2))
    if money and money.group(1) == "currency":  # no currency code known: the number alone (and its "per ...")
        unit = money.group(2).strip()
        u = unit.lower()
    if u in _COUNT_UNITS or float(value).is_integer() and abs(value) >= 1:
        s = f"{value:,.0f}"
    elif abs(value) >= 100:
        s = f"{value:,.0f}"
    else:
        s = f"{value:,.3g}" if abs(value) < 1 else f"{value:,.2f}"
    lab = unit_label(unit, lang)
    return f"{s} {lab}" if lab and u not in ("ratio", "index", "score", "kpi units") else s


def _interval(lo, hi, unit: str, lang: str) -> str:
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (lo, hi)):
        return ""
    return f"{format_value(lo, unit, lang=lang)} – {format_value(hi, unit, lang=lang)}"


def headline_kpis(kpis: pd.DataFrame) -> pd.DataFrame:
    """The headline rows (segment ``all``) of the KPI table, in :data:`HEADLINE_KPIS` order; the data
    row counts when none of them could be computed."""
    if kpis is None or not len(kpis):
        return pd.DataFrame(columns=["kpi", "segment", "value", "ci_low", "ci_high", "unit", "definition", "window"])
    allseg = kpis[kpis["segment"].astype(str) == "all"]
    for names in (HEADLINE_KPIS, _FALLBACK_KPIS):
        rows = [allseg[allseg["kpi"] == k].iloc[0] for k in names if (allseg["kpi"] == k).any()]
        if rows:
            return pd.DataFrame(rows).reset_index(drop=True)
    return allseg.iloc[0:0]


def _headline_rows(kpis: pd.DataFrame, lang: str) -> list[dict]:
    """The headline KPIs as the index shows them: label, formatted value and interval, and the definition in
    the report language (the registry's English text when untranslated)."""
    return [{"kpi": str(r.kpi), "label": kpi_label(r.kpi, lang), "value": format_value(r.value, r.unit, lang=lang),
             "interval": _interval(r.ci_low, r.ci_high, r.unit, lang), "window": _window(r, lang),
             "definition": r.definition if lang == "en" else definition(str(r.kpi), lang, default=r.definition)}
            for r in headline_kpis(kpis).itertuples(index=False)]


def _window(row, lang: str) -> str:
    w = getattr(row, "window", "")
    return "" if _missing(w) or not str(w).strip() else t(str(w), lang)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def finding_fields(rec: dict) -> dict:
    """The :class:`~salesops_kit.findings.Finding` fields of a findings record (as the notebook displayed it or
    as findings.csv holds it): missing values dropped, ``stake`` a number, ``lead`` a bool."""
    fields = {k: rec.get(k) for k in FINDING_FIELDS if not _missing(rec.get(k)) and rec.get(k) != ""}
    if "stake" in fields:
        try:
            fields["stake"] = float(fields["stake"])
        except (TypeError, ValueError):
            fields.pop("stake")
        else:
            if math.isnan(fields["stake"]):
                fields.pop("stake")
    if "lead" in fields:
        fields["lead"] = str(fields["lead"]).strip().lower() in ("true", "1", "yes")
    for k in ("q_value", "severity"):
        if k in fields:
            try:
                fields[k] = float(fields[k])
            except (TypeError, ValueError):
                fields.pop(k)
    return fields


def _finding_sentence(rec: dict, lang: str) -> str:
    from ..findings import Finding

    fields = finding_fields(rec)
    if "metric" in fields:
        fields["metric"] = t(str(fields["metric"]), lang)
    if "window" in fields:
        fields["window"] = t(str(fields["window"]), lang)
    try:
        s = Finding(**fields).sentence(esc)
    except TypeError:
        return esc(rec.get("text", ""))
    return s.replace(" vs ", f" {t('vs', lang)} ") if lang == "zh" else s


def _stake(rec: dict) -> float | None:
    return finding_fields(rec).get("stake")


def _stake_note(amount: str, lang: str) -> str:
    """``(money at stake: 255,837 USD)``; in Chinese with full-width brackets and colon."""
    label = t("money at stake", lang)
    return f"（{label}：{amount}）" if lang == "zh" else f"({label}: {amount})"


def executive_summary(runs, findings: dict[str, list[dict]], *, lang: str = "en", currency: str | None = None,
                      limit: int = SUMMARY_DECISIONS) -> list[dict]:
    """The decisions the index opens with: findings that carry money at stake (``stake``) or answer their
    notebook's question (``lead``), at most two per notebook (its answer first, then by stake); every notebook's
    first pick comes before any second one, each round ordered by money at stake across topics (largest first; an
    answer without a stake after those with one), at most ``limit``. Each: ``{sentence, stake, href, title}``, the
    sentence without its evidence; the stake formatted with the report currency's code (the number alone when the
    currency is not known)."""
    picked = []
    for order, r in enumerate(runs):
        recs = [rec for rec in findings.get(r.notebook) or [] if finding_fields(rec).get("lead") or _stake(rec)]
        recs.sort(key=lambda rec: (not finding_fields(rec).get("lead"), -(_stake(rec) or 0.0)))
        # (round, ...): every notebook's answer comes before any notebook's second decision, so one topic with
        # large numbers (a forecast's interval) cannot push another topic's answer out of the five
        picked += [(rec, r, order, rnd) for rnd, rec in enumerate(recs[:_PER_NOTEBOOK])]
    picked.sort(key=lambda x: (x[3], _stake(x[0]) is None, -(_stake(x[0]) or 0.0), x[2]))
    out = []
    for rec, r, _, _ in picked[:limit]:
        stake = _stake(rec)
        amount = "" if stake is None else format_value(stake, currency or "currency", lang=lang)
        # one sentence: number, comparison and action (the evidence stays in the notebook and findings.csv)
        out.append({"sentence": Markup(_finding_sentence({**rec, "evidence": None}, lang)),  # escaped there
                    "stake": _stake_note(amount, lang) if amount else "",
                    "href": r.html.name if r.html else "", "title": notebook_title(r.notebook, lang)})
    return out


def _top_findings(runs, findings: dict[str, list[dict]], lang: str, top: int) -> list[dict]:
    """Per notebook with findings: its link and title, its first ``top`` sentences and how many more."""
    out = []
    for r in runs:
        recs = findings.get(r.notebook) or []
        if recs:
            out.append({"href": r.html.name if r.html else "", "title": notebook_title(r.notebook, lang),
                        # Markup: Finding.sentence escaped every field with escape_html (_finding_sentence)
                        "sentences": [Markup(_finding_sentence(rec, lang)) for rec in recs[:top]],
                        "more": len(recs) - top})
    return out


def _run_rows(runs, lang: str) -> list[dict]:
    """One row per notebook run: link, status, seconds and a note (the failing cell, the missing tables)."""
    rows = []
    for r in runs:
        if r.status == "failed":
            note = f"{t('failed at cell', lang)} [{r.failed_cell}]: {r.error}"
        elif r.missing:
            note = f"{t('needs', lang)}: {', '.join(t(m, lang) + ' (' + m + ')' for m in r.missing)}"
        else:
            note = ""
        rows.append({"href": r.html.name if r.html else None, "name": notebook_title(r.notebook, lang),
                     "status": r.status, "seconds": f"{r.seconds:.1f}", "note": note})
    return rows


def _account(account: pd.DataFrame, lang: str) -> dict | None:
    """The data account as columns and rows of cells ``{text, code}``: table names as code (with their
    translation in Chinese), whole numbers with thousands separators."""
    if account is None or not len(account):
        return None
    cols = [str(c) for c in account.columns]
    rows = []
    for row in account.itertuples(index=False):
        cells = []
        for c, v in zip(cols, row, strict=True):
            if c == "table":
                cells.append({"text": t(str(v), lang) if lang == "zh" else "", "code": v})
            else:
                cells.append({"text": f"{v:,}" if isinstance(v, int) else v, "code": None})
        rows.append(cells)
    return {"columns": cols, "rows": rows}


def _downloads(files: list[str]) -> list[dict]:
    """The machine-readable files with what each holds; the quarantine files listed under ``quarantine/``."""
    qfiles = [f for f in files if f.startswith("quarantine/") and f != "quarantine/"]
    key = {"customers.csv": "customers.csv only"} if "customers.xlsx" not in files else {}  # the CSV says why
    return [{"file": f, "description": _DOWNLOADS.get(key.get(f, f), ""), "files": qfiles if f == "quarantine/" else []}
            for f in files if f not in qfiles]


def index_page(*, runs, ds, kpis: pd.DataFrame, findings: dict[str, list[dict]], params: dict,
               lang: str = "en", files: list[str] = (), top_findings: int = 3, kpi_errors: list[str] = (),
               currency: str | None = None) -> str:
    """``index.html``: the executive summary (at most five decisions across topics, by money at stake), headline
    KPIs with their window and interval, top findings per notebook, links to each report, the data account, the
    parameters, the machine-readable files and the glossary of the kit's terms. ``currency``: the report
    currency's code (stakes are shown with it; without one, the number alone)."""
    return _render("index.html.j2", lang=lang, title=t("Sales operations report", lang),
                   as_of=format_date(ds.as_of, lang),
                   mapping=ds.mapping_name, failed=[r for r in runs if r.status == "failed"],
                   summary=executive_summary(runs, findings, lang=lang, currency=currency),
                   kpi_errors=list(kpi_errors), headline=_headline_rows(kpis, lang),
                   findings=_top_findings(runs, findings, lang, top_findings), runs=_run_rows(runs, lang),
                   account=_account(ds.account, lang), params=params, downloads=_downloads(list(files)),
                   glossary=glossary(lang))
