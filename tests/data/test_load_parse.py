"""Parsers for export text: dates, amounts, probabilities, booleans, encodings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from salesops_kit.data.parse import (
    UndecodableError,
    detect_encoding,
    parse_amounts,
    parse_bools,
    parse_dates,
    parse_probability,
)

T = pd.Timestamp


@pytest.mark.parametrize("raw,expected", [
    ("2024-03-05", T("2024-03-05")),
    ("2024-03-05 10:15:00", T("2024-03-05 10:15")),
    ("2023-02-07T20:47:49.123Z", T("2023-02-07 20:47:49.123")),
    ("2024-03-05T10:00:00+08:00", T("2024-03-05 02:00")),  # offsets converted to UTC, then naive
    ("2024/3/5", T("2024-03-05")),
    ("2024年3月5日", T("2024-03-05")),
    ("2024年3月5日 14:30", T("2024-03-05 14:30")),
    ("3/5/2024", T("2024-03-05")),  # month first by default
    ("03/05/24 08:55 PM", T("2024-03-05 20:55")),
    ("12/31/99", T("1999-12-31")),
    ("45356", T("2024-03-05")),  # Excel serial day number
    ("45356.5", T("2024-03-05 12:00")),
    ("15 Apr, 2021 00:02:00", T("2021-04-15 00:02")),
    ("Apr 15, 2021", T("2021-04-15")),
    ("17-Jul-2018", T("2018-07-17")),
])
def test_parse_dates_formats(raw, expected):
    p = parse_dates(pd.Series([raw]))
    assert p.values.iloc[0] == expected and not p.bad[0]


def test_parse_dates_blank_is_missing_not_bad_and_impossible_is_bad():
    p = parse_dates(pd.Series(["", None, "  ", "2/30/2024", "soon", "2024-13-01"]))
    assert p.values.isna().all()
    assert p.bad.tolist() == [False, False, False, True, True, True]


def test_parse_dates_dayfirst_detection_and_explicit():
    p = parse_dates(pd.Series(["17-7-2018", "1-2-2018"]))  # 17 cannot be a month: the column is day first
    assert p.values.tolist() == [T("2018-07-17"), T("2018-02-01")] and "day/month" in p.note
    p = parse_dates(pd.Series(["1/2/2018"]))
    assert p.values.iloc[0] == T("2018-01-02") and "ambiguous" in p.note
    p = parse_dates(pd.Series(["1/2/2018", "13/2/2018"]), dayfirst=False)  # the mapping said month first
    assert p.values.iloc[0] == T("2018-01-02") and p.bad.tolist() == [False, True]
    p = parse_dates(pd.Series(["05.03.2024"]), dayfirst=True)
    assert p.values.iloc[0] == T("2024-03-05")


def test_parse_dates_format_and_typed_and_arrow():
    p = parse_dates(pd.Series(["20240305", "x"]), format="%Y%m%d")
    assert p.values.iloc[0] == T("2024-03-05") and p.bad.tolist() == [False, True]
    p = parse_dates(pd.Series(pd.to_datetime(["2024-03-05"])))
    assert p.values.iloc[0] == T("2024-03-05") and p.values.dtype == "datetime64[ns]"
    p = parse_dates(pa.chunked_array([["2024-03-05", None]]))
    assert p.values.iloc[0] == T("2024-03-05") and pd.isna(p.values.iloc[1])


def test_parse_dates_keeps_index_and_does_not_mutate():
    s = pd.Series(["2024-03-05", "3/5/2024"], index=[10, 20])
    before = s.copy()
    p = parse_dates(s)
    assert p.values.index.tolist() == [10, 20]
    pd.testing.assert_series_equal(s, before)


@pytest.mark.parametrize("raw,expected", [
    ("$1,234.50", 1234.5), ("¥1,234.50", 1234.5), ("￥1,234.50", 1234.5), ("1.234,50 €", 1234.5),
    ("13884,00", 13884.0), ("USD 22,700.00", 22700.0), ("(1,234.50)", -1234.5), ("1 234,50", 1234.5),
    ("1\u00a0234,50", 1234.5), ("-5", -5.0), ("12", 12.0), ("1e3", 1000.0), ("1,234", 1234.0),
])
def test_parse_amounts(raw, expected):
    p = parse_amounts(pd.Series([raw]))
    assert p.values.iloc[0] == pytest.approx(expected) and not p.bad[0]


def test_parse_amounts_mapping_decimal_and_bad():
    p = parse_amounts(pd.Series(["1.234,50", "1.234", "13884,00", "", "n/a"]), decimal=",", thousands=".")
    assert p.values.tolist()[:3] == [1234.5, 1234.0, 13884.0]
    assert np.isnan(p.values.iloc[3]) and p.bad.tolist() == [False, False, False, False, True]


def test_parse_probability():
    assert parse_probability(pd.Series(["20", "20%", "90", None])).values.tolist()[:3] == [0.2, 0.2, 0.9]
    assert parse_probability(pd.Series(["0.2", "1"])).values.tolist() == [0.2, 1.0]
    assert parse_probability(pd.Series(["1"]), scale=100).values.tolist() == [0.01]
    p = parse_probability(pd.Series(["150%", "-1"]))
    assert p.bad.tolist() == [True, True]


def test_parse_bools():
    p = parse_bools(pd.Series(["TRUE", "false", "yes", "No", "是", "否", "1", "0", None, "maybe"]))
    assert p.values.tolist()[:8] == [True, False, True, False, True, False, True, False]
    assert pd.isna(p.values.iloc[8]) and p.bad.tolist() == [False] * 9 + [True]


def test_detect_encoding():
    assert detect_encoding("商机名称,销售阶段,预计成交金额".encode("gb18030")) == "gb18030"
    assert detect_encoding("商机名称,销售阶段".encode("gbk")) == "gb18030"
    # cp1252 text GB18030 would "decode" into garbage: must be recognised as Windows-1252
    text = "Línea Expansión,Peña,Año fiscal"
    raw = text.encode("cp1252")
    raw.decode("gb18030")  # succeeds with garbage
    assert detect_encoding(raw) == "cp1252"
    assert detect_encoding("Zoë".encode("utf-8-sig")) == "utf-8-sig"
    assert detect_encoding(b"abc") == "utf-8"
    with pytest.raises(UndecodableError):
        detect_encoding(b"\x81\x20\x8d\x90")
