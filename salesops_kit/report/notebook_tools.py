"""Tools for the numbered notebooks: execute in place and strip metadata; write them in another language.

``python -m salesops_kit.report.notebook_tools notebooks/01_funnel_analysis.ipynb`` executes a notebook
top to bottom in a fresh kernel (working directory = the notebook's folder), keeps the outputs and
the cell tags, and strips everything else (execution timings, widget state, kernel details), so
committed notebooks are reproducible and diff cleanly.

:func:`write_notebooks` (``salesops notebooks --lang zh --out DIR``) writes the numbered notebooks for
cell-by-cell work in JupyterLab: markdown in the chosen language, code cells unchanged, outputs cleared.
"""

from __future__ import annotations

import sys
from pathlib import Path

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def strip_notebook(nb):
    """Strip metadata in place: keep tags, execution counts and outputs; stable cell ids."""
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for i, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags")
        cell["metadata"] = {"tags": list(tags)} if tags else {}
        cell["id"] = f"cell-{i:02d}"
        if cell.get("cell_type") == "code":
            for out in cell.get("outputs", []):
                if "metadata" in out and out.get("output_type") in ("display_data", "execute_result"):
                    out["metadata"] = {}
    return nb


def execute_in_place(path: str | Path, *, timeout: int = 600) -> None:
    """Execute a notebook top to bottom in a fresh kernel and save it stripped."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    client.execute()
    strip_notebook(nb)
    nbformat.write(nb, path)


def _injected_cell(*, lang: str, data_dir: Path, mapping: str | None) -> dict:
    """The cell written after the ``parameters`` cell (as papermill injects one, tagged ``injected-parameters``):
    the data folder as an absolute path, so the notebook runs from any folder, the mapping when one is given,
    and the language of chart labels and findings for the kernel."""
    lines = ["# Written by `salesops notebooks`: where the data is and the language of labels and findings.",
             "import os", "", f"os.environ[{'SALESOPS_LANG'!r}] = {lang!r}", f"data_dir = {str(data_dir)!r}"]
    if mapping:
        lines.append(f"mapping = {mapping!r}")
    return {"cell_type": "code", "execution_count": None, "id": "injected-parameters",
            "metadata": {"tags": ["injected-parameters"]}, "outputs": [], "source": "\n".join(lines)}


def write_notebooks(out_dir, *, lang: str = "zh", data_dir=None, mapping: str | None = None,
                    notebook_dir=None, select: list[str] | None = None) -> tuple[list[Path], list[dict]]:
    """Write the numbered notebooks into ``out_dir`` with their markdown in ``lang`` (the ``notebooks`` catalog)
    and their code unchanged, outputs and execution counts cleared, ready to open in JupyterLab.

    After each notebook's ``parameters`` cell one cell is added (tagged ``injected-parameters``) that sets the
    data folder as an absolute path (default: the bundled sample company), the mapping when given, and
    ``SALESOPS_LANG`` so charts and findings come out in ``lang`` too. Returns the written files and the markdown
    cells left in English (no current translation: new or changed since it was translated)."""
    import json

    import nbformat

    from ..i18n import LANGS
    from ..i18n.notebook_text import translate_notebook
    from ..tools.validation import check_option
    from .runner import find_notebooks, sample_data_dir

    check_option("lang", lang, LANGS, where="notebooks")
    data = Path(data_dir).resolve() if data_dir else sample_data_dir()
    if not data.is_dir():
        raise FileNotFoundError(f"Data folder {data} does not exist: give the folder that holds your export files.")
    if mapping and Path(mapping).is_file():
        mapping = str(Path(mapping).resolve())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written, left = [], []
    for src in find_notebooks(notebook_dir, select=select):
        nb = json.loads(src.read_text(encoding="utf-8"))
        if lang != "en":
            nb, untranslated = translate_notebook(nb, src.stem, lang)
            left.extend(untranslated)
        cells = []
        for cell in nb["cells"]:
            if cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
            cells.append(cell)
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                cells.append(_injected_cell(lang=lang, data_dir=data, mapping=mapping))
        nb["cells"] = cells
        node = nbformat.from_dict(nb)
        nbformat.validate(node)
        target = out / src.name
        nbformat.write(node, target)
        written.append(target)
    return written, left


if __name__ == "__main__":
    for p in sys.argv[1:]:
        execute_in_place(p)
        print(f"executed {p} ({Path(p).stat().st_size / 1e3:.0f} kB)")
