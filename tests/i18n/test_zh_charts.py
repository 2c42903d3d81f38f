"""Chart text on Chinese pages (issue 19, part 2): every notebook's code, run on the sample company with
SALESOPS_LANG=zh, draws figures whose titles, axis labels, tick labels, legends and annotations hold no English
words besides method names, codes and the data's own names (english_share.py says what counts as English).

The notebooks' code is run in this process (no kernel, no page), cell by cell, and the text of every open figure is
collected after each cell."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import warnings
from pathlib import Path

import pytest

from salesops_kit.report.runner import find_notebooks, sample_data_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from english_share import english_words  # noqa: E402 - the report tests' measure

SAMPLE = sample_data_dir()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (SAMPLE / "opportunities.csv").is_file(), reason="no sample data")]

# Method and model names drawn as labels (the forecast methods' codes, the survival model).
METHOD_CODES = {"mase", "smape", "dotm", "sBG"}


@pytest.fixture(scope="module")
def data_words():
    from salesops_kit.data.load import load_dataset

    ds = load_dataset(SAMPLE)
    words: set[str] = set(METHOD_CODES)
    for table in ds.tables.values():
        for col in table.columns:
            if table[col].dtype == object and table[col].nunique() <= 300:
                words |= {str(v) for v in table[col].dropna().unique()}
    return words


def _figure_texts(path: Path) -> list[tuple[str, str]]:
    """(cell id, text) of every non-empty text artist of the figures each code cell leaves open."""
    import matplotlib
    import matplotlib.pyplot as plt

    nb = json.loads(path.read_text(encoding="utf-8"))
    ns: dict = {"display": lambda *a, **k: None}
    out = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "\n".join(ln for ln in "".join(cell["source"]).splitlines() if not ln.lstrip().startswith(("%", "!")))
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            src += f"\ndata_dir = {str(SAMPLE)!r}"
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(src, f"{path.stem}:{cell['id']}", "exec"), ns)  # noqa: S102 - the kit's own notebooks
        for num in plt.get_fignums():
            fig = plt.figure(num)
            out += [(cell["id"], t.get_text()) for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip()]
        plt.close("all")
    return out


@pytest.mark.parametrize("path", find_notebooks(), ids=lambda p: p.stem)
def test_chart_text_is_chinese(path, data_words, monkeypatch):
    monkeypatch.setenv("SALESOPS_LANG", "zh")
    monkeypatch.chdir(path.parent)
    texts = _figure_texts(path)
    if path.stem[:2] != "00":
        assert texts, "the notebook drew no chart (a broken run would pass vacuously)"
    english = sorted({f"{cid}: {text!r} {words}" for cid, text in texts
                      if (words := english_words(f"<p>{text}</p>", data_words))})
    assert not english, f"{path.stem} draws English chart text on Chinese pages:\n" + "\n".join(english)
