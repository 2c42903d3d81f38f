"""Each KPI function called alone vs the hand-written query computing the same table (issue 17).

For every function the kit runs on a DuckDB relation and on a Polars LazyFrame against hand-written DuckDB SQL,
and on a pandas DataFrame against idiomatic pandas, round-robin in one process (a shared machine's load changes
hit every approach alike); each approach's median over ``--repeat`` rounds counts (more rounds for a fast
function, until its rounds add up to ``MIN_SECONDS``, at most ``MAX_ROUNDS``), and every result is checked
equal to the references before a time is reported. Targets: <= 1.2x hand SQL on DuckDB and on Polars lazy,
<= 1.0x idiomatic pandas on pandas.

    python benchmarks/bench_functions.py                              # 500k deals / 2M orders (minutes)
    python benchmarks/bench_functions.py --opps 5000000 --orders 20000000 --repeat 3   # the issue's size

The frames are what the loader hands an analyst: the sample company's opportunities (``data.synth`` at scale 10,
tiled to ``--opps`` with fresh ids) with the loader's derived ``is_won`` / ``is_closed`` columns, and synthetic
orders (``bench_kpi_suite.make_orders``). The references may use the derived columns too (same input, same
table). What each ratio includes:

- ``win_rate`` (by owner): won and lost per owner (the kit's ``open`` column is 0 under the closed definition)
  and the 95% Wilson interval (the same numpy on every side);
- ``stage_funnel`` (no stage history): reached / lost / open per stage, conversion with Wilson intervals;
- ``won_revenue`` (monthly): won deals and won revenue per close month;
- ``sales_cycle`` (no bootstrap, ``n_boot=0, detail=False``): the days x outcome count table and the
  Aalen-Johansen median from it (the same numpy estimator on every side);
- ``rfm_summary`` (orders, weekly units): frequency, recency, T, monetary value per customer;
- ``monthly_series`` (the forecasting notebook's input: order revenue per calendar month): revenue and orders per
  month up to the end date, empty months as zeros, totals kept to 1/10,000 (the same small pandas on every side);
- ``lead_funnel`` (by source, leads joined to their opportunities): leads, opportunities, won, open per source
  and the three conversion rates with Wilson intervals;
- ``cac`` (monthly, by channel): new customers per month and acquisition channel (the channel of the first order,
  smallest on ties) and spend; the kit's table adds the blended rows and trailing three months (small-table
  pandas), the check compares the per-channel rows;
- the rep scorecard scans ``deal_scan``, ``lead_cells`` (with activities joined per lead), ``activity_scan`` and
  ``csat_scan``, over the last year: the per-owner (per cell) counts and sums;
- the monitoring KPI series, monthly: each approach scans its own way to cells no finer than a month, then the kit's
  own roll-up (``monitor._series.rollup``: the month grid per segment, partial months, intervals, the raw values a
  bootstrap of a change reads) runs on every side, the same pandas, so the ratio measures the scan and includes the
  roll-up's fixed cost;
  ``lead_series`` (lead conversion): leads and converted per month, source and owner;
  ``opportunity_series`` (win rate, deals won, won revenue, average won deal): closed and won deals per close
  month and owner (no as-of cut, as ``funnel.win_rate``; months after as-of dropped), and the won amounts with
  their month and owner (closed by the end of the as-of day);
  ``order_series`` (new customers, CAC; months with spend): new customers per month and acquisition channel (as
  for ``cac``: orders with an amount, the first order's smallest channel) and spend per month and channel, laid
  out on every month from the first, per channel, as ``costs.cac`` does (the kit calls ``costs.cac``);
  ``csat_series`` (CSAT mean and satisfied share, NPS; per owner and team, teams from a given owner -> team
  table as ``monitor.owner_teams`` gives): answers per month and owner with the satisfied ones, the raw 1-5
  scores with month and owner, promoters and detractors of 0-10 answers (none in the generated answers).

The generated tables beside the opportunities: as many leads (1 in 5 converted to one of the deals), two activities
per lead (1 in 3 on a deal), a CSAT answer per four deals, monthly spend per channel; orders get a channel.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_funnel as bf  # noqa: E402
import bench_kpi_suite as bk  # noqa: E402

from salesops_kit import funnel  # noqa: E402
from salesops_kit.forecast import seasonal  # noqa: E402
from salesops_kit.funnel import cycle, metrics  # noqa: E402
from salesops_kit.monitor import _series as mseries  # noqa: E402
from salesops_kit.reps import _scans as rep_scans  # noqa: E402
from salesops_kit.stats import wilson_interval  # noqa: E402
from salesops_kit.value import costs  # noqa: E402

AS_OF = bf.AS_OF
END_ORDERS = bk.END
TARGETS = {"duckdb": 1.2, "polars": 1.2, "pandas": 1.0}


def make_opportunities(rows: int):
    df, stages = bf.make_opportunities(rows)
    df["is_won"] = df["stage"].isin(stages.won)  # what the loader derives from the mapping's stage model
    df["is_closed"] = df["is_won"] | df["stage"].isin(stages.lost)
    return df, stages


def _q(xs) -> str:
    return ", ".join("'" + x.replace("'", "''") + "'" for x in xs)


# ------------------------------------------------------------------------------------------ the five functions
# each: kit(frame, stages) -> table; sql(con, stages) -> table; pandas(df, stages) -> table; check(got, ref)

def win_rate_kit(frame, stages):
    return funnel.win_rate(frame, stages=stages, by="owner").table


def win_rate_sql(con, stages):
    w = con.sql("""SELECT owner, count(*) FILTER (WHERE is_won) AS won, count(*) FILTER (WHERE NOT is_won) AS lost
                   FROM opps WHERE is_closed GROUP BY owner ORDER BY owner""").df()
    return _wilson(w)


def win_rate_pandas(df, stages):
    closed = df[df["is_closed"]]
    g = closed.groupby("owner", sort=True)["is_won"].agg(["sum", "size"])
    won = g["sum"].to_numpy()
    return _wilson(pd.DataFrame({"owner": g.index, "won": won, "lost": g["size"].to_numpy() - won}))


def _wilson(w: pd.DataFrame) -> pd.DataFrame:
    w["win_rate"] = w["won"] / (w["won"] + w["lost"])
    w["ci_low"], w["ci_high"] = wilson_interval(w["won"], w["won"] + w["lost"])
    return w


def win_rate_check(got, ref):
    assert got["owner"].tolist() == ref["owner"].tolist()
    cols = ["won", "lost", "win_rate", "ci_low", "ci_high"]
    np.testing.assert_allclose(got[cols].to_numpy(float), ref[cols].to_numpy(float), rtol=1e-12)


def funnel_kit(frame, stages):
    return funnel.stage_funnel(frame, stages=stages).table


def funnel_sql(con, stages):
    order = list(stages.order)
    k_ = len(order)
    pos = ("CASE WHEN is_won THEN " + str(k_) + " WHEN is_closed THEN CASE "
           + " ".join(f"WHEN lost_at_stage = '{s}' THEN {i}" for i, s in enumerate(order)) + " ELSE -1 END ELSE CASE "
           + " ".join(f"WHEN stage = '{s}' THEN {i}" for i, s in enumerate(order)) + " ELSE -1 END END")
    sel = ", ".join(
        [f"count(*) FILTER (WHERE fur >= {k}) AS r{k}, count(*) FILTER (WHERE fur = {k} AND is_closed) AS l{k}, "
         f"count(*) FILTER (WHERE fur = {k} AND NOT is_closed) AS o{k}" for k in range(k_)]
        + [f"count(*) FILTER (WHERE fur = {k_}) AS won"])
    f = con.sql(f"WITH d AS (SELECT {pos} AS fur, is_closed FROM opps) SELECT {sel} FROM d").fetchnumpy()
    return bf.funnel_from_counts([f[f"r{k}"][0] for k in range(k_)], [f[f"l{k}"][0] for k in range(k_)],
                                 [f[f"o{k}"][0] for k in range(k_)], f["won"][0])


def funnel_pandas(df, stages):
    order = list(stages.order)
    k_ = len(order)
    idx = {s: i for i, s in enumerate(order)}
    fur = df["stage"].map(idx)
    fur = fur.mask(df["is_won"], k_).mask(df["is_closed"] & ~df["is_won"], df["lost_at_stage"].map(idx).fillna(-1))
    st = np.where(df["is_won"], 1, np.where(df["is_closed"], 2, 0))
    ct = pd.DataFrame({"fur": fur, "st": st}).value_counts().unstack(fill_value=0)
    ct = ct.reindex(index=range(-1, k_ + 1), columns=[1, 2, 0], fill_value=0)
    ct.columns = ["won", "lost", "open"]
    tot = ct.sum(axis=1)
    reached = [int(tot.loc[k:].sum()) for k in range(k_)]
    return bf.funnel_from_counts(reached, ct["lost"].loc[0:k_ - 1].to_numpy(), ct["open"].loc[0:k_ - 1].to_numpy(),
                                 int(ct["won"].loc[k_]))


def funnel_check(got, ref):
    np.testing.assert_array_equal(got["reached"].to_numpy(float), ref["reached"].to_numpy(float))
    for c in ("conversion", "conversion_ci_low", "conversion_ci_high", "cumulative"):
        np.testing.assert_allclose(got[c].to_numpy(float), ref[c].to_numpy(float), rtol=1e-12, equal_nan=True)


def revenue_kit(frame, stages):
    return funnel.won_revenue(frame, stages=stages, period="M")


def revenue_sql(con, stages):
    return con.sql("""SELECT date_trunc('month', close_date) AS period, count(*) AS won_deals,
                             sum(coalesce(amount, 0)) AS won_revenue
                      FROM opps WHERE is_won GROUP BY 1 ORDER BY 1""").df()


def revenue_pandas(df, stages):
    won = df[df["is_won"]]
    g = won.groupby(won["close_date"].dt.to_period("M"))["amount"].agg(["size", "sum"])
    return pd.DataFrame({"period": g.index.to_timestamp(), "won_deals": g["size"].to_numpy(),
                         "won_revenue": g["sum"].to_numpy()})


def revenue_check(got, ref):
    assert (pd.to_datetime(got["period"]).to_numpy() == pd.to_datetime(ref["period"]).to_numpy()).all()
    np.testing.assert_allclose(got[["won_deals", "won_revenue"]].to_numpy(float),
                               ref[["won_deals", "won_revenue"]].to_numpy(float), rtol=1e-9)


def cycle_kit(frame, stages):
    return cycle.sales_cycle(frame, stages=stages, as_of=AS_OF, n_boot=0, detail=False).table


def _cycle_from_counts(days, event, n):
    times, cif1, _, _ = cycle.aalen_johansen(days, event, n)
    won = event == 1
    return pd.DataFrame([{"won": int(n[won].sum()), "median_days_to_win": cycle.median_days_to_win(times, cif1),
                          "naive_won_mean_days": float(np.average(days[won], weights=n[won]))}])


def cycle_sql(con, stages):
    as_of = AS_OF.strftime("%Y-%m-%d")
    c = con.sql(f"""
        WITH d AS (SELECT created_date, (is_closed AND close_date <= TIMESTAMP '{as_of}') AS cb,
                          CASE WHEN is_won THEN 1 ELSE 2 END AS ev, close_date
                   FROM opps WHERE created_date <= TIMESTAMP '{as_of}')
        SELECT date_diff('day', created_date, CASE WHEN cb THEN close_date ELSE TIMESTAMP '{as_of}' END) AS days,
               CASE WHEN cb THEN ev ELSE 0 END AS event, count(*) AS n
        FROM d GROUP BY ALL HAVING days >= 0 ORDER BY days, event""").fetchnumpy()
    return _cycle_from_counts(c["days"].astype(float), c["event"], c["n"].astype(float))


def cycle_pandas(df, stages):
    live = df[df["created_date"] <= AS_OF]
    cb = live["is_closed"] & (live["close_date"] <= AS_OF)
    days = (live["close_date"].where(cb, AS_OF) - live["created_date"]).dt.days
    c = pd.DataFrame({"days": days, "event": np.where(cb, np.where(live["is_won"], 1, 2), 0)})
    c = c[c["days"] >= 0].value_counts().sort_index()
    return _cycle_from_counts(c.index.get_level_values(0).to_numpy(float), c.index.get_level_values(1).to_numpy(),
                              c.to_numpy(float))


def cycle_check(got, ref):
    g, r = got.iloc[0], ref.iloc[0]
    for k in ("won", "median_days_to_win", "naive_won_mean_days"):
        assert np.isclose(float(g[k]), float(r[k])), (k, g[k], r[k])


def rfm_sql(con, stages):
    return con.sql(bk.RFM_SQL.format(source="orders", end=bk.END)).df()


# ------------------------------------------------------------------------------------------ leads, costs, reps
# tables generated beside the opportunities: leads (1 per opportunity, 1 in 5 converted to one of them), activities
# (2 per lead, 1 in 3 on a deal), CSAT answers (1 per 4 opportunities), monthly spend per channel; orders get the
# acquisition channel (the customer's)

CUTOFF = metrics.lead_maturity_cutoff(AS_OF)
START = AS_OF - pd.DateOffset(years=1)
SOURCES = ("Web", "Referral", "Partner", "Event", "Outbound")
CHANNELS = ("search", "social", "email", "partner")


def make_leads(opps: pd.DataFrame, *, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(opps)
    created = AS_OF - pd.to_timedelta(rng.integers(0, 3 * 365 * 86400, n), unit="s")
    conv = rng.random(n) < 0.2
    opp = np.where(conv, opps["opportunity_id"].to_numpy()[rng.integers(0, n, n)], None)
    hours = rng.exponential(12.0, n)
    answered = rng.random(n) < 0.85
    return pd.DataFrame({"lead_id": "L-" + pd.Series(np.arange(n).astype(str)).str.zfill(9),
                         "source": np.asarray(SOURCES, dtype=object)[rng.integers(0, len(SOURCES), n)],
                         "owner": opps["owner"].to_numpy()[rng.integers(0, n, n)],
                         "created_date": created.to_numpy().astype("datetime64[ns]"),
                         "opportunity_id": opp,
                         "first_response_date": (created + pd.to_timedelta(np.where(answered, hours, np.nan), unit="h"))
                         .floor("s").to_numpy().astype("datetime64[ns]")})  # whole seconds, as CRMs export them


def make_activities(leads: pd.DataFrame, opps: pd.DataFrame, *, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 2 * len(leads)
    li = rng.integers(0, len(leads), n)
    on_deal = rng.random(n) < 1 / 3
    return pd.DataFrame({"activity_id": np.arange(n), "lead_id": leads["lead_id"].to_numpy()[li],
                         "owner": leads["owner"].to_numpy()[li],
                         "opportunity_id": np.where(on_deal, opps["opportunity_id"].to_numpy()[
                             rng.integers(0, len(opps), n)], None),
                         "activity_date": (AS_OF - pd.to_timedelta(rng.integers(0, 2 * 365 * 86400, n), unit="s"))
                         .to_numpy().astype("datetime64[ns]")})


def make_csat(opps: pd.DataFrame, *, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = max(len(opps) // 4, 1)
    return pd.DataFrame({"owner": opps["owner"].to_numpy()[rng.integers(0, len(opps), n)],
                         "survey_date": (AS_OF - pd.to_timedelta(rng.integers(0, 2 * 365 * 86400, n), unit="s"))
                         .to_numpy().astype("datetime64[ns]"),
                         "score": rng.integers(1, 6, n).astype(float), "scale_max": 5.0})


def make_spend(*, seed: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    months = pd.date_range("2023-01-01", "2025-12-01", freq="MS")
    rows = [(m, c, float(np.round(rng.gamma(5.0, 2000.0), 2))) for m in months for c in CHANNELS]
    return pd.DataFrame(rows, columns=["month", "channel", "spend"])


def with_channel(orders: pd.DataFrame, *, seed: int = 8) -> pd.DataFrame:
    """Orders with an acquisition channel: each order's channel drawn per customer and order (first order wins)."""
    rng = np.random.default_rng(seed)
    return orders.assign(channel=np.asarray(CHANNELS, dtype=object)[rng.integers(0, len(CHANNELS), len(orders))])


