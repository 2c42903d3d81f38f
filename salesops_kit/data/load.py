"""The loader: a folder of CRM export files -> a canonical :class:`Dataset`, in one pass.

:func:`load_dataset` parses the mapping once (:func:`~salesops_kit.data.mapping.load_mapping`), finds each
table's files, hands them to the chosen engine back-end (:func:`salesops_kit.engines.backend`: pandas,
Polars or DuckDB), which reads, cleans and checks them, and assembles what comes back: the tables, the
quarantine, the row account, the default ``as_of`` and the audit's flags.

Every row read ends in the clean table or in ``Dataset.quarantine[table]`` with its raw values, a
``check``, a ``reason``, the source file and line. Only what cannot be a record is quarantined (no identity
value, duplicates, malformed lines, unknown stages when asked to); every other problem keeps the row and
withholds the field (``Dataset.withheld``, and per row in ``Dataset.flags``). ``Dataset.account`` adds it up
per table
(``rows_read = rows_kept + rows_quarantined``; export footer/subtotal lines and history records
that are not stage changes are counted separately in ``footer_lines`` and ``other_lines``).
The mapping format is documented in the README and in ``salesops_kit/data/mappings/*.yml``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd

from ..engines import Backend, TableResult, backend, check_engine
from ..tools.exceptions import DataWarning, MappingError, MissingColumnsError, MissingTablesError
from ..tools.validation import check_option
from .currency import currency_note
from .dataset import Dataset
from .mapping import Mapping, TableSpec, builtin_mappings, load_mapping
from .schema import TABLES, WITHHELD_COLUMNS, StageModel

__all__ = ["Dataset", "load_dataset", "open_dataset", "load_mapping", "builtin_mappings",
           "MissingTablesError", "MappingError",
           "MissingColumnsError", "DataWarning"]


def load_dataset(path, mapping=None, as_of=None, *, unknown_stages: str = "error", engine: str = "pandas",
                 con=None, spark=None, keep: bool = False, **kwargs) -> Dataset:
    """Load a folder of export files (or one file) into a :class:`Dataset`.

    Parameters
    ----------
    path : folder holding the export files (CSV, XLSX, Parquet); a single file is also accepted. With
        ``engine="spark"`` also a URI Spark reads (``s3a://``, ``abfss://``, ``hdfs://``: a folder or one file;
        a folder of part files counts as one file), or a catalog database whose tables are named like the
        mapping's files (``opportunities``...) or one catalog table
    mapping : built-in mapping name (canonical, salesforce, hubspot, zoho, jiandaoyun, pipedrive), a YAML path,
        a dict or a :class:`~salesops_kit.data.mapping.Mapping`; None = canonical
    as_of : analysis date; default the latest event date found in the data (never the clock)
    unknown_stages : "error" (default: MappingError listing the labels and the YAML to add) or
        "quarantine" (rows with unknown stages go to the quarantine, e.g. for ``salesops audit``)
    engine : "pandas" (default: tables are pandas DataFrames), "polars", "duckdb" or "spark": CSV/Parquet files
        are scanned lazily and the tables are Polars LazyFrames / DuckDB relations / Spark DataFrames with the same
        columns, checks and row account, computed in that engine (see :mod:`salesops_kit.engines`);
        ``flags`` then holds the flag checks' counts (table, check, rows) instead of row positions
    con : for ``engine="duckdb"``, the DuckDB connection the relations live in (default: a new one)
    spark : for ``engine="spark"``, the SparkSession (default: the running one, else a local one on every core)
    keep : for ``engine="polars"`` or ``"duckdb"``, read and check the files once and keep the checked rows in the
        engine (collected Polars frames, a DuckDB table that spills to disk) for the as-of date, the flag counts and
        every later query, instead of a plan that reads the files again each time (:func:`open_dataset` does so)

    Returns
    -------
    Dataset with one DataFrame per canonical table found (columns and dtypes of
    :mod:`salesops_kit.data.schema`; opportunities always carry ``is_closed`` and ``is_won``).

    Raises
    ------
    MappingError : no file matched any table, a required column is missing (MissingColumnsError), a
        stage label is unknown, or a file cannot be read (undecodable, binary).
    """
    if kwargs:
        raise TypeError(f"load_dataset got unexpected arguments {sorted(kwargs)}")
    check_option("unknown_stages", unknown_stages, ("error", "quarantine"))
    be = backend(check_engine(engine), con=con, spark=spark, keep=keep)
    m = load_mapping(mapping)
    data_dir, candidates = be.candidates(path) if be.name == "spark" else _candidates(path)
    tables, quarantine, files, account, notes, withheld, row_flags = {}, {}, {}, [], [], [], []
    derived: list[tuple[str, TableResult, list[Path]]] = []

    def take(name: str, res: TableResult, found: list[Path]) -> None:
        tables[name], quarantine[name], files[name] = res.clean, res.quarantine, found
        account.append(res.account)
        notes.extend(res.notes)
        if res.withheld is not None and len(res.withheld):
            withheld.append(res.withheld)
        if res.row_flags is not None and len(res.row_flags):
            row_flags.append(res.row_flags)

    for name in TABLES:
        spec = m.table(name)
        if spec is None:
            continue
        if spec.from_table:
            if not be.derives_tables:
                notes.append(f"{name}: built from columns of {spec.from_table} only by the pandas engine.")
            continue
        found = _files_for(spec, candidates, be)
        if not found:
            continue
        res = be.read_table(spec, found, stages=m.stages, mapping_name=m.name, unknown_stages=unknown_stages,
                            derived=tuple(m.derived_from(name)) if be.derives_tables else ())
        take(name, res, found)
        derived += [(hname, hres, found) for hname, hres in res.derived.items()]
        if name == "opportunities" and isinstance(res.clean, pd.DataFrame):
            msg = _warn_no_won(res.clean, m.stages, m.name)
            if msg:
                notes.append(msg)
    for hname, hres, found in derived:  # tables built from another table's columns come after the others
        take(hname, hres, found)
    if not tables:
        raise _no_files_error(m, data_dir, candidates, be)
    order = [n for n in TABLES if n in tables]
    acc = pd.DataFrame(account).set_index("table").loc[order].reset_index()
    tables = {n: tables[n] for n in order}
    as_of = pd.Timestamp(as_of).normalize() if as_of is not None else be.default_as_of(tables)
    flags = be.flags(tables, stages=m.stages, as_of=as_of)
    if row_flags:
        flags = pd.concat([flags] + row_flags, ignore_index=True)
        if "row" in flags:  # pandas: sorted by table, check, row like compute_flags
            flags = flags.sort_values(["table", "check", "row"], kind="stable").reset_index(drop=True)
    notes += be.notes()
    ds = Dataset(tables, {n: quarantine[n] for n in order}, acc, m.stages, as_of, m.raw, data_dir, files, flags,
                 notes, _withheld(withheld, order))
    mixed = currency_note(ds)  # several currencies and no rates: said once, with the mapping block to add
    if mixed:
        ds.notes.append(mixed)
    return ds


def open_dataset(path, mapping=None, as_of=None, *, engine: str = "pandas", **kwargs) -> Dataset:
    """What a notebook's load cell does, in one call: :func:`load_dataset`, with the files read and checked once,
    so that the notebook's analyses do not each re-read and re-check the export: on DuckDB the clean tables are
    kept in DuckDB (:func:`salesops_kit.engines.materialize`; DuckDB spills to disk past its memory limit), on
    Spark on the executors (memory and disk), on Polars in memory when the export's files take at most
    1/:data:`POLARS_KEEP_SHARE` of the machine's memory (a report runs up to four kernels, each holding its copy;
    larger exports stay lazy plans over the files)."""
    if engine == "duckdb" or (engine == "polars" and _fits_in_memory(path)):
        kwargs.setdefault("keep", True)
    ds = load_dataset(path, mapping=mapping, as_of=as_of, engine=engine, **kwargs)
    if engine in ("duckdb", "spark"):
        from ..engines import materialize

        ds = materialize(ds)
    return ds


#: open_dataset keeps a Polars dataset in memory when its files take at most 1/16 of the machine's memory
POLARS_KEEP_SHARE = 16


def _fits_in_memory(path) -> bool:
    """Whether the files at ``path`` (a folder or a file on this machine) are small enough for
    :func:`open_dataset` to keep their clean tables in memory."""
    p = Path(path)
    if not p.exists():
        return False  # let load_dataset say what is wrong
    size = p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: lazy, as before
        return False
    return size * POLARS_KEEP_SHARE <= total


def _withheld(parts: list[pd.DataFrame], order: list[str]) -> pd.DataFrame:
    """The tables' withheld-field counts in schema table order."""
    if not parts:
        df = pd.DataFrame({c: pd.Series(dtype=object) for c in WITHHELD_COLUMNS})
        df["rows"] = df["rows"].astype("int64")
        return df
    df = pd.concat(parts, ignore_index=True)
    df["_t"] = df["table"].map({n: i for i, n in enumerate(order)})
    return df.sort_values("_t", kind="stable").drop(columns="_t").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# files


