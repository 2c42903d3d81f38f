"""Spark back-end of the lazy loader (:mod:`salesops_kit.engines`): one table as a Spark DataFrame.

The loader's steps are the SQL back-end's (:class:`._sql.SqlTable`), written in Spark SQL by
:class:`SparkDialect`: the same rules, checks, quarantine and row account as DuckDB and pandas, computed by
Spark. Sources are CSV or Parquet files (or folders of part files, as Spark writes them) on any file system Spark
reads (a local folder, ``s3a://``, ``abfss://``, ``hdfs://``), or tables of the session's catalog: a database
whose tables are named like the mapping's files (``opportunities``, ``stage_history``...), or one table.

What each row's ``source_line`` is: in a CSV file its record number + 1 (the header is line 1, as DuckDB counts
it), in a Parquet file its row number + 1, in a catalog table a row id (tables have no line order).
"""

from __future__ import annotations

import csv
import fnmatch
import itertools
import os
import re
from pathlib import Path

import pandas as pd

from ..data.mapping import TableSpec, resolve_columns
from ..data.readers import NULL_VALUES, dedupe_headers, sniff_delimiter, sniff_encoding
from ..data.schema import TABLES, StageModel
from ..tools.exceptions import MappingError
from ._common import TableResult
from ._sql import Dialect, SqlTable, flag_counts

__all__ = ["SparkBackend", "SparkDialect", "SparkTable", "java_pattern", "spark_conf_from_env", "CONF_ENV"]

CONF_ENV = "SALESOPS_SPARK_CONF"  # key=value settings, one per line, for sessions the kit creates (notebooks)
_ids = itertools.count()
_JAVA = {"%Y": "yyyy", "%y": "yy", "%m": "M", "%d": "d", "%H": "H", "%I": "h", "%M": "m", "%S": "s",
         "%f": "SSSSSS", "%p": "a", "%b": "MMM", "%B": "MMMM", "%%": "%"}
_FILE_NAME = r"([^/\\]+)$"  # the last part of a path or URI
_ENCODINGS = {"cp1252": "iso-8859-1", "utf-16": "utf-16"}  # Spark 4 takes these charsets (DuckDB: latin-1)


