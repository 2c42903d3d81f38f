"""Readers and mapping: a folder of CRM export files -> a canonical :class:`Dataset`.

(Skeleton: the public API below is fixed; the loader issue hardens the internals.)
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from .schema import TABLES, StageModel

__all__ = ["Dataset", "load_dataset", "load_mapping", "MissingTablesError", "MappingError"]


class MappingError(ValueError):
    """A mapping or export does not fit the canonical schema; the message says what to do."""


class MissingTablesError(LookupError):
    """An analysis needs tables the dataset does not have."""


def load_mapping(mapping: str | Path | dict | None) -> dict:
    """Return a mapping dict from a built-in name, a YAML path, or a dict (None = canonical)."""
    if mapping is None:
        mapping = "canonical"
    if isinstance(mapping, dict):
        return mapping
    p = Path(str(mapping))
    if p.suffix in (".yml", ".yaml") and p.exists():
        with open(p, encoding="utf-8") as fh:
            m = yaml.safe_load(fh)
        m.setdefault("name", p.stem)
        return m
    try:
        text = resources.files("salesops_kit.mappings").joinpath(f"{mapping}.yml").read_text("utf-8")
    except FileNotFoundError:
        raise MappingError(
            f"Unknown mapping {str(mapping)!r}: give a built-in name "
            f"({', '.join(builtin_mappings())}) or a path to a .yml file."
        ) from None
    return yaml.safe_load(text)


def builtin_mappings() -> list[str]:
    return sorted(p.name[:-4] for p in resources.files("salesops_kit.mappings").iterdir() if p.name.endswith(".yml"))


@dataclass
class Dataset:
    """The canonical tables of one export, with what was rejected and why.

    Attributes
    ----------
    tables : dict of table name -> DataFrame (absent tables are not keys)
    quarantine : dict of table name -> DataFrame of rejected rows with a ``reason`` column
    account : DataFrame, one row per table: table, files, rows_read, rows_kept,
        rows_quarantined, footer_lines (rows_read = rows_kept + rows_quarantined)
    stages : StageModel from the mapping
    as_of : Timestamp, the analysis date (default: latest date in the data)
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


def load_dataset(path, mapping=None, as_of=None, **kwargs) -> Dataset:
    """Load a folder of export files into a :class:`Dataset` (skeleton: canonical CSVs only)."""
    data_dir = Path(path)
    m = load_mapping(mapping)
    stages = StageModel.from_mapping(m.get("stages", {}))
    tables, quarantine, files, account_rows = {}, {}, {}, []
    for name, spec in (m.get("tables") or {}).items():
        found = sorted(Path(p) for p in glob.glob(str(data_dir / spec["file"])))
        if not found:
            continue
        df = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False, na_values=[""]) for f in found], ignore_index=True)
        cols = spec.get("columns") or {}
        df = df.rename(columns={v: k for k, v in cols.items()})
        for col, dt in TABLES[name].dtypes.items():
            if col not in df:
                continue
            if dt == "datetime":
                df[col] = pd.to_datetime(df[col])
            elif dt == "float":
                df[col] = pd.to_numeric(df[col])
        if name == "opportunities":
            df["stage"] = df["stage"].map(stages.normalise)
            df["is_won"] = df["stage"].isin(stages.won)
            df["is_closed"] = df["stage"].isin(stages.won + stages.lost)
        tables[name] = df
        quarantine[name] = df.iloc[0:0].assign(reason=pd.Series(dtype=str))
        files[name] = found
        account_rows.append(dict(table=name, files=len(found), rows_read=len(df), rows_kept=len(df),
                                 rows_quarantined=0, footer_lines=0))
    if as_of is None:
        as_of = max(t[TABLES[n].date_column].max() for n, t in tables.items() if len(t))
    return Dataset(tables, quarantine, pd.DataFrame(account_rows), stages, pd.Timestamp(as_of).normalize(),
                   m, data_dir, files)
