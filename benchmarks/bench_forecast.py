"""``forecast(method="auto")`` on real monthly series it has never seen: accuracy, interval coverage, time (issue 16).

The series are the M3 competition's monthly series in ``data/external/m3_monthly`` (1,224 of 1,428; see its
PROVENANCE.md), split once into a development half and a test half (``split.csv``: by a hash of the series id,
stratified by category). Every setting of the forecast (members, combination, selection margin, interval
calibration) was chosen on the development half; the test half is what is reported. Each series' last 18
points are held back (the competition's horizon, h = 18) and forecast from the rest.

Printed per half: sMAPE (percent, as in the M competitions) and MASE (scaled by the in-sample seasonal naive
MAE) of ``auto``, each member (``ets``, ``theta``, ``dotm``, ``ces``; ``arima`` on every ``--arima-every``-th
series, it is slow), statsmodels' default ``ThetaModel`` and seasonal naive; the 80% / 95% coverage of
``auto``'s intervals, overall and by M3 category; time per series of ``auto`` against one statsmodels
``ETSModel(A,Ad,A).fit()`` + forecast (the two alternate per series so load changes hit both).

    python benchmarks/bench_forecast.py --half test              # the reported numbers (~20 min on 2 cores)
    python benchmarks/bench_forecast.py --half test --part 0/2 --out a.csv   # the same in two processes,
    python benchmarks/bench_forecast.py --half test --part 1/2 --out b.csv   # each with its CSV,
    python benchmarks/bench_forecast.py --merge a.csv b.csv                  # then pooled
    python benchmarks/bench_forecast.py --half dev --every 3     # a development run
    python benchmarks/bench_forecast.py --half dev --every 3 --calibrate   # members.CALIBRATION from dev
    python benchmarks/bench_forecast.py --half dev --last 36     # short histories (three years, like a young CRM)
    python benchmarks/bench_forecast.py --half dev --every 3 --calibrate --last 36 48   # CALIBRATION_SHORT
    python benchmarks/bench_forecast.py --half dev --calibrate --origins 1 [--last 36]  # their combo rows

OpenBLAS is limited to one thread for the whole process (set before numpy loads) unless OPENBLAS_NUM_THREADS
is already set, so both sides run single-threaded: the like-for-like comparison.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
M3 = ROOT / "data" / "external" / "m3_monthly"
H = 18


def m3_series(half: str, every: int = 1) -> list[tuple[str, str, pd.Series, np.ndarray]]:
    """``(series id, category, training series, held-back last 18 values)`` of one half, every ``every``-th
    series in the order of ``split.csv``."""
    df = pd.read_csv(M3 / "monthly.csv.gz")
    split = pd.read_csv(M3 / "split.csv")
    ids = split.loc[split["half"] == half, "series"].tolist()[::every]
    out = []
    for sid, g in df[df["series"].isin(ids)].groupby("series", sort=False):
        g = g.sort_values("t")
        y0, m0 = int(g["start_year"].iloc[0]), int(g["start_month"].iloc[0])
        # 25 series have no known start (year and month 0): a nominal January 2000 (only the frequency is used)
        start = pd.Period(year=y0, month=m0, freq="M") if y0 > 0 and m0 > 0 else pd.Period("2000-01", freq="M")
        y = g["value"].to_numpy(float)
        test = g["is_test"].to_numpy(bool)
        train = pd.Series(y[~test], index=pd.period_range(start, periods=int((~test).sum()), freq="M"))
        out.append((sid, str(g["category"].iloc[0]), train, y[test]))
    order = {s: i for i, s in enumerate(ids)}
    return sorted(out, key=lambda r: order[r[0]])


def smape(a: np.ndarray, f: np.ndarray) -> float:
    den = np.abs(a) + np.abs(f)
    return float(np.mean(np.where(den > 0, 200 * np.abs(a - f) / np.where(den > 0, den, 1), 0)))


def mase(train: np.ndarray, a: np.ndarray, f: np.ndarray, m: int = 12) -> float:
    scale = np.mean(np.abs(train[m:] - train[:-m]))
    return float(np.mean(np.abs(a - f)) / scale) if scale > 0 else np.nan


def sm_theta(train: pd.Series, h: int) -> np.ndarray:
    from statsmodels.tsa.forecasting.theta import ThetaModel

    return np.asarray(ThetaModel(train, period=12).fit().forecast(h))


def members(train: pd.Series, h: int, names) -> dict[str, np.ndarray]:
    """The kit's members fitted once (the same code ``forecast`` runs), means on the original scale."""
    from salesops_kit.forecast.members import Fitter, summarise
    from salesops_kit.forecast.models import _scale

    y = train.to_numpy(float)
    unit = _scale(y)
    fit = Fitter(y / unit, 12, len(y) >= 24)
    fcs = fit.forecasts(len(y), h, names, refit=True)
    return {k: summarise(fcs, k, ())["mean"] * unit for k in names if k in fcs}


