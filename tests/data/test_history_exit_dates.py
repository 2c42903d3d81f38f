"""Stage history with the export's own exit-date column (issue 14, part 4).

Salesforce OpportunityHistory-style exports have a row for every edit of amount, close date or probability; an
export with its own exit column dates each row's end at the next edit, not at the next stage. Consecutive rows of
a deal in the same stage are one stay: it starts at the first row's entered date and ends when the stage changes
(the exit of the run's last row). The loader keeps one row per stay on every engine, and counts the edit rows as
``other_lines`` (records that are not stage entries).
"""

from __future__ import annotations

import narwhals as nw
import pandas as pd
import pytest

from salesops_kit import load_dataset
from salesops_kit.engines.ops import collect

# d1: A Jan 1 -> Jan 11 (edits on Jan 4 and Jan 8), B Jan 11 -> Jan 31 (an edit on Jan 15 whose From = To),
# won Jan 31. d2: A Jan 1 -> Jan 21, lost. d3: A Jan 5 -> Jan 10, B since Jan 10 (an edit on Feb 1, still open).
# Rows shuffled, as an API export comes.
HISTORY = [
    ("d1", "A", "", "2024-01-04", "2024-01-08"),
    ("d3", "B", "A", "2024-01-10", "2024-02-01"),
    ("d1", "A", "", "2024-01-01", "2024-01-04"),
    ("d1", "B", "A", "2024-01-11", "2024-01-15"),
    ("d2", "A", "", "2024-01-01", "2024-01-21"),
    ("d1", "W", "B", "2024-01-31", ""),
    ("d3", "A", "", "2024-01-05", "2024-01-10"),
    ("d1", "A", "A", "2024-01-08", "2024-01-11"),
    ("d2", "L", "A", "2024-01-21", ""),
    ("d1", "B", "B", "2024-01-15", "2024-01-31"),
    ("d3", "B", "B", "2024-02-01", ""),
]
# the stays, by hand from the comment above: (deal, stage, entered, exited)
STAYS = [
    ("d1", "A", "2024-01-01", "2024-01-11"), ("d1", "B", "2024-01-11", "2024-01-31"), ("d1", "W", "2024-01-31", None),
    ("d2", "A", "2024-01-01", "2024-01-21"), ("d2", "L", "2024-01-21", None),
    ("d3", "A", "2024-01-05", "2024-01-10"), ("d3", "B", "2024-01-10", None),
]
MAPPING = {"name": "t", "tables": {"opportunities": {"file": "opportunities.csv"},
                                   "stage_history": {"file": "stage_history.csv"}},
           "stages": {"order": ["A", "B"], "won": ["W"], "lost": ["L"]}}


def _write(folder, history, *, exit_column=True):
    opps = pd.DataFrame({"opportunity_id": ["d1", "d2", "d3"], "owner": ["x", "y", "x"], "stage": ["W", "L", "B"],
                         "created_date": ["2024-01-01", "2024-01-01", "2024-01-05"],
                         "close_date": ["2024-01-31", "2024-01-21", "2024-03-31"], "amount": [10, 20, 30]})
    opps.to_csv(folder / "opportunities.csv", index=False)
    h = pd.DataFrame(history, columns=["opportunity_id", "stage", "from_stage", "entered_date", "exited_date"])
    if not exit_column:
        h = h.drop(columns="exited_date")
    h.to_csv(folder / "stage_history.csv", index=False)
    return folder


def _stays(ds):
    h = collect(nw.from_native(ds.stage_history).lazy())
    h = h.sort_values(["opportunity_id", "entered_date"]).reset_index(drop=True)
    return [(r.opportunity_id, r.stage, r.entered_date.date().isoformat(),
             None if pd.isna(r.exited_date) else r.exited_date.date().isoformat())
            for r in h.itertuples()]


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
def test_own_exit_column_gives_one_row_per_stay_ending_when_the_stage_changes(tmp_path, engine):
    ds = load_dataset(_write(tmp_path, HISTORY), mapping=MAPPING, engine=engine)
    assert _stays(ds) == STAYS
    acc = ds.account.set_index("table").loc["stage_history"]
    # 11 records: 7 stays + 4 edit rows (d1 A x2, d1 B x1, d3 B x1); nothing quarantined
    assert (acc["rows_read"], acc["rows_kept"], acc["rows_quarantined"], acc["other_lines"]) == (7, 7, 0, 4)


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
def test_without_exit_column_the_next_stage_entry_ends_the_stay(tmp_path, engine):
    ds = load_dataset(_write(tmp_path, HISTORY, exit_column=False), mapping=MAPPING, engine=engine)
    assert _stays(ds) == STAYS


@pytest.mark.parametrize("engine", ["pandas", "polars", "duckdb"])
def test_a_deals_first_row_with_from_equal_to_is_its_first_stay(tmp_path, engine):
    # the export starts after d2 entered A: its first record is an edit (From = To = A); it is still the only
    # evidence of d2's stay in A, which starts at that row and ends when d2 is lost
    hist = [r if r[:2] != ("d2", "A") else ("d2", "A", "A", "2024-01-01", "2024-01-21") for r in HISTORY]
    ds = load_dataset(_write(tmp_path, hist), mapping=MAPPING, engine=engine)
    assert _stays(ds) == STAYS
