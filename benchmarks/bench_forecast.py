"""Time ``forecast(method="auto")`` against fitting one statsmodels ETS model per series (issue 5).

Target: auto (rolling-origin backtest of ETS, Theta, ARIMA and their combination, then the final
forecast) takes at most 3x the time of a single ``ETSModel(...).fit()`` + 12-step forecast per series.
Both run on the same series in the same process, alternating per series so load changes hit both.
The series are 5-12 years of monthly data: windows of the real series in
``data/external/real_monthly`` and simulated seasonal series (trend, multiplicative seasonality, noise).
The last 12 months of each series are held back and both forecasts are scored (sMAPE, MASE), so the
speed ratio comes with the accuracy it buys.

    python benchmarks/bench_forecast.py            # 1,000 series (a few minutes on 2 cores)
    python benchmarks/bench_forecast.py --n 100    # quick run

OpenBLAS is limited to one thread for the whole process (set before numpy loads) unless
OPENBLAS_NUM_THREADS is already set, so both sides run single-threaded: the like-for-like comparison.
``forecast`` itself limits BLAS to one thread while fitting (threadpoolctl, when installed); a plain
ETS fit does not, so with a threaded BLAS (e.g. ``OPENBLAS_NUM_THREADS=2``) the baseline slows down
several-fold on a small busy machine and the ratio drops below 1 — quoted separately, not as the result.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def make_series(n: int, seed: int) -> list[pd.Series]:
    rng = np.random.default_rng(seed)
    real = pd.read_csv(ROOT / "data" / "external" / "real_monthly" / "series.csv")
    pool = [g["value"].to_numpy(float) for _, g in real.groupby("series")]
    out = []
    for i in range(n):
        years = int(rng.integers(5, 13))
        length = 12 * years
        if i % 2 == 0:                       # a window of a real series (if long enough)
            cands = [p for p in pool if len(p) >= length]
            if cands:
                p = cands[int(rng.integers(len(cands)))]
                s0 = int(rng.integers(0, len(p) - length + 1))
                y = p[s0:s0 + length]
            else:
                y = None
        if i % 2 == 1 or y is None:          # simulated: trend x seasonality x noise
            t = np.arange(length)
            amp = rng.uniform(0, 0.4)
            phase = rng.uniform(0, 2 * np.pi)
            seas = 1 + amp * np.sin(2 * np.pi * t / 12 + phase)
            trend = 100 * (1 + rng.uniform(-0.05, 0.2)) ** (t / 12)
            y = trend * seas * np.exp(rng.normal(0, rng.uniform(0.02, 0.15), length))
        start = pd.Period("2010-01", freq="M")
        out.append(pd.Series(np.asarray(y, float), index=pd.period_range(start, periods=length, freq="M")))
    return out


def scores(train: np.ndarray, test: np.ndarray, f: np.ndarray) -> tuple[float, float]:
    f = np.asarray(f, float)
    den = np.abs(test) + np.abs(f)
    smape = float(np.mean(np.where(den > 0, 200 * np.abs(test - f) / np.where(den > 0, den, 1), 0)))
    scale = np.mean(np.abs(train[12:] - train[:-12]))
    return smape, float(np.mean(np.abs(test - f)) / scale) if scale > 0 else np.nan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="number of series (default 1000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--horizon", type=int, default=12)
    args = ap.parse_args()

    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    from salesops_kit.forecast import forecast

    warnings.filterwarnings("ignore")
    series = make_series(args.n, args.seed)
    h = args.horizon
    # warm up imports and caches on one series (not timed)
    forecast(series[0].iloc[:-h], horizon=h)
    t_auto = t_ets = c_auto = c_ets = 0.0
    acc = {"auto": [], "ets": []}
    chosen: dict[str, int] = {}
    for i, s in enumerate(series):
        train = s.iloc[:-h]
        y = train.to_numpy()
        test = s.iloc[-h:].to_numpy()

        def run_auto(train=train):
            return forecast(train, horizon=h, method="auto")

        def run_ets(y=y):
            res = ETSModel(pd.Series(y), error="add", trend="add", damped_trend=True, seasonal="add",
                           seasonal_periods=12).fit(disp=False)
            return res.forecast(h)

        order = (("auto", run_auto), ("ets", run_ets)) if i % 2 == 0 else (("ets", run_ets), ("auto", run_auto))
        for name, fn in order:
            w0, c0 = time.perf_counter(), time.process_time()
            out = fn()
            dw, dc = time.perf_counter() - w0, time.process_time() - c0
            if name == "auto":
                t_auto += dw
                c_auto += dc
                acc["auto"].append(scores(y, test, out.table["mean"].to_numpy()))
                chosen[out.method] = chosen.get(out.method, 0) + 1
            else:
                t_ets += dw
                c_ets += dc
                acc["ets"].append(scores(y, test, np.asarray(out)))
    n = len(series)
    lengths = [len(s) for s in series]
    print(f"series: {n} monthly, {min(lengths) // 12}-{max(lengths) // 12} years (half real windows, half simulated); "
          f"horizon {h}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
    print(f"statsmodels ETSModel(A,Ad,A).fit + forecast: wall {t_ets:8.1f} s ({1000 * t_ets / n:6.1f} ms/series), "
          f"cpu {c_ets:8.1f} s")
    print(f"salesops_kit forecast(method='auto'):        wall {t_auto:8.1f} s ({1000 * t_auto / n:6.1f} ms/series), "
          f"cpu {c_auto:8.1f} s")
    print(f"ratio auto / ETS: wall {t_auto / t_ets:.2f}x, cpu {c_auto / c_ets:.2f}x (target <= 3x)")
    for k in ("auto", "ets"):
        a = np.array(acc[k], float)
        print(f"held-back last {h} months, {k:4s}: sMAPE {np.nanmean(a[:, 0]):6.2f}%  MASE {np.nanmean(a[:, 1]):.3f}")
    print("auto chose:", ", ".join(f"{k} {v}" for k, v in sorted(chosen.items())))


if __name__ == "__main__":
    main()
