"""Bottom-up pipeline forecast: expected bookings from the deals open at as-of.

Win probabilities are learnt from the company's own closed history by stage and deal age (not the
CRM's default stage probabilities): every month-end snapshot before as-of places each open deal in
the stage it sat in (rebuilt from ``stage_history``) and an age bucket; the deals of a
(stage, age) cell that have since closed give its win rate (Beta posterior shrunk towards the
stage's rate). Close timing comes from the same snapshots: the days from snapshot to close of the
deals that were won. A seeded simulation (win ~ Bernoulli(p), p ~ the cell's Beta posterior drawn
once per simulation and shared by the cell's deals, shifted by a common quarter shock on the
log-odds whose size is estimated from past quarters' win rates; close date ~ the cell's empirical
delays) gives P10/P50/P90 per month and for the next quarter. Without stage history, close timing comes from
the won deals' age at close: an open deal of age ``a`` closes after ``A - a`` days, ``A`` drawn from the won
ages above ``a`` (the open deals' own expected close dates are not needed). Closed deals whose close date is
before their created date (late-entered deals) teach nothing about timing or age and are skipped. With no
closed history to learn from, the forecast says so (``reason``) and gives no number. Beside it: the CRM's
weighted pipeline (amount x probability) and forecast categories, and a backtest on past as-of
dates rebuilt from stage history, using only what was known at each date.

Stage order and won/lost come from the :class:`~salesops_kit.data.schema.StageModel`, never from names.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import narwhals as nw
import numpy as np
import pandas as pd

from ..stats import wilson_interval
from ..tools.results import Result
from ..tools.validation import require_columns
from .seasonal import quarter_label

__all__ = ["pipeline_forecast", "PipelineForecast", "AGE_BINS", "QUARTER_COLUMNS", "currency_view", "by_currency",
           "MIN_CLOSED_DEALS"]

AGE_BINS = (0, 30, 90, 180, 365, np.inf)   # deal age in days at the snapshot
QUARTER_COLUMNS = ["quarter", "expected", "p10", "p50", "p90", "crm_weighted"]
_PRIOR = 5.0                                 # pseudo-deals shrinking a (stage, age) cell to its stage's rate
# Fewer closed deals than this teach no win rate: one deal more or less moves a rate learnt from under 10 closed
# deals by 10 points or more, and the P10-P90 band would rest on a handful of close dates.
MIN_CLOSED_DEALS = 10
# The backtest's P10-P90 band should hold the booked amount in about 80% of past quarters; below half of at least
# four quarters the band is not reliable and the findings say so.
MIN_BACKTEST_QUARTERS = 4
MIN_BAND_COVERAGE = 0.5


def _collect(frame) -> pd.DataFrame:
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect()
    return frame.to_pandas().copy()


def _age_label(days) -> pd.Categorical:
    b = list(AGE_BINS)
    labels = [f"{int(b[i])}-{int(b[i + 1])}d" if np.isfinite(b[i + 1]) else f"{int(b[i])}d+" for i in range(len(b) - 1)]
    return pd.cut(pd.Series(days, dtype=float), bins=b, right=False, labels=labels)


def _deals(opportunities, stages) -> pd.DataFrame:
    f = nw.from_native(opportunities)
    cols = f.collect_schema().names()
    need = ["opportunity_id", "stage", "amount", "created_date", "close_date"]
    require_columns(cols, need, table="opportunities", purpose="pipeline_forecast")
    keep = need + [c for c in ("probability", "forecast_category", "lost_at_stage") if c in cols]
    d = _collect(f.select(keep))
    d["is_won"] = d["stage"].isin(stages.won)
    d["is_closed"] = d["stage"].isin(stages.won + stages.lost)
    amount = pd.to_numeric(d["amount"], errors="coerce")
    d["amount_missing"] = amount.isna()   # withheld or blank: counted as 0 in the bookings, said in a note
    d["amount"] = amount.fillna(0.0)
    return d


def _stage_rows(stage_history, stages, as_of) -> pd.DataFrame:
    """Open-stage entries known at ``as_of`` (entered on or before it); exits after it are unknown."""
    f = nw.from_native(stage_history)
    cols = f.collect_schema().names()
    if "exited_date" not in cols:
        f = f.with_columns(nw.lit(None, dtype=nw.Datetime()).alias("exited_date"))
    cut = as_of.to_pydatetime()
    sh = _collect(f.filter(nw.col("stage").is_in(list(stages.order)) & (nw.col("entered_date") <= cut))
                  .select("opportunity_id", "stage", "entered_date", "exited_date"))
    ex = sh["exited_date"] if sh["exited_date"].dtype == "datetime64[ns]" else pd.to_datetime(sh["exited_date"])
    sh["exited_date"] = ex.where(ex <= as_of)
    return sh


def _stage_at(sh: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """(opportunity_id, snap, stage) for each snapshot date where the deal sat in an open stage.

    A stage row covers the snapshots in ``[entered_date, exited_date)`` (no exit: to the last snapshot); they
    are found by binary search in the sorted snapshot dates rather than a cross join of rows and dates, and
    listed in the cross join's order (row by row, dates ascending), so ties resolve as before."""
    snaps = np.asarray(pd.DatetimeIndex(dates).sort_values().unique(), dtype="datetime64[ns]")
    ent = sh["entered_date"].to_numpy(dtype="datetime64[ns]")
    ext = sh["exited_date"].to_numpy(dtype="datetime64[ns]")
    lo = np.searchsorted(snaps, ent, side="left")  # first snapshot on or after entry
    hi = np.where(np.isnat(ext), len(snaps), np.searchsorted(snaps, ext, side="left"))  # snapshots before exit
    cnt = np.where(np.isnat(ent), 0, np.clip(hi - lo, 0, None))
    rows = np.repeat(np.arange(len(sh)), cnt)
    at = np.repeat(lo, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    x = pd.DataFrame({"opportunity_id": sh["opportunity_id"].to_numpy()[rows], "snap": snaps[at],
                      "entered_date": ent[rows], "stage": sh["stage"].to_numpy()[rows]})
    x = x.sort_values(["opportunity_id", "snap", "entered_date"]).drop_duplicates(["opportunity_id", "snap"],
                                                                                  keep="last")
    return x[["opportunity_id", "snap", "stage"]]


@dataclass(frozen=True)
class _Model:
    rates: pd.DataFrame                # stage, age_bin, won, closed, win_rate, ci_low, ci_high, a, b
    delays: dict                       # (stage, age_bin) or stage -> np.ndarray of days
    all_delays: np.ndarray
    tau: float = 0.0                   # sd of the quarter-to-quarter shock on the log-odds of winning
    ages: np.ndarray | None = None     # without history: the won deals' age at close (days), sorted
    closed: int = 0                    # closed deals learnt from


def _learn(deals: pd.DataFrame, sh: pd.DataFrame | None, stages, as_of: pd.Timestamp) -> _Model:
    """Win rates by (stage, age bin) and close delays, from deals closed on or before ``as_of``."""
    closed = deals[deals["is_closed"] & (deals["close_date"] <= _day_end(as_of))]
    closed = closed[~(closed["close_date"] < closed["created_date"])]   # late-entered: negative age at close
    ages = None
    if sh is not None and len(sh):
        start = sh["entered_date"].min()
        snaps = pd.date_range(start, as_of, freq="ME")
        snaps = snaps[snaps < as_of]
        x = _stage_at(sh, snaps)
        x = x.merge(closed[["opportunity_id", "is_won", "close_date", "created_date"]], on="opportunity_id")
        x = x[x["close_date"] > x["snap"]]
        x["age_bin"] = _age_label((x["snap"] - x["created_date"]).dt.days.to_numpy()).to_numpy()
        x["delay"] = (x["close_date"] - x["snap"]).dt.days
        x = x.sort_values("snap").drop_duplicates(["opportunity_id", "stage", "age_bin"], keep="first")
    else:  # no history: a closed deal "reached" a stage if won, or lost at that stage or later
        rows = []
        lost_at = closed.get("lost_at_stage")
        for s in stages.order:
            k = stages.order.index(s)
            if lost_at is not None:
                reached = closed["is_won"] | closed["lost_at_stage"].map(lambda v, k=k: stages.index(v) >= k if
                                                                          isinstance(v, str) else False)
            else:
                reached = pd.Series(True, index=closed.index)
            c = closed[reached]
            rows.append(pd.DataFrame({"opportunity_id": c["opportunity_id"], "stage": s, "is_won": c["is_won"],
                                      "age_bin": "all", "delay": (c["close_date"] - c["created_date"]).dt.days}))
        x = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
            columns=["opportunity_id", "stage", "is_won", "age_bin", "delay"])
        won_closed = closed[closed["is_won"]]
        ages = np.sort((won_closed["close_date"] - won_closed["created_date"]).dt.days.dropna().to_numpy(float))
    g = (x.groupby(["stage", "age_bin"], observed=True).agg(won=("is_won", "sum"), closed=("is_won", "size"))
         .reset_index())
    st = x.groupby("stage").agg(sw=("is_won", "sum"), sn=("is_won", "size"))
    overall = (x["is_won"].sum() + 1) / (len(x) + 2)
    st["p_stage"] = ((st["sw"] + overall) / (st["sn"] + 1)).clip(1e-4, 1 - 1e-4)
    g = g.merge(st[["p_stage"]], left_on="stage", right_index=True, how="left")
    g["a"] = g["won"] + _PRIOR * g["p_stage"]
    g["b"] = g["closed"] - g["won"] + _PRIOR * (1 - g["p_stage"])
    g["win_rate"] = g["won"] / g["closed"]
    g["ci_low"], g["ci_high"] = wilson_interval(g["won"].to_numpy(), g["closed"].to_numpy())
    g["p_used"] = g["a"] / (g["a"] + g["b"])
    order = {s: i for i, s in enumerate(stages.order)}
    g = g.sort_values(["stage", "age_bin"], key=lambda c: c.map(order) if c.name == "stage" else c.astype(str))
    won = x[x["is_won"]]
    delays = {}
    for (s, a), d in won.groupby(["stage", "age_bin"], observed=True)["delay"]:
        delays[(s, a)] = d.to_numpy(dtype=float)
    for s, d in won.groupby("stage")["delay"]:
        delays[s] = d.to_numpy(dtype=float)
    stage_p = st["p_stage"].to_dict()
    return _Model(g.reset_index(drop=True).assign(_stage_p=g["stage"].map(stage_p)), delays,
                  won["delay"].dropna().to_numpy(dtype=float), _quarter_shock(closed), ages, len(closed))


