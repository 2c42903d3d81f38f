"""A mapping, parsed once: which files hold each table, which headers are its columns, how dates and
amounts are written, and the stage model.

:func:`load_mapping` reads a built-in name, a YAML file or a dict (following ``extends:``) into a frozen
:class:`Mapping`; every engine back-end reads its :class:`TableSpec` objects, never the raw YAML.
:func:`resolve_columns` (:class:`~salesops_kit.tools.exceptions.MissingColumnsError`) and
:func:`check_stage_labels` (:class:`~salesops_kit.tools.exceptions.MappingError`) raise errors that say
what is missing, what the file has, and which mapping key to set. The format is documented in
``salesops_kit/data/mappings/canonical.yml``.
"""

from __future__ import annotations

import collections.abc
import difflib
import fnmatch
import json
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import yaml

from ..tools.exceptions import MappingError, MissingColumnsError
from .schema import CSAT_ONE_OF, STATUS_COLUMN, TABLES, StageModel, StatusRule

__all__ = ["Mapping", "TableSpec", "DateOptions", "AmountOptions", "MappingError", "load_mapping",
           "builtin_mappings", "resolve_columns", "check_stage_labels", "check_status_values", "as_list",
           "EXTRA_COLUMNS", "DERIVED_COLUMNS", "stage_model", "CurrencySpec", "currency_spec",
           "calendar_country"]

# extra source columns a table may map besides its canonical ones
EXTRA_COLUMNS = {"stage_history": ("from_stage",),
                 "opportunities": ("export_is_won", "export_is_closed", STATUS_COLUMN)}
# canonical columns never taken from the export (derived from the stage model)
DERIVED_COLUMNS = ("is_closed", "is_won")


def as_list(v) -> list:
    """``None`` -> [], a list or tuple -> a list, anything else -> [it]."""
    if v is None:
        return []
    return list(v) if isinstance(v, list | tuple) else [v]


# ------------------------------------------------------------------------------------------------
# the typed mapping


@dataclass(frozen=True)
class DateOptions:
    """``tables.<t>.dates``: ``dayfirst`` (True/False/None = decided per column) and strptime ``formats``."""

    dayfirst: bool | None = None
    formats: tuple[str, ...] = ()

    @property
    def format(self) -> str | list[str] | None:
        """The format as the mapping wrote it (one string, a list, or None)."""
        if not self.formats:
            return None
        return self.formats[0] if len(self.formats) == 1 else list(self.formats)


@dataclass(frozen=True)
class AmountOptions:
    """``tables.<t>.amount``: the decimal mark and thousands separator (None = decided per value); ``credits``:
    negative amounts are credits to keep as they are (default: a negative amount is withheld from money KPIs)."""

    decimal: str | None = None
    thousands: str | None = None
    credits: bool = False


@dataclass(frozen=True)
class TableSpec:
    """One table of a mapping (``tables.<name>``).

    ``files``/``exclude`` are file-name globs (case-insensitive); ``columns`` maps a canonical column to the
    export headers that may hold it (in order of preference). A table with ``from_table`` is built from
    columns of another table's files (HubSpot's per-stage date columns; ``entered``/``exited`` templates).
    """

    name: str
    files: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    dates: DateOptions = DateOptions()
    amount: AmountOptions = AmountOptions()
    probability_scale: float | None = None
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | int | None = None
    from_table: str | None = None
    entered: tuple[str, ...] = ()
    exited: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # extra columns the mapping requires (the status column of ``stages.status``)
    coalesce: frozenset[str] = frozenset()  # columns taken per row from the first non-blank of their headers

    @classmethod
    def from_dict(cls, name: str, spec: dict) -> TableSpec:
        dates = spec.get("dates") or {}
        amount = spec.get("amount") or {}
        cols = spec.get("columns") or {}
        return cls(
            name=name,
            files=tuple(str(p) for p in as_list(spec.get("file"))),
            exclude=tuple(str(p) for p in as_list(spec.get("exclude"))),
            columns={str(k): tuple(str(c) for c in as_list(v.get("coalesce") if isinstance(v, dict) else v))
                     for k, v in cols.items()},
            coalesce=frozenset(str(k) for k, v in cols.items() if isinstance(v, dict)),
            dates=DateOptions(dates.get("dayfirst"), tuple(as_list(dates.get("format")))),
            amount=AmountOptions(amount.get("decimal"), amount.get("thousands"), bool(amount.get("credits", False))),
            probability_scale=(spec.get("probability") or {}).get("scale"),
            encoding=spec.get("encoding"),
            delimiter=spec.get("delimiter"),
            sheet=spec.get("sheet"),
            from_table=spec.get("from_table") or None,
            entered=tuple(as_list(spec.get("entered"))),
            exited=tuple(as_list(spec.get("exited"))),
        )

    def headers_for(self, column: str) -> tuple[str, ...]:
        """The export headers that may hold canonical ``column`` (the column's own name if none is set)."""
        return self.columns.get(column) or (column,)

    def match_files(self, candidates: list[Path]) -> list[Path]:
        """Files whose name matches one of ``files`` and none of ``exclude`` (case-insensitive), sorted."""
        pats = [p.lower() for p in self.files]
        excl = [p.lower() for p in self.exclude]
        out = []
        for f in candidates:
            name = f.name.lower()
            if any(fnmatch.fnmatchcase(name, p) for p in pats) and not any(fnmatch.fnmatchcase(name, p) for p in excl):
                out.append(f)
        return sorted(out)

    def parquet_copies(self) -> TableSpec:
        """The same spec looking for Parquet copies of its CSV files (``opps*.csv`` -> ``opps*.parquet``)."""
        pats = tuple(re.sub(r"\.csv$", ext, p, flags=re.I) for p in self.files for ext in (".parquet", ".pq"))
        return replace(self, files=pats)


