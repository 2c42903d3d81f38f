"""Each KPI function called alone vs the hand-written query computing the same table (issue 17).

For every function the kit runs on a DuckDB relation and on a Polars LazyFrame against hand-written DuckDB SQL,
and on a pandas DataFrame against idiomatic pandas, round-robin in one process (a shared machine's load changes
hit every approach alike); each approach's median over ``--repeat`` rounds counts, and every result is checked
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
- ``rfm_summary`` (orders, weekly units): frequency, recency, T, monetary value per customer.
"""

from __future__ import annotations

import argparse
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
from salesops_kit.funnel import cycle  # noqa: E402
from salesops_kit.stats import wilson_interval  # noqa: E402

AS_OF = bf.AS_OF
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


FUNCTIONS = {
    "win_rate": (win_rate_kit, win_rate_sql, win_rate_pandas, win_rate_check, "opps"),
    "stage_funnel": (funnel_kit, funnel_sql, funnel_pandas, funnel_check, "opps"),
    "won_revenue": (revenue_kit, revenue_sql, revenue_pandas, revenue_check, "opps"),
    "sales_cycle": (cycle_kit, cycle_sql, cycle_pandas, cycle_check, "opps"),
    "rfm_summary": (lambda f, s: bk.rfm_kit(f), rfm_sql, lambda d, s: bk.rfm_pandas(d), bk.check_rfm, "orders"),
}


def run(n_opps: int, n_orders: int, repeat: int, only=None, *, log=print) -> list[dict]:
    import duckdb
    import polars as pl
    import pyarrow as pa

    t0 = time.perf_counter()
    opps, stages = make_opportunities(n_opps)
    orders = bk.make_orders(n_orders)
    con = duckdb.connect()
    arrow = {"opps": pa.Table.from_pandas(opps, preserve_index=False),
             "orders": pa.Table.from_pandas(orders, preserve_index=False)}
    for name, tbl in arrow.items():
        con.register(name, tbl)
    frames = {name: {"duckdb": con.table(name), "polars": pl.from_arrow(tbl).lazy(),
                     "pandas": opps if name == "opps" else orders} for name, tbl in arrow.items()}
    log(f"data: {n_opps:,} opportunities + {n_orders:,} orders ready in {time.perf_counter() - t0:.1f} s")
    rows = []
    for name, (kit, sql, pdref, check, table) in FUNCTIONS.items():
        if only and name not in only:
            continue
        f = frames[table]
        fns = {"sql": (sql, con), "kit_duckdb": (kit, f["duckdb"]), "kit_polars": (kit, f["polars"]),
               "pandas": (pdref, f["pandas"]), "kit_pandas": (kit, f["pandas"])}
        times: dict[str, list[float]] = {k: [] for k in fns}
        outs = {}
        for _ in range(repeat):
            for k, (fn, data) in fns.items():
                t = time.perf_counter()
                outs[k] = fn(data, stages)
                times[k].append(time.perf_counter() - t)
        for k in ("kit_duckdb", "kit_polars", "kit_pandas", "pandas"):
            check(outs[k], outs["sql"])
        med = {k: statistics.median(v) for k, v in times.items()}
        row = {"function": name, **{f"{k}_s": v for k, v in med.items()},
               "duckdb_vs_sql": med["kit_duckdb"] / med["sql"], "polars_vs_sql": med["kit_polars"] / med["sql"],
               "pandas_vs_pandas": med["kit_pandas"] / med["pandas"]}
        rows.append(row)
        log(f"{name:<14} sql {med['sql']:.3f}s  kit/duckdb {row['duckdb_vs_sql']:.2f}x  "
            f"kit/polars {row['polars_vs_sql']:.2f}x  pandas {med['pandas']:.3f}s  "
            f"kit/pandas {row['pandas_vs_pandas']:.2f}x")
    return rows


def table(rows: list[dict]) -> str:
    """The ratios as a Markdown table, each marked against its target."""
    def cell(v, target):
        return f"{v:.2f}x {'ok' if v <= target else 'MISSED'}"

    lines = ["| function | hand SQL (s) | kit on DuckDB | kit on Polars lazy | idiomatic pandas (s) | kit on pandas |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| `{r['function']}` | {r['sql_s']:.3f} | {cell(r['duckdb_vs_sql'], TARGETS['duckdb'])} | "
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