def _ts(t) -> str:
    return f"TIMESTAMP '{pd.Timestamp(t).strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def _rates(t: pd.DataFrame, steps) -> pd.DataFrame:
    for name, num, den in steps:
        k, n = t[num].to_numpy(float), t[den].to_numpy(float)
        t[name] = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
        t[f"{name}_ci_low"], t[f"{name}_ci_high"] = wilson_interval(k, n)
    return t


LEAD_STEPS = (("lead_to_opportunity", "opportunities", "leads"), ("opportunity_to_win", "won", "opportunities"),
              ("lead_to_win", "won", "leads"))


def lead_funnel_kit(t, stages):
    return metrics.lead_funnel(t["leads"], t["opps"], by="source", as_of=AS_OF, stages=stages).table


def lead_funnel_sql(con, stages):
    t = con.sql(f"""SELECT l.source, count(*) AS leads, count(l.opportunity_id) AS opportunities,
                           count(*) FILTER (WHERE o.is_won) AS won,
                           count(*) FILTER (WHERE NOT o.is_closed) AS open_opportunities
                    FROM leads l LEFT JOIN opps o ON l.opportunity_id = o.opportunity_id
                    WHERE l.created_date <= {_ts(CUTOFF)} GROUP BY 1 ORDER BY 1""").df()
    return _rates(t, LEAD_STEPS)


