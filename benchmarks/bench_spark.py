"""The loader and KPI scans on Spark at scale (issue 20): deals generated in Spark, written as Parquet, then
``load_dataset(engine="spark")`` (mapping, checks, quarantine, row account) and the KPI suite, in ``local[2]``.

    python benchmarks/bench_spark.py                         # 5M deals
    python benchmarks/bench_spark.py --sizes 5e6,1e7,2e7     # growth: time per size and the fitted exponent

Data: ``opportunities.parquet/`` (Spark part files) in the canonical columns, generated in Spark from the row
number with hash functions (no pandas, no driver memory): owners, teams, sources, regions, products, stages
(55% closed, a third of those won), amounts, created dates over three years and close dates after them; planted
bad rows the loader must handle: 0.1% negative amounts (field withheld), 0.1% close before created (withheld),
0.05% exact copies of another row and 0.02% conflicting copies (quarantined), 0.05% without an owner (kept,
field withheld). Written once per size to ``benchmarks/_data/spark/<rows>/`` (git-ignored) and reused.

Timed (one run per size, the load and the KPIs each): wall clock, and the CPU seconds of the Spark JVM (driver and
executors are one process in local mode), which a busy shared machine inflates far less than the wall clock.
``load`` = ``load_dataset`` + ``engines.materialize`` (every row read, parsed, checked and the clean table kept on
the executors, memory and disk, spilling to ``spark.local.dir``); ``kpis`` = stage funnel, win rate by owner and
month, monthly won revenue, cycle counts by team on the materialised table. The account is checked
(rows read = kept + quarantined, quarantined = the planted copies) before a time is reported. The machine's load
average is printed with every row: a wall time measured next to other work is not a property of the code.

Then the paper estimate for ``--target`` deals (default 1B) on ``--nodes`` x ``--node-cores`` (default 16 x 16):
the largest run's JVM CPU seconds per row, scaled linearly (the measured growth exponent says how far that holds),
spread over the cluster's cores, with the fraction of the cores that does useful work as ``--efficiency``
(default 0.6: shuffles, stragglers, task start-up). Extrapolated, not measured.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
DATA = HERE / "_data" / "spark"


def session(cores: int, memory: str, partitions: int):
    from salesops_kit import engines

    spill = Path(tempfile.gettempdir()) / "salesops-spark-bench"
    spill.mkdir(exist_ok=True)
    return engines.spark_session("salesops-bench", cores=cores, shuffle_partitions=partitions, memory=memory,
                                 conf={"spark.local.dir": str(spill), "spark.sql.adaptive.enabled": "true"})


def generate(spark, n: int, out: Path) -> None:
    """``n`` deals (plus the planted copies) as Parquet part files in ``out/opportunities.parquet``."""
    from pyspark.sql import functions as F

    def pick(seed: str, values: list[str]):
        h = F.pmod(F.xxhash64(F.col("id"), F.lit(seed)), F.lit(len(values)))
        return F.element_at(F.array(*[F.lit(v) for v in values]), (h + 1).cast("int"))

    def unit(seed: str):  # a pseudo-random number in [0, 1) from the row number
        return F.pmod(F.xxhash64(F.col("id"), F.lit(seed)), F.lit(1_000_000)) / F.lit(1_000_000.0)

    owners = [f"Rep {i:03d}" for i in range(400)]
    df = spark.range(n).select(
        "id",
        F.concat(F.lit("OPP-"), F.lpad(F.col("id").cast("string"), 10, "0")).alias("opportunity_id"),
        F.when(unit("noowner") < 0.0005, F.lit(None)).otherwise(pick("owner", owners)).alias("owner"),
        unit("closed").alias("u_closed"), unit("won").alias("u_won"), unit("stage").alias("u_stage"),
        (F.round(F.exp(F.lit(8.5) + F.lit(1.2) * (unit("amt") - 0.5) * 2), 2)).alias("amount0"),
        F.date_add(F.lit("2022-01-01").cast("date"), (unit("created") * 1095).cast("int")).alias("created"),
        (unit("cycle") * 180).cast("int").alias("cycle"),
        unit("neg").alias("u_neg"), unit("cbc").alias("u_cbc"),
        pick("team", ["Atlas", "Borealis", "Cobalt", "Delta"]).alias("team"),
        pick("region", ["EMEA", "North America", "APAC", "LATAM"]).alias("region"),
        pick("source", ["Inbound", "Outbound", "Partner", "Referral", "Event"]).alias("lead_source"),
        pick("product", ["Starter", "Growth", "Enterprise"]).alias("product"),
        F.concat(F.lit("A-"), F.pmod(F.xxhash64(F.col("id"), F.lit("acct")), F.lit(n // 3 + 1)).cast("string"))
        .alias("account_id"),
    )
    closed, won = F.col("u_closed") < 0.55, F.col("u_won") < 0.34
    open_stage = F.element_at(F.array(*[F.lit(s) for s in ("Prospecting", "Qualification", "Proposal",
                                                           "Negotiation")]),
                              (F.col("u_stage") * 4).cast("int") + 1)
    df = df.select(
        "opportunity_id", "owner",
        F.when(closed & won, "Closed Won").when(closed, "Closed Lost").otherwise(open_stage).alias("stage"),
        F.when(F.col("u_neg") < 0.001, -F.col("amount0")).otherwise(F.col("amount0")).alias("amount"),
        F.col("created").cast("string").alias("created_date"),
        F.when(closed, F.date_add("created", F.when(F.col("u_cbc") < 0.001, -5).otherwise(F.col("cycle")))
               .cast("string")).alias("close_date"),
        "account_id", "team", "region", "lead_source", "product",
    )
    exact = df.sample(fraction=0.0005, seed=1)  # exact copies: quarantined as duplicates, the first kept
    conflict = df.sample(fraction=0.0002, seed=2).withColumn("amount", F.col("amount") + 1)  # both sides out
    (df.unionByName(exact).unionByName(conflict).write.mode("overwrite")
     .parquet(str(out / "opportunities.parquet")))


def kpi_suite(ds) -> None:
    from salesops_kit import funnel
    from salesops_kit.funnel import cycle
    from salesops_kit.funnel import metrics as funnel_metrics

    o = ds.opportunities
    funnel.stage_funnel(o, by="team", stages=ds.stages)
    funnel.win_rate(o, by="owner", period="M", stages=ds.stages)
    funnel_metrics.won_revenue(o, period="M", by="team", stages=ds.stages)
    cycle.cycle_counts(o, as_of=ds.as_of, by="team", stages=ds.stages)


def run(spark, n: int) -> dict:
    from salesops_kit import engines
    from salesops_kit.data.load import load_dataset

    folder = DATA / str(n)
    if not (folder / "opportunities.parquet" / "_SUCCESS").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        t = time.perf_counter()
        generate(spark, n, folder)
        print(f"  generated {n:,} deals in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    load_avg = os.getloadavg()[0]
    t, c = time.perf_counter(), jvm_cpu(spark)
    ds = engines.materialize(load_dataset(folder, engine="spark", spark=spark))
    load, load_cpu = time.perf_counter() - t, jvm_cpu(spark) - c
    acc = ds.account.iloc[0]
    assert acc["rows_read"] == acc["rows_kept"] + acc["rows_quarantined"], acc
    assert acc["rows_read"] > n and acc["rows_quarantined"] > 0, acc
    t, c = time.perf_counter(), jvm_cpu(spark)
    kpi_suite(ds)
    kpis, kpis_cpu = time.perf_counter() - t, jvm_cpu(spark) - c
    out = dict(rows=int(acc["rows_read"]), kept=int(acc["rows_kept"]), quarantined=int(acc["rows_quarantined"]),
               load=load, kpis=kpis, load_cpu=load_cpu, kpis_cpu=kpis_cpu,
               load_avg=(load_avg + os.getloadavg()[0]) / 2)
    engines.release(ds)  # the checkpointed table and the loader's cache, before the next size
    return out


def jvm_cpu(spark) -> float:
    """CPU seconds (user + system) used so far by the Spark JVM: driver and executors in local mode."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def estimate(r: dict, *, target: int, nodes: int, node_cores: int, efficiency: float) -> str:
    """The paper estimate: the measured JVM CPU seconds per row, times ``target`` rows, over the useful cores."""
    cores = nodes * node_cores * efficiency
    load = r["load_cpu"] / r["rows"] * target / cores
    kpis = r["kpis_cpu"] / r["rows"] * target / cores
    return (f"paper estimate for {target:,} deals on {nodes} nodes x {node_cores} cores at {efficiency:.0%} useful: "
            f"load + checks {load / 60:.0f} min, KPI suite {kpis / 60:.0f} min (from "
            f"{r['load_cpu'] / r['rows'] * 1e6:.1f} and {r['kpis_cpu'] / r['rows'] * 1e6:.1f} CPU us per row at "
            f"{r['rows']:,} rows; extrapolated, not measured)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="5e6", help="deals per run, comma-separated (default 5e6)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--memory", default="6g", help="driver memory (local mode: the executors' too)")
    ap.add_argument("--partitions", type=int, default=16, help="spark.sql.shuffle.partitions")
    ap.add_argument("--target", type=float, default=1e9, help="deals of the paper estimate (default 1e9)")
    ap.add_argument("--nodes", type=int, default=16)
    ap.add_argument("--node-cores", type=int, default=16)
    ap.add_argument("--efficiency", type=float, default=0.6)
    args = ap.parse_args(argv)
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    spark = session(args.cores, args.memory, args.partitions)
    rows = []
    print("| deals | rows read | quarantined | load + checks: wall s | JVM CPU s | CPU us/row | KPI suite: wall s | "
          "JVM CPU s | CPU us/row | load average |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        r = run(spark, n)
        rows.append(r)
        print(f"| {n:,} | {r['rows']:,} | {r['quarantined']:,} | {r['load']:.1f} | {r['load_cpu']:.1f} | "
              f"{r['load_cpu'] / r['rows'] * 1e6:.1f} | {r['kpis']:.1f} | {r['kpis_cpu']:.1f} | "
              f"{r['kpis_cpu'] / r['rows'] * 1e6:.1f} | {r['load_avg']:.1f} |", flush=True)
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        x = math.log(b["rows"] / a["rows"])
        k = {key: math.log(b[key] / a[key]) / x for key in ("load", "load_cpu", "kpis", "kpis_cpu")}
        print(f"\ngrowth exponent (cost ~ rows^k) from {a['rows']:,} to {b['rows']:,} rows: load {k['load']:.2f} "
              f"wall, {k['load_cpu']:.2f} CPU; KPI suite {k['kpis']:.2f} wall, {k['kpis_cpu']:.2f} CPU")
    print("\n" + estimate(rows[-1], target=int(args.target), nodes=args.nodes, node_cores=args.node_cores,
                          efficiency=args.efficiency))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
