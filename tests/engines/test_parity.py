"""Cross-engine parity (issue 8): every row-level KPI function gives the same answer on pandas,
Polars eager, Polars lazy and DuckDB, on the bundled sample company (floats to 1e-9, rows sorted).

The cases are listed once in ``CASES`` (shared with tests/engines/test_spark.py);
``test_every_row_level_function_is_covered`` discovers the public functions of the KPI modules whose first
argument is a row-level table (or a Dataset) and fails when one is neither a case nor exempt with a stated
reason, so a new scan cannot slip past the suite. The lazy loader (``load_dataset(engine=...)``) is
checked against the pandas loader table by table: clean rows, quarantine reasons and the row account.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesops_kit import engines, forecast, funnel, kpis, monitor, reps
from salesops_kit.data import audit as quality
from salesops_kit.data.load import load_dataset
from salesops_kit.forecast import _kpis as forecast_kpis
from salesops_kit.forecast import pipeline
from salesops_kit.funnel import _bottlenecks as bottlenecks
from salesops_kit.funnel import _kpis as funnel_kpis
from salesops_kit.funnel import calibration, cycle
from salesops_kit.funnel import metrics as funnel_metrics
from salesops_kit.funnel import pipeline as pipeline_quota
from salesops_kit.monitor import _kpis as monitor_kpis
from salesops_kit.monitor import _series as _monitor_series
from salesops_kit.monitor import targets as monitor_targets
from salesops_kit.reps import _findings as reps_findings
from salesops_kit.reps import _kpis as reps_kpis
from salesops_kit.reps import _scans as _rep_scans
from salesops_kit.reps import drivers
from salesops_kit.value import _kpis as value_kpis
from salesops_kit.value import costs, customers

pl = pytest.importorskip("polars")
duckdb = pytest.importorskip("duckdb")

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
ENGINES = ("polars", "polars_lazy", "duckdb")
MONITOR_KPIS = None  # every monitored KPI


# ------------------------------------------------------------------------------------------ data


@pytest.fixture(scope="session")
def sample():
    """The sample company, loaded once per session with the pandas loader."""
    return load_dataset(SAMPLE)


def as_engine(df: pd.DataFrame, engine: str, *, spark=None):
    """One pandas table on another engine (the same columns and values)."""
    if engine == "pandas":
        return df
    if engine == "polars":
        return engines.to_polars(df)
    if engine == "polars_lazy":
        return engines.to_polars(df, lazy=True)
    if engine == "duckdb":
        return engines.to_duckdb(df, con=_con())
    if engine == "spark":
        return engines.to_spark(df, spark)
    raise ValueError(engine)


_CON = []


def _con():
    if not _CON:
        _CON.append(duckdb.connect())
    return _CON[0]


def engine_dataset(ds, engine: str, *, spark=None):
    """The Dataset with every table converted to ``engine`` (pandas quarantine/account/flags kept)."""
    return dataclasses.replace(ds, tables={n: as_engine(t, engine, spark=spark) for n, t in ds.tables.items()})


# ------------------------------------------------------------------------------------------ cases
def _public_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Without helper columns (``_row``: the row's position, 0- or 1-based by engine)."""
    return df[[c for c in df.columns if not str(c).startswith("_")]]


# issue 18's modules (their packages' faces export functions of the same names)
slippage = importlib.import_module("salesops_kit.funnel.slippage")
loss_reasons = importlib.import_module("salesops_kit.funnel.loss_reasons")
customer_value = importlib.import_module("salesops_kit.value.customer_value")
segments = importlib.import_module("salesops_kit.value.segments")
sources = importlib.import_module("salesops_kit.monitor.sources")

# each case: name -> (function, call(ds) where ds.tables are on the engine under test)

def _cut(ds):
    return ds.as_of - pd.Timedelta(days=90)


def _year(ds):
    return ds.as_of - pd.DateOffset(years=1), ds.as_of


