"""The funnel KPIs of a Dataset (see :mod:`salesops_kit.kpis`): rows computed from the funnel's results in
:mod:`.metrics`, :mod:`.stages` and :mod:`.cycle`, beside them rather than inside."""

from __future__ import annotations

import narwhals as nw
import numpy as np
import pandas as pd

from ..data.currency import convert, currencies, needs_split, report_currency
from ..engines.ops import columns, lazy
from ..stats import wilson_interval
from ._findings import MIN_DEALS
from ._history_kpis import history_kpi_rows
from .cycle import sales_cycle
from .metrics import ALL_HISTORY, deal_totals, lead_funnel, lead_maturity_window, sales_velocity
from .stages import KPI_SEGMENTS, stage_conversion_kpi, stage_funnel

__all__ = ["kpi_rows", "KPI_SEGMENTS", "LEAD_SEGMENTS", "show_kpis", "pipeline_rows"]

LEAD_SEGMENTS = {"source": "lead_source", "owner": "owner"}
MONEY_KPIS = ("won_revenue", "avg_won_deal_size", "sales_velocity_per_month")
#: the window of each funnel KPI (kpis.csv's window column): counts of deals now open and the velocity of today's
#: pipeline are "as of date", everything over closed deals "all history"; lead rates name their maturity window
AS_OF_KPIS = ("deals_open", "sales_velocity_per_month")


def _seg(col, value) -> str:
    return "all" if col is None else f"{col}={value}"


#: the settings a KPI's interval is defined with (the functions' defaults): a notebook's result made with others
#: (fewer resamples, another level or funnel type, another false-discovery rate) is computed again, not reused
KPI_CYCLE_SETTINGS = {"n_boot": 400, "seed": 0, "level": 0.95}
KPI_FUNNEL_TYPE = "any_path"
KPI_ALPHA = 0.05


