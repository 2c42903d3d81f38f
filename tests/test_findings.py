"""Finding records render as escaped Markdown and HTML (hostile text stays inert and readable)."""

import math
from html.parser import HTMLParser

import mistune
import pandas as pd
import pytest

from salesops_kit.findings import Finding, Findings, escape_html, escape_md, findings_frame

HOSTILE = ["<script>alert(1)</script>", "[x](javascript:alert(1))", "<img src=x onerror=alert(2)>"]


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


def _parse(html_text):
    p = _Tags()
    p.feed(html_text)
    return p.tags, "".join(p.text)


def _findings():
    return Findings(
        [Finding(name, "lead conversion", "9%", "team 21%", "95% CI 6%-13%", 0.002,
                 f"median first response 31 h vs 4 h for {name}", "agree a same-day response target",
                 "reps", 3 - i) for i, name in enumerate(HOSTILE)],
        title="Coaching <b>findings</b>",
    )


def test_html_has_no_live_tags_and_names_stay_readable():
    tags, text = _parse(_findings().to_html())
    assert {t for t, _ in tags} <= {"h3", "ol", "li"}
    assert all(attrs in ([], [("class", "salesops-findings")]) for _, attrs in tags)
    for name in HOSTILE:
        assert name in text  # the browser shows the name exactly as typed


@pytest.mark.parametrize("name", HOSTILE)
def test_markdown_renders_to_inert_html(name):
    md = Findings([Finding(name, "win rate", "10%", evidence=name)]).to_markdown()
    html_out = mistune.html(md)
    tags, text = _parse(html_out)
    assert {t for t, _ in tags} <= {"ol", "li", "p"}
    assert all(not attrs for _, attrs in tags)
    assert "javascript:" not in html_out.replace("javascript\\:", "") or "href" not in html_out
    assert text.count(name) == 2  # subject and evidence, readable as plain text


def test_escape_functions_by_hand():
    assert escape_html('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert escape_md("*bold* _x_ #1") == r"\*bold\* \_x\_ \#1"
    assert escape_md("a & b <c>") == "a &amp; b &lt;c&gt;"
    assert escape_md("line1\nline2") == "line1 line2"
    assert escape_md(None) == "" and escape_html(float("nan")) == ""
    assert escape_md("$5 http://x.y") == r"\$5 http\://x\.y"


def test_sentence_shape_and_q_format():
    f = Finding("Ann Lee", "lead conversion", "9%", "team 21%", q_value=0.002,
                evidence="median first response 31 h vs 4 h", suggestion="agree a same-day response target")
    plain = findings_frame([f])["text"][0]
    assert plain == ("Ann Lee: lead conversion 9% vs team 21% (q = 0.002); median first response 31 h vs 4 h"
                     " → agree a same-day response target")
    assert "q &lt; 0.001" in Finding("a", "m", "v", q_value=1e-6).sentence(escape_html)
    assert "q =" not in Finding("a", "m", "v", q_value=math.nan).sentence(escape_html)


def test_order_empty_and_frame():
    fs = _findings()
    assert [f.severity for f in fs] == [3, 2, 1]
    assert Findings([]).to_markdown() == "No findings\\."
    assert "<p>Nothing to report.</p>" in Findings([], empty="Nothing to report.").to_html()
    df = fs.to_frame()
    assert isinstance(df, pd.DataFrame) and len(df) == 3
    assert df["subject"].tolist() == HOSTILE  # raw text kept; escaping happens at display time
    assert fs._repr_html_() == fs.to_html() and fs._repr_markdown_() == fs.to_markdown()
