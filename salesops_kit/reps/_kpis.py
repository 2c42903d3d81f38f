"""The rep KPIs of a Dataset (see :mod:`salesops_kit.kpis`): shrunk rates per rep, response time, quota
attainment and CSAT per rep and the number of flagged reps, read from :func:`~.scorecard.scorecard` and
:func:`~.scorecard.compare_reps`, beside them rather than inside."""

from __future__ import annotations

import narwhals as nw
import numpy as np
import pandas as pd

from ..data.currency import converted, currency_of, needs_split
from .scorecard import (
    LEAD_MATURITY_DAYS,
    MIN_N,
    RepComparison,
    Scorecard,
    compare_reps,
    quota_window_label,
    scorecard,
)

__all__ = ["kpi_rows"]


def kpi_rows(ds, *, card: Scorecard | None = None, comp: RepComparison | None = None) -> list[dict]:
    """Rep KPIs per owner (``owner=NAME``) and ``reps_flagged`` overall; [] without opportunities.

    ``card`` / ``comp``: :func:`scorecard` and :func:`compare_reps` of ``ds`` already computed (notebook 04
    passes its own); each is used when it was made with the default arguments the KPI definitions assume
    (current period, default maturity, ``min_n`` and ``alpha``, every metric), and computed here otherwise.
    """
    from ..engines.ops import lazy

    if ds.opportunities is None or lazy(ds.opportunities).select(nw.len()).collect().item() == 0:  # any engine
        return []
    # quota attainment in the report currency with rates (a scorecard of the unconverted data is not reused); over
    # several currencies without rates it is left out (won amounts in different currencies cannot meet one quota)
    rates, split = bool(currency_of(ds).rates), needs_split(ds, "opportunities")
    default_card = {"period": None, "maturity_days": LEAD_MATURITY_DAYS}
    card = card if card is not None and card.settings == default_card and not rates else scorecard(converted(ds))
    default_comp = {"scorecard": default_card, "min_n": MIN_N, "alpha": 0.05, "metrics": None}
    comp = comp if comp is not None and comp.settings == default_comp else compare_reps(ds, card=card)
    rows: list[dict] = []
    windows = kpi_windows(ds, card)
    for metric, kpi in (("win_rate", "win_rate_shrunk"), ("lead_conversion_rate", "lead_conversion_rate_shrunk")):
        for r in comp.table[comp.table["metric"] == metric].itertuples(index=False):
            rows.append({"kpi": kpi, "segment": f"owner={r.owner}", "value": r.shrunk_rate,
                         "ci_low": r.shrunk_low, "ci_high": r.shrunk_high, "window": windows[kpi]})
    t = card.table
    c = card.counts
    for col in ("first_response_median_hours", "quota_attainment", "csat_mean"):
        if col in card.notes or (split and col == "quota_attainment"):
            continue
        for i, (owner, v) in enumerate(zip(t["owner"], t[col], strict=True)):
            if pd.isna(v):
                continue
            row = {"kpi": col, "segment": f"owner={owner}", "value": float(v), "window": windows[col]}
            if col == "csat_mean":
                row["ci_low"], row["ci_high"] = _mean_ci(c["csat_sum"][i], c["csat_sumsq"][i], c["csat_responses"][i])
            rows.append(row)
    if len(comp.table) and comp.table["p_value"].notna().any():  # 0 flagged means something only if reps were tested
        rows.append({"kpi": "reps_flagged", "segment": "all", "value": comp.flagged()["owner"].nunique(),
                     "window": windows["reps_flagged"]})
    return rows


def kpi_windows(ds, card: Scorecard, lang: str | None = "en") -> dict[str, str]:
    """The window of each rep KPI (kpis.csv and the findings quoting them): the scorecard's period for deals and
    CSAT, the mature leads (:func:`salesops_kit.funnel.lead_maturity_window`) for lead figures, and the complete
    quota periods of :func:`~.scorecard.quota_window` for quota attainment."""
    from ..funnel.metrics import lead_maturity_window
    from ..i18n import t

    period = t("all history", lang) if card.settings.get("period") is None else card.period
    leads = lead_maturity_window(ds.as_of, card.settings.get("maturity_days", LEAD_MATURITY_DAYS), lang=lang)
    quota = quota_window_label(card.quota_window, lang) if card.quota_window is not None else ""
    return {"win_rate_shrunk": period, "csat_mean": period, "reps_flagged": period,
            "lead_conversion_rate_shrunk": leads, "first_response_median_hours": leads, "quota_attainment": quota}


def _mean_ci(total: float, sumsq: float, n: float, level: float = 0.95):
    """Student-t interval of a mean from its sum and sum of squares (NaN for n < 2)."""
    from scipy import stats as st

    if n < 2:
        return np.nan, np.nan
    mean = total / n
    var = max((sumsq - n * mean**2) / (n - 1), 0.0)
    half = st.t.ppf(0.5 + level / 2, n - 1) * np.sqrt(var / n)
    return float(mean - half), float(mean + half)
