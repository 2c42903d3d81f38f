"""Loading + auditing vs plain ``pandas.read_csv`` of the same files: time and peak memory ratios.

Target (issue 2): ``load_dataset`` + ``quality.audit`` of 1M opportunities + 5M orders takes at most
3x the time and 2x the peak memory of ``pd.read_csv`` on the same CSV files.

    python benchmarks/bench_load.py               # 100k opportunities + 500k orders (a few minutes)
    python benchmarks/bench_load.py --scale 1     # the full target: 1M + 5M

Data: the sample company's generator (``salesops_kit.data.synth``) at a small scale, its opportunities and
orders tiled to the target row counts with fresh ids (same columns, value shapes and formats as
``data/sample``), plus the sample's planted bad rows (``synth.plant_bad_rows``: duplicates, a
conflicting id, close-before-created deals, refunds), written once to ``benchmarks/_data/<rows>/``
(git-ignored) and reused.
Each measurement runs in its own Python process; peak memory is that process's ``ru_maxrss``
(interpreter and imports included on both sides); time excludes imports on both sides.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
OPPS_FULL, ORDERS_FULL = 1_000_000, 5_000_000

BASELINE = """
import json, resource, sys, time
import pandas as pd
t = time.perf_counter()
frames = [pd.read_csv(f) for f in sys.argv[1:]]
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "rows": sum(len(f) for f in frames)}))
"""

KIT = """
import json, resource, sys, time
from salesops_kit import load_dataset
from salesops_kit.data import audit as quality
t = time.perf_counter()
ds = load_dataset(sys.argv[1])
res = quality.audit(ds)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "rows": int(ds.account["rows_read"].sum()), "kept": int(ds.account["rows_kept"].sum()),
                  "flagged": int(res.checks.loc[res.checks["action"] == "flagged", "rows"].sum())}))
"""


def _tile(df, n: int, id_col: str, prefix: str, spread: tuple[str, ...] = ()):
    import numpy as np
    import pandas as pd

    reps = -(-n // len(df))
    out = pd.concat([df] * reps, ignore_index=True).iloc[:n].copy()
    k = np.arange(n)
    out[id_col] = prefix + pd.Series(k.astype(str)).str.zfill(8)
    for col in spread:  # keep customers repeating, but each copy of the base gets its own customers
        out[col] = out[col].astype(str) + "-" + pd.Series((k // len(df)).astype(str))
    return out


def make_data(n_opps: int, n_orders: int, out: Path) -> Path:
    """Write opportunities.csv and orders.csv (canonical columns) with the requested row counts."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / "orders.csv").exists() and (out / "opportunities.csv").exists():
        return out
    try:
        from salesops_kit.data import synth

        base = synth.generate(seed=1, scale=2.0)
        opps, orders = base["opportunities"], base["orders"]
    except Exception as e:  # the generator is another issue's work: fall back to a canonical-shaped frame
        print(f"(synth unavailable: {e}; generating canonical-shaped data)", file=sys.stderr)
        opps, orders = _fallback(20_000)
    opps = _tile(opps, n_opps, "opportunity_id", "OPP-")
    orders = _tile(orders, n_orders, "order_id", "ORD-", ("customer_id",))
    try:  # the sample's planted bad rows (duplicates, close before created, refunds): the audit's slow paths run
        from salesops_kit.data.synth import plant_bad_rows

        bad = plant_bad_rows({"opportunities": opps, "orders": orders})
        opps, orders = bad["opportunities"], bad["orders"]
    except Exception as e:
        print(f"(bad rows not planted: {e})", file=sys.stderr)
    for name, df in (("opportunities", opps), ("orders", orders)):
        df.to_csv(out / f"{name}.csv", index=False, float_format="%.2f", date_format="%Y-%m-%d")
    return out


def _fallback(n: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    created = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D")
    stages = np.array(["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"])
    opps = pd.DataFrame({
        "opportunity_id": [f"OPP-{i:08d}" for i in range(n)], "owner": rng.choice(["Ann Lee", "Bo Chen"], n),
        "stage": rng.choice(stages, n), "amount": rng.gamma(2, 5000, n).round(2), "created_date": created,
        "close_date": created + pd.to_timedelta(rng.integers(1, 120, n), unit="D"),
        "team": rng.choice(["A", "B", "C"], n), "lead_source": rng.choice(["Web", "Referral", "Partner"], n),
    })
    m = 5 * n
    orders = pd.DataFrame({
        "order_id": [f"ORD-{i:08d}" for i in range(m)], "customer_id": [f"C-{i:06d}" for i in rng.integers(0, n, m)],
        "order_date": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 1000, m), unit="D"),
        "amount": rng.gamma(2, 50, m).round(2), "margin": rng.gamma(2, 15, m).round(2),
        "product": rng.choice(["Starter", "Pro"], m), "channel": rng.choice(["Web", "Referral"], m),
    })
    return opps, orders


def _run(code: str, *args: str) -> dict:
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1, help="fraction of the 1M + 5M target (default 0.1)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each side; the fastest is kept")
    ap.add_argument("--data", type=Path, default=None, help="folder for the generated CSVs")
    a = ap.parse_args(argv)
    n_opps, n_orders = int(OPPS_FULL * a.scale), int(ORDERS_FULL * a.scale)
    data = a.data or HERE / "_data" / f"{n_opps}_{n_orders}"
    t = time.perf_counter()
    make_data(n_opps, n_orders, data)
    files = [str(data / "opportunities.csv"), str(data / "orders.csv")]
    size = sum(Path(f).stat().st_size for f in files) / 1e6
    print(f"data: {n_opps:,} opportunities + {n_orders:,} orders, {size:,.0f} MB CSV "
          f"(ready in {time.perf_counter() - t:.0f} s)")
    base = min((_run(BASELINE, *files) for _ in range(a.repeat)), key=lambda r: r["seconds"])
    kit = min((_run(KIT, str(data)) for _ in range(a.repeat)), key=lambda r: r["seconds"])
    tr = kit["seconds"] / base["seconds"]
    mr = kit["maxrss_kb"] / base["maxrss_kb"]
    print(f"pandas.read_csv      : {base['seconds']:7.2f} s, peak {base['maxrss_kb'] / 1024:7.0f} MB, "
          f"{base['rows']:,} rows")
    print(f"load_dataset + audit : {kit['seconds']:7.2f} s, peak {kit['maxrss_kb'] / 1024:7.0f} MB, "
          f"{kit['rows']:,} rows read, {kit['kept']:,} kept, {kit['flagged']:,} flagged")
    print(f"time ratio   {tr:.2f}x (target <= 3)")
    print(f"memory ratio {mr:.2f}x (target <= 2)")
    return 0 if tr <= 3 and mr <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
