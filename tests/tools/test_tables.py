"""Tables built for reading (tools.tables): every rule on a frame checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesops_kit.tools import readable, show_table
from salesops_kit.tools.tables import MISSING, format_number


def test_numbers_read_as_a_manager_reads_them():
    assert format_number(2360.909) == "2,361"
    assert format_number(8.2e-24, p_value=True) == "< 0.001"
    assert format_number(0.0234, p_value=True) == "0.023"
    assert format_number(0.2345, percent=True) == "23.4%"
    assert format_number(float("nan")) == MISSING and format_number(None) == MISSING and format_number(pd.NA) == MISSING
    assert format_number(1e-9) == "≈ 0" and "e" not in format_number(1.5e-5, decimals=3)
    assert format_number(12.345) == "12.3" and format_number(1.2345) == "1.23" and format_number(0.12345) == "0.123"


def test_readable_frame_has_no_index_nan_or_scientific_notation():
    df = pd.DataFrame({"win_rate": [0.25, np.nan], "p_value": [8.2e-24, 0.2], "revenue": [2.360909e03, 10005534.0],
                       "deals": pd.array([3, None], dtype="Int64"), "owner": ["Ana", None],
                       "month": pd.to_datetime(["2025-10-01", "2025-11-01"]), "flag": [True, False]},
                      index=pd.Index(["a", "b"], name="segment"))
    out = readable(df, units={"revenue": "USD"})
    assert list(out.columns) == ["segment", "win rate", "p value", "revenue (USD)", "deals", "owner", "month", "flag"]
    assert out.iloc[0].tolist() == ["a", "25.0%", "< 0.001", "2,361", "3", "Ana", "2025-10", "yes"]
    assert out.iloc[1].tolist() == ["b", MISSING, "0.200", "10,005,534", MISSING, MISSING, "2025-11", "no"]
    text = out.to_string()
    for bad in ("NaN", "None", "<NA>", "e+", "e-0"):
        assert bad not in text, bad


def test_quarters_and_the_word_currency_and_row_numbers():
    df = pd.DataFrame({"quarter": pd.to_datetime(["2025-07-01", "2025-10-01"]), "total": [1.0, 2.5]}, index=[5, 9])
    out = readable(df, units={"total": "currency"})
    assert list(out.columns) == ["quarter", "total"] and out["quarter"].tolist() == ["2025 Q3", "2025 Q4"]
    assert out["total"].tolist() == ["1.00", "2.50"]


def test_a_rate_column_is_a_percentage_only_when_its_values_are_fractions():
    df = pd.DataFrame({"conversion": [0.5, 0.25], "conversion_days": [3.0, 4.5], "share": [12.0, 40.0]})
    out = readable(df)
    assert out["conversion"].tolist() == ["50.0%", "25.0%"]
    assert out["conversion days"].tolist() == ["3.00", "4.50"] and out["share"].tolist() == ["12", "40"]


def test_show_table_is_html_without_index_and_escapes_data():
    tab = show_table(pd.DataFrame({"owner": ["<b>x</b>"] * 3, "n": [1, 2, 3]}), max_rows=2, caption="Reps")
    html = tab._repr_html_()
    assert "&lt;b&gt;" in html and "<b>x" not in html and "<caption>Reps (first 2 rows of 3)</caption>" in html
    assert "<th></th>" not in html and len(tab) == 2