def _quarter_shock(closed: pd.DataFrame) -> float:
    """Between-quarter sd of the log-odds of winning beyond binomial noise (method of moments over
    close quarters with >= 20 closed deals): win rates drift together, which independent deal draws
    would miss and make P10-P90 too narrow."""
    if closed.empty:
        return 0.0
    q = closed.groupby(closed["close_date"].dt.to_period("Q"))["is_won"].agg(["sum", "size"])
    q = q[q["size"] >= 20]
    if len(q) < 3:
        return 0.0
    p = ((q["sum"] + 0.5) / (q["size"] + 1)).to_numpy()
    lo = np.log(p / (1 - p))
    binom = np.mean(1 / (q["size"].to_numpy() * p * (1 - p)))
    return float(np.sqrt(max(0.0, np.var(lo, ddof=1) - binom)))


def _day_end(as_of: pd.Timestamp) -> pd.Timestamp:
    """An as-of date without a time is that whole day: a deal created at 17:16 on it is in its pipeline."""
    return as_of + pd.Timedelta(days=1) - pd.Timedelta(1, "ns") if as_of == as_of.normalize() else as_of


def _open_at(deals: pd.DataFrame, sh: pd.DataFrame | None, as_of: pd.Timestamp, use_current: bool) -> pd.DataFrame:
    # an open deal without created date is in the pipeline today (its age is unknown), not at past dates
    end = _day_end(as_of)
    known = (deals["created_date"] <= end) | (use_current & deals["created_date"].isna() & ~deals["is_closed"])
    o = deals[known & ~(deals["is_closed"] & (deals["close_date"] <= end))].copy()
    if sh is not None and len(sh):
        at = _stage_at(sh, pd.DatetimeIndex([end]))[["opportunity_id", "stage"]]
        if use_current:  # today: a deal open now without history rows keeps its current stage
            o = o.merge(at.rename(columns={"stage": "_h"}), on="opportunity_id", how="left")
            o = o[o["_h"].notna() | ~o["is_closed"]]
            o["stage"] = o["_h"].where(o["_h"].notna(), o["stage"])
            o = o.drop(columns="_h")
        else:
            o = o.drop(columns="stage").merge(at, on="opportunity_id", how="inner")
    elif not use_current:
        raise ValueError("pipeline_forecast: rebuilding the pipeline at a past date needs stage_history.")
    o["age_days"] = (as_of - o["created_date"]).dt.days.astype(float)
    if sh is not None and len(sh):
        ab = pd.Series(_age_label(o["age_days"].to_numpy()).to_numpy(), index=o.index, dtype=object)
        o["age_bin"] = ab.where(ab.notna(), "age unknown")
    else:
        o["age_bin"] = "all"
    return o.sort_values("opportunity_id").reset_index(drop=True)


