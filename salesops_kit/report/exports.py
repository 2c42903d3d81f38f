"""Machine-readable report files: kpis.csv/.xlsx, findings.csv, customers.csv/.xlsx, quarantine/, manifest.json.

Every text cell that a spreadsheet could read as a formula (starting with ``=``, ``+``, ``-``, ``@``,
tab or carriage return) is prefixed with a single quote; genuine numbers (``-12.5``, ``-3%``) stay
numbers. CSV files are written deterministically (fixed column order, sorted rows, ``\\n`` line ends,
floats with 12 significant digits), so two runs on the same inputs give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import re
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pandas as pd

__all__ = ["neutralise", "neutralise_frame", "csv_text", "write_csv", "write_xlsx", "write_kpis", "collect_findings",
           "findings_table", "write_findings", "write_quarantine", "safe_filename", "file_sha256", "build_manifest",
           "FINDINGS_COLUMNS", "write_customers", "CUSTOMERS_COLUMNS"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain number, optionally signed, with thousands separators, decimals, exponent, a currency sign or %.
_NUMBER = re.compile(r"^[+-]?[$€£¥]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?([eE][+-]?\d+)?%?$")


def neutralise(value):
    """Make a value safe for a spreadsheet cell: text starting with ``= + - @`` (or tab/CR) gets a
    leading ``'``, unless it is a plain number such as ``-12.5`` or ``-3%``. Non-text is unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells (and column names) are neutralised (see :func:`neutralise`)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def _fmt_float(v):
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        r = float(f"{v:.12g}")
        return str(int(r)) if r.is_integer() and abs(r) < 1e15 else repr(r)
    return v


def csv_text(df: pd.DataFrame) -> str:
    """Neutralised, deterministic CSV text (floats to 12 significant digits, ``\\n`` line ends)."""
    out = neutralise_frame(df)
    for c in out.columns:
        if out[c].dtype.kind == "f" or out[c].dtype == object:
            out[c] = out[c].map(_fmt_float)
    return out.to_csv(index=False, lineterminator="\n")


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """Write :func:`csv_text` of ``df`` as UTF-8."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(csv_text(df), encoding="utf-8")
    return path


#: rows of one Excel sheet, the header included (Excel's limit)
XLSX_MAX_ROWS = 1_048_576


def write_xlsx(df: pd.DataFrame, path: Path, *, sheet: str = "kpis") -> Path:
    """Write a neutralised XLSX (text that looks like a formula is stored as text with a leading ``'``).

    Streamed with openpyxl's write-only workbook (the whole sheet is never held as cell objects: a million-row
    table is written in a minute, not a quarter of an hour). A table longer than one Excel sheet is refused: the
    CSV beside it holds every row."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    if len(df) + 1 > XLSX_MAX_ROWS:
        raise ValueError(f"{len(df):,} rows do not fit in one Excel sheet ({XLSX_MAX_ROWS - 1:,} rows and a header): "
                         f"{Path(path).name} not written; use the CSV.")
    out = neutralise_frame(df)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.freeze_panes = "A2"

    def text(v):  # openpyxl reads any str starting with "=" as a formula: force text
        c = WriteOnlyCell(ws, value=v)
        c.data_type = "s"
        return c

    ws.append([text(str(c)) for c in out.columns])
    for row in out.itertuples(index=False):
        cells = []
        for v in row:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                cells.append(None)
            elif isinstance(v, str):
                cells.append(text(v))
            elif hasattr(v, "item"):  # numpy scalar
                cells.append(v.item())
            else:
                cells.append(v)
        ws.append(cells)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def write_kpis(kpis: pd.DataFrame, out_dir: Path, *, lang: str = "en") -> dict[str, Path]:
    """``kpis.csv`` and ``kpis.xlsx`` (kpi, segment, value, ci_low, ci_high, unit, definition, window).

    With ``lang="zh"`` the ``definition`` column is the Chinese definition of each KPI
    (:func:`salesops_kit.kpis.definition`); names, segments and units stay machine-readable."""
    from ..kpis import KPI_COLUMNS, definition

    df = kpis.reindex(columns=KPI_COLUMNS)
    if len(df):
        df = df.sort_values(["kpi", "segment"], kind="stable").reset_index(drop=True)
        if lang != "en":
            df["definition"] = [definition(str(k), lang, default=d)
                                for k, d in zip(df["kpi"], df["definition"], strict=True)]
    return {"kpis.csv": write_csv(df, Path(out_dir) / "kpis.csv"),
            "kpis.xlsx": write_xlsx(df, Path(out_dir) / "kpis.xlsx", sheet="kpis")}


