"""`salesops report` on the sample company at growing scale (issue 17): time and peak memory per engine.

For each scale (default 1, 10, 100: about 6.5k, 65k and 650k deals) the sample company is generated once by
``salesops sample --scale S`` into ``benchmarks/_data/sample_x<S>/`` (git-ignored; reused when present; its
generation is timed apart and counted nowhere else). Then, for each engine (pandas, Polars, DuckDB),
``salesops report DIR --engine E --no-code --no-progress --out TMP`` runs as a subprocess exactly as a user
runs it (default jobs unless ``--jobs``; every notebook unless ``--notebooks``), into a temporary folder deleted
afterwards. A run counts only when it exits 0 and every selected notebook's HTML page and ``index.html``
exist; otherwise the report's output and the tracebacks in its executed notebooks are printed and the run is
marked failed (no numbers from it enter the growth exponents).

Measured per run, everything included (interpreter start, imports, the report's own load, data account,
quarantine and KPI table, every notebook kernel, HTML export):

- wall seconds, from starting the process to its exit;
- CPU seconds (user + system) of the whole process tree: the difference of
  ``resource.getrusage(RUSAGE_CHILDREN)`` around the run, which counts every descendant that was reaped
  (the report, its kernels, its KPI worker); checked against a psutil sampling of the tree every 0.2 s (last
  value seen per process: a little lower, as it misses each process's final fraction of a second);
- peak memory: the peak over the samples of the SUM of RSS over the process tree (kernels run at the same
  time, each loading the data; pages shared between processes, such as libraries, are counted once per
  process, so this is an upper bound of the physical memory used), and the largest single process's peak RSS;
- the machine's 1-minute load average before and after the run (the machine may be shared: times are noisy).

Growth exponents per engine between consecutive scales: log(metric ratio) / log(deals ratio) for wall, CPU and
peak tree memory; the target is <= 1 (linear or better). Every number is measured by this run.

    python benchmarks/bench_report_scale.py                          # scales 1, 10, 100; pandas, polars, duckdb
    python benchmarks/bench_report_scale.py --scales 1 --engines duckdb --notebooks 00,01
    python benchmarks/bench_report_scale.py --scales 100 --generate-only   # only write the sample data
    python benchmarks/run_all.py --report-scale-only                 # the same, into RESULTS.md's section
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
ENGINES = ("pandas", "polars", "duckdb")
SCALES = (1, 10, 100)
INTERVAL = 0.2
MIB = 2**20


def _salesops() -> list[str]:
    """The ``salesops`` command of this interpreter's environment."""
    exe = Path(sys.executable).parent / "salesops"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("salesops")
    if found:
        return [found]
    raise FileNotFoundError(f"No `salesops` command next to {sys.executable} nor on PATH: install the kit "
                            "(pip install -e .) in this environment.")


def _scale_name(scale: float) -> str:
    return f"{scale:g}"


def _rows(path: Path) -> int:
    """Data rows of a CSV file (quoted line breaks counted once)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


def sample_dir(scale: float, *, log=print) -> tuple[Path, float | None]:
    """The sample company at ``scale`` in ``_data/sample_x<scale>/``: generated when absent (written to a temporary
    sibling first, so an interrupted generation leaves nothing half-written). Returns (folder, generation seconds,
    None when it was already there)."""
    target = DATA / f"sample_x{_scale_name(scale)}"
    if (target / "opportunities.csv").exists() and (target / "orders.csv").exists():
        return target, None
    DATA.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".sample_x{_scale_name(scale)}_", dir=DATA))
    log(f"generating the sample at scale {_scale_name(scale)} into {target}")
    t = time.perf_counter()
    p = subprocess.run([*_salesops(), "sample", "--scale", _scale_name(scale), "--out", str(tmp)],
                       capture_output=True, text=True)
    secs = time.perf_counter() - t
    if p.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"`salesops sample --scale {_scale_name(scale)}` failed (exit {p.returncode}):\n"
                           f"{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    return target, secs


class TreeSampler(threading.Thread):
    """Samples a process and its descendants every ``interval`` seconds: the peak of the summed RSS, the largest
    single process's peak RSS, the most processes alive at once and the last CPU time seen per process."""

    def __init__(self, pid: int, interval: float = INTERVAL):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_tree = self.peak_proc = 0
        self.max_procs = self.samples = 0
        self.cpu: dict[tuple[int, float], float] = {}
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())

    def _sample(self, root: psutil.Process) -> bool:
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return False
        total = alive = 0
        for p in procs:
            try:
                with p.oneshot():
                    rss = p.memory_info().rss
                    ct = p.cpu_times()
                    key = (p.pid, p.create_time())
            except (psutil.NoSuchProcess, psutil.AccessDenied):  # gone between listing and reading
                continue
            total += rss
            alive += 1
            self.peak_proc = max(self.peak_proc, rss)
            self.cpu[key] = ct.user + ct.system
        self.peak_tree = max(self.peak_tree, total)
        self.max_procs = max(self.max_procs, alive)
        self.samples += 1
        return True

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop_event.is_set():
            if not self._sample(root):
                return
            self._stop_event.wait(self.interval)


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _load1() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _expected_pages(notebooks: list[str] | None) -> list[str]:
    from salesops_kit.report import find_notebooks
    from salesops_kit.report.exports import safe_filename

    return [f"{safe_filename(nb.stem)}.html" for nb in find_notebooks(select=notebooks)] + ["index.html"]