def _simulate(o: pd.DataFrame, model: _Model, as_of: pd.Timestamp, months: pd.PeriodIndex, n_sims: int, seed: int):
    """(sims x months) bookings matrix, per-deal p and median delay."""
    rng = np.random.default_rng(seed)
    r = model.rates
    cell = {(s, ab): (x, y) for s, ab, x, y in zip(r["stage"], r["age_bin"], r["a"], r["b"], strict=True)}
    stage_p = dict(zip(r["stage"], r["_stage_p"], strict=True))
    n = len(o)
    a = np.empty(n)
    b = np.empty(n)
    for i, (s, ab) in enumerate(zip(o["stage"], o["age_bin"], strict=True)):
        if (s, ab) in cell:
            a[i], b[i] = cell[(s, ab)]
        else:
            p0 = stage_p.get(s, 0.5)
            a[i], b[i] = _PRIOR * p0, _PRIOR * (1 - p0)
    # one draw of each cell's rate per simulation, shared by the deals in that cell (parameter
    # uncertainty is common to them), plus a common quarter shock on the log-odds (model.tau)
    keys = list(zip(o["stage"], o["age_bin"], strict=True))
    uniq = sorted(set(keys), key=str)
    col = np.array([uniq.index(k) for k in keys], dtype=int)
    ua = np.array([a[keys.index(k)] for k in uniq])
    ub = np.array([b[keys.index(k)] for k in uniq])
    pc = rng.beta(ua, ub, size=(n_sims, len(uniq))) if n else np.zeros((n_sims, 0))
    p = pc[:, col] if n else np.zeros((n_sims, 0))
    if model.tau > 0 and n:
        lo = np.log(np.clip(p, 1e-9, 1 - 1e-9) / np.clip(1 - p, 1e-9, None)) + rng.normal(0, model.tau, (n_sims, 1))
        p = 1 / (1 + np.exp(-lo))
    win = rng.random((n_sims, n)) < p
    delay = np.empty((n_sims, n))
    med = np.empty(n)
    ages = o["age_days"].to_numpy(dtype=float)
    for i, (s, ab) in enumerate(zip(o["stage"], o["age_bin"], strict=True)):
        if model.ages is not None:  # no history: remaining life of won deals older than this one
            left = model.ages[model.ages > ages[i]] - ages[i] if np.isfinite(ages[i]) else model.ages
            pool = left if len(left) else np.array([1.0])  # older than every won deal: any day now
        else:
            pool = model.delays.get((s, ab))
            if pool is None or len(pool) < 10:
                pool = model.delays.get(s)
            if pool is None or len(pool) == 0:  # (today's forecast stops earlier without won delays: _cannot)
                pool = model.all_delays if len(model.all_delays) else np.array([30.0])
        delay[:, i] = rng.choice(pool, size=n_sims)
        med[i] = np.median(pool)
    close = np.datetime64(as_of.date(), "D") + np.round(delay).astype("timedelta64[D]")
    m0 = months[0].year * 12 + months[0].month - 1
    idx = close.astype("datetime64[M]").astype(np.int64) + 1970 * 12 - m0   # months after the first month
    amt = o["amount"].to_numpy(dtype=float)
    k = len(months)
    ok = win & (idx >= 0) & (idx < k)
    flat = (np.arange(n_sims)[:, None] * k + idx)[ok]
    w = np.broadcast_to(amt, (n_sims, n))[ok]
    mat = np.bincount(flat, weights=w, minlength=n_sims * k).reshape(n_sims, k)
    return mat, a / (a + b), med


