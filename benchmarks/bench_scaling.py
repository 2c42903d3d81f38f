"""Cost growth of the KPI suite with data size (issue 8): time at 10^5, 10^6, 10^7 rows, fitted exponent.

The same rows of opportunities and of orders at each size (Arrow tiling of the sample generator's
deals; synthetic orders), the kit's suite (stage funnel, win rate by owner, monthly won revenue, sales
cycle, RFM summary) on Polars lazy and on DuckDB; median of ``repeat`` runs; exponent b of time ~ rows^b
from a least-squares fit on log-log (b <= 1: linear or better).

    python benchmarks/bench_scaling.py --sizes 100000 1000000 10000000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_funnel as bf  # noqa: E402
import bench_kpi_suite as ks  # noqa: E402


def _tile(table, rows: int):
    import pyarrow as pa

    k = -(-rows // table.num_rows)
    return pa.concat_tables([table] * k).slice(0, rows).combine_chunks()


def run(sizes, repeat: int, *, log=print) -> dict:
    import duckdb
    import polars as pl
    import pyarrow as pa

    base, stages = bf.make_opportunities(200_000)
    base_a = pa.Table.from_pandas(base, preserve_index=False)
    out = {"sizes": list(sizes), "median_s": {"polars_lazy": [], "duckdb": []}}
    for n in sizes:
        opps = _tile(base_a, n)
        orders = pa.Table.from_pandas(ks.make_orders(n), preserve_index=False)
        con = duckdb.connect()
        con.register("opps", opps)
        con.register("orders", orders)
        fr = {"polars_lazy": (pl.from_arrow(opps).lazy(), pl.from_arrow(orders).lazy()),
              "duckdb": (con.table("opps"), con.table("orders"))}
        for eng, (o, r) in fr.items():
            ts = []
            for _ in range(repeat):
                t = time.perf_counter()
                bf.kit(o, stages)
                ks.rfm_kit(r)
                ts.append(time.perf_counter() - t)
            out["median_s"][eng].append(statistics.median(ts))
            log(f"{n:>11,} rows  {eng:<12} {statistics.median(ts):8.2f} s")
        con.close()
        del fr, opps, orders
    x = np.log(np.asarray(sizes, float))
    out["exponent"] = {}
    for eng, ts in out["median_s"].items():
        b = float(np.polyfit(x, np.log(np.asarray(ts)), 1)[0])
        # growth between the two largest sizes (fixed costs dominate the smallest one)
        b_top = float(np.log(ts[-1] / ts[-2]) / np.log(sizes[-1] / sizes[-2]))
        out["exponent"][eng] = {"fit": b, "largest_step": b_top}
        log(f"{eng:<12} fitted exponent {b:.2f} over all sizes; {b_top:.2f} between the two largest (target <= 1)")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    run(a.sizes, a.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
