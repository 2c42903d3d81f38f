"""Engines: read a table from files into canonical columns on pandas, Polars, DuckDB (and Spark).

``load`` hands each table spec to a back-end here (pandas: :mod:`._pandas`; Polars and DuckDB/SQL:
:mod:`._polars`, :mod:`._sql` behind :mod:`._lazy`); back-ends never import ``load``.
:mod:`.scan` holds the narwhals helpers every row-level KPI scan uses, :mod:`.pandas_fast` the
vectorised pandas paths behind them.
"""

from ._lazy import (
    ENGINES,
    check_engine,
    column_names,
    engine_of,
    head,
    is_lazy,
    kpi_table,
    load_lazy,
    materialize,
    n_rows,
    scan,
    spark_session,
    to_duckdb,
    to_pandas,
    to_polars,
    to_spark,
)

__all__ = ["ENGINES", "check_engine", "scan", "load_lazy", "to_pandas", "to_polars", "to_duckdb", "to_spark",
           "spark_session", "materialize", "engine_of", "is_lazy", "kpi_table", "n_rows", "column_names", "head"]
