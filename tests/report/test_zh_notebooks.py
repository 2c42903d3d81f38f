"""``salesops notebooks --lang zh --out DIR`` (issue 19, part 3): the six notebooks with Chinese markdown, their code
unchanged and outputs cleared, plus one injected cell with the data folder; they run from the new folder."""

from __future__ import annotations

import contextlib
import io
import json
import re

import nbformat
import pytest
import test_report_support as support

from salesops_kit import cli
from salesops_kit.i18n import notebook_text as nt
from salesops_kit.report.runner import find_notebooks, sample_data_dir

HAN = re.compile(r"[\u4e00-\u9fff]")


def _write(tmp_path, *args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["notebooks", "--out", str(tmp_path / "nb"), *args])
    return code, out.getvalue(), err.getvalue()


def test_notebooks_command_writes_chinese_markdown_and_unchanged_code(tmp_path):
    code, printed, warned = _write(tmp_path, "--lang", "zh")
    assert code == 0
    sources = find_notebooks()
    assert printed.split() == [str(tmp_path / "nb" / p.name) for p in sources]
    for src in sources:
        orig = json.loads(src.read_text(encoding="utf-8"))
        new = nbformat.read(tmp_path / "nb" / src.name, as_version=4)
        nbformat.validate(new)
        injected = [c for c in new.cells if c.get("id") == "injected-parameters"]
        assert len(injected) == (1 if any("parameters" in c["metadata"].get("tags", []) for c in orig["cells"]) else 0)
        kept = [c for c in new.cells if c.get("id") != "injected-parameters"]
        assert [c["id"] for c in kept] == [c["id"] for c in orig["cells"]]
        for a, b in zip(orig["cells"], kept, strict=True):
            if a["cell_type"] == "code":
                assert b.source == "".join(a["source"]), (src.name, a["id"])  # code unchanged
                assert b.outputs == [] and b.execution_count is None  # outputs cleared
            else:
                zh = nt.notebook_markdown(src.stem, a["id"], a["source"], "zh")
                assert b.source == (zh if zh is not None else "".join(a["source"])), (src.name, a["id"])
        assert HAN.search(kept[0].source), src.name  # the title cell is Chinese
    # the warning lists exactly the cells without a current translation
    left = [r for p in sources for r in nt.markdown_status(p.stem, nt.markdown_cells(
        json.loads(p.read_text(encoding="utf-8")))) if r["status"] in ("missing", "stale")]
    assert warned.count("has no current zh translation") == len(left)


def test_injected_cell_sets_data_folder_mapping_and_language(tmp_path):
    code, _, _ = _write(tmp_path, "--lang", "zh", "--mapping", "canonical", "--notebooks", "01")
    assert code == 0
    written = sorted((tmp_path / "nb").glob("*.ipynb"))
    assert [p.name for p in written] == ["01_funnel_analysis.ipynb"]
    nb = nbformat.read(written[0], as_version=4)
    i = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    cell = nb.cells[i + 1]
    assert cell.metadata["tags"] == ["injected-parameters"]
    env: dict = {}
    exec(compile(cell.source, "injected", "exec"), env)  # plain assignments, nothing else
    assert env["data_dir"] == str(sample_data_dir()) and env["mapping"] == "canonical"
    assert env["os"].environ.pop("SALESOPS_LANG") == "zh"


def test_english_notebooks_keep_english_markdown_and_bad_input_is_named(tmp_path):
    code, _, _ = _write(tmp_path, "--lang", "en", "--notebooks", "00")
    assert code == 0
    src = find_notebooks(select=["00"])[0]
    nb = nbformat.read(tmp_path / "nb" / src.name, as_version=4)
    assert nb.cells[0].source == "".join(json.loads(src.read_text(encoding="utf-8"))["cells"][0]["source"])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli.main(["notebooks", "--out", str(tmp_path / "x"), "--data", str(tmp_path / "nowhere")]) == 2
    assert "nowhere does not exist" in err.getvalue()


@pytest.mark.slow
@pytest.mark.skipif(not support.have_sample(), reason="data/sample has not been generated")
def test_written_notebook_runs_from_its_new_folder(tmp_path):
    """The data audit notebook, written elsewhere, runs top to bottom in a fresh kernel and prints Chinese."""
    from nbclient import NotebookClient

    code, _, _ = _write(tmp_path, "--lang", "zh", "--notebooks", "00")
    assert code == 0
    path = tmp_path / "nb" / "00_data_audit.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    assert "数据审计发现" in html  # the findings block, in Chinese (SALESOPS_LANG from the injected cell)
