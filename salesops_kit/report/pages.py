"""The report's own pages: ``index.html`` and the "tables missing" pages, in English or Chinese.

Every string that may come from the data (names, file names, mapping names, error messages) goes
through :func:`salesops_kit.findings.escape_html`; pages carry a Content-Security-Policy that allows
no script and no network request, so they load offline with nothing to inject into.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from ..findings import escape_html as esc
from ..i18n import kpi_definition, kpi_label, t, unit_label

__all__ = ["CSP", "page", "missing_page", "index_page", "HEADLINE_KPIS", "format_value", "headline_kpis",
           "notebook_title"]

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
_RATE_UNITS = {"rate", "share", "proportion", "fraction", "%", "percent"}

_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI','Noto Sans','Noto Sans CJK SC','PingFang SC',"
    "'Microsoft YaHei',sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
    "text-align:right;vertical-align:top}td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}"
    "td.text,th.text{text-align:left}.failed{color:#b00}.skipped{color:#a60}.ok{color:#060}"
    "ol.findings li{margin:.25rem 0}h2{margin-top:2rem;border-bottom:1px solid #ddd}"
    "code{background:#f4f4f4;padding:0 .2rem}pre{background:#f4f4f4;padding:.5rem;overflow:auto}"
    ".muted{color:#666}"
)


def page(title: str, body: str, *, lang: str = "en") -> str:
    """A complete, self-contained HTML page (no script, no external resource)."""
    code = "zh-Hans" if lang == "zh" else "en"
    return ("<!DOCTYPE html>\n"
            f'<html lang="{code}"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>\n")


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

    title = notebook_title(name, lang)
    tables = "、".join(missing) if lang == "zh" else ", ".join(missing)
    blocks = []
    for m in missing:
        spec = TABLES.get(m)
        req = ", ".join(spec.required) if spec else ""
        opt = ", ".join(spec.optional) if spec else ""
        cols = "\n".join(f'      {c}: "<{t("column in your export", lang)}>"' for c in (spec.required if spec else ()))
        yaml = f'tables:\n  {m}:\n    file: "{m}*.csv"\n    columns:\n{cols}'
        blocks.append(f"<h2><code>{esc(m)}</code> ({esc(t(m, lang))})</h2>"
                      f"<p>{esc(t('Required columns', lang))}: <code>{esc(req)}</code></p>"
                      + (f"<p>{esc(t('Optional columns', lang))}: <code>{esc(opt)}</code></p>" if opt else "")
                      + f"<pre>{esc_block(yaml)}</pre>")
    needs = "This report needs at least one of the tables" if any_of else "This report needs the table(s)"
    intro = (f"<p>{esc(t(needs, lang))} <strong>{esc(tables)}</strong>"
             f"{'，' if lang == 'zh' else ', '}{esc(t('which this dataset does not have', lang))} "
             f"({esc(t('mapping', lang))} <code>{esc(ds.mapping_name)}</code>). "
             f"{esc(t('Add the export file(s) to the data folder and name them in the mapping:', lang))}</p>"
             "<ul>" + "".join(f"<li><code>tables.{esc(m)}.file</code></li>" for m in missing) + "</ul>")
    tail = (f"<p>{esc(t('See data/README.md for the columns each table needs, and run salesops mapping suggest FILE for a draft mapping.', lang))}</p>"
            f'<p><a href="index.html">{esc(t("Back to the index", lang))}</a></p>')
    return page(title, f"<h1>{esc(title)}</h1>{intro}{''.join(blocks)}{tail}", lang=lang)


def esc_block(text: str) -> str:
    """Escape multi-line text for <pre> (keeps line breaks)."""
    return "\n".join(esc(line) for line in str(text).split("\n"))


def format_value(value, unit: str, *, lang: str = "en") -> str:
    """Format a KPI value for display: rates as percentages, counts without decimals, else 3 significant
    decimals; the unit follows in the report language."""
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
    if u in ("rows", "count", "deals", "reps", "customers", "leads", "alerts") or float(value).is_integer() and abs(value) >= 1:
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
        return pd.DataFrame(columns=["kpi", "segment", "value", "ci_low", "ci_high", "unit", "definition"])
    allseg = kpis[kpis["segment"].astype(str) == "all"]
    for names in (HEADLINE_KPIS, _FALLBACK_KPIS):
        rows = [allseg[allseg["kpi"] == k].iloc[0] for k in names if (allseg["kpi"] == k).any()]
        if rows:
            return pd.DataFrame(rows).reset_index(drop=True)
    return allseg.iloc[0:0]


def _kpi_table(kpis: pd.DataFrame, lang: str) -> str:
    head = headline_kpis(kpis)
    if not len(head):
        return f"<p>{esc(t('No headline KPIs could be computed from this dataset.', lang))}</p>"
    if lang != "en":  # definitions in the report language (the registry's English text when untranslated)
        head = head.assign(definition=[kpi_definition(str(k), lang, default=d)
                                       for k, d in zip(head["kpi"], head["definition"], strict=True)])
    rows = "".join(
        f'<tr><td title="{esc(r.definition)}">{esc(kpi_label(r.kpi, lang))}</td>'
        f"<td>{esc(format_value(r.value, r.unit, lang=lang))}</td>"
        f"<td>{esc(_interval(r.ci_low, r.ci_high, r.unit, lang))}</td>"
        f'<td class="text">{esc(r.definition)}</td></tr>'
        for r in head.itertuples(index=False))
    return (f"<table><tr><th>{esc(t('KPI', lang))}</th><th>{esc(t('value', lang))}</th>"
            f"<th>{esc(t('interval (level in the definition)', lang))}</th><th class=\"text\">{esc(t('definition', lang))}</th></tr>{rows}</table>")


def _finding_sentence(rec: dict, lang: str) -> str:
    from ..findings import Finding

    fields = {k: rec.get(k) for k in ("subject", "metric", "value", "benchmark", "interval", "q_value", "evidence",
                                      "suggestion", "topic", "severity") if rec.get(k) is not None}
    if "metric" in fields:
        fields["metric"] = t(str(fields["metric"]), lang)
    try:
        s = Finding(**fields).sentence(esc)
    except TypeError:
        return esc(rec.get("text", ""))
    return s.replace(" vs ", f" {t('vs', lang)} ") if lang == "zh" else s


def _findings_block(runs, findings: dict[str, list[dict]], lang: str, top: int) -> str:
    parts = []
    for r in runs:
        recs = findings.get(r.notebook) or []
        if not recs:
            continue
        items = "".join(f"<li>{_finding_sentence(rec, lang)}</li>" for rec in recs[:top])
        more = len(recs) - top
        tail = f'<p class="muted">+{more} … <a href="findings.csv">findings.csv</a></p>' if more > 0 else ""
        href = esc(r.html.name) if r.html else ""
        parts.append(f'<h3><a href="{href}">{esc(notebook_title(r.notebook, lang))}</a></h3>'
                     f'<ol class="findings">{items}</ol>{tail}')
    return "".join(parts) or f"<p>{esc(t('No findings.', lang))}</p>"


def _runs_table(runs, lang: str) -> str:
    rows = []
    for r in runs:
        if r.status == "failed":
            note = f"{t('failed at cell', lang)} [{r.failed_cell}]: {r.error}"
        elif r.missing:
            note = f"{t('needs', lang)}: {', '.join(t(m, lang) + ' (' + m + ')' for m in r.missing)}"
        else:
            note = ""
        name = esc(notebook_title(r.notebook, lang))
        link = f'<a href="{esc(r.html.name)}">{name}</a>' if r.html else name
        rows.append(f'<tr><td>{link}</td><td class="{esc(r.status)}">{esc(t(r.status, lang))}</td>'
                    f'<td>{r.seconds:.1f}</td><td class="text">{esc(note)}</td></tr>')
    return (f"<table><tr><th>{esc(t('Report', lang))}</th><th>{esc(t('status', lang))}</th>"
            f"<th>{esc(t('seconds', lang))}</th><th class=\"text\">{esc(t('note', lang))}</th></tr>{''.join(rows)}</table>")


def _account_table(account: pd.DataFrame, lang: str) -> str:
    if account is None or not len(account):
        return "<p>–</p>"
    cols = list(account.columns)
    head = "".join(f"<th>{esc(t(str(c), lang))}</th>" for c in cols)
    body = ""
    for row in account.itertuples(index=False):
        cells = []
        for c, v in zip(cols, row, strict=True):
            if c == "table":
                cells.append(f"<td>{esc(t(str(v), lang))} <code>{esc(v)}</code></td>" if lang == "zh"
                             else f"<td><code>{esc(v)}</code></td>")
            else:
                cells.append(f"<td>{esc(f'{v:,}' if isinstance(v, int) else v)}</td>")
        body += "<tr>" + "".join(cells) + "</tr>"
    return f"<table><tr>{head}</tr>{body}</table>"


def index_page(*, runs, ds, kpis: pd.DataFrame, findings: dict[str, list[dict]], params: dict,
               lang: str = "en", files: list[str] = (), top_findings: int = 3, kpi_errors: list[str] = ()) -> str:
    """``index.html``: headline KPIs with intervals, top findings per notebook, links to each report,
    the data account, the parameters, and the machine-readable files."""
    title = t("Sales operations report", lang)
    failed = [r for r in runs if r.status == "failed"]
    warn = ""
    if failed:
        warn = (f'<p class="failed"><strong>{esc(t("Reports that failed", lang))}:</strong> '
                + "; ".join(f"{esc(r.notebook)} [{esc(r.failed_cell)}] {esc(r.error)}" for r in failed) + "</p>")
    if kpi_errors:
        warn += (f'<p class="failed"><strong>{esc(t("KPIs that could not be computed", lang))}:</strong> '
                 + "; ".join(esc(e) for e in kpi_errors) + "</p>")
    p_rows = "".join(f"<tr><td><code>{esc(k)}</code></td><td class=\"text\">{esc(v)}</td></tr>"
                     for k, v in params.items())
    descr = {"kpis.csv": "every KPI with its interval, unit and definition", "kpis.xlsx": "every KPI with its interval, unit and definition",
             "findings.csv": "every finding of every notebook", "quarantine/": "rejected rows per table, with the reason",
             "manifest.json": "what produced this report: input files and checksums, mapping, parameters, versions, run times"}
    qfiles = [f for f in files if f.startswith("quarantine/") and f != "quarantine/"]
    downloads = ""
    for f in files:
        if f in qfiles:
            continue
        sub = ""
        if f == "quarantine/" and qfiles:
            sub = "<ul>" + "".join(f'<li><a href="{esc(q)}">{esc(q)}</a></li>' for q in qfiles) + "</ul>"
        downloads += f'<li><a href="{esc(f)}">{esc(f)}</a>: {esc(t(descr.get(f, ""), lang))}{sub}</li>'
    body = (f"<h1>{esc(title)}</h1>"
            f'<p class="muted">{esc(t("As of", lang))} {esc(ds.as_of.date())} · {esc(t("mapping", lang))} '
            f"<code>{esc(ds.mapping_name)}</code></p>{warn}"
            f"<h2>{esc(t('Headline KPIs', lang))}</h2>{_kpi_table(kpis, lang)}"
            f"<h2>{esc(t('Top findings', lang))}</h2>{_findings_block(runs, findings, lang, top_findings)}"
            f"<h2>{esc(t('Reports', lang))}</h2>{_runs_table(runs, lang)}"
            f"<h2>{esc(t('Data account', lang))}</h2>{_account_table(ds.account, lang)}"
            f"<h2>{esc(t('Parameters', lang))}</h2><table>{p_rows}</table>"
            f"<h2>{esc(t('Downloads', lang))}</h2><ul>{downloads}</ul>")
    return page(title, body, lang=lang)