def java_pattern(fmt: str) -> str:
    """A strftime format (``%d/%m/%Y %H:%M``) as Spark's datetime pattern (``d/M/yyyy H:mm``); numbers read with
    or without a leading zero, as DuckDB's and pandas' strptime read them; letters outside directives quoted."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%":
            tok = fmt[i:i + 2]
            if tok not in _JAVA:
                raise ValueError(f"Date format {fmt!r}: {tok} has no Spark equivalent; use "
                                 f"{', '.join(sorted(_JAVA))} in dates.format of the mapping.")
            out.append(_JAVA[tok])
            i += 2
            continue
        ch = fmt[i]
        out.append(f"'{ch}'" if ch.isalpha() else "''" if ch == "'" else ch)
        i += 1
    return "".join(out)


def spark_conf_from_env() -> dict[str, str]:
    """The ``key=value`` settings in the environment variable :data:`CONF_ENV` (``salesops --spark-conf`` sets
    it, so that the notebooks' sessions get the same settings)."""
    out = {}
    for line in os.environ.get(CONF_ENV, "").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def default_session():
    """The running Spark session (spark-submit, a notebook that made one), else a local one using every core,
    with the settings of :data:`CONF_ENV`."""
    from pyspark.sql import SparkSession

    from ._lazy import spark_session

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    return spark_session("salesops-kit", cores=os.cpu_count() or 1, conf=spark_conf_from_env())


class SparkDialect(Dialect):
    """Spark SQL: backtick identifiers, backslash escapes in literals, Java regular expressions and datetime
    patterns, ``min_by`` for the first row in file order, no ``select * replace``."""

    text = "string"
    timestamp = "timestamp_ntz"  # naive, as pandas holds them (a session-zone timestamp comes back UTC-aware)

    def lit(self, v) -> str:
        return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"

    def ident(self, c: str) -> str:
        return "`" + c.replace("`", "``") + "`"

    def matches(self, e: str, pattern: str) -> str:
        return f"coalesce({e} rlike {self.lit(pattern)}, false)"

    def strptime(self, e: str, formats: list[str]) -> str:
        parsed = ", ".join(f"try_to_timestamp({e}, {self.lit(java_pattern(f))})" for f in formats)
        return f"cast(coalesce({parsed}) as timestamp_ntz)"

    def remove(self, e: str, pattern: str) -> str:
        return f"regexp_replace({e}, {self.lit(pattern)}, '')"

    def row_hash(self, cols: list[str]) -> str:
        # xxhash64 skips nulls: the null markers keep (null, 'x') and ('x', null) apart
        return "xxhash64(" + ", ".join(f"{c}, isnull({c})" for c in cols) + ")"

    def first_in_file_order(self, e: str, where: str) -> str:
        return f"min_by({e}, struct(__file, __line)) filter (where {where})"

    def day_text(self, e: str) -> str:
        return f"date_format({e}, 'yyyy-MM-dd')"

    def file_name(self, e: str) -> str:
        return f"regexp_extract({e}, {self.lit(_FILE_NAME)}, 1)"

    def row_index(self) -> str:
        return "monotonically_increasing_id()"

    def replace(self, sql: str, reps: dict[str, str]) -> str:
        cols = self.con.sql(sql).columns  # the plan is analysed, nothing is read
        sel = [f"{reps[c]} as {self.ident(c)}" if c in reps else self.ident(c) for c in cols]
        return f"select {', '.join(sel)} from ({sql})"

    def text_columns(self, raw) -> dict[str, bool]:
        from pyspark.sql.types import CharType, StringType, VarcharType

        return {f.name: isinstance(f.dataType, StringType | VarcharType | CharType) for f in raw.schema.fields}

    def view(self, rel, name: str) -> None:
        rel.createOrReplaceTempView(name)

    def keep(self, rel):
        from pyspark import StorageLevel

        self.kept = rel.persist(StorageLevel.MEMORY_AND_DISK)
        return self.kept

    def release(self, rel) -> None:
        pass  # kept: the as-of date, the flag counts and materialize read the clean table from it next (then
        # materialize, or engines.release, unpersists it: engines._lazy.release_loaded)

    def relation(self, sql: str):
        return self.con.sql(sql)

    def df(self, sql: str) -> pd.DataFrame:
        return self.con.sql(sql).toPandas()

    def row(self, sql: str) -> tuple:
        return tuple(self.con.sql(sql).collect()[0])

    def aggregate(self, rel, exprs: list[str]) -> tuple:
        return tuple(rel.selectExpr(*exprs).collect()[0])


class SparkTable(SqlTable):
    """One table as Spark SQL over the scanned sources (``con`` is the SparkSession)."""

    dialect = SparkDialect

    def build(self) -> TableResult:
        from ._lazy import hold_loaded

        res = super().build()
        if getattr(self.d, "kept", None) is not None:  # the checked rows persisted for it, until released
            hold_loaded(res.clean, self.d.kept)
        return res


# ------------------------------------------------------------------------------------------------
# sources: files, folders of part files, catalog tables


class Source:
    """One thing a table is read from: ``uri`` (a file or folder Spark reads, or a catalog table when ``table``),
    ``name`` (what the mapping's file globs are matched against). Path-like enough for the loader (``.name``)."""

    def __init__(self, uri: str, *, table: bool = False, folder: bool = False):
        self.uri, self.table, self.folder = uri, table, folder
        self.name = uri.rstrip("/").rsplit("/", 1)[-1] if not table else uri.rsplit(".", 1)[-1]
        self.suffix = "" if table else Path(self.name).suffix
        self.stem = Path(self.name).stem if not table else self.name

    @property
    def local(self) -> bool:  # a path of this machine: no scheme (Hadoop names a local file file:/x, no slashes)
        return not self.table and not re.match(r"[A-Za-z][A-Za-z0-9+.-]+:", self.uri)

    def __str__(self) -> str:
        return self.uri

    def __fspath__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"Source({self.uri!r})"

    def __lt__(self, other) -> bool:
        return self.uri < str(other)

    def __eq__(self, other) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self.uri)


def _kind(src: Source) -> str:
    """csv or parquet; a folder by its name's suffix or, without one, by its part files."""
    suf = src.suffix.lower()
    if suf in (".parquet", ".pq"):
        return "parquet"
    if suf == ".csv":
        return "csv"
    if src.folder and src.local:
        names = {p.suffix.lower() for p in Path(src.uri).iterdir()}
        if ".csv" in names:
            return "csv"
        if names & {".parquet", ".pq"}:
            return "parquet"
    if src.folder:
        return "parquet"
    raise ValueError(f"The spark engine reads CSV and Parquet files (or catalog tables); got {src.uri}. Load Excel "
                     "exports with engine='pandas' (or save them as CSV/Parquet first).")


def _csv_options(src: Source) -> dict:
    opts = {"header": "true", "multiLine": "true", "escape": '"', "quote": '"', "mode": "PERMISSIVE"}
    if src.local and not src.folder:
        enc = sniff_encoding(Path(src.uri))
        if enc == "gb18030":
            raise ValueError(f"The spark engine reads UTF-8 (or Windows-1252, UTF-16) CSV files; {src.uri} is "
                             "GB18030 text. Load it with engine='pandas', or save it as UTF-8 CSV first.")
        opts["sep"] = sniff_delimiter(Path(src.uri))
        if enc in _ENCODINGS:
            opts["encoding"] = _ENCODINGS[enc]
    return opts


