"""collect() never hands back or alters the caller's frame."""

import narwhals as nw
import pandas as pd

from salesops_kit.engines.ops import collect


def test_collect_of_unchanged_pandas_input_leaves_it_alone():
    df = pd.DataFrame({"n": [1, 2, 3], "d": pd.to_datetime(["2024-01-01"] * 3)})
    before = df.copy()
    out = collect(nw.from_native(df).lazy())
    assert out is not df
    assert out["n"].dtype == "float64"  # plain numeric dtypes for the small result
    pd.testing.assert_frame_equal(df, before)  # the input keeps its int column
