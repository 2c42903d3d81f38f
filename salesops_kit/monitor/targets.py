"""Targets for the KPI review (issue 9): ``targets.csv``, quotas as won-revenue targets, attainment with
a run-rate projection, and the rule that made the sample ``data/sample/targets.csv``."""

from __future__ import annotations

from pathlib import Path

import narwhals as nw
import numpy as np
import pandas as pd

from ..stats.kpi_specs import KPI_SPECS
from ..tools.validation import require_columns
from . import _series as ms
from ._series import kpi_series, parse_review

__all__ = ["TARGET_COLUMNS", "read_targets", "targets_from_quotas", "attainment", "default_targets",
           "write_default_targets"]

TARGET_COLUMNS = ["kpi", "segment", "period", "target", "source"]


def read_targets(path) -> pd.DataFrame:
    """Read ``targets.csv`` (columns ``kpi, segment, period, target``; period like ``2025-11``,
    ``2025Q4`` or a week's Monday) into ``TARGET_COLUMNS`` with ``source = "targets file"``."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"targets file {p} not found; create it with columns kpi, segment, period, target "
                                "(e.g. win_rate, team=Atlas, 2025-11, 0.30) or pass targets=None.")
    t = pd.read_csv(p, dtype={"kpi": str, "segment": str, "period": str})
    require_columns(t, ["kpi", "segment", "period", "target"], table=f"the targets file {p}",
                    hint="A targets file needs kpi, segment, period, target.")
    t["target"] = pd.to_numeric(t["target"], errors="raise")
    t["source"] = "targets file"
    return t[TARGET_COLUMNS]


def targets_from_quotas(quotas, *, owner_team: pd.DataFrame | None = None) -> pd.DataFrame:
    """Quotas as ``won_revenue`` targets per month: per rep (``owner=``), per team and overall (sums).

    Quotas longer than a month are spread over their months in proportion to days (``period_end``).
    """
    if quotas is None:
        return pd.DataFrame(columns=TARGET_COLUMNS)
    f = nw.from_native(quotas)  # any engine; quotas are small (rep x period), so they come back as pandas
    q = (f.collect() if isinstance(f, nw.LazyFrame) else f).to_pandas().copy()
    if not len(q):
        return pd.DataFrame(columns=TARGET_COLUMNS)
    start = pd.to_datetime(q["period_start"])
    end = pd.to_datetime(q["period_end"]) if "period_end" in q else start.dt.to_period("M").dt.end_time
    rows = []
    for owner, s, e, quota in zip(q["owner"], start, end.fillna(start.dt.to_period("M").dt.end_time),
                                  q["quota"], strict=True):
        months = pd.period_range(s, e, freq="M")
        days = np.array([(min(m.end_time.normalize(), e.normalize()) - max(m.start_time, s)).days + 1
                         for m in months], dtype=float)
        for m, d in zip(months, days, strict=True):
            rows.append((owner, str(m), float(quota) * d / days.sum()))
    per = pd.DataFrame(rows, columns=["owner", "period", "target"]).groupby(["owner", "period"])["target"].sum()
    per = per.reset_index()
    out = [per.assign(segment="owner=" + per["owner"])]
    if owner_team is not None:
        tm = per.merge(owner_team, on="owner", how="left").dropna(subset=["team"])
        tt = tm.groupby(["team", "period"])["target"].sum().reset_index()
        out.append(tt.assign(segment="team=" + tt["team"]))
    tot = per.groupby("period")["target"].sum().reset_index()
    out.append(tot.assign(segment="all"))
    res = pd.concat(out, ignore_index=True).assign(kpi="won_revenue", source="quotas")
    return res[TARGET_COLUMNS].sort_values(["kpi", "segment", "period"]).reset_index(drop=True)


def attainment(series: pd.DataFrame, targets: pd.DataFrame, *, period: str = "M") -> pd.DataFrame:
    """Actual vs target per KPI × segment × period, with a run-rate projection for a partial period.

    Attainment is ``actual / target`` when higher is better and ``target / actual`` when lower is better
    (CAC, response time). For counts and totals the projection scales the period-to-date actual by
    days in the period / days elapsed (run rate); a rate or mean has no run rate, its projection is the
    current value.

    Returns
    -------
    DataFrame ``kpi, segment, period, target, source, actual, partial, projected, attainment,
    projected_attainment, status`` (``met`` / ``missed`` for complete periods; ``on track`` /
    ``behind`` on the projection for partial ones; ``no actual`` when the series has no such period).
    """
    cols = ["kpi", "segment", "period", "target", "source", "actual", "partial", "projected", "attainment",
            "projected_attainment", "status"]
    if targets is None or not len(targets) or series is None or not len(series):
        return pd.DataFrame(columns=cols)
    period = ms.check_period(period)
    t = targets.copy()
    t["period"] = [parse_review(p, period) for p in t["period"]]
    s = series[["kpi", "segment", "period", "value", "partial", "days", "period_end"]]
    m = t.merge(s, on=["kpi", "segment", "period"], how="left")
    full_days = (pd.to_datetime(m["period_end"]) - m["period"]).dt.days + 1
    additive = m["kpi"].map(lambda k: KPI_SPECS[k].kind in ("count", "sum") if k in KPI_SPECS else False)
    direction = m["kpi"].map(lambda k: KPI_SPECS[k].direction if k in KPI_SPECS else 1)
    m["actual"] = m["value"]
    part = m["partial"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    m["projected"] = np.where(part & additive.to_numpy(dtype=bool), m["value"] * full_days / m["days"], m["value"])

    def att(a, tg, d):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(d > 0, a / tg, tg / a)
    m["attainment"] = att(m["actual"], m["target"], direction)
    m["projected_attainment"] = att(m["projected"], m["target"], direction)
    m["status"] = np.where(m["actual"].isna(), "no actual", np.where(
        part, np.where(m["projected_attainment"] >= 1, "on track", "behind"),
        np.where(m["attainment"] >= 1, "met", "missed")))
    m["partial"] = part
    return m[cols].sort_values(["kpi", "segment", "period"], kind="stable").reset_index(drop=True)


def default_targets(ds, *, year: int, growth: float = 0.10) -> pd.DataFrame:
    """A rule-based targets table for ``year`` (months) from the year before — how the sample
    ``data/sample/targets.csv`` was made:

    * ``won_revenue`` and ``new_customers``, overall and per team / channel: same month of the previous
      year × (1 + ``growth``), rounded to 1,000 (revenue) or to a whole customer;
    * ``win_rate``, overall and per team: the previous year's win rate, rounded to 0.01;
    * ``csat_satisfied_share`` overall: the previous year's share satisfied, rounded to 0.01.
    """
    s = kpi_series(ds, period="M", kpis=["won_revenue", "new_customers", "win_rate", "csat_satisfied_share"])
    prev = s[s["period"].dt.year == year - 1]
    keep = prev["segment"].eq("all") | prev["segment"].str.startswith(("team=", "channel="))
    prev = prev[keep]
    rows = []
    for r in prev[prev["kpi"].isin(["won_revenue", "new_customers"])].itertuples(index=False):
        v = r.value * (1 + growth)
        v = round(v / 1000) * 1000 if r.kpi == "won_revenue" else round(v)
        rows.append((r.kpi, r.segment, f"{year}-{r.period.month:02d}", float(v)))
    for kpi in ("win_rate", "csat_satisfied_share"):
        g = prev[prev["kpi"] == kpi].groupby("segment")[["successes", "n"]].sum()
        for seg, r in g.iterrows():
            if kpi == "csat_satisfied_share" and seg != "all":
                continue
            if r["n"] > 0:
                for mth in range(1, 13):
                    rows.append((kpi, seg, f"{year}-{mth:02d}", round(r["successes"] / r["n"], 2)))
    out = pd.DataFrame(rows, columns=["kpi", "segment", "period", "target"])
    return out.sort_values(["kpi", "segment", "period"], kind="stable").reset_index(drop=True)




def write_default_targets(ds, path, *, year: int, growth: float = 0.10) -> Path:
    """Write :func:`default_targets` as a ``targets.csv`` (kpi, segment, period, target)."""
    p = Path(path)
    default_targets(ds, year=year, growth=growth).to_csv(p, index=False, float_format="%.10g")
    return p