def calibrate(series, lasts=(), origins: int = 2) -> None:
    """Each calibrated method's normalised out-of-sample errors ``|actual - mean| / sd`` by horizon, at the last
    origin and (``origins`` = 2) the one 18 points before it; their 80% and 95% quantiles made non-decreasing
    (isotonic): the table ``members.CALIBRATION``. With ``lasts`` (e.g. 36, 48) each origin's history is cut to
    each of those lengths and the windows are pooled: the table ``members.CALIBRATION_SHORT``."""
    from scipy.optimize import isotonic_regression

    from salesops_kit.forecast.members import CALIBRATION, COMBO_MEMBERS, SHORT_SEASONS, Fitter

    scores: dict[str, list] = {k: [] for k in CALIBRATION}
    for _, _, train, test in series:
        y_all = np.concatenate([train.to_numpy(float), test])
        cuts = (len(y_all) - H, len(y_all) - 2 * H)[:origins]
        for cut, last in itertools.product(cuts, lasts or (0,)):
            y = y_all[:cut][-last:]
            # CALIBRATION: histories longer than SHORT_SEASONS seasons; CALIBRATION_SHORT: the lengths asked for
            if len(y) < 24 + 2 or (len(y) < last if last else len(y) <= SHORT_SEASONS * 12):
                continue
            a = y_all[cut:cut + H]
            fcs = Fitter(y, 12, True).forecasts(len(y), H, ("combo",), refit=True)
            for k in scores:
                ks = [m for m in COMBO_MEMBERS if m in fcs] if k == "combo" else [k] if k in fcs else []
                if len(ks) < (2 if k == "combo" else 1):
                    continue
                mean = np.mean([fcs[m].mean() for m in ks], axis=0)
                sd = np.mean([fcs[m].sd for m in ks if not fcs[m].mean_only], axis=0)
                scores[k].append(np.abs(a - mean) / np.where(sd > 0, sd, np.nan))
    for k, sc in scores.items():
        s = np.array(sc)
        print(f"{k}: {len(s)} windows")
        print(f"    {k!r}: {{")
        for lv in (80, 95):
            q = np.nanquantile(s, lv / 100, axis=0)
            print(f"        # raw: {', '.join(f'{v:.2f}' for v in q)}")
            print(f"        {lv}: (" + ", ".join(f"{v:.2f}" for v in isotonic_regression(q).x) + "),")
        print("    },")


