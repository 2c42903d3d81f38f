"""How much of a Chinese page's visible prose is English (issue 19): the test helper behind the ≤ 10% check.

Visible prose is the text of the page outside ``<code>``, ``<pre>``, tables, images and the page head (the
``<title>``, styles); what the reader sees rendered from Markdown, findings, notes and captions.

Measure: English words / (English words + Chinese words), where an English word is a run of Latin letters
(two or more) and Chinese words are counted as Han characters / 1.5 (a Chinese word is about one and a half
characters). Counting every Latin word, this ratio gives the figures issue 19 quotes for the sample report before
the work (index 11%, notebook pages 62-81%); with the exclusions below, 2.6% and 60-80%.

Not counted as English: method and test names (STL, ETS, MASE, BG/NBD, Wilson, Benjamini–Hochberg ...),
acronyms and codes in capitals (KPI, CRM, CSAT, USD), column and parameter names (``snake_case``, anything
with a digit or underscore), product names; and the data's own values (rep, channel, stage names) that a
test passes as ``data_words``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

SKIP_TAGS = frozenset({"code", "pre", "table", "script", "style", "title", "head", "svg", "img", "kbd", "samp"})
HAN_PER_WORD = 1.5

# Names a Chinese reader sees in Latin letters in Chinese statistics and software writing.
ALLOWED = frozenset(w.lower() for w in """
    Wilson Fisher Brier Theta Gamma Kruskal Wallis Aalen Johansen Benjamini Hochberg Poisson Bayes Bernoulli
    Kaplan Meier Holt Winters Bonferroni Student Shewhart sMAPE bootstrap log-rank logistic
    Salesforce HubSpot Zoho Pipedrive Jiandaoyun README statsmodels pandas polars duckdb lifelines holidays
    JupyterLab Jupyter Python YAML CSV Parquet Excel xlsx csv json html salesops salesops-kit kit
    combo theta arima ets naive seasonal_naive
    alpha alive
    """.split())  # alpha: the notebooks' significance parameter; P(alive): the BG/NBD model's notation
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*(?:-[A-Za-z]+)*")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class _Visible(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIP_TAGS and tag not in ("img",):
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in SKIP_TAGS and tag not in ("img",) and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def visible_prose(html: str) -> str:
    """The page's visible text outside code, preformatted blocks, tables and the head."""
    p = _Visible()
    p.feed(html)
    return " ".join(" ".join(p.parts).split())


def _is_english(word: str, data_words: frozenset[str]) -> bool:
    if len(word) < 2 or word.lower() in ALLOWED or word.lower() in data_words:
        return False
    if "-" in word and all(p.lower() in ALLOWED or p.isupper() for p in word.split("-")):
        return False  # Gamma-Gamma, Kruskal-Wallis
    core = word.replace("-", "")
    if core.isupper():  # acronyms, codes: KPI, CRM, CSAT, USD, BG (of BG/NBD), P10 handled by the regex
        return False
    return True


def english_words(html: str, data_words=()) -> list[str]:
    """The English words of a page's visible prose (allowed names and ``data_words`` left out)."""
    data = frozenset(w.lower() for name in data_words for w in _WORD.findall(str(name)))
    text = visible_prose(html)
    text = re.sub(r"\S*[_\d=]\S*|\S+\.(?:csv|xlsx|json|yml|yaml|html)\b", " ", text)  # codes, numbers, files
    return [w for w in _WORD.findall(text) if _is_english(w, data)]


def english_share(html: str, data_words=()) -> float:
    """English words / (English words + Han characters / 1.5) of the visible prose (0 when there is none)."""
    en = len(english_words(html, data_words))
    han = len(_HAN.findall(visible_prose(html)))
    total = en + han / HAN_PER_WORD
    return en / total if total else 0.0