@dataclass(frozen=True)
class CurrencySpec:
    """The mapping's ``currency:`` block: the ``report`` code and ``rates`` as ``(code, month or None, rate)``
    (units of the report currency per unit of ``code``; a month is ``YYYY-MM``; rows without one apply to every
    month without its own rate)."""

    report: str | None = None
    rates: tuple[tuple[str, str | None, float], ...] = ()

    @property
    def monthly(self) -> bool:
        return any(m is not None for _, m, _ in self.rates)

    def codes(self) -> set[str]:
        return {c for c, _, _ in self.rates}


def _code(v) -> str:
    return str(v).strip().upper()


def currency_spec(block) -> CurrencySpec:
    """Parse ``currency: {report: USD, rates: {COP: 0.00025} | path.csv}`` (CSV columns ``currency,rate[,month]``)."""
    if not block:
        return CurrencySpec()
    if not isinstance(block, dict):
        raise MappingError(f"currency: must be a block such as {{report: USD, rates: {{COP: 0.00025}}}}; "
                           f"got {block!r}.")
    report = _code(block["report"]) if block.get("report") else None
    rates = block.get("rates") or {}
    out: list[tuple[str, str | None, float]] = []
    if isinstance(rates, dict):
        out = [(_code(c), None, float(r)) for c, r in rates.items()]
    else:
        import pandas as pd

        path = Path(str(rates))
        if not path.exists():
            raise MappingError(f"currency.rates: the rates file {str(path)!r} does not exist; give a CSV "
                               f"(currency,rate[,month]) or a block such as {{COP: 0.00025}}.")
        f = pd.read_csv(path, dtype=str)
        f.columns = [str(c).strip().lower() for c in f.columns]
        if not {"currency", "rate"} <= set(f.columns):
            raise MappingError(f"currency.rates: {path} has columns {', '.join(f.columns)}; it needs currency and "
                               f"rate (and optionally month).")
        months = (pd.to_datetime(f["month"], errors="coerce").dt.strftime("%Y-%m").to_numpy() if "month" in f.columns
                  else pd.Series([None] * len(f)))
        out = [(_code(c), None if pd.isna(m) else str(m), float(r))
               for c, r, m in zip(f["currency"], f["rate"], months, strict=True) if pd.notna(c) and pd.notna(r)]
    if report is None and out:
        raise MappingError("currency.rates needs currency.report: the code every money KPI is reported in.")
    return CurrencySpec(report, tuple(out))


def calendar_country(block) -> str | None:
    """Parse ``calendar: {country: CN}`` (an ISO 3166 code of the ``holidays`` package): the holiday calendar of
    working days; None when the block is absent or says ``country: none``."""
    if not block:
        return None
    if not isinstance(block, dict) or set(block) - {"country"}:
        raise MappingError(f"calendar: must be a block such as {{country: CN}} (the holiday calendar's ISO "
                           f"country code, or none); got {block!r}.")
    c = block.get("country")
    if c is None or str(c).strip().lower() in ("", "none"):
        return None
    return str(c).strip().upper()


