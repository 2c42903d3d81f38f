"""Behaviour drivers of rep outcomes (issue 6); the ranked coaching findings built on them are in
:mod:`._findings`.

At lead level: how first-response time and the number of logged activities relate to lead
conversion, across the company (stratified rates with Wilson intervals and a grouped logistic
regression with statsmodels) and per rep. These are associations in observational CRM data, not
causes: a rep who answers late may also get worse leads. Every sentence built here says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..funnel.metrics import LEAD_MATURITY_DAYS, lead_maturity_cutoff
from ..stats import bh_adjust, fisher_vs_rest, wilson_interval
from ..tools.results import Result
from . import _scans as scans
from .scorecard import period_bounds

__all__ = ["Drivers", "response_drivers", "EXPLAINED_MIN"]

EXPLAINED_MIN = 0.25  # a behaviour "goes with" a gap when its mix accounts for at least this share
_LATE = 3  # response band index "after 24 h"


def _rates(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    g = df.groupby(keys, observed=True, sort=True)[["leads", "converted"]].sum().reset_index()
    g["rate"] = g["converted"] / g["leads"]
    g["rate_low"], g["rate_high"] = wilson_interval(g["converted"].to_numpy(float), g["leads"].to_numpy(float))
    return g


@dataclass(frozen=True, repr=False)
class Drivers(Result):
    """Lead-level drivers of conversion.

    Attributes
    ----------
    cells : leads per owner x source x response_band x activity_band (leads, converted, hours_sum).
    by_response : company-wide conversion per response band (response_band, leads, converted, rate,
        rate_low, rate_high).
    by_activity : the same per activity band (empty without activities linked to leads).
    by_rep_response : the same per owner x response band.
    model : grouped logistic regression of conversion on response band, activity band and lead
        source: term, odds_ratio, ci_low, ci_high, p_value (empty when it cannot be fitted).
    by_rep : per owner: leads, converted, rate, late_share (answered after 24 h or never),
        late_share_rest, late_q (BH over reps of a Fisher test of late_share vs the rest),
        activities_per_lead (+ _rest), expected_from_response / expected_from_activity (the rep's
        conversion predicted from its mix at the company's band rates), company_rate.
    """

    cells: pd.DataFrame
    by_response: pd.DataFrame
    by_activity: pd.DataFrame
    by_rep_response: pd.DataFrame
    model: pd.DataFrame
    by_rep: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        return self.by_response

    def headline(self) -> str:
        from ..i18n import tr  # in the report language

        b = self.by_response.set_index("response_band")
        if not {"within 1 h", "after 24 h"} <= set(b.index):
            return tr("Not enough answered leads to compare response times.")
        f, s = b.loc["within 1 h"], b.loc["after 24 h"]
        return tr("Leads answered within 1 h converted at {fast:.1%} (95% CI {fast_low:.1%}-{fast_high:.1%}) vs "
                  "{slow:.1%} ({slow_low:.1%}-{slow_high:.1%}) when answered after 24 h: an association, not proof "
                  "of cause.", fast=f["rate"], fast_low=f["rate_low"], fast_high=f["rate_high"], slow=s["rate"],
                  slow_low=s["rate_low"], slow_high=s["rate_high"])

    def explained(self, owner: str, behaviour: str = "response") -> float:
        """Share of the rep's lead-conversion gap to the company that its response (or activity) mix
        accounts for at the company's band rates; NaN when there is no gap below the company."""
        r = self.by_rep.set_index("owner").loc[owner]
        gap = r["company_rate"] - r["rate"]
        exp = r[f"expected_from_{behaviour}"]
        if not gap > 0 or pd.isna(exp):
            return float("nan")
        return float((r["company_rate"] - exp) / gap)

    def associated_behaviour(self, owner: str, *, alpha: float = 0.05) -> str | None:
        """The behaviour that goes with a rep's lead-conversion gap, or None.

        ``"first-response time"`` when the rep answers late (share answered after 24 h or never above
        the rest at BH q < ``alpha``) and the rep's response mix, at the company's conversion per
        response band, accounts for at least ``EXPLAINED_MIN`` of the gap; ``"activity per lead"``
        when the rep logs fewer activities per lead and its activity mix accounts for at least that
        share (and more than response time does). An association, never a proven cause.
        """
        if owner not in set(self.by_rep["owner"]):
            return None
        d = self.by_rep.set_index("owner").loc[owner]
        resp, act = self.explained(owner, "response"), self.explained(owner, "activity")
        late = bool(d["late_q"] < alpha and d["late_share"] > d["late_share_rest"])
        act_low = bool(pd.notna(d["activities_per_lead"]) and d["activities_per_lead"] < d["activities_per_lead_rest"])
        resp_ok = late and pd.notna(resp) and resp >= EXPLAINED_MIN
        act_ok = act_low and pd.notna(act) and act >= EXPLAINED_MIN
        if resp_ok and not (act_ok and act > resp):
            return "first-response time"
        if act_ok:
            return "activity per lead"
        return None

    def plot(self, ax=None, **kwargs):
        from ..plots.reps import plot_response_conversion

        return plot_response_conversion(self, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        from ..findings import escape_html

        return f"<p>{escape_html(self.headline())}</p>" + self.by_response.round(4).to_html(index=False)


def _logit(cells: pd.DataFrame) -> pd.DataFrame:
    # the modules themselves, not statsmodels.api (which imports all of statsmodels: 0.25 s more per kernel)
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM
    from statsmodels.tools.tools import add_constant

    cols = ["term", "odds_ratio", "ci_low", "ci_high", "p_value"]
    d = cells.groupby(["source", "response_band", "activity_band"], observed=True, dropna=False)[
        ["leads", "converted"]].sum().reset_index()
    d = d[d["leads"] > 0]
    parts = [pd.get_dummies(d["response_band"].astype(str), prefix="response", dtype=float)
             .drop(columns="response_within 1 h", errors="ignore")]
    if d["activity_band"].notna().all():
        parts.append(pd.get_dummies(d["activity_band"].astype(str), prefix="activities", dtype=float)
                     .drop(columns="activities_0", errors="ignore"))
    src = pd.get_dummies(d["source"].astype(str), prefix="source", dtype=float)
    parts.append(src.iloc[:, 1:])
    X = add_constant(pd.concat(parts, axis=1), has_constant="add")
    y = np.column_stack([d["converted"], d["leads"] - d["converted"]])
    if len(d) <= X.shape[1] or d["converted"].sum() == 0:
        return pd.DataFrame(columns=cols)
    try:
        res = GLM(y, X, family=families.Binomial()).fit()
    except Exception:  # noqa: BLE001 - perfect separation etc.: report no model rather than crash
        return pd.DataFrame(columns=cols)
    ci = res.conf_int()
    out = pd.DataFrame({"term": X.columns, "odds_ratio": np.exp(res.params.to_numpy()),
                        "ci_low": np.exp(ci[0].to_numpy()), "ci_high": np.exp(ci[1].to_numpy()),
                        "p_value": res.pvalues.to_numpy()})
    return out[out["term"] != "const"].reset_index(drop=True)


def response_drivers(dataset, *, period=None, maturity_days: int = LEAD_MATURITY_DAYS) -> Drivers:
    """How first-response time and activity relate to lead conversion, company-wide and per rep.

    Needs ``leads`` with ``owner``; ``first_response_date`` for response bands and ``activities``
    with ``lead_id`` for activity bands (either may be missing: its tables come back empty).
    Leads count when created in the period and at least ``maturity_days`` before the as-of date.
    """
    dataset.require("leads", purpose="the response-time drivers")
    leads = dataset.leads
    as_of = pd.Timestamp(dataset.as_of)
    start, end, _ = period_bounds(period, as_of)
    cutoff = min(end, lead_maturity_cutoff(as_of, maturity_days))
    cells = scans.lead_cells(leads, start=start, end=cutoff, cutoff=cutoff, activities=dataset.activities)
    cells = cells[cells["owner"].notna()].reset_index(drop=True)
    has_resp = "first_response_date" in leads.columns
    has_act = cells["activity_band"].notna().any()
    by_resp = _rates(cells, ["response_band"]) if has_resp else _rates(cells.iloc[:0], ["response_band"])
    by_act = _rates(cells, ["activity_band"]) if has_act else _rates(cells.iloc[:0], ["activity_band"])
    by_rep_resp = _rates(cells, ["owner", "response_band"]) if has_resp else _rates(cells.iloc[:0],
                                                                                  ["owner", "response_band"])
    model = _logit(cells if has_act else cells.assign(activity_band=np.nan)) if has_resp else pd.DataFrame(
        columns=["term", "odds_ratio", "ci_low", "ci_high", "p_value"])

    rep = cells.groupby("owner", sort=True)[["leads", "converted"]].sum()
    company = rep["converted"].sum() / max(rep["leads"].sum(), 1)
    rep["rate"] = rep["converted"] / rep["leads"]
    rep["company_rate"] = company
    late = cells[cells["response_band"].cat.codes >= _LATE].groupby("owner")["leads"].sum()
    rep["late"] = late.reindex(rep.index).fillna(0).astype(int)
    rep["late_share"] = rep["late"] / rep["leads"]
    if has_resp and len(rep):
        p, rest = fisher_vs_rest(rep["late"].to_numpy(), rep["leads"].to_numpy())
        rep["late_share_rest"], rep["late_q"] = rest, bh_adjust(p)
    else:
        rep["late_share_rest"], rep["late_q"] = np.nan, np.nan
    for name, col, ok in (("response", "response_band", has_resp), ("activity", "activity_band", has_act)):
        if not ok:
            rep[f"expected_from_{name}"] = np.nan
            continue
        band_rate = cells.groupby(col, observed=True)[["converted", "leads"]].sum()
        band_rate = band_rate["converted"] / band_rate["leads"]
        mix = cells.groupby(["owner", col], observed=True)["leads"].sum().reset_index()
        mix["exp"] = mix["leads"] * mix[col].map(band_rate).astype(float)
        rep[f"expected_from_{name}"] = mix.groupby("owner")["exp"].sum() / rep["leads"]
    if has_act:
        acts = cells.assign(a=cells["activity_band"].cat.codes.clip(lower=0) * cells["leads"])
        a = acts.groupby("owner")["a"].sum()
        rep["activities_per_lead"] = a / rep["leads"]
        rep["activities_per_lead_rest"] = (a.sum() - a) / (rep["leads"].sum() - rep["leads"])
    else:
        rep["activities_per_lead"] = rep["activities_per_lead_rest"] = np.nan
    rep = rep.reset_index()
    return Drivers(cells, by_resp, by_act, by_rep_resp, model, rep)