def lead_funnel_pandas(t, stages):
    leads, opps = t["leads"], t["opps"]
    m = leads.loc[leads["created_date"] <= CUTOFF, ["source", "opportunity_id"]].merge(
        opps[["opportunity_id", "is_won", "is_closed"]], on="opportunity_id", how="left")
    m["open"] = m["is_closed"].eq(False)
    g = m.groupby("source", sort=True).agg(leads=("source", "size"), opportunities=("opportunity_id", "count"),
                                           won=("is_won", lambda s: int(s.eq(True).sum())),
                                           open_opportunities=("open", "sum")).reset_index()
    return _rates(g, LEAD_STEPS)


def lead_funnel_check(got, ref):
    assert got["source"].tolist() == ref["source"].tolist()
    cols = ["leads", "opportunities", "won", "open_opportunities"] + [s for s, _, _ in LEAD_STEPS]
    np.testing.assert_allclose(got[cols].to_numpy(float), ref[cols].to_numpy(float), rtol=1e-12)


def cac_kit(t, stages):
    return costs.cac(t["spend"], t["orders"], by="channel", period="M", as_of=END_ORDERS)


def _cac_table(sp: pd.DataFrame, nc: pd.DataFrame) -> pd.DataFrame:
    t = sp.merge(nc, on=["period", "channel"], how="outer").fillna({"spend": 0.0, "new_customers": 0})
    t["cac"] = np.where(t["new_customers"] > 0, t["spend"] / t["new_customers"].where(t["new_customers"] > 0, 1),
                        np.nan)
    return t.sort_values(["channel", "period"]).reset_index(drop=True)


def cac_sql(con, stages):
    end = _ts(pd.Timestamp(END_ORDERS) + pd.Timedelta(days=1))
    nc = con.sql(f"""WITH o AS (SELECT customer_id, order_date, channel FROM orders
                                WHERE order_date < {end} AND amount IS NOT NULL),
                          f AS (SELECT customer_id, min(order_date) AS first FROM o GROUP BY 1),
                          a AS (SELECT o.customer_id, min(o.channel) AS channel, min(f.first) AS first
                                FROM o JOIN f ON o.customer_id = f.customer_id AND o.order_date = f.first GROUP BY 1)
                     SELECT CAST(date_trunc('month', first) AS TIMESTAMP) AS period, channel,
                            count(*) AS new_customers
                     FROM a GROUP BY ALL""").df()
    sp = con.sql(f"""SELECT CAST(date_trunc('month', month) AS TIMESTAMP) AS period, channel, sum(spend) AS spend
                     FROM spend WHERE month < {end} GROUP BY ALL""").df()
    return _cac_table(sp, nc)


