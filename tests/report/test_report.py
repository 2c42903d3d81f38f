"""salesops report: runs notebooks with parameters, names failures, renders missing-table pages."""

import os

import nbformat
import pandas as pd
import pytest

from salesops_kit import cli
from salesops_kit.report import build_report, find_notebooks, safe_filename


def _nb(path, *code):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# test")]
    p = nbformat.v4.new_code_cell('data_dir = "x"\nmapping = "canonical"\nas_of = None')
    p.metadata["tags"] = ["parameters"]
    nb.cells.append(p)
    nb.cells += [nbformat.v4.new_code_cell(c) for c in code]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def tiny_data(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    pd.DataFrame({
        "opportunity_id": ["a", "b", "c"], "owner": ["Ann", "Bo", "Ann"],
        "stage": ["Closed Won", "Closed Lost", "Proposal"], "amount": [100.0, 50.0, 70.0],
        "created_date": ["2024-01-01", "2024-01-05", "2024-02-01"],
        "close_date": ["2024-02-01", "2024-02-10", "2024-03-01"],
    }).to_csv(d / "opportunities.csv", index=False)
    return d


def test_failing_notebook_is_named_and_others_still_written(tmp_path, tiny_data):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _nb(nbdir / "00_ok.ipynb", "import salesops_kit\nds = salesops_kit.load_dataset(data_dir, mapping=mapping)\n"
                               "print(len(ds.opportunities))")
    _nb(nbdir / "01_bad.ipynb", "x = 1", "raise ValueError('boom in cell')")
    res = build_report(tiny_data, out_dir=tmp_path / "out", notebook_dir=nbdir, progress=False)
    by = {r.notebook: r for r in res.runs}
    assert by["00_ok"].status == "ok"
    assert by["01_bad"].status == "failed"
    assert by["01_bad"].failed_cell == 4  # [4] in the page: papermill's injected-parameters cell is [2]
    assert "raise ValueError" in by["01_bad"].error
    assert "boom in cell" in by["01_bad"].error
    assert (tmp_path / "out" / "00_ok.html").exists() and (tmp_path / "out" / "01_bad.html").exists()
    assert "3" in (tmp_path / "out" / "00_ok.html").read_text()  # the injected data_dir was used
    assert not res.ok


def test_missing_tables_render_a_page(tmp_path, tiny_data):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _nb(nbdir / "02_costs.ipynb", "raise RuntimeError('must not run')")
    res = build_report(tiny_data, out_dir=tmp_path / "out", notebook_dir=nbdir, progress=False)
    (run,) = res.runs
    assert run.status == "skipped" and run.missing == ("orders",)
    page = (tmp_path / "out" / "02_costs.html").read_text()
    assert "orders" in page and "tables.orders.file" in page
    assert res.ok
    kpis = pd.read_csv(tmp_path / "out" / "kpis.csv")
    assert kpis.loc[kpis.kpi == "rows_opportunities", "value"].astype(float).item() == 3


def test_cli_exit_code_nonzero_on_failure(tmp_path, tiny_data, monkeypatch, capsys):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _nb(nbdir / "01_bad.ipynb", "raise ValueError('nope')")
    monkeypatch.setattr("salesops_kit.report.runner.notebooks_dir", lambda: nbdir)
    code = cli.main(["report", str(tiny_data), "--out", str(tmp_path / "out")])
    assert code == 1
    captured = capsys.readouterr()
    assert "failed" in captured.out and "01_bad" in captured.out and "cell [3]" in captured.out
    assert "notebooks" not in captured.err and "cell/s" not in captured.err  # not a terminal: no progress bars
    assert (tmp_path / "out" / "01_bad.html").exists() and (tmp_path / "out" / "index.html").exists()


def test_select_unknown_notebook_number_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="No notebook numbered 42"):
        find_notebooks(tmp_path, select=["42"])


def test_safe_filename():
    assert safe_filename("../<script>x</script>") == "script_x_script"
    assert safe_filename("") == "unnamed"


