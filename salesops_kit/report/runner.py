"""Run the numbered notebooks with parameters (papermill) and export HTML reports (nbconvert).

``build_report`` is what ``salesops report`` calls: it loads the dataset once (to account for the
rows and write the KPI table), runs each chosen notebook with ``data_dir``/``mapping``/``as_of``
injected into its ``parameters`` cell, and writes one self-contained HTML page per notebook (images
are embedded as data URIs). A notebook whose tables are missing gets a short page saying what it
needs; a failing notebook is named with its failing cell and the others are still written.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ..engines import DUCKDB_MEMORY_ENV
from ..i18n import LANG_ENV, LANGS
from ..kpis import provider_rows
from ..tools.results import Result
from ..tools.validation import check_option
from .exports import safe_filename

__all__ = ["NOTEBOOK_PROVIDERS", "NOTEBOOK_TABLES", "NotebookRun", "default_jobs", "duckdb_memory", "ReportResult",
           "build_report", "export_html", "find_notebooks", "notebooks_dir", "safe_filename", "sample_data_dir"]

_ROOT = Path(__file__).resolve().parents[2]
#: where notebook 02 saves its customer-value table (its ``customers_file`` parameter), inside ``_executed/``: the
#: report writes customers.csv from it instead of fitting the purchase models a second time
CUSTOMERS_FILE = "customers.parquet"

# Tables each numbered notebook needs (by number); without them it renders a "what to map" page.
# A tuple inside means "at least one of these" (KPI monitoring works from any of its source tables).
NOTEBOOK_TABLES: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "00": (),
    "01": ("opportunities",),
    "02": ("orders",),
    "03": ("opportunities",),
    "04": ("opportunities",),
    "05": (("opportunities", "leads", "orders", "csat"),),
}


def missing_tables(ds, needs) -> tuple[str, ...]:
    """The tables of ``needs`` the dataset lacks; for an any-of group with none present, all its members
    (in the group's order), so the page can say how to map any of them."""
    out: list[str] = []
    for need in needs:
        group = (need,) if isinstance(need, str) else tuple(need)
        if not any(ds.has(g) for g in group):
            out.extend(g for g in group if g not in out)
    return tuple(out)


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


@dataclass(repr=False)
class ReportResult(Result):
    out_dir: Path
    runs: list[NotebookRun] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    findings: dict[str, list[dict]] = field(default_factory=dict)
    quarantine: list[Path] = field(default_factory=list)
    kpi_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No notebook failed (KPI provider errors are reported in ``kpi_errors``, index and manifest)."""
        return all(r.status != "failed" for r in self.runs)

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"notebook": r.notebook, "status": r.status, "seconds": round(r.seconds, 1),
                              "html": r.html.name if r.html else "", "failed_cell": r.failed_cell,
                              "error": r.error} for r in self.runs])

    def headline(self) -> str:
        failed = sum(r.status == "failed" for r in self.runs)
        errors = f"; {len(self.kpi_errors)} KPI provider error(s)" if self.kpi_errors else ""
        return f"Report in {self.out_dir}: {len(self.runs)} notebook(s), {failed} failed{errors}."


_OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}
<meta http-equiv="Content-Security-Policy" content="{{ resources.salesops_csp }}">
{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block data_javascript scoped -%}{%- endblock data_javascript -%}
{%- block body_header -%}
{{ super() }}
<nav class="salesops-nav" style="padding:.5rem 1rem;font-family:sans-serif">{#
#}<a href="index.html">{{ resources.salesops_back | e }}</a></nav>
{%- endblock body_header -%}
"""


def _progress(iterable, *, enabled: bool, **kw):
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not enabled, file=sys.stderr, **kw)