# --- findings ------------------------------------------------------------------------------------------
FINDINGS_COLUMNS = ["notebook", "rank", "title", "subject", "metric", "value", "benchmark", "interval", "q_value",
                    "evidence", "suggestion", "topic", "severity", "kpi", "segment", "window", "stake", "lead", "text"]


def collect_findings(executed: Path) -> list[dict]:
    """Findings records displayed in an executed notebook (outputs carrying ``FINDINGS_MIME``), in order.

    Each record gets ``title`` (the Findings block's title) and ``rank`` (1 = first shown).
    """
    import nbformat

    from ..findings import FINDINGS_MIME

    nb = nbformat.read(executed, as_version=4)
    recs: list[dict] = []
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            payload = (out.get("data") or {}).get(FINDINGS_MIME)
            if isinstance(payload, str):
                try:
                    payload = json.loads(payload)
                except ValueError:
                    continue
            if not isinstance(payload, dict):
                continue
            for r in payload.get("findings") or []:
                if isinstance(r, dict):
                    recs.append({**r, "title": payload.get("title") or "", "rank": len(recs) + 1})
    return recs


def _finding_text(rec: dict, lang: str = "en") -> str:
    """The finding as the plain-text sentence of the report language (metric names translated)."""
    from ..findings import Finding
    from ..i18n import t
    from .pages import finding_fields

    known = finding_fields(rec)
    if lang != "en":
        for k in ("metric", "window"):
            if isinstance(known.get(k), str):
                known[k] = t(known[k], lang)
    try:
        text = Finding(**known).sentence(lambda s: "" if s is None else str(s))
    except TypeError:
        return ""
    return text.replace(" vs ", f" {t('vs', lang)} ", 1) if lang != "en" and known.get("benchmark") else text


def findings_table(by_notebook: dict[str, list[dict]], *, lang: str = "en") -> pd.DataFrame:
    """One row per finding: notebook, rank, title, the Finding fields (as recorded) and the plain-text
    sentence in the report language."""
    rows = []
    for nb in sorted(by_notebook):
        for r in by_notebook[nb]:
            rows.append({"notebook": nb, **{k: r.get(k) for k in FINDINGS_COLUMNS if k not in ("notebook", "text")},
                         "text": _finding_text(r, lang)})
    df = pd.DataFrame(rows, columns=FINDINGS_COLUMNS)
    for c in ("q_value", "severity", "stake"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    df["lead"] = df["lead"].map(lambda v: bool(v) if isinstance(v, bool) else str(v).strip().lower() == "true")
    df["rank"] = pd.to_numeric(df["rank"], errors="coerce").astype("Int64")
    return df.sort_values(["notebook", "rank"], kind="stable").reset_index(drop=True)


def write_findings(by_notebook: dict[str, list[dict]], out_dir: Path, *, lang: str = "en") -> Path:
    """``findings.csv``: every finding of every notebook (plain text, neutralised)."""
    return write_csv(findings_table(by_notebook, lang=lang), Path(out_dir) / "findings.csv")


# --- customers (issue 18) --------------------------------------------------------------------------------
CUSTOMERS_COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value", "purchases", "revenue",
                     "first_purchase", "last_purchase", "p_alive", "purchases_90d", "purchases_365d",
                     "expected_order_value", "clv", "clv_low", "clv_high"]


def write_customers(ds, out_dir: Path, *, fitted: Path | None = None) -> dict[str, Path]:
    """``customers.csv`` and ``customers.xlsx``: the per-customer value table
    (:func:`salesops_kit.value.customer_value.customer_value` on the orders in the report currency, to the as-of
    date), sorted by predicted CLV descending; recency and T in weeks. No file (``{}``) without orders, with orders in
    several currencies and no rates, or with too few customers to fit the purchase models; no ``.xlsx`` with more
    customers than one Excel sheet holds (:data:`XLSX_MAX_ROWS`).

    ``fitted``: a Parquet file of that table already computed for this dataset (notebook 02 saves its own when the
    report runs it), read instead of fitting the models again."""
    from ..data.currency import converted, needs_split
    from ..engines import n_rows
    from ..value.customer_value import customer_value

    if not ds.has("orders") or not n_rows(ds.orders) or needs_split(ds, "orders"):
        return {}
    if fitted is not None:
        table = pd.read_parquet(fitted)
    else:
        try:
            table = customer_value(converted(ds).orders, as_of=ds.as_of).table
        except ValueError:  # too few customers or repeat purchases to fit
            return {}
    df = table.reindex(columns=CUSTOMERS_COLUMNS)
    for c in ("first_purchase", "last_purchase"):
        df[c] = pd.to_datetime(df[c]).dt.strftime("%Y-%m-%d")
    df["customer_id"] = df["customer_id"].astype(str)
    files = {"customers.csv": write_csv(df, Path(out_dir) / "customers.csv")}
    if len(df) + 1 <= XLSX_MAX_ROWS:  # more customers than one Excel sheet holds: the CSV only
        files["customers.xlsx"] = write_xlsx(df, Path(out_dir) / "customers.xlsx", sheet="customers")
    return files


