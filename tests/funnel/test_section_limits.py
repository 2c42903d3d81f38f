"""Issue 14, deliverable 5: a funnel section whose deals cannot support it says so in one sentence, draws no
chart and writes no finding; small hand-made frames, one per situation (a stage nobody reached, all deals in
one stage, lost deals without a stage, no probabilities, one segment, no won deal, too few deals, stalls)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from salesops_kit import funnel  # noqa: E402
from salesops_kit.data.load import Dataset  # noqa: E402
from salesops_kit.data.schema import StageModel  # noqa: E402
from salesops_kit.funnel import MIN_DEALS, bottlenecks, funnel_findings, sales_cycle  # noqa: E402
from salesops_kit.funnel.calibration import stage_calibration, stalled_deals  # noqa: E402
from salesops_kit.kpis import kpi_frame  # noqa: E402

S = StageModel(order=("A", "B", "C"), won=("W",), lost=("L",))
AS_OF = pd.Timestamp("2024-06-01")


def deals(stages, *, lost_at=None, prob=None, source=None, currency=None, amount=None, days=None):
    n = len(stages)
    created = pd.Timestamp("2024-01-01")
    d = pd.DataFrame({"opportunity_id": [f"d{i}" for i in range(n)], "stage": stages,
                      "owner": ["ann"] * n, "created_date": [created] * n,
                      "amount": amount if amount is not None else [100.0] * n})
    closed = [s in ("W", "L") for s in stages]
    step = days if days is not None else [10 + i for i in range(n)]
    d["close_date"] = [created + pd.Timedelta(days=int(k)) if c else pd.NaT for c, k in zip(closed, step, strict=True)]
    if lost_at is not None:
        d["lost_at_stage"] = lost_at
    if prob is not None:
        d["probability"] = prob
    if source is not None:
        d["lead_source"] = source
    if currency is not None:
        d["currency"] = currency
    return d


def history(rows):
    h = pd.DataFrame(rows, columns=["opportunity_id", "stage", "entered_date", "exited_date"])
    h["entered_date"] = pd.to_datetime(h["entered_date"])
    h["exited_date"] = pd.to_datetime(h["exited_date"])
    return h


def dataset(opps, hist=None):
    tables = {"opportunities": opps}
    if hist is not None:
        tables["stage_history"] = hist
    return Dataset(tables, {}, pd.DataFrame(), S, AS_OF)


def metrics(findings) -> list[str]:
    return [f.metric for f in findings]


# --- a stage nobody reached ------------------------------------------------------------------------------
def skip_b():
    """Every deal goes A -> C (nobody enters B): 12 won, 3 lost at C, 1 open in A."""
    stages = ["W"] * 12 + ["L"] * 3 + ["A"]
    rows = []
    for i, s in enumerate(stages):
        rows.append((f"d{i}", "A", "2024-01-01", None if s == "A" else "2024-01-05"))
        if s != "A":
            rows.append((f"d{i}", "C", "2024-01-05", "2024-01-20"))
    return deals(stages, lost_at=[("C" if s == "L" else None) for s in stages]), history(rows)


def test_a_stage_nobody_reached_is_named_left_out_of_the_chart_and_gets_no_kpi():
    opps, hist = skip_b()
    sf = funnel.stage_funnel(opps, stage_history=hist, stages=S)
    assert sf.limitation is None
    assert sf.unreached == ["B"] and "B" not in sf.shown["stage"].tolist()
    assert "B" in sf.table["stage"].tolist()  # the full table keeps it (reached 0)
    ax = sf.plot()
    labels = [t.get_text() for t in ax.texts]
    # no label names B, which nobody entered; A's bar splits into moved on (to C), lost and open
    assert len(labels) == len(sf.shown) and not any("B" in s for s in labels)
    assert "B" not in [t.get_text() for t in ax.get_yticklabels()]
    assert "B" in funnel.funnel_note("unreached", stages=", ".join(sf.unreached))
    k = kpi_frame(funnel.kpi_rows(dataset(opps, hist)))
    conv = k[k["kpi"].str.startswith("stage_conversion_")]
    assert conv["value"].notna().all()  # no NaN row for a step nobody took
    # B -> C has no rate (nobody at B); A's row is "moved past A" (its definition), here 15 of 15 decided
    assert not conv["kpi"].str.contains("_b_to_").any()
    a = conv.set_index(["kpi", "segment"]).loc[("stage_conversion_a_to_b", "all"), "value"]
    assert a == pytest.approx(1.0)


# --- all deals in one stage ------------------------------------------------------------------------------
def test_all_deals_open_in_the_first_stage_say_so_and_write_no_finding():
    opps = deals(["A"] * 20, prob=[0.1] * 20, source=["web", "ref"] * 10)
    ds = dataset(opps)
    sf = funnel.stage_funnel(ds)
    assert sf.limitation and "left an open stage" in sf.limitation
    cyc = sales_cycle(ds)
    assert cyc.limitation and "won" in cyc.limitation and cyc.headline() == cyc.limitation
    bn = bottlenecks(ds)
    assert bn.tested == 0 and bn.limitation and bn.headline() == bn.limitation
    cal = stage_calibration(ds)
    assert cal.limitation is not None and cal.headline() == cal.limitation
    assert metrics(funnel_findings(stage_funnel=sf, bottlenecks=bn, cycle=cyc, calibration=cal)) == []


# --- lost deals without any stage --------------------------------------------------------------------------
def test_lost_deals_without_a_stage_stop_the_funnel_and_the_calibration():
    # no history, no lost_at_stage: the 10 losses would count at no stage, every conversion would read 100%
    n_won, n_lost = 15, 10
    opps = deals(["W"] * n_won + ["L"] * n_lost + ["A", "B"], prob=[1.0] * n_won + [0.0] * n_lost + [0.2, 0.5])
    ds = dataset(opps)
    sf = funnel.stage_funnel(ds)
    steps = sf.table[sf.table["conversion"].notna()]
    assert (steps["conversion"] == 1).all()  # what the section would have shown
    assert sf.limitation and str(n_lost) in sf.limitation
    cal = stage_calibration(ds)
    assert (cal.table.dropna(subset=["realised_win_rate"])["realised_win_rate"] == 1).all()
    assert cal.unplaced_lost == n_lost and cal.limitation and str(n_lost) in cal.limitation
    assert metrics(funnel_findings(stage_funnel=sf, calibration=cal)) == []
    # one unplaced loss among 40 closed deals (2.5%) moves the rates by less than that: the calibration stands
    few = deals(["W"] * 20 + ["L"] * 20 + ["A"], prob=[1.0] * 20 + [0.0] * 20 + [0.2],
                lost_at=[None] * 20 + ["A"] * 19 + [None, None])
    cal_few = stage_calibration(dataset(few))
    assert cal_few.unplaced_lost == 1 and cal_few.limitation is None
    # with the lost stage known the same deals support both sections
    placed = opps.assign(lost_at_stage=[None] * n_won + ["A"] * n_lost + [None, None])
    assert funnel.stage_funnel(dataset(placed)).limitation is None
    assert stage_calibration(dataset(placed)).limitation is None


# --- no probabilities --------------------------------------------------------------------------------------
def test_no_probabilities_one_sentence_no_chart_data_no_finding():
    opps = deals(["W"] * 12 + ["L"] * 12 + ["A"], lost_at=[None] * 12 + ["A"] * 12 + [None])
    cal = stage_calibration(dataset(opps))
    assert (cal.table["source"] == "none").all()
    assert cal.limitation and "probability" in cal.limitation and cal.headline() == cal.limitation
    assert metrics(funnel_findings(calibration=cal)) == []


# --- one segment value --------------------------------------------------------------------------------------
def test_a_single_segment_value_cannot_be_compared_and_draws_nothing():
    opps = deals(["W"] * 12 + ["L"] * 12, lost_at=[None] * 12 + ["A"] * 12, source=["web"] * 24)
    ds = dataset(opps)
    bn = bottlenecks(ds)
    assert len(bn.cells) and bn.tested == 0  # cells exist, none has a "rest" to test against
    assert bn.limitation and "lead_source" in bn.limitation
    # never "no segment significantly below" from zero tests
    assert metrics(funnel_findings(bottlenecks=bn)) == []
    by = sales_cycle(ds, by="lead_source")
    assert by.limitation and "lead_source" in by.limitation
    two = sales_cycle(dataset(opps.assign(lead_source=["web", "ref"] * 12)), by="lead_source")
    assert two.limitation is None


def test_no_segment_column_says_which_columns_it_looked_for():
    bn = bottlenecks(dataset(deals(["W", "L"], lost_at=[None, "A"])))
    assert bn.segments == () and bn.limitation and "lead_source" in bn.limitation


def test_the_no_bottleneck_finding_counts_the_cells_it_tested():
    stage = ["B"] * 10 + ["L"] * 10 + ["B"] * 15 + ["L"] * 5  # blank converts better: a heatmap worth drawing
    opps = pd.DataFrame({"opportunity_id": [str(i) for i in range(40)], "stage": stage,
                         "lost_at_stage": [None if s == "B" else "A" for s in stage],
                         "lead_source": ["X"] * 20 + ["Y"] * 20})
    bn = bottlenecks(opps, stages=S)
    assert len(bn.cells) > bn.tested > 0  # B -> C has no decided deal: listed, not tested
    assert f"({bn.tested} cells tested" in bn.headline()
    f = [x for x in funnel_findings(bottlenecks=bn) if x.value == "no segment significantly below"]
    assert len(f) == 1 and f[0].evidence.startswith(f"{bn.tested} ")


# --- too few deals for a finding -----------------------------------------------------------------------------
@pytest.mark.parametrize("n", [MIN_DEALS - 1, MIN_DEALS])
def test_a_finding_needs_min_deals_behind_its_number(n):
    # step A -> B: none of n decided deals advance (all lost at A); step B -> C and C -> W: never reached by
    # them; a second group of 2 * MIN_DEALS deals wins through every stage (the "other steps" at 100%)
    won = 2 * MIN_DEALS
    opps = deals(["W"] * won + ["L"] * n, lost_at=[None] * won + ["A"] * n, prob=[1.0] * won + [0.0] * n)
    opps = pd.concat([opps, deals(["A"], prob=[0.9])], ignore_index=True)  # stated 90% at A
    opps["opportunity_id"] = [f"d{i}" for i in range(len(opps))]
    ds = dataset(opps)
    sf, cyc, cal = funnel.stage_funnel(ds), sales_cycle(ds), stage_calibration(ds)
    a = sf.table.iloc[0]
    assert int(a["reached"] - a["open"]) == won + n
    got = metrics(funnel_findings(stage_funnel=sf, cycle=cyc, calibration=cal))
    assert "median days from created to won" in got  # 2 * MIN_DEALS won deals
    # stage A: stated 90% vs realised won / (won + n) — closed deals at A: won + n >= MIN_DEALS either way
    assert "win probability" in got
    few = deals(["W"] * (MIN_DEALS - 1) + ["L"], lost_at=[None] * (MIN_DEALS - 1) + ["A"])
    assert metrics(funnel_findings(cycle=sales_cycle(dataset(few)))) == []  # MIN_DEALS - 1 won: no advice


def test_weakest_step_needs_min_decided_deals_at_the_step():
    def table(decided):
        conv = [0.0, 1.0, 1.0]
        return pd.DataFrame({"stage": ["A", "B", "C", "Won"], "next_stage": ["B", "C", "Won", None],
                             "reached": [decided, 40, 40, 40], "advanced": [0, 40, 40, pd.NA],
                             "lost": [decided, 0, 0, pd.NA], "open": [0, 0, 0, pd.NA],
                             "conversion": conv + [np.nan], "conversion_ci_low": [0.0, 0.9, 0.9, np.nan],
                             "conversion_ci_high": [0.3, 1.0, 1.0, np.nan], "cumulative": [1.0, 1.0, 1.0, 1.0]})

    def found(decided):
        sf = funnel.StageFunnel(table=table(decided), funnel_type="any_path", by=(), assumptions=(),
                                unplaced_lost=0)
        return [m for m in metrics(funnel_findings(stage_funnel=sf)) if "weakest" in m]

    assert found(MIN_DEALS - 1) == [] and found(MIN_DEALS) == ["weakest step A → B"]


# --- stalled deals -------------------------------------------------------------------------------------------
def test_stalled_deals_need_min_stays_and_show_the_currency():
    # stage A: k completed stays of 1..k days; deal "open" has sat in A since January (over 100 days)
    def case(k):
        rows = [(f"c{i}", "A", "2024-01-01", str((pd.Timestamp("2024-01-01") + pd.Timedelta(days=i + 1)).date()))
                for i in range(k)] + [("open", "A", "2024-01-01", None)]
        opps = pd.DataFrame({"opportunity_id": [f"c{i}" for i in range(k)] + ["open"],
                             "stage": ["B"] * k + ["A"], "amount": [1.0] * k + [5.0],
                             "currency": ["USD"] * k + ["MXN"]})
        return stalled_deals(opps, stage_history=history(rows), stages=S, as_of=AS_OF, min_stays=10)

    assert case(9).empty  # 9 stays: no P90 to judge by (and no crash without any threshold)
    got = case(10)
    assert got["opportunity_id"].tolist() == ["open"] and got["currency"].tolist() == ["MXN"]


# --- money ---------------------------------------------------------------------------------------------------
def test_average_deal_size_interval_needs_min_deals_and_never_mixes_currencies():
    few = deals(["W", "W"], amount=[100.0, 24000.0])
    k = kpi_frame(funnel.kpi_rows(dataset(few))).set_index(["kpi", "segment"])
    row = k.loc[("avg_won_deal_size", "all")]
    assert row["value"] == pytest.approx(12050) and np.isnan(row["ci_low"])  # a normal CI would go below 0
    many = deals(["W"] * MIN_DEALS, amount=[100.0 * (i + 1) for i in range(MIN_DEALS)])
    row = kpi_frame(funnel.kpi_rows(dataset(many))).set_index(["kpi", "segment"]).loc[("avg_won_deal_size", "all")]
    assert row["ci_low"] > 0 and row["ci_low"] < row["value"] < row["ci_high"]
    mixed = deals(["W"] * 4, amount=[100.0, 200.0, 300.0, 400.0], currency=["USD", "USD", "MXN", "MXN"])
    k = kpi_frame(funnel.kpi_rows(dataset(mixed)))
    money = k[k["kpi"].isin(["won_revenue", "avg_won_deal_size", "sales_velocity_per_month"])]
    assert set(money["segment"]) == {"currency=MXN", "currency=USD"}
    assert money.set_index(["kpi", "segment"]).loc[("won_revenue", "currency=MXN"), "value"] == 700
    assert set(money["unit"].str.split().str[0]) == {"MXN", "USD"}


# --- the notebook's sentences --------------------------------------------------------------------------------
def test_funnel_notes_say_what_the_data_has_and_name_unknown_keys():
    assert funnel.funnel_note("loaded", as_of="2024-06-01", n=1234, history=True, leads=False) == (
        "as of 2024-06-01: 1,234 opportunities; stage history: yes; leads: no")
    assert funnel.funnel_note("stages", order=S.order, won=S.won, lost=S.lost) == "stages: A → B → C | won: W | lost: L"
    assert "stage_history" in funnel.funnel_note("no_history_stays")
    assert "at least 10 completed stays" in funnel.funnel_note("stalled", n=2, min=10)
    with pytest.raises(KeyError, match="unreached"):
        funnel.funnel_note("nonsense")


def test_a_blank_segment_value_is_labelled_blank_not_nan():
    stage = ["B"] * 10 + ["L"] * 10 + ["B"] * 15 + ["L"] * 5  # blank converts better: a heatmap worth drawing
    opps = pd.DataFrame({"opportunity_id": [str(i) for i in range(40)], "stage": stage,
                         "lost_at_stage": [None if s == "B" else "A" for s in stage],
                         "lead_source": ["X"] * 20 + [None] * 20})
    ax = bottlenecks(opps, stages=S).plot()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "lead_source=(blank)" in labels and not any("nan" in s for s in labels)


def test_no_heatmap_of_zeros_and_no_empty_calibration_chart():
    stage = ["B"] * 10 + ["L"] * 10 + ["B"] * 10 + ["L"] * 10  # both segments convert 50%: every cell is 0 pp
    opps = pd.DataFrame({"opportunity_id": [str(i) for i in range(40)], "stage": stage,
                         "lost_at_stage": [None if s == "B" else "A" for s in stage],
                         "lead_source": ["X"] * 20 + ["Y"] * 20})
    bn = bottlenecks(opps, stages=S)
    assert bn.limitation is None and bn.chart_limitation  # one sentence instead of a chart of "+0" cells
    assert not bn.plot().images
    different = opps.assign(stage=["B"] * 15 + ["L"] * 5 + ["B"] * 5 + ["L"] * 15)
    different["lost_at_stage"] = [None if s == "B" else "A" for s in different["stage"]]
    assert bottlenecks(different, stages=S).chart_limitation is None
    from salesops_kit.plots import plot_calibration

    no_stated = pd.DataFrame({"stage": ["A"], "realised_win_rate": [0.5], "stated_probability": [np.nan],
                              "ci_low": [0.3], "ci_high": [0.7]})
    ax = plot_calibration(no_stated)
    assert not ax.lines and not ax.collections and not ax.axison


# --- a Salesforce org's sample deals: created on the export day, won deals closed before they were created ------
def test_deals_created_on_the_as_of_day_count_and_wins_closed_before_creation_are_named():
    created = AS_OF + pd.Timedelta(hours=17)  # the as-of date is that whole day
    n_won, n_open = 4, 3
    opps = pd.DataFrame({"opportunity_id": [f"d{i}" for i in range(n_won + n_open)],
                         "stage": ["W"] * n_won + ["A"] * n_open, "amount": [100.0] * (n_won + n_open),
                         "created_date": [created] * (n_won + n_open),
                         "close_date": [AS_OF - pd.Timedelta(days=30)] * n_won + [pd.NaT] * n_open})
    ds = dataset(opps)
    cyc = sales_cycle(ds)
    assert cyc.dropped == {"no_dates": 0, "negative": n_won, "late": 0}
    assert int(cyc.table["open"].iloc[0]) == n_open  # censored at 0 days, not "created after the as-of date"
    assert cyc.limitation and f"{n_won} deal(s) closed before they were created" in cyc.limitation
    vel = funnel.sales_velocity(ds).table  # no time to win: no velocity (it raised IndexError)
    assert vel["open_deals"].iloc[0] == n_open and np.isnan(vel["velocity_per_month"].iloc[0])
    k = kpi_frame(funnel.kpi_rows(ds)).set_index(["kpi", "segment"])
    assert k.loc[("deals_won", "all"), "value"] == n_won
    later = sales_cycle(dataset(opps.assign(created_date=AS_OF + pd.Timedelta(days=1, hours=1))))
    assert later.dropped["late"] == n_won + n_open


def test_a_segment_with_no_closed_deals_gets_counts_and_no_row_of_nan():
    opps = deals(["W", "W", "L", "A", "A"], lost_at=[None, None, "A", None, None])
    opps["owner"] = ["ann", "ann", "ann", "bob", "bob"]  # bob: two open deals, nothing closed
    k = kpi_frame(funnel.kpi_rows(dataset(opps)))
    assert k["value"].notna().all()
    bob = k[k["segment"] == "owner=bob"].set_index("kpi")["value"]
    assert bob["deals_open"] == 2 and "win_rate" not in bob.index and "sales_cycle_median_days" not in bob.index
    ann = k[k["segment"] == "owner=ann"].set_index("kpi")["value"]
    assert ann["win_rate"] == pytest.approx(2 / 3)