@dataclass(frozen=True, repr=False)
class PipelineForecast(Result):
    """Result of :func:`pipeline_forecast`.

    Attributes
    ----------
    monthly : DataFrame ``month, expected, p10, p50, p90, crm_weighted`` (expected bookings per
        month from open deals; ``crm_weighted`` = amount x CRM probability of open deals whose
        expected close date is in the month, NaN without a probability column).
    deals : DataFrame of the open deals ``opportunity_id, stage, age_days, amount, p_win,
        expected_close, crm_probability, forecast_category``.
    win_rates : DataFrame ``stage, age_bin, won, closed, win_rate, ci_low, ci_high, p_used``.
    quarter : DataFrame, one row: ``quarter, expected, p10, p50, p90, crm_weighted``.
    categories : DataFrame ``forecast_category, deals, amount`` for the next quarter (empty without
        the column).
    backtest : DataFrame ``as_of, quarter, expected, p10, p50, p90, actual, covered_p10_p90``.
    """

    monthly: pd.DataFrame
    deals: pd.DataFrame
    win_rates: pd.DataFrame
    quarter: pd.DataFrame
    categories: pd.DataFrame
    backtest: pd.DataFrame
    as_of: pd.Timestamp
    notes: tuple[str, ...] = field(default_factory=tuple)
    reason: str = ""   # why no forecast could be made for an open pipeline ("" when one was)
    current: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=QUARTER_COLUMNS))
    horizon: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=QUARTER_COLUMNS))

    @property
    def next_quarter(self) -> dict | None:
        return None if self.quarter.empty else self.quarter.iloc[0].to_dict()

    @property
    def rest_of_quarter(self) -> dict | None:
        """The rest of the as-of quarter (after as-of) when any of it is left, else None."""
        return None if self.current.empty else self.current.iloc[0].to_dict()

    @property
    def open_deals(self) -> int:
        return len(self.deals)

    def band_check(self) -> tuple[int, int]:
        """``(covered, quarters)``: in how many past quarters of the backtest the booked amount fell inside
        P10-P90 (the model's check on closed deals; ``(0, 0)`` without a backtest)."""
        if self.backtest.empty:
            return 0, 0
        return int(self.backtest["covered_p10_p90"].sum()), len(self.backtest)

    def band_reliable(self) -> bool | None:
        """The P10-P90 band held the booked amount in at least half of at least four past quarters (None: too few
        quarters to tell)."""
        covered, n = self.band_check()
        if n < MIN_BACKTEST_QUARTERS:
            return None
        return covered / n >= MIN_BAND_COVERAGE

    def windows(self) -> list[dict]:
        """The quarter rows with bookings expected from the open deals (P90 above zero): the rest of the as-of
        quarter, then the next quarter; empty when no open deal is expected to close in either."""
        return [r for r in (self.rest_of_quarter, self.next_quarter) if r is not None and r["p90"] > 0]

    def headline(self) -> str:
        from ..i18n import tr

        if self.reason:
            return self.reason
        if not self.open_deals:
            return tr("No open deals at {as_of:%Y-%m-%d}: there is no pipeline to forecast.", as_of=self.as_of)
        parts = []
        rest = self.rest_of_quarter
        for q in self.windows():
            s = (tr("rest of {quarter} (after {as_of:%Y-%m-%d})", quarter=q["quarter"], as_of=self.as_of)
                 if rest is not None and q["quarter"] == rest["quarter"] else str(q["quarter"]))
            s = tr("{window}: expected bookings from the open pipeline {expected:,.0f} (P10 {p10:,.0f}, P90 "
                   "{p90:,.0f})", window=s, expected=q["expected"], p10=q["p10"], p90=q["p90"])
            if pd.notna(q.get("crm_weighted")):
                s += tr("; CRM weighted pipeline {amount:,.0f}", amount=q["crm_weighted"])
            parts.append(s)
        q = self.next_quarter
        if q is not None and not q["p90"] > 0:
            h = self.horizon.iloc[0] if len(self.horizon) else None
            if h is not None and h["p90"] > 0:
                parts.append(tr("none of the {n:,} open deals is expected to close in {quarter}: the deals won so "
                                "far closed sooner", n=self.open_deals, quarter=q["quarter"]))
            else:
                parts.append(tr("none of the {n:,} open deals is expected to close by {end:%Y-%m}: the deals won "
                                "so far closed sooner or later than that window, so no number is given for it",
                                n=self.open_deals, end=pd.Timestamp(self.monthly["month"].max()) if len(self.monthly)
                                else self.as_of))
        s = "; ".join(parts)
        if len(self.backtest):
            s += tr("; backtest: actual inside P10-P90 in {covered} of {n} past quarters",
                    covered=int(self.backtest["covered_p10_p90"].sum()), n=len(self.backtest))
        return s[:1].upper() + s[1:] + "."

    def summary(self) -> pd.DataFrame:
        return self.monthly

    def plot(self, ax=None, **kwargs):
        from ..plots.forecast import plot_pipeline_forecast

        return plot_pipeline_forecast(self, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.headline())}</p>" + self.monthly.round(0).to_html(index=False)


