"""Run the numbered notebooks with parameters (papermill) and export HTML reports (nbconvert).

``build_report`` is what ``salesops report`` calls: it loads the dataset once (to account for the
rows and write the KPI table), runs each chosen notebook with ``data_dir``/``mapping``/``as_of``
injected into its ``parameters`` cell, and writes one self-contained HTML page per notebook (images
are embedded as data URIs). A notebook whose tables are missing gets a short page saying what it
needs; a failing notebook is named with its failing cell and the others are still written.
"""

from __future__ import annotations

import html
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["NOTEBOOK_TABLES", "NotebookRun", "ReportResult", "build_report", "find_notebooks",
           "notebooks_dir", "sample_data_dir"]

_ROOT = Path(__file__).resolve().parents[1]

# Tables each numbered notebook needs (by number); without them it renders a "what to map" page.
NOTEBOOK_TABLES: dict[str, tuple[str, ...]] = {
    "00": (),
    "01": ("opportunities",),
    "02": ("orders",),
    "03": ("opportunities",),
    "04": ("opportunities",),
    "05": ("opportunities",),
}


def notebooks_dir() -> Path:
    """The numbered notebooks shipped with the kit (``notebooks/`` of the project checkout)."""
    return _ROOT / "notebooks"


def sample_data_dir() -> Path:
    """The bundled sample company (``data/sample/`` of the project checkout)."""
    return _ROOT / "data" / "sample"


def find_notebooks(folder: Path | None = None, select: list[str] | None = None) -> list[Path]:
    """Numbered notebooks ``NN_name.ipynb`` in order; ``select`` keeps numbers like ``["01", "03"]``."""
    folder = Path(folder) if folder else notebooks_dir()
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if select:
        want = {s.strip().zfill(2) for s in select if s.strip()}
        unknown = want - {p.name[:2] for p in found}
        if unknown:
            raise ValueError(f"No notebook numbered {', '.join(sorted(unknown))} in {folder}; "
                             f"there are {', '.join(p.name[:2] for p in found)}.")
        found = [p for p in found if p.name[:2] in want]
    return found


@dataclass
class NotebookRun:
    """What happened to one notebook: ``status`` is ok, failed or skipped (missing tables)."""

    notebook: str
    status: str
    seconds: float
    html: Path | None = None
    failed_cell: int | None = None
    error: str = ""
    missing: tuple[str, ...] = ()


@dataclass
class ReportResult:
    out_dir: Path
    runs: list[NotebookRun] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.status != "failed" for r in self.runs)

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"notebook": r.notebook, "status": r.status, "seconds": round(r.seconds, 1),
                              "html": r.html.name if r.html else "", "failed_cell": r.failed_cell,
                              "error": r.error} for r in self.runs])


def _progress(iterable, *, enabled: bool, **kw):
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not enabled, **kw)


def build_report(data_dir=None, *, mapping=None, out_dir="reports", as_of=None, notebooks=None,
                 no_code: bool = False, progress: bool | None = None, kernel_name: str = "python3",
                 notebook_dir: Path | None = None) -> ReportResult:
    """Run the numbered notebooks on a dataset and write HTML reports into ``out_dir``.

    Parameters
    ----------
    data_dir : folder of export files (default: the bundled sample company).
    mapping : built-in mapping name or path to a YAML mapping (default ``canonical``).
    out_dir : where ``<notebook>.html``, ``index.html`` and ``kpis.csv`` go.
    as_of : analysis date (default: the latest date in the data).
    notebooks : numbers to run, e.g. ``["01", "03"]`` (default: all).
    no_code : management version without code cells.
    progress : show progress bars (default: only when stderr is a terminal).
    notebook_dir : folder of numbered notebooks (default: the kit's ``notebooks/``).
    """
    from .kpis import kpi_table
    from .load import load_dataset

    data_dir = Path(data_dir) if data_dir else sample_data_dir()
    if not data_dir.is_dir():
        raise FileNotFoundError(f"Data folder {data_dir} does not exist: give the folder that holds your export files.")
    mapping_param = str(Path(mapping).resolve()) if mapping and Path(str(mapping)).is_file() else (mapping or "canonical")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    progress = sys.stderr.isatty() if progress is None else progress

    ds = load_dataset(data_dir, mapping=mapping_param, as_of=as_of)
    result = ReportResult(out_dir=out)
    kpis = kpi_table(ds)
    kpis.to_csv(out / "kpis.csv", index=False)
    result.files["kpis.csv"] = out / "kpis.csv"

    params = {"data_dir": str(data_dir.resolve()), "mapping": mapping_param,
              "as_of": None if as_of is None else str(pd.Timestamp(as_of).date())}
    nbs = find_notebooks(notebook_dir, select=notebooks)
    executed = out / "_executed"
    executed.mkdir(exist_ok=True)
    for nb in _progress(nbs, enabled=progress, desc="notebooks", unit="nb"):
        needs = NOTEBOOK_TABLES.get(nb.name[:2], ())
        missing = tuple(ds.missing(*needs))
        target = out / f"{nb.stem}.html"
        if missing:
            target.write_text(_missing_page(nb.stem, missing, ds), encoding="utf-8")
            result.runs.append(NotebookRun(nb.stem, "skipped", 0.0, target, missing=missing))
            continue
        result.runs.append(_run_one(nb, executed / nb.name, target, params, no_code=no_code,
                                    progress=progress, kernel_name=kernel_name))
    (out / "index.html").write_text(_index_page(result, ds, params), encoding="utf-8")
    result.files["index.html"] = out / "index.html"
    return result


