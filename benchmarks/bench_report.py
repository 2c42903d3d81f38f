"""Time `salesops report` against Jupyter's own overhead.

The full report (every numbered notebook on the sample data, HTML export, KPI table, findings, manifest)
is compared with executing the same number of bare notebooks that only import the kit and load the
data (papermill, same kernel, same parameters, no export). Target: ratio <= 2.

The report runs several notebooks at a time (see ``report.default_jobs``), so three ratios
are printed: the report as shipped against bare notebooks run one after another; the same against bare
notebooks run as many at a time; and the report run one notebook at a time against bare notebooks run one
after another (the analysis's cost against Jupyter's, with no help from the second core).

    python benchmarks/bench_report.py                      # all notebooks, data/sample
    python benchmarks/bench_report.py --notebooks 00,01    # a subset (faster)
    python benchmarks/bench_report.py --data DIR --mapping hubspot

Prints the per-notebook times of both runs, the report's own work outside the notebooks, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from salesops_kit.report import build_report, default_jobs, find_notebooks, sample_data_dir


def bare_notebook(path: Path) -> Path:
    """A notebook that only imports the kit and loads the data (what every report notebook does first)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# bare\n\nImport the kit and load the data; nothing else."),
                nbformat.v4.new_code_cell("import salesops_kit")]
    p = nbformat.v4.new_code_cell('data_dir = "../data/sample"\nmapping = "canonical"\nas_of = None')
    p.metadata["tags"] = ["parameters"]
    nb.cells += [p, nbformat.v4.new_code_cell("ds = salesops_kit.load_dataset(data_dir, mapping=mapping, as_of=as_of)\n"
                                              "ds.account")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def slowest_cells(path: Path, k: int = 3) -> list[tuple[float, int, str]]:
    """The ``k`` slowest code cells of an executed notebook: (seconds, execution count, first line)."""
    if not path.exists():
        return []
    nb = nbformat.read(path, as_version=4)
    def first_line(src: str) -> str:
        lines = [ln for ln in src.splitlines() if ln.strip() and not ln.lstrip().startswith(("#", "%"))]
        return (lines or [""])[0].strip()[:60]

    cells = [((c.metadata.get("papermill") or {}).get("duration") or 0.0, c.execution_count or 0,
              first_line(c.source)) for c in nb.cells if c.cell_type == "code"]
    return sorted(cells, reverse=True)[:k]


def run_bare(n: int, params: dict, work: Path, *, jobs: int = 1) -> list[float]:
    """Execute ``n`` bare notebooks, ``jobs`` at a time (each in its own kernel, as the report does); returns
    each notebook's seconds."""
    from concurrent.futures import ThreadPoolExecutor

    import papermill as pm

    src = bare_notebook(work / "bare.ipynb")

    def one(i: int) -> float:
        t0 = time.perf_counter()
        pm.execute_notebook(str(src), str(work / f"bare_{i}.ipynb"), parameters=params, kernel_name="python3",
                            progress_bar=False, log_output=False, resources={"metadata": {"path": str(work)}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
        return time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=jobs) as ex:
        return list(ex.map(one, range(n)))


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(sample_data_dir()))
    ap.add_argument("--mapping", default="canonical")
    ap.add_argument("--notebooks", default=None, help="comma-separated numbers (default: all)")
    ap.add_argument("--target", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=1, help="rounds; medians are reported (default 1)")
    ap.add_argument("--jobs", type=int, default=None, help="the report's notebooks at once (default: as shipped)")
    args = ap.parse_args(argv)
    sel = args.notebooks.split(",") if args.notebooks else None
    nbs = find_notebooks(select=sel)
    jobs = args.jobs or default_jobs(None, len(nbs))
    params = {"data_dir": str(Path(args.data).resolve()), "mapping": args.mapping, "as_of": None}
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for k in range(args.repeat):  # round-robin, so a change in the machine's load hits every approach alike
            res, full = timed(build_report, args.data, mapping=args.mapping, out_dir=work / f"par{k}", notebooks=sel,
                              progress=False, jobs=jobs)
            seq_res, seq = timed(build_report, args.data, mapping=args.mapping, out_dir=work / f"seq{k}",
                                 notebooks=sel, progress=False, jobs=1)
            executed = [r for r in seq_res.runs if r.status != "skipped"]
            bare_seq, base_seq = timed(run_bare, len(executed), params, work, jobs=1)
            _, base_par = timed(run_bare, len(executed), params, work, jobs=jobs)
            rounds.append({"full": full, "seq": seq, "base_seq": base_seq, "base_par": base_par,
                           "runs": executed, "bare": bare_seq, "res": res, "slow": {
                               r.notebook: slowest_cells(work / f"seq{k}" / "_executed" / f"{r.notebook}.ipynb")
                               for r in executed}})
    med = {key: statistics.median(r[key] for r in rounds) for key in ("full", "seq", "base_seq", "base_par")}
    last = rounds[-1]
    print(f"{'notebook':32s} {'status':8s} {'report s':>9s} {'bare s':>8s}   (one notebook at a time, last round)")
    for r, b in zip(last["runs"], last["bare"], strict=True):
        print(f"{r.notebook:32s} {r.status:8s} {r.seconds:9.1f} {b:8.1f}")
    for r in last["res"].runs:
        if r.status == "skipped":
            print(f"{r.notebook:32s} {'skipped':8s} {'':>9s} {'':>8s}  (needs {', '.join(r.missing)})")
    print("\nslowest cells (papermill's timing, one notebook at a time):")
    for nb, cells in last["slow"].items():
        print(f"  {nb}: " + "; ".join(f"[{n}] {d:.1f}s {src!r}" for d, n, src in cells))
    n = len(last["runs"])
    print(f"\nnotebooks: {len(nbs)} found, {n} executed; {args.repeat} round(s), medians; this machine: "
          f"{os.cpu_count()} cores, the report runs {jobs} notebook(s) at a time by default")
    runs = ", ".join(f"{r['full']:.1f}" for r in rounds)
    print(f"full report, as shipped ({jobs} at a time)   {med['full']:7.1f} s  (runs: {runs})")
    print(f"full report, one at a time             {med['seq']:7.1f} s")
    print(f"bare notebooks, one at a time          {med['base_seq']:7.1f} s  "
          f"(import the kit + load the data, {n} kernels)")
    print(f"bare notebooks, {jobs} at a time            {med['base_par']:7.1f} s")
    for label, num, den in (("as shipped / bare one at a time", "full", "base_seq"),
                            (f"as shipped / bare {jobs} at a time", "full", "base_par"),
                            ("one at a time / bare one at a time", "seq", "base_seq")):
        ratio = med[num] / med[den] if med[den] else float("nan")
        verdict = "met" if ratio <= args.target else "NOT met"
        print(f"ratio {label:36s} {ratio:5.2f}  (target <= {args.target:g}: {verdict})")
    if last["res"].kpi_errors:
        print("KPI errors:", *last["res"].kpi_errors, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