def _local_header(path: Path, sep: str) -> list[str]:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        return next(csv.reader(fh, delimiter=sep), [])


def scan_source(spark, src: Source):
    """One source as a Spark DataFrame of its raw columns (CSV: all text) with ``__file`` and ``__line``."""
    from pyspark.sql import functions as F

    if src.table:
        df = spark.table(src.uri)
        return df.select("*", F.lit(src.uri).alias("__file"), (F.monotonically_increasing_id() + 1).alias("__line"))
    kind = _kind(src)
    if kind == "parquet":
        df = spark.read.parquet(src.uri)
        file = F.lit(src.uri) if not src.folder else F.col("_metadata.file_path")
        return df.select("*", file.alias("__file"), (F.col("_metadata.row_index") + 1).alias("__line"))
    opts = _csv_options(src)
    df = spark.read.options(**opts).csv(src.uri)
    names = [c.lstrip("\ufeff") for c in df.columns]
    if src.local and not src.folder:  # the header as the pandas reader names it (a second "Owner": "Owner (2)")
        hdr = _local_header(Path(src.uri), opts["sep"])
        if len(hdr) == len(names):
            names = [h or f"_c{i}" for i, h in enumerate(dedupe_headers([h.lstrip("\ufeff") for h in hdr])[0])]
    df = df.toDF(*names)
    nulls = [v for v in NULL_VALUES if v]
    df = df.select([F.when(F.col(f"`{c}`").isin(nulls), None).otherwise(F.col(f"`{c}`")).alias(c) for c in names])
    if not src.folder:  # one file is one partition (multiLine CSV is not split): ids are record numbers
        return df.select("*", F.lit(src.uri).alias("__file"), (F.monotonically_increasing_id() + 2).alias("__line"))
    from pyspark.sql import Window

    df = df.select("*", F.col("_metadata.file_path").alias("__file"), F.monotonically_increasing_id().alias("__m"))
    w = Window.partitionBy("__file").orderBy("__m")
    return df.select("*", (F.row_number().over(w) + 1).alias("__line")).drop("__m")


def scan(spark, sources: list[Source]):
    """The sources stacked by column name (missing columns are null)."""
    out = None
    for src in sources:
        df = scan_source(spark, src)
        out = df if out is None else out.unionByName(df, allowMissingColumns=True)
    return out


# ------------------------------------------------------------------------------------------------
# the back-end