def _run_one(src: Path, executed: Path, target: Path, params: dict, *, no_code: bool, progress: bool,
             kernel_name: str) -> NotebookRun:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    t0 = time.perf_counter()
    status, cell, error = "ok", None, ""
    try:
        pm.execute_notebook(str(src), str(executed), parameters=params, cwd=str(src.parent),
                            kernel_name=kernel_name, progress_bar=progress, log_output=False)
    except PapermillExecutionError as exc:  # exec_count is the [n] shown in the report page
        status, cell = "failed", exc.exec_count
        first_line = (exc.source or "").strip().splitlines()[:1]
        error = f"{exc.ename}: {exc.evalue}" + (f" (in `{first_line[0][:80]}`)" if first_line else "")
    seconds = time.perf_counter() - t0
    if executed.exists():
        target.write_text(export_html(executed, no_code=no_code), encoding="utf-8")
    else:  # papermill could not even start the kernel
        target.write_text(_page(src.stem, f"<p>The notebook could not be run: {html.escape(error)}</p>"), encoding="utf-8")
    return NotebookRun(src.stem, status, seconds, target, failed_cell=cell, error=error)


def export_html(notebook: Path, *, no_code: bool = False) -> str:
    """Self-contained HTML of an executed notebook, honouring remove-cell/-input/-output tags."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    c = Config()
    c.TagRemovePreprocessor.remove_cell_tags = ("remove-cell", "parameters-hidden")
    c.TagRemovePreprocessor.remove_input_tags = ("remove-input",)
    c.TagRemovePreprocessor.remove_all_outputs_tags = ("remove-output",)
    c.TagRemovePreprocessor.enabled = True
    c.HTMLExporter.exclude_input = no_code
    c.HTMLExporter.exclude_input_prompt = no_code
    c.HTMLExporter.exclude_output_prompt = True
    c.HTMLExporter.embed_images = True
    exporter = HTMLExporter(config=c, template_name="lab")
    exporter.register_preprocessor(TagRemovePreprocessor(config=c), enabled=True)
    nb = nbformat.read(notebook, as_version=4)
    body, _ = exporter.from_notebook_node(nb)
    return body


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}"
            "td:first-child,th:first-child{text-align:left}.failed{color:#b00}.skipped{color:#a60}</style>"
            f"</head><body>{body}</body></html>")


def _missing_page(name: str, missing: tuple[str, ...], ds) -> str:
    keys = "".join(f"<li><code>tables.{html.escape(m)}.file</code></li>" for m in missing)
    return _page(name, f"<h1>{html.escape(name)}</h1><p>This report needs the table(s) "
                       f"<strong>{html.escape(', '.join(missing))}</strong>, which this dataset does not have "
                       f"(mapping <code>{html.escape(ds.mapping_name)}</code>). Add the export file(s) to the data folder "
                       f"and name them in the mapping:</p><ul>{keys}</ul><p>See data/README.md for the columns each "
                       "table needs, and <code>salesops mapping suggest FILE</code> for a draft mapping.</p>")


def _index_page(result: ReportResult, ds, params: dict) -> str:
    rows = "".join(
        f"<tr><td><a href=\"{html.escape(r.html.name)}\">{html.escape(r.notebook)}</a></td>"
        f"<td class=\"{r.status}\">{r.status}</td><td>{r.seconds:.1f}</td>"
        f"<td>{html.escape(r.error or ('needs ' + ', '.join(r.missing) if r.missing else ''))}</td></tr>"
        for r in result.runs if r.html)
    acct = ds.account.to_html(index=False, escape=True, border=0)
    p = "".join(f"<li><code>{html.escape(k)}</code> = {html.escape(str(v))}</li>" for k, v in params.items()
                if k != "data_dir")
    return _page("salesops-kit report", "<h1>salesops-kit report</h1>"
                 f"<p>As of {ds.as_of.date()} · mapping {html.escape(ds.mapping_name)}</p>"
                 f"<h2>Reports</h2><table><tr><th>notebook</th><th>status</th><th>seconds</th><th>note</th></tr>{rows}</table>"
                 f"<h2>Data account</h2>{acct}<h2>Parameters</h2><ul>{p}</ul>"
                 "<p><a href=\"kpis.csv\">kpis.csv</a>: every headline KPI with its interval, unit and definition.</p>")


def safe_filename(text: str) -> str:
    """A file name derived from data: letters, digits, dot, dash and underscore only."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._")
    return s[:100] or "unnamed"
