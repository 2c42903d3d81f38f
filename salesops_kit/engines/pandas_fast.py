"""pandas fast paths of narwhals scans (issue 8: the kit on pandas must not be slower than idiomatic pandas).

Each function computes exactly what the narwhals scan of its caller computes, for a plain pandas
DataFrame, with vectorised numpy/pandas steps that avoid narwhals' generic pandas translation (an
ordered ``first(order_by=)`` that sorts the whole frame, two-key group-bys). A function returns ``None``
when its input is outside what it handles (e.g. missing customer ids, time zones); the caller then
runs its narwhals scan. The parity tests (tests/engines/test_parity.py) run the callers on pandas against
Polars and DuckDB, so these paths are held to the same answers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _day_number(ts: pd.Timestamp) -> int:
    return int(np.datetime64(ts.normalize().to_datetime64(), "D").astype(np.int64))


def _run_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of the runs ``values[starts[i]:starts[i + 1]]`` exactly as pandas' group sum computes them:
    missing values skipped, Kahan-compensated in row order (pandas' ``group_sum``). Runs of one or two
    values: their plain sum is that number; longer runs: the same Kahan steps vectorised over runs (step j
    adds the j-th value of every run that long; runs longest first so the active ones are a prefix)."""
    if len(starts) == 0:
        return np.zeros(0)
    missing = np.isnan(values)
    sums = np.add.reduceat(np.where(missing, 0.0, values) if missing.any() else values, starts)
    sizes = np.diff(np.r_[starts, len(values)])
    long = np.flatnonzero(sizes >= 3)
    if len(long) == 0:
        return sums
    by_size = long[np.argsort(-sizes[long], kind="stable")]
    st, neg = starts[by_size], -sizes[by_size]
    total, comp = np.zeros(len(st)), np.zeros(len(st))
    with np.errstate(invalid="ignore"):  # inf - inf: pandas resets the compensation (below)
        for j in range(int(-neg[0])):
            m = int(np.searchsorted(neg, -j, side="left"))  # runs longer than j
            val = values[st[:m] + j]
            s0, c0 = total[:m], comp[:m]
            y = val - c0
            t = s0 + y
            c = (t - s0) - y
            c[np.isnan(c)] = 0.0
            ok = ~np.isnan(val)
            total[:m] = np.where(ok, t, s0)
            comp[:m] = np.where(ok, c, c0)
    sums[by_size] = total
    return sums