CASES = {
    # funnel
    "funnel.stage_funnel[inferred,owner]": (funnel.stage_funnel, lambda d: funnel.stage_funnel(
        d.opportunities, by="owner", stages=d.stages)),
    "funnel.stage_funnel[history,lead_source]": (funnel.stage_funnel, lambda d: funnel.stage_funnel(
        d.opportunities, stage_history=d.stage_history, by="lead_source", stages=d.stages)),
    "funnel.stage_funnel[in_order]": (funnel.stage_funnel, lambda d: funnel.stage_funnel(
        d.opportunities, stage_history=d.stage_history, stages=d.stages, funnel_type="in_order")),
    "funnel.deal_groups": (funnel.deal_groups, lambda d: funnel.deal_groups(
        d.opportunities, history=d.stage_history, by=("team",), stages=d.stages)),
    "funnel.win_rate[closed,owner,M]": (funnel.win_rate, lambda d: funnel.win_rate(
        d.opportunities, by="owner", period="M", stages=d.stages)),
    "funnel.win_rate[created,lead_source,Q]": (funnel.win_rate, lambda d: funnel.win_rate(
        d.opportunities, by="lead_source", period="Q", definition="created", stages=d.stages)),
    "funnel_metrics.lead_funnel": (funnel_metrics.lead_funnel, lambda d: funnel_metrics.lead_funnel(
        d.leads, d.opportunities, by="source", as_of=d.as_of, stages=d.stages)),
    "funnel_metrics.open_pipeline": (funnel_metrics.open_pipeline, lambda d: funnel_metrics.open_pipeline(
        d, by="team")),
    "funnel_metrics.deal_totals": (funnel_metrics.deal_totals, lambda d: funnel_metrics.deal_totals(
        d.opportunities, by="owner", stages=d.stages)),
    "funnel_metrics.won_revenue": (funnel_metrics.won_revenue, lambda d: funnel_metrics.won_revenue(
        d.opportunities, period="M", by="team", stages=d.stages)),
    "funnel_metrics.sales_velocity": (funnel_metrics.sales_velocity, lambda d: funnel_metrics.sales_velocity(
        d.opportunities, by="team", stages=d.stages, as_of=d.as_of)),
    "cycle.cycle_counts": (cycle.cycle_counts, lambda d: cycle.cycle_counts(
        d.opportunities, as_of=d.as_of, by="team", stages=d.stages)),
    "cycle.sales_cycle": (cycle.sales_cycle, lambda d: cycle.sales_cycle(
        d.opportunities, as_of=d.as_of, by="team", stages=d.stages, n_boot=20)),
    "calibration.stage_calibration": (calibration.stage_calibration, lambda d: calibration.stage_calibration(
        d.opportunities, stage_history=d.stage_history, stages=d.stages)),
    "calibration.time_in_stage": (calibration.time_in_stage, lambda d: calibration.time_in_stage(
        d.stage_history, stages=d.stages, as_of=d.as_of)),
    "calibration.stalled_deals": (calibration.stalled_deals, lambda d: calibration.stalled_deals(
        d.opportunities, stage_history=d.stage_history, stages=d.stages, as_of=d.as_of)),
    "bottlenecks.bottlenecks": (bottlenecks.bottlenecks, lambda d: bottlenecks.bottlenecks(
        d.opportunities, stage_history=d.stage_history, segments=["lead_source", "team"], stages=d.stages)),
    "pipeline.pipeline_forecast": (pipeline.pipeline_forecast, lambda d: pipeline.pipeline_forecast(
        d.opportunities, as_of=d.as_of, stage_history=d.stage_history, stages=d.stages, n_sims=50,
        backtest_dates=1)),
    # customers and costs
    "customers.rfm_summary": (customers.rfm_summary, lambda d: customers.rfm_summary(
        d.orders, calibration_end=d.as_of - pd.DateOffset(months=6), holdout_end=d.as_of)),
    "customers.customer_table": (customers.customer_table, lambda d: customers.customer_table(d.orders, as_of=d.as_of)),
    "customers.repeat_purchase_rate": (customers.repeat_purchase_rate, lambda d: customers.repeat_purchase_rate(
        d.orders, window_start=_year(d)[0], window_end=_year(d)[1], by="channel")),
    "customers.cohort_retention": (customers.cohort_retention, lambda d: customers.cohort_retention(
        d.orders, as_of=d.as_of, by="channel")),
    "customers.churn": (customers.churn, lambda d: customers.churn(d.orders, as_of=d.as_of, by="channel")),
    "customers.simple_clv": (customers.simple_clv, lambda d: customers.simple_clv(d.orders, as_of=d.as_of)),
    "customers.survivors_by_period": (customers.survivors_by_period, lambda d: customers.survivors_by_period(
        d.orders, as_of=d.as_of)),
    "costs.new_customers": (costs.new_customers, lambda d: costs.new_customers(d.orders, as_of=d.as_of)),
    "costs.new_customers[quarters]": (costs.new_customers, lambda d: costs.new_customers(
        d.orders, period="Q", as_of=d.as_of)),
    "costs.cac": (costs.cac, lambda d: costs.cac(d.marketing_spend, d.orders, as_of=d.as_of)),
    "costs.cost_of_sales": (costs.cost_of_sales, lambda d: costs.cost_of_sales(d.marketing_spend, d.orders)),
    "costs.predictive_ltv": (costs.predictive_ltv, lambda d: costs.predictive_ltv(d.orders, as_of=d.as_of)),
    "costs.unit_economics": (costs.unit_economics, lambda d: costs.unit_economics(
        d.orders, d.marketing_spend, as_of=d.as_of, n_boot=50)),
    # series
    "forecast.monthly_series[orders]": (forecast.monthly_series, lambda d: forecast.monthly_series(
        d.orders, as_of=d.as_of)),
    "forecast.monthly_series[opportunities]": (forecast.monthly_series, lambda d: forecast.monthly_series(
        d.opportunities, date="created_date", value="amount", freq="Q", as_of=d.as_of)),
    "forecast.bookings_series": (forecast.bookings_series, lambda d: forecast.bookings_series(d)),
    "_monitor_series.opportunity_series": (_monitor_series.opportunity_series, lambda d: _monitor_series
                                           .opportunity_series(d.opportunities, stages=d.stages, period="M",
                                                               as_of=d.as_of, kpis=list(monitor.KPI_SPECS))),
    "_monitor_series.lead_series": (_monitor_series.lead_series, lambda d: _monitor_series.lead_series(
        d.leads, period="M", as_of=d.as_of, kpis=list(monitor.KPI_SPECS))),
    "_monitor_series.order_series": (_monitor_series.order_series, lambda d: _monitor_series.order_series(
        d.orders, d.marketing_spend, period="M", as_of=d.as_of, kpis=list(monitor.KPI_SPECS))),
    "_monitor_series.csat_series": (_monitor_series.csat_series, lambda d: _monitor_series.csat_series(
        d.csat, period="M", as_of=d.as_of, kpis=list(monitor.KPI_SPECS))),
    "_monitor_series.owner_teams": (monitor.owner_teams, lambda d: monitor.owner_teams(d.opportunities)),
    "_monitor_series.row_count": (_monitor_series.row_count, lambda d: _monitor_series.row_count(d.csat)),
    "_monitor_series.kpi_series": (monitor.kpi_series, lambda d: monitor.kpi_series(d)),
    "monitor_targets.targets_from_quotas": (monitor_targets.targets_from_quotas,
                                            lambda d: monitor_targets.targets_from_quotas(d.quotas)),
    # reps
    "_rep_scans.deal_scan": (_rep_scans.deal_scan, lambda d: _rep_scans.deal_scan(d.opportunities, as_of=d.as_of)),
    "_rep_scans.won_revenue_between": (_rep_scans.won_revenue_between, lambda d: _rep_scans.won_revenue_between(
        d.opportunities, start=_year(d)[0], end=_year(d)[1])),
    "_rep_scans.lead_cells": (_rep_scans.lead_cells, lambda d: _rep_scans.lead_cells(
        d.leads, cutoff=_cut(d), activities=d.activities)),
    "_rep_scans.response_medians": (_rep_scans.response_medians, lambda d: _rep_scans.response_medians(
        d.leads, groups={"all": sorted(pd.Series(engines.to_pandas(d.quotas)["owner"]).unique())}, cutoff=_cut(d))),
    "_rep_scans.activity_scan": (_rep_scans.activity_scan, lambda d: _rep_scans.activity_scan(d.activities)),
    "_rep_scans.csat_scan": (_rep_scans.csat_scan, lambda d: _rep_scans.csat_scan(d.csat)),
    "pipeline_quota.quota_frame": (pipeline_quota.quota_frame, lambda d: pipeline_quota.quota_frame(d.quotas)),
    # issue 18: pipeline in money and coverage, slippage, loss reasons, customer value, RFM segments, revenue sources
    "pipeline_quota.owner_teams": (pipeline_quota.owner_teams, lambda d: pipeline_quota.owner_teams(d.opportunities)),
    "pipeline_quota.period_pipeline": (pipeline_quota.period_pipeline, lambda d: pipeline_quota.period_pipeline(
        d.opportunities, start=pd.Timestamp(d.as_of).to_period("M").start_time,
        end=pd.Timestamp(d.as_of).to_period("M").end_time.normalize(), as_of=d.as_of)),
    "pipeline_quota.pipeline_by_stage": (pipeline_quota.pipeline_by_stage,
                                         lambda d: pipeline_quota.pipeline_by_stage(d)),
    "pipeline_quota.pipeline_coverage": (pipeline_quota.pipeline_coverage,
                                         lambda d: pipeline_quota.pipeline_coverage(d)),
    "pipeline_quota.funnel_amounts": (pipeline_quota.funnel_amounts, lambda d: pipeline_quota.funnel_amounts(d)),
    "slippage.push_events": (slippage.push_events, lambda d: _public_columns(engines.ops.collect(
        slippage.push_events(d.tables["deal_history"])))),
    "slippage.slippage": (slippage.slippage, lambda d: slippage.slippage(d)),
    "loss_reasons.loss_reasons": (loss_reasons.loss_reasons, lambda d: loss_reasons.loss_reasons(d)),
    # the customer table (the fits' optimiser state, e.g. its last gradient, differs in the 8th digit with row order)
    "customer_value.customer_value": (customer_value.customer_value, lambda d: customer_value.customer_value(
        d.orders, as_of=d.as_of).table),
    "segments.rfm_segments": (segments.rfm_segments, lambda d: segments.rfm_segments(d.orders, as_of=d.as_of)),
    "segments.segment_migration": (segments.segment_migration, lambda d: segments.segment_migration(
        d.orders, as_of=d.as_of)),
    "sources.revenue_sources": (sources.revenue_sources, lambda d: sources.revenue_sources(d)),
    "reps.scorecard": (reps.scorecard, lambda d: reps.scorecard(d)),
    "reps.stage_conversion_by_rep": (reps.stage_conversion_by_rep, lambda d: reps.stage_conversion_by_rep(d)),
    "drivers.response_drivers": (drivers.response_drivers, lambda d: drivers.response_drivers(d)),
    # data
    "quality.coverage": (quality.coverage, lambda d: quality.coverage(d)),
    "kpis.kpi_rows": (kpis.kpi_rows, lambda d: kpis.kpi_rows(d)),
    "funnel_kpis.kpi_rows": (funnel_kpis.kpi_rows, lambda d: funnel_kpis.kpi_rows(d)),
    "forecast_kpis.kpi_rows": (forecast.kpi_rows, lambda d: forecast.kpi_rows(d)),
    "reps_kpis.kpi_rows": (reps.kpi_rows, lambda d: reps.kpi_rows(d)),
    "monitor_kpis.kpi_rows": (monitor.kpi_rows, lambda d: monitor.kpi_rows(d)),
}