def _in_currency(ds, code: str):
    """``ds`` with only the deals in currency ``code`` (the other tables unchanged)."""
    from dataclasses import replace

    f = nw.from_native(ds.opportunities)
    sub = f.filter(nw.col("currency").cast(nw.String).str.strip_chars().str.to_uppercase() == code).to_native()
    return replace(ds, tables={**ds.tables, "opportunities": sub})


def by_currency(ds) -> dict:
    """Currency code -> ``ds`` with only that currency's deals, when the deals mix currencies and the mapping
    gives no rates (``data.currency.needs_split``); ``{}`` otherwise (one money unit: no split needed)."""
    from ..data.currency import currencies, needs_split

    if ds.opportunities is None or not needs_split(ds, "opportunities"):
        return {}
    return {c: _in_currency(ds, c) for c in currencies(ds, "opportunities")}


def currency_view(ds, *, main_by: str = "won") -> tuple:
    """``(ds, sentence)``: the dataset a money forecast runs on, and why it was narrowed.

    One money unit (or rates that convert): ``ds`` itself in the report currency and ``""``. Several
    currencies without rates: only the deals of the main currency (the mapping's ``currency.report``, else the
    currency with the most won deals — ``main_by="open"``: the most open deals, for the pipeline) and one
    sentence naming the currencies and the mapping block that would convert them, so no forecast adds pesos to
    dollars.
    """
    from ..data.currency import converted, currency_of
    from ..i18n import tr
    from ..tools.validation import check_option

    check_option("main_by", main_by, ("won", "open"))
    parts = by_currency(ds)
    if not parts:
        return converted(ds), ""
    st = ds.stages
    pick = nw.col("stage").is_in(list(st.won)) if main_by == "won" else ~nw.col("stage").is_in(list(st.won + st.lost))

    def count(d):
        return int(nw.from_native(d.opportunities).lazy().filter(pick).select(nw.len()).collect().item())

    counts = {c: count(d) for c, d in parts.items()}
    report = currency_of(ds).report
    main = report if report in parts else sorted(parts, key=lambda c: (-counts[c], c))[0]
    others = [c for c in parts if c != main]
    block = "currency: {report: " + main + ", rates: {" + ", ".join(f"{c}: <rate>" for c in others) + "}}"
    what = (tr("{n:,} won", n=counts[main]) if main_by == "won" else tr("{n:,} open", n=counts[main]))
    return parts[main], tr("Deals are in {n} currencies ({codes}) and the mapping gives no exchange rates: this "
                           "forecast covers the {main} deals only ({what}), the others are per currency in the KPI "
                           "table; to forecast all deals in {main}, add to the mapping: {block}.",
                           n=len(parts), codes=", ".join(parts), main=main, what=what, block=block)