def _tracebacks(executed: Path, limit: int = 60) -> str:
    """The error outputs of the executed notebooks in ``executed`` (ANSI colours removed, last ``limit`` lines)."""
    import nbformat

    out = []
    for path in sorted(executed.glob("*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as exc:  # noqa: BLE001 - an unreadable notebook is itself worth saying
            out.append(f"--- {path.name}: unreadable ({exc})")
            continue
        for cell in nb.cells:
            for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
                if o.get("output_type") == "error":
                    tb = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(o.get("traceback", [])))
                    out.append(f"--- {path.name}, cell [{cell.get('execution_count')}]:\n"
                               + "\n".join(tb.splitlines()[-limit:]))
    return "\n".join(out)


def run_report(data: Path, engine: str, *, jobs: int | None = None, notebooks: list[str] | None = None,
               timeout: float | None = None, log=print) -> dict:
    """One ``salesops report`` run as a subprocess, measured; ``ok`` says whether it succeeded."""
    with tempfile.TemporaryDirectory(prefix=f"report_scale_{engine}_") as tmp:
        out = Path(tmp) / "report"
        cmd = [*_salesops(), "report", str(data), "--engine", engine, "--no-code", "--no-progress", "--out", str(out)]
        if jobs is not None:
            cmd += ["--jobs", str(jobs)]
        if notebooks:
            cmd += ["--notebooks", ",".join(notebooks)]
        load_before, cpu0, t0 = _load1(), _cpu_children(), time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                kids = psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                kids = []
            for child in kids:  # the kernels too, by their ids
                try:
                    child.kill()
                except psutil.NoSuchProcess:
                    pass
            proc.kill()
            stdout, stderr = proc.communicate()
            stderr += f"\n(stopped after {timeout} s)"
        wall = time.perf_counter() - t0
        cpu = _cpu_children() - cpu0
        sampler.stop()
        load_after = _load1()
        missing = [p for p in _expected_pages(notebooks) if not (out / p).exists()]
        ok = proc.returncode == 0 and not missing
        per_nb = {m.group(2): float(m.group(3))
                  for m in re.finditer(r"^(ok|failed|skipped)\s+(\S+)\s+([\d.]+)s", stdout, re.M)}
        res = {"engine": engine, "ok": ok, "exit": proc.returncode, "missing": missing, "wall_s": wall,
               "cpu_s": cpu, "cpu_sampled_s": sampler.cpu_seconds, "peak_tree_mib": sampler.peak_tree / MIB,
               "peak_proc_mib": sampler.peak_proc / MIB, "max_procs": sampler.max_procs,
               "samples": sampler.samples, "load_before": load_before, "load_after": load_after,
               "notebook_s": per_nb, "command": " ".join(cmd[1:])}
        if not ok:
            res["failure"] = (f"exit code {proc.returncode}; pages missing: {', '.join(missing) or 'none'}\n"
                              f"--- stdout:\n{stdout[-4000:]}\n--- stderr:\n{stderr[-6000:]}\n"
                              "--- tracebacks in the executed notebooks:\n"
                              + (_tracebacks(out / "_executed") or "(none: no notebook cell raised)"))
            log(res["failure"])
        return res


def run(scales=SCALES, engines=ENGINES, *, jobs: int | None = None, notebooks: list[str] | None = None,
        generate_only: bool = False, timeout: float | None = None, log=print) -> dict:
    """Generate (or reuse) the sample at every scale, then run the report for every engine at every scale."""
    data, generated, rows = {}, {}, {}
    for s in scales:
        data[s], generated[s] = sample_dir(s, log=log)
        rows[s] = {"deals": _rows(data[s] / "opportunities.csv"), "orders": _rows(data[s] / "orders.csv")}
        gen = f"generated in {generated[s]:.1f} s" if generated[s] is not None else "reused"
        log(f"scale {_scale_name(s)}: {data[s]} ({gen}): {rows[s]['deals']:,} deals, {rows[s]['orders']:,} orders")
    runs = []
    if not generate_only:
        for s in scales:
            for e in engines:
                log(f"== report, engine {e}, scale {_scale_name(s)}")
                r = run_report(data[s], e, jobs=jobs, notebooks=notebooks, timeout=timeout, log=log)
                r.update(scale=s, **rows[s])
                runs.append(r)
                log(f"   {'ok' if r['ok'] else 'FAILED'}: wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s "
                    f"(sampled {r['cpu_sampled_s']:.1f} s), peak tree RSS {r['peak_tree_mib']:,.0f} MiB, largest "
                    f"process {r['peak_proc_mib']:,.0f} MiB, {r['max_procs']} processes at most")
    return {"scales": list(scales), "engines": list(engines), "jobs": jobs, "notebooks": notebooks, "rows": rows,
            "generated_s": generated, "runs": runs}


def table(res: dict) -> str:
    """The runs as a Markdown table."""
    lines = ["| engine | scale | deals | orders | status | wall s | CPU s | CPU s (psutil sampled) | peak tree RSS MiB "
             "| largest process MiB | processes | load 1-min before / after |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in res["runs"]:
        lines.append(f"| {r['engine']} | {_scale_name(r['scale'])} | {r['deals']:,} | {r['orders']:,} | "
                     f"{'ok' if r['ok'] else 'FAILED'} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{r['cpu_sampled_s']:.1f} | {r['peak_tree_mib']:,.0f} | {r['peak_proc_mib']:,.0f} | "
                     f"{r['max_procs']} | {r['load_before']:.1f} / {r['load_after']:.1f} |")
    return "\n".join(lines)


def notebook_table(res: dict) -> str:
    """Seconds per notebook as the report printed them (notebooks run several at a time: they overlap)."""
    names = sorted({n for r in res["runs"] for n in r["notebook_s"]})
    if not names:
        return ""
    lines = ["| engine | scale | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for r in res["runs"]:
        cells = [f"{r['notebook_s'][n]:.1f}" if n in r["notebook_s"] else "" for n in names]
        lines.append(f"| {r['engine']} | {_scale_name(r['scale'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


METRICS = (("wall_s", "wall"), ("cpu_s", "CPU"), ("peak_tree_mib", "peak tree RSS"))


def growth(res: dict) -> list[dict]:
    """Per engine and consecutive pair of scales that both succeeded: log(metric ratio) / log(deals ratio)."""
    out = []
    for e in res["engines"]:
        ok = sorted((r for r in res["runs"] if r["engine"] == e and r["ok"]), key=lambda r: r["scale"])
        for a, b in zip(ok, ok[1:], strict=False):
            d = math.log(b["deals"] / a["deals"])
            out.append({"engine": e, "from": a["scale"], "to": b["scale"], "deals_ratio": b["deals"] / a["deals"],
                        **{k: math.log(b[k] / a[k]) / d for k, _ in METRICS}})
    return out


def growth_lines(res: dict) -> list[str]:
    def mark(x: float) -> str:
        return f"{x:.2f} ({'linear or better' if x <= 1 else 'worse than linear'})"

    lines = [f"- {g['engine']}, scale {_scale_name(g['from'])} to {_scale_name(g['to'])} "
             f"(deals x{g['deals_ratio']:.2f}): " + ", ".join(f"{lab} {mark(g[k])}" for k, lab in METRICS)
             for g in growth(res)]
    failed = [r for r in res["runs"] if not r["ok"]]
    lines += [f"- {r['engine']} at scale {_scale_name(r['scale'])} FAILED (exit code {r['exit']}): no growth "
              "exponent through it." for r in failed]
    return lines or ["- fewer than two successful scales per engine: no growth exponent."]


def csv_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Time `salesops report` on the sample company at growing scale")
    ap.add_argument("--scales", default=",".join(map(str, SCALES)), help="comma-separated (default: 1,10,100)")
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated (default: pandas,polars,duckdb)")
    ap.add_argument("--jobs", type=int, default=None, help="passed to the report (default: the report's own)")
    ap.add_argument("--notebooks", default=None, help="passed to the report, e.g. 00,01 (default: all)")
    ap.add_argument("--generate-only", action="store_true", help="only generate the sample data that is missing")
    ap.add_argument("--timeout", type=float, default=None, help="stop a report after this many seconds")
    a = ap.parse_args(argv)
    scales = [float(s) if "." in s else int(s) for s in csv_list(a.scales)]
    engines = csv_list(a.engines)
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        ap.error(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    res = run(scales, engines, jobs=a.jobs, notebooks=csv_list(a.notebooks) if a.notebooks else None,
              generate_only=a.generate_only, timeout=a.timeout)
    if a.generate_only:
        return 0
    print()
    print(table(res))
    print()
    print(notebook_table(res))
    print()
    print("Growth exponents, log(metric ratio) / log(deals ratio); target <= 1:")
    print("\n".join(growth_lines(res)))
    return 0 if all(r["ok"] for r in res["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
