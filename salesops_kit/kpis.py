"""The KPI registry: every headline KPI's name, unit and definition, and the ``kpis`` table.

A KPI row is ``kpi, segment, value, ci_low, ci_high, unit, definition``. ``segment`` is ``all`` or
``<column>=<value>`` (e.g. ``owner=Ann Lee``, ``channel=Paid Search``). Names with ``{...}`` are
families (``stage_conversion_{from}_to_{to}``). Topic modules compute values through a
``kpi_rows(dataset) -> list[dict]`` function; this module owns names, units and definitions, so a
number never leaves the kit without the definition that produced it.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data.currency import single_currency
from .data.schema import table_names
from .tools.validation import check_option

__all__ = ["KPIDef", "REGISTRY", "KPI_COLUMNS", "KPIS_MIME", "define", "lookup", "definition", "kpi_frame",
           "kpi_table", "engine_kpi_table", "PROVIDERS", "provider_rows", "publish", "published_rows", "money_unit",
           "WITHHELD_EFFECT", "WITHHELD_PREFIX"]

KPI_COLUMNS = ["kpi", "segment", "value", "ci_low", "ci_high", "unit", "definition", "window"]

# A notebook hands its topic's KPI table to `salesops report` under this MIME type (see ``publish``):
# the index then shows the numbers the notebook computed, with the notebook's parameters, and the report
# does not compute them a second time. The report's HTML pages leave these outputs out.
KPIS_MIME = "application/vnd.salesops.kpis+json"


@dataclass(frozen=True)
class KPIDef:
    name: str
    unit: str
    text: str | Callable[[], str]  # the definition, or a function reading it from the topic that owns it
    topic: str
    withheld: str = ""  # which withheld fields (Dataset.withheld) leave a row out of this KPI (WITHHELD_EFFECT)
    window: str = ""  # the period the number covers ("all history", "last complete month"); a row's own wins

    @property
    def definition(self) -> str:
        """The English definition, ending with which withheld fields leave a row out (``Withheld fields: ...``).
        A topic that states the text itself (``funnel.stages.CLOSED_WIN_RATE``) is read on first use: the registry
        sits above the topics and does not import them when it loads."""
        text = self.text() if callable(self.text) else self.text
        return f"{text} {WITHHELD_PREFIX}{self.withheld}." if self.withheld else text

    @property
    def pattern(self) -> re.Pattern:
        return re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", ".+", re.escape(self.name)) + "$")


REGISTRY: dict[str, KPIDef] = {}

# --- withheld fields (issue 14) -----------------------------------------------------------------
# The loader keeps a row whose field it cannot use and withholds the field (set to missing; close before created:
# both dates kept and the row flagged): ``Dataset.withheld``. Each KPI says which withheld fields leave a row out
# of it, as its provider computes it (read from the code, checked by tests/test_kpis_withheld.py); the sentence
# ends the definition in kpis.csv, the report's glossary and the zh catalog.
WITHHELD_PREFIX = "Withheld fields: "
_NONE_DEAL = "none (a deal needs only its stage: a closed deal without close date counts)"
_CYCLE = ("created_date and close_date: a deal whose created date was withheld, a closed deal without close date "
          "and a deal closed before it was created (dates kept, flagged) are left out")
_CUST = ("customer_id, order_date and amount: an order with one of them withheld is left out (a withheld refund "
         "makes no customer)")
_WON_BY_MONTH = ("close_date and amount: a won deal whose close date was withheld is in no month; a withheld amount "
                 "adds 0 (orders without deals: order_date, amount)")
_MONTHLY = ("the date that puts a row in a month: a closed deal without close date, an order without order date "
            "is in no month; other fields as the monitored KPI's definition")
_LEAD_CONV = ("converted_date: when conversion is read from converted_date (no opportunity_id column), a lead whose "
              "converted date was withheld counts as not converted")
WITHHELD_EFFECT: dict[str, str] = {
    **{f"rows_{t}": "none (a row with a withheld field is kept and counted here)"
       for t in table_names()},
    **{f"rows_quarantined_{t}": "none (a withheld field never quarantines a row)"
       for t in table_names()},
    **{f"date_{m}_{t}": "none (the date is part of the row's identity: a row without it is quarantined)"
       for m in ("min", "max")
       for t in ("stage_history", "deal_history", "leads", "marketing_spend", "activities", "csat", "quotas")},
    **{f"date_{m}_{t}": f"{c} (a row whose {c} was withheld has no date to compare)"
       for m in ("min", "max") for t, c in (("opportunities", "created_date"), ("orders", "order_date"))},
    "win_rate": "none over all time (a closed deal without close date counts); period views by close date leave "
                "it out",
    "deals_won": _NONE_DEAL, "deals_lost": _NONE_DEAL,
    "deals_open": "none (an open deal without created date counts, in the pipeline by stage too)",
    "won_revenue": "amount: a won deal whose amount was withheld (a credit, unless the mapping keeps credits with "
                   "amount.credits, or an unparseable amount) adds 0; it still counts in deals_won",
    "avg_won_deal_size": "amount: a won deal whose amount was withheld is left out of the mean",
    "lead_conversion_rate": _LEAD_CONV,
    "lead_to_win_rate": "none (a lead's created date and a deal's stage are identity values)",
    "stage_conversion_{from}_to_{to}": "none (a stage history row needs only its deal, stage and entry date, which "
                                       "are identity values; without history the current stage is read)",
    "sales_cycle_median_days": _CYCLE,
    "sales_cycle_won_mean_days": _CYCLE,
    "open_pipeline_amount": "amount: an open deal whose amount was withheld adds 0 (it still counts in deals_open)",
    "weighted_pipeline_crm": "amount: an open deal whose amount was withheld adds 0",
    "stage_reached_amount": "amount: a deal whose amount was withheld adds 0 (it still counts as reaching the stage)",
    "weighted_pipeline_historical": "amount: an open deal whose amount was withheld adds 0; the stage win rates lose "
                                    "none (as stage_conversion)",
    "pipeline_coverage": "close_date and amount: an open deal without close date is in no quota period and a withheld "
                         "amount adds 0; a won deal without close date does not reduce the quota still to win",
    "pipeline_coverage_needed": "as pipeline_coverage, and created_date: a deal whose created date was withheld is "
                                "in no past period's pipeline",
    "sales_velocity_per_month": "as its parts: amount (average won deal size) and created_date/close_date (median "
                                "cycle); open deals and the win rate lose none",
    "new_customers": _CUST, "cac": _CUST + "; spend is an identity value", "clv_simple": _CUST,
    "clv_predictive_mean": _CUST + "; a withheld margin adds 0", "ltv_cac_ratio": _CUST + "; a withheld margin adds 0",
    "cac_payback_months": _CUST + "; a withheld margin adds 0",
    "repeat_purchase_rate": "customer_id and order_date: an order with one of them withheld is left out (a withheld "
                            "amount still counts as a purchase)",
    "retention_month_3": _CUST, "retention_month_12": _CUST,
    "cost_of_sales_ratio": "order_date and amount: an order with one of them withheld is left out of the revenue",
    **{f"seasonal_index_m{i:02d}": _WON_BY_MONTH for i in range(1, 13)},
    **{f"seasonal_index_q{q}": _WON_BY_MONTH for q in range(1, 5)},
    "seasonality_strength": _WON_BY_MONTH, "forecast_next_12m_total": _WON_BY_MONTH,
    "forecast_backtest_mase": _WON_BY_MONTH,
    "pipeline_expected_next_quarter": "amount: an open deal whose amount was withheld counts as 0 (an open deal "
                                      "without created date stays, age unknown); closed deals without created date "
                                      "or closed before created are not learnt from",
    "win_rate_shrunk": "none (a closed deal without close date counts)",
    "lead_conversion_rate_shrunk": _LEAD_CONV,
    "first_response_median_hours": "first_response_date: a lead whose first response date was withheld counts as "
                                   "unanswered and is left out",
    "quota_attainment": "close_date and amount: a won deal without close date falls in no quota period; a withheld "
                        "amount adds 0",
    "csat_mean": "none (score and survey date are identity values)",
    "reps_flagged": "as win_rate_shrunk, lead_conversion_rate_shrunk and csat_mean",
    "csat_satisfied_share": "none (score and survey date are identity values)",
    "nps": "none (score and survey date are identity values)",
    "{kpi}_change_pop": _MONTHLY, "{kpi}_change_yoy": _MONTHLY, "{kpi}_attainment": _MONTHLY, "alerts": _MONTHLY,
}


def define(name: str, unit: str, definition: str | Callable[[], str], topic: str, withheld: str = "",
           window: str = "") -> KPIDef:
    d = KPIDef(name, unit, definition, topic, withheld or WITHHELD_EFFECT.get(name, ""), window)
    REGISTRY[name] = d
    return d


# --- data (issue 2) -----------------------------------------------------------------------------
for _t in table_names():
    define(f"rows_{_t}", "rows", f"Rows of {_t} kept after the audit (rows read minus rows quarantined).", "data")
    define(f"rows_quarantined_{_t}", "rows", f"Rows of {_t} rejected by the audit, each with a reason.", "data")
    define(f"date_min_{_t}", "date", f"Earliest date in {_t} (its main date column), ISO format.", "data")
    define(f"date_max_{_t}", "date", f"Latest date in {_t} (its main date column), ISO format.", "data")

# --- funnel (issue 3) ---------------------------------------------------------------------------
def _win_rate_definition() -> str:
    from .funnel.stages import CLOSED_WIN_RATE

    return CLOSED_WIN_RATE.format(closed="closed deals (all close periods)") + "; 95% Wilson interval."


for _name, _unit, _def in (
    ("win_rate", "rate", _win_rate_definition),
    ("deals_won", "deals", "Deals whose current stage is a won stage of the stage model."),
    ("deals_lost", "deals", "Deals whose current stage is a lost stage of the stage model."),
    ("deals_open", "deals", "Deals in an open stage at the as-of date."),
    ("won_revenue", "currency", "Sum of amount over won deals (blank amounts count as 0)."),
    ("avg_won_deal_size", "currency", "Mean amount of won deals with an amount; 95% normal-approximation interval."),
    ("lead_conversion_rate", "rate", "Leads converted to an opportunity / leads created at least 90 days before "
                                     "as-of (old enough to have converted); 95% Wilson interval."),
    ("lead_to_win_rate", "rate", "Leads whose opportunity is won / leads created at least 90 days before as-of; "
                                 "95% Wilson interval."),
    ("stage_conversion_{from}_to_{to}", "rate", "Deals that moved past stage {from} / deals that reached it and are "
                                                "no longer open there (open deals excluded, not failures); stage "
                                                "history when present (any path), else inferred; 95% Wilson interval."),
    ("sales_cycle_median_days", "days", "Median days from created to won among deals that win: Aalen-Johansen "
                                        "cumulative incidence of winning, open deals censored at as-of, lost deals "
                                        "competing; 95% bootstrap interval."),
    ("sales_cycle_won_mean_days", "days", "Naive mean days from created to close over won deals only (as CRM "
                                          "dashboards report it) — biased: ignores open deals and slow future wins."),
    ("sales_velocity_per_month", "currency per month", "Open deals x closed win rate x average won deal size / "
                                                       "median cycle days to win, x 30.44 days per month."),
):
    define(_name, _unit, _def, "funnel")
# pipeline in money and coverage of quota (issue 18): salesops_kit.funnel.pipeline
define("open_pipeline_amount", "currency", "Sum of amount over deals in an open stage at the as-of date (blank amounts "
       "add 0), in the report currency; per stage (segment stage=NAME), team and owner.", "funnel", window="as of date")
define("stage_reached_amount", "currency", "Sum of amount over the deals that reached an open stage, as "
       "stage_funnel counts them (stage history when present, any path: stages entered, the current stage of open "
       "deals and lost_at_stage of lost deals; else every open stage up to the current one, won deals all), all "
       "history, in the report currency (blank amounts add 0); per stage (segment stage=NAME).", "funnel")
define("weighted_pipeline_crm", "currency", "Sum over open deals of amount x the CRM's win probability of the deal "
       "(the probability column); deals without a probability are left out.", "funnel", window="as of date")
define("weighted_pipeline_historical", "currency", "Sum over open stages of the open amount x the stage's historical "
       "win rate: won / closed among closed deals that reached the stage, all history (the realised rate of the "
       "stage calibration); not shown when lost deals without a recorded stage would overstate those rates.",
       "funnel", window="as of date")
define("pipeline_coverage", "ratio", "Open pipeline expected to close in the quota period running at the as-of date "
       "(open deals whose close date falls in the period) / quota still to win in it (the period's quota minus "
       "revenue won from its start to the as-of date, at least 0); a team's figures are its reps' (quotas, won "
       "revenue, deals), segment all the company's; no row when the quota is already won. The row's window names "
       "the period.", "funnel")
define("pipeline_coverage_needed", "ratio", "Coverage at which a team's past quota periods made quota (won >= quota): "
       "every complete period seen on the as-of date's day of the period (coverage as pipeline_coverage that day, "
       "with the close dates in force that day from deal_history, else the deals' final close dates), the 50% "
       "point of a logistic regression of making quota on log coverage; 95% delta-method interval. Only with at "
       "least 8 such periods, 3 made and 3 missed.", "funnel", window="past complete quota periods")

# slippage and loss reasons (issue 18, parts 2-3): salesops_kit.funnel.slippage, .loss_reasons
_PUSH = ("close_date: a deal_history record whose close date was withheld is skipped (the next record is compared "
         "with the last known close date)")
_REASON = "none (the reason is text; a lost deal's stage is an identity value)"
WITHHELD_EFFECT.update({
    "pushed_deal_share": _PUSH, "pushes_per_deal": _PUSH, "days_pushed_median": _PUSH,
    "win_rate_pushed": _PUSH + "; a closed deal without close date counts",
    "win_rate_not_pushed": _PUSH + "; a closed deal without close date counts",
    "loss_reason_share": _REASON,
    "loss_reason_share_quarter": "close_date: a lost deal whose close date was withheld is in no quarter",
})
define("pushed_deal_share", "share", "Deals whose expected close date was pushed at least once / deals with a "
       "deal_history record (and a row in opportunities); a push is a record whose close date is later than the "
       "deal's previous record's (records by recorded_date, ties by file order); per owner and team too; 95% Wilson "
       "interval.", "funnel", window="all history")
define("pushes_per_deal", "pushes per deal", "Pushes of the expected close date / deals with a deal_history record.",
       "funnel", window="all history")
define("days_pushed_median", "days", "Median over pushed deals of the days their expected close date was pushed "
       "(sum over the deal's pushes of the days between the old and the new close date); 95% order-statistic "
       "interval.", "funnel", window="all history")
define("win_rate_pushed", "rate", "Won / closed among closed deals whose close date was pushed at least once; 95% "
       "Wilson interval.", "funnel", window="all history")
define("win_rate_not_pushed", "rate", "Won / closed among closed deals with a deal_history record whose close date "
       "was never pushed; 95% Wilson interval.", "funnel", window="all history")
define("loss_reason_share", "share", "Lost deals citing a loss reason (segment reason=NAME) / all lost deals; a blank "
       "reason counts as (no reason recorded); 95% Wilson interval.", "funnel", window="all history")
define("loss_reason_share_quarter", "share", "Lost deals closing in the last complete quarter before as-of that cite "
       "a loss reason (segment reason=NAME) / all lost deals closing in that quarter; 95% Wilson interval. The row's "
       "window names the quarter.", "funnel")

# --- costs and CLV (issue 4) --------------------------------------------------------------------
_W = ("Window: customers acquired from the first month with marketing spend to the last complete month "
      "before as-of; segment channel=NAME is the channel of the customer's first order.")
define("new_customers", "customers", "Customers whose first order falls in the window (acquisition channel = "
       "channel of the first order). " + _W, "costs")
define("cac", "currency per customer", "CAC = (marketing + sales spend in the window) / new customers in the "
       "window; blended (all spend) for segment all. Left empty when there are no new customers. " + _W, "costs")
define("clv_simple", "currency per customer", "Simple CLV = average order value x purchases per year x expected "
       "lifespan in years (12 months / churn rate) x margin rate, over the last 12 months before as-of "
       "(margin rate 1 = revenue CLV when orders have no margin column).", "costs")
define("clv_predictive_mean", "currency per customer", "Mean predictive LTV of a new customer: expected gross "
       "margin over 36 months from the first order (first order included), observed margin to as-of plus "
       "BG/NBD x Gamma-Gamma prediction for the rest (orders valued at the channel's average order value "
       "when Gamma-Gamma's independence check fails), discounted 1% a month; 95% bootstrap CI over "
       "customers. " + _W, "costs")
define("ltv_cac_ratio", "ratio", "LTV:CAC = clv_predictive_mean / cac; 95% bootstrap CI over the channel's "
       "new customers (spend taken as known). Below 1 the channel loses money on each customer. " + _W, "costs")
define("cac_payback_months", "months", "CAC payback = CAC / gross margin per new customer per month over the "
       "first 12 months after acquisition (observed + predicted). Left empty when margin <= 0 or no new "
       "customers. " + _W, "costs")
define("repeat_purchase_rate", "share", "Customers with >= 2 orders / customers with >= 1 order, orders in the "
       "12 months up to as-of; Wilson 95% CI.", "costs")
define("retention_month_3", "share", "Share of an acquisition-month cohort ordering in month 3 after the "
       "acquisition month, pooled over cohorts whose month 3 is complete at as-of; Wilson 95% CI.", "costs")
define("retention_month_12", "share", "Share of an acquisition-month cohort ordering in month 12 after the "
       "acquisition month, pooled over cohorts whose month 12 is complete at as-of; Wilson 95% CI.", "costs")
define("cost_of_sales_ratio", "ratio", "Sales cost (marketing_spend rows with cost_type sales) / order revenue "
       "in the window; per channel: that channel's sales cost / revenue of its customers. " + _W, "costs")
# per-customer value and RFM segments (issue 18, parts 4-5; salesops_kit.value.customer_value, .segments)
WITHHELD_EFFECT.update({"customer_value_next_12m": _CUST, "customer_value_top_decile_share": _CUST,
                        "customers_at_risk": _CUST, "rfm_champions_revenue_share": _CUST})
define("customer_value_next_12m", "currency", "Predictive CLV of the customer base: sum over every customer with "
       "orders to as-of of the revenue expected over the next 12 months (BG/NBD expected purchases x Gamma-Gamma "
       "expected order value, or the average order value when Gamma-Gamma's independence check fails), discounted "
       "1% a month; 95% delta-method interval from the two models' parameter uncertainty (not the customers' own "
       "purchase randomness).", "costs", window="next 12 months")
define("customer_value_top_decile_share", "share", "Share of customer_value_next_12m held by the top 10% of "
       "customers ranked by their predicted CLV; 95% delta-method interval (logit scale) from the models' parameter "
       "uncertainty, same customers.", "costs", window="next 12 months")
define("customers_at_risk", "customers", "Customers whose revenue to as-of is in the top 20% of customers and whose "
       "BG/NBD probability of being alive is below 50%.", "costs", window="at the as-of date")
define("rfm_champions_revenue_share", "share", "Share of the order revenue of the 12 months to as-of brought by "
       "the RFM champions: recency score 5 and frequency score 4 or 5, quintiles of the average rank (ties share a "
       "score), the 10-segment R x F map.", "costs", window="last 12 months")

# --- seasonality and forecasting (issue 5) ------------------------------------------------------
for _i, _m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1):
    define(f"seasonal_index_m{_i:02d}", "ratio",
           f"Seasonal index of {_m}: won amount / STL trend (log scale), geometric mean over years, indices "
           "averaging 1; 95% t-interval over the per-year ratios. 1.30 = 30% above trend.", "forecast")
for _q in range(1, 5):
    define(f"seasonal_index_q{_q}", "ratio",
           f"Seasonal index of Q{_q}: quarter's won amount / its STL trend, geometric mean over years with "
           "whole quarters, indices averaging 1; 95% t-interval over years.", "forecast")
define("seasonality_strength", "ratio",
       "Strength of seasonality max(0, 1 - Var(remainder) / Var(seasonal + remainder)) of the STL fit "
       "(Wang, Smith & Hyndman 2006): 0 none, 1 all variation is seasonal.", "forecast")
define("forecast_next_12m_total", "currency",
       "Sum of the monthly won-amount forecasts for the 12 months after the last complete month "
       "(the combination of ETS, ETS damped, Theta, DOTM and CES; seasonal naive when the backtest of "
       "forecast_backtest_mase "
       "showed the combination no better); interval = sum of the monthly 80% bounds (errors assumed fully "
       "correlated: conservative).", "forecast")
define("forecast_backtest_mase", "ratio",
       "Rolling-origin backtest MASE of the method forecast_next_12m_total uses (absolute error / in-sample "
       "seasonal naive MAE of each training window), on the one backtest notebook 03 shows: up to 3 origins 3 "
       "months apart, 1-6 months ahead (the row's window names the months); below 1 beats seasonal naive "
       "in-sample.", "forecast")
define("pipeline_expected_next_quarter", "currency",
       "Expected won amount in the next calendar quarter from deals open at as-of: win probability "
       "learnt from closed history by stage and deal age, close timing from won deals; interval "
       "P10-P90 of 2,000 seeded simulations.", "forecast")

# --- reps (issue 6) -----------------------------------------------------------------------------
define("win_rate_shrunk", "share",
       "Rep win rate won / (won + lost) among deals closed, shrunk towards the company with an empirical-Bayes "
       "beta-binomial prior fitted across reps by maximum likelihood; interval = 95% posterior.", "reps")
define("lead_conversion_rate_shrunk", "share",
       "Rep lead conversion (leads converted to an opportunity / leads at least 90 days old), shrunk towards "
       "the company with an empirical-Bayes beta-binomial prior fitted across reps; interval = 95% posterior.",
       "reps")
define("first_response_median_hours", "hours",
       "Median hours from lead creation to the rep's first response, over answered leads at least 90 days old.",
       "reps")
define("quota_attainment", "share",
       "Revenue of deals won inside the rep's complete quota periods of the year to date (those that start in the "
       "calendar year of the last one to end by the as-of date) / the sum of those quotas; not the company target "
       "attainment of targets.csv (won_revenue_attainment).", "reps", window="year to date")
define("csat_mean", "score",
       "Mean CSAT score of survey answers about the rep (on the survey's scale); interval = 95% Student t.",
       "reps")
define("reps_flagged", "reps",
       "Reps below the rest of the company on win rate, lead conversion or CSAT share satisfied at "
       "Benjamini-Hochberg q < 0.05 (two-sided Fisher exact tests, reps with at least 30 trials).", "reps")

# --- monitoring (issue 9) -----------------------------------------------------------------------
# csat_mean is defined in the reps block (same definition; monitoring adds segment all and team=NAME rows)
define("csat_satisfied_share", "share",
       "CSAT answers with score / scale_max >= 0.8 (4-5 on a 1-5 scale) / answers not on a 0-10 scale, all "
       "answers up to as-of; 95% Wilson interval.", "monitoring")
define("nps", "score in [-1, 1]",
       "Net promoter score on 0-10 answers (scale_max 10): (promoters 9-10 - detractors 0-6) / answers, all "
       "answers up to as-of (x100 for the usual -100..100 display); 95% normal interval from the multinomial "
       "variance.", "monitoring")
define("{kpi}_change_pop", "KPI units",
       "Change of the monitored KPI from the previous month to the review month (last complete month at "
       "as-of): difference in the KPI's units (rates in [0, 1]); 95% interval of the change from the test that "
       "fits the KPI (Newcombe for rates, exact Poisson for counts, bootstrap for means and medians, "
       "compound-Poisson for totals, multinomial for NPS). Per-period definitions: salesops_kit.monitor.",
       "monitoring")
define("{kpi}_change_yoy", "KPI units",
       "Change of the monitored KPI from the same month a year earlier to the review month (last complete "
       "month at as-of); units and intervals as {kpi}_change_pop.", "monitoring")
define("{kpi}_attainment", "share",
       "Target attainment: actual / target of the KPI in the review month (the last complete month at as-of, named "
       "in the row's window; target / actual when lower is better: CAC, response time); targets from targets.csv "
       "(kpi, segment, period, target), for won revenue without a targets-file row the sum of the month's quotas. "
       "Not the reps' quota_attainment (won revenue over complete quota periods, year to date).", "monitoring",
       window="review month")
define("alerts", "alerts",
       "KPI x segment x month points outside their control limits (p-chart for rates, u-chart for counts, "
       "compound-Poisson chart for totals, X-bar for CSAT/NPS, EWMA for other continuous KPIs; trailing "
       "12-month baseline, seasonal exposure for counts and totals) in the 12 months to "
       "the review month, Benjamini-Hochberg q < 0.05 across all points judged. One rule: a point alerts when "
       "|z| >= z*, the cut-off at which that correction keeps it (about 3.8 with a thousand points judged, wider than "
       "3-sigma); the charts draw the limits at centre +- z* sigma and the findings quote them.", "monitoring",
       window="12 months to the review month")

# --- where the revenue comes from (issue 18, part 6; salesops_kit.monitor.sources) ----------------------------
_SRC_WINDOW = "12 months to the review month"
_SRC_DEALS = ("close_date and amount: a won deal whose close date was withheld is in no window; a withheld amount "
              "adds 0")
_SRC_ORDERS = "order_date and amount: an order with one of them withheld is left out"
WITHHELD_EFFECT.update({"won_revenue_share": _SRC_DEALS, "top20_account_revenue_share": _SRC_DEALS,
                        "won_revenue_growth_yoy": _SRC_DEALS, "order_revenue_share": _SRC_ORDERS,
                        "top20_customer_revenue_share": _SRC_ORDERS})
define("won_revenue_share", "share",
       "Share of won revenue (deals won with a close date in the 12 complete months to the review month, report "
       "currency) of one product or region (segment product=NAME, region=NAME); 95% delta-method interval with "
       "deals as independent draws.", "monitoring", window=_SRC_WINDOW)
define("order_revenue_share", "share",
       "Share of order revenue (orders dated in the 12 complete months to the review month, report currency) of one "
       "product (segment product=NAME); 95% delta-method interval with orders as independent draws.", "monitoring",
       window=_SRC_WINDOW)
define("top20_account_revenue_share", "share",
       "Share of won revenue (12 complete months to the review month) brought by the top 20% of accounts "
       "(opportunities.account_id) ranked by that revenue, among accounts with won revenue; read off the Lorenz "
       "curve by linear interpolation when the count of accounts is not a multiple of five.", "monitoring",
       window=_SRC_WINDOW)
define("top20_customer_revenue_share", "share",
       "Share of order revenue (12 complete months to the review month) brought by the top 20% of customers "
       "(orders.customer_id) ranked by that revenue, among customers with revenue; read off the Lorenz curve by "
       "linear interpolation when the count of customers is not a multiple of five.", "monitoring",
       window=_SRC_WINDOW)
define("won_revenue_growth_yoy", "share",
       "Won revenue of the 12 complete months to the review month / won revenue of the 12 months before - 1; 95% "
       "interval from the log ratio with compound-Poisson variances (each total's variance is the sum of its "
       "squared won amounts). Left empty when the deals start less than a year before the window.", "monitoring",
       window=_SRC_WINDOW)

# Modules that compute KPI values: each has ``kpi_rows(dataset) -> list[dict]`` and returns no rows
# (never raises) when the tables it needs are missing.
PROVIDERS: tuple[str, ...] = (
    "salesops_kit.kpis",
    "salesops_kit.funnel",
    "salesops_kit.value",
    "salesops_kit.forecast",
    "salesops_kit.reps",
    "salesops_kit.monitor",
)


def lookup(kpi: str) -> KPIDef:
    """Return the definition of a KPI name (exact name first, then families)."""
    if kpi in REGISTRY:
        return REGISTRY[kpi]
    for d in REGISTRY.values():
        if "{" in d.name and d.pattern.match(kpi):
            return d
    raise KeyError(f"KPI {kpi!r} is not in the registry (salesops_kit/kpis.py); define it before reporting it.")


def definition(kpi: str, lang: str | None = None, *, default: str | None = None) -> str:
    """The definition of a KPI name (a family member resolves to its family) in the report language
    (``SALESOPS_LANG`` when ``lang`` is None): the translation from the i18n catalogs, else the registry's
    English text. A name the registry does not know raises ``KeyError``, or returns ``default`` when one is
    given."""
    from .i18n import kpi_definition

    try:
        d = lookup(kpi)
    except KeyError:
        if default is None:
            raise
        return default
    return kpi_definition(d.name, lang, default=d.definition)


def kpi_frame(rows, *, currency: str | None = None) -> pd.DataFrame:
    """Turn ``{kpi, segment, value[, ci_low, ci_high]}`` records into a sorted KPI table with units
    and definitions from the registry. Unknown KPI names raise ``KeyError``.

    A row's ``unit`` wins; else the registry's, with the word ``currency`` replaced by the row's ``currency``
    code or, for rows without one, by ``currency`` (the dataset's single currency, ``data.currency.single_currency``).
    """
    recs = []
    for r in rows:
        d = lookup(r["kpi"])
        v = r.get("value")
        recs.append(
            {
                "kpi": r["kpi"],
                "segment": str(r.get("segment", "all")),
                "value": _num(v) if d.unit != "date" else v,
                "ci_low": _num(r.get("ci_low")),
                "ci_high": _num(r.get("ci_high")),
                "unit": money_unit(r.get("unit") or d.unit, r.get("currency") or currency),
                "definition": d.definition,
                "window": str(r.get("window") or d.window or ""),
            }
        )
    df = pd.DataFrame.from_records(recs, columns=KPI_COLUMNS)
    if len(df):
        df = df.sort_values(["kpi", "segment"], kind="stable").reset_index(drop=True)
    return df


def money_unit(unit: str, code: str | None) -> str:
    """A registry unit with the word ``currency`` replaced by the row's currency code (``USD per month``)."""
    return re.sub(r"\bcurrency\b", str(code), unit) if code else unit


def _num(v):
    if v is None:
        return np.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def kpi_rows(ds) -> list[dict]:
    """Data KPIs from the loader's row account (any engine: one narwhals select per table)."""
    import narwhals as nw

    from .data.schema import TABLES

    rows = []
    for name, t in TABLES.items():
        df = ds.tables.get(name)
        if df is None:
            continue
        q = ds.quarantine.get(name)
        f = nw.from_native(df)
        f = f.lazy() if isinstance(f, nw.DataFrame) else f
        dated = t.date_column in f.collect_schema().names()
        aggs = [nw.col(t.date_column).min().alias("lo"), nw.col(t.date_column).max().alias("hi")] if dated else []
        r = f.select(nw.len().alias("n"), *aggs).collect().rows(named=True)[0]  # min/max skip nulls
        rows.append({"kpi": f"rows_{name}", "value": int(r["n"])})
        rows.append({"kpi": f"rows_quarantined_{name}", "value": 0 if q is None else len(q)})
        if dated and r["lo"] is not None and pd.notna(r["lo"]):
            rows.append({"kpi": f"date_min_{name}", "value": pd.Timestamp(r["lo"]).date().isoformat()})
            rows.append({"kpi": f"date_max_{name}", "value": pd.Timestamp(r["hi"]).date().isoformat()})
    return rows


def provider_rows(ds, providers=PROVIDERS) -> tuple[dict[str, list[dict]], list[str]]:
    """Each provider's ``kpi_rows(ds)`` by module name, and the providers that failed: a provider that raises
    (a bug, or pandas methods called on a lazy engine's tables) is named with its error instead of stopping the
    others. Library warnings are silenced (the table is for reading, not debugging)."""
    import warnings

    rows: dict[str, list[dict]] = {}
    errors: list[str] = []
    for modname in providers:
        try:
            if importlib.util.find_spec(modname) is None:  # topic module not built yet
                continue
            mod = importlib.import_module(modname)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rows[modname] = list(mod.kpi_rows(ds))
        except Exception as exc:  # noqa: BLE001 - one provider must not stop the table
            first = str(exc).splitlines()[0] if str(exc) else ""
            errors.append(f"{modname}.kpi_rows: {type(exc).__name__}: {first}")
    return rows, errors


def kpi_table(ds, *, topics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The headline KPI table of a dataset: every provider's rows, registry units and definitions.

    A provider whose tables are missing returns no rows (it never raises for that reason).
    """
    rows: list[dict] = []
    for modname in PROVIDERS:
        if importlib.util.find_spec(modname) is None:  # topic module not built yet
            continue
        mod = importlib.import_module(modname)
        for r in mod.kpi_rows(ds):
            if topics is None or lookup(r["kpi"]).topic in topics:
                rows.append(r)
    return kpi_frame(rows, currency=single_currency(ds))


def engine_kpi_table(ds) -> tuple[pd.DataFrame, list[str]]:
    """The headline KPI table on any engine, provider by provider, and the providers that could not run.

    Every provider's ``kpi_rows`` gets the engine's tables (the data KPIs of ``kpis.kpi_rows`` count rows
    with one narwhals select per table, on any engine). A provider that fails (e.g. one that calls pandas methods on
    its input) is named in the second value instead of stopping the table (``salesops kpis --engine``).
    """
    from .engines import engine_of

    rows, errors = provider_rows(ds)
    where = engine_of(next(iter(ds.tables.values())))
    table = kpi_frame([r for rs in rows.values() for r in rs], currency=single_currency(ds))
    return table, [e.replace(".kpi_rows:", f".kpi_rows on {where}:", 1) for e in errors]


def publish(table, *, provider) -> None:
    """Display a topic's KPI table (``kpi_frame`` output or ``kpi_rows`` records) for ``salesops report``.

    ``provider`` is the topic module (or its name) whose ``kpi_rows`` produced it, e.g. ``costs``. The
    output carries the records under :data:`KPIS_MIME` and a one-line note as text (the report's HTML
    pages leave the output out); the report reads the records back (:func:`published_rows`) for the
    index and ``kpis.csv``. Values are kept at
    full precision (JSON floats round-trip exactly); NaN becomes null.
    """
    from IPython.display import display

    name = provider if isinstance(provider, str) else provider.__name__
    check_option("provider", name, PROVIDERS, hint="Only a KPI provider's rows can be published.")
    recs = table.to_dict("records") if isinstance(table, pd.DataFrame) else list(table)
    keep = ("kpi", "segment", "value", "ci_low", "ci_high", "unit", "window")
    rows = [{k: _json_value(r.get(k)) for k in keep if k in r} for r in recs]
    # no visible text: the records are for the report (kpis.csv, the index), not for the reader of the notebook
    display({"text/plain": "", KPIS_MIME: {"provider": name, "rows": rows}}, raw=True)


def _json_value(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def published_rows(notebook) -> dict[str, list[dict]]:
    """KPI records published (:func:`publish`) in an executed notebook file, by provider module name."""
    import json

    import nbformat

    out: dict[str, list[dict]] = {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        for o in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            payload = (o.get("data") or {}).get(KPIS_MIME)
            if isinstance(payload, str):
                payload = json.loads(payload)
            if isinstance(payload, dict) and payload.get("provider") in PROVIDERS:
                out.setdefault(payload["provider"], []).extend(r for r in payload.get("rows") or []
                                                               if isinstance(r, dict) and "kpi" in r)
    return out
