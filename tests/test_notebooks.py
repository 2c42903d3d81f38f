"""Structure of every numbered notebook (STYLE.md anatomy). nbval executes them separately."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no numbered notebooks found"


@pytest.fixture(params=NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def nb(request):
    path = request.param
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_title_cell(nb):
    path, data = nb
    first = data["cells"][0]
    assert first["cell_type"] == "markdown"
    src = "".join(first["source"])
    assert src.startswith(f"# {path.name[:2]} · "), f"{path.name}: title must be '# {path.name[:2]} · Title'"
    for word in ("Question", "Inputs"):
        assert word in src, f"{path.name}: title cell lacks '{word}'"


def test_one_parameters_cell_with_literals(nb):
    path, data = nb
    params = [c for c in data["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, f"{path.name}: needs exactly one parameters-tagged cell"
    src = "".join(params[0]["source"])
    for name in ("data_dir", "mapping", "as_of"):
        assert f"{name} =" in src, f"{path.name}: parameters cell lacks {name}"
    assert "import" not in src, f"{path.name}: parameters must be literals"


def test_executed_top_to_bottom_without_errors(nb):
    path, data = nb
    code = [c for c in data["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: execution counts {counts}"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: committed with error outputs"


def test_sections_findings_caveats(nb):
    path, data = nb
    md = "\n".join("".join(c["source"]) for c in data["cells"] if c["cell_type"] == "markdown")
    assert "## Findings" in md and "## Caveats" in md, f"{path.name}: needs '## Findings' and '## Caveats'"


def test_has_headline_check_cell(nb):
    path, data = nb
    # the headline cell is tagged (cell metadata), so the test marker never shows in a report (issue 15)
    checked = [c for c in data["cells"] if c["cell_type"] == "code"
               and "nbval-check-output" in c.get("metadata", {}).get("tags", [])]
    assert checked, f"{path.name}: no headline cell tagged 'nbval-check-output'"
    assert all(c["outputs"] for c in checked), f"{path.name}: a checked headline cell has no output to compare"
    leftover = [c["id"] for c in data["cells"] if "NBVAL_" in "".join(c["source"])]
    assert not leftover, f"{path.name}: test markers in cell sources {leftover} (use the cell tag)"


def test_no_warning_reaches_a_page(nb):
    """A committed notebook has no stderr output: a library's warning (with the machine's paths) would be printed on
    the report page a manager reads, and nbval would compare it across machines."""
    path, data = nb
    streams = [c["id"] for c in data["cells"] if c["cell_type"] == "code"
               for o in c.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert not streams, f"{path.name}: stderr output in cells {streams}"


def test_small_and_metadata_stripped(nb):
    path, data = nb
    assert path.stat().st_size < 1_000_000, f"{path.name} is {path.stat().st_size / 1e6:.1f} MB"
    assert set(data["metadata"]) <= {"kernelspec", "language_info"}
    for c in data["cells"]:
        assert set(c.get("metadata", {})) <= {"tags"}, f"{path.name}: cell metadata not stripped"


def test_listed_in_index(nb):
    path, _ = nb
    index = (ROOT / "notebooks" / "README.md").read_text(encoding="utf-8")
    assert f"]({path.name})" in index, f"{path.name} is not listed in notebooks/README.md"
