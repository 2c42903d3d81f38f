"""The bundled sample company: a deterministic, vectorised generator with planted truths.

``generate(seed=0, scale=1.0)`` returns the eight canonical tables as pandas DataFrames;
``write_sample(out_dir, seed=0, scale=1.0)`` writes them as the CSV files of the canonical
mapping (``opportunities.csv`` ...). Same seed and scale give byte-identical files.

Everything not listed in :data:`PLANTED` is null by construction: reps, teams, products, regions
and lead sources share the same stage-transition probabilities, response times and lead
conversion, except for the planted segments. ``data/README.md`` documents every planted truth.
Row counts grow linearly with ``scale`` (scale 1: ~6.5k deals, ~23k leads, ~30k orders; scale ~155:
1M deals, scale ~170: 5M orders).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from scipy.special import hyp2f1

from ..tools.validation import check_option

__all__ = ["PLANTED", "REPS", "CHANNELS", "STAGES", "generate", "write_sample", "plant_bad_rows",
           "expected_customer_value"]

STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation")
WON, LOST = "Closed Won", "Closed Lost"
STAGE_PROBABILITY = {"Prospecting": 0.1, "Qualification": 0.2, "Proposal": 0.4, "Negotiation": 0.6, WON: 1.0, LOST: 0.0}
FORECAST_CATEGORY = {"Prospecting": "Pipeline", "Qualification": "Pipeline", "Proposal": "Best Case",
                     "Negotiation": "Commit", WON: "Closed", LOST: "Omitted"}
CHANNELS = ("Paid Search", "Webinar", "Referral", "Trade Show", "Outbound", "Partner")
LEAD_SOURCE_SHARE = (0.22, 0.15, 0.13, 0.12, 0.20, 0.18)
# (name, team); the last rep is a recent hire (the small-sample star).
REPS = (
    ("Ann Lee", "Atlas"), ("Ben Carter", "Atlas"), ("Chloe Martin", "Atlas"), ("Daniel Kim", "Atlas"),
    ("Elena Rossi", "Atlas"), ("Farid Haddad", "Boreal"), ("Grace Chen", "Boreal"), ("Hugo Silva", "Boreal"),
    ("Ines Moreau", "Boreal"), ("Jonas Berg", "Boreal"), ("Keiko Tanaka", "Cobalt"), ("Liam Walsh", "Cobalt"),
    ("Maya Patel", "Cobalt"), ("Noah Fischer", "Cobalt"), ("Olivia Brown", "Cobalt"),
)
PRODUCTS = ("Starter", "Growth", "Enterprise")
PRODUCT_SHARE = (0.45, 0.35, 0.20)
PRODUCT_MEDIAN_AMOUNT = (8000.0, 15000.0, 30000.0)
AMOUNT_SIGMA = 0.35
REGIONS = ("North America", "EMEA", "APAC")
REGION_SHARE = (0.45, 0.35, 0.20)
ORDER_PRODUCTS = ("Core", "Add-on", "Services")
ORDER_PRODUCT_SHARE = (0.6, 0.3, 0.1)
ORDER_MARGIN_RATE = (0.45, 0.35, 0.25)  # share-weighted mean 0.40
LOSS_REASONS = ("Price", "Competitor", "No budget", "No decision", "Timing", "Product fit")
LOSS_REASON_SHARE = (0.25, 0.15, 0.20, 0.20, 0.10, 0.10)
SLIP_SHARE = 0.15  # share of deals whose expected close date is pushed at least once
BASE_TRANSITION = (0.80, 0.76, 0.72, 0.70)  # Prosp->Qual, Qual->Prop, Prop->Neg, Neg->Won
STAGE_MEAN_DAYS = (10.0, 14.0, 18.0, 21.0)
SKIP_QUALIFICATION = 0.06  # share of deals reaching Proposal that skip Qualification
LEAD_CONVERSION = 0.30
RESPONSE_MEDIAN_HOURS = 4.0
RESPONSE_SIGMA = 0.9

PLANTED: dict = {
    "time_window": {"start": "2023-01-01", "as_of": "2025-12-15",
                    "note": "December 2025 is partial; deals open at as-of have blank exited_date."},
    "bookings_seasonality": {
        "measure": "won amount by close month (all deals close on a seasonal schedule; win rate is flat)",
        "yearly_growth": 0.15,
        "monthly_factor": {1: 0.91875, 2: 0.75, 3: 0.91875, 4: 0.91875, 5: 0.91875, 6: 0.91875,
                           7: 1.30, 8: 1.30, 9: 1.30, 10: 0.91875, 11: 0.91875, 12: 0.91875},
        "note": "multiplicative factors relative to the trend (they average 1 over a year): "
                "Q3 +30% above trend, February -25%, all other months -8.1%.",
    },
    "sales_cycle": {"stage_mean_days": dict(zip(STAGES, STAGE_MEAN_DAYS, strict=True)), "won_median_days": 64.0,
                    "skip_qualification_share": SKIP_QUALIFICATION,
                    "note": "each stage entered lasts 1 + Gamma(shape 2, scale m/2) days (mean m + 1); a won "
                            "deal's cycle is ceil of the sum (median 64 days by simulation); deals closing in the "
                            "first weeks of the window are compressed so that nothing starts before it"},
    "funnel_bottleneck": {"column": "lead_source", "segment": "Partner", "transition": ("Proposal", "Negotiation"),
                          "conversion": BASE_TRANSITION[2] / 2, "others": BASE_TRANSITION[2],
                          "base_transitions": BASE_TRANSITION},
    "slow_responder": {"owner": "Daniel Kim", "response_median_hours": 30.0,
                       "team_response_median_hours": RESPONSE_MEDIAN_HOURS, "response_sigma_log": RESPONSE_SIGMA,
                       "lead_conversion": LEAD_CONVERSION / 2, "team_lead_conversion": LEAD_CONVERSION},
    "small_sample_star": {"owner": "Olivia Brown", "team": "Cobalt", "hired": "2025-09-01",
                          "closed_won": 4, "closed_lost": 1, "open": 2,
                          "true_win_rate": "same as every other rep (the 4 of 5 are hand-picked from her team)"},
    "strong_rep": {"owner": "Grace Chen", "team": "Boreal", "transition_multiplier": 1.12,
                   "note": "every stage-transition probability x1.12: win rate ~1.57x the others"},
    "channel_economics": {
        "value_definition": "expected gross margin per new customer over 156 weeks from the first order, "
                            "undiscounted, first order included (BG/NBD + Gamma-Gamma below, mean margin rate 0.40)",
        "ltv_to_cac": {"Paid Search": 1.8, "Webinar": 2.0, "Referral": 6.0, "Trade Show": 0.4,
                       "Outbound": 1.5, "Partner": 2.2},
        "money_losing_channel": "Trade Show",
        "ltv_cac_above_3_channel": "Referral",
        "new_customer_share": {"Paid Search": 0.25, "Webinar": 0.15, "Referral": 0.12, "Trade Show": 0.10,
                               "Outbound": 0.18, "Partner": 0.20},
        "marketing_share_of_spend": 0.6,
        "note": "every channel's customers come from the same BG/NBD/Gamma-Gamma population; only spend differs.",
    },
    "bg_nbd": {"r": 0.6, "alpha": 10.0, "a": 0.9, "b": 3.0, "time_unit": "week",
               "note": "lambda ~ Gamma(r, rate alpha) purchases per week; dropout after each repeat purchase with "
                       "p ~ Beta(a, b); the first order is at acquisition (time 0)."},
    "gamma_gamma": {"p": 4.0, "q": 3.5, "gamma": 60.0,
                    "note": "order amount ~ Gamma(p, rate nu), nu ~ Gamma(q, rate gamma) per customer; "
                            "mean amount p*gamma/(q-1) = 96."},
    "team_win_rate_drop": {"team": "Boreal", "months": ("2025-05", "2025-06"), "months_before_as_of": (7, 6),
                           "transition_multiplier": 0.65,
                           "note": "deals of the team closing in those months pass each stage with probability "
                                   "x0.65 (win rate x0.18); May-June rather than Q3 so the "
                                   "Q3 bookings peak stays clean"},
    "bad_rows": {"opportunities": {"exact duplicate": 2, "conflicting duplicate id": 2,
                                   "close before created": 2},
                 "orders": {"negative amount": 2},
                 "note": "only in the written files (write_sample(bad_rows=True), the default); the loader "
                         "quarantines the 4 duplicates and keeps the 4 others with a field withheld (close before "
                         "created: out of cycle times; negative amount: amount and margin withheld); generate() "
                         "returns the clean tables"},
    "slipping_rep": {"owner": "Liam Walsh", "pushed_share": 2 * SLIP_SHARE, "others_pushed_share": SLIP_SHARE,
                     "pushes_if_pushed": "1 + Binomial(1, 0.3)",
                     "note": "deal_history: one record at creation and one per push; a pushed deal's first expected "
                             "close date lies 30-80% of the way from creation to its final close date, and each "
                             "push (on a day between creation and the close, or as-of for open deals) moves it later "
                             "until the last push reaches the final date; every other rep's deals are pushed with "
                             "the same probability, and pushing is independent of the outcome."},
    "loss_reason_surge": {"reason": "Competitor", "quarter": "2025Q3", "share": 2 * LOSS_REASON_SHARE[1],
                          "base_share": dict(zip(LOSS_REASONS, LOSS_REASON_SHARE, strict=True)),
                          "note": "lost deals closing in July-September 2025 cite Competitor twice as often (the "
                                  "other reasons scaled down in proportion); in every other quarter, stage, rep and "
                                  "segment the reasons share one distribution."},
    "revenue_concentration": {"table": "orders", "product": ORDER_PRODUCTS[0], "order_share": ORDER_PRODUCT_SHARE[0],
                              "note": "order amounts do not depend on the product, so Core carries ~60% of order "
                                      "revenue; deals' products and regions share one win rate (their amounts "
                                      "differ by product: medians 8,000 / 15,000 / 30,000)."},
    "csat_dip": {"owner": "Daniel Kim", "months": ("2025-10", "2025-11"), "months_before_as_of": (2, 1),
                 "score_probs_dip": (0.25, 0.25, 0.25, 0.15, 0.10), "surveys_per_rep_month": 20.0,
                 "score_probs_normal": (0.02, 0.04, 0.14, 0.42, 0.38)},
}


def expected_customer_value(weeks: float = 156.0) -> float:
    """Expected gross margin per new customer over ``weeks`` (first order + BG/NBD repeats)."""
    g = PLANTED["bg_nbd"]
    r, al, a, b = g["r"], g["alpha"], g["a"], g["b"]
    t = float(weeks)
    ex = (a + b - 1) / (a - 1) * (1 - (al / (al + t)) ** r * hyp2f1(r, b, a + b - 1, t / (al + t)))
    gg = PLANTED["gamma_gamma"]
    spend = gg["p"] * gg["gamma"] / (gg["q"] - 1)
    margin = float(np.dot(ORDER_PRODUCT_SHARE, ORDER_MARGIN_RATE))
    return float((1 + ex) * spend * margin)


# ----------------------------------------------------------------------------------------------------
def _month_index(days: np.ndarray, start: np.datetime64) -> np.ndarray:
    """Months since the start month for day offsets ``days``."""
    m = (start + days.astype("timedelta64[D]")).astype("datetime64[M]")
    return (m - start.astype("datetime64[M]")).astype(np.int64)


def _month_start_offsets(start: np.datetime64, n_months: int) -> np.ndarray:
    months = start.astype("datetime64[M]") + np.arange(n_months + 1)
    return (months.astype("datetime64[D]") - start).astype(np.int64)


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    w = max(width, len(str(n)))
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), w)).astype(object)


def _group_sample(groups: np.ndarray, n_per_group: np.ndarray, rng) -> np.ndarray:
    """Indices into ``groups`` (sorted ascending), ``n_per_group[g]`` random draws within each group g."""
    g_ids = np.arange(len(n_per_group))
    starts = np.searchsorted(groups, g_ids, side="left")
    sizes = np.searchsorted(groups, g_ids, side="right") - starts
    want = np.where(sizes > 0, n_per_group, 0)
    gg = np.repeat(g_ids, want)
    return starts[gg] + np.floor(rng.random(len(gg)) * sizes[gg]).astype(np.int64)


def _time_of_day(rng, n: int) -> np.ndarray:
    """Minutes after midnight: 85% in office hours 08:00-18:00, the rest at any time."""
    office = 480 + np.floor(rng.random(n) * 600)
    anytime = np.floor(rng.random(n) * 1440)
    return np.where(rng.random(n) < 0.85, office, anytime).astype(np.int64)


def _deals(rng, scale, start, as_of_d, n_months_total):
    """Deals: close day from the seasonal schedule, fate, stage durations, owner and attributes."""
    season = PLANTED["bookings_seasonality"]
    horizon = as_of_d + 240
    days = np.arange(horizon)
    cal = start + days.astype("timedelta64[D]")
    month = (cal.astype("datetime64[M]").astype(np.int64) % 12) + 1
    dim = ((cal.astype("datetime64[M]") + 1).astype("datetime64[D]") - cal.astype("datetime64[M]").astype(
        "datetime64[D]")).astype(np.int64)
    factor = np.array([season["monthly_factor"][m] for m in range(1, 13)])[month - 1]
    w = (1 + season["yearly_growth"]) ** (days / 365.25) * factor / dim
    n = int(round(142.0 * scale * w.sum()))
    # systematic sampling of the schedule: deal closings per month follow it without Poisson noise
    cdf = np.cumsum(w) / w.sum()
    close = np.minimum(np.searchsorted(cdf, (np.arange(n) + rng.random()) / n, side="right"), horizon - 1)

    n_reps = len(REPS) - 1  # the star is assigned later
    rep_w = np.ones(n_reps)
    rep_names = [r[0] for r in REPS]
    slow = rep_names.index(PLANTED["slow_responder"]["owner"])
    rep_w[slow] = PLANTED["slow_responder"]["lead_conversion"] / LEAD_CONVERSION
    owner = rng.choice(n_reps, size=n, p=rep_w / rep_w.sum())
    source = rng.choice(len(CHANNELS), size=n, p=LEAD_SOURCE_SHARE)
    product = rng.choice(len(PRODUCTS), size=n, p=PRODUCT_SHARE)
    region = rng.choice(len(REGIONS), size=n, p=REGION_SHARE)
    amount = np.round(np.asarray(PRODUCT_MEDIAN_AMOUNT)[product] * np.exp(AMOUNT_SIGMA * rng.standard_normal(n)), 2)

    p = np.tile(np.asarray(BASE_TRANSITION), (n, 1))
    bott = PLANTED["funnel_bottleneck"]
    p[source == CHANNELS.index(bott["segment"]), 2] = bott["conversion"]
    strong = PLANTED["strong_rep"]
    p[owner == rep_names.index(strong["owner"])] *= strong["transition_multiplier"]
    drop = PLANTED["team_win_rate_drop"]
    team_of = np.array([REPS[i][1] for i in range(n_reps)])
    close_month = _month_index(close, start)
    as_of_month = n_months_total - 1
    in_drop = np.isin(close_month, [as_of_month - k for k in drop["months_before_as_of"]])
    p[(team_of[owner] == drop["team"]) & in_drop] *= drop["transition_multiplier"]
    passed = rng.random((n, 4)) < np.minimum(p, 1.0)
    first_fail = np.where(passed.all(axis=1), 4, np.argmin(passed, axis=1))
    won = first_fail == 4
    last_stage = np.minimum(first_fail, 3)  # index of the last open stage reached
    reached = np.arange(4)[None, :] <= last_stage[:, None]
    skip_q = (last_stage >= 2) & (rng.random(n) < SKIP_QUALIFICATION)
    dur = rng.gamma(2.0, np.asarray(STAGE_MEAN_DAYS) / 2.0, size=(n, 4)) + 1.0
    dur = np.where(reached, dur, 0.0)
    dur[skip_q, 1] = 0.0

    # lead before the deal: time of day, response time, extra days until conversion
    tod = _time_of_day(rng, n)
    med = np.where(owner == slow, PLANTED["slow_responder"]["response_median_hours"], RESPONSE_MEDIAN_HOURS)
    rt_min = np.maximum(1, np.round(med * 60 * np.exp(RESPONSE_SIGMA * rng.standard_normal(n)))).astype(np.int64)
    lead_days = np.ceil((tod + rt_min) / 1440).astype(np.int64) + rng.geometric(0.2, n) - 1

    # compress the early deals so that nothing starts before the window opens
    total = dur.sum(axis=1) + lead_days
    f = np.where(total > close, close * rng.uniform(0.5, 0.95, n) / total, 1.0)
    dur *= f[:, None]
    lead_days = np.floor(lead_days * f).astype(np.int64)
    rev = np.cumsum(dur[:, ::-1], axis=1)[:, ::-1]  # days from entering stage k to close
    entered = np.floor(close[:, None] - rev).astype(np.int64)
    entered = np.maximum(entered, 0)
    created = entered[:, 0]
    lead_day = created - lead_days
    early = lead_day < 0
    lead_day = np.where(early, 0, lead_day)
    rt_cap = np.maximum((created - lead_day) * 1440 + 1439 - tod, 1)
    rt_min = np.minimum(rt_min, rt_cap)
    return dict(close=close, created=created, entered=entered, reached=reached, skip_q=skip_q, won=won,
                last_stage=last_stage, owner=owner, source=source, product=product, region=region, amount=amount,
                lead_min=lead_day * 1440 + tod, rt_min=rt_min)


def _assign_star(rng, d, start, as_of_d, n_months_total):
    """Hand-pick the new hire's deals: 4 won + 1 lost closed by as-of, 2 open, from her team's deals."""
    star = PLANTED["small_sample_star"]
    names = [r[0] for r in REPS]
    hire = (np.datetime64(star["hired"]) - start).astype(np.int64)
    team = np.array([r[1] for r in REPS])[d["owner"]]
    pool = (team == star["team"]) & (d["created"] >= hire) & (d["created"] <= as_of_d)
    closed = d["close"] <= as_of_d
    picks = []
    for mask, k in ((pool & closed & d["won"], star["closed_won"]), (pool & closed & ~d["won"], star["closed_lost"]),
                    (pool & ~closed, star["open"])):
        idx = np.flatnonzero(mask)
        picks.append(np.sort(rng.permutation(idx)[:k]))
    d["owner"][np.concatenate(picks)] = names.index(star["owner"])
    return hire


def generate(*, seed: int = 0, scale: float = 1.0, as_of: str = "2025-12-15") -> dict[str, pd.DataFrame]:
    """Generate the sample company's canonical tables.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``; same seed and scale give identical tables.
    scale : float
        Row counts grow linearly with it (1.0: ~6.5k opportunities, ~23k leads, ~30k orders).
    as_of : str
        Export date (ISO). The window starts on 1 January two years before its year.

    Returns
    -------
    dict of table name -> DataFrame with the canonical columns (``data/README.md``): opportunities,
    stage_history, leads, orders, marketing_spend, activities, csat, quotas.
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    rng = np.random.default_rng(seed)
    as_of64 = np.datetime64(as_of, "D")
    start = np.datetime64(f"{as_of64.astype('datetime64[Y]').astype(int) + 1970 - 2}-01-01", "D")
    as_of_d = int((as_of64 - start).astype(np.int64))
    n_months = int(_month_index(np.array([as_of_d]), start)[0]) + 1

    d = _deals(rng, scale, start, as_of_d, n_months)
    hire = _assign_star(rng, d, start, as_of_d, n_months)
    out = {}
    opp_keep, opps, hist = _opportunity_tables(rng, d, start, as_of_d)
    out["opportunities"], out["stage_history"] = opps, hist
    out["leads"] = _leads(rng, d, opp_keep, opps, start, as_of_d, hire)
    orders, spend = _orders_and_spend(rng, scale, start, as_of_d, n_months)
    out["orders"], out["marketing_spend"] = orders, spend
    out["activities"] = _activities(rng, opps, out["leads"], start, as_of_d)
    out["csat"] = _csat(rng, scale, opps, start, as_of_d, n_months, hire)
    out["quotas"] = _quotas(start, n_months, hire)
    # a child generator of its own, so that the tables above do not change with these columns
    extra = np.random.default_rng([seed, 18])
    out["opportunities"]["loss_reason"] = _loss_reasons(extra, opps, start)
    out["deal_history"] = _deal_history(extra, opps, start, as_of_d)
    return out