def _stages_from_flags(opportunities):
    """A StageModel from the loader's ``is_won`` / ``is_closed`` columns (themselves derived from the
    mapping's stage model) when ``stages`` is not given; open stages in order of first appearance."""
    from ..data.schema import StageModel

    f = nw.from_native(opportunities)
    cols = f.collect_schema().names()
    if not {"is_won", "is_closed", "stage"} <= set(cols):
        raise ValueError("pipeline_forecast: pass stages=ds.stages (stage order and won/lost labels); the "
                         "opportunities have no is_won / is_closed columns to take them from.")
    d = _collect(f.select("stage", "is_won", "is_closed"))
    won = tuple(sorted(d.loc[d["is_won"].astype(bool), "stage"].dropna().unique()))
    lost = tuple(sorted(d.loc[d["is_closed"].astype(bool) & ~d["is_won"].astype(bool), "stage"].dropna().unique()))
    order = tuple(dict.fromkeys(d.loc[~d["is_closed"].astype(bool), "stage"].dropna()))
    return StageModel(order=order, won=won, lost=lost)


def _next_quarter(as_of: pd.Timestamp) -> pd.Period:
    return as_of.to_period("Q") + 1


def _run(deals, sh, stages, as_of, months, n_sims, seed, use_current):
    model = _learn(deals, sh, stages, as_of)
    o = _open_at(deals, sh, as_of, use_current)
    mat, p, med = _simulate(o, model, as_of, months, n_sims, seed)
    return model, o, mat, p, med


def _cannot(model: _Model, o: pd.DataFrame, as_of: pd.Timestamp) -> str:
    """Why the open pipeline cannot be forecast from this history ("" when it can)."""
    from ..i18n import tr

    if o.empty:
        return ""
    if "amount_missing" in o and o["amount_missing"].all():
        return tr("No forecast for the {n:,} open deals: none has an amount, so there are no bookings to add up.",
                  n=len(o))
    if 0 < model.closed < MIN_CLOSED_DEALS:
        return tr("No forecast for the {n:,} open deals: only {k} deals closed on or before {as_of:%Y-%m-%d}, and "
                  "win rates learnt from fewer than {min} closed deals move by 10 points or more with a single deal, "
                  "so no number is shown.", n=len(o), k=model.closed, as_of=as_of, min=MIN_CLOSED_DEALS)
    if model.closed == 0:
        return tr("No forecast for the {n:,} open deals: no deal closed on or before {as_of:%Y-%m-%d} (with a close "
                  "date not before its created date), so win rates and close timing cannot be learnt.", n=len(o),
                  as_of=as_of)
    if not len(model.all_delays if model.ages is None else model.ages):
        return tr("No forecast for the {n:,} open deals: no won deal with a close date on or after its created date "
                  "to learn when deals close from.", n=len(o))
    return ""


def _no_history_note() -> str:
    from ..i18n import tr

    return tr("No stage history: win rates by the furthest stage reached, no age effect, no backtest.")