def cac_pandas(t, stages):
    o = t["orders"]
    o = o[(o["order_date"] < pd.Timestamp(END_ORDERS) + pd.Timedelta(days=1)) & o["amount"].notna()]
    first = o.groupby("customer_id")["order_date"].transform("min")
    a = (o.loc[o["order_date"] == first, ["customer_id", "order_date", "channel"]]
         .sort_values(["customer_id", "channel"]).drop_duplicates("customer_id")  # the first order's channel
         .rename(columns={"order_date": "first"}))
    nc = a.groupby([a["first"].dt.to_period("M").dt.to_timestamp().rename("period"), "channel"]).size()
    s = t["spend"]
    sp = s.groupby([s["month"].dt.to_period("M").dt.to_timestamp().rename("period"), "channel"])["spend"].sum()
    return _cac_table(sp.reset_index(), nc.rename("new_customers").reset_index())


def cac_check(got, ref):
    got = got[got["scope"] == "channel"] if "scope" in got else got  # (the pandas reference has the channel rows)
    g = got.merge(ref, on=["period", "channel"], how="left", suffixes=("", "_ref"))
    assert (g["new_customers"].to_numpy() == g["new_customers_ref"].fillna(0).to_numpy()).all()
    np.testing.assert_allclose(g["spend"].to_numpy(float), g["spend_ref"].fillna(0).to_numpy(float), rtol=1e-9)
    np.testing.assert_allclose(g["cac"].to_numpy(float), g["cac_ref"].to_numpy(float), rtol=1e-9)
    assert len(g) >= len(ref)


DEAL_COLS = ["deals_closed", "deals_won", "won_revenue", "won_with_amount", "deals_created", "open_deals",
             "open_pipeline"]


def deal_scan_kit(frame, stages):
    return rep_scans.deal_scan(frame, start=START, end=AS_OF, as_of=AS_OF)


def deal_scan_sql(con, stages):
    s, e = _ts(START), _ts(AS_OF)
    return con.sql(f"""SELECT owner, 'all' AS team,  -- (the generated deals have no team column)
                  count(*) FILTER (WHERE is_closed AND close_date BETWEEN {s} AND {e}) AS deals_closed,
                  count(*) FILTER (WHERE is_won AND close_date BETWEEN {s} AND {e}) AS deals_won,
                  coalesce(sum(amount) FILTER (WHERE is_won AND close_date BETWEEN {s} AND {e}), 0) AS won_revenue,
                  count(amount) FILTER (WHERE is_won AND close_date BETWEEN {s} AND {e}) AS won_with_amount,
                  count(*) FILTER (WHERE created_date BETWEEN {s} AND {e}) AS deals_created,
                  count(*) FILTER (WHERE NOT is_closed AND created_date <= {e}) AS open_deals,
                  coalesce(sum(amount) FILTER (WHERE NOT is_closed AND created_date <= {e}), 0) AS open_pipeline
                  FROM opps WHERE owner IS NOT NULL GROUP BY owner ORDER BY owner""").df()


def deal_scan_pandas(df, stages):
    d = df[df["owner"].notna()]
    in_p = d["close_date"].between(START, AS_OF)
    won = d["is_won"] & in_p
    open_ = ~d["is_closed"] & (d["created_date"] <= AS_OF)
    x = pd.DataFrame({"owner": d["owner"], "team": d["team"] if "team" in d else "all",
                      "deals_closed": d["is_closed"] & in_p, "deals_won": won,
                      "won_revenue": d["amount"].where(won), "won_with_amount": won & d["amount"].notna(),
                      "deals_created": d["created_date"].between(START, AS_OF), "open_deals": open_,
                      "open_pipeline": d["amount"].where(open_)})
    g = x.groupby("owner", sort=True).agg({"team": "max", **{c: "sum" for c in DEAL_COLS}}).reset_index()
    g["team"] = g["team"].fillna("all")
    return g


def deal_scan_check(got, ref):
    assert got["owner"].tolist() == ref["owner"].tolist() and got["team"].tolist() == ref["team"].tolist()
    np.testing.assert_allclose(got[DEAL_COLS].to_numpy(float), ref[DEAL_COLS].to_numpy(float), rtol=1e-9)


CELL_KEYS = ["owner", "source", "response_band", "activity_band"]


def lead_cells_kit(t, stages):
    return rep_scans.lead_cells(t["leads"], start=START, end=CUTOFF, cutoff=CUTOFF, activities=t["activities"])


def _cells(df: pd.DataFrame) -> pd.DataFrame:
    df["response_band"] = np.asarray(rep_scans.RESPONSE_BANDS, dtype=object)[df.pop("band").astype(int)]
    df["activity_band"] = np.asarray(rep_scans.ACTIVITY_BANDS, dtype=object)[df.pop("aband").astype(int)]
    return df.sort_values(CELL_KEYS).reset_index(drop=True)


def lead_cells_sql(con, stages):
    s, c = _ts(START), _ts(CUTOFF)
    return _cells(con.sql(f"""
        WITH a AS (SELECT lead_id, count(*) AS acts FROM activities WHERE lead_id IS NOT NULL GROUP BY 1),
             l AS (SELECT owner, source, opportunity_id IS NOT NULL AS conv,
                          epoch(first_response_date - created_date) / 3600.0 AS hours, coalesce(a.acts, 0) AS acts
                   FROM leads LEFT JOIN a USING (lead_id) WHERE created_date BETWEEN {s} AND {c})
        SELECT owner, source, CASE WHEN hours IS NULL THEN 4 ELSE (hours > 1)::int + (hours > 4)::int
                                   + (hours > 24)::int END AS band, least(acts, 3) AS aband,
               count(*) AS leads, count(*) FILTER (WHERE conv) AS converted, coalesce(sum(hours), 0) AS hours_sum
        FROM l GROUP BY ALL""").df())


def lead_cells_pandas(t, stages):
    leads, acts = t["leads"], t["activities"]
    per = acts["lead_id"].value_counts()
    l_ = leads[leads["created_date"].between(START, CUTOFF)]
    hours = (l_["first_response_date"] - l_["created_date"]).dt.total_seconds() / 3600.0
    band = np.where(hours.isna(), 4, (hours > 1).astype(int) + (hours > 4).astype(int) + (hours > 24).astype(int))
    x = pd.DataFrame({"owner": l_["owner"], "source": l_["source"], "band": band,
                      "aband": np.minimum(l_["lead_id"].map(per).fillna(0).to_numpy(), 3),
                      "converted": l_["opportunity_id"].notna(), "hours_sum": hours})
    g = x.groupby(["owner", "source", "band", "aband"]).agg(leads=("converted", "size"),
                                                             converted=("converted", "sum"),
                                                             hours_sum=("hours_sum", "sum")).reset_index()
    return _cells(g)


