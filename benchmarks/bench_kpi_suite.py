"""The KPI suite on each engine vs hand-written DuckDB SQL and idiomatic pandas (issue 8).

Suite: stage funnel, win rate by owner, monthly won revenue, sales cycle (the four tables of
bench_funnel.py, whose kit / SQL / pandas code is reused here) plus the RFM summary of the orders.
Targets: the kit on DuckDB or Polars lazy <= 1.2x hand-written DuckDB SQL; the kit on pandas <= 1.0x
idiomatic pandas. Every approach reads the same in-memory data (Arrow tables registered in one DuckDB
connection; Polars and pandas frames built from them before timing); approaches run round-robin
``repeat`` times and the median counts. Results are checked equal before any time is reported.

    python benchmarks/bench_kpi_suite.py --opps 500000 --orders 2000000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_clv as bc  # noqa: E402
import bench_funnel as bf  # noqa: E402

from salesops_kit.value import customers  # noqa: E402

END = "2025-12-15"

RFM_SQL = bc.SQL  # the hand-written RFM reference of the CLV benchmark, over the `orders` table


def make_orders(n: int, *, seed: int = 7) -> pd.DataFrame:
    """Synthetic orders: ~n/5 integer customers over three years, order time of day, gamma amounts."""
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, max(n // 5, 1), n)
    start = np.datetime64("2023-01-01T00:00:00", "s")
    secs = rng.integers(0, 3 * 365 * 86400, n)
    return pd.DataFrame({"customer_id": cust.astype(np.int64),
                         "order_date": (start + secs.astype("timedelta64[s]")).astype("datetime64[us]"),
                         "amount": np.round(rng.gamma(4.0, 25.0, n), 2)})


def rfm_pandas(df: pd.DataFrame) -> pd.DataFrame:
    """Idiomatic pandas RFM (weekly units), the same definitions as the SQL."""
    end = pd.Timestamp(END)
    d = df[df["order_date"] < end + pd.Timedelta(days=1)]
    daily = d.groupby([d["customer_id"], d["order_date"].dt.floor("D").rename("day")], sort=True)["amount"].sum()
    daily = daily.reset_index()
    g = daily.groupby("customer_id", sort=True)
    first = g["day"].min()
    last = g["day"].max()
    n = g.size()
    rev = g["amount"].sum()
    first_amount = g["amount"].first()  # rows sorted by day within a customer
    out = pd.DataFrame({"frequency": n - 1, "recency": (last - first).dt.total_seconds() / 86400 / 7,
                        "T": (end - first).dt.total_seconds() / 86400 / 7})
    out["monetary_value"] = np.where(n > 1, (rev - first_amount) / (n - 1).where(n > 1, 1), 0.0)
    return out.reset_index()


def rfm_kit(frame) -> pd.DataFrame:
    return customers.rfm_summary(frame, calibration_end=END, freq="W")


def check_rfm(got: pd.DataFrame, ref: pd.DataFrame) -> None:
    got = got.sort_values("customer_id").reset_index(drop=True)
    ref = ref.sort_values("customer_id").reset_index(drop=True)
    assert len(got) == len(ref), (len(got), len(ref))
    assert (got["customer_id"].to_numpy() == ref["customer_id"].to_numpy()).all()
    cols = ["frequency", "recency", "T", "monetary_value"]
    np.testing.assert_allclose(got[cols].to_numpy(float), ref[cols].to_numpy(float), rtol=1e-9, atol=1e-9)


def run(n_opps: int, n_orders: int, repeat: int, *, log=print) -> dict:
    import duckdb
    import polars as pl
    import pyarrow as pa

    t0 = time.perf_counter()
    opps, stages = bf.make_opportunities(n_opps)
    orders = make_orders(n_orders)
    con = duckdb.connect()
    a_opps, a_orders = pa.Table.from_pandas(opps, preserve_index=False), pa.Table.from_pandas(orders,
                                                                                              preserve_index=False)
    con.register("opps", a_opps)
    con.register("orders", a_orders)
    rel_o, rel_r = con.table("opps"), con.table("orders")
    lz_o, lz_r = pl.from_arrow(a_opps).lazy(), pl.from_arrow(a_orders).lazy()
    log(f"data: {n_opps:,} opportunities + {n_orders:,} orders ready in {time.perf_counter() - t0:.1f} s")

    def sql():
        out = bf.sql_reference(con, stages)
        out["rfm"] = con.sql(RFM_SQL.format(source="orders", end=END)).df()
        return out

    def kit(o, r):
        def f():
            out = bf.kit(o, stages)
            out["rfm"] = rfm_kit(r)
            return out
        return f

    def pandas_ref():
        out = bf.pandas_reference(opps, stages)
        out["rfm"] = rfm_pandas(orders)
        return out

    fns = {"sql": sql, "kit_duckdb": kit(rel_o, rel_r), "kit_polars_lazy": kit(lz_o, lz_r),
           "kit_pandas": kit(opps, orders), "pandas": pandas_ref}
    times: dict[str, list[float]] = {k: [] for k in fns}
    outs = {}
    for i in range(repeat):
        for k, fn in fns.items():
            t = time.perf_counter()
            outs[k] = fn()
            times[k].append(time.perf_counter() - t)
        log(f"round {i + 1}/{repeat}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
    for k in ("kit_duckdb", "kit_polars_lazy", "kit_pandas"):
        bf.check_same(outs[k], outs["sql"])
        check_rfm(outs[k]["rfm"], outs["sql"]["rfm"])
    bf.check_same(outs["pandas"], outs["sql"])
    check_rfm(outs["pandas"]["rfm"], outs["sql"]["rfm"])
    med = {k: statistics.median(v) for k, v in times.items()}
    res = {"n_opps": n_opps, "n_orders": n_orders, "repeat": repeat, "median_s": med, "all_s": times,
           "ratio_duckdb_vs_sql": med["kit_duckdb"] / med["sql"],
           "ratio_polars_vs_sql": med["kit_polars_lazy"] / med["sql"],
           "ratio_pandas_vs_pandas": med["kit_pandas"] / med["pandas"]}
    log(f"kit on DuckDB / SQL        {res['ratio_duckdb_vs_sql']:.2f}x (target <= 1.2)")
    log(f"kit on Polars lazy / SQL   {res['ratio_polars_vs_sql']:.2f}x (target <= 1.2)")
    log(f"kit on pandas / pandas     {res['ratio_pandas_vs_pandas']:.2f}x (target <= 1.0)")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opps", type=int, default=500_000, help="opportunities (target 5,000,000)")
    ap.add_argument("--orders", type=int, default=2_000_000, help="orders (target 20,000,000)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    run(a.opps, a.orders, a.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