def rfm_pandas(df: pd.DataFrame, *, customer_col: str, date_col: str, amount_col: str, cal: pd.Timestamp,
               hold: pd.Timestamp | None, unit: float) -> pd.DataFrame | None:
    """``customers.rfm_summary`` on a pandas frame: purchase days per customer and calendar day, then the
    calibration summary (first/last day, days, revenue, first day's amount) and the holdout counts.

    Returns the columns of ``rfm_summary`` (sorted by customer id), or None for input it does not handle
    (a date column that is not naive datetime64, missing customer ids).
    """
    d = df[date_col]
    if not pd.api.types.is_datetime64_dtype(d.dtype) or isinstance(d.dtype, pd.DatetimeTZDtype):
        return None
    c = df[customer_col]
    if isinstance(c.dtype, pd.CategoricalDtype) or c.isna().any():
        return None
    cal_day = _day_number(cal)
    last_day = _day_number(hold) if hold is not None else cal_day
    days = d.to_numpy().astype("datetime64[D]").astype(np.int64)
    keep = (days <= last_day) & (days != np.iinfo(np.int64).min)  # NaT is the smallest int64
    amount = df[amount_col].astype("float64").to_numpy()
    if not keep.all():
        c, days, amount = c[keep], days[keep], amount[keep]
    if len(days) == 0:
        return None
    lo = int(days.min())
    span = int(days.max()) - lo + 1
    cv = c.to_numpy()
    if cv.dtype.kind in "iu" and (int(cv.max()) - int(cv.min()) + 1) * span < 2**62:  # integer ids: no hashing
        cmin = int(cv.min())
        codes, uniques = cv.astype(np.int64) - cmin, None
    else:
        codes, uniques = pd.factorize(c, sort=True)  # customer codes in customer-id order
    key = codes.astype(np.int64) * span + (days - lo)
    # one purchase per customer and day: rows sorted by (key, row number), runs summed as pandas sums them
    n = len(key)
    if (int(key.max()) + 1) * n < 2**62:  # a plain sort of unique numbers is a stable sort by key
        comb = np.sort(key * n + np.arange(n, dtype=np.int64))
        order, ks = comb % n, comb // n
    else:
        order = np.argsort(key, kind="stable")
        ks = key[order]
    runs = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    k, amt = ks[runs], _run_sums(amount[order], runs)
    cust, day = k // span, k % span + lo
    in_cal = day <= cal_day
    cc, dc, ac = cust[in_cal], day[in_cal], amt[in_cal]
    if len(cc) == 0:
        return None
    starts = np.flatnonzero(np.r_[True, cc[1:] != cc[:-1]])
    ends = np.r_[starts[1:], len(cc)] - 1
    purchases = (ends - starts + 1).astype(np.int64)
    first, last = dc[starts], dc[ends]
    revenue = _run_sums(ac, starts)
    frequency = purchases - 1
    monetary = np.where(frequency > 0, (revenue - ac[starts]) / np.where(frequency > 0, frequency, 1), 0.0)
    dtype = d.dtype
    out = pd.DataFrame({
        "customer_id": (cc[starts] + cmin).astype(cv.dtype) if uniques is None else uniques.take(cc[starts]),
        "frequency": frequency,
        "recency": (last - first).astype(float) / unit,
        "T": (cal_day - first).astype(float) / unit,
        "monetary_value": monetary,
        "first_purchase": first.astype("datetime64[D]").astype(dtype),
        "last_purchase": last.astype("datetime64[D]").astype(dtype),
        "purchases": purchases,
        "revenue": revenue,
    })
    if hold is not None:
        hm = ~in_cal
        h = pd.Series(amt[hm]).groupby(cust[hm], sort=False).agg(["size", "sum"])
        fh = h["size"].reindex(cc[starts], fill_value=0).to_numpy().astype(int)
        rh = h["sum"].reindex(cc[starts]).to_numpy()
        out["frequency_holdout"] = fh
        out["duration_holdout"] = (hold - cal).days / unit
        out["monetary_value_holdout"] = np.where(fh > 0, rh / np.clip(fh, 1, None), 0.0)
    return out


def with_outcome(lf, stages, *, column: str = "stage", alias: str = "_o"):
    """``lf.with_columns(_funnel_scan.outcome_code(stages).alias(alias))`` for a pandas-backed narwhals frame:
    the labels are hashed once (factorize) and the few distinct ones classified, instead of three ``is_in``
    scans and a ``when`` chain over every row. Same codes: 1 won, 2 lost, 0 open, 3 unknown or missing."""
    import narwhals as nw

    from .ops import LOST, OPEN, UNKNOWN, WON

    native = nw.to_native(lf).copy(deep=False)  # a new column on a shallow copy: the caller's frame is untouched
    codes, labels = pd.factorize(native[column])  # missing -> -1
    won, lost, order = set(stages.won), set(stages.lost), set(stages.order)
    lut = np.array([WON if v in won else LOST if v in lost else OPEN if v in order else UNKNOWN for v in labels]
                   + [UNKNOWN], dtype=np.int64)
    native[alias] = lut[codes]
    return nw.from_native(native).lazy()