@dataclass(frozen=True)
class Mapping(collections.abc.Mapping):
    """A parsed mapping: its ``name``, one :class:`TableSpec` per table, the :class:`StageModel`.

    It also reads like the dictionary it was parsed from (``m["stages"]["won"]``, ``{**m, ...}``,
    ``m | {...}`` gives a dict), so code written for the old dict mappings keeps working; ``raw`` is that
    dictionary (``extends`` merged in), which ``Dataset.mapping`` keeps for the report's manifest.
    """

    name: str
    tables: dict[str, TableSpec]
    stages: StageModel
    raw: dict = field(default_factory=dict, repr=False, compare=False)
    currency: CurrencySpec = CurrencySpec()

    @classmethod
    def from_dict(cls, raw: dict) -> Mapping:
        tables = {str(n): TableSpec.from_dict(str(n), s) for n, s in (raw.get("tables") or {}).items() if s}
        stages = stage_model(raw.get("stages") or {})
        opps = tables.get("opportunities")
        if stages.status is not None and opps is not None:  # the status column is read with the deal table
            cols = {**opps.columns, STATUS_COLUMN: opps.columns.get(STATUS_COLUMN) or (stages.status.column,)}
            tables["opportunities"] = replace(opps, columns=cols, needs=(STATUS_COLUMN,))
        calendar_country(raw.get("calendar"))  # a malformed calendar block fails at load, naming the key
        return cls(str(raw.get("name", "custom")), tables, stages, raw, currency_spec(raw.get("currency")))

    def table(self, name: str) -> TableSpec | None:
        return self.tables.get(name)

    def derived_from(self, name: str) -> list[TableSpec]:
        """Tables built from columns of table ``name``'s files (``from_table: name``)."""
        return [s for s in self.tables.values() if s.from_table == name]

    def describe_files(self) -> str:
        """``table: glob, glob; ...`` for the tables that name files (what an error message shows)."""
        return "; ".join(f"{n}: {', '.join(s.files)}" for n, s in self.tables.items() if s.files)

    # the old dict interface
    def __getitem__(self, key):
        return self.raw[key]

    def __iter__(self):
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def __or__(self, other):
        return {**self.raw, **other} if isinstance(other, collections.abc.Mapping) else NotImplemented

    def __ror__(self, other):
        return {**other, **self.raw} if isinstance(other, collections.abc.Mapping) else NotImplemented


# ------------------------------------------------------------------------------------------------
# reading a mapping


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_mapping(mapping: str | Path | dict | Mapping | None) -> Mapping:
    """Return the :class:`Mapping` of a built-in name, a YAML path, or a dict (None = canonical).

    A mapping may say ``extends: <built-in name or path>``: it is then merged over that mapping
    (nested keys override, e.g. only ``tables.opportunities.dates``).
    """
    if isinstance(mapping, Mapping):
        return mapping
    return Mapping.from_dict(_raw_mapping(mapping))


def _raw_mapping(mapping) -> dict:
    if mapping is None:
        mapping = "canonical"
    if isinstance(mapping, Mapping):
        m = dict(mapping.raw)
    elif isinstance(mapping, dict):
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
        base = _raw_mapping(m["extends"])
        m = _deep_merge(base, {k: v for k, v in m.items() if k != "extends"})
    return m


def builtin_mappings() -> list[str]:
    """Names of the mappings shipped in ``salesops_kit/data/mappings``."""
    return sorted(p.name[:-4] for p in resources.files("salesops_kit.data.mappings").iterdir()
                  if p.name.endswith(".yml"))


# ------------------------------------------------------------------------------------------------
# columns


def _norm(h: str) -> str:
    return re.sub(r"\s+", " ", str(h).strip().strip('"').strip("\ufeff")).casefold()


def resolve_columns(spec: TableSpec, names: list[str], *, headers: list[str], path, mapping_name: str
                    ) -> dict[str, str]:
    """Map canonical column -> one of ``names`` (a file's de-duplicated headers), or a tuple of them for a column
    the mapping reads per row from the first non-blank of several headers (``close_date: {coalesce: [...]}``).

    Exact header first, then case/whitespace-insensitive. Raise :class:`MissingColumnsError` (a
    :class:`MappingError`) for missing required columns, naming the expected headers, the closest ones
    found, the file's ``headers`` and the mapping key to set.
    """
    name = spec.name
    by_norm: dict[str, str] = {}
    for n in names:
        by_norm.setdefault(_norm(n), n)
    out: dict[str, str] = {}
    wanted = [c for c in TABLES[name].dtypes if c not in DERIVED_COLUMNS] + list(EXTRA_COLUMNS.get(name, ()))
    for canon in wanted:
        if canon in spec.coalesce:  # every header present, read per row: the first non-blank value
            found = [n for n in dict.fromkeys(by_norm.get(_norm(c)) for c in spec.headers_for(canon)) if n]
            if found:
                out[canon] = found[0] if len(found) == 1 else tuple(found)
            continue
        for c in spec.headers_for(canon):
            if c in names:
                out[canon] = c
                break
            if _norm(c) in by_norm:
                out[canon] = by_norm[_norm(c)]
                break
    amount = out.get("amount")
    if isinstance(amount, str) and re.search(r"\(converted\)\s*$", amount, re.I):
        # Salesforce's "Amount (converted)" is in the corporate currency, not in the deal's: its own currency
        # column ("Amount (converted) Currency") if the export has one, else none (currency.report names it)
        conv = by_norm.get(_norm(amount + " Currency"))
        if conv:
            out["currency"] = conv
        else:
            out.pop("currency", None)
    required = list(TABLES[name].required) + list(spec.needs)
    if name == "csat" and not any(c in out for c in CSAT_ONE_OF):
        required.append("owner")
    missing = [c for c in required if c not in out]
    if missing:
        raise _missing_columns_error(spec, missing, headers=headers, path=path, mapping_name=mapping_name)
    return out