# --- quarantine ----------------------------------------------------------------------------------------
def safe_filename(text: str) -> str:
    """A file name derived from data: letters, digits, dot, dash and underscore only."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._")
    return s[:100] or "unnamed"


def write_quarantine(ds, out_dir: Path) -> list[Path]:
    """``quarantine/<table>.csv``: rejected rows with their ``reason``, one file per table that has any.

    Uses ``salesops_kit.data.audit.write_quarantine`` when the loader provides it (then neutralises the files
    it wrote); otherwise writes ``ds.quarantine`` itself. Empty tables write no file.
    """
    qdir = Path(out_dir)
    qdir.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        from ..data import audit as quality

        writer = getattr(quality, "write_quarantine", None)
    except ImportError:
        pass
    if writer is not None:
        written = [Path(p) for p in (writer(ds, qdir) or [])]
        for p in written:  # their rows are raw text from the export: neutralise for spreadsheets
            if p.suffix == ".csv" and p.exists():
                df = pd.read_csv(p, dtype=str, keep_default_na=False)
                write_csv(df, p)
        return sorted(written)
    written = []
    for name in sorted(ds.quarantine or {}):
        q = ds.quarantine[name]
        if q is None or not len(q):
            continue
        written.append(write_csv(q, qdir / f"{safe_filename(name)}.csv"))
    return written


# --- manifest ------------------------------------------------------------------------------------------
_LIBRARIES = ("pandas", "numpy", "scipy", "statsmodels", "lifelines", "matplotlib", "seaborn", "narwhals",
              "pyarrow", "openpyxl", "pyyaml", "papermill", "nbconvert", "nbformat", "ipykernel", "jupyter_client")


def file_sha256(path: Path, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def build_manifest(ds, *, data_dir: Path, mapping: str, params: dict, runs, lang: str, no_code: bool,
                   started: datetime | None = None, seconds_total: float | None = None,
                   outputs: list[str] | None = None) -> dict:
    """What produced the report: inputs (name, table, bytes, SHA-256), mapping (name, source, content and
    its hash when a file), parameters, as-of, kit/library versions and the run time of every notebook."""
    data_dir = Path(data_dir)
    inputs = []
    for table in sorted(ds.files or {}):
        for x in sorted(ds.files[table], key=str):
            p = Path(x)
            if not p.is_file():  # Spark: a folder of part files, a URI or a catalog table, named as given
                inputs.append({"file": str(x), "table": table, "bytes": None, "sha256": None})
                continue
            try:
                name = p.resolve().relative_to(data_dir.resolve()).as_posix()
            except ValueError:
                name = p.name
            inputs.append({"file": name, "table": table, "bytes": p.stat().st_size, "sha256": file_sha256(p)})
    mp = Path(str(mapping))
    mapping_info = {"name": ds.mapping_name, "source": "file" if mp.is_file() else "built-in",
                    "content": _jsonable(ds.mapping)}
    if mp.is_file():
        mapping_info.update(path=str(mp), sha256=file_sha256(mp))
    return {
        "kit": {"name": "salesops-kit", "version": _version("salesops-kit")},
        "generated_at": (started or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data_dir": str(data_dir),
        "inputs": inputs,
        "mapping": mapping_info,
        "as_of": str(ds.as_of.date()),
        "parameters": _jsonable(params),
        "options": {"lang": lang, "no_code": no_code},
        "versions": {"python": platform.python_version(), **{lib: _version(lib) for lib in _LIBRARIES}},
        "notebooks": [{"notebook": r.notebook, "status": r.status, "seconds": round(r.seconds, 3),
                       "html": r.html.name if r.html else None, "failed_cell": r.failed_cell,
                       "error": r.error or None, "missing_tables": list(r.missing)} for r in runs],
        "seconds_total": None if seconds_total is None else round(seconds_total, 3),
        "outputs": sorted(outputs or []),
    }


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str, sort_keys=True))


def write_manifest(manifest: dict, out_dir: Path) -> Path:
    p = Path(out_dir) / "manifest.json"
    p.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    return p