def _candidates(path) -> tuple[Path, list[Path]]:
    """The data folder and the files in it (a single file: its folder and itself)."""
    p = Path(path)
    if not p.exists():
        raise MappingError(f"Data path {p} does not exist.")
    if p.is_file():
        return p.parent, [p]
    return p, sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))


def _files_for(spec: TableSpec, candidates: list[Path], be: Backend) -> list[Path]:
    if be.name == "spark":  # files, folders of part files and catalog tables
        return be.files_for(spec, candidates)
    found = spec.match_files(candidates)
    if not found and be.parquet_copies:  # a mapping written for CSV also finds the Parquet copy of the same export
        found = spec.parquet_copies().match_files(candidates)
    return found


def _no_files_error(m: Mapping, data_dir: Path, candidates: list[Path], be: Backend) -> MappingError:
    kind = "file" if be.name == "pandas" else "CSV/Parquet file"
    return MappingError(
        f"No {kind} in {data_dir} matches the {m.name} mapping. Files there: "
        f"{', '.join(f.name for f in candidates) or '(none)'}. The mapping looks for {m.describe_files()}. Rename "
        "the files or set tables.<table>.file (a glob) in a mapping file."
    )


# ------------------------------------------------------------------------------------------------
# what the analyst should know


def _warn_no_won(df: pd.DataFrame, stages: StageModel, mapping_name: str) -> str | None:
    if df is None or df.empty or bool(df["is_won"].any()):
        return None
    if not df["is_closed"].any() and len(df) < 50:
        return None  # a handful of open deals: nothing is closed yet, no win rate is reported
    vc = df["stage"].value_counts().sort_index()
    seen = ", ".join(f"{k} ({v})" for k, v in vc.items())
    won = stages.won[0] if stages.won else "Closed Won"
    msg = (f"No won deals: none of the {len(df)} opportunities is in a won stage ({', '.join(stages.won) or 'none'})"
           f" of the {mapping_name} mapping, so every win rate would be 0%. Stages seen: {seen}. If your CRM has a "
           f"different won label, add to a mapping file (with `extends: {mapping_name}`):\n  stages:\n    aliases:\n"
           f"      \"<your won label>\": {won}")
    warnings.warn(msg, DataWarning, stacklevel=3)
    return msg