def pipeline_forecast(opportunities, *, as_of, stage_history=None, stages=None, horizon_months: int = 6,
                      n_sims: int = 2000, seed: int = 0, backtest_dates: int = 6) -> PipelineForecast:
    """Expected bookings per month from the deals open at ``as_of``, with P10/P50/P90.

    Parameters
    ----------
    opportunities : DataFrame-like (narwhals) with ``opportunity_id, stage, amount, created_date,
        close_date`` (+ optional ``probability``, ``forecast_category``, ``lost_at_stage``).
    as_of : date-like
        The pipeline is the deals created on or before it and not closed by it.
    stage_history : DataFrame-like, optional
        ``opportunity_id, stage, entered_date[, exited_date]``. Needed to learn win rates by
        stage *and age* and for the backtest; without it, win rates by the furthest stage reached
        (``lost_at_stage``) and no backtest.
    stages : StageModel, optional
        Stage order and won/lost labels (``ds.stages``). Default: taken from the loader's ``is_won``
        / ``is_closed`` columns (themselves derived from the mapping), open stages in order of first
        appearance; an error when those columns are absent.
    horizon_months : int
        Months from the as-of month covered by ``monthly`` (the next quarter is always simulated).
    n_sims, seed : simulation size and seed (deterministic).
    backtest_dates : int
        Number of past quarter-ends (each with a complete following quarter before ``as_of``) at
        which the pipeline is rebuilt and forecast; 0 skips the backtest.

    Returns
    -------
    :class:`PipelineForecast`.
    """
    if stages is None:
        stages = _stages_from_flags(opportunities)
    as_of = pd.Timestamp(as_of).normalize()
    deals = _deals(opportunities, stages)
    sh = _stage_rows(stage_history, stages, as_of) if stage_history is not None else None
    q = _next_quarter(as_of)
    last = max(as_of.to_period("M") + horizon_months - 1, q.asfreq("M", "end"))
    months = pd.period_range(as_of.to_period("M"), last, freq="M")
    model = _learn(deals, sh, stages, as_of)
    o = _open_at(deals, sh, as_of, True)
    reason = _cannot(model, o, as_of)
    if reason:
        return _cannot_result(o, model, as_of, reason, sh is None)
    mat, p, med = _simulate(o, model, as_of, months, n_sims, seed)
    notes = []
    if o["amount_missing"].any():
        from ..i18n import tr

        notes.append(tr("{k:,} of the {n:,} open deals have no amount: they count as 0 in the expected bookings.",
                        k=int(o["amount_missing"].sum()), n=len(o)))
    if sh is None:
        notes.append(_no_history_note())
        if "lost_at_stage" not in deals:
            from ..i18n import tr

            notes.append(tr("Nor is the stage a lost deal reached known: every open stage gets the same win rate "
                            "(all closed deals)."))
    # the CRM's weighted pipeline needs a probability and an expected close date on some open deal; without any
    # it is unknown (NaN), not 0 (open deals without expected close dates are common in real exports)
    has_prob = "probability" in o and bool((o["probability"].notna() & o["close_date"].notna()).any())
    o_close = o["close_date"].dt.to_period("M")
    crm = []
    for mth in months:
        sel = o_close == mth
        crm.append(float((o.loc[sel, "amount"] * o.loc[sel, "probability"]).sum()) if has_prob else np.nan)
    qs = np.percentile(mat, [10, 50, 90], axis=0) if len(o) else np.zeros((3, len(months)))
    monthly = pd.DataFrame({"month": months.to_timestamp(), "expected": mat.mean(axis=0), "p10": qs[0],
                            "p50": qs[1], "p90": qs[2], "crm_weighted": crm})
    monthly = monthly[monthly["month"] <= months[min(len(months), max(horizon_months, 1)) - 1].to_timestamp()]
    o_q = o["close_date"].dt.to_period("Q")
    weighted = o["amount"] * o["probability"] if has_prob else None

    def window(label, mask, crm_mask):
        tot = mat[:, mask].sum(axis=1)
        return pd.DataFrame([{"quarter": label, "expected": tot.mean(), "p10": np.percentile(tot, 10),
                              "p50": np.percentile(tot, 50), "p90": np.percentile(tot, 90),
                              "crm_weighted": float(weighted[crm_mask].sum()) if has_prob else np.nan}],
                            columns=QUARTER_COLUMNS)

    in_q = o_q == q
    quarter = window(quarter_label(q), np.array([(m.asfreq("Q") == q) for m in months]), in_q)
    cq = as_of.to_period("Q")
    # the rest of the as-of quarter: a deal expected there is not in the next quarter (a forecast of only the
    # next quarter read 0 for a pipeline whose deals all close within weeks)
    current = (window(quarter_label(cq), np.array([(m.asfreq("Q") == cq) for m in months]),
                      (o_q == cq) & (o["close_date"] > as_of))
               if as_of < cq.end_time.normalize() else pd.DataFrame(columns=QUARTER_COLUMNS))
    horizon = window(f"{months[0]}..{months[-1]}", np.ones(len(months), dtype=bool),
                     o["close_date"].dt.to_period("M").between(months[0], months[-1]))
    if "forecast_category" in o:
        cats = (o[in_q].groupby("forecast_category").agg(deals=("opportunity_id", "size"), amount=("amount", "sum"))
                .reset_index().sort_values("forecast_category").reset_index(drop=True))
    else:
        cats = pd.DataFrame(columns=["forecast_category", "deals", "amount"])
    deals_out = pd.DataFrame({
        "opportunity_id": o["opportunity_id"], "stage": o["stage"], "age_days": o["age_days"], "amount": o["amount"],
        "p_win": p, "expected_close": as_of + pd.to_timedelta(med, unit="D"),
        "crm_probability": o["probability"] if "probability" in o else np.nan,
        "forecast_category": o["forecast_category"] if "forecast_category" in o else None})
    rates = model.rates[["stage", "age_bin", "won", "closed", "win_rate", "ci_low", "ci_high", "p_used"]]
    bt = _backtest(deals, stage_history, stages, as_of, backtest_dates, n_sims, seed) if (
        sh is not None and backtest_dates > 0) else _backtest_frame([])
    return PipelineForecast(monthly.reset_index(drop=True), deals_out, rates.reset_index(drop=True), quarter, cats, bt,
                            as_of, tuple(notes), current=current, horizon=horizon)


