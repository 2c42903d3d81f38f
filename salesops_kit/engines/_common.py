"""What every engine back-end shares: the result of reading one table, the back-end interface, and the
engine-neutral rules of the loader's checks (which value checks apply to which table, the date formats and
number separators a spec implies, how stage labels are renamed, the row account).

The back-ends (:mod:`._pandas`, :mod:`._polars`, :mod:`._sql`) translate these rules into their own
expressions (numpy masks, Polars expressions, SQL); the rules themselves are written once, here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd

from ..data.mapping import TableSpec, check_stage_labels, check_status_values
from ..data.schema import (
    CLOSE_BEFORE_CREATED,
    CLOSED_NO_CLOSE,
    CSAT_ONE_OF,
    EXPECTED_VALUES,
    IDENTITY,
    MISSING,
    MISSING_VALUE,
    NEGATIVE,
    NONNEGATIVE,
    QUARANTINE_CHECKS,
    STAGE_COLUMNS,
    STATUS_COLUMN,
    TABLES,
    WITHHELD_CHECKS,
    WITHHELD_COLUMNS,
    WITHHELD_WITH_AMOUNT,
    StageModel,
)

__all__ = ["TableResult", "Backend", "LazyTable", "Rule", "value_rules", "check_rank", "parse_formats",
           "number_rules", "stage_renames", "stage_rules", "account_row", "output_columns", "ISO_FORMATS",
           "is_identity", "WITHHELD_COLUMNS", "withheld_frame", "row_flag_counts", "raw_text", "status_applies",
           "status_rules"]

# ISO dates and times; the UTC forms with milliseconds are the HubSpot API's (2024-01-15T09:12:00.000Z), read as
# the naive UTC time as the pandas loader reads them. ".%f" is the fraction (Polars writes it "%.f", see _polars)
ISO_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d",
               "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f",
               # month names, whatever the day order (Zoho Analytics "15 Apr, 2021 00:02:00", "Apr 15, 2024")
               "%d %b, %Y %H:%M:%S", "%d %b, %Y %H:%M", "%d %b, %Y", "%d %b %Y", "%d-%b-%Y", "%d %B %Y",
               "%b %d, %Y %I:%M %p", "%b %d, %Y %H:%M", "%b %d, %Y", "%B %d, %Y")


@dataclass
class TableResult:
    """One table as a back-end read it.

    ``clean`` is the table in canonical columns (a pandas DataFrame, a Polars LazyFrame or a DuckDB
    relation), ``quarantine`` the rejected rows (pandas), ``account`` the table's row account (one row of
    ``Dataset.account`` as a dict), ``notes`` what the back-end decided; ``derived`` the tables built from
    columns of this table's files (``from_table``), by name. ``withheld``: per (column, reason) how many kept
    rows had the field withheld, with the first example (:data:`WITHHELD_COLUMNS`); ``row_flags``: the kept rows
    with a withheld field, per reason (pandas: ``table, check, row`` positions; lazy engines: ``table, check,
    rows`` counts).
    """

    clean: object
    quarantine: pd.DataFrame
    account: dict
    notes: list[str]
    derived: dict[str, TableResult] = field(default_factory=dict)
    withheld: pd.DataFrame | None = None
    row_flags: pd.DataFrame | None = None


class Backend(Protocol):
    """The interface :func:`salesops_kit.data.load.load_dataset` calls (see :func:`salesops_kit.engines.backend`)."""

    name: str
    derives_tables: bool  # builds ``from_table`` tables (HubSpot's per-stage date columns)
    parquet_copies: bool  # a spec's ``*.csv`` globs also find ``*.parquet`` copies

    def read_table(self, spec: TableSpec, files: list[Path], *, stages: StageModel, mapping_name: str,
                   unknown_stages: str, derived: tuple[TableSpec, ...] = ()) -> TableResult: ...

    def default_as_of(self, tables: dict) -> pd.Timestamp: ...

    def flags(self, tables: dict, *, stages: StageModel, as_of: pd.Timestamp) -> pd.DataFrame: ...

    def notes(self) -> list[str]: ...


# ------------------------------------------------------------------------------------------------
# value checks


@dataclass(frozen=True)
class Rule:
    """One value check: rows where ``kind`` holds on ``columns`` get ``check`` with reason ``text``.

    Kinds: ``absent`` (the value is blank), ``all_absent`` (every one of the columns is blank),
    ``negative`` (reason: ``text: 'raw value'``), ``close_before_created`` (reason names both dates),
    ``closed_without_close_date`` (a closed deal whose close date is blank).

    A rule with ``record`` columns keeps the row: the ``withhold`` columns are set to missing on it and each
    ``record`` column counts it in the withheld table. A rule without is a quarantine rule.
    """

    check: str
    kind: str
    columns: tuple[str, ...]
    text: str
    withhold: tuple[str, ...] = ()
    record: tuple[str, ...] = ()

    @property
    def quarantines(self) -> bool:
        return not self.record


def is_identity(name: str, column: str) -> bool:
    """Whether a value of ``column`` is part of what makes a row of ``name`` a record (quarantine when bad)."""
    return column in IDENTITY.get(name, ())


def value_rules(name: str, columns, *, credits: bool = False) -> list[Rule]:
    """The value checks that apply to table ``name`` with the mapped ``columns``, in the loader's order.

    ``credits``: the mapping keeps negative amounts (``amount: {credits: true}``)."""
    rules = [Rule(MISSING, "absent", (c,), f"missing {c}") for c in IDENTITY.get(name, ()) if c in columns]
    if name == "csat":
        have = tuple(c for c in CSAT_ONE_OF if c in columns)
        if have:
            rules.append(Rule(MISSING, "all_absent", have, "missing both owner and customer_id"))
    rules += [Rule(MISSING_VALUE, "absent", (c,), f"missing {c}", record=(c,))
              for c in EXPECTED_VALUES.get(name, ()) if c in columns]
    for c in NONNEGATIVE.get(name, ()):
        if c not in columns:
            continue
        if is_identity(name, c):
            rules.append(Rule(NEGATIVE, "negative", (c,), f"negative {c}"))
        elif not credits:
            cols = (c,) + tuple(x for x in WITHHELD_WITH_AMOUNT.get(name, ()) if x in columns)
            rules.append(Rule(NEGATIVE, "negative", (c,), f"negative {c}", withhold=cols, record=cols))
    if name == "opportunities":
        if "close_date" in columns and "created_date" in columns:
            rules.append(Rule(CLOSE_BEFORE_CREATED, "close_before_created", ("close_date", "created_date"), "",
                              record=("close_date",)))
        if "close_date" in columns:
            rules.append(Rule(CLOSED_NO_CLOSE, "closed_without_close_date", ("close_date",),
                              "closed deal without close_date", record=("close_date",)))
    return rules


def check_rank(check: str) -> int:
    """Priority of a quarantine check: a row failing several is reported under the first."""
    return QUARANTINE_CHECKS.index(check)


def withheld_frame(rows: list[tuple]) -> pd.DataFrame:
    """The withheld table from ``(table, column, reason, rows, example, value)`` tuples (rows > 0 only),
    in the order of :data:`~salesops_kit.data.schema.WITHHELD_CHECKS` within each table."""
    df = pd.DataFrame([r for r in rows if r[3] > 0], columns=WITHHELD_COLUMNS)
    if len(df):
        df["_k"] = df["reason"].map(WITHHELD_CHECKS.index)
        df = df.sort_values(["_k"], kind="stable").drop(columns="_k")
    df["rows"] = df["rows"].astype("int64")
    return df.reset_index(drop=True)


def raw_text(v) -> str | None:
    """A raw value as the withheld table shows it: text, None when missing or blank."""
    if v is None or v != v:
        return None
    s = str(v)
    return s if s.strip() else None


def row_flag_counts(name: str, counts: dict[str, int]) -> pd.DataFrame:
    """Per-reason counts of kept rows with a withheld field (the lazy engines' ``row_flags``)."""
    return pd.DataFrame([(name, k, int(v)) for k, v in counts.items() if v], columns=["table", "check", "rows"])


def output_columns(name: str, columns) -> list[str]:
    """The clean table's columns in schema order (opportunities add is_closed and is_won)."""
    out = [c for c in TABLES[name].dtypes if c in columns and c not in ("is_closed", "is_won")]
    return out + (["is_closed", "is_won"] if name == "opportunities" else [])


# ------------------------------------------------------------------------------------------------
# parsing rules of the lazy engines


def parse_formats(spec: TableSpec) -> list[str]:
    """Date formats to try, in order: the mapping's, the day-first/month-first ones it implies, ISO."""
    fmts = list(spec.dates.formats)
    if spec.dates.dayfirst is True:
        fmts += ["%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %I:%M %p"]
    elif spec.dates.dayfirst is False:
        # 12-hour clock as a US Salesforce report writes it ("1/10/2024 9:05 AM")
        fmts += ["%m/%d/%Y", "%m-%d-%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M %p",
                 "%m/%d/%Y %I:%M:%S %p"]
    return fmts + [f for f in ISO_FORMATS if f not in fmts]


def number_rules(spec: TableSpec, column: str) -> tuple[str, str, float | None]:
    """(decimal mark, thousands separator, probability scale) for a number column."""
    dec, th = spec.amount.decimal or ".", spec.amount.thousands
    if th is None:
        th = "," if dec == "." else "."
    scale = spec.probability_scale if column == "probability" else None
    return dec, th, scale


# ------------------------------------------------------------------------------------------------
# stage labels


def stage_renames(labels: list, stages: StageModel) -> dict[str, str | None]:
    """Each raw label -> its canonical label (None when the stage model does not know it)."""
    return {lab: stages.normalise(lab) for lab in labels if lab is not None}


def stage_rules(name: str, column: str, counts: pd.DataFrame, stages: StageModel, mapping_name: str, files,
                unknown_stages: str) -> tuple[list, dict]:
    """From a stage column's distinct labels (``label, n``): the labels outside the stage model (only for
    ``stage``; an error naming them when ``unknown_stages`` is "error") and the renames to canonical labels."""
    counts = counts.dropna(subset=["label"]).sort_values("label").reset_index(drop=True)
    norm = stage_renames(list(counts["label"]), stages)
    unknown = []
    if column == "stage":
        if unknown_stages == "error":
            check_stage_labels(name, counts["label"], counts["n"], stages, mapping_name, files)
        unknown = [k for k, v in norm.items() if v is None]
    return unknown, {k: v for k, v in norm.items() if v is not None and v != k}


def status_applies(name: str, columns, stages: StageModel) -> bool:
    """Whether the deal table's stage is decided by a status column (``stages.status``, Pipedrive)."""
    return name == "opportunities" and stages.status is not None and STATUS_COLUMN in columns


def status_rules(name: str, counts: pd.DataFrame, stages: StageModel, mapping_name: str, files,
                 unknown_stages: str) -> tuple[list, list, list]:
    """From the status column's distinct values (``label, n``): the values meaning won, lost, and those the
    mapping does not know (an error naming them when ``unknown_stages`` is "error").

    Every engine then applies the same rule: a won (lost) deal's stage becomes ``stages.won[0]``
    (``stages.lost[0]``); a lost deal's pipeline step (its stage when that is an open stage of the model) is its
    ``lost_at_stage`` unless the export maps one; an open deal keeps its stage."""
    counts = counts.dropna(subset=["label"]).sort_values("label").reset_index(drop=True)
    if unknown_stages == "error":
        check_status_values(name, counts["label"], counts["n"], stages, mapping_name, files)
    kind = {lab: stages.status.classify(lab) for lab in counts["label"]}
    return ([k for k, v in kind.items() if v == "won"], [k for k, v in kind.items() if v == "lost"],
            [k for k, v in kind.items() if v is None])


def account_row(name: str, files: int, counts: dict) -> dict:
    """One row of the row account from the engine's counts (kept, bad, footer, other)."""
    kept, bad = int(counts["kept"]), int(counts["bad"])
    return dict(table=name, files=files, rows_read=kept + bad, rows_kept=kept, rows_quarantined=bad,
                footer_lines=int(counts["footer"]), other_lines=int(counts["other"]))


# ------------------------------------------------------------------------------------------------
# one table in a lazy engine: the steps, in order


class LazyTable:
    """One table being built in a lazy engine from its scanned files (``raw``, headers mapped by ``colmap``).

    :meth:`build` runs the loader's steps in order; a subclass per engine (:mod:`._polars`, :mod:`._sql`)
    writes each step in its own syntax. ``flags`` collects ``(check, row condition, reason)`` in that syntax.

    ``keep``: the checked rows are computed once and kept in the engine (a DuckDB table, collected Polars frames),
    so that the quarantine, the account, the clean table and every later query read them instead of reading and
    checking the files again (what :func:`~salesops_kit.data.load.open_dataset` asks for: many analyses follow).
    """

    def __init__(self, spec: TableSpec, raw, colmap: dict[str, str], *, stages: StageModel, mapping_name: str,
                 files: list[Path], unknown_stages: str, con=None, keep: bool = False):
        self.keep = keep
        self.spec, self.name, self.tdef = spec, spec.name, TABLES[spec.name]
        self.raw, self.colmap, self.stages, self.con = raw, colmap, stages, con
        self.mapping_name, self.files, self.unknown_stages = mapping_name, files, unknown_stages
        self.flags: list[tuple[str, object, object]] = []
        self.withheld: list[tuple[str, tuple[str, ...], object]] = []  # (check, recorded columns, row condition)
        self.notes: list[str] = []

    def build(self) -> TableResult:
        self.parse_columns()
        for c in STAGE_COLUMNS:
            if c in self.colmap:
                unknown, renames = stage_rules(self.name, c, self.label_counts(c), self.stages, self.mapping_name,
                                               self.files, self.unknown_stages)
                self.rename_stages(c, unknown, renames)
        if status_applies(self.name, self.colmap, self.stages):
            won, lost, unknown = status_rules(self.name, self.label_counts(STATUS_COLUMN), self.stages,
                                              self.mapping_name, self.files, self.unknown_stages)
            self.apply_status(won, lost, unknown)
        self.project()
        blank: dict[str, list[int]] = {}
        for rule in value_rules(self.name, self.colmap, credits=self.spec.amount.credits):
            cond, reason = self.rule(rule)
            if rule.quarantines:
                self.flags.append((rule.check, cond, reason))
            else:
                for c in rule.withhold:
                    blank.setdefault(c, []).append(len(self.withheld))
                self.withheld.append((rule.check, rule.record, cond))
        self.apply_withheld(blank)
        self.mark_footer()
        self.mark_other()
        if self.tdef.id_column in self.colmap:
            self.mark_duplicates()
        return self.finish()

    # the steps each engine writes
    def parse_columns(self) -> None:
        """Dates and numbers parsed (failures flagged), text trimmed; notes on how values were read."""
        raise NotImplementedError

    def label_counts(self, column: str) -> pd.DataFrame:
        """Distinct labels of a stage column with their row counts (``label``, ``n``), in pandas."""
        raise NotImplementedError

    def rename_stages(self, column: str, unknown: list, renames: dict) -> None:
        """Flag the ``unknown`` labels (column ``stage``) and rename the others to the model's labels."""
        raise NotImplementedError

    def apply_status(self, won: list, lost: list, unknown: list) -> None:
        """Status-based CRMs (:func:`status_rules`): flag the ``unknown`` status values, set the stage of deals whose
        status is in ``won``/``lost`` to the model's won/lost label and a lost deal's ``lost_at_stage``."""
        raise NotImplementedError

    def project(self) -> None:
        """The parsed, renamed columns as the table's columns (opportunities: with is_closed and is_won)."""
        raise NotImplementedError

    def rule(self, rule: Rule) -> tuple[object, object]:
        """A value check as (row condition, reason) in the engine's syntax."""
        raise NotImplementedError

    def apply_withheld(self, blank: dict[str, list[int]]) -> None:
        """Each withheld condition as a column (``__w<i>``, seen before any value is withheld), then the
        ``blank`` columns set to missing where one of their conditions (indexes into ``withheld``) holds."""
        raise NotImplementedError

    def mark_footer(self) -> None:
        """Export footer and subtotal lines: no id and no date, and empty or a "Total ..." line."""
        raise NotImplementedError

    def mark_other(self) -> None:
        """History records that do not enter a new stage (stage_history; nothing for other tables)."""
        raise NotImplementedError

    def mark_duplicates(self) -> None:
        """Exact copies (the first is kept) and conflicting rows of the same id."""
        raise NotImplementedError

    def finish(self) -> TableResult:
        """Each row's first check and all reasons; the clean table, the quarantine and the row account."""
        raise NotImplementedError

    # shared by the engines
    def ranked(self) -> list[tuple[str, object, object]]:
        """The flags by check priority (stable: the order they were added within a check)."""
        return sorted(self.flags, key=lambda f: check_rank(f[0]))

    def output_columns(self) -> list[str]:
        status = ["lost_at_stage"] if status_applies(self.name, self.colmap, self.stages) else []
        return output_columns(self.name, list(self.colmap) + status)

    def account(self, counts: dict) -> dict:
        return account_row(self.name, len(self.files), counts)

    def withheld_result(self, row: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The withheld table and the per-reason row counts from one aggregate row: ``n<i>`` (kept rows),
        ``f<i>``/``l<i>`` (first example's file and line), ``v<i>_<j>`` (its raw value of recorded column j),
        ``r<k>`` (kept rows with reason k, in :meth:`withheld_reasons` order)."""
        rows = []
        for i, (ck, cols, _) in enumerate(self.withheld):
            n = int(row.get(f"n{i}") or 0)
            if not n:
                continue
            where = f"{Path(str(row[f'f{i}'])).name}:{int(row[f'l{i}'])}"
            for j, c in enumerate(cols):
                v = row.get(f"v{i}_{j}")
                rows.append((self.name, c, ck, n, where, raw_text(v)))
        counts = {ck: int(row.get(f"r{k}") or 0) for k, ck in enumerate(self.withheld_reasons())}
        return withheld_frame(rows), row_flag_counts(self.name, counts)

    def withheld_reasons(self) -> list[str]:
        return list(dict.fromkeys(ck for ck, _, _ in self.withheld))