def summary(r: pd.DataFrame, title: str) -> None:
    """Print the table of one run from its per-series rows (``--out`` CSVs of several ``--part`` runs pooled)."""
    n = len(r)
    print(f"\n{title}")
    theta = r["smape_statsmodels_theta"].mean()
    print(f"{'method':<28}{'series':>7}{'sMAPE':>8}{'MASE':>8}{'sMAPE / sm Theta':>18}")
    for k in ("auto", "ets", "theta", "dotm", "ces", "arima", "statsmodels_theta", "seasonal_naive"):
        col = f"smape_{k}"
        if col not in r:
            continue
        ok = r[col].notna()
        base = r.loc[ok, "smape_statsmodels_theta"].mean()
        print(f"{k:<28}{int(ok.sum()):>7}{r.loc[ok, col].mean():>8.2f}{r.loc[ok, f'mase_{k}'].mean():>8.3f}"
              f"{r.loc[ok, col].mean() / base:>18.3f}")
    print(f"auto sMAPE / statsmodels Theta: {r['smape_auto'].mean() / theta:.3f} (target <= 0.97)")
    print(f"auto interval coverage: 80% -> {100 * r['coverage_80'].mean():.1f}%, 95% -> "
          f"{100 * r['coverage_95'].mean():.1f}% (targets 80 +- 10, 95 +- 5)")
    by = r.groupby("category")[["coverage_80", "coverage_95"]].mean().mul(100).round(1)
    print("coverage by category (80% / 95%): "
          + ", ".join(f"{c} {v['coverage_80']:.1f} / {v['coverage_95']:.1f}" for c, v in by.iterrows()))
    t_auto, t_ets = r["t_auto"].sum(), r["t_ets"].sum()
    print(f"time per series: auto {1000 * t_auto / n:.0f} ms, one statsmodels ETS(A,Ad,A) fit + forecast "
          f"{1000 * t_ets / n:.0f} ms, ratio {t_auto / t_ets:.2f}x (target <= 3x)")
    print("auto chose:", ", ".join(f"{k} {v}" for k, v in r["method"].value_counts().items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--half", choices=("dev", "test"), default="test")
    ap.add_argument("--every", type=int, default=1, help="every k-th series of the half (default: all)")
    ap.add_argument("--part", default="0/1", help="K/N: only the series K, K+N, K+2N, ... of those (several "
                    "processes, each with --out; --merge pools their CSVs)")
    ap.add_argument("--arima-every", type=int, default=8, help="score AutoARIMA on every k-th series (0: never)")
    ap.add_argument("--last", type=int, nargs="+", default=[0],
                    help="keep only the last N training points of each series (short histories; default: all); "
                         "with --calibrate, several lengths pool their windows")
    ap.add_argument("--calibrate", action="store_true", help="print the interval calibration table and stop")
    ap.add_argument("--origins", type=int, choices=(1, 2), default=2,
                    help="with --calibrate: windows from the last origin only (1) or also the one 18 points before")
    ap.add_argument("--out", type=Path, help="write the per-series scores to this CSV")
    ap.add_argument("--merge", type=Path, nargs="+", help="print the table of these --out CSVs pooled and stop")
    args = ap.parse_args()
    if args.merge:
        r = pd.concat([pd.read_csv(f) for f in args.merge], ignore_index=True)
        summary(r, f"M3 monthly, pooled from {len(args.merge)} CSV(s): {len(r)} series, h = {H}")
        return

    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    from salesops_kit.forecast import forecast

    warnings.filterwarnings("ignore")
    series = m3_series(args.half, args.every)
    k_part, n_part = (int(v) for v in args.part.split("/"))
    series = series[k_part::n_part]
    if args.calibrate:
        calibrate(series, tuple(v for v in args.last if v), args.origins)
        return
    if len(args.last) > 1:
        ap.error("--last takes one length unless --calibrate")
    last = args.last[0]
    if last:
        series = [(sid, cat, train.iloc[-last:], test) for sid, cat, train, test in series]
    forecast(series[0][2], horizon=H)          # warm up imports and caches (not timed)
    rows = []
    for i, (sid, cat, train, test) in enumerate(series):
        y = train.to_numpy(float)

        def run_auto(train=train):
            return forecast(train, horizon=H, method="auto")

        def run_ets(y=y):
            res = ETSModel(pd.Series(y), error="add", trend="add", damped_trend=True, seasonal="add",
                           seasonal_periods=12).fit(disp=False)
            return np.asarray(res.forecast(H))

        out, dt = {}, {}
        for name, fn in (("auto", run_auto), ("ets_fit", run_ets))[:: 1 if i % 2 == 0 else -1]:
            w0 = time.perf_counter()
            out[name] = fn()
            dt[name] = time.perf_counter() - w0
        fc = out["auto"].table
        row = {"series": sid, "category": cat, "n": len(y), "method": out["auto"].method,
               "t_auto": dt["auto"], "t_ets": dt["ets_fit"]}
        fcs = {"auto": fc["mean"].to_numpy(), "statsmodels_theta": sm_theta(train, H),
               "seasonal_naive": np.tile(y[-12:], 2)[:H]}
        names = ("ets", "theta", "dotm", "ces") + (
            ("arima",) if args.arima_every and i % args.arima_every == 0 else ())
        fcs.update(members(train, H, names))
        for k, f in fcs.items():
            row[f"smape_{k}"], row[f"mase_{k}"] = smape(test, f), mase(y, test, f)
        for lv in (80, 95):
            row[f"coverage_{lv}"] = float(np.mean((test >= fc[f"lower_{lv}"]) & (test <= fc[f"upper_{lv}"])))
        rows.append(row)
        if (i + 1) % 50 == 0:
            done = pd.DataFrame(rows)
            print(f"... {i + 1} series, auto {1000 * done['t_auto'].mean():.0f} ms/series, "
                  f"ETS fit {1000 * done['t_ets'].mean():.0f} ms/series", flush=True)
    r = pd.DataFrame(rows)
    if args.out:
        r.to_csv(args.out, index=False)
    summary(r, f"M3 monthly, {args.half.upper()} half: {len(r)} series"
               f"{'' if args.every == 1 else f' (every {args.every}-th in split.csv order)'}"
               f"{'' if n_part == 1 else f' (part {k_part}/{n_part})'}, h = {H}, "
               f"{f'training cut to the last {last} points, ' if last else ''}"
               f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")


if __name__ == "__main__":
    main()
