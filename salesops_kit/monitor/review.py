"""KPI monitoring: a periodic operating review (issue 9).

``review(ds, period="M")`` answers "what changed this period, is it real, and who needs to act?":

* :func:`kpi_series` — every monitored KPI per week / month / quarter, overall and by segment, with its
  95% interval; the period not over at ``as_of`` is marked ``partial``;
* :func:`changes` — period over period and year over year, each with the test that fits the KPI
  (two-proportion test for rates, bootstrap for means and medians, exact Poisson for counts,
  compound-Poisson z for totals, multinomial z for NPS) and Benjamini–Hochberg q-values;
* :func:`attainment` — actual vs target (``targets.csv``: kpi, segment, period, target; and quotas as
  won-revenue targets per rep, team and company) with a run-rate projection to the period end;
* alerts — control limits (``salesops_kit.stats.control``: p-chart, u-chart, EWMA) with false-discovery
  control across all KPI × segment series, each alert a :class:`~salesops_kit.findings.Finding`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.currency import converted, needs_split, report_currency
from ..findings import Findings
from ..stats.control import control_limits, flag_alerts
from ..stats.kpi_specs import KPI_SPECS, KPISpec, fmt
from ..tools.results import Result
from . import _series as ms
from ._changes import CHANGE_COLUMNS, change_sentence, changes, seasonal_factors, with_season
from ._findings import limits_text, review_findings
from ._series import (
    kpi_series,
    last_complete_period,
    owner_teams,
    parse_review,
    row_count,
    shift_period,
)
from .targets import (
    TARGET_COLUMNS,
    attainment,
    default_targets,
    read_targets,
    targets_from_quotas,
    write_default_targets,
)

__all__ = ["KPI_SPECS", "KPISpec", "kpi_series", "changes", "change_sentence", "fmt", "read_targets",
           "targets_from_quotas", "attainment", "default_targets", "write_default_targets", "seasonal_factors",
           "review", "MonitorReview", "last_complete_period", "limits_text",
           "CHANGE_COLUMNS", "TARGET_COLUMNS"]

# ---- the review -----------------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class MonitorReview(Result):
    """One periodic review: series, control limits with alerts, changes and targets.

    Fields: ``period`` (W/M/Q), ``review`` (start of the reviewed period), ``as_of``, ``window``
    (periods judged for alerts), ``series`` (:func:`kpi_series`), ``limits`` (control statistics of every
    point, with ``lcl, ucl, alert``), ``changes`` (:func:`changes`), ``attainment`` (:func:`attainment`),
    ``notes`` (plain sentences about what could not be done: missing tables, targets, one period).
    """

    period: str
    review: pd.Timestamp
    as_of: pd.Timestamp
    window: tuple
    series: pd.DataFrame
    limits: pd.DataFrame
    changes: pd.DataFrame
    attainment: pd.DataFrame
    alpha: float = 0.05
    seasonal: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: tuple = field(default_factory=tuple)
    teams: tuple = field(default_factory=tuple)  # (owner, team) pairs, to name who acts
    currency: str = ""  # the code of the money KPIs ("" when unknown or when deals mix currencies without rates)

    @property
    def name(self) -> str:
        """The reviewed period as a manager reads it: ``November 2025`` (``2025年11月`` in Chinese)."""
        return ms.period_name(self.review, self.period)

    def period_name(self, start) -> str:
        """Any period of this review's frequency by name (``June 2025``)."""
        return ms.period_name(start, self.period)

    @property
    def next_name(self) -> str:
        """The period after the review (the one still running at the as-of date, usually)."""
        return ms.period_name(shift_period(self.review, self.period, -1), self.period)

    @property
    def n_judged(self) -> int:
        """KPI × segment × period points judged together for alerts in the review window."""
        return int(self.limits.attrs.get("tests", 0)) if self.limits is not None else 0

    def z_star(self, df: float = np.inf) -> float:
        """The one alert rule: a judged point alerts when |z| ≥ z*, the cut-off at which Benjamini–Hochberg keeps
        it across every point judged (``n_judged``); its control limits are drawn at centre ± z* sigma (Student t
        with ``df`` degrees of freedom for X̄-charts of few answers, else normal)."""
        from scipy import stats as st

        cut = self.limits.attrs.get("z_star_cut") if self.limits is not None else None
        if not cut:
            return float("nan")
        return float(st.t.isf(cut / 2, df)) if np.isfinite(df) else float(st.norm.isf(cut / 2))

    def n_tests(self, comparison: str = "pop") -> int:
        """Changes tested together (one Benjamini–Hochberg family) for ``comparison`` (pop / yoy)."""
        ch = self.changes
        return int((ch["p_value"].notna() & (ch["comparison"] == comparison)).sum()) if len(ch) else 0

    def change_text(self, row) -> str:
        """:func:`change_sentence` of a row of ``changes`` with this review's alpha and number of tests."""
        return change_sentence(row, KPI_SPECS[row.kpi], alpha=self.alpha, n_tests=self.n_tests(row.comparison))

    @property
    def charts_reason(self) -> str:
        """One sentence when no KPI series has a control limit (too few complete periods before the review): the
        control charts are not drawn and no alert can be raised; "" when at least one point is judged."""
        from ..i18n import tr

        lim = self.limits
        if lim is not None and len(lim) and "testable" in lim and lim["testable"].astype(bool).any():
            return ""
        n = self.series["period"].nunique() if len(self.series) else 0
        return tr("No control chart: no KPI has enough complete periods before the review for control limits "
                  "({n} period(s) of data), so no alert can be raised yet.", n=n)

    @property
    def yoy_reason(self) -> str:
        """One sentence when no company KPI has a value a year before the review period; "" otherwise."""
        from ..i18n import tr

        ch = self.changes
        yoy = ch[(ch["segment"] == "all") & (ch["comparison"] == "yoy")] if len(ch) else ch
        if len(yoy) and yoy["base_value"].notna().any():
            return ""
        return tr("No year-over-year comparison: the data has no period a year before {label}.", label=self.name)

    @property
    def label(self) -> str:
        return str(self.review.to_period(ms.FREQ[self.period]))

    @property
    def alerts(self) -> pd.DataFrame:
        """Alerted points: ``kpi, segment, period, value, stat, center, sigma, lcl, ucl, z, p_value, q_value,
        direction, adverse, chart`` sorted by kpi, segment, period."""
        cols = ["kpi", "segment", "period", "value", "stat", "center", "sigma", "lcl", "ucl", "z", "p_value",
                "q_value", "direction", "adverse", "chart"]
        if self.limits is None or not len(self.limits):
            return pd.DataFrame(columns=cols)
        a = self.limits[self.limits["alert"]].copy()
        a["adverse"] = [np.sign(z) != KPI_SPECS[k].direction for k, z in zip(a["kpi"], a["z"], strict=True)]
        return a[cols].reset_index(drop=True)

    def scorecard(self, segment: str = "all") -> pd.DataFrame:
        """One row per KPI of ``segment``: ``kpi, this_period, last_period, change, p_value, verdict,
        target, attainment, status`` (raw numbers; format at display time)."""
        ch = self.changes
        pop = ch[(ch["segment"] == segment) & (ch["comparison"] == "pop")].set_index("kpi")
        at = self.attainment
        at = at[(at["segment"] == segment) & (at["period"] == self.review)].set_index("kpi") if len(at) else at
        al = self.alerts
        rows = []
        for kpi in KPI_SPECS:
            if kpi not in pop.index:
                continue
            r = pop.loc[kpi]
            alerted = bool(len(al) and ((al["kpi"] == kpi) & (al["segment"] == segment)
                                        & (al["period"] == self.review)).any())
            if r["note"]:
                verdict = r["note"]
            elif r["significant"]:
                verdict = "up" if r["change"] > 0 else "down"
            elif r["p_value"] < self.alpha:
                verdict = "not significant after the false-discovery correction"
            else:
                verdict = "within normal variation"
            tgt = at.loc[kpi] if len(at) and kpi in at.index else None
            status = "alert" if alerted else (tgt["status"] if tgt is not None else "no target")
            rows.append({"kpi": kpi, "this_period": r["value"], "last_period": r["base_value"], "change": r["change"],
                         "p_value": r["p_value"], "verdict": verdict,
                         "target": np.nan if tgt is None else tgt["target"],
                         "attainment": np.nan if tgt is None else tgt["attainment"], "status": status})
        return pd.DataFrame(rows, columns=["kpi", "this_period", "last_period", "change", "p_value", "verdict",
                                           "target", "attainment", "status"])

    def scorecard_text(self, segment: str = "all") -> pd.DataFrame:
        """The scorecard formatted for display (strings with units, in the report language): the columns name
        the reviewed period and the one before (``November 2025``, ``October 2025``)."""
        from ..i18n import t, tr

        sc = self.scorecard(segment)
        code = segment.split("=", 1)[1] if segment.startswith("currency=") else self.currency

        def label(k: str) -> str:
            money = KPI_SPECS[k].fmt == "money" and code
            return f"{t(KPI_SPECS[k].label)} ({code})" if money else t(KPI_SPECS[k].label)
        out = pd.DataFrame({t("KPI"): [label(k) for k in sc["kpi"]]})
        f = [KPI_SPECS[k].fmt for k in sc["kpi"]]
        this, last = self.name, ms.period_name(shift_period(self.review, self.period, 1), self.period)
        out[this] = [fmt(v, k) for v, k in zip(sc["this_period"], f, strict=True)]
        out[last] = [fmt(v, k) for v, k in zip(sc["last_period"], f, strict=True)]
        out[t("change")] = [("—" if pd.isna(v) else (tr("{x:+.1f} pts", x=v * 100) if k in ("pct", "nps") else
                            ("+" if v >= 0 else "−") + fmt(abs(v), k))) for v, k in zip(sc["change"], f, strict=True)]
        out["p"] = [("—" if pd.isna(p) else f"{p:.2g}" if p >= 0.001 else "< 0.001") for p in sc["p_value"]]
        out[t("target")] = [fmt(v, k) for v, k in zip(sc["target"], f, strict=True)]
        out[t("target attainment")] = ["—" if pd.isna(v) else f"{v:.0%}" for v in sc["attainment"]]
        out[t("status")] = sc["status"].map(lambda x: t({"met": "target met", "missed": "target missed"}.get(x, x)))
        n = self.n_tests("pop")
        out[t("signal")] = [tr("not significant after the false-discovery correction across {n} tests", n=n)
                            if v == "not significant after the false-discovery correction" else t(v)
                            for v in sc["verdict"]]
        return out.replace("–", "—")

    def scorecards_text(self) -> pd.DataFrame:
        """:meth:`scorecard_text` of the company, followed, when deals are in several currencies without rates, by
        each currency's scorecard (its money KPIs in that currency), the KPI column naming the segment."""
        from ..i18n import t

        segs = sorted(s for s in self.changes["segment"].unique() if s.startswith("currency=")) \
            if len(self.changes) else []
        frames = [self.scorecard_text("all")]
        for seg in segs:  # a money KPI names its currency already: "won revenue (COP)"
            f = self.scorecard_text(seg)
            code = seg.split("=", 1)[1]
            f[t("KPI")] = [k if k.endswith(f"({code})") else f"{k} · {code}" for k in f[t("KPI")]]
            frames.append(f)
        return pd.concat(frames, ignore_index=True)

    def changes_text(self, *, limit: int = 15) -> pd.DataFrame:
        """The changes significant after false-discovery control (q < alpha), strongest first, for display: KPI,
        segment, what it is compared with, before, after and the change in the KPI's units, q and the test."""
        from ..i18n import t, tr

        ch = self.changes
        sig = ch[ch["significant"]].sort_values("q_value").head(limit) if len(ch) else ch
        rows = []
        for r in sig.itertuples(index=False):
            f = KPI_SPECS[r.kpi].fmt
            change = tr("{x:+.1f} pts", x=r.change * 100) if f in ("pct", "nps") else \
                ("+" if r.change >= 0 else "−") + fmt(abs(r.change), f)
            rows.append([t(KPI_SPECS[r.kpi].label), t(r.segment),
                         self.period_name(shift_period(self.review, self.period,
                                                       1 if r.comparison == "pop" else ms.YEAR_LAG[self.period])),
                         fmt(r.base_value, f), fmt(r.value, f), change,
                         "< 0.001" if r.q_value < 0.001 else f"{r.q_value:.3f}", t(r.test)])
        return pd.DataFrame(rows, columns=[t("KPI"), t("segment"), t("compared with"), t("before"), self.name,
                                           t("change"), "q", t("test")])

    def csat_table(self, *, periods: int = 6) -> pd.DataFrame:
        """CSAT mean per segment (company, teams, reps) over the last ``periods`` complete periods up to the review,
        for display: one column per period by name; ``*`` marks a low-response period (never judged), ``—`` a
        period without answers."""
        from ..i18n import t

        cs = self.series[self.series["kpi"] == "csat_mean"] if len(self.series) else self.series
        if not len(cs):
            return pd.DataFrame(columns=[t("segment")])
        last = sorted(cs.loc[~cs["partial"] & (cs["period"] <= self.review), "period"].unique())[-periods:]
        c = cs[cs["period"].isin(last)]
        shown = [fmt(v, "score") + ("*" if low else "") for v, low in zip(c["value"], c["low_volume"], strict=True)]
        wide = c.assign(shown=shown).pivot(index="segment", columns="period", values="shown").reindex(columns=last)
        wide.columns = [self.period_name(p) for p in last]
        return wide.fillna("—").rename_axis(t("segment")).reset_index()

    def targets_text(self, *, segments=("all", "team="), running: bool = False) -> pd.DataFrame:
        """Target attainment of the reviewed period (``running=True``: the period still running at the as-of date,
        with its run-rate projection) for display: one row per KPI × segment, values with their units.

        Target attainment is actual / target (target / actual when lower is better) against ``targets.csv``, or
        against the quotas where the file has no won-revenue target; notebook 04's quota attainment is a rep's won
        revenue over complete quota periods, a different window."""
        from ..i18n import t

        at = self.attainment
        cols = [t("KPI"), t("segment"), t("period"), t("target"), t("actual"), t("target attainment"), t("status"),
                t("source")]
        if running:  # so far / target is not the attainment of a running period: its projection is shown
            cols[4:6] = [t("so far"), t("projected to period end"), t("projected attainment")]
        if not len(at):
            return pd.DataFrame(columns=cols)
        now = at[at["partial"]] if running else at[at["period"] == self.review]
        keep = now["segment"].map(lambda seg: any(seg == x or (x.endswith("=") and seg.startswith(x))
                                                  for x in segments))
        now = now[keep & now["kpi"].isin(list(KPI_SPECS))]
        rows = []
        for r in now.itertuples(index=False):
            spec = KPI_SPECS[r.kpi]
            code = (r.segment.split("=", 1)[1] if r.segment.startswith("currency=") else self.currency) \
                if spec.fmt == "money" else ""

            def v(x, code=code, spec=spec):
                return "—" if pd.isna(x) else (fmt(x, spec.fmt) + (f" {code}" if code else ""))
            row = [t(spec.label), t(r.segment), self.period_name(r.period), v(r.target)]
            if running:
                row += [v(r.actual), v(r.projected),
                        "—" if pd.isna(r.projected_attainment) else f"{r.projected_attainment:.0%}"]
            else:
                row += [v(r.actual), "—" if pd.isna(r.attainment) else f"{r.attainment:.0%}"]
            row += [t(r.status), t(r.source)]
            rows.append(row)
        return pd.DataFrame(rows, columns=cols)

    def alerts_text(self) -> pd.DataFrame:
        """The alerts of the review window for display: KPI, segment, period by name, value, centre and the drawn
        control limits with their units, z, q and direction."""
        from ..i18n import t

        a = self.alerts
        cols = [t("KPI"), t("segment"), t("period"), t("value"), t("centre"), t("control limits"), "z", "q",
                t("direction")]
        rows = []
        for r in a.itertuples(index=False):
            f = KPI_SPECS[r.kpi].fmt
            rows.append([t(KPI_SPECS[r.kpi].label), t(r.segment), self.period_name(r.period), fmt(r.value, f),
                         fmt(r.center, f), limits_text(r.value, r.lcl, r.ucl, f), f"{r.z:+.1f}",
                         "< 0.001" if r.q_value < 0.001 else f"{r.q_value:.3f}", t(r.direction)])
        return pd.DataFrame(rows, columns=cols)

    # ---- tables for the notebook and the report page (shown once, with a caption in the report language) ----
    def scorecard_table(self):
        """:meth:`scorecards_text` as a table to display, captioned with the period and the as-of date."""
        from ..i18n import format_date, tr
        from ..tools.tables import show_table

        return show_table(self.scorecards_text(), caption=tr("Scorecard {period} (as of {date})", period=self.name,
                                                             date=format_date(self.as_of)))

    @property
    def changes_note(self) -> str:
        """How many changes were tested and how many are significant (the caption of :meth:`changes_table`)."""
        from ..i18n import tr

        ch = self.changes
        n = int(ch["p_value"].notna().sum()) if len(ch) else 0
        k = int(ch["significant"].sum()) if len(ch) else 0
        return tr("{n} changes tested, {k} significant at q < {alpha}", n=n, k=k, alpha=self.alpha)

    def changes_table(self, *, limit: int = 15):
        """:meth:`changes_text` as a table to display, captioned with how many changes were tested (with no
        significant change there is no table to show: print :attr:`changes_note` instead)."""
        from ..tools.tables import show_table

        return show_table(self.changes_text(limit=limit), caption=self.changes_note)

    def targets_table(self, *, running: bool = False):
        """:meth:`targets_text` as a table to display (``running``: the period still running, projected)."""
        from ..i18n import t, tr
        from ..tools.tables import show_table

        return show_table(self.targets_text(running=running),
                          caption=t("Period still running: projection to its end") if running else
                          tr("Target attainment, {period}", period=self.name))

    def alerts_table(self):
        """:meth:`alerts_text` as a table to display, captioned with the number of alerts and the window."""
        from ..i18n import tr
        from ..tools.tables import show_table

        return show_table(self.alerts_text(), caption=tr("{n} alert(s) in the {k} period(s) to {period}",
                                                         n=len(self.alerts), k=len(self.window), period=self.name))

    @property
    def no_alert_reason(self) -> str:
        """One sentence when limits were drawn and no point is outside them; "" otherwise."""
        from ..i18n import tr

        if self.charts_reason or len(self.alerts):
            return ""
        return tr("No KPI moved outside its control limits in the {n} period(s) to {label}.", n=len(self.window),
                  label=self.name)

    def csat_means_table(self, *, periods: int = 6):
        """:meth:`csat_table` as a table to display."""
        from ..i18n import t
        from ..tools.tables import show_table

        return show_table(self.csat_table(periods=periods),
                          caption=t("CSAT mean per period (* = low response, not judged)"))

    def summary(self) -> pd.DataFrame:
        return self.scorecard()

    def headline(self) -> str:
        from ..i18n import tr

        a = self.alerts
        adverse = int(a["adverse"].sum()) if len(a) else 0
        return tr("Review of {label} ({series} KPI × segment series): {alerts} alert(s) in the last {n} period(s), "
                  "{adverse} adverse (false-discovery rate {alpha:.0%}).", label=self.name,
                  series=len(self.series.groupby(["kpi", "segment"])) if len(self.series) else 0, alerts=len(a),
                  n=len(self.window), adverse=adverse, alpha=self.alpha)

    def findings(self) -> Findings:
        """Alerts, significant changes of the review period and missed targets (:func:`review_findings`)."""
        return review_findings(self)

    def plot(self, ax=None, *, kpi: str = "win_rate", segment: str = "all", **kwargs):
        from ..plots.monitor import plot_control_chart

        return plot_control_chart(self, kpi=kpi, segment=segment, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        from ..findings import escape_html

        return (f"<p>{escape_html(self.headline())}</p>" + self.scorecard_text().to_html(index=False, escape=True))


def review(ds, *, period: str = "M", review=None, kpis=None, targets=None, alpha: float = 0.05,
           window: int | None = None, baseline: int | None = None, min_baseline: int | None = None,
           method: str = "bh", lam: float = 0.3, n_boot: int = 2000) -> MonitorReview:
    """Run the periodic KPI review of a dataset.

    Parameters
    ----------
    ds : Dataset.
    period : ``"W"``, ``"M"`` or ``"Q"``.
    review : the period to review (``"2025-11"``, ``"2025Q4"``); None = the last complete period at
        ``ds.as_of``.
    targets : None (look for ``targets.csv`` next to the data), a path, a DataFrame (``kpi, segment,
        period, target``) or False (no targets file). Quotas, when present, are added as won-revenue
        targets.
    alpha : false-discovery rate for alerts and changes.
    window : periods (ending at ``review``) judged for alerts; default one year (52 / 12 / 4).
    baseline, min_baseline : trailing periods behind each control limit (default one year, half a year).
    method : ``"bh"`` or ``"bonferroni"`` (see ``control.flag_alerts``).
    """
    period = ms.check_period(period)
    ds = converted(ds)  # money in the report currency when the mapping gives rates (a no-op otherwise or twice)
    lag = ms.YEAR_LAG[period]
    window = lag if window is None else int(window)
    baseline = lag if baseline is None else int(baseline)
    min_baseline = max(lag // 2, 3) if min_baseline is None else int(min_baseline)
    from ..i18n import tr

    notes: list[str] = []
    rev = last_complete_period(ds.as_of, period) if review is None else parse_review(review, period)
    series = kpi_series(ds, period=period, kpis=kpis)
    missing = [t for t in ("opportunities", "leads", "orders", "marketing_spend", "csat") if not ds.has(t)]
    if missing:
        notes.append(tr("No {tables} table: the KPIs that need it are not monitored.", tables=missing[0])
                     if len(missing) == 1 else
                     tr("No {tables} table: the KPIs that need them are not monitored.", tables=", ".join(missing)))
    if ds.csat is None:
        notes.append("No CSAT answers in this dataset: CSAT and NPS are not monitored.")
    elif "nps" in KPI_SPECS and (kpis is None or "nps" in kpis) and not (series["kpi"] == "nps").any():
        notes.append(tr("No answers on a 0–10 scale (scale_max = 10): NPS is not computed; CSAT is on its own scale."))
    codes = sorted({seg.split("=", 1)[1] for seg in series.loc[series["kpi"].isin(["won_revenue"]), "segment"]
                    if seg.startswith("currency=")}) if len(series) else []
    if codes:
        notes.append(tr("Deals are in {n} currencies ({codes}) and the mapping gives no exchange rates: won revenue "
                        "and average won deal size are monitored per currency (segment currency=XXX), never as a "
                        "company, team or rep total; add currency: {{report: ..., rates: {{...}}}} to the mapping to "
                        "total them.", n=len(codes), codes=", ".join(codes)))
        if row_count(ds.quotas):
            notes.append(tr("Quotas are not compared with won revenue: the deals are in several currencies and the "
                            "mapping gives no exchange rates."))
    n_periods = series["period"].nunique() if len(series) else 0
    if n_periods <= 1:
        notes.append(tr("Only one period of data: no change can be tested and no control limit drawn; collect more "
                        "periods before reading trends."))
    elif n_periods < min_baseline + 1:
        notes.append(tr("Only {n} periods of data: control limits need {baseline} periods of baseline, so no alert "
                        "can be raised yet.", n=n_periods, baseline=min_baseline))
    if rev > ds.as_of:
        raise ValueError(f"review period {rev.date()} starts after the as-of date {ds.as_of.date()}; "
                         "choose an earlier period.")
    win = tuple(shift_period(rev, period, k) for k in range(window - 1, -1, -1))
    factors = seasonal_factors(series, period=period, before=rev)
    if period in ("M", "Q") and not len(factors) and len(series):
        notes.append(tr("Less than a full calendar year before the review window: counts and totals are charted "
                        "without seasonal adjustment (a seasonal peak may show as an alert)."))
    lim = control_limits(with_season(series, factors, period), baseline=baseline, min_baseline=min_baseline, lam=lam,
                         charts={k: s.chart for k, s in KPI_SPECS.items() if s.chart},
                         log_kpis={k for k, s in KPI_SPECS.items() if s.log})
    lim = flag_alerts(lim, periods=win, alpha=alpha, method=method)
    ch = changes(series, review=rev, period=period, alpha=alpha, n_boot=n_boot)
    tg = _targets(ds, targets, notes)
    at = attainment(series, tg, period=period) if len(tg) else attainment(series, None, period=period)
    if len(tg) and not (len(at) and (at["period"] == rev).any()):
        notes.append(tr("No target for {period}: attainment is not shown for it.", period=ms.period_name(rev, period)))
    ot = owner_teams(ds.opportunities)
    teams = () if ot is None else tuple(zip(ot["owner"], ot["team"], strict=True))
    code = "" if needs_split(ds, "opportunities") else (report_currency(ds, "opportunities") or "")
    return MonitorReview(period, rev, ds.as_of, win, series, lim, ch, at, alpha, factors, tuple(notes), teams, code)


def _targets(ds, targets, notes: list[str]) -> pd.DataFrame:
    frames = []
    if targets is None and ds.data_dir is not None and (Path(ds.data_dir) / "targets.csv").exists():
        targets = Path(ds.data_dir) / "targets.csv"
    if isinstance(targets, (str, Path)):
        frames.append(read_targets(targets))
    elif isinstance(targets, pd.DataFrame):
        t = targets.copy()
        t["source"] = t.get("source", "targets table")
        frames.append(t[TARGET_COLUMNS])
    else:
        from ..i18n import tr

        notes.append(tr("No targets file (targets.csv with kpi, segment, period, target): only quotas, if any, serve "
                        "as targets."))
    if row_count(ds.quotas):
        frames.append(targets_from_quotas(ds.quotas, owner_team=owner_teams(ds.opportunities)))
    else:
        notes.append("No quotas table: won revenue has no quota target.")
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=TARGET_COLUMNS)
    t = pd.concat(frames, ignore_index=True)
    # a targets-file row wins over a quota for the same KPI, segment and period
    return t.drop_duplicates(["kpi", "segment", "period"], keep="first").reset_index(drop=True)
