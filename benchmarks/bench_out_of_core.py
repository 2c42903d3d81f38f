"""Out of core (issue 8): the KPI suite on a Parquet dataset about twice DuckDB's memory limit, and
the peak memory of the pandas loader + audit against the in-memory size of what it loaded.

1. Writes opportunities and orders as Parquet, measures their in-memory (Arrow) size S, opens a DuckDB
   connection with ``SET memory_limit`` = S / 2 (and a temp directory to spill to), then runs
   (a) the lazy loader's checks and row account (``load_dataset(engine="duckdb")``) and
   (b) the kit's suite (stage funnel, win rate by owner, monthly won revenue, sales cycle, RFM summary)
   on relations read from the Parquet files. It passes when both complete.
2. In a fresh process: ``load_dataset`` (pandas) + ``quality.audit`` on CSV exports; peak RSS of the
   process against the deep memory size of the loaded tables (target: at most 2x).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_funnel as bf  # noqa: E402
import bench_kpi_suite as ks  # noqa: E402

from salesops_kit.data.load import load_dataset  # noqa: E402


def write_parquet(n_opps: int, n_orders: int, out: Path) -> tuple[float, object]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    opps, stages = bf.make_opportunities(n_opps)
    a = pa.Table.from_pandas(opps, preserve_index=False)
    pq.write_table(a, out / "opportunities.parquet", row_group_size=500_000)
    size = a.nbytes
    del opps, a
    orders = ks.make_orders(n_orders)
    orders.insert(0, "order_id", pd.Series(np.arange(n_orders)).astype(str).radd("O-"))
    b = pa.Table.from_pandas(orders, preserve_index=False)
    pq.write_table(b, out / "orders.parquet", row_group_size=1_000_000)
    size += b.nbytes
    return size, stages


def out_of_core(n_opps: int, n_orders: int, *, log=print) -> dict:
    import duckdb

    tmp = Path(tempfile.mkdtemp(prefix="salesops_ooc_"))
    try:
        t0 = time.perf_counter()
        size, stages = write_parquet(n_opps, n_orders, tmp / "data")
        disk = sum(f.stat().st_size for f in (tmp / "data").iterdir())
        limit = max(int(size / 2), 128 * 2**20)  # DuckDB needs some room of its own; small runs get 128 MiB
        log(f"Parquet dataset: {n_opps:,} opportunities + {n_orders:,} orders, {size / 2**20:,.0f} MiB in memory "
            f"(Arrow), {disk / 2**20:,.0f} MiB on disk; DuckDB memory_limit {limit / 2**20:,.0f} MiB "
            f"(written in {time.perf_counter() - t0:.0f} s)")
        con = duckdb.connect()
        con.execute(f"SET memory_limit = '{limit // 2**20}MiB'")
        con.execute(f"SET temp_directory = '{tmp / 'spill'}'")
        con.execute("SET preserve_insertion_order = false")
        res = {"n_opps": n_opps, "n_orders": n_orders, "in_memory_mib": size / 2**20, "disk_mib": disk / 2**20,
               "memory_limit_mib": limit / 2**20}
        t = time.perf_counter()
        try:
            ds = load_dataset(tmp / "data", engine="duckdb", con=con)
            res["loader_s"] = time.perf_counter() - t
            account = ds.account[["table", "rows_read", "rows_kept", "rows_quarantined"]]
            res["loader_account"] = account.to_dict("records")
            log(f"lazy loader (checks + row account) under the limit: {res['loader_s']:.1f} s; "
                + "; ".join(f"{r['table']}: {r['rows_kept']:,} kept" for r in res["loader_account"]))
        except Exception as e:  # noqa: BLE001 - report what failed
            res["loader_error"] = f"{type(e).__name__}: {str(e).splitlines()[0]}"
            log(f"lazy loader FAILED under the limit: {res['loader_error']}")
        t = time.perf_counter()
        try:
            o = con.read_parquet(str(tmp / "data" / "opportunities.parquet"))
            r = con.read_parquet(str(tmp / "data" / "orders.parquet"))
            out = bf.kit(o, stages)
            rfm = ks.rfm_kit(r)
            res["suite_s"] = time.perf_counter() - t
            res["suite_ok"] = True
            log(f"KPI suite on the Parquet files under the limit: completed in {res['suite_s']:.1f} s "
                f"({len(out['win_rate'])} owners, {len(rfm):,} customers)")
        except Exception as e:  # noqa: BLE001
            res["suite_ok"] = False
            res["suite_error"] = f"{type(e).__name__}: {str(e).splitlines()[0]}"
            log(f"KPI suite FAILED under the limit: {res['suite_error']}")
        peak = con.sql("select max(memory_usage_bytes) from duckdb_memory()").fetchall()[0][0]
        res["duckdb_memory_now_mib"] = (peak or 0) / 2**20
        con.close()
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# VmHWM of this process (ru_maxrss would carry the parent's high-water mark across fork + exec)
_HWM = r"""
def hwm():
    with open("/proc/self/status") as fh:
        return int(next(line for line in fh if line.startswith("VmHWM")).split()[1])
"""

_MEM = _HWM + r"""
import json, sys, time
from salesops_kit.data import audit as quality
from salesops_kit.data.load import load_dataset
t = time.perf_counter()
ds = load_dataset(sys.argv[1])
quality.audit(ds)
dt = time.perf_counter() - t
size = sum(int(df.memory_usage(deep=True).sum()) for df in ds.tables.values())
rows = {n: len(df) for n, df in ds.tables.items()}
print(json.dumps({"seconds": dt, "maxrss_kb": hwm(), "loaded_bytes": size, "rows": rows}))
"""

_BASE = _HWM + r"""
import json
import pandas, salesops_kit.data.load, salesops_kit.data.audit, pyarrow
print(json.dumps({"maxrss_kb": hwm()}))
"""


def loader_memory(data_dir: Path, *, log=print) -> dict:
    py = sys.executable
    base = json.loads(subprocess.run([py, "-c", _BASE], capture_output=True, text=True, check=True).stdout)
    r = json.loads(subprocess.run([py, "-c", _MEM, str(data_dir)], capture_output=True, text=True,
                                  check=True).stdout.strip().splitlines()[-1])
    peak = r["maxrss_kb"] * 1024
    imports = base["maxrss_kb"] * 1024
    res = {"data": str(data_dir), "rows": r["rows"], "seconds": r["seconds"], "peak_mib": peak / 2**20,
           "imports_mib": imports / 2**20, "loaded_mib": r["loaded_bytes"] / 2**20,
           "ratio": peak / r["loaded_bytes"], "ratio_above_imports": (peak - imports) / r["loaded_bytes"]}
    log(f"load_dataset + audit (pandas) on {data_dir}: {r['seconds']:.1f} s, peak RSS {res['peak_mib']:,.0f} MiB "
        f"(of which {res['imports_mib']:,.0f} MiB is the interpreter and libraries), loaded tables "
        f"{res['loaded_mib']:,.0f} MiB deep; ratio {res['ratio']:.2f}x, "
        f"above imports {res['ratio_above_imports']:.2f}x "
        "(target <= 2)")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opps", type=int, default=2_000_000)
    ap.add_argument("--orders", type=int, default=8_000_000)
    ap.add_argument("--csv-dir", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "sample")
    a = ap.parse_args(argv)
    out_of_core(a.opps, a.orders)
    loader_memory(a.csv_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