@contextmanager
def _environ(**values: str):
    """Set environment variables for the notebook kernels (they inherit the environment)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# The KPI provider whose table each numbered notebook publishes (``kpis.publish``): the report takes those
# rows from the executed notebook and computes a provider itself only when its notebook did not run.
NOTEBOOK_PROVIDERS: dict[str, str] = {
    "01": "salesops_kit.funnel",
    "02": "salesops_kit.value",
    "03": "salesops_kit.forecast",
    "04": "salesops_kit.reps",
    "05": "salesops_kit.monitor",
}


def _kpi_table(by_provider: dict[str, list[dict]], errors: list[str], currency: str | None = None
               ) -> tuple[pd.DataFrame, list[str]]:
    """The registry's KPI table from provider rows (in ``PROVIDERS`` order); unknown KPI names are errors."""
    from ..kpis import PROVIDERS, kpi_frame, lookup

    known = []
    errors = list(errors)
    for modname in PROVIDERS:
        for r in by_provider.get(modname, []):
            try:
                lookup(r["kpi"])
                known.append(r)
            except KeyError as exc:
                errors.append(str(exc).strip("\"'"))
    return kpi_frame(known, currency=currency), sorted(set(errors))


def _start_kpi_job(ds, providers, *, parallel: bool):
    """Compute ``providers``' rows in a worker process, so it overlaps the notebook runs (None: compute later).

    A lazy dataset (Polars plans, DuckDB relations bound to their connection) cannot be pickled to a process:
    its providers run in one worker thread of this process, scanning in the engine. Nothing else uses the
    dataset's DuckDB connection until :func:`_finish_kpi_job` has the result (the notebooks load their own)."""
    from ..engines import is_lazy

    if not parallel or not providers:
        return None, None
    if is_lazy(ds):
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="salesops-kpis")
        return pool, pool.submit(provider_rows, ds, providers)
    try:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(max_workers=1)
        return pool, pool.submit(provider_rows, ds, providers)
    except Exception:  # noqa: BLE001 - no worker processes here: compute in this process instead
        return None, None


def _finish_kpi_job(ds, providers, pool, job) -> tuple[dict[str, list[dict]], list[str]]:
    if job is None:
        return provider_rows(ds, providers)
    try:
        return job.result()
    except Exception:  # noqa: BLE001 - the worker died (memory, pickling): compute here
        return provider_rows(ds, providers)
    finally:
        pool.shutdown()


#: the memory a notebook kernel may reach, as a multiple of the loaded pandas tables' deep size: the largest kernel
#: of the pandas report on the scale-100 sample (654k deals) peaked at 2.6x (7,260 MiB for tables of 2,777 MiB)
KERNEL_MEMORY_FACTOR = 3


