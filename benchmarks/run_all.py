"""One entry point for every benchmark: runs them and writes benchmarks/RESULTS.md.

    python benchmarks/run_all.py            # the full targets (about 20-30 minutes on 2 cores)
    python benchmarks/run_all.py --quick    # small sizes, a couple of minutes (development)
    python benchmarks/run_all.py --functions-only --opps 1000000 --orders 4000000   # one section, in place
    python benchmarks/run_all.py --report-scale-only --scales 1,10,100   # `salesops report` at scale, in place

Sections: machine and versions; the KPI suite on every engine vs hand-written DuckDB SQL and idiomatic
pandas (medians, ratios); each KPI function alone against the same references; cost growth with the
fitted exponent; out of core (Parquet about twice DuckDB's memory limit) and the pandas loader's peak
memory; then the other issues' benchmark scripts (funnel, CLV, report, load), run as they are with their own
printed ratios. Every ratio is quoted as measured, met or not.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_functions  # noqa: E402
import bench_kpi_suite  # noqa: E402
import bench_out_of_core  # noqa: E402
import bench_report_scale  # noqa: E402
import bench_scaling  # noqa: E402

FULL = {"opps": 5_000_000, "orders": 20_000_000, "repeat": 3, "sizes": [100_000, 1_000_000, 10_000_000],
        "scale_repeat": 3, "ooc_opps": 2_000_000, "ooc_orders": 8_000_000, "csv": HERE / "_data" / "1000000_5000000",
        "others": {"bench_funnel.py": ["--rows", "1000000", "--repeat", "3"],
                   "bench_clv.py": ["--customers", "200000", "--orders", "2000000", "--repeat", "3"],
                   "bench_report.py": ["--repeat", "3"],
                   "bench_load.py": ["--scale", "0.2"]},
        "timeout": 420}
QUICK = {"opps": 100_000, "orders": 400_000, "repeat": 3, "sizes": [10_000, 100_000, 1_000_000], "scale_repeat": 2,
         "ooc_opps": 300_000, "ooc_orders": 1_200_000, "csv": ROOT / "data" / "sample",
         "others": {"bench_funnel.py": ["--rows", "100000", "--repeat", "2"],
                    "bench_clv.py": ["--customers", "20000", "--orders", "200000", "--repeat", "1", "--skip-lifetimes"],
                    "bench_load.py": ["--scale", "0.02"]},
        "timeout": 240}


def _v(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> list[str]:
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
        mem = f"{kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration):
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    vers = ", ".join(f"{p} {_v(p)}" for p in ("salesops-kit", "pandas", "numpy", "pyarrow", "polars", "duckdb",
                                                "narwhals", "pyspark", "scipy", "lifelines"))
    return [f"- Machine: {cpu}, {os.cpu_count()} cores, {mem}; {platform.platform()}",
            f"- Python {platform.python_version()}; {vers}",
            "- The machine was shared with other work while this ran: absolute times are noisy; approaches that "
            "are compared run round-robin in the same process so load changes hit them alike."]


def run_other(script: str, args: list[str], timeout: int) -> tuple[str, float, str]:
    path = HERE / script
    if not path.exists():
        return "absent", 0.0, ""
    t = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, timeout=timeout,
                           cwd=ROOT)
        status = "ok" if p.returncode == 0 else f"exit code {p.returncode}"
        out = p.stdout + (("\n" + p.stderr[-1500:]) if p.returncode else "")
    except subprocess.TimeoutExpired as e:
        status, out = f"stopped after {timeout} s", (e.stdout or b"").decode() if isinstance(e.stdout, bytes) \
            else (e.stdout or "")
    return status, time.perf_counter() - t, out.strip()


FUNCTIONS_HEADING = "## Each KPI function called alone (issue 17)"


def _load() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def functions_section(opps: int, orders: int, repeat: int, *, log=print) -> list[str]:
    """Runs ``bench_functions`` and returns its RESULTS.md section (the machine's load before and after)."""
    before, t = _load(), time.perf_counter()
    fr = bench_functions.run(opps, orders, repeat, log=log)
    after = _load()
    return [FUNCTIONS_HEADING, "",
            f"Each function alone on **{opps:,} opportunities / {orders:,} orders** (plus as many leads as "
            "opportunities, two activities per lead, a CSAT answer per four opportunities; the loader's derived "
            "`is_won`/`is_closed` columns present on every side), median of at least "
            f"{repeat} round-robin rounds (a fast function gets more, until its rounds add up to "
            f"{bench_functions.MIN_SECONDS:g} s, at most {bench_functions.MAX_ROUNDS}: the rounds column), results "
            "checked equal before any time is kept "
            "(`benchmarks/bench_functions.py`: what each ratio includes). Targets: <= 1.2x hand SQL on DuckDB and "
            "Polars lazy, <= 1.0x idiomatic pandas; a row over target says MISSED.", "",
            f"Written by `python benchmarks/run_all.py --functions-only --opps {opps} --orders {orders} --repeat "
            f"{repeat}` on {_dt.date.today().isoformat()} in {time.perf_counter() - t:.0f} s. Load average (1 / 5 / "
            f"15 min) on this 2-core machine, shared with other work: {before} before, {after} after; absolute "
            "times are inflated by that load, the round-robin ratios less so.", "",
            bench_functions.table(fr), ""]


REPORT_SCALE_HEADING = "## salesops report at scale (issue 17)"


def report_scale_section(scales, engines, *, jobs: int | None = None, notebooks: list[str] | None = None,
                         log=print) -> list[str]:
    """Runs ``bench_report_scale`` and returns its RESULTS.md section (the machine's load before and after)."""
    before, t = _load(), time.perf_counter()
    rs = bench_report_scale.run(scales, engines, jobs=jobs, notebooks=notebooks, log=log)
    after = _load()
    gen = ", ".join(f"scale {s:g}: " + (f"{g:.0f} s" if g is not None else "reused")
                    for s, g in rs["generated_s"].items())
    args = f"--scales {','.join(f'{s:g}' for s in scales)} --engines {','.join(engines)}" + \
        (f" --jobs {jobs}" if jobs else "") + (f" --notebooks {','.join(notebooks)}" if notebooks else "")
    return [REPORT_SCALE_HEADING, "",
            "`salesops report DIR --engine E --no-code` on the sample company generated by `salesops sample --scale "
            "S`, run as a subprocess as a user runs it, "
            + (f"{jobs} notebooks at a time" if jobs else "the report's default jobs")
            + (f", notebooks {', '.join(notebooks)}" if notebooks else ", every notebook")
            + "; one run per engine and scale, checked to exit 0 with every page written. Wall and CPU seconds "
            "include everything (imports, the report's load and KPI table, every kernel, HTML export); CPU is the "
            "whole process tree (getrusage of reaped children, beside a psutil sampling every 0.2 s); peak tree "
            "RSS is the peak of the summed RSS of the report and its kernels (shared pages counted per process: an "
            "upper bound), beside the largest single process (`benchmarks/bench_report_scale.py`). Growth "
            "exponent = log(ratio) / log(deals ratio); target <= 1 (linear or better). Sample generation, not "
            f"counted: {gen}.", "",
            f"Written by `python benchmarks/run_all.py --report-scale-only {args}` on "
            f"{_dt.date.today().isoformat()} in {time.perf_counter() - t:.0f} s. Load average (1 / 5 / 15 min) on "
            f"this {os.cpu_count()}-core machine: {before} before, {after} after.", "",
            bench_report_scale.table(rs), "",
            "Seconds per notebook as the report printed them (notebooks run at the same time overlap):", "",
            bench_report_scale.notebook_table(rs), "",
            *bench_report_scale.growth_lines(rs), ""]


def replace_section(text: str, heading: str, lines: list[str]) -> str:
    """``text`` with the Markdown section ``heading`` (up to the next ``## `` heading) replaced by ``lines``; the
    section goes before the cost-growth section (or at the end) when it is not there yet."""
    rows = text.split("\n")
    new = "\n".join(lines).rstrip("\n").split("\n") + [""]
    if heading in rows:
        i = rows.index(heading)
        j = next((k for k in range(i + 1, len(rows)) if rows[k].startswith("## ")), len(rows))
        return "\n".join(rows[:i] + new + rows[j:])
    j = next((k for k, r in enumerate(rows) if r.startswith("## Cost growth")), len(rows))
    return "\n".join(rows[:j] + new + rows[j:])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run every benchmark and write benchmarks/RESULTS.md")
    ap.add_argument("--quick", action="store_true", help="small sizes (development)")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--skip-others", action="store_true", help="do not run the other issues' scripts")
    ap.add_argument("--functions-only", action="store_true",
                    help="run only bench_functions and replace its section of the existing RESULTS.md")
    ap.add_argument("--opps", type=int, help="with --functions-only: opportunities (default: the run's size)")
    ap.add_argument("--orders", type=int, help="with --functions-only: orders (default: the run's size)")
    ap.add_argument("--repeat", type=int, help="with --functions-only: round-robin rounds")
    ap.add_argument("--report-scale-only", action="store_true",
                    help="run only bench_report_scale and replace its section of the existing RESULTS.md")
    ap.add_argument("--scales", default="1,10,100", help="with --report-scale-only: sample scales")
    ap.add_argument("--engines", default="pandas,polars,duckdb", help="with --report-scale-only: engines")
    ap.add_argument("--jobs", type=int, help="with --report-scale-only: notebooks at once (default: the report's)")
    ap.add_argument("--notebooks", help="with --report-scale-only: e.g. 00,01 (default: all)")
    a = ap.parse_args(argv)
    cfg = QUICK if a.quick else FULL
    if a.functions_only:
        sec = functions_section(a.opps or cfg["opps"], a.orders or cfg["orders"], a.repeat or cfg["repeat"])
        old = a.out.read_text(encoding="utf-8") if a.out.exists() else "# Benchmark results\n"
        a.out.write_text(replace_section(old, FUNCTIONS_HEADING, sec), encoding="utf-8")
        print(f"wrote the functions section of {a.out}")
        return 0
    if a.report_scale_only:
        split = bench_report_scale.csv_list  # the same parsing as the script's own flags
        sec = report_scale_section([float(s) if "." in s else int(s) for s in split(a.scales)], split(a.engines),
                                   jobs=a.jobs, notebooks=split(a.notebooks) if a.notebooks else None)
        old = a.out.read_text(encoding="utf-8") if a.out.exists() else "# Benchmark results\n"
        a.out.write_text(replace_section(old, REPORT_SCALE_HEADING, sec), encoding="utf-8")
        print(f"wrote the report-at-scale section of {a.out}")
        return 0
    t_all = time.perf_counter()
    log_lines: list[str] = []

    def log(msg: str) -> None:
        print(msg, flush=True)
        log_lines.append(msg)

    md = [f"# Benchmark results ({'quick run: small sizes' if a.quick else 'full targets'})", "",
          f"Written by `python benchmarks/run_all.py{' --quick' if a.quick else ''}` on "
          f"{_dt.date.today().isoformat()}. Times are medians of the stated number of runs (seconds).", "",
          "## Machine", "", *machine(), ""]

    log("== KPI suite")
    ks = bench_kpi_suite.run(cfg["opps"], cfg["orders"], cfg["repeat"], log=log)
    m = ks["median_s"]

    def mark(r, t):
        return f"{r:.2f}x ({'met' if r <= t else 'NOT met'}; target <= {t})"
    md += ["## KPI suite on each engine", "",
           f"Stage funnel, win rate by owner, monthly won revenue, sales cycle (Aalen-Johansen with "
           f"{bench_kpi_suite.bf.N_BOOT} bootstrap resamples) and RFM summary on **{ks['n_opps']:,} opportunities "
           f"and {ks['n_orders']:,} orders**, in memory; median of {ks['repeat']} round-robin runs; all approaches "
           "checked to give the same tables.", "",
           "| approach | median s | runs (s) |", "|---|---:|---|"]
    names = {"sql": "hand-written DuckDB SQL", "kit_duckdb": "kit on a DuckDB relation",
             "kit_polars_lazy": "kit on a Polars LazyFrame", "kit_pandas": "kit on pandas",
             "pandas": "idiomatic hand-written pandas"}
    for k, lab in names.items():
        md.append(f"| {lab} | {m[k]:.2f} | {', '.join(f'{x:.2f}' for x in ks['all_s'][k])} |")
    per = {k: [x / y for x, y in zip(ks["all_s"][k], ks["all_s"][ref], strict=True)]
           for k, ref in (("kit_duckdb", "sql"), ("kit_polars_lazy", "sql"), ("kit_pandas", "pandas"))}
    md += ["", "Ratios of medians (per-round ratios in brackets: the machine's load changed between rounds):", "",
           f"- kit on DuckDB / SQL: {mark(ks['ratio_duckdb_vs_sql'], 1.2)} "
           f"[{', '.join(f'{r:.2f}' for r in per['kit_duckdb'])}]",
           f"- kit on Polars lazy / SQL: {mark(ks['ratio_polars_vs_sql'], 1.2)} "
           f"[{', '.join(f'{r:.2f}' for r in per['kit_polars_lazy'])}]",
           f"- kit on pandas / idiomatic pandas: {mark(ks['ratio_pandas_vs_pandas'], 1.0)} "
           f"[{', '.join(f'{r:.2f}' for r in per['kit_pandas'])}]", ""]

    log("== each function alone")
    md += functions_section(cfg["opps"], cfg["orders"], cfg["repeat"], log=log)

    log("== cost growth")
    sc = bench_scaling.run(cfg["sizes"], cfg["scale_repeat"], log=log)
    md += ["## Cost growth", "", f"The same suite at {', '.join(f'{n:,}' for n in sc['sizes'])} rows (opportunities "
           f"and orders each); median of {cfg['scale_repeat']} runs.", "",
           "| rows | " + " | ".join(sc["median_s"]) + " |", "|---:|" + "---:|" * len(sc["median_s"])]
    for i, n in enumerate(sc["sizes"]):
        md.append(f"| {n:,} | " + " | ".join(f"{v[i]:.2f}" for v in sc["median_s"].values()) + " |")
    md.append("")
    for eng, e in sc["exponent"].items():
        md.append(f"- {eng}: fitted exponent {e['fit']:.2f} over all sizes, {e['largest_step']:.2f} between the two "
                  f"largest ({'linear or better' if e['largest_step'] <= 1.05 else 'worse than linear'}; target <= 1)")
    md.append("")

    log("== out of core")
    oc = bench_out_of_core.out_of_core(cfg["ooc_opps"], cfg["ooc_orders"], log=log)
    csv = cfg["csv"] if Path(cfg["csv"]).exists() else ROOT / "data" / "sample"
    lm = bench_out_of_core.loader_memory(csv, log=log)
    md += ["## Out of core and memory", "",
           f"- Parquet dataset: {oc['n_opps']:,} opportunities + {oc['n_orders']:,} orders, "
           f"{oc['in_memory_mib']:,.0f} MiB in memory (Arrow), {oc['disk_mib']:,.0f} MiB on disk; DuckDB "
           f"`SET memory_limit` = {oc['memory_limit_mib']:,.0f} MiB (data / limit = "
           f"{oc['in_memory_mib'] / oc['memory_limit_mib']:.1f}).",
           "- Lazy loader (`load_dataset(engine=\"duckdb\")`: parsing, checks, quarantine, row account) under the "
           "limit: " + (f"completed in {oc['loader_s']:.1f} s" if "loader_s" in oc else
                        f"**failed**: {oc.get('loader_error')}") + ".",
           "- KPI suite on relations read from the Parquet files under the limit: "
           + (f"completed in {oc['suite_s']:.1f} s" if oc.get("suite_ok") else f"**failed**: {oc.get('suite_error')}")
           + ".",
           f"- `load_dataset` + `quality.audit` on pandas ({Path(lm['data']).name}: "
           + ", ".join(f"{k} {v:,}" for k, v in lm["rows"].items()) + f" rows): {lm['seconds']:.1f} s, peak RSS "
           f"{lm['peak_mib']:,.0f} MiB, of which {lm['imports_mib']:,.0f} MiB is Python and the libraries; "
           f"loaded tables {lm['loaded_mib']:,.0f} MiB (deep). Peak / loaded = {lm['ratio']:.2f}x, (peak - imports) / "
           f"loaded = {lm['ratio_above_imports']:.2f}x ({'met' if lm['ratio_above_imports'] <= 2 else 'NOT met'}; "
           "target <= 2).", ""]

    if not a.skip_others:
        md += ["## The other issues' benchmarks", "",
               "Run as subprocesses with the arguments shown; their own output, verbatim.", ""]
        for script, args in cfg["others"].items():
            log(f"== {script} {' '.join(args)}")
            status, secs, out = run_other(script, args, cfg["timeout"])
            log(out[-3000:])
            md += [f"### {script} {' '.join(args)} — {status}, {secs:.0f} s", "", "```", out[-4000:] or "(no output)",
                   "```", ""]
    md += [f"Total wall time of this run: {time.perf_counter() - t_all:.0f} s.", ""]
    old = a.out.read_text(encoding="utf-8").split("\n") if a.out.exists() else []
    if REPORT_SCALE_HEADING in old:  # measured apart (--report-scale-only, an hour or more): kept, not dropped
        i = old.index(REPORT_SCALE_HEADING)
        j = next((k for k in range(i + 1, len(old)) if old[k].startswith("## ")), len(old))
        md = replace_section("\n".join(md), REPORT_SCALE_HEADING, old[i:j]).split("\n")
    a.out.write_text("\n".join(md), encoding="utf-8")
    log(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