def lead_cells_check(got, ref):
    got = got.assign(response_band=got["response_band"].astype(str), activity_band=got["activity_band"].astype(str))
    got = got.sort_values(CELL_KEYS).reset_index(drop=True)
    assert got[CELL_KEYS].astype(str).values.tolist() == ref[CELL_KEYS].astype(str).values.tolist()
    np.testing.assert_allclose(got[["leads", "converted", "hours_sum"]].to_numpy(float),
                               ref[["leads", "converted", "hours_sum"]].to_numpy(float), rtol=1e-9)


def activity_scan_kit(frame, stages):
    return rep_scans.activity_scan(frame, start=START, end=AS_OF)


def activity_scan_sql(con, stages):
    return con.sql(f"""SELECT owner, count(*) AS activities, count(opportunity_id) AS deal_activities
                       FROM activities WHERE activity_date BETWEEN {_ts(START)} AND {_ts(AS_OF)}
                       AND owner IS NOT NULL GROUP BY owner ORDER BY owner""").df()


def activity_scan_pandas(df, stages):
    d = df[df["activity_date"].between(START, AS_OF) & df["owner"].notna()]
    return d.groupby("owner", sort=True).agg(activities=("owner", "size"),
                                             deal_activities=("opportunity_id", "count")).reset_index()


def csat_scan_kit(frame, stages):
    return rep_scans.csat_scan(frame, start=START, end=AS_OF)


def csat_scan_sql(con, stages):
    return con.sql(f"""SELECT owner, count(*) AS csat_responses, sum(score) AS csat_sum,
                              sum(score * score) AS csat_sumsq,
                              count(*) FILTER (WHERE score / coalesce(scale_max, 5.0) >= 0.8) AS csat_satisfied
                       FROM csat WHERE survey_date BETWEEN {_ts(START)} AND {_ts(AS_OF)}
                       AND owner IS NOT NULL AND score IS NOT NULL GROUP BY owner ORDER BY owner""").df()


def csat_scan_pandas(df, stages):
    d = df[df["survey_date"].between(START, AS_OF) & df["owner"].notna() & df["score"].notna()]
    x = d.assign(sq=d["score"] * d["score"], sat=d["score"] / d["scale_max"].fillna(5.0) >= 0.8)
    return x.groupby("owner", sort=True).agg(csat_responses=("score", "size"), csat_sum=("score", "sum"),
                                             csat_sumsq=("sq", "sum"), csat_satisfied=("sat", "sum")).reset_index()


def per_owner_check(cols):
    def check(got, ref):
        assert got["owner"].tolist() == ref["owner"].tolist()
        np.testing.assert_allclose(got[cols].to_numpy(float), ref[cols].to_numpy(float), rtol=1e-9)
    return check


SERIES_KEYS = ["kpi", "segment", "period"]


def lead_series_kit(frame, stages):
    return mseries.lead_series(frame, period="M", as_of=AS_OF, kpis=["lead_conversion_rate"])[0]


def _lead_rollup(daily: pd.DataFrame) -> pd.DataFrame:
    """The kit's roll-up of daily counts to monthly series rows (the same pandas on every side)."""
    cutoff = pd.Timestamp(AS_OF).normalize() - pd.Timedelta(days=90)
    return mseries.rollup(daily, kpi="lead_conversion_rate", kind="rate", period="M", as_of=AS_OF,
                          segments={"source": "lead_source", "owner": "owner"},
                          immature_from=cutoff + pd.Timedelta(days=1))


def lead_series_sql(con, stages):
    end = _ts(pd.Timestamp(AS_OF).normalize() + pd.Timedelta(days=1))
    daily = con.sql(f"""SELECT date_trunc('month', created_date) AS _day, source, owner, count(*) AS n,
                               count(opportunity_id) AS s
                        FROM leads WHERE created_date < {end} GROUP BY ALL""").df()
    daily["_day"] = daily["_day"].astype("datetime64[ns]")
    return _lead_rollup(daily)


def lead_series_pandas(df, stages):
    d = df[df["created_date"] < pd.Timestamp(AS_OF).normalize() + pd.Timedelta(days=1)]
    daily = d.groupby([d["created_date"].dt.to_period("M").dt.start_time.rename("_day"), "source", "owner"]).agg(
        n=("lead_id", "size"), s=("opportunity_id", "count")).reset_index()
    return _lead_rollup(daily)


def series_check(got, ref):
    got = got.sort_values(SERIES_KEYS).reset_index(drop=True)
    ref = ref.sort_values(SERIES_KEYS).reset_index(drop=True)
    assert got[SERIES_KEYS].astype(str).values.tolist() == ref[SERIES_KEYS].astype(str).values.tolist()
    cols = ["n", "successes", "value", "ci_low", "ci_high"]
    np.testing.assert_allclose(got[cols].to_numpy(float), ref[cols].to_numpy(float), rtol=1e-9, equal_nan=True)


# ------------------------------------------------------------------------------------------ the monitoring series
# opportunity_series (months: win rate, deals won, won revenue, average won deal), order_series (months with spend:
# new customers, CAC) and csat_series (CSAT mean and satisfied share per owner and team, NPS): each approach scans
# its own way, then the kit's roll-up of the per-period cells (intervals, raw values) on every side

OPP_SERIES_KPIS = ["win_rate", "deals_won", "won_revenue", "avg_won_deal_size"]
DAY_END = pd.Timestamp(AS_OF).normalize() + pd.Timedelta(days=1)


def opp_series_kit(frame, stages):
    return pd.concat(mseries.opportunity_series(frame, stages=stages, period="M", as_of=AS_OF, kpis=OPP_SERIES_KPIS),
                     ignore_index=True)


def _opp_rollup(cells: pd.DataFrame, vals: pd.DataFrame) -> pd.DataFrame:
    """Closed (n) and won (s) per month and owner, won amounts (x) per month and owner -> the four series."""
    cells = cells[cells["_day"] <= AS_OF]
    cells = cells.astype({"n": float, "s": float})
    first = mseries.period_start(pd.Series([cells["_day"].min()]), "M").iloc[0]
    seg = {"owner": "owner"}
    kw = {"period": "M", "as_of": AS_OF, "segments": seg, "first": first}
    dw = cells.assign(n=cells["s"])[lambda d: d["n"] > 0]
    dv = vals.groupby(["_day", "owner"], dropna=False).size().rename("n").reset_index().assign(s=0.0)
    return pd.concat([mseries.rollup(cells, kpi="win_rate", kind="rate", **kw),
                      mseries.rollup(dw[["_day", "owner", "n"]], kpi="deals_won", kind="count", **kw),
                      mseries.rollup(dv, kpi="won_revenue", kind="sum", values=vals, **kw),
                      mseries.rollup(dv, kpi="avg_won_deal_size", kind="mean", values=vals, **kw)],
                     ignore_index=True)