class SparkBackend:
    """Tables as Spark DataFrames; flags as counts (see :class:`salesops_kit.engines.Backend`).

    ``spark``: the session to read with (default: the running one, else a local one, :func:`default_session`)."""

    name = "spark"
    derives_tables = False
    parquet_copies = True

    def __init__(self, spark=None):
        self._spark = spark

    @property
    def spark(self):
        if self._spark is None:
            self._spark = default_session()
            _settings(self._spark)
        return self._spark

    # what the loader reads
    def candidates(self, path) -> tuple[Path, list[Source]]:
        """The data folder and what is in it: a local or remote folder's files and part-file folders, one file,
        the tables of a catalog database, or one catalog table."""
        text = str(path)
        if isinstance(path, Path) or Path(text).exists():
            p = Path(text)
            if not p.exists():
                raise MappingError(f"Data path {p} does not exist.")
            if p.is_file():
                return p.parent, [Source(str(p))]
            if _is_dataset_folder(p):
                return p.parent, [Source(str(p), folder=True)]
            return p, sorted(Source(str(f), folder=f.is_dir()) for f in p.iterdir()
                             if not f.name.startswith((".", "_")))
        if "://" in text:
            return Path(text), _remote(self.spark, text)
        cat = self.spark.catalog
        if cat.databaseExists(text) and not cat.tableExists(text):
            # SHOW TABLES, not catalog.listTables (which fails to decode rows on Spark 4 once temp views exist)
            rows = self.spark.sql(f"show tables in {text}").collect()
            tables = sorted(r["tableName"] for r in rows if not r["isTemporary"])
            return Path(text), [Source(f"{text}.{t}", table=True) for t in tables]
        if cat.tableExists(text):
            return Path(text), [Source(text, table=True)]
        raise MappingError(f"Data path {text} is neither a folder or file here, a URI (s3a://, abfss://, hdfs://...) "
                           "nor a table or database of the Spark catalog.")

    def files_for(self, spec: TableSpec, candidates: list[Source]) -> list[Source]:
        """The sources of a table: files and folders whose name matches the mapping's globs (or their Parquet
        copies), catalog tables whose name matches a glob without its extension."""
        pats = [p.lower() for p in spec.files]
        pq = [p.lower() for p in spec.parquet_copies().files]
        excl = [p.lower() for p in spec.exclude]
        stems = [re.sub(r"\.[a-z0-9]+$", "", p) for p in pats]

        def hit(name: str, globs: list[str]) -> bool:
            name = name.lower()
            return any(fnmatch.fnmatchcase(name, g) for g in globs) and not any(fnmatch.fnmatchcase(name, g)
                                                                                for g in excl)
        found = [s for s in candidates if not s.table and hit(s.name, pats)]
        if not found:
            found = [s for s in candidates if not s.table and hit(s.name, pq)]
        found += [s for s in candidates if s.table and hit(s.name, stems)]
        return sorted(found)

    def read_table(self, spec: TableSpec, files: list, *, stages: StageModel, mapping_name: str,
                   unknown_stages: str, derived: tuple[TableSpec, ...] = ()) -> TableResult:
        spark = self.spark
        sources = [f if isinstance(f, Source) else Source(str(f)) for f in files]
        colmap, raws = None, []
        for src in sources:
            df = scan_source(spark, src)
            hdr = [c for c in df.columns if c not in ("__file", "__line")]
            cm = resolve_columns(spec, hdr, headers=hdr, path=Path(src.name), mapping_name=mapping_name)
            if colmap is not None and cm != colmap:
                raise MappingError(f"{spec.name}: the sources {', '.join(map(str, sources))} do not share one header; "
                                   "the lazy engines need the same columns in every file (or use engine='pandas').")
            colmap = cm
            raws.append(df)
        raw = raws[0]
        for df in raws[1:]:
            raw = raw.unionByName(df, allowMissingColumns=True)
        return SparkTable(spec, raw, colmap, stages=stages, mapping_name=mapping_name, files=sources,
                          unknown_stages=unknown_stages, con=spark).build()

    def default_as_of(self, tables: dict) -> pd.Timestamp:
        cands = []
        for name, t in tables.items():
            if name in ("quotas", "marketing_spend"):
                continue
            cols = [TABLES[name].date_column] + (["exited_date"] if name == "stage_history" else [])
            cands += _maxes(t, cols, closed_close=(name == "opportunities"))
        if not cands:
            for name in ("marketing_spend", "quotas"):
                if name in tables:
                    cands += _maxes(tables[name], [TABLES[name].date_column])
        return pd.Timestamp(max(cands)).normalize() if cands else pd.NaT

    def flags(self, tables: dict, *, stages: StageModel, as_of: pd.Timestamp) -> pd.DataFrame:
        return flag_counts(SparkDialect(self.spark), tables, as_of)

    def notes(self) -> list[str]:
        return ["Loaded lazily with the spark engine: tables are Spark DataFrames; flags are counts."]


def _settings(spark) -> None:
    """What the loader's SQL relies on: dates that do not parse are null (not an upgrade error)."""
    if spark.conf.get("spark.sql.legacy.timeParserPolicy", "CORRECTED").upper() == "EXCEPTION":
        spark.conf.set("spark.sql.legacy.timeParserPolicy", "CORRECTED")


def _is_dataset_folder(p: Path) -> bool:
    """A folder Spark wrote (part files, _SUCCESS), read as one source rather than a folder of exports."""
    return p.is_dir() and (p / "_SUCCESS").exists() or p.suffix.lower() in (".parquet", ".pq", ".csv")


def _remote(spark, uri: str) -> list[Source]:
    """A remote file or folder (any Hadoop file system Spark is configured for), listed through Spark's JVM."""
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(uri)
    fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(hpath):
        raise MappingError(f"Data path {uri} does not exist (or this Spark session cannot see it).")
    status = fs.getFileStatus(hpath)
    if status.isFile() or fs.exists(jvm.org.apache.hadoop.fs.Path(uri.rstrip("/") + "/_SUCCESS")):
        return [Source(uri, folder=not status.isFile())]
    out = []
    for st in fs.listStatus(hpath):
        name = st.getPath().getName()
        if not name.startswith((".", "_")):
            out.append(Source(st.getPath().toString(), folder=st.isDirectory()))
    return sorted(out)


def _maxes(t, cols: list[str], closed_close: bool = False) -> list[pd.Timestamp]:
    """The latest values of the date columns (as text, read back as naive timestamps in the session's zone)."""
    have = set(t.columns)
    ex = [f"date_format(max(`{c}`), 'yyyy-MM-dd HH:mm:ss.SSSSSS')" for c in cols if c in have]
    if closed_close:
        ex.append("date_format(max(close_date) filter (where is_closed), 'yyyy-MM-dd HH:mm:ss.SSSSSS')")
    if not ex:
        return []
    return [pd.Timestamp(v) for v in t.selectExpr(*ex).collect()[0] if v is not None]
