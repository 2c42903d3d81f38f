"""Time `salesops report` against Jupyter's own overhead.

The full report (every numbered notebook on the sample data, HTML export, KPI table, findings, manifest)
is compared with executing the same number of bare notebooks that only import the kit and load the
data (papermill, same kernel, same parameters, no export). Target: ratio <= 2.

    python benchmarks/bench_report.py                      # all notebooks, data/sample
    python benchmarks/bench_report.py --notebooks 00,01    # a subset (faster)
    python benchmarks/bench_report.py --data DIR --mapping hubspot

Prints the per-notebook times of both runs, the report's own work outside the notebooks, and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from salesops_kit.report import build_report, find_notebooks, sample_data_dir


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


def run_bare(n: int, params: dict, work: Path) -> list[float]:
    import papermill as pm

    src = bare_notebook(work / "bare.ipynb")
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        pm.execute_notebook(str(src), str(work / f"bare_{i}.ipynb"), parameters=params, cwd=str(work),
                            kernel_name="python3", progress_bar=False, log_output=False,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
        times.append(time.perf_counter() - t0)
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(sample_data_dir()))
    ap.add_argument("--mapping", default="canonical")
    ap.add_argument("--notebooks", default=None, help="comma-separated numbers (default: all)")
    ap.add_argument("--target", type=float, default=2.0)
    args = ap.parse_args(argv)
    sel = args.notebooks.split(",") if args.notebooks else None
    nbs = find_notebooks(select=sel)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        res = build_report(args.data, mapping=args.mapping, out_dir=work / "report", notebooks=sel, progress=False)
        full = time.perf_counter() - t0
        executed = [r for r in res.runs if r.status != "skipped"]
        slow = {r.notebook: slowest_cells(work / "report" / "_executed" / f"{r.notebook}.ipynb") for r in executed}
        params = {"data_dir": str(Path(args.data).resolve()), "mapping": args.mapping, "as_of": None}
        t0 = time.perf_counter()
        bare = run_bare(len(executed), params, work)
        base = time.perf_counter() - t0

    print(f"{'notebook':32s} {'status':8s} {'report s':>9s} {'bare s':>8s}")
    for r, b in zip(executed, bare, strict=True):
        print(f"{r.notebook:32s} {r.status:8s} {r.seconds:9.1f} {b:8.1f}")
    for r in res.runs:
        if r.status == "skipped":
            print(f"{r.notebook:32s} {'skipped':8s} {'':>9s} {'':>8s}  (needs {', '.join(r.missing)})")
    print("\nslowest cells (papermill's timing):")
    for nb, cells in slow.items():
        print(f"  {nb}: " + "; ".join(f"[{n}] {d:.1f}s {src!r}" for d, n, src in cells))
    in_nbs = sum(r.seconds for r in executed)
    print(f"\nnotebooks: {len(nbs)} found, {len(executed)} executed")
    print(f"full report wall time     {full:8.1f} s  (notebooks {in_nbs:.1f} s + report's own work {full - in_nbs:.1f} s:"
          " load, KPI table, HTML export, findings, manifest)")
    print(f"bare notebooks wall time  {base:8.1f} s  (import the kit + load the data, {len(bare)} kernels)")
    ratio = full / base if base else float("nan")
    print(f"ratio full / bare         {ratio:8.2f}  (target <= {args.target:g}: {'met' if ratio <= args.target else 'NOT met'})")
    if res.kpi_errors:
        print("KPI errors:", *res.kpi_errors, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