def opp_series_sql(con, stages):
    cells = con.sql("""SELECT CAST(date_trunc('month', close_date) AS TIMESTAMP) AS _day, owner, count(*) AS n,
                              count(*) FILTER (WHERE is_won) AS s
                       FROM opps WHERE is_closed AND close_date IS NOT NULL GROUP BY ALL""").df()
    vals = con.sql(f"""SELECT CAST(date_trunc('month', close_date) AS TIMESTAMP) AS _day, owner, amount AS x
                       FROM opps WHERE is_won AND close_date < {_ts(DAY_END)} AND amount IS NOT NULL""").df()
    for f in (cells, vals):
        f["_day"] = f["_day"].astype("datetime64[ns]")
    return _opp_rollup(cells, vals)


def opp_series_pandas(df, stages):
    c = df[df["is_closed"] & df["close_date"].notna()]
    cells = c.groupby([c["close_date"].dt.to_period("M").dt.start_time.rename("_day"), "owner"]).agg(
        n=("is_won", "size"), s=("is_won", "sum")).reset_index()
    w = df[df["is_won"] & (df["close_date"] < DAY_END) & df["amount"].notna()]
    vals = pd.DataFrame({"_day": w["close_date"].dt.to_period("M").dt.start_time, "owner": w["owner"],
                         "x": w["amount"]})
    return _opp_rollup(cells, vals)


ORDER_END = pd.Timestamp(END_ORDERS) + pd.Timedelta(days=1)


def order_series_kit(t, stages):
    return pd.concat(mseries.order_series(t["orders"], t["spend"], period="M", as_of=END_ORDERS,
                                          kpis=["new_customers", "cac"]), ignore_index=True)


def _order_rollup(nc: pd.DataFrame, sp: pd.DataFrame) -> pd.DataFrame:
    """New customers (``period, channel, n``; channel missing: counted in the company only) and spend (``period,
    channel, spend``) -> the new-customer and CAC series (CAC: every month from the first with spend or customers,
    per channel, as ``costs.cac`` lays them out)."""
    nc = nc[nc["period"] <= END_ORDERS]
    sp = sp[sp["period"] <= END_ORDERS]
    t = sp.merge(nc[nc["channel"].notna()], on=["period", "channel"], how="outer")
    months = pd.date_range(t["period"].min(), t["period"].max(), freq="MS")
    full = pd.MultiIndex.from_product([sorted(t["channel"].unique()), months], names=["channel", "period"])
    t = t.set_index(["channel", "period"]).reindex(full).fillna(0.0).reset_index()
    both = pd.DataFrame({"_day": t["period"], "channel": t["channel"], "n": t["n"].astype(float), "s": 0.0,
                         "spend": t["spend"].astype(float)})
    none = nc[nc["channel"].isna()].rename(columns={"period": "_day"}).assign(s=0.0)
    cust = pd.concat([both[both["n"] > 0][["_day", "channel", "n", "s"]], none], ignore_index=True)
    kw = {"period": "M", "as_of": END_ORDERS, "segments": {"channel": "channel"}}
    return pd.concat([mseries.rollup(cust, kpi="new_customers", kind="count", **kw),
                      mseries.rollup(both, kpi="cac", kind="ratio", **kw)], ignore_index=True)


def order_series_sql(con, stages):
    nc = con.sql(f"""WITH o AS (SELECT customer_id, order_date, channel FROM orders
                                WHERE order_date < {_ts(ORDER_END)} AND amount IS NOT NULL),
                          f AS (SELECT customer_id, min(order_date) AS first FROM o GROUP BY 1),
                          a AS (SELECT o.customer_id, min(o.channel) AS channel, min(f.first) AS first
                                FROM o JOIN f ON o.customer_id = f.customer_id AND o.order_date = f.first GROUP BY 1)
                     SELECT CAST(date_trunc('month', first) AS TIMESTAMP) AS period, channel, count(*) AS n
                     FROM a GROUP BY ALL""").df()
    sp = con.sql("""SELECT CAST(date_trunc('month', month) AS TIMESTAMP) AS period, channel, sum(spend) AS spend
                    FROM spend GROUP BY ALL""").df()
    for f in (nc, sp):
        f["period"] = f["period"].astype("datetime64[ns]")
    return _order_rollup(nc, sp)


def order_series_pandas(t, stages):
    o = t["orders"]
    o = o[(o["order_date"] < ORDER_END) & o["amount"].notna()]
    first = o.groupby("customer_id")["order_date"].transform("min")
    a = (o.loc[o["order_date"] == first, ["customer_id", "order_date", "channel"]]
         .sort_values(["customer_id", "channel"]).drop_duplicates("customer_id"))  # the first order's channel
    nc = a.groupby([a["order_date"].dt.to_period("M").dt.start_time.rename("period"), "channel"],
                   dropna=False).size().rename("n").reset_index()
    s = t["spend"]
    sp = s.groupby([s["month"].dt.to_period("M").dt.start_time.rename("period"), "channel"])["spend"].sum()
    return _order_rollup(nc, sp.reset_index())


CSAT_KPIS = ["csat_mean", "csat_satisfied_share", "nps"]


#: owner -> team for the CSAT series (``monitor.owner_teams`` of the deals hands every engine a small pandas frame;
#: the generated deals have no team: four teams by owner), set by :func:`make_tables`
OWNER_TEAM: dict[str, pd.DataFrame] = {}


def owner_team_of(opps: pd.DataFrame) -> pd.DataFrame:
    owners = sorted(opps["owner"].dropna().unique())
    return pd.DataFrame({"owner": owners, "team": [f"T{i % 4}" for i in range(len(owners))]})


def csat_series_kit(frame, stages):
    return pd.concat(mseries.csat_series(frame, period="M", as_of=AS_OF, kpis=CSAT_KPIS,
                                         owner_team=OWNER_TEAM["csat"]), ignore_index=True)