def _missing_columns_error(spec: TableSpec, missing: list[str], *, headers, path, mapping_name: str
                           ) -> MissingColumnsError:
    name = spec.name
    lines = []
    for c in missing:
        expected = list(spec.headers_for(c))
        close = []
        for e in expected + [c]:
            close += [h for h in difflib.get_close_matches(e, headers, n=3, cutoff=0.5) if h not in close]
        hint = f"closest header found: {', '.join(repr(h) for h in close[:3])}" if close else "no similar header"
        lines.append(f"  - {c}: expected header {' or '.join(repr(e) for e in expected)} "
                     f"(mapping key tables.{name}.columns.{c}); {hint}")
    key, best = missing[0], None
    for line in lines:
        m = re.search(r"closest header found: '([^']*)'", line)
        if m:
            best = m.group(1)
            break
    return MissingColumnsError(
        f"Missing required column(s) in the {name} file {path} ({mapping_name} mapping):\n"
        + "\n".join(lines)
        + f"\nHeaders found: {', '.join(headers) if headers else '(none)'}\n"
        f"Fix: rename the header in the file, or set tables.{name}.columns.{key}: "
        f"\"{best or '<header>'}\" in a mapping file (it can start with `extends: {mapping_name}`).",
        table=name, missing=missing, available=headers,
    )


# ------------------------------------------------------------------------------------------------
# stages


def stage_model(stages: dict) -> StageModel:
    """The :class:`StageModel` of a mapping's ``stages`` block, with its ``status`` block (status-based CRMs)
    parsed: ``status: {column: Status, won: [won], lost: [lost], open: [open]}``. With a status column the won
    and lost labels default to ``Won`` and ``Lost``."""
    model = StageModel.from_mapping(stages)
    st = stages.get("status")
    if not st:
        return model
    if not isinstance(st, dict) or not st.get("column"):
        raise MappingError(f"stages.status must name its column and its values, e.g. stages: {{status: {{column: "
                           f"Status, won: [won], lost: [lost], open: [open]}}}}; got {st!r}.")
    rule = StatusRule(str(st["column"]), *(tuple(str(v) for v in as_list(st.get(k))) for k in ("won", "lost", "open")))
    if not rule.won or not rule.lost:
        raise MappingError(f"stages.status needs the values meaning won and lost (stages.status.won, "
                           f"stages.status.lost); got {st!r}.")
    return replace(model, won=model.won or ("Won",), lost=model.lost or ("Lost",), status=rule)


def check_status_values(table: str, values, counts, stages: StageModel, mapping_name: str, files) -> None:
    """Raise :class:`MappingError` listing raw status values (with their row ``counts``) that ``stages.status``
    does not know, with the key to add them to."""
    rule = stages.status
    unknown = [(str(v), int(n)) for v, n in zip(values, counts, strict=True) if rule.classify(v) is None]
    if not unknown:
        return
    unknown.sort(key=lambda x: (-x[1], x[0]))
    listing = ", ".join(f"{v!r} ({n} row{'s' if n != 1 else ''})" for v, n in unknown)
    raise MappingError(
        f"Status values in {table} ({', '.join(str(f) for f in files)}, column {rule.column!r}) are not in the "
        f"{mapping_name} mapping: {listing}.\nKnown values: won {_flow(rule.won)}, lost {_flow(rule.lost)}, open "
        f"{_flow(rule.open)}.\nAdd each one to stages.status.won, stages.status.lost or stages.status.open in a "
        f"mapping file (start it with `extends: {mapping_name}`), e.g.:\n  stages:\n    status:\n      column: "
        f"{rule.column}\n      won: {_flow(rule.won)}\n      lost: {_flow(rule.lost)}\n"
        f"      open: {_flow(list(rule.open) + [v for v, _ in unknown])}"
    )


def check_stage_labels(table: str, labels, counts, stages: StageModel, mapping_name: str, files) -> None:
    """Raise :class:`MappingError` listing raw stage labels (with their row ``counts``) that the stage model
    does not know, with the YAML to add."""
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
