"""Canonical tables, columns, dtypes and the stage model.

Every loader turns an export into these tables; every KPI function reads them. ``data/README.md``
is the human-readable data dictionary of the same schema (a test keeps the two in agreement).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Column", "Table", "TABLES", "StageModel", "table_names", "required_columns", "CSAT_ONE_OF",
           "REQUIRED_VALUES", "NONNEGATIVE", "STAGE_COLUMNS", "QUARANTINE_CHECKS", "FLAG_CHECKS", "IDENTITY",
           "EXPECTED_VALUES", "WITHHELD_CHECKS", "WITHHELD_WITH_AMOUNT", "WITHHELD_COLUMNS", "StatusRule",
           "STATUS_COLUMN"]

# dtypes are logical: "string" (pandas object/str), "float" (float64), "int" (Int64),
# "datetime" (datetime64[ns], naive, day precision unless the export has times), "bool" (boolean).


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    required: bool
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    grain: str
    columns: tuple[Column, ...]
    date_column: str
    id_column: str | None = None

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if not c.required)

    @property
    def dtypes(self) -> dict[str, str]:
        return {c.name: c.dtype for c in self.columns}


def _t(name, grain, date_column, id_column, *cols):
    return Table(name, grain, tuple(Column(*c) for c in cols), date_column, id_column)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        _t(
            "opportunities", "deal", "created_date", "opportunity_id",
            ("opportunity_id", "string", True, "Unique deal id from the CRM."),
            ("owner", "string", True, "Sales rep who owns the deal."),
            ("stage", "string", True, "Current stage, normalised to the mapping's stage labels."),
            ("amount", "float", True, "Deal value in `currency` (blank amounts stay missing)."),
            ("created_date", "datetime", True, "Date the deal was created."),
            ("close_date", "datetime", True, "Actual close date (closed deals) or expected close date (open)."),
            ("account_id", "string", False, "Customer account."),
            ("team", "string", False, "Sales team of the owner."),
            ("region", "string", False, "Sales region."),
            ("lead_source", "string", False, "Where the deal came from (channel)."),
            ("product", "string", False, "Product or product line."),
            ("is_closed", "bool", False, "Closed (won or lost); always derived from the stage model on load."),
            ("is_won", "bool", False, "Won; always derived from the stage model on load."),
            ("probability", "float", False, "CRM win probability in [0, 1]."),
            ("forecast_category", "string", False, "CRM forecast category (Pipeline, Best Case, Commit, ...)."),
            ("currency", "string", False, "ISO currency code of `amount`."),
            ("lost_at_stage", "string", False, "For lost deals: the last open stage reached."),
            ("loss_reason", "string", False, "For lost deals: why the deal was lost (the CRM's loss-reason field)."),
        ),
        _t(
            "stage_history", "stage entry", "entered_date", None,
            ("opportunity_id", "string", True, "Deal id."),
            ("stage", "string", True, "Stage entered (normalised label)."),
            ("entered_date", "datetime", True, "When the deal entered the stage."),
            ("exited_date", "datetime", False, "When it left the stage (missing while still there)."),
        ),
        _t(
            "deal_history", "deal record", "recorded_date", None,
            ("opportunity_id", "string", True, "Deal id."),
            ("recorded_date", "datetime", True, "When the CRM recorded this state of the deal (edit or snapshot)."),
            ("close_date", "datetime", True, "Expected close date in force from `recorded_date` on."),
            ("amount", "float", False, "Deal amount in force from `recorded_date` on."),
        ),
        _t(
            "leads", "lead", "created_date", "lead_id",
            ("lead_id", "string", True, "Unique lead id."),
            ("created_date", "datetime", True, "When the lead arrived (may carry a time of day)."),
            ("source", "string", True, "Lead source / acquisition channel."),
            ("owner", "string", False, "Rep the lead was assigned to."),
            ("first_response_date", "datetime", False, "First contact by the rep (with time of day)."),
            ("converted_date", "datetime", False, "When the lead became an opportunity."),
            ("opportunity_id", "string", False, "The opportunity it converted into."),
            ("status", "string", False, "Lead status in the CRM."),
        ),
        _t(
            "orders", "order", "order_date", "order_id",
            ("order_id", "string", True, "Unique order id."),
            ("customer_id", "string", True, "Customer who ordered."),
            ("order_date", "datetime", True, "Order date."),
            ("amount", "float", True, "Order value."),
            ("margin", "float", False, "Gross margin of the order in currency units."),
            ("product", "string", False, "Product."),
            ("channel", "string", False, "Acquisition channel of the customer."),
        ),
        _t(
            "marketing_spend", "channel x month", "month", None,
            ("month", "datetime", True, "First day of the month."),
            ("channel", "string", True, "Channel (matches leads.source / orders.channel)."),
            ("spend", "float", True, "Spend in the month."),
            ("cost_type", "string", False, "marketing or sales."),
        ),
        _t(
            "activities", "activity", "activity_date", None,
            ("owner", "string", True, "Rep who logged the activity."),
            ("activity_date", "datetime", True, "When it happened."),
            ("type", "string", True, "call, email, meeting, ..."),
            ("opportunity_id", "string", False, "Related deal."),
            ("lead_id", "string", False, "Related lead."),
        ),
        _t(
            "csat", "survey answer", "survey_date", None,
            ("score", "float", True, "Satisfaction score."),
            ("survey_date", "datetime", True, "When the answer was given."),
            ("owner", "string", False, "Rep the answer is about (owner or customer_id is required)."),
            ("customer_id", "string", False, "Customer who answered (owner or customer_id is required)."),
            ("scale_max", "float", False, "Top of the scale (5 for CSAT 1-5, 10 for NPS 0-10)."),
        ),
        _t(
            "quotas", "rep x period", "period_start", None,
            ("owner", "string", True, "Rep."),
            ("period_start", "datetime", True, "First day of the quota period."),
            ("quota", "float", True, "Bookings quota for the period."),
            ("period_end", "datetime", False, "Last day of the period (default: end of the month)."),
        ),
    )
}

# csat needs at least one of these; the loader checks it.
CSAT_ONE_OF = ("owner", "customer_id")

# ------------------------------------------------------------------------------------------------
# the checks every engine back-end applies (the loader's quarantine) and the audit's flags

# Identity: the values without which a row cannot be a record of its table. A row missing one of them (or
# holding one that cannot be parsed) is quarantined; every other problem keeps the row and withholds the
# field (``WITHHELD_CHECKS``). A deal is its id and its stage; an order is its id (an order without a date or a
# customer is still revenue); an event row (stage entry, activity, survey answer) needs its date, and a plan
# row (spend month, quota period) its period and value.
IDENTITY = {
    "opportunities": ("opportunity_id", "stage"),
    "stage_history": ("opportunity_id", "stage", "entered_date"),
    "deal_history": ("opportunity_id", "recorded_date"),
    "leads": ("lead_id", "created_date"),
    "orders": ("order_id",),
    "marketing_spend": ("month", "channel", "spend"),
    "activities": ("owner", "activity_date"),
    "csat": ("score", "survey_date"),
    "quotas": ("owner", "period_start", "quota"),
}
# Values that must be present for a row to be usable (the identity; kept under its old name).
REQUIRED_VALUES = IDENTITY
# Values a row needs for some KPIs but not to be a record: a blank one is counted as withheld ("missing value").
EXPECTED_VALUES = {
    "opportunities": ("created_date",),
    "orders": ("customer_id", "order_date", "amount"),
    "deal_history": ("close_date",),
}
# Negative values: quarantined in identity columns (spend, quota); a negative amount is a credit: the amount
# (and an order's margin) is withheld unless the mapping says ``amount: {credits: true}``.
NONNEGATIVE = {"opportunities": ("amount",), "orders": ("amount",), "deal_history": ("amount",),
               "marketing_spend": ("spend",), "quotas": ("quota",)}
# columns withheld together with a negative amount (a credit's margin is negative too)
WITHHELD_WITH_AMOUNT = {"orders": ("margin",)}
# columns holding stage labels (normalised through the stage model)
STAGE_COLUMNS = ("stage", "lost_at_stage", "from_stage")

# Quarantine checks (the ``check`` column of ``Dataset.quarantine``) in priority order.
MALFORMED = "malformed line"
MISSING = "missing required value"
BAD_DATE = "unparseable date"
BAD_NUMBER = "unparseable number"
UNKNOWN_STAGE = "unknown stage"
NEGATIVE = "negative amount"
CLOSE_BEFORE_CREATED = "close before created"
NO_CUSTOMER = "order without customer"  # before issue 14 a quarantine check; now a withheld customer_id
EXACT_DUP = "exact duplicate row"
CONFLICT_DUP = "conflicting duplicate id"
QUARANTINE_CHECKS = (MALFORMED, MISSING, BAD_DATE, BAD_NUMBER, UNKNOWN_STAGE, NEGATIVE, EXACT_DUP, CONFLICT_DUP)

# Withheld-field checks (``Dataset.withheld``, and per row in ``Dataset.flags``): the row is kept, the field is
# set to missing (close before created: both dates are kept, the deal leaves cycle-time statistics only).
MISSING_VALUE = "missing value"
CLOSED_NO_CLOSE = "closed deal without close date"
WITHHELD_CHECKS = (BAD_DATE, BAD_NUMBER, NEGATIVE, MISSING_VALUE, CLOSED_NO_CLOSE, CLOSE_BEFORE_CREATED)
# ``Dataset.withheld``: one row per (table, column, reason); example: the first kept row as file:line; value: raw
WITHHELD_COLUMNS = ["table", "column", "reason", "rows", "example", "value"]

# Flag checks (``Dataset.flags``): kept rows that are usable but suspicious.
OPEN_PAST_CLOSE = "open deal past close date"
DEFAULT_CLOSE = "default close date (last day of creation month)"
AFTER_AS_OF = "date after as_of"
REPEATED_ROW = "repeated row (table without ids)"
FLAG_CHECKS = (OPEN_PAST_CLOSE, DEFAULT_CLOSE, AFTER_AS_OF, REPEATED_ROW)


def table_names() -> tuple[str, ...]:
    return tuple(TABLES)


def required_columns(table: str) -> tuple[str, ...]:
    return TABLES[table].required


# the opportunities' extra column holding a status-based CRM's won/lost/open value (``stages.status.column``)
STATUS_COLUMN = "deal_status"


@dataclass(frozen=True)
class StatusRule:
    """``stages.status``: a column with won/lost/open values separate from the stage (Pipedrive's ``Status``).

    A won or lost status makes the deal's stage the model's won or lost label; the stage column keeps the pipeline
    step, which a lost deal keeps as ``lost_at_stage``. ``open`` empty: every value that is not won or lost is
    open; otherwise a value in none of the three lists is unknown (an error, or quarantined like an unknown stage).
    """

    column: str
    won: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()
    open: tuple[str, ...] = ()

    def classify(self, raw: object) -> str | None:
        """The kind ("won", "lost" or "open") of a raw status value (blank: open), None when the mapping does not
        know it.

        Matching is exact first, then case/whitespace-insensitive."""
        if raw is None or (isinstance(raw, float) and raw != raw) or not str(raw).strip():
            return "open"
        s = str(raw).strip()
        for kind in ("won", "lost", "open"):
            if s in getattr(self, kind):
                return kind
        for kind in ("won", "lost", "open"):
            if s.casefold() in {v.strip().casefold() for v in getattr(self, kind)}:
                return kind
        return None if self.open else "open"


@dataclass(frozen=True)
class StageModel:
    """Ordered open stages plus the won and lost labels, as the mapping states them.

    Code never guesses from stage names: ``is_won``/``is_closed`` and the funnel order come from here.
    ``status``: the status column of a status-based CRM (:class:`StatusRule`), None when the stage says it all.
    """

    order: tuple[str, ...]
    won: tuple[str, ...]
    lost: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)
    status: StatusRule | None = None

    @classmethod
    def from_mapping(cls, stages: dict) -> StageModel:
        return cls(
            order=tuple(stages.get("order", ())),
            won=tuple(stages.get("won", ())),
            lost=tuple(stages.get("lost", ())),
            aliases=dict(stages.get("aliases") or {}),
        )

    @property
    def labels(self) -> tuple[str, ...]:
        return self.order + self.won + self.lost

    def normalise(self, raw: object) -> str | None:
        """Return the canonical label for a raw stage value, or None when unknown.

        Matching is exact first, then through ``aliases``, then case/whitespace-insensitive.
        """
        if raw is None or (isinstance(raw, float) and raw != raw):
            return None
        s = str(raw).strip()
        if s in self._lookup:
            return self._lookup[s]
        return self._lookup_ci.get(s.casefold())

    @property
    def _lookup(self) -> dict[str, str]:
        d = {lab: lab for lab in self.labels}
        d.update({str(k): v for k, v in self.aliases.items()})
        return d

    @property
    def _lookup_ci(self) -> dict[str, str]:
        return {k.strip().casefold(): v for k, v in self._lookup.items()}

    def is_won(self, label: str) -> bool:
        return label in self.won

    def is_lost(self, label: str) -> bool:
        return label in self.lost

    def is_closed(self, label: str) -> bool:
        return label in self.won or label in self.lost

    def index(self, label: str) -> int:
        """Funnel position: open stages 0..k-1, won stages k (the end of the funnel), lost -1."""
        if label in self.order:
            return self.order.index(label)
        if label in self.won:
            return len(self.order)
        return -1