# slower on the sample company (several seconds per engine): still run in CI
SLOW = {"pipeline.pipeline_forecast", "costs.predictive_ltv", "costs.unit_economics", "_monitor_series.kpi_series",
        "monitor_kpis.kpi_rows", "reps.scorecard", "reps_kpis.kpi_rows", "drivers.response_drivers",
        "bottlenecks.bottlenecks", "cycle.sales_cycle", "funnel_kpis.kpi_rows", "forecast_kpis.kpi_rows"}

# Public functions with a table or Dataset first that are not row-level KPI scans, and why.
EXEMPT = {
    "_rep_scans.lead_frame": "builds the narwhals LazyFrame that lead_cells/response_medians collect (covered there)",
    "quality.audit": "pandas loader's audit of row positions; the lazy loader's audit is checked in the loader tests",
    "quality.write_quarantine": "writes the (pandas) quarantine to CSV files",
    "value_kpis.kpi_rows": "fits BG/NBD with 1000 bootstraps (minutes); its scans are the costs.* cases",
    "reps.compare_reps": "statistics on the scorecard (reps.scorecard case)",
    "reps_findings.coaching_findings": "findings text from compare_reps/response_drivers (cases above)",
    "monitor.review": "change tests on monitor.kpi_series (case above)",
    "monitor_targets.default_targets": "targets from monitor.kpi_series (case above)",
    "monitor_targets.write_default_targets": "writes default_targets to a file",
    "kpis.kpi_table": "runs every provider's kpi_rows (each a case above; value_kpis.kpi_rows is exempt)",
    "kpis.engine_kpi_table": "runs every provider's kpi_rows on the dataset's engine (test_engine_kpi_table_...)",
    "kpis.publish": "displays a KPI table already computed (records in, a notebook output out): no row scan",
    "kpis.provider_rows": "runs every provider's kpi_rows (each a case above), collecting errors",
    "reps.not_available": "a message helper whose first argument is a table *name*",
    "pipeline.by_currency": "splits a Dataset into one Dataset per currency (a filter, no KPI scan); the forecast "
                            "KPIs computed on the parts are the forecast_kpis case",
    "pipeline.currency_view": "narrows a Dataset to the main currency for a money forecast (a filter, no KPI scan)",
    "monitor_kpis.tables_used": "counts each table's rows for a display table (engines.n_rows, checked per engine in "
                                "tests/engines)",
    "reps.quota_window": "dates of the complete quota periods (a min/max on the quotas the scorecard case scans)",
    "reps_kpis.kpi_windows": "window labels of the rep KPIs from a computed Scorecard (no row scan)",
    "funnel_kpis.pipeline_rows": "the pipeline KPIs that funnel_kpis.kpi_rows reports (its case above runs them)",
}