def group_sizes(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame | None:
    """``_funnel_scan.collect(lazy(df).group_by(*keys, drop_null_keys=False).agg(nw.len().alias("n")))`` for
    text (object) key columns: each key hashed once (factorize) and the combined codes counted with
    ``bincount``; missing keys are NaN, ``n`` is float64 (as ``collect`` gives), rows in no particular order.
    None when a key column is not object dtype or the key space is too large for a count array."""
    if not keys or any(df[k].dtype != object for k in keys):
        return None
    codes, labels, radix = [], [], 1
    for k in keys:
        c, u = pd.factorize(df[k])  # missing -> -1
        codes.append(c.astype(np.int64) + 1)
        labels.append(np.append(np.array([np.nan], dtype=object), np.asarray(u, dtype=object)))
        radix *= len(u) + 1
    if radix > 5_000_000:
        return None
    key = np.zeros(len(df), dtype=np.int64)
    for c, lab in zip(codes, labels, strict=True):
        key = key * len(lab) + c
    counts = np.bincount(key, minlength=1)
    present = np.flatnonzero(counts)
    out, rest = {}, present.copy()
    for k, lab in zip(reversed(keys), reversed(labels), strict=True):
        out[k] = lab[rest % len(lab)]
        rest //= len(lab)
    res = pd.DataFrame({k: out[k] for k in keys})
    res["n"] = counts[present].astype("float64")
    return res


def group_agg(lf, keys: list[str], *aggs, str_min: dict[str, str] | None = None):
    """``lf.group_by(*keys).agg(*aggs, *[nw.col(c).min().alias(a) for a, c in str_min.items()])``, fast on pandas.

    pandas has no Cython group-by minimum for text: narwhals falls back to a Python call per group (0.3 s
    for 10,000 customers). On a pandas-backed frame each text column is replaced by its rank among its
    sorted distinct values (``pd.factorize(sort=True)``: code-point order, as Polars and DuckDB compare
    strings), the ranks' minimum is taken by the Cython group-by, and the ranks are mapped back; missing
    values are skipped (an all-missing group gives None). Other backends run the plain aggregation.
    Returns a narwhals LazyFrame with the key columns, then ``aggs``, then the ``str_min`` aliases."""
    import narwhals as nw

    str_min = str_min or {}
    if not str_min or lf.implementation is not nw.Implementation.PANDAS:
        return lf.group_by(*keys).agg(*aggs, *[nw.col(c).min().alias(a) for a, c in str_min.items()])
    df = lf.collect().to_native()
    ranks, labels = {}, {}
    for i, (a, c) in enumerate(str_min.items()):
        codes, uniq = pd.factorize(df[c], sort=True)  # missing -> -1
        ranks[f"__rank{i}"] = np.where(codes < 0, np.nan, codes.astype("float64"))
        labels[a] = np.asarray(uniq, dtype=object)
    tmp = nw.from_native(df.assign(**ranks)).lazy()
    out = tmp.group_by(*keys).agg(*aggs, *[nw.col(r).min() for r in ranks]).collect().to_native()
    for (a, lab), r in zip(labels.items(), ranks, strict=True):
        v = out.pop(r).to_numpy()
        ok = ~np.isnan(v)
        res = np.full(len(v), None, dtype=object)
        res[ok] = lab[v[ok].astype(np.int64)]
        out[a] = res
    return nw.from_native(out).lazy()


def _datetimes(s: pd.Series) -> np.ndarray:
    """A column as ``datetime64[ns]`` values (no parsing pass when it already is one)."""
    if s.dtype == "datetime64[ns]":
        return s.to_numpy()
    return pd.to_datetime(s).to_numpy(dtype="datetime64[ns]")


def deal_groups_history(opps: pd.DataFrame, hist: pd.DataFrame, *, by: list[str], stages,
                        has_lost_at: bool) -> pd.DataFrame | None:
    """The grouped counts of ``funnel.deal_groups`` with stage history, for pandas inputs, before its
    label checks and sorting: columns ``<by>, stage, furthest, depth, n, e_0..e_{K-1}, s_0..s_{K-2}``.

    The narwhals scan builds per-deal flags with about 5K expressions, each a pass of pandas overhead;
    here they are boolean matrices (deals x stages): ``e`` entered (history row at the stage, or the current
    / lost-at stage), ``furthest`` (K when won, else the last entered stage, -1 when none), ``depth`` (stages
    entered in order, with each entry date not before the previous stage's, K for won deals through the
    last stage), ``s`` entered then passed without entering the next stage. None when an id is missing
    (the scan's join semantics then apply)."""
    order = list(stages.order)
    K = len(order)
    if opps["opportunity_id"].isna().any() or hist["opportunity_id"].isna().any():
        return None
    idx = {s: i for i, s in enumerate(order)}
    hk = hist["stage"].map(idx)
    keep = hk.notna().to_numpy()
    h = pd.DataFrame({"id": hist["opportunity_id"].to_numpy()[keep], "k": hk.to_numpy()[keep].astype(np.int64),
                      "d": _datetimes(hist["entered_date"])[keep]})
    first = h.groupby(["id", "k"], sort=False)["d"].min()  # NaT only when every entry date is missing
    ids, ks = first.index.get_level_values(0), first.index.get_level_values(1).to_numpy()
    inv, uid = pd.factorize(ids)
    pos = pd.Index(uid).get_indexer(opps["opportunity_id"])  # -1: no history in the stage model's stages
    n_o = len(opps)
    H = np.zeros((len(uid) + 1, K), dtype=bool)
    D = np.full((len(uid) + 1, K), np.datetime64("NaT"), dtype="datetime64[ns]")
    H[inv, ks] = True
    D[inv, ks] = first.to_numpy()
    rows = np.where(pos < 0, len(uid), pos)  # the extra last row: no history
    H, D = H[rows], D[rows]
    stage = opps["stage"]
    is_won = stage.isin(list(stages.won)).to_numpy()
    is_lost = stage.isin(list(stages.lost)).to_numpy()
    E = H.copy()
    cur = stage.map(idx).to_numpy(dtype=float)
    ok_cur = ~np.isnan(cur)
    E[np.flatnonzero(ok_cur), cur[ok_cur].astype(np.int64)] = True
    if has_lost_at:
        la = opps["lost_at_stage"].map(idx).to_numpy(dtype=float)
        ok_la = is_lost & ~np.isnan(la)
        E[np.flatnonzero(ok_la), la[ok_la].astype(np.int64)] = True
    any_e = E.any(axis=1)
    last = K - 1 - np.argmax(E[:, ::-1], axis=1)
    fur = np.where(is_won, K, np.where(any_e, last, -1))
    nat = np.isnat(D)
    ok = np.zeros((n_o, K), dtype=bool)
    ok[:, 0] = E[:, 0]
    for k in range(1, K):
        with np.errstate(invalid="ignore"):
            date_ok = nat[:, k] | nat[:, k - 1] | (D[:, k] >= D[:, k - 1])
        ok[:, k] = ok[:, k - 1] & E[:, k] & date_ok
    depth = ok.sum(axis=1) - 1
    depth = np.where(is_won & (depth == K - 1), K, depth)
    S = E[:, :-1] & ~E[:, 1:] & (fur[:, None] > np.arange(K - 1)[None, :])
    cols = {c: (opps[c].astype("float64") if str(opps[c].dtype).startswith(("int", "Int", "uint", "UInt"))
                else opps[c]).to_numpy() for c in by}
    cols.update(stage=stage.to_numpy(), furthest=fur, depth=depth, n=np.ones(n_o, dtype=np.int64))
    cols.update({f"e_{k}": E[:, k].astype(np.int64) for k in range(K)})
    cols.update({f"s_{k}": S[:, k].astype(np.int64) for k in range(K - 1)})
    keys = by + ["stage", "furthest", "depth"]
    return pd.DataFrame(cols).groupby(keys, dropna=False, sort=False).sum().reset_index()
