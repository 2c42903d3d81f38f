"""The rep coaching notebook's tables, built for reading (:func:`salesops_kit.tools.show_table`): words for column
names, money with its currency code, rates as percentages, the quota attainment's window in its header, response
bands in the report language. The frames behind them keep their numbers (``card.table``, ``comp.table``, ...)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..tools.tables import Table, show_table
from .drivers import Drivers
from .scorecard import COMPARED_METRICS, RepComparison, Scorecard, quota_window_label

__all__ = ["scorecard_table", "differences_table", "response_tables", "late_response_table", "by_currency_table"]

# scorecard column -> (header, unit); "%" shows a rate as a percentage, "CODE" is replaced by the currency code
_SCORECARD = {
    "owner": ("rep", None), "team": ("team", None), "deals_closed": ("deals closed", None),
    "won_revenue": ("won revenue", "CODE"), "win_rate": ("win rate", "%"), "win_rate_team": ("team win rate", "%"),
    "avg_won_deal_size": ("average won deal", "CODE"), "cycle_median_days": ("median days to win", None),
    "lead_conversion_rate": ("lead conversion", "%"), "first_response_median_hours": ("median first response", "h"),
    "activities_per_deal": ("activities per deal", None), "csat_mean": ("CSAT mean", None),
    "quota_attainment": ("quota attainment", "%"), "pipeline_coverage": ("pipeline coverage", "×"),
}


def _shown(frame: pd.DataFrame, spec: dict, currency: str | None, *, lang=None, **kwargs) -> Table:
    from ..i18n import t, tr

    cols = [c for c in spec if c in frame.columns]
    df = frame[cols].copy()
    units, names = {}, {}
    for c in cols:
        header, unit = spec[c]
        header = t(header, lang)
        if c == "quota_attainment" and kwargs.get("quota_window"):
            header = tr("{label}, {window}", lang=lang, label=header, window=kwargs["quota_window"])
        names[c] = header
        if unit == "CODE":
            unit = currency or None
        elif unit == "h":
            unit = t("hours", lang) if t("hours", lang) != "hours" else "h"
        if unit is not None:
            units[header] = unit
        if unit is not None and unit != "%" and not pd.api.types.is_numeric_dtype(df[c]):
            units.pop(header)  # a column of "not available" sentences has no unit
    df = df.rename(columns=names)
    return show_table(df, units=units, percent=[h for h, u in units.items() if u == "%"], lang=lang, words=False,
                      caption=kwargs.get("caption"), max_rows=kwargs.get("max_rows"))


def scorecard_table(card: Scorecard, *, currency: str | None = None, lang: str | None = None) -> Table:
    """The scorecard a manager reads: one row per rep, the columns whose table exists, money with its code, the
    quota attainment's window (:func:`~.scorecard.quota_window`) in its header; the other columns cover the
    scorecard's period (the caption says which)."""
    from ..i18n import t as t_
    from ..i18n import tr

    t = card.table
    cols = [c for c in _SCORECARD if c in t.columns and c not in card.notes]
    window = quota_window_label(card.quota_window, lang) if card.quota_window is not None else ""
    parts = [tr("Deals and CSAT: {period}.", lang=lang, period=card.period) if "csat_mean" in cols else
             tr("Deals: {period}.", lang=lang, period=card.period)]
    if "lead_conversion_rate" in cols:
        parts.append(tr("Leads: those at least {days} days old.", lang=lang,
                        days=int(card.settings.get("maturity_days", 90))))
    caption = " ".join(parts)
    shown = t[cols].copy()
    if "team" in shown and (shown["team"] == "all").all():  # no team column in the export: one team, "all"
        shown["team"] = t_("all", lang)
    return _shown(shown, _SCORECARD, currency, lang=lang, quota_window=window, caption=caption)


def by_currency_table(card: Scorecard, *, lang: str | None = None) -> Table:
    """Won revenue and open pipeline per rep and currency (several currencies, no exchange rates): each amount is
    written with its own code."""
    from ..i18n import format_money, t

    b = card.by_currency

    def money(col: str) -> list[str]:
        return [format_money(v, c, lang) for v, c in zip(b[col], b["currency"], strict=True)]

    out = pd.DataFrame({t("rep", lang): b["owner"].to_numpy(), t("deals won", lang): b["deals_won"].to_numpy(),
                        t("won revenue", lang): money("won_revenue"),
                        t("average won deal", lang): money("avg_won_deal_size"),
                        t("open deals", lang): b["open_deals"].to_numpy(),
                        t("open pipeline", lang): money("open_pipeline")})
    return show_table(out, lang=lang, words=False, max_rows=40)


def _verdict(row, alpha: float, lang=None) -> str:
    from ..i18n import t

    if row.status == "below":
        return t("below the rest", lang)
    if row.status == "above":
        return t("above the rest", lang)
    if row.p_value < alpha:
        return t("within normal variation after the false-discovery correction", lang)
    return t("within normal variation", lang)


