"""Readers and mapping: a folder of CRM export files -> a canonical :class:`Dataset`.

Every row read ends in the clean table or in ``Dataset.quarantine[table]`` with its raw values, a
``check``, a ``reason``, the source file and line; ``Dataset.account`` adds it up per table
(``rows_read = rows_kept + rows_quarantined``; export footer/subtotal lines and history records
that are not stage changes are counted separately in ``footer_lines`` and ``other_lines``).
The mapping format is documented in the README and in ``salesops_kit/mappings/*.yml``.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd
import pyarrow as pa
import yaml

from ..engines._pandas import Source, finish_table, stage_history_from_columns
from ..tools.exceptions import DataWarning, MappingError, MissingColumnsError, MissingTablesError
from . import audit as quality
from .readers import ReadError, read_file
from .schema import CSAT_ONE_OF, TABLES, StageModel

__all__ = ["Dataset", "load_dataset", "load_mapping", "builtin_mappings", "MissingTablesError", "MappingError",
           "DataWarning"]


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_mapping(mapping: str | Path | dict | None) -> dict:
    """Return a mapping dict from a built-in name, a YAML path, or a dict (None = canonical).

    A mapping may say ``extends: <built-in name or path>``: it is then merged over that mapping
    (nested keys override, e.g. only ``tables.opportunities.dates``).
    """
    if mapping is None:
        mapping = "canonical"
    if isinstance(mapping, dict):
        m = mapping
    else:
        p = Path(str(mapping))
        if p.suffix in (".yml", ".yaml") and p.exists():
            with open(p, encoding="utf-8") as fh:
                m = yaml.safe_load(fh) or {}
            m.setdefault("name", p.stem)
        else:
            try:
                text = resources.files("salesops_kit.data.mappings").joinpath(f"{mapping}.yml").read_text("utf-8")
            except FileNotFoundError:
                raise MappingError(
                    f"Unknown mapping {str(mapping)!r}: give a built-in name "
                    f"({', '.join(builtin_mappings())}) or a path to a .yml file."
                ) from None
            m = yaml.safe_load(text)
    if m.get("extends"):
        base = load_mapping(m["extends"])
        m = _deep_merge(base, {k: v for k, v in m.items() if k != "extends"})
    return m


def builtin_mappings() -> list[str]:
    return sorted(p.name[:-4] for p in resources.files("salesops_kit.data.mappings").iterdir() if p.name.endswith(".yml"))


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
    flags : DataFrame (table, check, row) of kept rows the audit flags; ``row`` is the position
        in the clean table
    notes : things the loader decided that the analyst should know (how dates were read, ...)
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


# ------------------------------------------------------------------------------------------------
# files and columns


def _as_list(v) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, list | tuple) else [v]


def _match_files(spec: dict, candidates: list[Path]) -> list[Path]:
    """Files whose name matches one of ``file`` globs and none of ``exclude`` (case-insensitive)."""
    pats = [str(p).lower() for p in _as_list(spec.get("file"))]
    excl = [str(p).lower() for p in _as_list(spec.get("exclude"))]
    out = []
    for f in candidates:
        name = f.name.lower()
        if any(fnmatch.fnmatchcase(name, p) for p in pats) and not any(fnmatch.fnmatchcase(name, p) for p in excl):
            out.append(f)
    return sorted(out)


def _norm(h: str) -> str:
    return re.sub(r"\s+", " ", str(h).strip().strip('"').strip("\ufeff")).casefold()


# extra source columns a table may map besides its canonical ones
_EXTRA = {"stage_history": ("from_stage",), "opportunities": ("export_is_won", "export_is_closed")}
# canonical columns never taken from the export (derived from the stage model)
_DERIVED = ("is_closed", "is_won")


def _resolve_columns(name: str, spec: dict, raw, mapping_name: str) -> dict[str, str]:
    """Map canonical column -> de-duplicated header of ``raw``; raise MappingError for missing required."""
    cols = spec.get("columns") or {}
    names = raw.table.column_names
    by_norm: dict[str, str] = {}
    for n in names:
        by_norm.setdefault(_norm(n), n)
    out: dict[str, str] = {}
    wanted = [c for c in TABLES[name].dtypes if c not in _DERIVED] + list(_EXTRA.get(name, ()))
    for canon in wanted:
        cands = [str(c) for c in _as_list(cols.get(canon))] or [canon]
        for c in cands:
            if c in names:
                out[canon] = c
                break
            if _norm(c) in by_norm:
                out[canon] = by_norm[_norm(c)]
                break
    required = list(TABLES[name].required)
    if name == "csat" and not any(c in out for c in CSAT_ONE_OF):
        required.append("owner")
    missing = [c for c in required if c not in out]
    if missing:
        lines = []
        for c in missing:
            expected = [str(x) for x in _as_list(cols.get(c))] or [c]
            close = []
            for e in expected + [c]:
                close += [h for h in difflib.get_close_matches(e, raw.headers, n=3, cutoff=0.5) if h not in close]
            hint = f"closest header found: {', '.join(repr(h) for h in close[:3])}" if close else "no similar header"
            lines.append(f"  - {c}: expected header {' or '.join(repr(e) for e in expected)} "
                         f"(mapping key tables.{name}.columns.{c}); {hint}")
        key, best = missing[0], None
        for line in lines:
            m = re.search(r"closest header found: '([^']*)'", line)
            if m:
                best = m.group(1)
                break
        raise MissingColumnsError(
            f"Missing required column(s) in the {name} file {raw.path} ({mapping_name} mapping):\n"
            + "\n".join(lines)
            + f"\nHeaders found: {', '.join(raw.headers) if raw.headers else '(none)'}\n"
            f"Fix: rename the header in the file, or set tables.{name}.columns.{key}: "
            f"\"{best or '<header>'}\" in a mapping file (it can start with `extends: {mapping_name}`).",
            table=name, missing=missing, available=raw.headers,
        )
    return out


def _source(name: str, spec: dict, raw, mapping_name: str) -> Source:
    if raw.empty:
        return Source(raw.path, pa.table({}), 0, raw.first_line, raw.footer_lines, raw.malformed, empty=True)
    colmap = _resolve_columns(name, spec, raw, mapping_name)
    t = pa.table({canon: raw.table.column(src) for canon, src in colmap.items()}) if colmap else pa.table({})
    return Source(raw.path, t, raw.table.num_rows, raw.first_line, raw.footer_lines, raw.malformed,
                  duplicate_headers=raw.duplicate_headers, colmap=colmap, raw=raw if raw.line_finder else None)


# ------------------------------------------------------------------------------------------------
# stages


def _check_stages(table: str, labels: pd.Series, counts: pd.Series, stages: StageModel, mapping_name: str,
                  files: list[Path]) -> None:
    """Raise MappingError listing raw stage labels the stage model does not know, with YAML to add."""
    unknown = [(str(lab), int(n)) for lab, n in zip(labels, counts, strict=True) if stages.normalise(lab) is None]
    if not unknown:
        return
    unknown.sort(key=lambda x: (-x[1], x[0]))
    listing = ", ".join(f"{lab!r} ({n} row{'s' if n != 1 else ''})" for lab, n in unknown)
    known = ", ".join(stages.labels)
    alias_lines = "\n".join(f"      {yaml.safe_dump(lab, allow_unicode=True).strip().removesuffix('...').strip()}: "
                            f"<one of: {known}>" for lab, _ in unknown)
    raise MappingError(
        f"Stage labels in {table} ({', '.join(str(f) for f in files)}) are not in the {mapping_name} mapping: "
        f"{listing}.\nKnown labels: {known}.\nAdd each one to a mapping file (start it with `extends: "
        f"{mapping_name}`), either as an alias of a known stage:\n  stages:\n    aliases:\n{alias_lines}\n"
        "or as a stage of its own (stages.order lists the open stages in funnel order; move a label to "
        "stages.won or stages.lost if it closes the deal):\n  stages:\n"
        f"    order: {_flow(list(stages.order) + [lab for lab, _ in unknown])}\n"
        f"    won: {_flow(stages.won)}\n    lost: {_flow(stages.lost)}"
    )


def _flow(labels) -> str:
    return "[" + ", ".join(json.dumps(str(x), ensure_ascii=False) for x in labels) + "]"


def _warn_no_won(df: pd.DataFrame, stages: StageModel, mapping_name: str) -> str | None:
    if df is None or df.empty or bool(df["is_won"].any()):
        return None
    if not df["is_closed"].any() and len(df) < 50:
        return None  # a handful of open deals: nothing is closed yet, no win rate is reported
    vc = df["stage"].value_counts().sort_index()
    seen = ", ".join(f"{k} ({v})" for k, v in vc.items())
    won = stages.won[0] if stages.won else "Closed Won"
    msg = (f"No won deals: none of the {len(df)} opportunities is in a won stage ({', '.join(stages.won) or 'none'})"
           f" of the {mapping_name} mapping, so every win rate would be 0%. Stages seen: {seen}. If your CRM has a "
           f"different won label, add to a mapping file (with `extends: {mapping_name}`):\n  stages:\n    aliases:\n"
           f"      \"<your won label>\": {won}")
    warnings.warn(msg, DataWarning, stacklevel=3)
    return msg


# ------------------------------------------------------------------------------------------------
# as_of


def _default_as_of(tables: dict[str, pd.DataFrame], stages: StageModel) -> pd.Timestamp:
    """Latest event date in the data: creation/activity dates, and close dates of closed deals only
    (open deals carry expected close dates in the future); quotas and spend months are plans."""
    cands = []
    for name, df in tables.items():
        if name in ("quotas", "marketing_spend") or df.empty:
            continue
        cols = [TABLES[name].date_column]
        if name == "stage_history" and "exited_date" in df:
            cols.append("exited_date")
        for c in cols:
            cands.append(df[c].max())
        if name == "opportunities":
            cands.append(df.loc[df["is_closed"], "close_date"].max())
    cands = [c for c in cands if pd.notna(c)]
    if not cands:
        for name in ("marketing_spend", "quotas"):
            df = tables.get(name)
            if df is not None and not df.empty and pd.notna(df[TABLES[name].date_column].max()):
                cands.append(df[TABLES[name].date_column].max())
    return pd.Timestamp(max(cands)).normalize() if cands else pd.NaT


# ------------------------------------------------------------------------------------------------
# the loader


def load_dataset(path, mapping=None, as_of=None, *, unknown_stages: str = "error", engine: str = "pandas",
                 **kwargs) -> Dataset:
    """Load a folder of export files (or one file) into a :class:`Dataset`.

    Parameters
    ----------
    path : folder holding the export files (CSV, XLSX, Parquet); a single file is also accepted
    mapping : built-in mapping name (canonical, salesforce, hubspot, zoho, jiandaoyun), a YAML path,
        or a dict; None = canonical
    as_of : analysis date; default the latest event date found in the data (never the clock)
    unknown_stages : "error" (default: MappingError listing the labels and the YAML to add) or
        "quarantine" (rows with unknown stages go to the quarantine, e.g. for ``salesops audit``)
    engine : "pandas" (default: tables are pandas DataFrames), "polars" or "duckdb": CSV/Parquet files
        are scanned lazily and the tables are Polars LazyFrames / DuckDB relations with the same
        columns, checks and row account, computed in that engine (see :mod:`salesops_kit.engines`)

    Returns
    -------
    Dataset with one DataFrame per canonical table found (columns and dtypes of
    :mod:`salesops_kit.data.schema`; opportunities always carry ``is_closed`` and ``is_won``).

    Raises
    ------
    MappingError : no file matched any table, a required column is missing, a stage label is
        unknown, or a file cannot be read (undecodable, binary).
    """
    if kwargs:
        raise TypeError(f"load_dataset got unexpected arguments {sorted(kwargs)}")
    if unknown_stages not in ("error", "quarantine"):
        raise ValueError("unknown_stages must be 'error' or 'quarantine'")
    if engine != "pandas":
        from ..engines._lazy import check_engine, load_lazy

        return load_lazy(path, mapping, as_of, engine=check_engine(engine), unknown_stages=unknown_stages)
    m = load_mapping(mapping)
    mname = str(m.get("name", "custom"))
    stages = StageModel.from_mapping(m.get("stages") or {})
    p = Path(path)
    if not p.exists():
        raise MappingError(f"Data path {p} does not exist.")
    data_dir = p.parent if p.is_file() else p
    candidates = [p] if p.is_file() else sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
    specs = m.get("tables") or {}
    tables, quarantine, files, account, notes = {}, {}, {}, [], []
    derived: dict[str, list[Source]] = {}
    for name in TABLES:
        spec = specs.get(name)
        if not spec or spec.get("from_table"):
            continue
        found = _match_files(spec, candidates)
        if not found:
            continue
        sources = []
        for f in found:
            try:
                raw = read_file(f, encoding=spec.get("encoding"), delimiter=spec.get("delimiter"),
                                sheet=spec.get("sheet"))
            except ReadError as e:
                raise MappingError(str(e)) from None
            sources.append(_source(name, spec, raw, mname))
            for hname, hspec in specs.items():
                if hspec and hspec.get("from_table") == name and not raw.empty:
                    id_col = sources[-1].colmap.get(TABLES[name].id_column)
                    derived.setdefault(hname, []).append(stage_history_from_columns(raw, hspec, id_col))
        res = finish_table(name, sources, spec, stages, unknown_stages=unknown_stages, mapping_name=mname,
                           check_stages=_check_stages)
        del sources
        pa.default_memory_pool().release_unused()  # the raw text is no longer needed: give it back
        tables[name], quarantine[name], files[name] = res.clean, res.quarantine, found
        account.append(res.account)
        notes += res.notes
        if name == "opportunities":
            msg = _warn_no_won(res.clean, stages, mname)
            if msg:
                notes.append(msg)
    for hname, sources in derived.items():
        spec = specs[hname]
        res = finish_table(hname, sources, spec, stages, unknown_stages=unknown_stages, mapping_name=mname,
                           check_stages=_check_stages)
        tables[hname], quarantine[hname] = res.clean, res.quarantine
        files[hname] = files.get(spec["from_table"], [])
        account.append(res.account)
        notes += res.notes
    if not tables:
        globs = "; ".join(f"{n}: {', '.join(map(str, _as_list(s.get('file'))))}" for n, s in specs.items()
                          if s and s.get("file"))
        raise MappingError(
            f"No file in {data_dir} matches the {mname} mapping. Files there: "
            f"{', '.join(f.name for f in candidates) or '(none)'}. The mapping looks for {globs}. Rename the files "
            "or set tables.<table>.file (a glob) in a mapping file."
        )
    order = [n for n in TABLES if n in tables]
    tables = {n: tables[n] for n in order}
    quarantine = {n: quarantine[n] for n in order}
    acc = pd.DataFrame(account).set_index("table").loc[order].reset_index()
    as_of = pd.Timestamp(as_of).normalize() if as_of is not None else _default_as_of(tables, stages)
    flags = quality.compute_flags(tables, stages=stages, as_of=as_of)
    return Dataset(tables, quarantine, acc, stages, as_of, m, data_dir, files, flags, notes)