def _cannot_result(o, model, as_of, reason, no_history) -> PipelineForecast:
    """No number: empty monthly and quarter tables, the open deals without p_win, the reason."""
    monthly = pd.DataFrame(columns=["month", "expected", "p10", "p50", "p90", "crm_weighted"])
    quarter = pd.DataFrame(columns=["quarter", "expected", "p10", "p50", "p90", "crm_weighted"])
    deals_out = pd.DataFrame({
        "opportunity_id": o["opportunity_id"], "stage": o["stage"], "age_days": o["age_days"], "amount": o["amount"],
        "p_win": np.nan, "expected_close": pd.NaT,
        "crm_probability": o["probability"] if "probability" in o else np.nan,
        "forecast_category": o["forecast_category"] if "forecast_category" in o else None})
    rates = model.rates[["stage", "age_bin", "won", "closed", "win_rate", "ci_low", "ci_high", "p_used"]]
    notes = (_no_history_note(),) if no_history else ()
    return PipelineForecast(monthly, deals_out.reset_index(drop=True), rates.reset_index(drop=True), quarter,
                            pd.DataFrame(columns=["forecast_category", "deals", "amount"]), _backtest_frame([]),
                            as_of, notes + (reason,), reason)


def _backtest(deals, stage_history, stages, as_of, k, n_sims, seed) -> pd.DataFrame:
    """Rebuild the pipeline at past quarter-ends (only what was known then) and compare its
    next-quarter forecast with what those deals actually booked in that quarter."""
    rows = []
    q_last = as_of.to_period("Q") - 1            # last quarter fully observed
    for j in range(k, 0, -1):
        tq = q_last - (j - 1)                     # target quarter
        d = (tq - 1).end_time.normalize()         # as-of: the end of the previous quarter
        if d < deals["created_date"].min():
            continue
        sh = _stage_rows(stage_history, stages, d)
        # outcomes after d are unknown to the model: closed-by-d only (enforced in _learn/_open_at)
        months = pd.period_range(tq.asfreq("M", "start"), tq.asfreq("M", "end"), freq="M")
        model, o, mat, _, _ = _run(deals, sh, stages, d, months, n_sims, seed, False)
        if model.closed < MIN_CLOSED_DEALS:   # today's forecast would not be shown from so few: nor is this one
            continue
        tot = mat.sum(axis=1)
        won = deals.set_index("opportunity_id").loc[o["opportunity_id"]]
        act = won[won["is_won"] & (won["close_date"].dt.to_period("Q") == tq)]["amount"].sum()
        p10, p50, p90 = np.percentile(tot, [10, 50, 90]) if len(tot) else (0.0, 0.0, 0.0)
        rows.append({"as_of": d, "quarter": quarter_label(tq), "expected": float(tot.mean()), "p10": p10, "p50": p50,
                     "p90": p90, "actual": float(act), "covered_p10_p90": bool(p10 <= act <= p90)})
    return _backtest_frame(rows)


def _backtest_frame(rows: list[dict]) -> pd.DataFrame:
    """The backtest table, typed even when empty (``as_of`` stays datetime64 so ``.dt`` works)."""
    df = pd.DataFrame(rows, columns=["as_of", "quarter", "expected", "p10", "p50", "p90", "actual", "covered_p10_p90"])
    df["as_of"] = pd.to_datetime(df["as_of"])
    return df
