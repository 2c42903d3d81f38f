"""``salesops`` command line: report | kpis | audit | sample | notebooks | mapping suggest."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _common(p: argparse.ArgumentParser, *, data_optional: bool = False) -> None:
    if data_optional:
        p.add_argument("data", nargs="?", default=None,
                       help="folder of export files (default: the bundled sample company)")
    else:
        p.add_argument("data", help="folder of export files")
    p.add_argument("--mapping", "-m", default=None,
                   help="built-in mapping (canonical, salesforce, hubspot, zoho, jiandaoyun, pipedrive) or a YAML path")
    p.add_argument("--as-of", default=None, help="analysis date YYYY-MM-DD (default: latest date in the data)")


def _engine(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=("pandas", "polars", "duckdb", "spark"), default="pandas",
                   help="pandas (default) reads the files into memory; polars, duckdb or spark scan CSV/Parquet "
                        "lazily and compute the scans in that engine (spark: DATA may be a URI or a catalog "
                        "database; README, 'Big data')")
    p.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                   help="a Spark setting for --engine spark, repeatable (e.g. spark.master=yarn)")


def _spark_conf(args) -> None:
    """--spark-conf settings, handed to every Spark session the kit makes (this one and the notebooks')."""
    if not getattr(args, "spark_conf", None):
        return
    bad = [c for c in args.spark_conf if "=" not in c or not c.split("=", 1)[0].strip()]
    if bad:
        raise ValueError(f"--spark-conf takes KEY=VALUE (e.g. spark.executor.memory=8g); got {', '.join(bad)}")
    if args.engine != "spark":
        raise ValueError("--spark-conf needs --engine spark")
    from .engines import SPARK_CONF_ENV

    os.environ[SPARK_CONF_ENV] = "\n".join(args.spark_conf)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="salesops", description="Sales-operations analysis kit.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("report", help="run the notebooks on a dataset and write HTML reports")
    _common(p, data_optional=True)
    p.add_argument("--out", default="reports", help="output folder (default: reports/)")
    p.add_argument("--no-code", action="store_true", help="management version without code cells")
    p.add_argument("--notebooks", default=None, help="comma-separated numbers, e.g. 01,03 (default: all)")
    p.add_argument("--period", default=None,
                   help="review period for KPI monitoring, e.g. 2025-11 (default: the last complete period)")
    p.add_argument("--lang", choices=("en", "zh"), default="en",
                   help="language of the pages, chart labels and findings (zh: Chinese)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: only when standard error is a terminal)")
    p.add_argument("--jobs", "-j", type=int, default=None,
                   help="notebooks run at once, each in its own kernel (default: one more than the cores, at "
                        "most 4, fewer for large data; 1 runs them one after another)")
    _engine(p)

    p = sub.add_parser("kpis", help="print the headline KPI table")
    _common(p)
    p.add_argument("--format", choices=("csv", "json", "xlsx"), default="csv",
                   help="csv and xlsx neutralise text that a spreadsheet would run as a formula")
    p.add_argument("--out", default=None, help="write to this file instead of standard output (required for xlsx)")
    _engine(p)

    p = sub.add_parser("audit", help="what was read, kept and quarantined, and why")
    _common(p)
    p.add_argument("--quarantine-dir", default=None, help="write rejected rows per table as CSV here")
    p.add_argument("--unknown-stages", choices=("error", "quarantine"), default="error",
                   help="stage labels the mapping does not know: stop with the lines to add (default) "
                        "or quarantine those deals and list them")
    p.add_argument("--lang", choices=("en", "zh"), default="en",
                   help="language of the audit's headings, reasons and findings (zh: Chinese)")

    p = sub.add_parser("sample", help="generate the synthetic sample company")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=float, default=1.0, help="multiply row counts (1 ≈ 6.5k opportunities; 153 ≈ 1M)")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")

    p = sub.add_parser("notebooks", help="write the numbered notebooks in a language for JupyterLab (outputs cleared)")
    p.add_argument("--lang", choices=("en", "zh"), default="zh", help="language of the markdown (default: zh)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--data", default=None, help="folder of export files (default: the bundled sample company)")
    p.add_argument("--mapping", "-m", default=None, help="mapping to set in the notebooks (default: theirs)")
    p.add_argument("--notebooks", default=None, help="comma-separated numbers, e.g. 01,03 (default: all)")

    p = sub.add_parser("mapping", help="mapping helpers")
    msub = p.add_subparsers(dest="mapping_command", required=True)
    s = msub.add_parser("suggest", help="draft a mapping YAML for an unknown export file")
    s.add_argument("file")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (ValueError, LookupError, FileNotFoundError, UnicodeDecodeError) as exc:
        print(f"salesops {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    _spark_conf(args)
    if args.command == "report":
        from .report.runner import build_report

        sel = [x for x in args.notebooks.split(",") if x.strip()] if args.notebooks else None
        res = build_report(args.data, mapping=args.mapping, out_dir=args.out, as_of=args.as_of,
                           notebooks=sel, no_code=args.no_code, lang=args.lang, progress=args.progress,
                           period=args.period, jobs=args.jobs, engine=args.engine)
        for r in res.runs:
            line = f"{r.status:8s} {r.notebook:32s} {r.seconds:6.1f}s  {r.html}"
            if r.status == "failed":
                line += f"\n         failed at cell [{r.failed_cell}]: {r.error}"
            elif r.missing:
                line += f"\n         skipped: needs table(s) {', '.join(r.missing)}"
            print(line)
        for err in res.kpi_errors:
            print(f"salesops report: warning: KPI not computed: {err}", file=sys.stderr)
        print(f"index: {res.out_dir / 'index.html'}")
        return 0 if res.ok else 1

    if args.command == "kpis":
        from .data.currency import single_currency
        from .data.load import open_dataset
        from .kpis import engine_kpi_table, kpi_frame, provider_rows
        from .report.exports import csv_text, write_xlsx

        if args.format == "xlsx" and not args.out:
            raise ValueError("--format xlsx needs --out FILE.xlsx")
        # the files read and checked once on a lazy engine, not again by every KPI scan (as a notebook loads them)
        ds = open_dataset(args.data, mapping=args.mapping, as_of=args.as_of, engine=args.engine)
        if args.engine == "pandas":  # a failing provider is named; the others' KPIs are still written
            rows, errors = provider_rows(ds)
            df = kpi_frame([r for rs in rows.values() for r in rs], currency=single_currency(ds))
        else:
            df, errors = engine_kpi_table(ds)
        if args.engine == "spark":  # the KPI table is computed: free the tables kept on the executors
            from .engines import release

            release(ds)
        for err in errors:
            print(f"salesops kpis: error: KPI not computed: {err}", file=sys.stderr)
        status = 1 if errors else 0
        if args.format == "xlsx":
            write_xlsx(df, Path(args.out))
            return status
        text = df.to_json(orient="records", force_ascii=False, indent=1) if args.format == "json" else csv_text(df)
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return status

    if args.command == "audit":
        import os

        from .data import audit as quality
        from .data.load import load_dataset
        from .i18n import LANG_ENV, t, tr

        ds = load_dataset(args.data, mapping=args.mapping, as_of=args.as_of, unknown_stages=args.unknown_stages)
        result = quality.audit(ds)
        print(result.text(args.lang))
        before = os.environ.get(LANG_ENV)
        os.environ[LANG_ENV] = args.lang  # the findings' sentences in that language
        try:
            found = quality.audit_findings(result, quality.coverage(ds))
            print("\n".join([t(found.title) + ":"] + [f"- {f.sentence(str)}" for f in found]) if found
                  else t(found.empty))
        finally:
            if before is None:
                os.environ.pop(LANG_ENV, None)
            else:
                os.environ[LANG_ENV] = before
        if args.quarantine_dir:
            written = quality.write_quarantine(ds, args.quarantine_dir)
            print(tr("quarantine written: {files}", args.lang,
                     files=", ".join(str(p) for p in written) or t("nothing rejected", args.lang)))
        return 0

    if args.command == "sample":
        from .data import synth

        paths = synth.write_sample(args.out, seed=args.seed, scale=args.scale, fmt=args.format)
        for p in paths:
            print(p)
        return 0

    if args.command == "notebooks":
        from .report.notebook_tools import write_notebooks

        sel = [x for x in args.notebooks.split(",") if x.strip()] if args.notebooks else None
        written, left = write_notebooks(args.out, lang=args.lang, data_dir=args.data, mapping=args.mapping,
                                        select=sel)
        for p in written:
            print(p)
        for r in left:
            print(f"salesops notebooks: warning: {r['notebook']} {r['cell']} has no current {args.lang} translation "
                  f"({r['status']}); it stays in English: {r['first_line']}", file=sys.stderr)
        return 0

    if args.command == "mapping":
        from .data.suggest import suggest_mapping

        sys.stdout.write(suggest_mapping(args.file))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
