"""Where the revenue comes from (issue 18, part 6): revenue and win rate by product, region and account size, the
accounts' Pareto view and won revenue by month against the same month a year earlier.

:func:`revenue_sources` reads a Dataset over one window, the 12 complete months to the reviewed month (the last
complete month at the as-of date unless ``end`` names another):

* **by product, region and account size** — closed deals (won or lost, by close date in the window), won deals,
  the win rate with its 95% Wilson interval, won revenue and its share of the window's won revenue with a 95%
  delta-method interval (deals as independent draws: ``SE = sqrt((1-p)² Q_k + p² (Q - Q_k)) / R``, ``R`` the
  won revenue, ``Q`` the sum of squared won amounts, ``k`` the level); orders by product in the same window
  (order revenue and its share). **Account size** is the number of deals (any stage) the account
  (``opportunities.account_id``) has had up to the as-of date, in bands :data:`SIZE_BANDS` (1, 2–3, 4–9, 10+
  deals): a deal count, not revenue, so a band's win rate is not decided by how the band was drawn;
* **tests** — each level's win rate against the other levels of its dimension pooled (two-sided Fisher exact,
  ``stats.fisher_vs_rest``; a dimension of two levels is one test, told by the level that wins less), each
  product's and region's revenue share against one half (one-sided z on the delta-method interval: "carries most
  of the revenue"; account-size bands are the kit's own bins and are not tested for a majority), and the growth
  of won revenue year over year (two-sided z on the log ratio, compound-Poisson variances); one
  Benjamini–Hochberg family over every test run, so a level is flagged only when its difference survives the
  false-discovery correction across all of them;
* **Pareto** — accounts (deals' ``account_id``) and customers (orders' ``customer_id``) ranked by their revenue in
  the window: the Lorenz curve and the share of revenue the top 20% bring (linear interpolation on the curve when
  the count is not a multiple of five);
* **months** — won revenue per calendar month of the window and the same month a year earlier, plus the month
  still running at the as-of date (partial); the year-over-year growth of the window's total.

Every row-level scan runs through narwhals (pandas, Polars, DuckDB, Spark): the results collected are one row per
level, account, customer or month. A section whose columns are missing is one sentence in ``reasons``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import narwhals as nw
import numpy as np
import pandas as pd

from ..engines.ops import as_pylit, columns, lazy
from ..tools.results import Result
from . import _series as ms
from ._series import collect, last_complete_period, parse_review, period_name, row_count, shift_period

__all__ = ["RevenueSources", "revenue_sources", "size_band", "SIZE_BANDS", "lorenz", "top_share", "share_interval",
           "SOURCE_COLUMNS"]

SIZE_BANDS = ((1, 1, "1 deal"), (2, 3, "2–3 deals"), (4, 9, "4–9 deals"), (10, None, "10+ deals"))
DIMENSIONS = ("product", "region", "account_size")
MAJORITY_DIMENSIONS = ("product", "region")  # a level of the data, tested for carrying most of the revenue
NOT_SET = "not set"
TOP = 0.2
MIN_PARETO = 5  # accounts or customers with revenue: below, "the top 20%" is less than one of them
SOURCE_COLUMNS = ["source", "dimension", "level", "closed", "won", "win_rate", "ci_low", "ci_high", "rest_rate",
                  "p_win", "q_win", "revenue", "share", "share_low", "share_high", "p_share", "q_share"]
_Z = 1.959963984540054


def size_band(deals) -> np.ndarray:
    """The :data:`SIZE_BANDS` label of each deal count (``1 deal``, ``2–3 deals``, ``4–9 deals``, ``10+ deals``);
    None for a count below 1 or missing."""
    n = np.asarray(deals, dtype=float)
    out = np.full(n.shape, None, dtype=object)
    for lo, hi, label in SIZE_BANDS:
        out[(n >= lo) & ((n <= hi) if hi is not None else True)] = label
    return out


def share_interval(revenue, sq, total: float, total_sq: float):
    """Each level's share of ``total`` with its 95% delta-method interval and the one-sided p-value of "share >
    1/2" (rows as independent draws; ``sq`` the level's sum of squared amounts, ``total_sq`` all levels'). Returns
    ``(share, low, high, p)`` arrays; NaN where the total is 0, p NaN where the standard error is 0."""
    from scipy import stats as st

    r, q = np.asarray(revenue, dtype=float), np.asarray(sq, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = r / total if total > 0 else np.full(r.shape, np.nan)
        se = np.sqrt(np.clip((1 - p) ** 2 * q + p ** 2 * (total_sq - q), 0, None)) / total
        lo, hi = np.clip(p - _Z * se, 0, 1), np.clip(p + _Z * se, 0, 1)
        pv = np.where(se > 0, st.norm.sf((p - 0.5) / np.where(se > 0, se, 1)), np.nan)
    return p, lo, hi, pv


def lorenz(values) -> pd.DataFrame:
    """The Pareto (Lorenz) curve of positive values ranked from the largest: ``share_of_entities`` (k / N) and
    ``share_of_revenue`` (sum of the top k / total), starting at (0, 0)."""
    v = np.sort(np.asarray(values, dtype=float)[np.asarray(values, dtype=float) > 0])[::-1]
    if not len(v):
        return pd.DataFrame({"share_of_entities": [0.0], "share_of_revenue": [0.0]})
    return pd.DataFrame({"share_of_entities": np.arange(len(v) + 1) / len(v),
                         "share_of_revenue": np.concatenate([[0.0], np.cumsum(v) / v.sum()])})


def top_share(values, top: float = TOP) -> float:
    """Share of the total brought by the top ``top`` fraction of entities (positive values only), interpolated
    linearly on the Lorenz curve; NaN without a positive value."""
    c = lorenz(values)
    if len(c) < 2:
        return float("nan")
    return float(np.interp(top, c["share_of_entities"], c["share_of_revenue"]))


@dataclass(frozen=True, repr=False)
class RevenueSources(Result):
    """Revenue and win rate by product, region and account size over one window, with the Pareto view and months.

    Fields: ``table`` (:data:`SOURCE_COLUMNS`: one row per source — deals, orders — dimension and level),
    ``start``/``end`` (first day of the window, first day of its last month), ``as_of``, ``pareto`` (``kind`` —
    accounts, customers — ``share_of_entities, share_of_revenue``), ``top`` (kind -> top-20% share, entities),
    ``months`` (``month, revenue, base, partial``: this window's months and the running one, with the same month a
    year earlier), ``yoy`` (``current, base, growth, ci_low, ci_high, p_value, q_value, source``), ``currency``
    and ``order_currency`` (codes, "" when unknown or mixed), ``reasons`` (section -> one sentence when the data
    cannot support it) and ``alpha``.
    """

    table: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    as_of: pd.Timestamp
    pareto: pd.DataFrame
    top: dict
    months: pd.DataFrame
    yoy: dict
    currency: str = ""
    order_currency: str = ""
    reasons: dict = field(default_factory=dict)
    alpha: float = 0.05
    n_months: int = 12

    title = "Where the revenue comes from"

    @property
    def window(self) -> str:
        """The window in the report language: ``12 months to November 2025``."""
        from ..i18n import tr

        return tr("{n} months to {period}", n=self.n_months, period=period_name(self.end, "M"))

    def rows(self, source: str = "deals", dimension: str | None = None) -> pd.DataFrame:
        t = self.table[self.table["source"] == source]
        return t if dimension is None else t[t["dimension"] == dimension]

    @property
    def n_tests(self) -> int:
        t = self.table
        return int(t["p_win"].notna().sum() + t["p_share"].notna().sum()
                   + (1 if np.isfinite(self.yoy.get("p_value", np.nan)) else 0))

    def headline(self) -> str:
        from ..i18n import tr

        top = self.top.get("accounts")
        if top and np.isfinite(top[0]):  # (at least MIN_PARETO accounts)
            return tr("Top 20% of accounts brought {share:.0%} of won revenue in the {window} ({n} accounts with won "
                      "revenue).", share=top[0], window=self.window, n=f"{top[1]:,}")
        top = self.top.get("customers")
        if top and np.isfinite(top[0]):
            return tr("Top 20% of customers brought {share:.0%} of order revenue in the {window} ({n} customers).",
                      share=top[0], window=self.window, n=f"{top[1]:,}")
        return (self.reasons.get("all") or self.reasons.get("money") or self.reasons.get("pareto")
                or tr("No revenue in the {window}.", window=self.window))

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def text(self, dimension: str, source: str = "deals") -> pd.DataFrame:
        """One dimension's rows for display, in the report language: level, closed deals, win rate with its
        interval, won revenue (in the currency) and share with its interval, and whether the win rate differs from
        the rest after the false-discovery correction (q)."""
        from ..i18n import t
        from ..stats.kpi_specs import fmt

        g = self.rows(source, dimension)
        code = self.currency if source == "deals" else self.order_currency
        money = t("won revenue") if source == "deals" else t("order revenue")
        money += f" ({code})" if code else ""
        out = pd.DataFrame({t(dimension.replace("_", " ")): [t(x) for x in g["level"]]})
        if source == "deals":
            out[t("closed deals")] = [f"{int(x):,}" for x in g["closed"]]
            out[t("win rate")] = [fmt(x, "pct") for x in g["win_rate"]]
            out[t("95% interval")] = ["—" if pd.isna(lo) else f"{lo:.0%} – {hi:.0%}"
                                      for lo, hi in zip(g["ci_low"], g["ci_high"], strict=True)]
            out[t("q (win rate vs the rest)")] = [_q(x) for x in g["q_win"]]
        else:
            out[t("orders")] = [f"{int(x):,}" for x in g["closed"]]
        if g["revenue"].isna().all():  # several currencies without rates: no money column to show
            return out
        out[money] = [fmt(x, "money") for x in g["revenue"]]
        out[t("share of revenue")] = ["—" if pd.isna(x) else f"{x:.0%}" for x in g["share"]]
        out[t("share 95% interval")] = ["—" if pd.isna(lo) else f"{lo:.0%} – {hi:.0%}"
                                        for lo, hi in zip(g["share_low"], g["share_high"], strict=True)]
        return out

    def table_of(self, dimension: str, source: str = "deals"):
        """:meth:`text` as a captioned table; None when the dimension has no row."""
        from ..i18n import t, tr
        from ..tools.tables import show_table

        if not len(self.rows(source, dimension)):
            return None
        what = tr("Deals closed in the {window} by {dimension}", window=self.window,
                  dimension=t(dimension.replace("_", " "))) if source == "deals" else \
            tr("Orders in the {window} by {dimension}", window=self.window, dimension=t(dimension.replace("_", " ")))
        return show_table(self.text(dimension, source), caption=what)

    def comparable(self, kind: str = "win_rate") -> pd.DataFrame:
        """The rows the charts compare: named levels of dimensions with at least two of them, with closed deals
        (``kind="win_rate"``) or with a share of revenue (``kind="share"``). One level alone compares nothing."""
        t = self.table[self.table["level"] != NOT_SET]
        t = t[t["closed"] > 0] if kind == "win_rate" else t[t["share"].notna()]
        if kind == "win_rate":
            t = t[t["source"] == "deals"]
        n = t.groupby(["source", "dimension"])["level"].transform("size")
        return t[n >= 2]

    @property
    def charts_reason(self) -> str:
        """One sentence when no dimension has two levels to compare (no chart is drawn); "" otherwise."""
        from ..i18n import tr

        if len(self.comparable("win_rate")) or len(self.comparable("share")) or not len(self.table):
            return ""
        return tr("No product, region or account size has two levels with deals or orders in the {window}: nothing "
                  "to compare, so no chart.", window=self.window)

    def tables(self) -> list:
        """The captioned tables that have rows: deals by product, region and account size, orders by product."""
        out = [self.table_of(d) for d in DIMENSIONS] + [self.table_of("product", "orders")]
        return [x for x in out if x is not None]

    def notes(self, *sections: str) -> list[str]:
        """The one-sentence reasons of ``sections`` (all when none is named) that apply, in that order."""
        keys = sections or tuple(self.reasons)
        return [self.reasons[k] for k in keys if k in self.reasons]

    def yoy_text(self) -> str:
        """The window's revenue against the 12 months before, with the growth, its 95% interval and p-value; the
        reason instead when it cannot be computed."""
        from ..i18n import t, tr
        from ..stats.kpi_specs import fmt

        y = self.yoy
        if "yoy" in self.reasons or not np.isfinite(y.get("growth", np.nan)):
            return self.reasons.get("yoy", "")
        code = self.currency if y["source"] == "deals" else self.order_currency
        unit = f" {code}" if code else ""
        return tr("{what}, {window}: {current} against {base} in the 12 months before ({growth:+.0%}, 95% CI "
                  "{low:+.0%} to {high:+.0%}; p = {p:.2g}, q = {q:.2g} across the {n} tests of this section).",
                  what=t("Won revenue") if y["source"] == "deals" else t("Order revenue"), window=self.window,
                  current=fmt(y["current"], "money") + unit, base=fmt(y["base"], "money") + unit, growth=y["growth"],
                  low=y["ci_low"], high=y["ci_high"], p=y["p_value"], q=y["q_value"], n=self.n_tests)

    def findings(self):
        """Win-rate differences and revenue concentration significant after the false-discovery correction, and a
        significant change of won revenue year over year (:func:`~._findings.source_findings`)."""
        from ._findings import source_findings

        return source_findings(self)

    def plot(self, ax=None, *, kind: str = "pareto", **kwargs):
        """``kind``: ``pareto`` (the Lorenz curves), ``months`` (year-over-year bars), ``win_rates`` or
        ``shares``."""
        from .. import plots
        from ..tools.validation import check_option

        check_option("kind", kind, ("pareto", "months", "win_rates", "shares"))
        return {"pareto": plots.plot_pareto, "months": plots.plot_revenue_yoy_months,
                "win_rates": plots.plot_win_rates_by_source, "shares": plots.plot_revenue_shares}[kind](
                    self, ax=ax, **kwargs)


def _q(x) -> str:
    return "—" if pd.isna(x) else "< 0.001" if x < 0.001 else f"{x:.3f}"


def _str(col: str) -> nw.Expr:
    return nw.col(col).cast(nw.String)


def _levels(lf, dim_expr: nw.Expr, *, won: bool) -> pd.DataFrame:
    """One row per level: ``level, closed, won, revenue, sq`` (deals) or ``level, closed, revenue, sq`` (orders,
    ``closed`` the order count)."""
    aggs = [nw.len().alias("closed"), nw.col("_rev").sum().alias("revenue"), nw.col("_sq").sum().alias("sq")]
    if won:
        aggs.insert(1, nw.col("_won").sum().alias("won"))
    g = collect(lf.with_columns(dim_expr.alias("level")).group_by("level", drop_null_keys=False).agg(*aggs))
    g["level"] = [NOT_SET if pd.isna(x) or str(x).strip() == "" else str(x) for x in g["level"]]
    num = [c for c in g.columns if c != "level"]
    g = g.groupby("level", as_index=False)[num].sum()  # a blank and a null level are one "not set"
    return g


def _dimension_rows(g: pd.DataFrame, *, source: str, dimension: str, total: float, total_sq: float) -> pd.DataFrame:
    """Rows of one dimension (``SOURCE_COLUMNS``) from its per-level sums; ``total`` 0 (amounts in several
    currencies without rates) leaves revenue and shares empty."""
    from ..stats import fisher_vs_rest, wilson_interval

    g = g.copy()
    if not total > 0:
        g["revenue"], g["sq"] = np.nan, np.nan
    order = {lab: i for i, (_, _, lab) in enumerate(SIZE_BANDS)}
    if dimension == "account_size":
        g = g.sort_values("level", key=lambda s: s.map(lambda x: order.get(x, 99)), kind="stable")
    else:
        g = g.sort_values(["revenue", "level"], ascending=[False, True], kind="stable")
    g = pd.concat([g[g["level"] != NOT_SET], g[g["level"] == NOT_SET]], ignore_index=True)
    g.insert(0, "dimension", dimension)
    g.insert(0, "source", source)
    named = (g["level"] != NOT_SET).to_numpy()
    for c in ("win_rate", "ci_low", "ci_high", "rest_rate", "p_win"):
        g[c] = np.nan
    if source == "deals":
        with np.errstate(invalid="ignore", divide="ignore"):
            g["win_rate"] = np.where(g["closed"] > 0, g["won"] / g["closed"].where(g["closed"] > 0, 1), np.nan)
        lo, hi = wilson_interval(g["won"], g["closed"])
        g["ci_low"], g["ci_high"] = lo, hi
        tested = named & (g["closed"].to_numpy() > 0)
        if tested.sum() >= 2:
            rates = g["win_rate"].to_numpy()[tested]
            if np.ptp(rates) > 0:  # equal numbers never make a difference to test
                p, rest = fisher_vs_rest(g["won"].to_numpy()[tested], g["closed"].to_numpy()[tested])
                if tested.sum() == 2:  # two levels: one test, told by the level that wins less
                    p[np.argmax(rates)] = np.nan
                g.loc[tested, "p_win"], g.loc[tested, "rest_rate"] = p, rest
    else:
        g["won"] = np.nan
    share, lo, hi, p = share_interval(g["revenue"], g["sq"], total, total_sq)
    g["share"], g["share_low"], g["share_high"] = share, lo, hi
    g["p_share"] = np.nan
    if dimension in MAJORITY_DIMENSIONS and named.sum() >= 2 and np.ptp(g["revenue"].to_numpy()[named]) > 0:
        g.loc[named, "p_share"] = p[named]
    g["q_win"], g["q_share"] = np.nan, np.nan
    return g[SOURCE_COLUMNS]


def _window(ds, end, months: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    if hasattr(end, "review") and hasattr(end, "period"):  # a MonitorReview: the last month of its period
        end = pd.Timestamp(end.review).to_period(ms.FREQ[end.period]).end_time.to_period("M").start_time
    last = last_complete_period(ds.as_of, "M") if end is None else parse_review(end, "M")
    return shift_period(last, "M", months - 1), last


def revenue_sources(ds, *, end=None, months: int = 12, alpha: float = 0.05,
                    min_entities: int = MIN_PARETO) -> RevenueSources:
    """Revenue and win rate by product, region and account size over the ``months`` complete months to ``end``
    (``"2025-11"``, or a :class:`~.review.MonitorReview`: the last month of its reviewed period; default the last
    complete month at the as-of date), the Pareto view of accounts and customers,
    won revenue by month against a year earlier, and one Benjamini–Hochberg family over every test (module
    docstring). Missing tables or columns leave their section out with one sentence in ``reasons``; the Pareto view
    needs ``min_entities`` accounts (customers) with revenue."""
    from ..data.currency import converted, needs_split, report_currency
    from ..i18n import tr
    from ..stats import bh_adjust

    as_of = pd.Timestamp(ds.as_of).normalize()
    start, last = _window(ds, end, months)
    stop = shift_period(last, "M", -1)  # first day after the window
    label = tr("{n} months to {period}", n=months, period=period_name(last, "M"))
    reasons: dict[str, str] = {}
    if getattr(ds, "mapping", None) is not None:
        ds = converted(ds)
    opps = ds.tables.get("opportunities")
    orders = ds.tables.get("orders")
    has_deals, has_orders = row_count(opps) > 0, row_count(orders) > 0
    split = has_deals and needs_split(ds, "opportunities")
    osplit = has_orders and needs_split(ds, "orders")
    code = (report_currency(ds, "opportunities") or "") if has_deals else ""
    # orders without a currency code are in the report currency (or the data's only code)
    ocode = (report_currency(ds, "orders") or report_currency(ds) or "") if has_orders else ""
    parts, pareto, top, few = [], [], {}, []
    monthly, first_day, src = None, None, ""
    if not has_deals and not has_orders:
        reasons["all"] = tr("No deals and no orders: where the revenue comes from cannot be shown.")
    lo_day, hi_day = as_pylit(start), as_pylit(stop)
    if has_deals:
        lf = lazy(opps, table="opportunities")
        have = set(columns(lf))
        won_stages, closed_stages = list(ds.stages.won), list(ds.stages.won + ds.stages.lost)
        base = lf.filter(~nw.col("close_date").is_null() & nw.col("stage").is_in(closed_stages)
                         & (nw.col("close_date") < as_pylit(as_of + pd.Timedelta(days=1))))
        base = base.with_columns(_won=nw.col("stage").is_in(won_stages).cast(nw.Int64))
        base = base.with_columns(_rev=nw.when(nw.col("_won") == 1).then(nw.col("amount").cast(nw.Float64)
                                                                           .fill_null(0.0)).otherwise(0.0))
        base = base.with_columns(_sq=nw.col("_rev") * nw.col("_rev"))
        win = base.filter((nw.col("close_date") >= lo_day) & (nw.col("close_date") < hi_day))
        tot = collect(win.select(nw.len().alias("closed"), nw.col("_won").sum().alias("won"),
                                 nw.col("_rev").sum().alias("revenue"), nw.col("_sq").sum().alias("sq")))
        total, total_sq = (float(tot["revenue"].iloc[0] or 0), float(tot["sq"].iloc[0] or 0)) if len(tot) else (0, 0)
        if split:
            total = 0.0  # several currencies without rates: no share of a total
            reasons["money"] = tr("Deals are in several currencies and the mapping gives no rates: won revenue is "
                                  "not added up across them (win rates are shown; set currency.rates to total "
                                  "revenue).")
        if not len(tot) or not tot["closed"].iloc[0]:
            reasons["deals"] = tr("No deal closed in the {window}: win rates and won revenue by product, region and "
                                  "account size are not shown.", window=label)
        else:
            for dim in ("product", "region"):
                if dim not in have:
                    reasons[dim] = tr("The deals have no {column} column: win rate and revenue by {column} are not "
                                      "shown (map one in the mapping's {table} block).", column=dim,
                                      table="opportunities")
                    continue
                parts.append(_dimension_rows(_levels(win, _str(dim), won=True), source="deals", dimension=dim,
                                             total=total, total_sq=total_sq))
            if "account_id" not in have:
                reasons["account_size"] = tr("The deals have no {column} column: account size and the accounts' "
                                             "Pareto view are not shown (map one in the mapping's {table} block).",
                                             column="account_id", table="opportunities")
            else:
                acc, sizes = _accounts(lf, win, as_of)
                parts.append(_dimension_rows(sizes, source="deals", dimension="account_size", total=total,
                                             total_sq=total_sq))
                n_acc = int((acc["revenue"] > 0).sum())
                if not split and n_acc >= min_entities:
                    pareto.append(lorenz(acc["revenue"]).assign(kind="accounts"))
                    top["accounts"] = (top_share(acc["revenue"]), n_acc)
                elif not split and n_acc:
                    few.append(tr("{n} accounts", n=n_acc))
        if not split:
            m0 = as_pylit(shift_period(start, "M", 12))
            monthly = collect(base.filter((nw.col("_won") == 1) & (nw.col("close_date") >= m0))
                              .with_columns(_m=nw.col("close_date").dt.truncate("1mo"))
                              .group_by("_m").agg(nw.col("_rev").sum().alias("revenue"),
                                                  nw.col("_sq").sum().alias("sq")))
            first = collect(base.select(nw.col("close_date").min().alias("d")))
            first_day = first["d"].iloc[0] if len(first) else None
            src = "deals"
    if has_orders:
        lf = lazy(orders, table="orders")
        have = set(columns(lf))
        base = lf.filter(~nw.col("order_date").is_null() & ~nw.col("amount").is_null()
                         & (nw.col("order_date") < as_pylit(as_of + pd.Timedelta(days=1))))
        base = base.with_columns(_rev=nw.col("amount").cast(nw.Float64))
        base = base.with_columns(_sq=nw.col("_rev") * nw.col("_rev"))
        win = base.filter((nw.col("order_date") >= lo_day) & (nw.col("order_date") < hi_day))
        if osplit:
            reasons["orders"] = tr("Orders are in several currencies and the mapping gives no rates: order revenue "
                                   "by product is not added up (set currency.rates to total it).")
        else:
            tot = collect(win.select(nw.len().alias("n"), nw.col("_rev").sum().alias("revenue"),
                                     nw.col("_sq").sum().alias("sq")))
            n = float(tot["n"].iloc[0]) if len(tot) else 0.0
            if not n:
                reasons["orders"] = tr("No order in the {window}: order revenue by product is not shown.",
                                       window=label)
            else:
                total, total_sq = float(tot["revenue"].iloc[0] or 0), float(tot["sq"].iloc[0] or 0)
                if "product" in have:
                    parts.append(_dimension_rows(_levels(win, _str("product"), won=False), source="orders",
                                                 dimension="product", total=total, total_sq=total_sq))
                else:
                    reasons["order_product"] = tr("The orders have no {column} column: order revenue by product is "
                                                  "not shown.", column="product")
                cust = collect(win.filter(~nw.col("customer_id").is_null()).group_by("customer_id")
                               .agg(nw.col("_rev").sum().alias("revenue")))
                n_cust = int((cust["revenue"] > 0).sum())
                if n_cust >= min_entities:
                    pareto.append(lorenz(cust["revenue"]).assign(kind="customers"))
                    top["customers"] = (top_share(cust["revenue"]), n_cust)
                elif n_cust:
                    few.append(tr("{n} customers", n=n_cust))
            if monthly is None:  # no deals to total: the months are order revenue
                m0 = as_pylit(shift_period(start, "M", 12))
                monthly = collect(base.filter(nw.col("order_date") >= m0)
                                  .with_columns(_m=nw.col("order_date").dt.truncate("1mo"))
                                  .group_by("_m").agg(nw.col("_rev").sum().alias("revenue"),
                                                      nw.col("_sq").sum().alias("sq")))
                first = collect(base.select(nw.col("order_date").min().alias("d")))
                first_day = first["d"].iloc[0] if len(first) else None
                src = "orders"
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=SOURCE_COLUMNS)
    months_f, yoy = _months(monthly, start, last, as_of, months)
    yoy["source"] = src
    if monthly is not None and (first_day is None or pd.isna(first_day)
                                or pd.Timestamp(first_day) > shift_period(start, "M", 12)):
        yoy.update(growth=np.nan, ci_low=np.nan, ci_high=np.nan, p_value=np.nan)
        reasons["yoy"] = tr("No year-over-year growth: the data starts less than a year before the {window}.",
                            window=label)
    elif monthly is None and "all" not in reasons:
        reasons["yoy"] = tr("No year-over-year bars: revenue cannot be added up by month (see the currency note).")
    if not pareto and few:
        reasons["pareto"] = tr("No Pareto view: only {list} with revenue in the {window}, fewer than {min} (the top "
                               "20% would be less than one).", list=", ".join(few), window=label, min=min_entities)
    elif not pareto and "all" not in reasons and not split:  # (several currencies: the money sentence says why)
        reasons.setdefault("pareto", tr("No Pareto view: no account or customer has revenue in the {window}.",
                                        window=label))
    # one false-discovery family over every test run
    if len(table):
        table = table.astype({c: float for c in SOURCE_COLUMNS[3:]})
    p_all = np.concatenate([table["p_win"].to_numpy(dtype=float), table["p_share"].to_numpy(dtype=float),
                            [yoy.get("p_value", np.nan)]])
    q_all = bh_adjust(p_all) if np.isfinite(p_all).any() else np.full(len(p_all), np.nan)
    n = len(table)
    table["q_win"], table["q_share"] = q_all[:n], q_all[n:2 * n]
    yoy["q_value"] = float(q_all[-1])
    pareto_f = pd.concat(pareto, ignore_index=True) if pareto else \
        pd.DataFrame(columns=["share_of_entities", "share_of_revenue", "kind"])
    return RevenueSources(table=table, start=start, end=last, as_of=as_of, pareto=pareto_f, top=top,
                          months=months_f, yoy=yoy, currency=code if not split else "",
                          order_currency=ocode if not osplit else "", reasons=reasons, alpha=alpha, n_months=months)


def _accounts(lf, win, as_of) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per account: deals up to as-of (any stage), and closed, won, revenue and squared revenue in the window; and
    the same summed per size band (accounts without an id: ``not set``)."""
    created = nw.col("created_date") < as_pylit(as_of + pd.Timedelta(days=1)) if "created_date" in columns(lf) \
        else nw.lit(True)
    counts = collect(lf.filter(~nw.col("account_id").is_null() & (created | nw.col("created_date").is_null()))
                     .group_by(_str("account_id").alias("account_id")).agg(nw.len().alias("deals")))
    per = collect(win.with_columns(_str("account_id").alias("account_id"))
                  .group_by("account_id", drop_null_keys=False)
                  .agg(nw.len().alias("closed"), nw.col("_won").sum().alias("won"),
                       nw.col("_rev").sum().alias("revenue"), nw.col("_sq").sum().alias("sq")))
    acc = per.merge(counts, on="account_id", how="left")
    blank = acc["account_id"].isna() | (acc["account_id"].astype(str).str.strip() == "")
    acc["level"] = np.where(blank, NOT_SET, size_band(acc["deals"].fillna(1)))
    sizes = acc.groupby("level", as_index=False)[["closed", "won", "revenue", "sq"]].sum()
    return acc[~blank], sizes


