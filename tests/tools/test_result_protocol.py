"""Every analysis result in the package follows the protocol of :class:`salesops_kit.tools.Result`.

The walk imports every module of the kit, collects every subclass of ``Result`` and checks, on the
class, that ``summary``/``headline``/``plot`` are methods (not attributes or properties) and that the
dataclass machinery did not replace the short ``__repr__``; then, on a real instance built from the
bundled sample, that ``summary()`` is a DataFrame, ``headline()`` a sentence, ``repr`` short, the
HTML escaped and ``plot()`` an Axes. A new result class fails here until it has a factory below.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

import salesops_kit
from salesops_kit.tools import Result

matplotlib.use("Agg")

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
KIT = Path(salesops_kit.__file__).resolve().parent
ABSTRACT = {"FittedModel"}  # bases of concrete results, never returned themselves
NO_CHART = {"ReportResult"}  # a report run has no chart: plot() raises NotImplementedError saying so


def _all_result_classes() -> dict[str, type]:
    for m in pkgutil.walk_packages(salesops_kit.__path__, "salesops_kit."):
        importlib.import_module(m.name)
    out, todo = {}, [Result]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("salesops_kit."):
                out[sub.__name__] = sub
            todo.append(sub)
    return out


CLASSES = _all_result_classes()


def test_the_walk_finds_the_results():
    expected = {"StageFunnel", "Bottlenecks", "Calibration", "SalesCycle", "CohortRetention", "SimpleCLV",
                "UnitEconomics", "BGNBDFit", "GammaGammaFit", "HoldoutCheck", "SBGFit", "SeasonalProfile",
                "BacktestResult", "PipelineForecast", "Scorecard", "RepComparison", "Drivers", "MonitorReview",
                "AuditResult", "ReportResult", "FittedModel", "Forecast", "WinRate", "LeadFunnel", "SalesVelocity"}
    assert expected <= set(CLASSES), expected - set(CLASSES)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_the_class_follows_the_protocol(name):
    cls = CLASSES[name]
    for meth in ("summary", "headline", "plot", "_repr_html_", "__repr__"):
        attr = inspect.getattr_static(cls, meth)
        assert inspect.isfunction(attr), f"{name}.{meth} must be a method, not {type(attr).__name__}"
    if dataclasses.is_dataclass(cls):
        fields = {f.name for f in dataclasses.fields(cls)}
        assert not fields & {"summary", "headline", "plot"}, f"{name} has a field shadowing the protocol"
    # the dataclass-generated __repr__ (it prints every table) lives in the standard library
    where = Path(inspect.unwrap(cls.__repr__).__code__.co_filename).resolve()
    assert where.is_relative_to(KIT), f"{name}: declare @dataclass(..., repr=False) so Result.__repr__ is kept"
    assert "level" in inspect.signature(cls.summary).parameters or list(inspect.signature(cls.summary).parameters) == [
        "self"], f"{name}.summary takes no arguments but an optional level"
    assert "ax" in inspect.signature(cls.plot).parameters


@pytest.fixture(scope="module")
def results():
    from salesops_kit import load_dataset
    from salesops_kit.data.audit import audit
    from salesops_kit.forecast import backtest, bookings_series, forecast, pipeline_forecast, seasonal_profile
    from salesops_kit.funnel import (
        bottlenecks,
        lead_funnel,
        pipeline_by_stage,
        pipeline_coverage,
        sales_cycle,
        sales_velocity,
        stage_calibration,
        stage_funnel,
        win_rate,
    )
    from salesops_kit.monitor import revenue_sources, review
    from salesops_kit.report.runner import ReportResult
    from salesops_kit.reps import compare_reps, response_drivers, scorecard
    from salesops_kit.value import clv, costs, customer_value, customers, sbg, segments

    ds = load_dataset(SAMPLE)
    rfm = customers.rfm_summary(ds.orders, calibration_end=ds.as_of - pd.DateOffset(months=6), holdout_end=ds.as_of)
    bg = clv.fit_bgnbd(rfm["frequency"], rfm["recency"], rfm["T"])
    series = bookings_series(ds)
    made = {
        "StageFunnel": lambda: stage_funnel(ds),
        "WinRate": lambda: win_rate(ds, by="owner"),
        "Slippage": lambda: salesops_kit.funnel.slippage(ds),
        "LossReasons": lambda: salesops_kit.funnel.loss_reasons(ds),
        "LeadFunnel": lambda: lead_funnel(ds),
        "SalesVelocity": lambda: sales_velocity(ds, by="team"),
        "PipelineByStage": lambda: pipeline_by_stage(ds),
        "FunnelAmounts": lambda: salesops_kit.funnel.funnel_amounts(ds),
        "Coverage": lambda: pipeline_coverage(ds),
        "Bottlenecks": lambda: bottlenecks(ds),
        "Calibration": lambda: stage_calibration(ds),
        "SalesCycle": lambda: sales_cycle(ds, n_boot=50),
        "CohortRetention": lambda: customers.cohort_retention(ds.orders, as_of=ds.as_of),
        "SimpleCLV": lambda: customers.simple_clv(ds.orders, as_of=ds.as_of),
        "UnitEconomics": lambda: costs.unit_economics(ds.orders, ds.marketing_spend, as_of=ds.as_of, n_boot=50),
        "BGNBDFit": lambda: bg,
        "GammaGammaFit": lambda: clv.fit_gamma_gamma(rfm["frequency"], rfm["monetary_value"]),
        "HoldoutCheck": lambda: clv.holdout_validation(bg, rfm),
        "CustomerValue": lambda: customer_value.customer_value(rfm=rfm, bgnbd=bg),
        "RFMSegments": lambda: segments.rfm_segments(ds.orders, as_of=ds.as_of),
        "SegmentMigration": lambda: segments.segment_migration(ds.orders, as_of=ds.as_of),
        "SBGFit": lambda: sbg.fit_sbg([1000, 631, 468, 382, 326]),
        "SeasonalProfile": lambda: seasonal_profile(series),
        "BacktestResult": lambda: backtest(series, horizon=3, folds=1, methods=("seasonal_naive", "ets")),
        "Forecast": lambda: forecast(series, horizon=6, method="seasonal_naive"),
        "PipelineForecast": lambda: pipeline_forecast(ds.opportunities, as_of=ds.as_of, stage_history=ds.stage_history,
                                                      stages=ds.stages, n_sims=200, backtest_dates=2),
        "Scorecard": lambda: scorecard(ds),
        "RepComparison": lambda: compare_reps(ds),
        "Drivers": lambda: response_drivers(ds),
        "MonitorReview": lambda: review(ds, n_boot=50),
        "RevenueSources": lambda: revenue_sources(ds),
        "AuditResult": lambda: audit(ds),
        "ReportResult": lambda: ReportResult(Path("report <out>")),
    }
    return made


@pytest.mark.parametrize("name", sorted(set(CLASSES) - ABSTRACT))
def test_an_instance_follows_the_protocol(name, results):
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    assert name in results, f"add a factory for {name} to tests/tools/test_result_protocol.py"
    r = results[name]()
    assert isinstance(r, CLASSES[name])
    s = r.summary()
    assert isinstance(s, pd.DataFrame)
    h = r.headline()
    assert isinstance(h, str) and h.strip() and "\n" not in h
    text = repr(r)
    assert text.startswith(f"{name}(") and len(text) <= 400 and "DataFrame" not in text, text
    page = r._repr_html_()
    assert isinstance(page, str) and "<table" in page or s.columns.empty
    if name in NO_CHART:
        with pytest.raises(NotImplementedError):
            r.plot()
    else:
        assert isinstance(r.plot(), Axes)
    plt.close("all")