# Case names use these short names; the modules are the ones that define the functions (a package's
# face re-exports them, so its own __name__ would match none).
MODULES = {"funnel": importlib.import_module("salesops_kit.funnel.stages"), "funnel_metrics": funnel_metrics,
           "cycle": cycle, "calibration": calibration, "bottlenecks": bottlenecks, "pipeline": pipeline,
           "customers": customers, "costs": costs, "pipeline_quota": pipeline_quota,
           "slippage": slippage, "loss_reasons": loss_reasons, "customer_value": customer_value, "segments": segments,
           "sources": sources,
           "forecast": importlib.import_module("salesops_kit.forecast.seasonal"),
           "_monitor_series": _monitor_series, "monitor": importlib.import_module("salesops_kit.monitor.review"),
           "monitor_targets": monitor_targets, "_rep_scans": _rep_scans,
           "reps": importlib.import_module("salesops_kit.reps.scorecard"), "drivers": drivers, "quality": quality,
           "kpis": kpis, "funnel_kpis": funnel_kpis, "forecast_kpis": forecast_kpis, "monitor_kpis": monitor_kpis,
           "reps_kpis": reps_kpis, "reps_findings": reps_findings, "value_kpis": value_kpis}
TABLE_ARGS = {"opportunities", "opps", "data", "deal_history",
              "stage_history", "leads", "orders", "activities", "csat", "quotas", "table",
              "customers_or_orders", "spend", "ds", "dataset", "tables"}