def differences_table(comp: RepComparison, *, lang: str | None = None) -> Table | None:
    """The reps whose own test has p < alpha: those below or above the rest after the false-discovery correction,
    and those "within normal variation" only because of it (the verdict says which). None when there are none."""
    from ..i18n import t

    tb = comp.table
    if not len(tb):
        return None
    d = tb[tb["eligible"].astype(bool) & (tb["p_value"] < comp.alpha)].copy()
    if not len(d):
        return None
    d = d.sort_values(["q_value", "owner"])
    out = pd.DataFrame({
        t("rep", lang): d["owner"].to_numpy(),
        t("metric", lang): [t(COMPARED_METRICS[m][2], lang) for m in d["metric"]],
        t("rate", lang): d["rate"].to_numpy(),
        t("rest of the company", lang): d["rest_rate"].to_numpy(),
        t("shrunk rate", lang): d["shrunk_rate"].to_numpy(),
        t("95% interval low", lang): d["shrunk_low"].to_numpy(),
        t("95% interval high", lang): d["shrunk_high"].to_numpy(),
        "p": d["p_value"].to_numpy(), "q": d["q_value"].to_numpy(),
        t("verdict", lang): [_verdict(r, comp.alpha, lang) for r in d.itertuples(index=False)],
    })
    pct = list(out.columns[2:7])
    return show_table(out, percent=pct, units={c: "%" for c in pct}, lang=lang, words=False)


def _band_column(frame: pd.DataFrame, col: str, lang) -> pd.Series:
    from ..i18n import t

    return frame[col].astype(object).map(lambda v: v if v is None or (isinstance(v, float) and np.isnan(v))
                                         else t(str(v), lang))


def response_tables(drv: Drivers, *, lang: str | None = None) -> list[Table]:
    """Lead conversion by first-response band and by logged activities (95% Wilson intervals), and the logistic
    model's odds ratios with readable terms; a table with no rows is left out."""
    from ..i18n import t

    out = []
    for frame, col, header in ((drv.by_response, "response_band", "first response"),
                               (drv.by_activity, "activity_band", "activities logged on the lead")):
        if not len(frame):
            continue
        d = pd.DataFrame({t(header, lang): _band_column(frame, col, lang).to_numpy(),
                          t("leads", lang): frame["leads"].to_numpy(),
                          t("converted", lang): frame["converted"].to_numpy(),
                          t("conversion", lang): frame["rate"].to_numpy(),
                          t("95% interval low", lang): frame["rate_low"].to_numpy(),
                          t("95% interval high", lang): frame["rate_high"].to_numpy()})
        pct = list(d.columns[3:])
        out.append(show_table(d, percent=pct, units={c: "%" for c in pct}, lang=lang, words=False))
    if len(drv.model):
        m = drv.model
        d = pd.DataFrame({t("term", lang): [_term(x, lang) for x in m["term"]],
                          t("odds ratio", lang): m["odds_ratio"].to_numpy(),
                          t("95% interval low", lang): m["ci_low"].to_numpy(),
                          t("95% interval high", lang): m["ci_high"].to_numpy(), "p": m["p_value"].to_numpy()})
        out.append(show_table(d, lang=lang, words=False, decimals={c: 2 for c in d.columns[1:4]}))
    return out


def _term(term: str, lang) -> str:
    """``response_after 24 h`` -> ``first response: after 24 h``; ``activities_1`` -> ``activities logged on the
    lead: 1``; ``source_Partner`` -> ``source: Partner`` (the baseline of each is the first band / source)."""
    from ..i18n import t

    for prefix, label in (("response_", "first response"), ("activities_", "activities logged on the lead"),
                          ("source_", "source")):
        if term.startswith(prefix):
            return f"{t(label, lang)}: {t(term[len(prefix):], lang)}"
    return term


def late_response_table(drv: Drivers, *, lang: str | None = None) -> Table | None:
    """Per rep: mature leads, conversion, share answered after 24 h or never (and the rest's), its q-value, and the
    conversion its response mix predicts at the company's band rates. None without leads."""
    from ..i18n import t

    r = drv.by_rep
    if not len(r):
        return None
    d = pd.DataFrame({t("rep", lang): r["owner"].to_numpy(), t("leads", lang): r["leads"].to_numpy(),
                      t("conversion", lang): r["rate"].to_numpy(),
                      t("answered after 24 h or never", lang): r["late_share"].to_numpy(),
                      t("late, rest of the company", lang): r["late_share_rest"].to_numpy(),
                      "q": r["late_q"].to_numpy(),
                      t("conversion expected from the response mix", lang): r["expected_from_response"].to_numpy()})
    if r["activities_per_lead"].notna().any():
        d[t("activities per lead", lang)] = r["activities_per_lead"].to_numpy()
    pct = [d.columns[i] for i in (2, 3, 4, 6)]
    return show_table(d, percent=pct, units={c: "%" for c in pct}, lang=lang, words=False)
