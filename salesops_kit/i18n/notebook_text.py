"""Translated Markdown of the numbered notebooks: ``catalogs/<lang>/notebooks.json``.

The catalog is keyed by notebook (file stem, ``01_funnel_analysis``) and cell id (``cell-05``); each entry
holds the hash of the English source it translates and the translation::

    {"01_funnel_analysis": {"cell-05": {"en_sha256": "3f2a…", "zh": "## 1 · 商机在哪里流失？…"}}}

A translation is used only while its hash matches the English cell (:func:`markdown_hash`): a changed English
cell shows in English (headings still translated by the labels) instead of a stale translation, and
:func:`markdown_status` names it, so the catalog test lists what to translate again. A cell that moved (other
cells inserted before it renumber the ids) keeps its translation: an entry of the same notebook with the
same hash is found under its old id, and ``--rekey`` moves it to the new one.

``python -m salesops_kit.i18n.notebook_text [--rekey] NOTEBOOK.ipynb ...`` prints every markdown cell
without a current translation, with its hash and its English source (the translator's worklist).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

from .core import catalog, current_lang, format_date, format_month, t

__all__ = ["markdown_hash", "notebook_markdown", "markdown_status", "markdown_cells", "translate_notebook",
           "translate_printed", "translate_output_html", "NOTEBOOK_CATALOG"]

NOTEBOOK_CATALOG = "notebooks"
HASH_CHARS = 16


def _norm_lang(lang: str | None) -> str:
    if lang is None:
        return current_lang()
    return "zh" if str(lang).lower().startswith("zh") else "en"


def markdown_hash(source: str | list[str]) -> str:
    """The first 16 hex digits of the SHA-256 of a cell's English source (a list of lines as in ``.ipynb``
    joined; line endings and trailing whitespace at the end do not count)."""
    text = "".join(source) if isinstance(source, list) else str(source)
    text = text.replace("\r\n", "\n").rstrip()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]


@functools.cache
def _entries(lang: str) -> Mapping[str, Mapping[str, Mapping[str, str]]]:
    """``{notebook: {cell id: {"en_sha256", lang}}}`` of a language (empty for English), read once."""
    if lang == "en":
        return MappingProxyType({})
    from importlib import resources

    path = resources.files(__package__).joinpath("catalogs", lang, f"{NOTEBOOK_CATALOG}.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return MappingProxyType({})
    return MappingProxyType({nb: MappingProxyType({cid: MappingProxyType(e) for cid, e in cells.items()})
                             for nb, cells in data.items()})


def _find(notebook: str, cell_id: str | None, digest: str, lang: str) -> tuple[str | None, str | None]:
    """``(id the translation is stored under, translation)`` for a current translation, else ``(None, None)``."""
    cells = _entries(lang).get(notebook, {})
    entry = cells.get(cell_id) if cell_id else None
    if entry is not None and entry.get("en_sha256") == digest:
        return cell_id, entry[lang]
    for cid, e in cells.items():  # the cell moved: same text under another id
        if e.get("en_sha256") == digest:
            return cid, e[lang]
    return None, None


def notebook_markdown(notebook: str, cell_id: str | None, source: str | list[str], lang: str | None = None
                      ) -> str | None:
    """The translation of one markdown cell of a numbered notebook, or None (English, no translation, or a
    translation of a different English text: stale)."""
    lang = _norm_lang(lang)
    if lang == "en":
        return None
    return _find(Path(notebook).stem, cell_id, markdown_hash(source), lang)[1]


def markdown_cells(nb: Mapping) -> list[tuple[str | None, str]]:
    """``(cell id, source)`` of every markdown cell of a notebook read as JSON (or an ``nbformat`` node)."""
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = cell.get("source", "")
            out.append((cell.get("id"), "".join(src) if isinstance(src, list) else src))
    return out


def markdown_status(notebook: str, cells: Iterable[tuple[str | None, str]], lang: str = "zh") -> list[dict]:
    """One record per markdown cell: ``{notebook, cell, hash, status, stored_as, first_line}``; status is ``ok``,
    ``moved`` (current translation stored under another id), ``stale`` (the entry under this id translates
    another English text) or ``missing``."""
    lang = _norm_lang(lang)
    notebook = Path(notebook).stem
    stored = _entries(lang).get(notebook, {})
    out = []
    for cid, src in cells:
        digest = markdown_hash(src)
        where, _ = _find(notebook, cid, digest, lang)
        if where is not None:
            status = "ok" if where == cid else "moved"
        else:
            status = "stale" if cid in stored else "missing"
        first = next((ln.strip() for ln in src.splitlines() if ln.strip()), "")
        out.append({"notebook": notebook, "cell": cid, "hash": digest, "status": status, "stored_as": where,
                    "first_line": first[:90]})
    return out


def translate_notebook(nb: dict, notebook: str, lang: str | None = None) -> tuple[dict, list[dict]]:
    """A copy of a notebook (JSON dict) with every markdown cell that has a current translation in ``lang``;
    code cells are untouched. Returns ``(notebook, status records of the cells left in English)``."""
    import copy

    lang = _norm_lang(lang)
    out = copy.deepcopy(nb)
    left = []
    for cell, rec in zip((c for c in out.get("cells", []) if c.get("cell_type") == "markdown"),
                         markdown_status(notebook, markdown_cells(nb), lang), strict=True):
        zh = notebook_markdown(notebook, cell.get("id"), cell.get("source", ""), lang)
        if zh is None:
            left.append(rec)
        else:
            cell["source"] = zh
    return out, left


# --- what the notebooks print -------------------------------------------------------------------------------
# Lines a code cell prints (notes such as "No stage_history table in this dataset: ...", "as of 2025-12-15: ...")
# are translated line by line: a line the ``notes`` catalog holds, else the first matching ``printed`` pattern of
# patterns.json (its groups translated the same way, so "- <note>" and "Note: <note>" work). Other lines (tables
# printed with to_string, numbers) stay as printed.
@functools.cache
def _printed_patterns(lang: str) -> tuple[tuple[re.Pattern, str], ...]:
    if lang == "en":
        return ()
    from importlib import resources

    path = resources.files(__package__).joinpath("catalogs", lang, "patterns.json")
    printed = json.loads(path.read_text(encoding="utf-8")).get("printed", [])
    return tuple((re.compile(p["en"]), p[lang]) for p in printed)


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_MONTH = re.compile(r"^\d{4}-\d{2}$")


def _line(line: str, lang: str, depth: int = 0) -> str:
    notes = catalog("notes", lang)
    if line in notes:
        return notes[line]
    if depth and _ISO_DAY.match(line):  # a date a pattern picked out: 2025-12-15 -> 2025年12月15日
        return format_date(line, lang)
    if depth and _ISO_MONTH.match(line):
        return format_month(line, lang)
    if depth > 3 or not line.strip():
        return line
    for pat, fmt in _printed_patterns(lang):
        m = pat.match(line)
        if m:
            return fmt.format(*(g if g is None or not g.strip() else _line(g, lang, depth + 1) for g in m.groups()))
    return line


def translate_printed(text: str, lang: str | None = None) -> str:
    """Printed output (a stream's text) in the report language, line by line; unknown lines unchanged."""
    lang = _norm_lang(lang)
    if lang == "en" or not text:
        return text
    return "\n".join(_line(ln, lang) for ln in text.split("\n"))


_TH = re.compile(r"(<th[^>]*>)([^<]+)(</th>)")
_BOLD_TITLE = re.compile(r"^(<p><b>)([^<]+)(</b>)")
_LI = re.compile(r"(<li>)([^<]+)(</li>)")


def translate_output_html(html_text: str, lang: str | None = None) -> str:
    """An HTML output (a result's repr, a DataFrame) in the report language: table headers and a result's bold
    title through the labels catalog, list items that are known notes through the notes catalog. Text is
    already escaped; a translation is escaped before it goes in."""
    lang = _norm_lang(lang)
    if lang == "en" or not html_text:
        return html_text
    import html as _html

    def label(m: re.Match) -> str:
        raw = _html.unescape(m.group(2))
        out = t(raw.strip(), lang)
        return m.group(0) if out == raw.strip() else f"{m.group(1)}{_html.escape(out)}{m.group(3)}"

    def note(m: re.Match) -> str:
        raw = _html.unescape(m.group(2))
        out = _line(raw, lang)
        return m.group(0) if out == raw else f"{m.group(1)}{_html.escape(out)}{m.group(3)}"

    html_text = _TH.sub(label, html_text)
    html_text = _BOLD_TITLE.sub(label, html_text)
    return _LI.sub(note, html_text)


def _rekey(records: list[dict], lang: str) -> int:
    """Move translations of moved cells to their new ids in ``catalogs/<lang>/notebooks.json``."""
    moved = [r for r in records if r["status"] == "moved"]
    if not moved:
        return 0
    path = Path(__file__).parent / "catalogs" / lang / f"{NOTEBOOK_CATALOG}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for nb in {r["notebook"] for r in moved}:
        old = data.get(nb, {})
        new = {}
        for r in moved:
            if r["notebook"] == nb:
                new[r["cell"]] = old[r["stored_as"]]
        data[nb] = {**{k: v for k, v in old.items() if k not in {r["stored_as"] for r in moved}}, **new}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    _entries.cache_clear()
    return len(moved)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    rekey = "--rekey" in args
    paths = [Path(a) for a in args if a != "--rekey"]
    records = []
    for p in paths:
        nb = json.loads(p.read_text(encoding="utf-8"))
        records.extend(markdown_status(p.stem, markdown_cells(nb)))
        if rekey:
            _rekey(markdown_status(p.stem, markdown_cells(nb)), "zh")
    todo = [r for r in records if r["status"] in ("missing", "stale")]
    for r in todo:
        print(f"{r['status']:8s} {r['notebook']} {r['cell']} en_sha256={r['hash']}  {r['first_line']}")
    print(f"{len(records) - len(todo)} of {len(records)} markdown cells have a current translation")
    return 1 if todo else 0


if __name__ == "__main__":
    sys.exit(main())