def machine_memory() -> tuple[int, int] | None:
    """``(total, available)`` bytes of memory (Linux: ``MemTotal`` and ``MemAvailable``, which counts the page cache
    the system can give back; elsewhere the free pages), or None when the system does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info = {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in fh if ":" in line)}
        return info["MemTotal"], info["MemAvailable"]
    except (OSError, KeyError, ValueError):
        pass
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return page * os.sysconf("SC_PHYS_PAGES"), page * os.sysconf("SC_AVPHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: no cap from memory
        return None


def default_jobs(ds=None, n_notebooks: int | None = None) -> int:
    """Notebooks to run at once: one more than the cores (at most 4), fewer when the loaded tables are large.

    One more than the cores, because a kernel spends part of its life waiting (starting, handing over outputs):
    on the 2-core development machine the sample report took 16-17 s with 3 at a time and 18-19 s with 2.
    Every kernel loads the dataset itself, so ``jobs`` kernels hold about ``jobs`` copies of it: each is counted at
    :data:`KERNEL_MEMORY_FACTOR` times the loaded tables, against the memory available now (this process already
    holds its own copy) less a tenth of the machine kept free."""
    jobs = max(1, min((os.cpu_count() or 1) + 1, 4))
    if n_notebooks is not None:
        jobs = max(1, min(jobs, n_notebooks))
    memory = machine_memory()
    if ds is None or memory is None:
        return jobs
    total, available = memory
    size = sum(int(t.memory_usage(deep=True).sum()) for t in ds.tables.values() if isinstance(t, pd.DataFrame))
    if size:
        jobs = max(1, min(jobs, int((available - total / 10) // (KERNEL_MEMORY_FACTOR * size))))
    return jobs


def duckdb_memory(jobs: int, total: int | None = None) -> str | None:
    """The memory limit of each notebook kernel's DuckDB in a DuckDB report, as ``SET memory_limit`` takes it:
    three quarters of the machine's memory (``total`` bytes) shared by the ``jobs`` kernels and the report process.
    DuckDB's own default is 80% of the memory for every process, so four processes could together ask for 320%;
    None when the machine's memory cannot be read. It bounds DuckDB's buffers, not the pandas frames a notebook
    makes from them."""
    if total is None:
        memory = machine_memory()
        if memory is None:  # the system does not say: DuckDB's default
            return None
        total = memory[0]
    return f"{max(256, int(total * 0.75 / (int(jobs) + 1) / 2**20))}MB"


def build_report(data_dir=None, *, mapping=None, out_dir="reports", as_of=None, notebooks=None,
                 no_code: bool = False, lang: str = "en", progress: bool | None = None,
                 kernel_name: str = "python3", notebook_dir: Path | None = None,
                 parallel_kpis: bool = True, period: str | None = None, jobs: int | None = None,
                 engine: str = "pandas") -> ReportResult:
    """Run the numbered notebooks on a dataset and write the report into ``out_dir``.

    Writes ``<notebook>.html`` per notebook (self-contained, offline; a "tables missing" page when the
    dataset lacks what it needs), ``index.html``, ``kpis.csv``, ``kpis.xlsx``, ``findings.csv``,
    ``quarantine/<table>.csv`` and ``manifest.json``; executed notebooks are kept in ``_executed/``.

    Parameters
    ----------
    data_dir : folder of export files (default: the bundled sample company).
    mapping : built-in mapping name or path to a YAML mapping (default ``canonical``).
    out_dir : output folder.
    as_of : analysis date (default: the latest date in the data).
    notebooks : numbers to run, e.g. ``["01", "03"]`` (default: all).
    no_code : management version without code cells (and without warnings printed by cells).
    lang : ``en`` or ``zh``: language of the pages, chart labels and findings (``SALESOPS_LANG`` for the kernels).
    progress : show progress bars across and within notebooks (default: only when stderr is a terminal).
    notebook_dir : folder of numbered notebooks (default: the kit's ``notebooks/``).
    parallel_kpis : compute the KPIs of topics whose notebook does not run in a worker process while the
        notebooks run (same result). The KPIs of a notebook that runs are the ones it publishes.
    period : review period for the notebooks that take a ``period`` parameter (KPI monitoring), e.g.
        ``"2025-11"``; default: their own default (the last complete period at as_of).
    jobs : notebooks executed at once, each in its own kernel (default :func:`default_jobs`: one more than the
        cores, at most 4, fewer for large data). Results do not depend on it.
    engine : ``pandas`` (default), ``polars``, ``duckdb`` or ``spark``: the report's own load, data account, quarantine
        and KPI table are computed on this engine, and it is passed to the notebooks that declare an ``engine``
        parameter (they load the data lazily and scan in the engine; README, "Big data").
    """
    from ..data.load import open_dataset

    _check_report_options(lang=lang, jobs=jobs, engine=engine)
    started = datetime.now(UTC)
    t_start = time.perf_counter()
    data_dir, mapping_param, as_of_param = _report_inputs(data_dir, mapping, as_of, engine=engine)
    nbs = find_notebooks(notebook_dir, select=notebooks)
    out = Path(out_dir).resolve()  # the output folder is fixed before any notebook runs
    out.mkdir(parents=True, exist_ok=True)
    progress = sys.stderr.isatty() if progress is None else progress

    if lang == "zh":  # warn once, here in the terminal, when Chinese chart labels would be drawn as boxes
        from ..i18n import use_cjk_font

        use_cjk_font()
    # the files read and checked once, not again by every KPI scan of this process (open_dataset: as a notebook)
    ds = open_dataset(data_dir, mapping=mapping_param, as_of=as_of_param, engine=engine)
    if engine == "spark":
        jobs = 1 if jobs is None else jobs  # each notebook kernel runs its own Spark driver
    result = ReportResult(out_dir=out)
    plan = [(nb, missing_tables(ds, NOTEBOOK_TABLES.get(nb.name[:2], ()))) for nb in nbs]
    to_run = [nb for nb, missing in plan if not missing]
    covered, others = _split_providers(to_run)
    slow = [p for p in others if p != "salesops_kit.kpis"]
    pool, kpi_job = _start_kpi_job(ds, others, parallel=parallel_kpis and bool(slow))  # overlaps the notebooks
    jobs = int(jobs) if jobs is not None else default_jobs(ds, len(to_run))
    where = str(data_dir.resolve()) if isinstance(data_dir, Path) else data_dir  # a URI or catalog name: as given
    params = {"data_dir": where, "mapping": mapping_param, "as_of": as_of_param, "engine": engine}
    if period is not None:
        params["period"] = str(period)
    executed = out / "_executed"
    try:
        _write_quarantine_dir(ds, out, result)
        executed.mkdir(exist_ok=True)
        _write_missing_pages(plan, ds, out, lang=lang)
        kernel_env = {LANG_ENV: lang, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
        limit = duckdb_memory(jobs) if engine == "duckdb" and not os.environ.get(DUCKDB_MEMORY_ENV) else None
        if limit:  # each kernel's DuckDB, unless the user set one
            kernel_env[DUCKDB_MEMORY_ENV] = limit
        fitted = executed / CUSTOMERS_FILE  # notebook 02's customer table, for customers.csv (never an old one)
        fitted.unlink(missing_ok=True)
        with _environ(**kernel_env):
            done = _run_notebooks(to_run, executed, out, {**params, "customers_file": str(fitted)}, jobs=jobs,
                                  progress=progress, no_code=no_code, lang=lang, kernel_name=kernel_name)
    except BaseException:  # interrupted or crashed: do not leave the KPI worker behind
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    result.findings, published = _collect_runs(plan, done, out, executed, result)
    kpis, result.kpi_errors = _report_kpis(ds, covered, others, pool, kpi_job, published)
    files = _write_tables(result, kpis, out, lang=lang, ds=ds, fitted=executed / CUSTOMERS_FILE)
    _write_index(result, ds, kpis, files, params=_shown_params(params, data_dir, lang), lang=lang)
    _write_manifest(result, ds, files, data_dir=data_dir, mapping=mapping_param, params=params, lang=lang,
                    no_code=no_code, started=started, seconds_total=time.perf_counter() - t_start, jobs=jobs,
                    engine=engine)
    if engine == "spark":  # the checked tables kept on the executors (memory and disk): not needed any more
        from ..engines import release

        release(ds)
    return result


# --- the steps of build_report ---------------------------------------------------------------------------

def _check_report_options(*, lang: str, jobs, engine: str) -> None:
    from ..engines import check_engine

    check_option("lang", lang, LANGS, where="report")
    if jobs is not None and int(jobs) < 1:
        raise ValueError(f"jobs must be at least 1 (got {jobs}).")
    check_engine(engine)


def _report_inputs(data_dir, mapping, as_of, *, engine: str = "pandas") -> tuple[Path | str, str, str | None]:
    """The data folder (checked), and the mapping and as-of as the notebooks' parameters receive them.

    On Spark the data may also be a URI (``s3a://``, ``abfss://``, ``hdfs://``, ``file://``) or a catalog database
    or table: passed on as given (the Spark loader says what it cannot find); only a local path is checked here."""
    text = str(data_dir or "")
    remote = "://" in text or not (any(ch in text for ch in "/\\") or Path(text).exists())  # a URI, a catalog name
    if engine == "spark" and text and remote:
        return text, *_report_inputs(None, mapping, as_of)[1:]
    data_dir = Path(data_dir) if data_dir else sample_data_dir()
    if not data_dir.is_dir():
        raise FileNotFoundError(f"Data folder {data_dir} does not exist: give the folder that holds your export "
                                "files.")
    is_file = mapping and Path(str(mapping)).is_file()
    mapping_param = str(Path(mapping).resolve()) if is_file else (mapping or "canonical")
    as_of_param = None if as_of is None else str(pd.Timestamp(as_of).date())
    return data_dir, mapping_param, as_of_param


def _split_providers(to_run: list[Path]) -> tuple[set[str], list[str]]:
    """KPI providers whose notebook runs (it publishes their rows), and the others (the report computes them:
    the data KPIs, and topics whose notebook does not run)."""
    from ..kpis import PROVIDERS

    covered = {NOTEBOOK_PROVIDERS[nb.name[:2]] for nb in to_run if nb.name[:2] in NOTEBOOK_PROVIDERS}
    return covered, [p for p in PROVIDERS if p not in covered]


def _write_quarantine_dir(ds, out: Path, result: ReportResult) -> None:
    from .exports import write_quarantine

    qdir = out / "quarantine"
    if qdir.exists():
        shutil.rmtree(qdir)
    result.quarantine = write_quarantine(ds, qdir)
    result.files["quarantine/"] = qdir


def _write_missing_pages(plan, ds, out: Path, *, lang: str) -> None:
    """The "tables missing" page of every notebook that cannot run on this dataset."""
    from .pages import missing_page

    for nb, missing in plan:
        if missing:
            needs = NOTEBOOK_TABLES.get(nb.name[:2], ())
            any_of = any(not isinstance(n, str) for n in needs) and all(not isinstance(n, str) for n in needs)
            target = out / f"{safe_filename(nb.stem)}.html"
            target.write_text(missing_page(nb.stem, missing, ds, lang=lang, any_of=any_of), encoding="utf-8")


def _collect_runs(plan, done, out: Path, executed: Path, result: ReportResult
                  ) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """Record every notebook's run in ``result`` (in notebook order) and gather the findings and the KPI rows
    the executed notebooks published: ``(findings by notebook, rows by provider)``."""
    from ..kpis import published_rows

    findings: dict[str, list[dict]] = {}
    published: dict[str, list[dict]] = {}
    for nb, missing in plan:
        if missing:
            result.runs.append(NotebookRun(nb.stem, "skipped", 0.0, out / f"{safe_filename(nb.stem)}.html",
                                           missing=missing))
            continue
        run, recs = done[nb]
        result.runs.append(run)
        if recs is not None:
            findings[run.notebook] = recs
        if run.status == "ok":
            try:
                published.update(published_rows(executed / nb.name))
            except Exception:  # noqa: BLE001 - unreadable: its provider is computed below
                pass
    return findings, published


def _report_kpis(ds, covered: set[str], others: list[str], pool, kpi_job, published: dict[str, list[dict]]
                 ) -> tuple[pd.DataFrame, list[str]]:
    """The KPI table: the rows the notebooks published, the worker's rows for the other providers, and rows
    computed here for a provider whose notebook failed or did not publish; with the errors."""
    from ..kpis import PROVIDERS

    by_provider, errors = _finish_kpi_job(ds, others, pool, kpi_job)
    unpublished = [p for p in PROVIDERS if p in covered and p not in published]  # failed, or never published
    late, late_errors = provider_rows(ds, unpublished)
    from ..data.currency import single_currency

    return _kpi_table({**by_provider, **late, **published}, errors + late_errors, single_currency(ds))


def _write_tables(result: ReportResult, kpis: pd.DataFrame, out: Path, *, lang: str, ds=None,
                  fitted: Path | None = None) -> list[str]:
    """``kpis.csv``, ``kpis.xlsx``, ``findings.csv`` and ``customers.csv``/``.xlsx`` (from ``fitted``, the table
    notebook 02 saved, when it did); returns the data files the index lists."""
    from .exports import write_customers, write_findings, write_kpis

    result.files.update(write_kpis(kpis, out, lang=lang))
    result.files["findings.csv"] = write_findings(result.findings, out, lang=lang)
    fitted = fitted if fitted is not None and fitted.is_file() else None
    customers = write_customers(ds, out, fitted=fitted) if ds is not None else {}  # issue 18
    result.files.update(customers)
    files = ["kpis.csv", "kpis.xlsx", "findings.csv", *customers, "quarantine/", "manifest.json"]
    return files + [f"quarantine/{p.name}" for p in result.quarantine]


def _write_index(result: ReportResult, ds, kpis: pd.DataFrame, files: list[str], *, params: dict, lang: str
                 ) -> None:
    from .pages import index_page

    path = result.out_dir / "index.html"
    from ..data.currency import report_currency

    path.write_text(index_page(runs=result.runs, ds=ds, kpis=kpis, findings=result.findings, params=params,
                               lang=lang, files=files, kpi_errors=result.kpi_errors, currency=report_currency(ds)),
                    encoding="utf-8")
    result.files["index.html"] = path


def _write_manifest(result: ReportResult, ds, files: list[str], *, data_dir: Path, mapping: str, params: dict,
                    lang: str, no_code: bool, started: datetime, seconds_total: float, jobs: int, engine: str) -> None:
    from .exports import build_manifest, write_manifest

    manifest = build_manifest(ds, data_dir=data_dir, mapping=mapping, params=params, runs=result.runs,
                              lang=lang, no_code=no_code, started=started, seconds_total=seconds_total,
                              outputs=[r.html.name for r in result.runs if r.html] + files + ["index.html"])
    manifest["kpi_errors"] = result.kpi_errors
    manifest["jobs"] = jobs
    manifest["engine"] = engine
    result.files["manifest.json"] = write_manifest(manifest, result.out_dir)


def _run_notebooks(to_run: list[Path], executed: Path, out: Path, params: dict, *, jobs: int, progress: bool,
                   no_code: bool, lang: str, kernel_name: str) -> dict[Path, tuple[NotebookRun, list[dict] | None]]:
    """Execute the notebooks, ``jobs`` at a time, each exported to its page as soon as it finishes.

    Returns ``{notebook: (run, findings)}``. A bar counts finished notebooks; each running notebook has its
    own bar of cells below it."""
    import queue
    from concurrent.futures import as_completed

    slots: queue.Queue[int] = queue.Queue()
    for i in range(jobs):
        slots.put(i + 1)

    def one(nb: Path):
        slot = slots.get()
        try:
            run = _run_one(nb, executed / nb.name, out / f"{safe_filename(nb.stem)}.html", _params_for(nb, params),
                           progress=progress, kernel_name=kernel_name, position=slot)
            return run, _write_page(run, executed / nb.name, no_code=no_code, lang=lang)
        finally:
            slots.put(slot)

    done: dict[Path, tuple[NotebookRun, list[dict] | None]] = {}
    with ThreadPoolExecutor(max_workers=jobs) as ex, \
            _progress(None, enabled=progress, total=len(to_run), desc="notebooks", unit="nb") as bar:
        # Longest first (code cells as the measure of length), so a short notebook fills the end, not a long one
        futures = {ex.submit(one, nb): nb for nb in sorted(to_run, key=lambda nb: -_code_cells(nb))}
        for f in as_completed(futures):
            done[futures[f]] = f.result()
            bar.update(1)
    return done


def _code_cells(nb: Path) -> int:
    import nbformat

    try:
        return sum(c.get("cell_type") == "code" for c in nbformat.read(nb, as_version=4).cells)
    except Exception:  # noqa: BLE001 - unreadable: papermill will say why when it runs
        return 0


def _params_for(nb: Path, params: dict) -> dict:
    """The parameters a notebook declares in its ``parameters`` cell (data_dir, mapping, as_of always)."""
    import nbformat

    cell = next((c for c in nbformat.read(nb, as_version=4).cells
                 if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    declared = cell.source if cell is not None else ""
    return {k: v for k, v in params.items()
            if k in ("data_dir", "mapping", "as_of") or re.search(rf"^\s*{k}\s*=", declared, re.M)}


def _shown_params(params: dict, data_dir: Path | str, lang: str = "en") -> dict:
    """Parameters as shown on the index page: the data folder by name, not its absolute path (a URI or catalog
    name as given)."""
    shown = dict(params)
    shown["data_dir"] = data_dir.name if isinstance(data_dir, Path) else data_dir
    mp = Path(str(params["mapping"]))
    if mp.is_file():
        shown["mapping"] = mp.name
    from ..i18n import t

    shown["as_of"] = params["as_of"] or t("(latest date in the data)", lang)
    return shown


KERNEL_START_ATTEMPTS = 3


def _kernel_start_failed(exc: BaseException) -> bool:
    """The kernel died before it answered its first request (nbclient's ``kernel_info``): no cell has run."""
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("before replying to kernel_info" in text
                                              or text.startswith("Kernel didn't respond in"))


def _run_one(src: Path, executed: Path, target: Path, params: dict, *, progress: bool,
             kernel_name: str, position: int = 1) -> NotebookRun:
    """Execute one notebook with papermill into ``executed``; a failure is named with its cell."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    t0 = time.perf_counter()
    status, cell, error = "ok", None, ""
    bar = {"desc": f"  {src.stem}", "leave": False, "position": position, "file": sys.stderr} if progress else False
    if executed.exists():
        executed.unlink()
    try:
        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            try:
                # The kernel starts in the notebook's folder (nbclient's resources path) rather than through
                # papermill's ``cwd``, which changes this whole process's working directory: notebooks run in
                # parallel threads.
                pm.execute_notebook(str(src), str(executed), parameters=params, kernel_name=kernel_name,
                                    progress_bar=bar, log_output=False,
                                    resources={"metadata": {"path": str(src.parent)}},
                                    request_save_on_cell_execute=False,  # written once at the end (and on error)
                                    extra_arguments=["--IPKernelApp.log_level=CRITICAL"])  # no kernel chatter
                break
            except RuntimeError as exc:
                if not _kernel_start_failed(exc) or attempt == KERNEL_START_ATTEMPTS:
                    raise
                # No cell has run: the kernel died while starting (kernels started at the same moment can race
                # for the same free ports). A fresh kernel is safe to start; the run says it needed one.
                print(f"  {src.stem}: the kernel died while starting ({exc}); starting a new one "
                      f"(attempt {attempt + 1} of {KERNEL_START_ATTEMPTS})", file=sys.stderr)
                time.sleep(0.5 * attempt)
    except PapermillExecutionError as exc:  # exec_count is the [n] shown in the report page
        status, cell = "failed", exc.exec_count
        first_line = (exc.source or "").strip().splitlines()[:1]
        error = f"{exc.ename}: {exc.evalue}" + (f" (in `{first_line[0][:80]}`)" if first_line else "")
    except Exception as exc:  # noqa: BLE001 - kernel did not start, notebook unreadable, ...
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    return NotebookRun(src.stem, status, time.perf_counter() - t0, target, failed_cell=cell, error=error)


def _write_page(run: NotebookRun, executed: Path, *, no_code: bool, lang: str) -> list[dict] | None:
    """Export the executed notebook to ``run.html`` and return its findings (None when it never ran)."""
    from .exports import collect_findings
    from .pages import page

    if not executed.exists():  # papermill could not even start the kernel
        run.html.write_text(page(run.notebook, f"<h1>{html.escape(run.notebook)}</h1>"
                                               f"<p>The notebook could not be run: {html.escape(run.error)}</p>",
                                 lang=lang), encoding="utf-8")
        return None
    try:
        run.html.write_text(export_html(executed, no_code=no_code, lang=lang), encoding="utf-8")
    except Exception as exc:  # noqa: BLE001 - the report goes on; the page says what happened
        run.status = "failed"
        run.error = run.error or f"HTML export failed: {type(exc).__name__}: {exc}"
        run.html.write_text(page(run.notebook, f"<h1>{html.escape(run.notebook)}</h1>"
                                               f"<p>{html.escape(run.error)}</p>", lang=lang), encoding="utf-8")
    try:
        return collect_findings(executed)
    except Exception:  # noqa: BLE001 - an unreadable notebook has no findings to collect
        return []


_HEADING = re.compile(r"^(#{1,6}[ \t]+)((?:\d+(?:\.\d+)*[ \t]*·[ \t]*|\d+(?:\.\d+)*[.)]?[ \t]+)?)(.+?)[ \t]*$", re.M)


def translate_headings(markdown: str, lang: str) -> str:
    """Translate Markdown headings that the i18n table knows (``## Findings`` → ``## 主要发现``), keeping any
    numbering (``## 2. Win rate``, ``# 01 · Funnel analysis``); other text is left as written."""
    from ..i18n import t

    def sub(m: re.Match) -> str:
        return f"{m.group(1)}{m.group(2)}{t(m.group(3), lang)}"

    return _HEADING.sub(sub, markdown)


def _translate_cells(nb, stem: str, lang: str) -> None:
    """A notebook's page in the report language: each markdown cell's catalog translation (without a current one,
    its headings), and what the code printed or displayed: known notes and patterns of printed lines, the
    headers of displayed tables and the titles of results (:mod:`salesops_kit.i18n.notebook_text`)."""
    from ..i18n.notebook_text import notebook_markdown, translate_output_html, translate_printed

    for cell in nb.cells:
        if cell.get("cell_type") == "markdown":
            translated = notebook_markdown(stem, cell.get("id"), cell.source, lang)
            cell.source = translated if translated is not None else translate_headings(cell.source, lang)
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                out["text"] = translate_printed(out.get("text", ""), lang)
            elif "text/html" in (out.get("data") or {}):
                out["data"]["text/html"] = translate_output_html(out["data"]["text/html"], lang)


def _blank_output(out) -> bool:
    """True for an output that shows nothing: empty printed text, or a display whose every representation is
    blank (scaffolding such as the empty ``text/plain`` beside data meant for the report, not the reader)."""
    kind = out.get("output_type")
    if kind == "stream":
        return not str(out.get("text", "")).strip()
    if kind in ("display_data", "execute_result"):
        data = out.get("data") or {}
        shown = {k: v for k, v in data.items() if not k.startswith("application/vnd.salesops")}
        return not any(("".join(v) if isinstance(v, list) else str(v)).strip() for v in shown.values())
    return False


def export_html(notebook: Path, *, no_code: bool = False, lang: str = "en") -> str:
    """Self-contained, offline HTML of an executed notebook.

    Images are embedded; ``remove-cell``/``remove-input``/``remove-output`` tags are honoured; the lab
    template's CDN scripts (require.js, MathJax, mermaid, widgets) are left out and a Content-Security-Policy
    allowing no script or network request is set, so the page loads offline with no console error.
    ``no_code`` drops code inputs, prompts and the warnings cells printed to stderr.
    """
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    from ..i18n import t
    from .pages import CSP, notebook_title

    c = Config()
    c.TagRemovePreprocessor.remove_cell_tags = ("remove-cell", "parameters-hidden")
    c.TagRemovePreprocessor.remove_input_tags = ("remove-input",)
    c.TagRemovePreprocessor.remove_all_outputs_tags = ("remove-output",)
    c.TagRemovePreprocessor.enabled = True
    c.HTMLExporter.exclude_input = no_code
    c.HTMLExporter.exclude_input_prompt = no_code
    c.HTMLExporter.exclude_output_prompt = True
    c.HTMLExporter.embed_images = True
    c.HTMLExporter.language_code = "zh" if lang == "zh" else "en"  # ISO 639-1 only
    exporter = HTMLExporter(config=c, template_name="lab",
                            extra_loaders=[DictLoader({"salesops_offline.html.j2": _OFFLINE_TEMPLATE})])
    exporter.template_file = "salesops_offline.html.j2"
    exporter.register_preprocessor(TagRemovePreprocessor(config=c), enabled=True)
    from ..kpis import KPIS_MIME

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:  # the KPI tables handed to the report are data for the index, not page content
        if cell.get("cell_type") == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if KPIS_MIME not in (o.get("data") or {})
                            and not (no_code and o.get("output_type") == "stream" and o.get("name") == "stderr")
                            and not _blank_output(o)]
    if no_code:  # a code cell that shows nothing would still leave an empty box on the page
        nb.cells = [c for c in nb.cells if c.get("cell_type") != "code" or c.get("outputs")]
    if lang != "en":
        _translate_cells(nb, Path(notebook).stem, lang)
    name = notebook_title(Path(notebook).stem, lang)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": name}, "salesops_csp": CSP,
                                                         "salesops_back": t("Back to the index", lang)})
    return body
