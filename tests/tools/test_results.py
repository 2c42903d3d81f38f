"""The Result base class: defaults a subclass gets for free and what it must not break."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib
import pandas as pd
import pytest

from salesops_kit.tools import Result

matplotlib.use("Agg")


@dataclass(frozen=True, repr=False)
class Toy(Result):
    table: pd.DataFrame
    note: str = ""


@dataclass(frozen=True, repr=False)
class Told(Result):
    table: pd.DataFrame
    title = "Told <result>"

    def headline(self) -> str:
        return f"Top <b>seller</b> & co: {self.table['who'].iloc[0]}."


@dataclass(frozen=True, repr=False)
class Broken(Result):
    table: pd.DataFrame

    def headline(self) -> str:
        raise RuntimeError("no headline")


def test_summary_is_a_copy_of_the_table():
    t = pd.DataFrame({"x": [1, 2]})
    r = Toy(t)
    s = r.summary()
    assert isinstance(s, pd.DataFrame) and s.equals(t) and s is not t
    s.loc[0, "x"] = 99
    assert t.loc[0, "x"] == 1


def test_default_headline_is_a_sentence_and_repr_is_short():
    r = Toy(pd.DataFrame({"x": range(1000)}), note="n" * 10_000)
    assert r.headline() == "Toy: 1,000 rows."
    assert repr(r) == "Toy(Toy: 1,000 rows.)"
    assert Toy(pd.DataFrame({"x": [1]})).headline() == "Toy: 1 row."


def test_repr_falls_back_to_the_shape_when_the_headline_fails():
    assert repr(Broken(pd.DataFrame({"a": [1, 2], "b": [3, 4]}))) == "Broken(2 rows x 2 columns)"


def test_repr_html_escapes_the_title_headline_and_cells():
    r = Told(pd.DataFrame({"who": ["<script>alert(1)</script>"], "<col>": [0.123456789]}))
    page = r._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>Told &lt;result&gt;</b>" in page and "Top &lt;b&gt;seller&lt;/b&gt; &amp; co" in page
    assert "&lt;col&gt;" in page and "<td>0.123</td>" in page and page.count("<table") == 1  # read as tools.readable


def test_plot_without_a_chart_says_so():
    with pytest.raises(NotImplementedError, match="Toy has no chart"):
        Toy(pd.DataFrame()).plot()


def test_summary_without_a_table_must_be_defined():
    class Bare(Result):
        pass

    with pytest.raises(NotImplementedError, match="Bare has no .table"):
        Bare().summary()
    assert repr(Bare()) == "Bare(no table)"


def test_a_kit_result_reprs_in_one_short_line():
    from salesops_kit.value import sbg

    fit = sbg.fit_sbg([1000, 631, 468, 382, 326])
    assert repr(fit).startswith("SBGFit(sBG: alpha=") and "\n" not in repr(fit) and len(repr(fit)) < 200
    assert list(fit.summary().columns) == ["param", "estimate", "std_error", "ci_low", "ci_high"]
    assert fit.summary(level=0.8)["ci_low"].gt(fit.summary(level=0.95)["ci_low"]).all()