def kpi_rows(ds, *, cycles=(), funnels=(), by_stage=None, coverage=None, amounts=None, slip=None,
             reasons=None) -> list[dict]:
    """The funnel KPIs of a Dataset, overall and per owner and lead source (see ``salesops_kit.kpis``).

    The notebook hands over what it has already computed for this dataset, so that the KPI table does not
    compute it twice (the sales-cycle bootstrap is most of the cost): ``cycles`` (``sales_cycle`` results) and
    ``funnels`` (``stage_funnel`` results) are used for the KPI segment they were computed by (``by`` of none,
    owner or lead source) when made on the same as-of date with the KPIs' settings (:data:`KPI_CYCLE_SETTINGS`,
    :data:`KPI_FUNNEL_TYPE`); ``by_stage``, ``coverage`` and ``amounts`` go to :func:`pipeline_rows`; ``slip`` and
    ``reasons`` (``slippage``, ``loss_reasons``) to ``history_kpi_rows`` when made at :data:`KPI_ALPHA`. Anything
    else is computed here; the rows are the same either way.

    Returns ``{kpi, segment, value, ci_low, ci_high, window}`` records; [] when the dataset has no opportunities.
    """
    if ds.opportunities is None:
        return []
    as_of = pd.Timestamp(ds.as_of)
    have_cycle = {tuple(c.by): c for c in cycles if c is not None and pd.Timestamp(c.as_of) == as_of
                  and c.settings == KPI_CYCLE_SETTINGS}
    have_funnel = {tuple(f.by): f for f in funnels if f is not None and f.funnel_type == KPI_FUNNEL_TYPE}
    stages = ds.stages
    split = needs_split(ds, "opportunities")  # several currencies, no rates: money per currency only
    code = None if split else report_currency(ds, "opportunities")
    opps = convert(ds.opportunities, ds, "opportunities")
    have = set(columns(lazy(opps)))
    rows: list[dict] = []
    lead_window = lead_maturity_window(ds.as_of)

    def add(kpi, seg, value, lo=np.nan, hi=np.nan, *, cur=None):
        if kpi in MONEY_KPIS and split and cur is None:
            return
        if value is None or pd.isna(value):  # no value (no closed deal, no usable time to win ...): no row of NaN
            return
        row = {"kpi": kpi, "segment": seg, "value": float(value) if value is not None else np.nan,
               "ci_low": float(lo), "ci_high": float(hi),
               "window": lead_window if kpi.startswith("lead_") else "as of date" if kpi in AS_OF_KPIS
               else "all history"}
        if kpi in MONEY_KPIS and (cur or code):
            row["currency"] = cur or code
        rows.append(row)

    def money(tot, vel, seg_of, cur=None):
        for i, r in tot.iterrows():
            seg = seg_of(r)
            add("won_revenue", seg, r["won_amount"], cur=cur)
            n = r["won_amount_n"]
            if n:
                mean = r["won_amount"] / n
                # the normal approximation needs some deals: from two a 95% interval of a mean deal size
                # runs below zero; under MIN_DEALS won amounts the KPI carries no interval
                sd = np.sqrt(max(r["won_amount_sq"] - n * mean**2, 0.0) / (n - 1)) if n >= MIN_DEALS else np.nan
                half = 1.959964 * sd / np.sqrt(n)
                add("avg_won_deal_size", seg, mean, mean - half, mean + half, cur=cur)
            add("sales_velocity_per_month", seg, vel.iloc[i]["velocity_per_month"], cur=cur)

    for col in KPI_SEGMENTS:
        if col is not None and col not in have:
            continue
        by = [] if col is None else [col]
        tot = deal_totals(opps, by=by, stages=stages).reset_index(drop=True)
        cyc = have_cycle.get(tuple(by)) or sales_cycle(ds, by=by, detail=False)
        vel = sales_velocity(opps, by=by, stages=stages, as_of=ds.as_of, cycle_summary=cyc.table).table
        fun = (have_funnel.get(tuple(by)) or stage_funnel(ds, by=by)).table
        for _, r in tot.iterrows():
            seg = _seg(col, r[col] if col else None)
            closed = r["won"] + r["lost"]
            lo, hi = wilson_interval(r["won"], closed)
            add("win_rate", seg, r["won"] / closed if closed else np.nan, lo, hi)
            add("deals_won", seg, r["won"])
            add("deals_lost", seg, r["lost"])
            add("deals_open", seg, r["open"])
        if not split:  # velocity rows matched by key (a blank segment value is a key too), not by position
            vel = tot[by].merge(vel, on=by, how="left") if by else vel
            money(tot, vel, lambda r, col=col: _seg(col, r[col] if col else None))
        for _, r in cyc.table.iterrows():
            seg = _seg(col, r[col] if col else None)
            add("sales_cycle_median_days", seg, r["median_days_to_win"], r["ci_low"], r["ci_high"])
            add("sales_cycle_won_mean_days", seg, r["naive_won_mean_days"])
        # a step no deal has passed or left (a stage nobody reached, or only open deals there) has no rate: no row
        for _, r in fun[fun["next_stage"].notna() & fun["conversion"].notna()].iterrows():
            seg = _seg(col, r[col] if col else None)
            add(stage_conversion_kpi(r["stage"], r["next_stage"]), seg, r["conversion"],
                r["conversion_ci_low"], r["conversion_ci_high"])
    for cur in currencies(ds, "opportunities") if split else ():
        sub = nw.from_native(opps).filter(
            nw.col("currency").cast(nw.String).str.strip_chars().str.to_uppercase() == cur).to_native()
        tot = deal_totals(sub, stages=stages).reset_index(drop=True)
        cyc = sales_cycle(sub, stages=stages, as_of=ds.as_of, n_boot=0, detail=False)
        vel = sales_velocity(sub, stages=stages, as_of=ds.as_of, cycle_summary=cyc.table).table
        money(tot, vel, lambda r, cur=cur: f"currency={cur}", cur=cur)
    rows += pipeline_rows(ds, by_stage=by_stage, coverage=coverage, amounts=amounts)
    if ds.leads is not None:
        lhave = set(columns(lazy(ds.leads, table="leads")))
        for lcol in (None, *LEAD_SEGMENTS):
            if lcol is not None and lcol not in lhave:
                continue
            lt = lead_funnel(ds, by=[] if lcol is None else [lcol]).table
            for _, r in lt.iterrows():
                seg = _seg(None if lcol is None else LEAD_SEGMENTS[lcol], r[lcol] if lcol else None)
                add("lead_conversion_rate", seg, r["lead_to_opportunity"], r["lead_to_opportunity_ci_low"],
                    r["lead_to_opportunity_ci_high"])
                if pd.notna(r["lead_to_win"]):
                    add("lead_to_win_rate", seg, r["lead_to_win"], r["lead_to_win_ci_low"], r["lead_to_win_ci_high"])
    slip = slip if slip is not None and slip.alpha == KPI_ALPHA else None
    reasons = reasons if reasons is not None and reasons.alpha == KPI_ALPHA else None
    return rows + history_kpi_rows(ds, slip=slip, reasons=reasons)  # slippage and loss reasons (issue 18)


