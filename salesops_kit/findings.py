"""Finding records and their rendering as escaped Markdown / HTML.

Every notebook's "Findings" section is built from :class:`Finding` records, so the prose is
always generated from results and every string that came from the data is escaped exactly once,
here.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import asdict, dataclass, fields

import pandas as pd

from .i18n import t

__all__ = ["Finding", "Findings", "escape_md", "escape_html", "findings_frame", "FINDINGS_MIME"]

# Displayed Findings also carry their records under this MIME type, so `salesops report` can collect
# every notebook's findings from the executed notebooks (nbconvert ignores the type when rendering).
FINDINGS_MIME = "application/vnd.salesops.findings+json"

# Markdown punctuation that can start emphasis, links, headings, lists, tables, code, math ($ in
# Jupyter) or GFM autolinks (":" and "@"); "&", "<" and ">" become entities first, so no HTML tag
# or entity from the data survives.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$:@=\"'])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    s = _CONTROL.sub("", str(value))
    return re.sub(r"\s*[\r\n]+\s*", " ", s)


def escape_html(text: object) -> str:
    """HTML-escape any value for element text or a quoted attribute (``& < > " '``); control
    characters are removed and line breaks become spaces. None and NaN give ``""``."""
    return html.escape(_text(text), quote=True)


def escape_md(text: object) -> str:
    """Escape a value for Markdown that may be rendered to HTML (Jupyter, nbconvert).

    ``&``, ``<`` and ``>`` become entities (so no tag survives and the text still reads the same),
    then every Markdown punctuation character is backslash-escaped (so no link, image, emphasis,
    heading, table, code span, math or autolink is formed), and line breaks become spaces.
    """
    s = _text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", s)


@dataclass(frozen=True)
class Finding:
    """One finding: number -> comparison -> decision.

    ``subject`` is who/what it is about (a rep, a channel, a stage); ``metric`` the KPI name;
    ``value``/``benchmark`` formatted strings with units; ``interval`` e.g. "95% CI 7%-12%";
    ``q_value`` the FDR-adjusted p-value when a test backs it; ``evidence`` a sentence of supporting
    numbers; ``suggestion`` the decision or action. ``topic`` is the notebook (funnel, costs, ...)
    and ``severity`` orders findings (higher first).

    One number per KPI (issue 15): ``kpi`` (and ``segment``) name the row of ``kpis.csv`` that ``value`` quotes,
    so the report can check that the finding and the table say the same number; ``window`` is the period the
    number covers ("November 2025", "all history"), written after the metric. ``stake`` is the money the
    decision moves, in the report currency (the index's executive summary orders decisions by it), and
    ``lead`` marks the notebook's answer to its own question, shown first.
    """

    subject: str
    metric: str
    value: str
    benchmark: str = ""
    interval: str = ""
    q_value: float | None = None
    evidence: str = ""
    suggestion: str = ""
    topic: str = ""
    severity: float = 0.0
    kpi: str = ""
    segment: str = "all"
    window: str = ""
    stake: float | None = None
    lead: bool = False

    def sentence(self, escape=escape_md) -> str:
        """The finding as one escaped sentence."""
        metric = escape(t(self.metric))  # t: report language
        if self.window:
            metric += f" ({escape(t(self.window))})"
        parts = [f"{escape(self.subject)}: {metric} {escape(self.value)}"]
        if self.benchmark:
            parts[0] += f" {t('vs')} {escape(self.benchmark)}"
        extra = []
        if self.interval:
            extra.append(escape(self.interval))
        if self.q_value is not None and not (isinstance(self.q_value, float) and math.isnan(self.q_value)):
            extra.append(escape(_fmt_q(self.q_value)))
        if extra:
            parts[0] += f" ({'; '.join(extra)})"
        if self.evidence:
            parts.append(escape(self.evidence))
        s = "; ".join(parts)
        if self.suggestion:
            s += f" → {escape(self.suggestion)}"
        return s


def _fmt_q(q: float) -> str:
    """``q = 0.002``, ``q = 0.04``, ``q < 0.001``."""
    return f"q = {q:.2g}" if q >= 0.001 else "q < 0.001"


class Findings(list):
    """A list of :class:`Finding` that renders itself (Markdown in Jupyter, escaped HTML in reports)."""

    def __init__(self, items=(), *, title: str | None = None, empty: str = "No findings."):
        # the notebook's answer first, then by severity; one event, one finding (an identical sentence once)
        ordered = sorted(items, key=lambda f: (not f.lead, -f.severity, f.topic, f.subject, f.metric))
        seen: set[str] = set()
        unique = [f for f in ordered if not (f.sentence(str) in seen or seen.add(f.sentence(str)))]
        super().__init__(unique)
        self.title = title
        self.empty = empty

    def to_markdown(self) -> str:
        head = f"### {escape_md(t(self.title))}\n\n" if self.title else ""
        if not self:
            return head + escape_md(t(self.empty))
        return head + "\n".join(f"{i}. {f.sentence(escape_md)}" for i, f in enumerate(self, 1))

    def to_html(self) -> str:
        head = f"<h3>{escape_html(t(self.title))}</h3>" if self.title else ""
        if not self:
            return head + f"<p>{escape_html(t(self.empty))}</p>"
        items = "".join(f"<li>{f.sentence(escape_html)}</li>" for f in self)
        return f'{head}<ol class="salesops-findings">{items}</ol>'

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_mimebundle_(self, include=None, exclude=None):
        records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(f).items()}
                   for f in self]
        return {"text/html": self.to_html(), "text/markdown": self.to_markdown(),
                FINDINGS_MIME: {"title": self.title, "findings": records}}

    def to_frame(self) -> pd.DataFrame:
        return findings_frame(self)


def findings_frame(findings) -> pd.DataFrame:
    """All findings as a DataFrame (raw text, unescaped: escape at display time)."""
    cols = [f.name for f in fields(Finding)] + ["text"]
    return pd.DataFrame([{**asdict(f), "text": f.sentence(lambda s: "" if s is None else str(s))} for f in findings],
                        columns=cols)
