"""Engines: the same canonical tables as Polars LazyFrames, DuckDB relations or Spark DataFrames.

``load_dataset(path, engine="polars" | "duckdb")`` reads through :class:`LazyBackend`: every table is
*scanned* lazily from its CSV/Parquet files, the mapping's column renames, type casts, stage normalisation
and the loader's quarantine checks are expressions in the engine (:mod:`._polars`, :mod:`._sql`), and the
row account is one aggregate query per table.
Nothing the size of a table is pulled into Python: the clean tables stay lazy (a Polars plan, a DuckDB
relation), the quarantine (the rejected rows, usually few) and the account come back as pandas.

Also here: conversions between engines (:func:`to_pandas`, :func:`to_polars`, :func:`to_duckdb`,
:func:`to_spark`), a local Spark session for tests and laptops (:func:`spark_session`), and
:func:`materialize`, which runs the lazy plans once and keeps the result in the engine.

What the lazy engines read: CSV (UTF-8) and Parquet, ISO dates (or the mapping's ``dates.format`` /
``dates.dayfirst``), amounts with ``.`` or the mapping's decimal mark and thousands separator. Excel
files, GB18030 text and Chinese dates need the pandas engine. Export footers (blank lines, "Grand Totals",
"Confidential Information", the copyright line; subtotal rows) are dropped and counted as the pandas reader does.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pandas as pd

from ..data.mapping import TableSpec, resolve_columns
from ..data.readers import NULL_VALUES, sniff_delimiter, sniff_encoding
from ..data.schema import AFTER_AS_OF, DEFAULT_CLOSE, OPEN_PAST_CLOSE, REPEATED_ROW, TABLES, StageModel
from ..tools.exceptions import MappingError
from ..tools.validation import check_option, option_error
from ._common import TableResult

__all__ = ["ENGINES", "LazyBackend", "check_engine", "scan", "to_pandas", "to_polars", "to_duckdb", "to_spark",
           "spark_session", "materialize", "release", "hold_loaded", "release_loaded", "engine_of", "is_lazy",
           "n_rows", "column_names", "head"]

ENGINES = ("pandas", "polars", "duckdb", "spark")
_LAZY_SUFFIXES = (".csv", ".parquet", ".pq")


def check_engine(engine: str) -> str:
    """Return ``engine`` if it is one of :data:`ENGINES`, else raise InvalidOptionError saying what is allowed."""
    return check_option("engine", engine, ENGINES)


def engine_of(frame) -> str:
    """Name of the engine behind a native frame: pandas, polars, polars-lazy, duckdb, pyspark or unknown."""
    mod = type(frame).__module__.split(".")[0]
    if mod == "polars":
        return "polars-lazy" if type(frame).__name__ == "LazyFrame" else "polars"
    return {"pandas": "pandas", "duckdb": "duckdb", "_duckdb": "duckdb", "pyspark": "pyspark"}.get(mod, "unknown")


# ------------------------------------------------------------------------------------------------
# conversions


def to_pandas(frame) -> pd.DataFrame:
    """Collect any supported frame (pandas, Polars eager/lazy, DuckDB relation, PySpark) to pandas."""
    kind = engine_of(frame)
    if kind == "pandas":
        return frame
    if kind == "polars-lazy":
        return frame.collect().to_pandas()
    if kind == "polars":
        return frame.to_pandas()
    if kind == "duckdb":
        return frame.df()
    if kind == "pyspark":
        return frame.toPandas()
    raise TypeError(f"cannot convert a {type(frame).__name__} to pandas")


def _arrow(frame):
    import pyarrow as pa

    kind = engine_of(frame)
    if kind == "pandas":
        return pa.Table.from_pandas(frame, preserve_index=False)
    if kind == "polars-lazy":
        return frame.collect().to_arrow()
    if kind == "polars":
        return frame.to_arrow()
    if kind == "duckdb":
        return frame.to_arrow_table()
    if isinstance(frame, pa.Table):
        return frame
    raise TypeError(f"cannot convert a {type(frame).__name__} to Arrow")


def to_polars(frame, *, lazy: bool = False):
    """Any supported frame as a Polars DataFrame (``lazy=True``: LazyFrame)."""
    import polars as pl

    kind = engine_of(frame)
    if kind == "polars-lazy":
        return frame if lazy else frame.collect()
    out = frame if kind == "polars" else pl.from_arrow(_arrow(frame))
    return out.lazy() if lazy else out


def to_duckdb(frame, *, con=None):
    """Any supported frame as a DuckDB relation on ``con`` (default: DuckDB's default connection)."""
    import duckdb

    if engine_of(frame) == "duckdb":
        return frame
    con = con or duckdb.default_connection()
    return con.from_arrow(_arrow(frame))


def to_spark(frame, spark):
    """A pandas/Polars/DuckDB table as a Spark DataFrame (Arrow transfer). Naive datetimes stay naive
    (``timestamp_ntz``, as the Spark loader gives them: a session-zone timestamp comes back to pandas UTC-aware)."""
    pdf = to_pandas(frame)
    naive = []
    for c in pdf.columns:  # Spark holds microseconds; object columns of str stay strings
        if pd.api.types.is_datetime64_any_dtype(pdf[c]):
            naive += [c] if getattr(pdf[c].dt, "tz", None) is None else []
            pdf[c] = pdf[c].astype("datetime64[us]" if c in naive else "datetime64[us, UTC]")
    out = spark.createDataFrame(pdf)
    if naive:  # read as the session zone's wall clock, so the cast gives the same wall clock back
        from pyspark.sql import functions as F

        out = out.withColumns({c: F.col(c).cast("timestamp_ntz") for c in naive})
    return out


def spark_session(app: str = "salesops-kit", *, cores: int = 1, shuffle_partitions: int = 4, memory: str = "1g",
                  conf: dict | None = None):
    """A quiet local Spark session (``local[cores]``, few shuffle partitions, no UI, UTC, Arrow on).

    ``conf``: more settings (``salesops --spark-conf key=value``); with ``spark.master`` in it, or under
    ``spark-submit``, the session is the cluster's and only ``conf``, UTC and Arrow are set.
    Needs ``pip install "salesops-kit[spark]"`` and Java 17. Reuses a running session if there is one.
    """
    import os

    from pyspark.sql import SparkSession

    conf = dict(conf or {})
    builder = SparkSession.builder.appName(app)
    if "spark.master" not in conf and not os.environ.get("PYSPARK_GATEWAY_PORT"):  # not spark-submit: local mode
        builder = (builder.master(f"local[{cores}]")
                   .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
                   .config("spark.default.parallelism", str(max(cores, 1)))
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.driver.memory", memory)
                   .config("spark.sql.adaptive.enabled", "false"))
    builder = (builder.config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    for k, v in conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def materialize(ds):
    """Run a lazy dataset's plans once and keep the tables in the engine (Polars DataFrames / DuckDB
    temp tables / Spark checkpoints on the executors, memory and disk), so that several analyses do not each
    re-read and re-check the files."""
    from dataclasses import replace

    out = {}
    for name, t in ds.tables.items():
        kind = engine_of(t)
        if kind == "polars-lazy":
            out[name] = t.collect()
        elif kind == "duckdb":  # a table in the relation's own connection
            tmp = f"_salesops_{name}_{next(_tables)}"
            t.create(tmp)
            held = _LOADED.get(id(t))
            if held is not None and held[0] is t:  # load_dataset(keep=True): the checked rows it kept, freed now
                out[name] = held[1].con.table(tmp)  # (a query of ``t`` would still bind them)
                release_loaded(t)
            else:
                out[name] = t.query("_salesops_src", f'select * from "{tmp}"')
        elif kind == "pyspark":  # computed once, lineage cut (later plans do not re-run the loader's SQL)
            out[name] = t.localCheckpoint(eager=True)
            release_loaded(t)  # the loader's persisted rows: the checkpoint holds what is needed now
        else:
            out[name] = t
    return replace(ds, tables=out)


def release(ds) -> None:
    """Free what an engine keeps of a dataset loaded by the kit, once it is done (a report written, a notebook's
    last analysis): on Spark the checked rows the loader persisted and the tables :func:`materialize` kept, on the
    executors' memory and disk (a materialised table cannot be queried after); on DuckDB the checked rows
    ``load_dataset(keep=True)`` wrote into the connection when the dataset was not materialised (its tables read
    them: they cannot be queried after). Other engines free theirs when the dataset is garbage-collected."""
    for t in ds.tables.values():
        if engine_of(t) == "pyspark":
            _release_spark(t)
        elif engine_of(t) == "duckdb":
            release_loaded(t)


_LOADED: dict[int, tuple] = {}  # id(a clean Spark table the loader returned) -> (that table, the rows it persisted)


def hold_loaded(clean, kept) -> None:
    """Note that the loader kept ``kept`` (the checked rows: persisted on Spark, a table in DuckDB; anything with an
    ``unpersist()`` that frees it) for the clean table ``clean``."""
    _LOADED[id(clean)] = (clean, kept)


def release_loaded(frame) -> bool:
    """Free the checked rows the loader kept for the clean table ``frame``: Spark's persisted rows (memory and disk;
    the table still answers queries, re-reading its sources) or DuckDB's table (only once the table has been
    materialised: it is what the clean table reads). False when the loader kept nothing for it."""
    entry = _LOADED.pop(id(frame), None)
    if entry is None or entry[0] is not frame:
        return False
    entry[1].unpersist()
    return True


def _release_spark(frame) -> None:
    """All that Spark keeps for a table of the kit: the loader's checked rows, the table's own cache, and its
    local checkpoint (a checkpointed table cannot be queried after)."""
    release_loaded(frame)
    frame.unpersist()
    try:  # a local checkpoint's blocks belong to its RDD, which DataFrame.unpersist does not free (classic Spark)
        plan = frame._jdf.queryExecution().analyzed()
        if plan.getClass().getSimpleName() == "LogicalRDD" and plan.rdd().getStorageLevel().isValid():
            plan.rdd().unpersist(False)
    except AttributeError:  # Spark Connect: no JVM handle; the server frees the checkpoint with the session
        pass


_tables = itertools.count()


# ------------------------------------------------------------------------------------------------
# scans


def scan(files, *, engine: str, con=None):
    """Scan CSV/Parquet files lazily: Polars LazyFrame or DuckDB relation, every CSV column read as text.

    Several files are stacked by column name (missing columns are null). Adds ``__file`` and ``__line``
    (1-based line in its file; the header is line 1).
    """
    files = [Path(f) for f in ([files] if isinstance(files, str | Path) else files)]
    _check_scannable(files, engine)
    if engine == "polars":
        import polars as pl

        parts = []
        for f in files:
            if f.suffix.lower() == ".csv":
                lf = pl.scan_csv(f, infer_schema=False, encoding="utf8-lossy", separator=sniff_delimiter(f),
                                 null_values=[v for v in NULL_VALUES if v])
                first = 2
            else:
                lf, first = pl.scan_parquet(f), 1
            parts.append(lf.with_row_index("__line", offset=first).with_columns(
                pl.lit(str(f)).alias("__file"), pl.col("__line").cast(pl.Int64)))
        return parts[0] if len(parts) == 1 else pl.concat(parts, how="diagonal_relaxed")
    if engine == "duckdb":
        import duckdb

        con = con or duckdb.default_connection()
        sels = []
        for f in files:
            lit = str(f).replace("'", "''")
            if f.suffix.lower() == ".csv":
                # the dialect is given, not sniffed: footer lines (one field each) would make it one column
                dialect = (f"delim = {_sql_text(sniff_delimiter(f))}, quote = '\"', escape = '\"', "
                           f"null_padding = true, nullstr = [{', '.join(map(_sql_text, NULL_VALUES))}]")
                enc = sniff_encoding(f)  # a Windows-1252 Data Export (Salesforce's default) is not UTF-8
                dialect += {"cp1252": ", encoding = 'latin-1'", "utf-16": ", encoding = 'utf-16'"}.get(enc, "")
                sels.append(f"select *, '{lit}' as __file, row_number() over () + 1 as __line from read_csv('{lit}', "
                            f"all_varchar = true, header = true, {dialect})")
            else:
                sels.append(f"select * exclude (file_row_number), '{lit}' as __file, file_row_number + 1 as __line "
                            f"from read_parquet('{lit}', file_row_number = true)")
        rel = con.sql(" union all by name ".join(sels))
        return rel
    raise option_error("engine", engine, ("polars", "duckdb"), where="scan")


def _check_scannable(files: list[Path], engine: str) -> None:
    """A clear error naming the file for what the lazy engines cannot read (Excel, GB18030 or UTF-16 text)."""
    bad = [f for f in files if f.suffix.lower() not in _LAZY_SUFFIXES]
    if bad:
        raise ValueError(f"The {engine} engine scans CSV and Parquet files only; got {', '.join(map(str, bad))}. "
                         "Load Excel exports with engine='pandas' (or save them as CSV/Parquet first).")
    for f in files:
        enc = sniff_encoding(f) if f.suffix.lower() == ".csv" else "utf-8"
        if enc == "gb18030" or (enc == "utf-16" and engine == "polars"):
            raise ValueError(f"The {engine} engine reads UTF-8 (or Windows-1252) CSV files; {f} is {enc.upper()} "
                             "text. Load it with engine='pandas', or save it as UTF-8 CSV first.")


def _sql_text(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def _headers(files) -> list[list[str]]:
    out = []
    for f in files:
        f = Path(f)
        if f.suffix.lower() == ".csv":
            with open(f, encoding="utf-8-sig", errors="replace", newline="") as fh:
                import csv

                out.append(next(csv.reader(fh, delimiter=sniff_delimiter(f)), []))
        else:
            import pyarrow.parquet as pq

            out.append(list(pq.read_schema(f).names))
    return out


# ------------------------------------------------------------------------------------------------
# the lazy back-end


class LazyBackend:
    """Tables as Polars LazyFrames or DuckDB relations; flags as counts (see :class:`salesops_kit.engines.Backend`).

    For DuckDB, ``con`` is the connection the relations live in (default: a new one that spills to the
    system's temporary folder past its memory limit).
    """

    derives_tables = False
    parquet_copies = True

    def __init__(self, engine: str, *, con=None, keep: bool = False):
        check_option("engine", engine, ("polars", "duckdb"), where="LazyBackend")
        self.name, self.keep = engine, keep
        if engine == "duckdb" and con is None:
            con = _duckdb_connection()
        self.con = con

    def read_table(self, spec: TableSpec, files: list[Path], *, stages: StageModel, mapping_name: str,
                   unknown_stages: str, derived: tuple[TableSpec, ...] = ()) -> TableResult:
        _check_scannable([Path(f) for f in files], self.name)
        colmap = _shared_columns(spec, files, mapping_name)
        raw = scan(files, engine=self.name, con=self.con)
        if self.name == "polars":
            from ._polars import PolarsTable as Table
        else:
            from ._sql import SqlTable as Table
        table = Table(spec, raw, colmap, stages=stages, mapping_name=mapping_name, files=files,
                      unknown_stages=unknown_stages, con=self.con, keep=self.keep)
        res = table.build()
        held = getattr(getattr(table, "d", None), "held", None)
        if held:  # DuckDB: the checked rows the clean table reads, until materialize has its own copy
            from ._sql import HeldTables

            hold_loaded(res.clean, HeldTables(self.con, list(held)))
        return res

    def default_as_of(self, tables: dict) -> pd.Timestamp:
        return _lazy_as_of(self.name, tables, self.con)

    def flags(self, tables: dict, *, stages: StageModel, as_of: pd.Timestamp) -> pd.DataFrame:
        return _flag_counts(self.name, tables, as_of, self.con)

    def notes(self) -> list[str]:
        notes = [f"Loaded lazily with the {self.name} engine: tables are "
                 f"{'Polars LazyFrames' if self.name == 'polars' else 'DuckDB relations'}; flags are counts."]
        if self.name == "duckdb" and os.environ.get(DUCKDB_MEMORY_ENV, "").strip():
            limit = self.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
            notes.append(f"DuckDB memory limit {limit} in this process ({DUCKDB_MEMORY_ENV}); past it DuckDB "
                         "spills to disk.")
        return notes


#: environment variable with a memory limit for the DuckDB of each process (``SET memory_limit``), e.g. ``4GB``;
#: ``salesops report --engine duckdb`` sets it for its notebook kernels (:func:`..report.runner.duckdb_memory`)
DUCKDB_MEMORY_ENV = "SALESOPS_DUCKDB_MEMORY"


def _duckdb_connection():
    import tempfile

    import duckdb

    con = duckdb.connect()
    # past its memory limit DuckDB spills to disk; by default into ./.tmp of the working directory (a notebook
    # folder, a project checkout): the system's temporary folder instead
    spill = (Path(tempfile.gettempdir()) / "salesops-duckdb").as_posix().replace("'", "''")
    con.execute(f"SET temp_directory = '{spill}'")
    limit = os.environ.get(DUCKDB_MEMORY_ENV, "").strip()
    if limit:  # e.g. salesops report: several kernels, each with its own DuckDB, share the machine
        try:
            con.execute("SET memory_limit = ?", [limit])
        except duckdb.Error as exc:
            raise ValueError(f"{DUCKDB_MEMORY_ENV}={limit!r} is not a DuckDB memory limit: give a size such as "
                             f"'4GB' or '800MB', or unset it for DuckDB's default (80% of memory). ({exc})") from None
    return con


def _shared_columns(spec: TableSpec, files: list[Path], mapping_name: str) -> dict[str, str]:
    """The canonical column -> header map, which every file must share (one scan reads them all)."""
    colmap = None
    for f, hdr in zip(files, _headers(files), strict=True):
        cm = resolve_columns(spec, hdr, headers=hdr, path=f, mapping_name=mapping_name)
        if colmap is not None and cm != colmap:
            raise MappingError(f"{spec.name}: the files {', '.join(map(str, files))} do not share one header; "
                               "the lazy engines need the same columns in every file (or use engine='pandas').")
        colmap = cm
    return colmap


def _lazy_as_of(engine, tables, con) -> pd.Timestamp:
    """Latest event date, as :func:`._pandas.latest_event_date` computes it, in the engine."""
    cands = []
    for name, t in tables.items():
        if name in ("quotas", "marketing_spend"):
            continue
        cols = [TABLES[name].date_column] + (["exited_date"] if name == "stage_history" else [])
        cands += _maxes(engine, t, cols, closed_close=(name == "opportunities"))
    cands = [c for c in cands if c is not None and pd.notna(c)]
    if not cands:
        for name in ("marketing_spend", "quotas"):
            if name in tables:
                cands += [c for c in _maxes(engine, tables[name], [TABLES[name].date_column]) if pd.notna(c)]
    return pd.Timestamp(max(pd.Timestamp(c) for c in cands)).normalize() if cands else pd.NaT


def _maxes(engine, t, cols, closed_close: bool = False) -> list:
    if engine == "polars":
        import polars as pl

        have = t.collect_schema().names()
        ex = [pl.col(c).max().alias(c) for c in cols if c in have]
        if closed_close:
            ex.append(pl.col("close_date").filter(pl.col("is_closed")).max().alias("__cc"))
        row = t.select(ex).collect().row(0) if ex else ()
        return list(row)
    have = t.columns
    ex = [f'max("{c}")' for c in cols if c in have]
    if closed_close:
        ex.append("max(close_date) filter (where is_closed)")
    return list(t.aggregate(", ".join(ex)).fetchall()[0]) if ex else []


def _flag_counts(engine, tables, as_of, con) -> pd.DataFrame:
    """Counts of the audit's flag checks (kept rows that are usable but suspicious), in the engine."""
    rows = []
    if pd.isna(as_of):
        return pd.DataFrame(rows, columns=["table", "check", "rows"])
    if engine != "polars":
        from ._sql import Dialect, flag_counts

        return flag_counts(Dialect(con), tables, as_of)
    import polars as pl

    end = (as_of + pd.Timedelta(days=1)).to_pydatetime()
    asof = as_of.to_pydatetime()
    for name, t in tables.items():
        dc = TABLES[name].date_column
        ex = {}
        if name == "opportunities":
            ex[OPEN_PAST_CLOSE] = (~pl.col("is_closed") & (pl.col("close_date") < asof)).sum()
            ex[DEFAULT_CLOSE] = (pl.col("close_date").dt.truncate("1d")
                                 == pl.col("created_date").dt.truncate("1d").dt.month_end()).sum()
        if name not in ("quotas", "marketing_spend"):
            after = pl.col(dc) >= end
            if name == "opportunities":
                after = after | (pl.col("is_closed") & (pl.col("close_date") >= end))
            ex[AFTER_AS_OF] = after.sum()
        if ex:
            vals = t.select([e.alias(k) for k, e in ex.items()]).collect().row(0, named=True)
            rows += [(name, k, int(v or 0)) for k, v in vals.items()]
        if TABLES[name].id_column is None:  # rows repeated in a table without ids: all but the first copy
            n, k = t.select(pl.len()).collect().item(), t.unique().select(pl.len()).collect().item()
            rows.append((name, REPEATED_ROW, int(n - k)))
    return pd.DataFrame(rows, columns=["table", "check", "rows"])


# ------------------------------------------------------------------------------------------------
# looking at a table on any engine (what a notebook prints about its inputs)


def n_rows(frame) -> int:
    """Number of rows of any supported frame: ``len`` for pandas and Polars, one count query in the engine
    for a Polars LazyFrame, DuckDB relation or Spark DataFrame (nothing the size of the table is collected)."""
    import narwhals as nw

    if engine_of(frame) in ("pandas", "polars"):
        return len(frame)
    return int(nw.from_native(frame).lazy().select(nw.len()).collect().item())


def column_names(frame) -> list[str]:
    """Column names of any supported frame, in order (a lazy frame's schema is resolved, not its rows)."""
    import narwhals as nw

    if engine_of(frame) == "pandas":
        return [str(c) for c in frame.columns]
    return list(nw.from_native(frame).collect_schema().names())


def head(frame, n: int = 5) -> pd.DataFrame:
    """The first ``n`` rows of any supported frame as pandas (the frame itself is not collected).

    For a quick look only: on Polars the rows are the first in file order, on DuckDB any ``n`` rows (a
    relation has no order unless sorted), and text columns may come back with another dtype than pandas'."""
    if engine_of(frame) == "pandas":
        return frame.head(n)
    import narwhals as nw

    return nw.from_native(frame).lazy().head(n).collect().to_pandas()


# ------------------------------------------------------------------------------------------------
# KPI table on any engine


def is_lazy(ds) -> bool:
    """True when some table of the dataset is not a pandas DataFrame."""
    return any(engine_of(t) != "pandas" for t in ds.tables.values())