def _csat_rollup(cells: pd.DataFrame, vals: pd.DataFrame, nps: pd.DataFrame, teams: pd.DataFrame) -> pd.DataFrame:
    """CSAT cells (``_day, owner, n, s``), raw 1-5 scores (``_day, owner, x``) and NPS cells (``n, s, d``) -> the
    three series per owner and team."""
    cells, vals, nps = (f.merge(teams, on="owner", how="left") for f in (cells, vals, nps))
    kw = {"period": "M", "as_of": AS_OF, "segments": {"team": "team", "owner": "owner"}}
    out = [mseries.rollup(cells, kpi="csat_mean", kind="mean", values=vals, **kw),
           mseries.rollup(cells, kpi="csat_satisfied_share", kind="rate", **kw)]
    if len(nps):
        out.append(mseries.rollup(nps, kpi="nps", kind="nps", **kw))
    return pd.concat(out, ignore_index=True)


def csat_series_sql(con, stages):
    where = f"survey_date < {_ts(DAY_END)} AND score IS NOT NULL"
    month = "CAST(date_trunc('month', survey_date) AS TIMESTAMP) AS _day"
    scale = "coalesce(scale_max, 5.0)"
    cells = con.sql(f"""SELECT {month}, owner, count(*) AS n, count(*) FILTER (WHERE score / {scale} >= 0.8) AS s
                        FROM csat WHERE {where} AND {scale} <> 10 GROUP BY ALL""").df()
    vals = con.sql(f"SELECT {month}, owner, score AS x FROM csat WHERE {where} AND {scale} <> 10").df()
    nps = con.sql(f"""SELECT {month}, owner, count(*) AS n, count(*) FILTER (WHERE score >= 9) AS s,
                             count(*) FILTER (WHERE score <= 6) AS d
                      FROM csat WHERE {where} AND {scale} = 10 GROUP BY ALL""").df()
    for f in (cells, vals, nps):
        f["_day"] = f["_day"].astype("datetime64[ns]")
    return _csat_rollup(cells, vals, nps, OWNER_TEAM["csat"])


def csat_series_pandas(df, stages):
    c = df[(df["survey_date"] < DAY_END) & df["score"].notna()]
    scale = c["scale_max"].fillna(5.0)
    c = c.assign(_day=c["survey_date"].dt.to_period("M").dt.start_time, sat=c["score"] / scale >= 0.8,
                 s=c["score"] >= 9, d=c["score"] <= 6)
    cs, ns = c[scale != 10], c[scale == 10]
    cells = cs.groupby(["_day", "owner"], dropna=False).agg(n=("score", "size"), s=("sat", "sum")).reset_index()
    vals = cs[["_day", "owner", "score"]].rename(columns={"score": "x"})
    nps = ns.groupby(["_day", "owner"], dropna=False).agg(n=("score", "size"), s=("s", "sum"),
                                                          d=("d", "sum")).reset_index()
    return _csat_rollup(cells, vals, nps, OWNER_TEAM["csat"])


def monitor_check(got, ref):
    """The series tables equal: same rows (kpi, segment, period), same counts, values, intervals and partial flags."""
    got = got.sort_values(SERIES_KEYS).reset_index(drop=True)
    ref = ref.sort_values(SERIES_KEYS).reset_index(drop=True)
    assert got[SERIES_KEYS].astype(str).values.tolist() == ref[SERIES_KEYS].astype(str).values.tolist()
    assert got["partial"].tolist() == ref["partial"].tolist()
    cols = ["days", "n", "successes", "detractors", "total", "value", "ci_low", "ci_high", "unit_var"]
    np.testing.assert_allclose(got[cols].to_numpy(float), ref[cols].to_numpy(float), rtol=1e-9, equal_nan=True)
    for a, b in zip(got["values"], ref["values"], strict=True):
        assert (a is None) == (b is None) and (a is None or np.array_equal(np.sort(a), np.sort(b)))


def monthly_kit(frame, stages):
    return seasonal.monthly_series(frame, date="order_date", value="amount", as_of=END_ORDERS)


def _monthly_table(g: pd.DataFrame) -> pd.DataFrame:
    """Months from the first with an order to END_ORDERS's (left out unless END_ORDERS is its last day), zeros for
    empty months, totals to 1/10,000 as the kit keeps them (the same small pandas on every side)."""
    g = g.set_index(pd.PeriodIndex(g["period"], freq="M"))[["value", "n"]]
    full = pd.period_range(g.index.min(), pd.Timestamp(END_ORDERS).to_period("M"), freq="M")
    g = g.reindex(full, fill_value=0)
    out = pd.DataFrame({"period": full.to_timestamp(), "value": g["value"].astype(float).round(4).to_numpy(),
                        "n": g["n"].astype("int64").to_numpy()})
    end = pd.Timestamp(END_ORDERS).normalize()
    return out if end == full[-1].end_time.normalize() else out.iloc[:-1]  # a partial last month is left out


def monthly_sql(con, stages):
    end = _ts(pd.Timestamp(END_ORDERS).normalize() + pd.Timedelta(days=1))
    return _monthly_table(con.sql(f"""SELECT CAST(date_trunc('month', order_date) AS TIMESTAMP) AS period,
                                             sum(coalesce(amount, 0)) AS value, count(*) AS n
                                      FROM orders WHERE order_date < {end} GROUP BY 1""").df())


def monthly_pandas(df, stages):
    d = df[df["order_date"] < pd.Timestamp(END_ORDERS).normalize() + pd.Timedelta(days=1)]
    g = d.groupby(d["order_date"].dt.to_period("M"))["amount"].agg(["sum", "size"])
    return _monthly_table(pd.DataFrame({"period": g.index.to_timestamp(), "value": g["sum"], "n": g["size"]}))


def monthly_check(got, ref):
    assert (pd.to_datetime(got["period"]).to_numpy() == pd.to_datetime(ref["period"]).to_numpy()).all()
    assert got["n"].tolist() == ref["n"].tolist()
    np.testing.assert_allclose(got["value"].to_numpy(float), ref["value"].to_numpy(float), rtol=1e-12, atol=1e-4)