@pytest.mark.filterwarnings("ignore::salesops_kit.i18n.CJKFontWarning")  # depends on the machine's fonts
def test_language_reaches_the_kernels_and_progress_bars_show_when_asked(tmp_path, tiny_data, capfd, monkeypatch):
    monkeypatch.delenv("SALESOPS_LANG", raising=False)
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _nb(nbdir / "00_lang.ipynb", "import os\nfrom salesops_kit.i18n import current_lang, t\n"
                                 "print('LANG', os.environ.get('SALESOPS_LANG'), current_lang(), t('Win rate'))")
    res = build_report(tiny_data, out_dir=tmp_path / "out", notebook_dir=nbdir, lang="zh", progress=True)
    assert res.ok
    err = capfd.readouterr().err
    assert "notebooks" in err and "cell" in err  # the bar across notebooks and the one within each
    page = (tmp_path / "out" / "00_lang.html").read_text(encoding="utf-8")
    assert "LANG zh zh 赢单率" in page and 'lang="zh"' in page
    assert "返回目录" in page  # link back to the index, in Chinese
    assert "核心指标" in (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "SALESOPS_LANG" not in os.environ  # restored after the run


def test_unknown_language_is_a_clear_error(tiny_data, tmp_path):
    with pytest.raises(ValueError, match="lang must be one of en, zh; got 'fr'"):
        build_report(tiny_data, out_dir=tmp_path, lang="fr")


def test_notebook_page_is_offline_with_embedded_images(tmp_path, tiny_data):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _nb(nbdir / "00_plot.ipynb", "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2]);",
        "from IPython.display import Markdown\nMarkdown('math $x^2$')")
    build_report(tiny_data, out_dir=tmp_path / "out", notebook_dir=nbdir, progress=False)
    page = (tmp_path / "out" / "00_plot.html").read_text(encoding="utf-8")
    assert 'src="data:image/png;base64,' in page
    assert "<script" not in page.replace('<script type="application/vnd', "")
    assert "cdnjs" not in page and "https://" not in page.split("</style>")[-1]
    assert "Content-Security-Policy" in page


def test_as_of_and_notebook_selection_reach_the_run(tmp_path, tiny_data, monkeypatch):
    import json

    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _nb(nbdir / "00_a.ipynb", "print('ASOF', as_of)")
    _nb(nbdir / "01_b.ipynb", "raise RuntimeError('not selected, must not run')")
    _nb(nbdir / "03_c.ipynb", "print('C ran')")
    assert [p.name for p in find_notebooks(nbdir, select=["3", "00"])] == ["00_a.ipynb", "03_c.ipynb"]
    monkeypatch.setattr("salesops_kit.report.runner.notebooks_dir", lambda: nbdir)
    code = cli.main(["report", str(tiny_data), "--out", str(tmp_path / "out"), "--as-of", "2024-02-15",
                     "--notebooks", "00,03"])
    assert code == 0
    assert (tmp_path / "out" / "03_c.html").exists()
    assert "ASOF 2024-02-15" in (tmp_path / "out" / "00_a.html").read_text(encoding="utf-8")
    assert not (tmp_path / "out" / "01_b.html").exists()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["as_of"] == "2024-02-15" and manifest["parameters"]["as_of"] == "2024-02-15"
    assert "2024-02-15" in (tmp_path / "out" / "index.html").read_text(encoding="utf-8")


def test_kpi_table_in_a_worker_process_equals_the_registry_table(tmp_path, tiny_data):
    from salesops_kit.data.load import load_dataset
    from salesops_kit.kpis import kpi_table

    nbdir = tmp_path / "none"
    nbdir.mkdir()
    a = build_report(tiny_data, out_dir=tmp_path / "a", notebook_dir=nbdir, progress=False, parallel_kpis=True)
    b = build_report(tiny_data, out_dir=tmp_path / "b", notebook_dir=nbdir, progress=False, parallel_kpis=False)
    assert (tmp_path / "a" / "kpis.csv").read_bytes() == (tmp_path / "b" / "kpis.csv").read_bytes()
    assert a.kpi_errors == b.kpi_errors
    if not a.kpi_errors:
        got = pd.read_csv(tmp_path / "a" / "kpis.csv")
        want = kpi_table(load_dataset(tiny_data))
        assert got[["kpi", "segment"]].values.tolist() == want[["kpi", "segment"]].values.tolist()


def test_kpis_command_writes_neutralised_csv_and_xlsx(tmp_path, tiny_data, capsys):
    from openpyxl import load_workbook

    df = pd.read_csv(tiny_data / "opportunities.csv")
    df.loc[0, "owner"] = "=1+1"
    df.to_csv(tiny_data / "opportunities.csv", index=False)
    assert cli.main(["kpis", str(tiny_data)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("kpi,segment,value,ci_low,ci_high,unit,definition,window\n")
    assert "\n=" not in text and ",=" not in text
    assert cli.main(["kpis", str(tiny_data), "--format", "xlsx", "--out", str(tmp_path / "k.xlsx")]) == 0
    ws = load_workbook(tmp_path / "k.xlsx").active
    assert [c.value for c in ws[1]] == ["kpi", "segment", "value", "ci_low", "ci_high", "unit", "definition", "window"]
    assert not any(c.data_type == "f" for row in ws.iter_rows() for c in row)
    assert cli.main(["kpis", str(tiny_data), "--format", "xlsx"]) == 2  # needs --out


def test_missing_tables_required_and_any_of(tiny_data):
    from salesops_kit.data.load import load_dataset
    from salesops_kit.report.pages import missing_page
    from salesops_kit.report.runner import missing_tables

    ds = load_dataset(tiny_data)  # opportunities only
    assert missing_tables(ds, ()) == ()
    assert missing_tables(ds, ("opportunities",)) == ()
    assert missing_tables(ds, ("orders", "opportunities", "leads")) == ("orders", "leads")
    assert missing_tables(ds, (("opportunities", "orders"),)) == ()  # one of them is enough
    assert missing_tables(ds, (("leads", "orders"), "csat")) == ("leads", "orders", "csat")
    page = missing_page("05_kpi_monitoring", ("leads", "orders"), ds, any_of=True)
    assert "at least one of the tables" in page and "tables.leads.file" in page and "tables.orders.file" in page


def test_period_reaches_only_notebooks_that_declare_it(tmp_path, tiny_data):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _nb(nbdir / "05_review.ipynb", "print('review period:', period)")
    nb = nbformat.read(nbdir / "05_review.ipynb", as_version=4)
    nb.cells[1].source += "\nperiod = None"
    nbformat.write(nb, nbdir / "05_review.ipynb")
    _nb(nbdir / "01_other.ipynb", "print('period' in dir())")
    res = build_report(tiny_data, out_dir=tmp_path / "out", notebook_dir=nbdir, progress=False, period="2024-02")
    assert res.ok
    assert "review period: 2024-02" in (tmp_path / "out" / "05_review.html").read_text()
    executed = nbformat.read(tmp_path / "out" / "_executed" / "01_other.ipynb", as_version=4)
    assert "False" in executed.cells[-1].outputs[0]["text"]  # not injected where it is not a parameter


def test_relative_out_dir_as_in_the_readme(tmp_path, tiny_data, monkeypatch):
    # `salesops report` writes to reports/ relative to where it is run; papermill changes the working
    # directory while a notebook runs, so the pages must still land in ./reports
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _nb(nbdir / "00_a.ipynb", "print('hello')")
    _nb(nbdir / "01_b.ipynb", "print('again')")
    monkeypatch.chdir(tmp_path)
    res = build_report(tiny_data, out_dir="reports", notebook_dir=nbdir, progress=False)
    assert res.ok
    for name in ("00_a.html", "01_b.html", "index.html", "kpis.csv"):
        assert (tmp_path / "reports" / name).is_file(), name


def test_published_kpis_are_used_and_a_failed_notebooks_topic_is_computed(tmp_path, tiny_data):
    """01 publishes a funnel table with a made-up value: the index uses it (so the report did not recompute the
    topic). 04 publishes reps rows, then fails: its published rows are not trusted and the report computes the
    reps KPIs itself, exactly as kpi_table would. Two notebooks at a time."""
    from salesops_kit.data.load import load_dataset
    from salesops_kit.kpis import kpi_table

    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _nb(nbdir / "01_funnel.ipynb",
        "from salesops_kit import kpis\nkpis.publish([{'kpi': 'win_rate', 'segment': 'all', 'value': 0.125,"
        " 'ci_low': float('nan'), 'ci_high': None}], provider='salesops_kit.funnel')")
    _nb(nbdir / "04_reps.ipynb",
        "from salesops_kit import kpis, reps\nkpis.publish([{'kpi': 'reps_flagged', 'segment': 'all', 'value': 99}],"
        " provider=reps)", "raise ValueError('late failure')")
    res = build_report(tiny_data, out_dir=tmp_path / "out", notebook_dir=nbdir, progress=False, jobs=2)
    assert {r.notebook: r.status for r in res.runs} == {"01_funnel": "ok", "04_reps": "failed"}
    got = pd.read_csv(tmp_path / "out" / "kpis.csv")
    funnel = got[got["kpi"] == "win_rate"]
    assert funnel[["segment", "value"]].values.tolist() == [["all", "0.125"]]  # values mix dates: read as text
    assert funnel[["ci_low", "ci_high"]].isna().all().all()  # NaN and None both come back as blanks
    want = kpi_table(load_dataset(tiny_data), topics=("reps",))
    assert "win_rate_shrunk" in set(want["kpi"])  # tiny data: no rep has the 30 deals a test needs, no reps_flagged
    mine = got[got["kpi"].isin(set(want["kpi"]))].reset_index(drop=True)
    assert mine[["kpi", "segment"]].values.tolist() == want[["kpi", "segment"]].values.tolist()
    assert "99" not in mine["value"].tolist()
    assert "reps_flagged" not in set(got["kpi"])  # the failed notebook's published row was not used
    assert manifest_jobs(tmp_path / "out") == 2


def manifest_jobs(out):
    import json

    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))["jobs"]


def test_publish_refuses_a_module_that_is_not_a_provider():
    from salesops_kit import kpis

    with pytest.raises(ValueError, match="provider must be one of .*Only a KPI provider"):
        kpis.publish([], provider="salesops_kit.data.load")


def test_default_jobs_one_more_than_the_cores_capped_by_memory(monkeypatch):
    import types

    from salesops_kit.report import runner as report

    monkeypatch.setattr(report.os, "cpu_count", lambda: 2)
    assert report.default_jobs() == 3
    monkeypatch.setattr(report.os, "cpu_count", lambda: 8)
    assert report.default_jobs() == 4
    assert report.default_jobs(n_notebooks=3) == 3
    gib = 2**30
    monkeypatch.setattr(report, "machine_memory", lambda: (4 * gib, 3 * gib))  # 4 GiB, 3 available
    big = types.SimpleNamespace(tables={"orders": pd.DataFrame({"x": range(2**24)})})  # 128 MiB of int64
    # (3 GiB available - 0.4 GiB kept free) / (3 x 128 MiB) = 6.9 -> 4 (the core cap)
    assert report.default_jobs(big) == 4
    bigger = types.SimpleNamespace(tables={"orders": pd.DataFrame({"x": range(2**26)})})  # 512 MiB
    assert report.default_jobs(bigger) == 1  # 2,662 MiB / 1,536 MiB -> 1
    monkeypatch.setattr(report, "machine_memory", lambda: (gib, gib * 9 // 10))
    assert report.default_jobs(big) == 2  # (922 - 102) MiB / 384 MiB = 2.1 -> 2
    monkeypatch.setattr(report, "machine_memory", lambda: (gib, gib * 4 // 10))  # other programs hold the rest
    assert report.default_jobs(big) == 1  # (410 - 102) / 384 -> 0 -> never fewer than 1
    monkeypatch.setattr(report, "machine_memory", lambda: None)  # the system does not say: the core rule
    assert report.default_jobs(bigger) == 4
    with pytest.raises(ValueError, match="jobs"):
        build_report(None, out_dir="unused", jobs=0)


def test_machine_memory_reads_total_and_available():
    import sys

    from salesops_kit.report.runner import machine_memory

    got = machine_memory()
    if sys.platform.startswith("linux"):  # /proc/meminfo
        total, available = got
        assert 0 < available <= total
        with open("/proc/meminfo") as fh:
            assert f"{total // 1024} kB" in fh.read()


def _flaky_papermill(monkeypatch, failures: int, message: str = "Kernel died before replying to kernel_info"):
    """papermill whose kernel dies while starting ``failures`` times, then runs the notebook."""
    import papermill as pm

    real, calls = pm.execute_notebook, []

    def execute(*args, **kwargs):
        calls.append(1)
        if len(calls) <= failures:
            raise RuntimeError(message)
        return real(*args, **kwargs)

    monkeypatch.setattr(pm, "execute_notebook", execute)
    monkeypatch.setattr("salesops_kit.report.runner.time.sleep", lambda s: None)
    return calls


def test_a_kernel_that_dies_while_starting_is_started_again(tmp_path, monkeypatch, capsys):
    from salesops_kit.report.runner import KERNEL_START_ATTEMPTS, _run_one

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1 + 1\nx")]
    src = tmp_path / "07_x.ipynb"
    nbformat.write(nb, src)
    calls = _flaky_papermill(monkeypatch, failures=KERNEL_START_ATTEMPTS - 1)
    run = _run_one(src, tmp_path / "out.ipynb", tmp_path / "07_x.html", {}, progress=False, kernel_name="python3")
    assert run.status == "ok" and len(calls) == KERNEL_START_ATTEMPTS
    assert "the kernel died while starting" in capsys.readouterr().err


def test_a_kernel_that_never_starts_fails_the_notebook_with_the_reason(tmp_path, monkeypatch):
    from salesops_kit.report.runner import KERNEL_START_ATTEMPTS, _run_one

    src = tmp_path / "07_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), src)
    calls = _flaky_papermill(monkeypatch, failures=99)
    run = _run_one(src, tmp_path / "out.ipynb", tmp_path / "07_x.html", {}, progress=False, kernel_name="python3")
    assert run.status == "failed" and "kernel_info" in run.error and len(calls) == KERNEL_START_ATTEMPTS
    # any other error is the notebook's, not the kernel's start: not retried
    calls = _flaky_papermill(monkeypatch, failures=99, message="something else")
    run = _run_one(src, tmp_path / "out.ipynb", tmp_path / "07_x.html", {}, progress=False, kernel_name="python3")
    assert run.status == "failed" and len(calls) == 1
