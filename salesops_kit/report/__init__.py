"""Report layer: runs the notebooks (papermill), writes the pages (nbconvert), the index, the
exports (kpis, findings, quarantine, manifest). Imports every floor below it, and nothing imports it
except the CLI."""

from .runner import (
    NOTEBOOK_PROVIDERS,
    NOTEBOOK_TABLES,
    NotebookRun,
    ReportResult,
    build_report,
    default_jobs,
    export_html,
    find_notebooks,
    notebooks_dir,
    safe_filename,
    sample_data_dir,
)

__all__ = ["NOTEBOOK_PROVIDERS", "NOTEBOOK_TABLES", "NotebookRun", "default_jobs", "ReportResult", "build_report",
           "export_html", "find_notebooks", "notebooks_dir", "safe_filename", "sample_data_dir"]