def _row_level_functions() -> list[str]:
    out = []
    for short, mod in MODULES.items():
        for name, f in inspect.getmembers(mod, inspect.isfunction):
            if f.__module__ != mod.__name__ or name.startswith("_"):
                continue
            params = list(inspect.signature(f).parameters)
            if params and params[0] in TABLE_ARGS:
                out.append(f"{short}.{name}")
    return sorted(out)


def test_every_row_level_function_is_covered():
    covered = {k.split("[")[0] for k in CASES}
    missing = [f for f in _row_level_functions() if f not in covered and f not in EXEMPT]
    assert not missing, ("row-level functions without a parity case (add one to CASES or EXEMPT with a reason): "
                         f"{missing}")
    stale = [f for f in list(EXEMPT) + sorted(covered) if f not in _row_level_functions()]
    assert not stale, f"parity cases name functions that no longer exist: {stale}"


# ------------------------------------------------------------------------------------------ comparison


def _flat(x, path="result"):
    """(path, pandas frame or scalar) leaves of a result: frames, dataclasses, tuples, dicts."""
    if isinstance(x, pd.DataFrame):
        yield path, x
    elif isinstance(x, pd.Series):
        yield path, x.to_frame(name=x.name if x.name is not None else "value")
    elif dataclasses.is_dataclass(x) and not isinstance(x, type):
        for f in dataclasses.fields(x):
            yield from _flat(getattr(x, f.name), f"{path}.{f.name}")
    elif isinstance(x, list | tuple):
        for i, v in enumerate(x):
            yield from _flat(v, f"{path}[{i}]")
    elif isinstance(x, dict):
        for k in sorted(x, key=str):
            yield from _flat(x[k], f"{path}[{k!r}]")
    elif isinstance(x, np.ndarray):
        yield path, pd.DataFrame({"value": x.ravel()})
    else:
        yield path, x


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Plain dtypes (float64 numbers, ns datetimes, text), index as columns, rows sorted."""
    df = df.copy()
    if df.index.names != [None] or not pd.api.types.is_integer_dtype(df.index.dtype):
        df = df.reset_index()  # a meaningful index (named, or labels) is part of the result
    else:
        df = df.reset_index(drop=True)  # row positions are not
    df.columns = [str(c) for c in df.columns]
    for c in df.columns:
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
            df[c] = pd.to_numeric(s.astype("Float64"), errors="coerce").astype("float64")
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            s = pd.to_datetime(s)
            if getattr(s.dt, "tz", None) is not None:  # Spark hands back UTC-aware timestamps (session time zone UTC)
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            df[c] = s.astype("datetime64[ns]")
        elif pd.api.types.is_timedelta64_dtype(s.dtype):
            df[c] = s.dt.total_seconds()
        else:
            num = pd.to_numeric(s, errors="coerce") if s.dtype == object else None
            if num is not None and s.notna().any() and (num.notna() == s.notna()).all() \
                    and not s.dropna().map(lambda v: isinstance(v, str)).any():
                df[c] = num.astype("float64")  # numbers held in an object column (e.g. with None)
            else:
                df[c] = s.map(_text)
    keys = [df[c].round(6) if df[c].dtype == "float64" else df[c] for c in df.columns]
    order = pd.DataFrame({i: k for i, k in enumerate(keys)}).astype(str)
    idx = order.sort_values(list(order.columns), kind="stable").index
    return df.loc[idx].reset_index(drop=True)


def _text(v):
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return "<NA>"
    if isinstance(v, pd.Timestamp | np.datetime64):
        return str(pd.Timestamp(v))
    if isinstance(v, float | np.floating):
        return repr(round(float(v), 9))
    return str(v)


def assert_same(got, ref, *, where: str, tol: float = 1e-9) -> None:
    g, r = dict(_flat(got)), dict(_flat(ref))
    if tol > 1e-9:  # fitted models: the optimiser's status text is not part of the answer
        g = {k: v for k, v in g.items() if not k.endswith(".message")}
        r = {k: v for k, v in r.items() if not k.endswith(".message")}
    assert list(g) == list(r), f"{where}: result structure differs: {list(g)} vs {list(r)}"
    for path, rv in r.items():
        gv = g[path]
        if isinstance(rv, pd.DataFrame):
            assert isinstance(gv, pd.DataFrame), f"{where} {path}: {type(gv).__name__} instead of a DataFrame"
            a, b = normalise(gv), normalise(rv)
            assert list(a.columns) == list(b.columns), f"{where} {path}: columns {list(a.columns)} vs {list(b.columns)}"
            assert len(a) == len(b), f"{where} {path}: {len(a)} rows vs {len(b)}"
            for c in b.columns:
                if b[c].dtype == "float64" and a[c].dtype == "float64":
                    ok = np.isclose(a[c].to_numpy(), b[c].to_numpy(), rtol=tol, atol=tol, equal_nan=True)
                    assert ok.all(), (f"{where} {path}.{c}: {a.loc[~ok, c].head(3).tolist()} vs "
                                      f"{b.loc[~ok, c].head(3).tolist()}")
                else:
                    av, bv = a[c].astype(str).to_numpy(), b[c].astype(str).to_numpy()
                    bad = av != bv
                    assert not bad.any(), f"{where} {path}.{c}: {av[bad][:3].tolist()} vs {bv[bad][:3].tolist()}"
        elif isinstance(rv, float | np.floating) and not isinstance(rv, bool):
            assert np.isclose(float(gv), float(rv), rtol=tol, atol=tol, equal_nan=True), f"{where} {path}: {gv} vs {rv}"
        elif hasattr(rv, "__module__") and type(rv).__module__.startswith(("matplotlib", "salesops_kit.data.schema")):
            continue
        else:
            assert _text(gv) == _text(rv) or str(gv) == str(rv), f"{where} {path}: {gv!r} vs {rv!r}"


_REF: dict[str, object] = {}


def reference(sample, case: str):
    if case not in _REF:
        _REF[case] = CASES[case][1](sample)
    return _REF[case]


_DS: dict[str, object] = {}


def dataset_on(sample, engine: str):
    if engine not in _DS:
        _DS[engine] = engine_dataset(sample, engine)
    return _DS[engine]


def _params():
    out = []
    for case in CASES:
        for engine in ENGINES:
            marks = [pytest.mark.slow] if case in SLOW else []
            reason = KNOWN_NOT_NEUTRAL.get((case, engine)) or KNOWN_NOT_NEUTRAL.get((case, "*"))
            if reason:
                marks.append(pytest.mark.xfail(strict=case not in NOT_STRICT, reason=reason))
            out.append(pytest.param(case, engine, marks=marks, id=f"{case}-{engine}"))
    return out


# Results of iterative fits: the engines' sums differ in the last bit (summation order), and an optimiser can
# amplify that; the row-level inputs of these fits are checked at 1e-9 by the cases above. (None today: the
# Gamma-Gamma fit compressed rows by exact float equality of mean spends until fit_gamma_gamma rounded them to
# 1e-9, and the seasonal profile magnified monthly sums until monthly_series rounded them to 4 decimals.)
TOLERANCE: dict[str, float] = {}

# (case, engine or "*") -> what fails; these are reported to the module owners (strict: a fix turns them red)
NOT_STRICT: set[str] = set()  # cases whose result varies run to run: reported, not pinned
KNOWN_NOT_NEUTRAL: dict[tuple[str, str], str] = {}


@pytest.mark.parametrize(("case", "engine"), _params())
def test_parity(sample, case, engine):
    ref = reference(sample, case)
    got = CASES[case][1](dataset_on(sample, engine))
    assert_same(got, ref, where=f"{case} on {engine}", tol=TOLERANCE.get(case, 1e-9))


# ------------------------------------------------------------------------------------------ lazy loader


@pytest.fixture(scope="session", params=["polars", "duckdb"])
def scanned(request):
    return request.param, load_dataset(SAMPLE, engine=request.param)


def test_lazy_loader_matches_pandas_loader(sample, scanned):
    engine, ds = scanned
    kind = {"polars": "polars-lazy", "duckdb": "duckdb"}[engine]
    assert_loaded_like_pandas(ds, sample, kind, engine)


def assert_loaded_like_pandas(ds, sample, kind: str, engine: str) -> None:
    """A dataset loaded on another engine equals the pandas loader's: every table on that engine, the account,
    the as-of date, each table's rows and its quarantine (check, reason, source line and the raw columns)."""
    assert all(engines.engine_of(t) == kind for t in ds.tables.values())
    pd.testing.assert_frame_equal(ds.account, sample.account)
    assert ds.as_of == sample.as_of
    for name, ref in sample.tables.items():
        got = engines.to_pandas(ds.tables[name])
        assert list(got.columns) == list(ref.columns), name
        assert_same(got, ref, where=f"{name} loaded with {engine}")
        q, rq = ds.quarantine[name], sample.quarantine[name]
        assert len(q) == len(rq), name
        cols = ["check", "reason", "source_line", *[c for c in rq.columns if c in q.columns and c not in
                                                    ("check", "reason", "source_line", "source_file")]]
        assert_same(q[cols], rq[cols], where=f"quarantine {name} ({engine})")


