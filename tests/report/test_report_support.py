"""Shared builders for the report tests (no tests here): datasets, a probe notebook, cached report runs.

The full report on the sample data runs every notebook, so it is built at most once per test session
(cached in this module, which pytest imports once) and shared by test_report_e2e.py and test_browser.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pandas as pd

from salesops_kit.report import build_report, find_notebooks, notebooks_dir, sample_data_dir

SAMPLE = sample_data_dir()

# Names that try to break out of HTML, Markdown and spreadsheets.
HOSTILE = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    '=HYPERLINK("http://x","y")',
    "[x](javascript:alert(3))",
)

_CACHE: dict[str, object] = {}


def have_sample() -> bool:
    return (SAMPLE / "opportunities.csv").exists()


def opportunities_only(folder: Path, every: int = 4) -> Path:
    """A dataset with only opportunities: every ``every``-th deal of the sample company (a smaller company
    over the same three years)."""
    folder.mkdir(parents=True, exist_ok=True)
    df = pd.read_csv(SAMPLE / "opportunities.csv", dtype=str, keep_default_na=False)
    df.iloc[::every].to_csv(folder / "opportunities.csv", index=False)
    return folder


def hostile_dataset(folder: Path) -> Path:
    """The sample company with hostile rep, account and product names (consistently across tables), plus one
    opportunity without stage, with an unreadable close date and a hostile owner, which the loader must quarantine."""
    folder.mkdir(parents=True, exist_ok=True)
    opps = pd.read_csv(SAMPLE / "opportunities.csv", dtype=str, keep_default_na=False)
    owners = sorted(opps["owner"].unique())
    owner_map = dict(zip(owners[: len(HOSTILE)], HOSTILE, strict=True))
    accounts = opps["account_id"].value_counts().index[: len(HOSTILE)] if "account_id" in opps else []
    account_map = dict(zip(sorted(accounts), HOSTILE, strict=True))
    products = sorted(opps["product"].unique())[: len(HOSTILE)] if "product" in opps else []
    product_map = dict(zip(products, HOSTILE, strict=False))
    for f in sorted(SAMPLE.glob("*.csv")):
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        if "owner" in df:
            df["owner"] = df["owner"].replace(owner_map)
        if "account_id" in df:
            df["account_id"] = df["account_id"].replace(account_map)
        if "product" in df:
            df["product"] = df["product"].replace(product_map)
        if f.name == "opportunities.csv":
            bad = df.iloc[[0]].copy()
            bad["opportunity_id"] = "OPP-HOSTILE-BAD"
            bad["owner"] = HOSTILE[2]
            bad["close_date"] = "not a date"
            bad["stage"] = ""  # a deal without stage is no record (an unreadable date alone is withheld, issue 14)
            df = pd.concat([df, bad], ignore_index=True)
        df.to_csv(folder / f.name, index=False)
    return folder


PROBE_CODE = [
    "import matplotlib.pyplot as plt\nimport pandas as pd\nfrom IPython.display import Markdown, display\n\n"
    "import salesops_kit\nfrom salesops_kit.findings import Finding, Findings, escape_md\n"
    "from salesops_kit.i18n import t",
    None,  # parameters
    "ds = salesops_kit.load_dataset(data_dir, mapping=mapping, as_of=as_of)\n"
    "names = sorted(set(ds.opportunities['owner']) | set(ds.opportunities['product']),\n"
    "               key=lambda n: (n[:1].isalnum(), n))[:12]  # odd names first\n"
    "display(pd.DataFrame({'name': names}))\n"
    "display(Markdown('Names: ' + ', '.join(escape_md(n) for n in names)))\n"
    "print(names)",
    "fig, ax = plt.subplots(figsize=(4, 2.5), dpi=60)\n"
    "ax.barh(range(len(names)), range(len(names)))\n"
    "ax.set_yticks(range(len(names)), labels=[n[:30] for n in names])\n"
    "ax.set_xlabel(t('Deals'));",
    "Findings([Finding(subject=names[0], metric='win_rate', value='50%', benchmark='40%',\n"
    "                  evidence=' | '.join(names[:4]), suggestion=names[1], topic='probe', severity=9.0)]\n"
    "         + [Finding(subject=n, metric='win_rate', value='-5%', evidence=n, topic='probe', severity=1.0)\n"
    "            for n in names[1:6]], title='Probe findings')",
]


def probe_notebook(path: Path) -> Path:
    """A small notebook that shows data names through every channel: DataFrame, Markdown, print, chart, Findings."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 90 · Probe\n\nShows names from the data through every output.")]
    for code in PROBE_CODE:
        if code is None:
            c = nbformat.v4.new_code_cell('data_dir = "../data/sample"\nmapping = "canonical"\nas_of = None')
            c.metadata["tags"] = ["parameters"]
        else:
            c = nbformat.v4.new_code_cell(code)
        nb.cells.append(c)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def failing_notebook(path: Path) -> Path:
    """A notebook that fails with a hostile error message (its page and the index must show it as text)."""
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell('data_dir = "../data/sample"\nmapping = "canonical"\nas_of = None')
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# 91 · Fails"), p,
                nbformat.v4.new_code_cell(f"raise ValueError({HOSTILE[0]!r} + {HOSTILE[1]!r})")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def sample_report(tmp_path_factory):
    """The full report (every numbered notebook) on the sample data, built once per session."""
    if "sample" not in _CACHE:
        out = tmp_path_factory.mktemp("report_sample")
        _CACHE["sample"] = build_report(SAMPLE, out_dir=out, progress=False)
    return _CACHE["sample"]


def opportunities_only_report(tmp_path_factory):
    """``salesops report DATA --no-code --lang zh`` on a dataset with only opportunities, run once per session:
    (exit code, printed lines, output folder)."""
    if "opps_only" not in _CACHE:
        import contextlib
        import io
        import warnings

        from salesops_kit import cli
        from salesops_kit.i18n import CJKFontWarning

        base = tmp_path_factory.mktemp("report_opps_only")
        data = opportunities_only(base / "data")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("ignore", CJKFontWarning)  # depends on the machine's fonts
            code = cli.main(["report", str(data), "--out", str(base / "out"), "--no-code", "--lang", "zh",
                             "--no-progress"])
        _CACHE["opps_only"] = (code, buf.getvalue(), base / "out")
    return _CACHE["opps_only"]


# Notebooks that show rep / account / product names (hostile run): data audit, funnel, rep coaching.
HOSTILE_NOTEBOOKS = ("00", "01", "04")


def hostile_report(tmp_path_factory):
    """The report on the hostile dataset: the kit's notebooks that show names, plus the probe notebook."""
    if "hostile" not in _CACHE:
        base = tmp_path_factory.mktemp("report_hostile")
        data = hostile_dataset(base / "data")
        nbdir = base / "notebooks"
        nbdir.mkdir()
        for nb in find_notebooks(notebooks_dir()):
            if nb.name[:2] in HOSTILE_NOTEBOOKS:
                shutil.copy(nb, nbdir / nb.name)
        probe_notebook(nbdir / "90_probe.ipynb")
        failing_notebook(nbdir / "91_fails.ipynb")
        _CACHE["hostile"] = build_report(data, out_dir=base / "out", notebook_dir=nbdir, progress=False)
    return _CACHE["hostile"]
