"""Mechanics of the sample-company generator (salesops_kit.data.synth) and of the committed data/sample.

These tests check the data's mechanics (shape, ids, dates, determinism, scaling), not the analyses:
the planted truths are recovered by the topic modules' own tests.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesops_kit
from salesops_kit.data import synth
from salesops_kit.data.schema import TABLES

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
AS_OF = pd.Timestamp("2025-12-15")
START = pd.Timestamp("2023-01-01")
OPEN = list(synth.STAGES)
CLOSED = [synth.WON, synth.LOST]


@pytest.fixture(scope="module")
def tables():
    return synth.generate(seed=0)


# --- determinism -----------------------------------------------------------------------------------


def test_regeneration_is_byte_identical_to_committed_sample(tmp_path):
    paths = synth.write_sample(tmp_path, seed=0)
    assert [p.name for p in paths] == sorted(f"{t}.csv" for t in TABLES)
    # data/sample may hold other hand-made files (e.g. targets.csv); the generated ones must match exactly
    for new in paths:
        old = SAMPLE / new.name
        assert new.read_bytes() == old.read_bytes(), f"{new.name} differs from data/sample/{old.name}"


def test_same_seed_same_tables_other_seed_other_tables(tables):
    again = synth.generate(seed=0)
    for name in tables:
        pd.testing.assert_frame_equal(tables[name], again[name])
    other = synth.generate(seed=1)
    assert not other["opportunities"]["amount"].equals(tables["opportunities"]["amount"])


def test_generate_does_not_depend_on_bad_rows(tables):
    bad = synth.plant_bad_rows(tables)
    # the clean tables are untouched (new dict, new frames)
    assert len(tables["opportunities"]) == len(synth.generate(seed=0)["opportunities"])
    assert len(bad["opportunities"]) == len(tables["opportunities"]) + 6
    assert len(bad["orders"]) == len(tables["orders"]) + 2
    for name in ("stage_history", "leads", "marketing_spend", "activities", "csat", "quotas"):
        assert bad[name] is tables[name]


# --- schema and formats ----------------------------------------------------------------------------


def test_every_canonical_table_with_its_columns_and_dtypes(tables):
    assert set(tables) == set(TABLES)
    for name, df in tables.items():
        t = TABLES[name]
        extra = [c for c in df.columns if c not in t.dtypes]
        assert not extra, f"{name}: columns not in the schema {extra}"
        # every canonical column is present except the two the loader derives and deal_history's optional amount
        # (the sample's deal amounts never change)
        missing = [c for c in t.dtypes if c not in df.columns and c not in ("is_closed", "is_won")
                   and (name, c) != ("deal_history", "amount")]
        assert not missing, f"{name}: missing {missing}"
        for col in df.columns:
            dt = t.dtypes[col]
            if dt == "datetime":
                assert pd.api.types.is_datetime64_any_dtype(df[col]), (name, col)
            elif dt == "float":
                assert pd.api.types.is_float_dtype(df[col]), (name, col)
        for col in t.required:
            if col in df.columns:
                assert df[col].notna().all(), f"{name}.{col} has blanks"


def test_csv_text_formats():
    head = {t: (SAMPLE / f"{t}.csv").read_text("utf-8").splitlines()[:200] for t in TABLES}
    day = re.compile(r"^\d{4}-\d{2}-\d{2}$")
    stamp = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
    for name, lines in head.items():
        cols = lines[0].split(",")
        assert cols == [c for c in cols if c in TABLES[name].dtypes]
        for line in lines[1:]:
            vals = dict(zip(cols, line.split(","), strict=True))
            assert len(vals) == len(cols)
            for col, v in vals.items():
                if v == "" or TABLES[name].dtypes[col] != "datetime":
                    continue
                pattern = stamp if (name, col) in {("leads", "created_date"),
                                                    ("leads", "first_response_date")} else day
                assert pattern.match(v), f"{name}.{col}: {v!r}"


def test_committed_sample_is_small():
    total = sum((SAMPLE / f"{t}.csv").stat().st_size for t in TABLES)
    assert total < 7_000_000


def test_parquet_output(tmp_path):
    paths = synth.write_sample(tmp_path, scale=0.05, fmt="parquet")
    assert [p.suffix for p in paths] == [".parquet"] * len(TABLES)
    opp = pd.read_parquet(tmp_path / "opportunities.parquet")
    assert pd.api.types.is_datetime64_any_dtype(opp["created_date"])
    assert len(opp) == len(synth.generate(scale=0.05)["opportunities"]) + 6


def test_bad_arguments():
    with pytest.raises(ValueError, match="scale"):
        synth.generate(scale=0)
    with pytest.raises(ValueError, match="fmt"):
        synth.write_sample("unused", fmt="xlsx")


# --- scale -----------------------------------------------------------------------------------------


def test_row_counts_grow_linearly_with_scale():
    small, large = synth.generate(scale=0.5), synth.generate(scale=1.5)
    for name in ("opportunities", "stage_history", "leads", "orders", "activities", "csat"):
        ratio = len(large[name]) / len(small[name])
        assert 2.7 < ratio < 3.3, f"{name}: x{ratio:.2f} rows for x3 scale"
    # per-month and per-rep tables do not grow
    assert len(large["quotas"]) == len(small["quotas"])
    assert len(large["marketing_spend"]) == len(small["marketing_spend"])


def test_sample_volumes(tables):
    n = {k: len(v) for k, v in tables.items()}
    assert 5_000 < n["opportunities"] < 9_000
    assert n["leads"] > 15_000 and n["orders"] > 20_000
    assert tables["orders"]["customer_id"].nunique() > 5_000
    assert tables["opportunities"]["owner"].nunique() == 15
    assert tables["opportunities"]["team"].nunique() == 3
    sources = set(synth.CHANNELS)
    assert set(tables["opportunities"]["lead_source"]) == sources
    assert set(tables["leads"]["source"]) == sources
    assert set(tables["orders"]["channel"]) == sources
    assert set(tables["marketing_spend"]["channel"]) == sources
    assert set(tables["marketing_spend"]["cost_type"]) == {"marketing", "sales"}


# --- referential integrity -------------------------------------------------------------------------


def test_ids_unique_and_references_resolve(tables):
    o, h, lead, a, c, od = (tables[k] for k in ("opportunities", "stage_history", "leads", "activities",
                                                 "csat", "orders"))
    assert o["opportunity_id"].is_unique and lead["lead_id"].is_unique and od["order_id"].is_unique
    ids = set(o["opportunity_id"])
    assert set(h["opportunity_id"]) == ids  # every deal has history, every history row a deal
    conv = lead["opportunity_id"].dropna()
    assert conv.is_unique and set(conv) == ids  # each deal came from exactly one converted lead
    assert set(a["opportunity_id"].dropna()) <= ids
    assert set(a["lead_id"].dropna()) <= set(lead["lead_id"])
    assert (a["opportunity_id"].notna() ^ a["lead_id"].notna()).all()
    won_accounts = set(o.loc[o["stage"] == synth.WON, "account_id"])
    assert set(c["customer_id"].dropna()) <= won_accounts
    # a customer keeps the channel of the first order
    assert (od.groupby("customer_id")["channel"].nunique() == 1).all()
    # the lead's owner and source are the deal's
    m = lead.dropna(subset=["opportunity_id"]).merge(o, on="opportunity_id", suffixes=("_lead", ""))
    assert (m["owner_lead"] == m["owner"]).all() and (m["source"] == m["lead_source"]).all()


# --- dates and stages ------------------------------------------------------------------------------


def test_dates_inside_the_window(tables):
    end = AS_OF + pd.Timedelta(days=1)
    for name, df in tables.items():
        for col, dt in TABLES[name].dtypes.items():
            if dt != "datetime" or col not in df or (name, col) in {("opportunities", "close_date"),
                                                                    ("deal_history", "close_date"),
                                                                    ("quotas", "period_end")}:
                continue
            s = df[col].dropna()
            assert s.min() >= START and s.max() < end, f"{name}.{col}: {s.min()} .. {s.max()}"


def test_closed_and_open_deals(tables):
    o = tables["opportunities"]
    closed = o["stage"].isin(CLOSED)
    assert (o.loc[closed, "close_date"] <= AS_OF).all()
    assert (o["close_date"] >= o["created_date"]).all()
    is_open = ~closed
    assert is_open.sum() > 100
    overdue = is_open & (o["close_date"] < AS_OF)
    # open deals expect to close in the future, except the ~2% deliberately overdue
    assert 0 < overdue.sum() <= 0.05 * is_open.sum()
    lost = o["stage"] == synth.LOST
    assert o.loc[lost, "lost_at_stage"].isin(OPEN).all()
    assert o.loc[~lost, "lost_at_stage"].isna().all()
    assert (o["probability"] == o["stage"].map(synth.STAGE_PROBABILITY)).all()
    assert (o["forecast_category"] == o["stage"].map(synth.FORECAST_CATEGORY)).all()
    assert (o["currency"] == "USD").all() and (o["amount"] > 0).all()


def test_stage_history_is_a_consistent_path(tables):
    o, h = tables["opportunities"], tables["stage_history"]
    order = {s: i for i, s in enumerate(OPEN + CLOSED)}
    h = h.assign(pos=h["stage"].map(order))
    assert h["pos"].notna().all()
    # stages in funnel order, dates non-decreasing, each exit is the next entry
    g = h.groupby("opportunity_id", sort=False)
    assert (g["pos"].diff().dropna() > 0).all()
    assert (g["entered_date"].diff().dropna() >= pd.Timedelta(0)).all()
    nxt = g["entered_date"].shift(-1)
    has_next = nxt.notna()
    assert (h.loc[has_next, "exited_date"] == nxt[has_next]).all()
    last = h[~has_next].set_index("opportunity_id").loc[o["opportunity_id"]]
    # the last row is the current stage, still open (blank exit), entered by as-of
    assert (last["stage"].to_numpy() == o["stage"].to_numpy()).all()
    assert last["exited_date"].isna().all()
    assert (h["entered_date"] <= AS_OF).all()
    first = h[g.cumcount() == 0].set_index("opportunity_id").loc[o["opportunity_id"]]
    assert (first["stage"] == OPEN[0]).all()
    assert (first["entered_date"].to_numpy() == o["created_date"].to_numpy()).all()
    closed_rows = h[h["stage"].isin(CLOSED)].set_index("opportunity_id")
    cl = o.set_index("opportunity_id").loc[closed_rows.index]
    assert (closed_rows["entered_date"] == cl["close_date"]).all()
    # lost deals were lost at the last open stage they entered
    lost = o[o["stage"] == synth.LOST].set_index("opportunity_id")
    last_open = h[h["stage"].isin(OPEN)].groupby("opportunity_id")["stage"].last()
    assert (last_open.loc[lost.index] == lost["lost_at_stage"]).all()
    # some deals skip Qualification, none skip anything else
    reached = h[h["stage"].isin(OPEN)].groupby("opportunity_id")["stage"].agg(tuple)
    skipped = reached.map(lambda s: "Proposal" in s and "Qualification" not in s)
    assert 0 < skipped.mean() < 0.1


def test_leads_timeline(tables):
    lead = tables["leads"]
    resp = lead["first_response_date"]
    assert (resp.dropna() >= lead.loc[resp.notna(), "created_date"]).all()
    conv = lead["converted_date"].notna()
    assert (lead.loc[conv, "converted_date"] >= lead.loc[conv, "first_response_date"].dt.normalize()).all()
    assert (lead.loc[conv, "status"] == "Converted").all()
    assert set(lead.loc[~conv, "status"]) == {"Disqualified", "Working"}
    assert (lead["created_date"].dt.second == 0).all()
    # times of day are spread over the day, not all at midnight
    assert lead["created_date"].dt.hour.nunique() == 24


def test_orders_and_spend(tables):
    od, sp = tables["orders"], tables["marketing_spend"]
    assert (od["amount"] > 0).all() and (od["margin"] > 0).all() and (od["margin"] < od["amount"]).all()
    assert np.allclose(od["amount"], od["amount"].round(2))
    months = pd.date_range(START, AS_OF, freq="MS")
    assert sp.groupby(["month", "channel", "cost_type"]).size().eq(1).all()
    assert len(sp) == len(months) * len(synth.CHANNELS) * 2
    assert (sp["spend"] > 0).all()


def test_csat_and_quotas(tables):
    c, q = tables["csat"], tables["quotas"]
    assert set(c["score"]) <= {1.0, 2.0, 3.0, 4.0, 5.0} and (c["scale_max"] == 5).all()
    assert c["owner"].notna().all()
    assert q.groupby(["owner", "period_start"]).size().eq(1).all()
    assert (q["period_end"] == q["period_start"] + pd.offsets.MonthEnd(0)).all()


def test_planted_names_exist_in_the_data(tables):
    p, o = synth.PLANTED, tables["opportunities"]
    reps = set(o["owner"])
    for key in ("slow_responder", "small_sample_star", "strong_rep", "csat_dip"):
        assert p[key]["owner"] in reps
    assert p["funnel_bottleneck"]["segment"] in synth.CHANNELS
    assert p["team_win_rate_drop"]["team"] in set(o["team"])
    econ = p["channel_economics"]
    assert set(econ["ltv_to_cac"]) == set(synth.CHANNELS)
    assert econ["ltv_to_cac"][econ["money_losing_channel"]] < 1 < 3 < econ["ltv_to_cac"][
        econ["ltv_cac_above_3_channel"]]
    # the star's record is the planted configuration: 4 won, 1 lost, 2 open, all after the hire date
    star = o[o["owner"] == p["small_sample_star"]["owner"]]
    assert (star["stage"] == synth.WON).sum() == 4 and (star["stage"] == synth.LOST).sum() == 1
    assert (~star["stage"].isin(CLOSED)).sum() == 2
    assert (star["created_date"] >= pd.Timestamp(p["small_sample_star"]["hired"])).all()
    assert synth.expected_customer_value(156) > synth.expected_customer_value(52) > 0


def test_generate_other_as_of():
    d = synth.generate(scale=0.05, as_of="2024-06-30")
    o = d["opportunities"]
    assert o["created_date"].min() >= pd.Timestamp("2022-01-01")
    assert o["created_date"].max() <= pd.Timestamp("2024-06-30")
    assert d["marketing_spend"]["month"].max() == pd.Timestamp("2024-06-01")


# --- loading ---------------------------------------------------------------------------------------


def test_sample_loads_with_only_the_planted_bad_rows_quarantined(tables):
    from salesops_kit.data.schema import WITHHELD_CHECKS

    ds = salesops_kit.load_dataset(SAMPLE)
    assert ds.as_of == AS_OF
    acc = ds.account.set_index("table")
    planted = synth.PLANTED["bad_rows"]
    withheld = ds.withheld.groupby(["table", "reason"])["rows"].max()
    for name, df in tables.items():
        bad = planted.get(name) if isinstance(planted.get(name), dict) else {}
        # issue 14: a planted problem that is a withheld-field check keeps its row (the field is withheld);
        # the others (duplicates) cannot be records and are quarantined
        kept_bad = {k: v for k, v in bad.items() if k in WITHHELD_CHECKS}
        expected_q = sum(v for k, v in bad.items() if k not in kept_bad)
        assert acc.loc[name, "rows_quarantined"] == expected_q, name
        assert acc.loc[name, "rows_kept"] == len(df) + sum(kept_bad.values()), name
        for k, v in kept_bad.items():
            assert withheld[(name, k)] == v, (name, k)
    assert len(ds.withheld.groupby(["table", "reason"])) == sum(
        k in WITHHELD_CHECKS for b in planted.values() if isinstance(b, dict) for k in b)
    # the kept opportunities are the generated ones and the two deals closed before they were created
    kept = ds.opportunities.sort_values("opportunity_id")["opportunity_id"].tolist()
    cbc = ds.opportunities.loc[ds.opportunities["close_date"] < ds.opportunities["created_date"], "opportunity_id"]
    assert kept == sorted(list(tables["opportunities"]["opportunity_id"]) + list(cbc)) and len(cbc) == 2


def test_spend_per_new_customer_follows_the_planted_cac(tables):
    # mechanics of the spend table: spend / customers whose first order is in the channel
    od, sp = tables["orders"], tables["marketing_spend"]
    first = od.sort_values(["order_date", "order_id"]).groupby("customer_id")["channel"].first()
    cac = sp.groupby("channel")["spend"].sum() / first.value_counts()
    value = synth.expected_customer_value(156)
    planned = pd.Series({c: value / r for c, r in synth.PLANTED["channel_economics"]["ltv_to_cac"].items()})
    assert ((cac / planned - 1).abs() < 0.15).all(), (cac / planned).round(3).to_dict()