def test_lazy_loader_flag_counts_match_pandas(sample, scanned):
    engine, ds = scanned
    ref = sample.flags.groupby(["table", "check"]).size()
    got = ds.flags.set_index(["table", "check"])["rows"]
    for key, n in ref.items():
        assert got.get(key, 0) == n, (key, got.get(key, 0), n)
    assert got[got > 0].index.isin(ref.index).all()


SCANNED_CASES = ["funnel.stage_funnel[history,lead_source]", "funnel.win_rate[closed,owner,M]",
                 "funnel_metrics.won_revenue", "cycle.cycle_counts", "customers.rfm_summary",
                 "forecast.monthly_series[orders]", "_rep_scans.lead_cells"]


@pytest.mark.parametrize("case", SCANNED_CASES)
def test_kpis_on_lazily_scanned_files(sample, scanned, case):
    """The KPI suite straight on the scanned files (no pandas in between) equals the pandas answer."""
    engine, ds = scanned
    assert_same(CASES[case][1](ds), reference(sample, case), where=f"{case} on scanned {engine}")


def test_lazy_loader_quarantines_bad_rows_like_pandas(tmp_path):
    """Hand-made file: one good row, a bad date, a bad amount, a negative amount, an exact and a conflicting
    duplicate, an order without customer, one without id -> same account, quarantine and withheld fields on
    every engine (issue 14: only what cannot be a record is quarantined; the rest withholds the field)."""
    (tmp_path / "orders.csv").write_text(
        "order_id,customer_id,order_date,amount,channel\n"
        "O1,C1,2024-01-02,10.5,Web\n"
        "O2,C1,2024-13-40,3,Web\n"      # unparseable date: kept, order_date withheld
        "O3,C2,2024-01-03,abc,Web\n"    # unparseable number: kept, amount withheld
        "O4,C2,2024-01-04,-2,Web\n"     # negative amount: kept, amount withheld
        "O5,C3,2024-01-05,1,Web\n"
        "O5,C3,2024-01-05,1,Web\n"      # exact duplicate of the line above (line 7)
        "O6,C4,2024-01-06,1,Web\n"
        "O6,C4,2024-01-07,1,Web\n"      # conflicting duplicate: both O6 rows set aside
        "O7,,2024-01-08, 4 ,Web\n"      # order without customer: kept
        ",C9,2024-01-09,5,Web\n",       # no order id: not a record
        encoding="utf-8")
    ref = load_dataset(tmp_path)
    # kept: O1, O2, O3, O4, the first O5, O7 -> 6 rows; quarantined: O5 copy, O6 x2, the row without id -> 4
    assert ref.account.loc[0, "rows_kept"] == 6 and ref.account.loc[0, "rows_quarantined"] == 4
    assert ref.withheld[["column", "reason", "rows", "example"]].values.tolist() == [
        ["order_date", "unparseable date", 1, "orders.csv:3"], ["amount", "unparseable number", 1, "orders.csv:4"],
        ["amount", "negative amount", 1, "orders.csv:5"], ["customer_id", "missing value", 1, "orders.csv:10"]]
    for engine in ("polars", "duckdb"):
        ds = load_dataset(tmp_path, engine=engine)
        pd.testing.assert_frame_equal(ds.account, ref.account)
        assert_same(ds.quarantine["orders"][["check", "reason", "source_line"]],
                    ref.quarantine["orders"][["check", "reason", "source_line"]], where=engine)
        assert_same(engines.to_pandas(ds.orders), ref.orders, where=engine)
        pd.testing.assert_frame_equal(ds.withheld, ref.withheld)
        got = ds.flags.set_index(["table", "check"])["rows"]
        for key, n in ref.flags.groupby(["table", "check"]).size().items():
            assert got.get(key, 0) == n, (engine, key)