def pipeline_rows(ds, *, by_stage=None, coverage=None, amounts=None) -> list[dict]:
    """The pipeline KPIs (issue 18): open, CRM-weighted and history-weighted pipeline overall and per stage (and the
    open amount per team and owner), the amount of the deals that reached each open stage, pipeline coverage per
    company, team and owner, and the coverage each team needed when its history can say it. Computed here unless
    the notebook's results are given; [] when the data cannot support them (the sections say why in one sentence)."""
    from .metrics import open_pipeline
    from .pipeline import COMPANY, funnel_amounts, pipeline_by_stage, pipeline_coverage

    rows: list[dict] = []
    pb = by_stage if by_stage is not None else pipeline_by_stage(ds)
    if not pb.limitation:
        code = pb.currency
        money = {"window": "as of date", **({"currency": code} if code else {})}
        for kpi, col in (("open_pipeline_amount", "open_amount"), ("weighted_pipeline_crm", "weighted_crm"),
                         ("weighted_pipeline_historical", "weighted_historical")):
            total = pb.totals()[col]
            if np.isfinite(total):
                rows.append({"kpi": kpi, "segment": "all", "value": total, **money})
            for _, r in pb.table[pb.table[col].notna()].iterrows():
                rows.append({"kpi": kpi, "segment": f"stage={r['stage']}", "value": float(r[col]), **money})
        have = set(columns(lazy(ds.opportunities)))
        for col in ("team", "owner"):
            if col in have:
                g = open_pipeline(ds, by=col)
                g = g[g[col].notna()].groupby(col)["open_amount"].sum(min_count=1).dropna()
                rows += [{"kpi": "open_pipeline_amount", "segment": f"{col}={k}", "value": float(v), **money}
                         for k, v in g.items()]
    fa = amounts if amounts is not None else funnel_amounts(ds)
    if not fa.limitation:  # the stage funnel in money (several currencies without rates: no amount row)
        money = {"currency": fa.currency} if fa.currency else {}
        rows += [{"kpi": "stage_reached_amount", "segment": f"stage={r['stage']}", "value": float(r["reached_amount"]),
                  "window": ALL_HISTORY, **money} for _, r in fa.table.iterrows()]
    cov = coverage if coverage is not None else pipeline_coverage(ds)
    if not cov.limitation:
        for _, r in cov.table[cov.table["coverage"].notna()].iterrows():
            seg = "all" if r["level"] == COMPANY else f"team={r['team']}" if r["level"] == "team" else \
                f"owner={r['owner']}"
            rows.append({"kpi": "pipeline_coverage", "segment": seg, "value": float(r["coverage"]),
                         "window": cov.window})
        for _, r in cov.needed[cov.needed["needed_coverage"].notna()].iterrows():
            rows.append({"kpi": "pipeline_coverage_needed", "segment": "all" if r["team"] == COMPANY else
                         f"team={r['team']}", "value": float(r["needed_coverage"]), "ci_low": float(r["ci_low"]),
                         "ci_high": float(r["ci_high"])})
    return rows


def show_kpis(frame: pd.DataFrame, *, segment: str = "all", caption: str | None = None):
    """The KPI rows of one segment (``kpis.kpi_frame`` output) as a table a manager reads: each value in its own
    unit (rates as %, days with one decimal, counts whole, money with its code), the 95% interval in one column,
    and the window each number covers."""
    from ..tools import show_table
    from ..tools.tables import MISSING, format_number

    k = frame[frame["segment"] == segment] if "segment" in frame else frame

    def fmt(v, unit):
        unit = str(unit or "")
        if unit in ("rate", "share"):
            return format_number(v, percent=True)
        if unit in ("deals", "rows", "customers"):
            return format_number(v, decimals=0)
        return format_number(v, decimals=1 if unit == "days" else 0 if v is not None and abs(float(v)) >= 100
                             else None)

    def unit_of(unit):  # money without a known code: no word "currency" as a unit ("per month" stays)
        return " ".join(w for w in str(unit or "").split() if w != "currency")

    rows = []
    for _, r in k.iterrows():
        lo, hi = fmt(r.get("ci_low"), r["unit"]), fmt(r.get("ci_high"), r["unit"])
        rows.append({"kpi": r["kpi"], "value": fmt(r["value"], r["unit"]),
                     "95% CI": MISSING if MISSING in (lo, hi) else f"{lo} – {hi}",
                     "unit": "%" if r["unit"] in ("rate", "share") else unit_of(r["unit"]),
                     "window": r.get("window") or ""})
    return show_table(pd.DataFrame(rows, columns=["kpi", "value", "95% CI", "unit", "window"]), caption=caption)