FUNCTIONS = {
    "win_rate": (win_rate_kit, win_rate_sql, win_rate_pandas, win_rate_check, "opps"),
    "stage_funnel": (funnel_kit, funnel_sql, funnel_pandas, funnel_check, "opps"),
    "won_revenue": (revenue_kit, revenue_sql, revenue_pandas, revenue_check, "opps"),
    "sales_cycle": (cycle_kit, cycle_sql, cycle_pandas, cycle_check, "opps"),
    "rfm_summary": (lambda f, s: bk.rfm_kit(f), rfm_sql, lambda d, s: bk.rfm_pandas(d), bk.check_rfm, "orders"),
    "monthly_series": (monthly_kit, monthly_sql, monthly_pandas, monthly_check, "orders"),
    "lead_funnel": (lead_funnel_kit, lead_funnel_sql, lead_funnel_pandas, lead_funnel_check, ("leads", "opps")),
    "cac": (cac_kit, cac_sql, cac_pandas, cac_check, ("spend", "orders")),
    "deal_scan": (deal_scan_kit, deal_scan_sql, deal_scan_pandas, deal_scan_check, "opps"),
    "lead_cells": (lead_cells_kit, lead_cells_sql, lead_cells_pandas, lead_cells_check, ("leads", "activities")),
    "activity_scan": (activity_scan_kit, activity_scan_sql, activity_scan_pandas,
                      per_owner_check(["activities", "deal_activities"]), "activities"),
    "csat_scan": (csat_scan_kit, csat_scan_sql, csat_scan_pandas,
                  per_owner_check(["csat_responses", "csat_sum", "csat_sumsq", "csat_satisfied"]), "csat"),
    "lead_series": (lead_series_kit, lead_series_sql, lead_series_pandas, series_check, "leads"),
    "opportunity_series": (opp_series_kit, opp_series_sql, opp_series_pandas, monitor_check, "opps"),
    "order_series": (order_series_kit, order_series_sql, order_series_pandas, monitor_check, ("spend", "orders")),
    "csat_series": (csat_series_kit, csat_series_sql, csat_series_pandas, monitor_check, "csat"),
}


def make_tables(n_opps: int, n_orders: int, names) -> tuple[dict, object]:
    """The pandas tables the selected functions read (others are not generated), and the stage model."""
    opps, stages = make_opportunities(n_opps)
    tables = {"opps": opps}
    if {"orders"} & set(names):
        tables["orders"] = with_channel(bk.make_orders(n_orders))
    if {"leads", "activities"} & set(names):
        tables["leads"] = make_leads(opps)
    if "activities" in names:
        tables["activities"] = make_activities(tables["leads"], opps)
    if "csat" in names:
        tables["csat"] = make_csat(opps)
        OWNER_TEAM["csat"] = owner_team_of(opps)
    if "spend" in names:
        tables["spend"] = make_spend()
    return tables, stages


#: a function whose first round-robin round (all five approaches) took less than MIN_SECONDS gets more rounds, up
#: to MAX_ROUNDS, so that its median is not three samples of a tenth of a second each
MIN_SECONDS = 15.0
MAX_ROUNDS = 25


def run(n_opps: int, n_orders: int, repeat: int, only=None, *, log=print) -> list[dict]:
    import duckdb
    import polars as pl
    import pyarrow as pa

    t0 = time.perf_counter()
    chosen = {k: v for k, v in FUNCTIONS.items() if not only or k in only}
    needed = {t for v in chosen.values() for t in ((v[4],) if isinstance(v[4], str) else v[4])}
    pdf, stages = make_tables(n_opps, n_orders, needed)
    con = duckdb.connect()
    frames = {}
    for name, df in pdf.items():
        tbl = pa.Table.from_pandas(df, preserve_index=False)
        con.register(name, tbl)
        frames[name] = {"duckdb": con.table(name), "polars": pl.from_arrow(tbl).lazy(), "pandas": df}
    log(f"data: {', '.join(f'{len(v):,} {k}' for k, v in pdf.items())} ready in {time.perf_counter() - t0:.1f} s")
    rows = []
    for name, (kit, sql, pdref, check, table) in chosen.items():
        def on(engine, table=table):
            return frames[table][engine] if isinstance(table, str) else {t: frames[t][engine] for t in table}

        fns = {"sql": (sql, con), "kit_duckdb": (kit, on("duckdb")), "kit_polars": (kit, on("polars")),
               "pandas": (pdref, on("pandas")), "kit_pandas": (kit, on("pandas"))}
        times: dict[str, list[float]] = {k: [] for k in fns}
        outs = {}
        rounds, done, spent = repeat, 0, 0.0
        while done < rounds:
            for k, (fn, data) in fns.items():
                t = time.perf_counter()
                outs[k] = fn(data, stages)
                times[k].append(time.perf_counter() - t)
            done += 1
            spent = sum(sum(v) for v in times.values())
            if done == 1:  # a fast function gets more rounds: its median of three swung 0.92-1.22x between runs
                rounds = max(repeat, min(MAX_ROUNDS, math.ceil(MIN_SECONDS / max(spent, 1e-9))))
        row_rounds = done
        for k in ("kit_duckdb", "kit_polars", "kit_pandas", "pandas"):
            check(outs[k], outs["sql"])
        med = {k: statistics.median(v) for k, v in times.items()}
        row = {"function": name, "rounds": row_rounds, **{f"{k}_s": v for k, v in med.items()},
               "duckdb_vs_sql": med["kit_duckdb"] / med["sql"], "polars_vs_sql": med["kit_polars"] / med["sql"],
               "pandas_vs_pandas": med["kit_pandas"] / med["pandas"]}
        rows.append(row)
        log(f"{name:<14} sql {med['sql']:.3f}s  kit/duckdb {row['duckdb_vs_sql']:.2f}x  "
            f"kit/polars {row['polars_vs_sql']:.2f}x  pandas {med['pandas']:.3f}s  "
            f"kit/pandas {row['pandas_vs_pandas']:.2f}x  ({row_rounds} rounds)")
    return rows


def table(rows: list[dict]) -> str:
    """The ratios as a Markdown table, each marked against its target."""
    def cell(v, target):
        return f"{v:.2f}x {'ok' if v <= target else 'MISSED'}"

    lines = ["| function | rounds | hand SQL (s) | kit on DuckDB | kit on Polars lazy | idiomatic pandas (s) | "
             "kit on pandas |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| `{r['function']}` | {r.get('rounds', '')} | {r['sql_s']:.3f} | "
                     f"{cell(r['duckdb_vs_sql'], TARGETS['duckdb'])} | "
                     f"{cell(r['polars_vs_sql'], TARGETS['polars'])} | {r['pandas_s']:.3f} | "
                     f"{cell(r['pandas_vs_pandas'], TARGETS['pandas'])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--opps", type=int, default=500_000, help="opportunities (the issue's size: 5,000,000)")
    ap.add_argument("--orders", type=int, default=2_000_000, help="orders (the issue's size: 20,000,000)")
    ap.add_argument("--repeat", type=int, default=3, help="round-robin rounds; the median counts")
    ap.add_argument("--only", nargs="*", choices=sorted(FUNCTIONS), help="run only these functions")
    args = ap.parse_args(argv)
    rows = run(args.opps, args.orders, args.repeat, args.only)
    print()
    print(table(rows))
    missed = [r["function"] for r in rows if r["duckdb_vs_sql"] > TARGETS["duckdb"]
              or r["polars_vs_sql"] > TARGETS["polars"] or r["pandas_vs_pandas"] > TARGETS["pandas"]]
    print("\nEvery function at target." if not missed else f"\nMissed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
