"""The :class:`Dataset` every analysis reads: the canonical tables of one export, what was rejected and why.

Built by :func:`salesops_kit.data.load.load_dataset`; it sits on the lowest floor so that the engines and
every topic can recognise one without importing the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..tools.exceptions import MissingTablesError
from .schema import StageModel

__all__ = ["Dataset", "MissingTablesError"]


@dataclass
class Dataset:
    """The canonical tables of one export, with what was rejected and why.

    Attributes
    ----------
    tables : dict of table name -> DataFrame (absent tables are not keys)
    quarantine : dict of table name -> DataFrame of rejected rows: the raw values of the mapped
        columns (as text), ``check``, ``reason``, ``source_file``, ``source_line``
    account : DataFrame, one row per table: table, files, rows_read, rows_kept,
        rows_quarantined, footer_lines, other_lines (rows_read = rows_kept + rows_quarantined).
        footer_lines: lines of the export that are not records (footers such as "Grand Totals
        (N records)", subtotal/total rows, title rows above an XLSX header); other_lines: records
        that are not rows of the table (history edits that did not change the stage). Empty
        lines are not records and are not counted.
    stages : StageModel from the mapping
    as_of : Timestamp, the analysis date (default: latest date in the data)
    mapping : the mapping's content as a dict (``extends`` merged in)
    flags : DataFrame (table, check, row) of kept rows the audit flags; ``row`` is the position
        in the clean table (lazy engines: table, check, rows counts). Besides the suspicious-row checks
        (``schema.FLAG_CHECKS``) it flags every kept row with a withheld field, under the reason
        (``schema.WITHHELD_CHECKS``)
    notes : things the loader decided that the analyst should know (how dates were read, ...)
    withheld : DataFrame, one row per (table, column, reason): how many kept rows had that field
        withheld (set to missing; close before created: kept, left out of cycle times), the first
        example as ``file:line`` and its raw ``value``. A withheld field is not a rejected row: the
        row counts wherever that field is not needed.
    """

    tables: dict[str, pd.DataFrame]
    quarantine: dict[str, pd.DataFrame]
    account: pd.DataFrame
    stages: StageModel
    as_of: pd.Timestamp
    mapping: dict = field(default_factory=dict)
    data_dir: Path | None = None
    files: dict[str, list[Path]] = field(default_factory=dict)
    flags: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    withheld: pd.DataFrame | None = None

    def table(self, name: str) -> pd.DataFrame | None:
        return self.tables.get(name)

    opportunities = property(lambda self: self.tables.get("opportunities"))
    stage_history = property(lambda self: self.tables.get("stage_history"))
    leads = property(lambda self: self.tables.get("leads"))
    orders = property(lambda self: self.tables.get("orders"))
    marketing_spend = property(lambda self: self.tables.get("marketing_spend"))
    activities = property(lambda self: self.tables.get("activities"))
    csat = property(lambda self: self.tables.get("csat"))
    quotas = property(lambda self: self.tables.get("quotas"))

    @property
    def mapping_name(self) -> str:
        return str(self.mapping.get("name", "custom"))

    def has(self, *names: str) -> bool:
        return all(self.tables.get(n) is not None for n in names)

    def missing(self, *names: str) -> list[str]:
        return [n for n in names if self.tables.get(n) is None]

    def require(self, *names: str, purpose: str = "this analysis") -> None:
        """Raise :class:`MissingTablesError` naming the missing tables and the mapping keys to set."""
        miss = self.missing(*names)
        if miss:
            raise MissingTablesError(
                f"{purpose} needs the table(s) {', '.join(miss)}; this dataset ({self.mapping_name} mapping"
                f"{', ' + str(self.data_dir) if self.data_dir else ''}) has none. Add the export file(s) and set "
                + ", ".join(f"tables.{m}.file" for m in miss)
                + " in the mapping."
            )
