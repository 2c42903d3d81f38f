"""Developer tools for the numbered notebooks: execute in place and strip metadata.

``python -m salesops_kit.report.notebook_tools notebooks/01_funnel_analysis.ipynb`` executes a notebook
top to bottom in a fresh kernel (working directory = the notebook's folder), keeps the outputs and
the cell tags, and strips everything else (execution timings, widget state, kernel details), so
committed notebooks are reproducible and diff cleanly.
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


if __name__ == "__main__":
    for p in sys.argv[1:]:
        execute_in_place(p)
        print(f"executed {p} ({Path(p).stat().st_size / 1e3:.0f} kB)")