def test_lazy_loader_withholds_fields_like_pandas(sample, scanned):
    """The sample's withheld fields (deals closed before created, refunds) are the same on every engine."""
    engine, ds = scanned
    pd.testing.assert_frame_equal(ds.withheld, sample.withheld)
    assert set(sample.withheld["reason"]) == {"close before created", "negative amount"}


def test_lazy_loader_stage_labels_like_pandas(tmp_path):
    """Stage labels on every engine: a differently cased known label is renamed to the model's label, an unknown
    one is an error naming it (default) or its row is quarantined (``unknown_stages="quarantine"``)."""
    (tmp_path / "opportunities.csv").write_text(
        "opportunity_id,owner,stage,amount,created_date,close_date\n"
        "A,Ann,Closed Won,10,2024-01-02,2024-02-01\n"
        "B,Ann,closed lost,5,2024-01-03,2024-02-02\n"   # case differs from the model's label
        "C,Bo,Haggling,7,2024-01-04,\n",               # not a stage of the model
        encoding="utf-8")
    ref = load_dataset(tmp_path, unknown_stages="quarantine")
    assert ref.account.loc[0, "rows_kept"] == 2 and ref.account.loc[0, "rows_quarantined"] == 1
    for engine in ("polars", "duckdb"):
        with pytest.raises(Exception, match="Haggling"):
            load_dataset(tmp_path, engine=engine)
        ds = load_dataset(tmp_path, engine=engine, unknown_stages="quarantine")
        pd.testing.assert_frame_equal(ds.account, ref.account)
        assert_same(ds.quarantine["opportunities"][["check", "reason", "source_line"]],
                    ref.quarantine["opportunities"][["check", "reason", "source_line"]], where=engine)
        assert_same(engines.to_pandas(ds.opportunities), ref.opportunities, where=engine)