def _months(monthly, start, last, as_of, months: int) -> tuple[pd.DataFrame, dict]:
    """The window's months (and the running month when the window ends just before it) with revenue and the same
    month a year earlier; the window's total against the 12 months before (log-ratio interval, compound-Poisson
    variances: the variance of a total is the sum of its squared amounts)."""
    from scipy import stats as st

    cols = ["month", "revenue", "base", "partial"]
    none = {"current": np.nan, "base": np.nan, "growth": np.nan, "ci_low": np.nan, "ci_high": np.nan,
            "p_value": np.nan}
    if monthly is None:
        return pd.DataFrame(columns=cols), none
    m = monthly.rename(columns={"_m": "month"})
    m["month"] = pd.to_datetime(m["month"]).dt.to_period("M").dt.start_time
    m = m.groupby("month")[["revenue", "sq"]].sum()
    grid = list(pd.date_range(start, last, freq="MS"))
    running = shift_period(last, "M", -1)
    partial = as_of < (running + pd.offsets.MonthEnd(0)).normalize() and as_of >= running
    if partial:
        grid.append(running)
    f = pd.DataFrame({"month": grid})
    f["revenue"] = [float(m["revenue"].get(x, 0.0)) for x in grid]
    f["base"] = [float(m["revenue"].get(shift_period(x, "M", 12), 0.0)) for x in grid]
    f["partial"] = [bool(partial and x == running) for x in grid]
    full = f[~f["partial"]]
    cur, base = float(full["revenue"].sum()), float(full["base"].sum())
    q1 = float(sum(m["sq"].get(x, 0.0) for x in full["month"]))
    q0 = float(sum(m["sq"].get(shift_period(x, "M", 12), 0.0) for x in full["month"]))
    out = dict(none, current=cur, base=base)
    if cur > 0 and base > 0:
        lr = np.log(cur / base)
        se = np.sqrt(q1 / cur ** 2 + q0 / base ** 2)
        out.update(growth=cur / base - 1, ci_low=float(np.exp(lr - _Z * se) - 1),
                   ci_high=float(np.exp(lr + _Z * se) - 1),
                   p_value=float(2 * st.norm.sf(abs(lr) / se)) if se > 0 else np.nan)
    return f[cols], out