def _loss_reasons(rng, opps: pd.DataFrame, start) -> np.ndarray:
    """A loss reason for each lost deal (PLANTED["loss_reason_surge"]); blank for the others."""
    lost = (opps["stage"] == LOST).to_numpy()
    surge = PLANTED["loss_reason_surge"]
    q = opps["close_date"].dt.to_period("Q").astype(str).to_numpy()
    base = np.asarray(LOSS_REASON_SHARE)
    k = LOSS_REASONS.index(surge["reason"])
    high = base * (1 - surge["share"]) / (1 - base[k])
    high[k] = surge["share"]
    u = rng.random(len(opps))
    pick = np.where(q == surge["quarter"], np.searchsorted(np.cumsum(high), u * high.sum(), side="right"),
                    np.searchsorted(np.cumsum(base), u * base.sum(), side="right"))
    return np.where(lost, np.asarray(LOSS_REASONS, dtype=object)[np.minimum(pick, len(base) - 1)], None)


def _deal_history(rng, opps: pd.DataFrame, start, as_of_d) -> pd.DataFrame:
    """Close-date history: a record at creation and one per push (PLANTED["slipping_rep"])."""
    created = (opps["created_date"].to_numpy("datetime64[D]") - start).astype(np.int64)
    final = (opps["close_date"].to_numpy("datetime64[D]") - start).astype(np.int64)
    end = np.minimum(final, as_of_d)
    n = len(opps)
    p = np.where(opps["owner"].to_numpy() == PLANTED["slipping_rep"]["owner"], 2 * SLIP_SHARE, SLIP_SHARE)
    pushed = (rng.random(n) < p) & (end - created >= 2)
    k = np.where(pushed, 1 + (rng.random(n) < 0.3), 0)
    # the first expected close date lies 30-80% of the way from creation to the final one; pushes split the rest
    first = created + np.floor(rng.uniform(0.3, 0.8, n) * (final - created)).astype(np.int64)
    pushed &= final > first
    k = np.where(pushed, np.where(final - first < 2, 1, k), 0)
    # push days: after creation and not after the end, in order
    when = np.sort(created[:, None] + 1 + np.floor(rng.random((n, 2)) * np.maximum(end - created, 1)[:, None])
                   .astype(np.int64), axis=1)
    rows_id = [np.arange(n)]
    rows_day = [created]
    rows_close = [np.where(k > 0, first, final)]
    for j in range(2):
        m = k > j
        rows_id.append(np.flatnonzero(m))
        rows_day.append(when[m, j])
        step = np.where(k[m] == 2, (final[m] - first[m]) // 2, final[m] - first[m])
        rows_close.append(np.where(k[m] == j + 1, final[m], first[m] + step))
    i = np.concatenate(rows_id)
    day = np.concatenate(rows_day)
    close = np.concatenate(rows_close)
    o = np.lexsort((day, i))
    return pd.DataFrame({
        "opportunity_id": opps["opportunity_id"].to_numpy()[i[o]],
        "recorded_date": _dt(start, day[o]),
        "close_date": _dt(start, close[o]),
    })


def _dt(start, days) -> np.ndarray:
    return (start + np.asarray(days).astype("timedelta64[D]")).astype("datetime64[ns]")


def _opportunity_tables(rng, d, start, as_of_d):
    keep = np.flatnonzero(d["created"] <= as_of_d)
    # order deals by created date (ties broken by a random key) and number them
    keep = keep[np.lexsort((rng.random(len(keep)), d["created"][keep]))]
    n = len(keep)
    ids = _ids("OPP-", n, 5)
    close = d["close"][keep]
    created = d["created"][keep]
    entered = d["entered"][keep]
    reached = d["reached"][keep].copy()
    reached[d["skip_q"][keep], 1] = False
    won = d["won"][keep]
    last = d["last_stage"][keep]
    is_closed = close <= as_of_d
    visible = reached & (entered <= as_of_d)
    # current stage: last visible open stage, or the closed label
    cur = 3 - np.argmax(visible[:, ::-1], axis=1)
    stage = np.asarray(STAGES, dtype=object)[cur]
    stage = np.where(is_closed, np.where(won, WON, LOST), stage)
    lost_at = np.where(is_closed & ~won, np.asarray(STAGES, dtype=object)[last], None)
    exp_close = close.copy()
    # deliberately overdue: 2% of open deals still show an expected close date in the past
    open_idx = np.flatnonzero(~is_closed)
    overdue = open_idx[rng.random(len(open_idx)) < 0.02]
    exp_close[overdue] = np.maximum(created[overdue], as_of_d - rng.integers(1, 46, len(overdue)))
    names = np.array([r[0] for r in REPS], dtype=object)
    teams = np.array([r[1] for r in REPS], dtype=object)
    owner = d["owner"][keep]
    n_accounts = max(1, int(round(n * 0.7)))
    acct = _ids("A-", n_accounts, 5)[rng.integers(0, n_accounts, n)]
    opps = pd.DataFrame({
        "opportunity_id": ids,
        "owner": names[owner],
        "stage": stage,
        "amount": d["amount"][keep],
        "created_date": _dt(start, created),
        "close_date": _dt(start, exp_close),
        "account_id": acct,
        "team": teams[owner],
        "region": np.asarray(REGIONS, dtype=object)[d["region"][keep]],
        "lead_source": np.asarray(CHANNELS, dtype=object)[d["source"][keep]],
        "product": np.asarray(PRODUCTS, dtype=object)[d["product"][keep]],
        "probability": pd.Series(stage).map(STAGE_PROBABILITY).to_numpy(float),
        "forecast_category": pd.Series(stage).map(FORECAST_CATEGORY).to_numpy(object),
        "currency": "USD",
        "lost_at_stage": lost_at,
    })
    # stage history: open stages entered by as-of, plus the closing row for closed deals
    ent5 = np.column_stack([entered, close])
    vis5 = np.column_stack([visible, is_closed])
    nxt = np.column_stack([entered[:, 1:], close, np.full(n, -1)])
    # skipped Qualification has the same entered date as Proposal, so Prospecting exits into Proposal
    exit5 = np.where(np.arange(5)[None, :] == last[:, None], close[:, None], nxt)
    exit5[:, 4] = -1
    exit5 = np.where((exit5 > as_of_d) | (exit5 < 0), -1, exit5)
    r, c = np.nonzero(vis5)
    labels = np.array(list(STAGES) + [None], dtype=object)[c]
    labels[c == 4] = np.where(won[r[c == 4]], WON, LOST)
    ex = exit5[r, c]
    hist = pd.DataFrame({
        "opportunity_id": ids[r],
        "stage": labels,
        "entered_date": _dt(start, ent5[r, c]),
        "exited_date": pd.Series(_dt(start, np.where(ex < 0, 0, ex))).where(ex >= 0),
    })
    return keep, opps, hist


def _leads(rng, d, keep, opps, start, as_of_d, hire):
    """Converted leads from the deals; unconverted leads resampled per rep at the rep's conversion rate."""
    as_of_min = (as_of_d + 1) * 1440 - 1
    names = np.array([r[0] for r in REPS], dtype=object)
    in_window = np.flatnonzero(d["lead_min"] <= as_of_min)
    conv_owner = d["owner"][in_window]
    conv_min = d["lead_min"][in_window]
    opp_id = np.full(len(d["close"]), None, dtype=object)
    opp_id[keep] = opps["opportunity_id"].to_numpy()
    # unconverted leads per rep: c * (1 - p) / p, dates resampled from that rep's converted leads
    rate = np.full(len(REPS), LEAD_CONVERSION)
    rate[names.tolist().index(PLANTED["slow_responder"]["owner"])] = PLANTED["slow_responder"]["lead_conversion"]
    counts = np.bincount(conv_owner, minlength=len(REPS))
    n_un = rng.binomial(np.maximum(np.round(counts * (1 - rate) / rate), 0).astype(np.int64), 1.0)
    order = np.argsort(conv_owner, kind="stable")
    pick = order[_group_sample(conv_owner[order], n_un, rng)]
    un_owner = conv_owner[pick]
    jitter = np.round(rng.normal(0, 10, len(pick))).astype(np.int64) * 1440
    un_min = conv_min[pick] // 1440 * 1440 + jitter
    tod = _time_of_day(rng, len(pick))
    un_min = np.clip(un_min, 0, as_of_d * 1440) + tod
    hire_min = hire * 1440
    un_owner = np.where((un_owner == len(REPS) - 1) & (un_min < hire_min), rng.integers(10, 14, len(pick)), un_owner)
    med = np.where(un_owner == names.tolist().index(PLANTED["slow_responder"]["owner"]),
                   PLANTED["slow_responder"]["response_median_hours"], RESPONSE_MEDIAN_HOURS)
    un_rt = np.maximum(1, np.round(med * 60 * np.exp(RESPONSE_SIGMA * rng.standard_normal(len(pick))))).astype(np.int64)

    created = np.concatenate([conv_min, un_min])
    rt = np.concatenate([d["rt_min"][in_window], un_rt])
    owner = np.concatenate([conv_owner, un_owner])
    source = np.concatenate([d["source"][in_window], rng.choice(len(CHANNELS), len(pick), p=LEAD_SOURCE_SHARE)])
    conv_day = np.concatenate([d["created"][in_window], np.full(len(pick), -1)])
    oid = np.concatenate([opp_id[in_window], np.full(len(pick), None, dtype=object)])
    converted = (conv_day >= 0) & (conv_day <= as_of_d)
    resp = created + rt
    recent = created >= (as_of_d - 30) * 1440
    status = np.where(converted, "Converted", np.where(recent | (conv_day > as_of_d), "Working", "Disqualified"))
    o = np.lexsort((rng.random(len(created)), created))
    mins = (start.astype("datetime64[m]") + created.astype("timedelta64[m]")).astype("datetime64[ns]")
    rmins = (start.astype("datetime64[m]") + resp.astype("timedelta64[m]")).astype("datetime64[ns]")
    return pd.DataFrame({
        "lead_id": _ids("L-", len(o), 6),
        "created_date": mins[o],
        "source": np.asarray(CHANNELS, dtype=object)[source[o]],
        "owner": names[owner[o]],
        "first_response_date": pd.Series(rmins[o]).where(resp[o] <= as_of_min),
        "converted_date": pd.Series(_dt(start, np.where(converted, conv_day, 0))[o]).where(converted[o]),
        "opportunity_id": np.where(converted, oid, None)[o],
        "status": status[o].astype(object),
    })


def _orders_and_spend(rng, scale, start, as_of_d, n_months):
    """Customers acquired per channel from spend / CAC; BG/NBD repeats; Gamma-Gamma amounts."""
    econ, g, gg = PLANTED["channel_economics"], PLANTED["bg_nbd"], PLANTED["gamma_gamma"]
    value = expected_customer_value(156)
    cac = np.array([value / econ["ltv_to_cac"][c] for c in CHANNELS])
    share = np.array([econ["new_customer_share"][c] for c in CHANNELS])
    m_off = _month_start_offsets(start, n_months)
    dim = np.diff(m_off)
    last_frac = (as_of_d + 1 - m_off[-2]) / dim[-1]
    frac = np.ones(n_months)
    frac[-1] = last_frac
    growth = (1 + PLANTED["bookings_seasonality"]["yearly_growth"]) ** (np.arange(n_months) / 12)
    base = 215.0 * scale
    planned = base * share[None, :] * growth[:, None] * frac[:, None] * cac[None, :]
    spend = np.round(planned * rng.uniform(0.95, 1.05, planned.shape), 2)
    new = rng.poisson(spend / cac[None, :])  # months x channels
    mk = np.round(spend * econ["marketing_share_of_spend"], 2)
    months = start.astype("datetime64[M]") + np.arange(n_months)
    mm, cc = np.meshgrid(np.arange(n_months), np.arange(len(CHANNELS)), indexing="ij")
    spend_df = pd.DataFrame({
        "month": np.repeat(months.astype("datetime64[D]").astype("datetime64[ns]"), 2 * len(CHANNELS)),
        "channel": np.tile(np.repeat(np.asarray(CHANNELS, dtype=object), 2), n_months),
        "spend": np.column_stack([mk.ravel(), np.round(spend - mk, 2).ravel()]).ravel(),
        "cost_type": np.tile(np.array(["marketing", "sales"], dtype=object), n_months * len(CHANNELS)),
    })
    # customers: acquisition day uniform within the month (up to as-of)
    c_month = np.repeat(mm.ravel(), new.ravel())
    c_chan = np.repeat(cc.ravel(), new.ravel())
    span = np.where(c_month == n_months - 1, as_of_d + 1 - m_off[c_month], dim[c_month])
    first = m_off[c_month] + np.floor(rng.random(len(c_month)) * span).astype(np.int64)
    o = np.lexsort((rng.random(len(first)), first))
    first, c_chan = first[o], c_chan[o]
    nc = len(first)
    lam = rng.gamma(g["r"], 1.0 / g["alpha"], nc)  # per week
    pdrop = rng.beta(g["a"], g["b"], nc)
    T = (as_of_d - first) / 7.0  # weeks observed after the first order
    n_events = rng.poisson(lam * T)
    life = rng.geometric(pdrop)  # repeat purchases made before dropping out
    x = np.minimum(n_events, life)
    cust = np.repeat(np.arange(nc), n_events)
    u = rng.random(len(cust))
    srt = np.lexsort((u, cust))
    cust, u = cust[srt], u[srt]
    rank = np.arange(len(cust)) - np.repeat(np.cumsum(n_events) - n_events, n_events)
    keep = rank < x[cust]
    cust, u = cust[keep], u[keep]
    # a repeat at continuous time t (days after the first order) is booked on day round(t), at least
    # day 1; a repeat on an already booked day moves to the next free day, so none is merged away
    # (merging same-day purchases would bias a fitted alpha upwards by ~5%)
    k = np.arange(len(cust)) - np.repeat(np.cumsum(x) - x, x)
    e = np.maximum(np.round(u * T[cust] * 7), 1).astype(np.int64) - k
    big = int(as_of_d) + 10 + int(x.max(initial=0))
    e = np.maximum.accumulate(cust * big + e) - cust * big
    rep_day = first[cust] + np.minimum(e + k, as_of_d - first[cust])
    all_cust = np.concatenate([np.arange(nc), cust])
    all_day = np.concatenate([first, rep_day])
    nu = rng.gamma(gg["q"], 1.0 / gg["gamma"], nc)
    amt = np.round(rng.gamma(gg["p"], 1.0 / nu[all_cust]), 2)
    amt = np.maximum(amt, 0.01)
    prod = rng.choice(len(ORDER_PRODUCTS), len(all_cust), p=ORDER_PRODUCT_SHARE)
    margin = np.round(amt * np.asarray(ORDER_MARGIN_RATE)[prod], 2)
    o = np.lexsort((rng.random(len(all_day)), all_cust, all_day))
    cids = _ids("C-", nc, 5)
    orders = pd.DataFrame({
        "order_id": _ids("O-", len(o), 6),
        "customer_id": cids[all_cust[o]],
        "order_date": _dt(start, all_day[o]),
        "amount": amt[o],
        "margin": margin[o],
        "product": np.asarray(ORDER_PRODUCTS, dtype=object)[prod[o]],
        "channel": np.asarray(CHANNELS, dtype=object)[c_chan[all_cust[o]]],
    })
    return orders, spend_df


def _activities(rng, opps, leads, start, as_of_d):
    """Calls, emails and meetings on deals (during their life) and a first touch on 20% of leads."""
    created = ((opps["created_date"].to_numpy() - _dt(start, 0)) // np.timedelta64(1, "D")).astype(np.int64)
    close = ((opps["close_date"].to_numpy() - _dt(start, 0)) // np.timedelta64(1, "D")).astype(np.int64)
    end = np.clip(close, created, as_of_d)
    k = rng.poisson(1.0, len(opps))
    i = np.repeat(np.arange(len(opps)), k)
    day = created[i] + np.floor(rng.random(len(i)) * (end[i] - created[i] + 1)).astype(np.int64)
    typ = rng.choice(np.array(["call", "email", "meeting"], dtype=object), len(i), p=[0.4, 0.4, 0.2])
    has = leads["first_response_date"].notna().to_numpy() & (rng.random(len(leads)) < 0.15)
    li = np.flatnonzero(has)
    a = pd.DataFrame({
        "owner": np.concatenate([opps["owner"].to_numpy()[i], leads["owner"].to_numpy()[li]]),
        "activity_date": np.concatenate([_dt(start, day),
                                         leads["first_response_date"].to_numpy()[li].astype("datetime64[D]")
                                         .astype("datetime64[ns]")]),
        "type": np.concatenate([typ, rng.choice(np.array(["call", "email"], dtype=object), len(li))]),
        "opportunity_id": np.concatenate([opps["opportunity_id"].to_numpy()[i], np.full(len(li), None)]),
        "lead_id": np.concatenate([np.full(len(i), None), leads["lead_id"].to_numpy()[li]]),
    })
    return a.sort_values(["activity_date", "owner"], kind="stable").reset_index(drop=True)


def _csat(rng, scale, opps, start, as_of_d, n_months, hire):
    """Survey answers per rep and month; the customer is one of the rep's won accounts closed before."""
    dip = PLANTED["csat_dip"]
    names = [r[0] for r in REPS]
    m_off = _month_start_offsets(start, n_months)
    n_r = len(REPS)
    mm, rr = np.meshgrid(np.arange(n_months), np.arange(n_r), indexing="ij")
    mm, rr = mm.ravel(), rr.ravel()
    active = (rr != n_r - 1) | (m_off[mm + 1] > hire)
    last_share = (as_of_d + 1 - m_off[-2]) / (m_off[-1] - m_off[-2])
    lam = dip["surveys_per_rep_month"] * scale * np.where(mm == n_months - 1, last_share, 1.0)
    k = rng.poisson(np.where(active, lam, 0.0))
    m = np.repeat(mm, k)
    r = np.repeat(rr, k)
    lo = np.where(r == n_r - 1, np.maximum(m_off[m], hire), m_off[m])
    hi = np.minimum(m_off[m + 1], as_of_d + 1)
    day = lo + np.floor(rng.random(len(m)) * (hi - lo)).astype(np.int64)
    in_dip = (r == names.index(dip["owner"])) & np.isin(m, [n_months - 1 - b for b in dip["months_before_as_of"]])
    u = rng.random(len(m))
    score = np.where(in_dip, np.searchsorted(np.cumsum(dip["score_probs_dip"]), u, side="right"),
                     np.searchsorted(np.cumsum(dip["score_probs_normal"]), u, side="right")) + 1
    score = np.minimum(score, 5)
    # customer: a won account of the rep closed before the survey (blank if none yet)
    won = opps[opps["stage"] == WON]
    w_owner = pd.Series(won["owner"]).map({nm: i for i, nm in enumerate(names)}).to_numpy(np.int64)
    w_day = ((won["close_date"].to_numpy() - _dt(start, 0)) // np.timedelta64(1, "D")).astype(np.int64)
    key = w_owner * 100000 + w_day
    srt = np.argsort(key, kind="stable")
    key, accts = key[srt], won["account_id"].to_numpy()[srt]
    s0 = np.searchsorted(key, r * 100000)
    s1 = np.searchsorted(key, r * 100000 + day)
    has = s1 > s0
    pick = s0 + np.floor(rng.random(len(m)) * np.maximum(s1 - s0, 1)).astype(np.int64)
    cust = np.where(has, accts[np.minimum(pick, max(len(accts) - 1, 0))] if len(accts) else None, None)
    df = pd.DataFrame({
        "owner": np.asarray(names, dtype=object)[r],
        "customer_id": cust,
        "score": score.astype(float),
        "survey_date": _dt(start, day),
        "scale_max": 5.0,
    })
    return df.sort_values(["survey_date", "owner"], kind="stable").reset_index(drop=True)


def _quotas(start, n_months, hire):
    """Monthly bookings quota per rep: the expected bookings of an average rep, +15%/year; new hire from hire."""
    m_off = _month_start_offsets(start, n_months)
    growth = (1 + PLANTED["bookings_seasonality"]["yearly_growth"]) ** (np.arange(n_months) / 12)
    rows = []
    for i, (name, _team) in enumerate(REPS):
        mask = np.ones(n_months, bool) if i < len(REPS) - 1 else m_off[1:] > hire
        rows.append(pd.DataFrame({
            "owner": name,
            "period_start": _dt(start, m_off[:-1][mask]),
            "quota": np.round(85000.0 * growth[mask], -2),
            "period_end": _dt(start, m_off[1:][mask] - 1),
        }))
    return pd.concat(rows, ignore_index=True).sort_values(["period_start", "owner"], kind="stable",
                                                          ignore_index=True)


# ----------------------------------------------------------------------------------------------------
_WITH_TIME = {("leads", "created_date"), ("leads", "first_response_date")}
_INT_COLS = {("csat", "score"), ("csat", "scale_max")}


def _arrow_table(name: str, df: pd.DataFrame) -> pa.Table:
    """Typed Arrow table for the CSV writer: day dates as date32, lead times as timestamp[s]."""
    cols = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            arr = pa.array(s.to_numpy().astype("datetime64[s]"), mask=s.isna().to_numpy())
            cols[col] = arr if (name, col) in _WITH_TIME else arr.cast(pa.date32())
        elif (name, col) in _INT_COLS:
            cols[col] = pa.array(s.to_numpy(), mask=s.isna().to_numpy()).cast(pa.int64())
        elif s.dtype == object:
            cols[col] = pa.array(s.to_numpy(), type=pa.string(), from_pandas=True)
        else:
            cols[col] = pa.array(s.to_numpy(), from_pandas=True)
    return pa.table(cols)


def _write_csv(name: str, df: pd.DataFrame, path: Path) -> None:
    """UTF-8 CSV, ``\\n`` line ends, no quoting (no value contains a comma), ISO dates, blanks for missing."""
    with open(path, "wb") as fh:
        fh.write((",".join(df.columns) + "\n").encode("utf-8"))
        pacsv.write_csv(_arrow_table(name, df), fh,
                        pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=65536))


def plant_bad_rows(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Return copies of ``tables`` with the few bad rows of ``PLANTED["bad_rows"]`` for the audit.

    opportunities: 2 exact copies of closed deals (next to their originals), one new id on two rows
    that disagree on the amount, 2 new lost deals closed before they were created; orders: 2 refunds
    with negative amounts for existing customers. The loader quarantines the duplicates and keeps the
    others with a field withheld (issue 14); every other row is unaffected. Rows are chosen by position
    (no random numbers), so the rest of the data is the same with or without them.
    """
    out = dict(tables)
    o = tables["opportunities"]
    n = len(o)
    ids = o["opportunity_id"].to_numpy()
    w = len(ids[0]) - 4 if n else 5
    nid = [f"OPP-{str(n + i).zfill(w)}" for i in (1, 2, 3)]
    closed = np.flatnonzero(o["stage"].isin([WON, LOST]).to_numpy())
    dup = o.iloc[closed[[len(closed) // 3, 2 * len(closed) // 3]]]
    base = o.iloc[closed[len(closed) // 2]]
    conflict = pd.DataFrame([base, base]).assign(opportunity_id=nid[0])
    conflict["amount"] = [base["amount"], round(base["amount"] * 1.1, 2)]
    cbc = o.iloc[closed[[len(closed) // 4, 3 * len(closed) // 4]]].copy()
    cbc["opportunity_id"] = nid[1:]
    cbc["stage"], cbc["probability"], cbc["forecast_category"] = LOST, 0.0, FORECAST_CATEGORY[LOST]
    cbc["lost_at_stage"] = "Prospecting"
    cbc["close_date"] = cbc["created_date"] - pd.to_timedelta([9, 31], unit="D")
    out["opportunities"] = (pd.concat([o, dup, conflict, cbc], ignore_index=True)
                            .sort_values("created_date", kind="stable", ignore_index=True))
    od = tables["orders"]
    m = len(od)
    ow = len(od["order_id"].iloc[0]) - 2 if m else 6
    src = od.iloc[[m // 3, 2 * m // 3]].copy()
    src["order_id"] = [f"O-{str(m + i).zfill(ow)}" for i in (1, 2)]
    src["order_date"] = src["order_date"] + pd.Timedelta(days=14)
    src["amount"], src["margin"] = -src["amount"], -src["margin"]
    out["orders"] = (pd.concat([od, src], ignore_index=True)
                     .sort_values("order_date", kind="stable", ignore_index=True))
    return out


def write_sample(out_dir, *, seed: int = 0, scale: float = 1.0, fmt: str = "csv",
                 as_of: str = "2025-12-15", bad_rows: bool = True) -> list[Path]:
    """Write the sample company to ``out_dir`` (one file per table) and return the paths written.

    ``fmt="csv"`` writes ``<table>.csv`` (UTF-8, ISO dates, amounts rounded to cents and written in
    their shortest form, e.g. ``1250.5``; the canonical mapping);
    ``fmt="parquet"`` writes ``<table>.parquet`` for large scales (typed columns; point a mapping's
    ``file`` globs at ``*.parquet``). ``bad_rows`` adds the few rows of :func:`plant_bad_rows`
    (``PLANTED["bad_rows"]``) that the loader quarantines; :func:`generate` itself is always clean.
    """
    check_option("fmt", fmt, ("csv", "parquet"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = generate(seed=seed, scale=scale, as_of=as_of)
    if bad_rows:
        tables = plant_bad_rows(tables)
    paths = []
    for name, df in tables.items():
        p = out / f"{name}.{fmt}"
        if fmt == "csv":
            _write_csv(name, df, p)
        else:
            df.to_parquet(p, index=False)
        paths.append(p)
    return sorted(paths)