def test_load_dataset_rejects_unknown_engine():
    with pytest.raises(ValueError, match="engine must be one of pandas, polars, duckdb"):
        load_dataset(SAMPLE, engine="excel")


def test_lazy_loader_reads_parquet(tmp_path, sample):
    """The same tables from Parquet copies (a CSV mapping also finds <table>.parquet)."""
    for name in ("opportunities", "orders"):
        sample.tables[name].to_parquet(tmp_path / f"{name}.parquet", index=False)
    for engine in ("polars", "duckdb"):
        ds = load_dataset(tmp_path, engine=engine)
        for name in ("opportunities", "orders"):
            assert_same(engines.to_pandas(ds.tables[name]), sample.tables[name], where=f"{name} parquet {engine}")


def test_conversions_round_trip(sample):
    df = sample.opportunities.head(50)
    for conv in (engines.to_polars(df), engines.to_polars(df, lazy=True), engines.to_duckdb(df)):
        assert_same(engines.to_pandas(conv), df, where=engines.engine_of(conv))


def test_modules_import_without_engines_installed():
    """engines.py imports Polars/DuckDB/PySpark only inside functions (the pandas path needs none of them)."""
    src = inspect.getsource(importlib.import_module("salesops_kit.engines")).split("\ndef ")[0]
    assert "import polars" not in src and "import duckdb" not in src and "import pyspark" not in src


def test_materialize_keeps_tables_in_the_engine(sample, scanned):
    engine, ds = scanned
    m = engines.materialize(ds)
    kind = {"polars": "polars", "duckdb": "duckdb"}[engine]
    assert engines.engine_of(m.opportunities) == kind
    case = "funnel.win_rate[closed,owner,M]"
    assert_same(CASES[case][1](m), reference(sample, case), where=f"{case} on materialized {engine}")


def test_engine_kpi_table_names_what_it_could_not_compute(scanned):
    """`salesops kpis --engine`: the data KPIs come from the engine; failing providers are listed, not fatal."""
    engine, ds = scanned
    table, errors = kpis.engine_kpi_table(ds)
    got = table.set_index(["kpi", "segment"])["value"]
    assert got[("rows_opportunities", "all")] == ds.account.set_index("table").loc["opportunities", "rows_kept"]
    assert ("win_rate", "all") in got.index  # the funnel provider runs on the engine
    assert all(" on " in e for e in errors)
