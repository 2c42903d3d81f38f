"""Engines: read a table from files into canonical columns on pandas, Polars, DuckDB and Spark.

One interface, :class:`Backend` (:func:`backend` makes one per engine): ``read_table(spec, files, ...)``
reads and cleans one table of a parsed mapping into a :class:`TableResult` (clean table, quarantine,
row account, notes); ``default_as_of`` and ``flags`` finish the dataset. :func:`salesops_kit.data.load.load_dataset`
calls it; the back-ends never import the loader. Behind it: pandas (:mod:`._pandas`), and Polars and
DuckDB/SQL (:mod:`._polars`, :mod:`._sql` behind :mod:`._lazy`), and Spark (:mod:`._spark`: the SQL back-end's
statements in Spark SQL), which share the engine-neutral steps and rules of :mod:`._common`.

Also here: conversions between engines (:func:`to_pandas`, :func:`to_polars`, :func:`to_duckdb`,
:func:`to_spark`), a local Spark session, :func:`materialize` and :func:`release`, and looking at any frame
(:func:`n_rows`, :func:`column_names`, :func:`head`). :mod:`.ops` holds the narwhals helpers every
row-level KPI scan uses, :mod:`.pandas_fast` the vectorised pandas paths behind them.
"""

from ._common import Backend, TableResult
from ._lazy import (
    DUCKDB_MEMORY_ENV,
    ENGINES,
    LazyBackend,
    check_engine,
    column_names,
    engine_of,
    head,
    is_lazy,
    materialize,
    n_rows,
    release,
    scan,
    spark_session,
    to_duckdb,
    to_pandas,
    to_polars,
    to_spark,
)
from ._pandas import PandasBackend
from ._spark import CONF_ENV as SPARK_CONF_ENV

__all__ = ["ENGINES", "Backend", "TableResult", "backend", "check_engine", "scan", "to_pandas", "to_polars",
           "to_duckdb", "to_spark", "spark_session", "materialize", "release", "engine_of", "is_lazy", "n_rows",
           "column_names", "head", "SPARK_CONF_ENV", "DUCKDB_MEMORY_ENV"]


def backend(engine: str = "pandas", *, con=None, spark=None, keep: bool = False) -> Backend:
    """The back-end that reads tables on ``engine`` (one of :data:`ENGINES`); ``con``: DuckDB connection;
    ``spark``: SparkSession (default: the running one, else a local one); ``keep``: on Polars and DuckDB, the
    checked rows are computed once and kept in the engine (:class:`~salesops_kit.engines._common.LazyTable`)."""
    if check_engine(engine) == "pandas":
        return PandasBackend()
    if engine == "spark":
        from ._spark import SparkBackend

        return SparkBackend(spark)
    return LazyBackend(engine, con=con, keep=keep)
