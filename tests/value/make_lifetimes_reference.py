"""Writes tests/value/lifetimes_cdnow_reference.csv: lifetimes 0.11.3's per-customer predictions on CDNOW.

The reference that ``test_customer_value_lifetimes.py`` checks the kit's per-customer value table against, so CI
checks it without installing lifetimes (an unmaintained package, kept out of the test extra: it pulls autograd and
dill and is only needed to regenerate this file). Provenance: lifetimes 0.11.3 (MIT, Cameron Davidson-Pilon), used
as documented, on ``data/external/cdnow/cdnow_customers_summary_with_transactions.csv`` (Fader, Hardie & Lee 2005).

Run (any environment with lifetimes 0.11.3; the file was generated with pandas 2.3.3, numpy 2.4.6, scipy 1.17.1)::

    python -m venv /tmp/lt && /tmp/lt/bin/pip install lifetimes==0.11.3
    /tmp/lt/bin/python tests/value/make_lifetimes_reference.py

Columns: ``ID, x, t_x, T, zbar`` (the input), ``p_alive`` (conditional_probability_alive),
``purchases_90d`` and ``purchases_365d`` (conditional_expected_number_of_purchases_up_to_time at 90/7 and 365/7
weeks), ``expected_spend`` (GammaGammaFitter.conditional_expected_average_profit), ``clv_12m``
(customer_lifetime_value, time=12 months, discount_rate=0.01, freq="W": the data's unit). The fitted parameters of
both models are in the header comment lines (``# bgnbd r=... alpha=... a=... b=...``), so the test can evaluate the
kit's formulas at lifetimes' own parameters.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "lifetimes_cdnow_reference.csv"


def main() -> None:
    d = pd.read_csv(ROOT / "data" / "external" / "cdnow" / "cdnow_customers_summary_with_transactions.csv")
    bgf = BetaGeoFitter(penalizer_coef=0.0).fit(d["x"], d["t_x"], d["T"])
    rep = d[d["x"] > 0]
    ggf = GammaGammaFitter(penalizer_coef=0.0).fit(rep["x"], rep["zbar"])
    out = d[["ID", "x", "t_x", "T", "zbar"]].copy()
    out["p_alive"] = bgf.conditional_probability_alive(d["x"], d["t_x"], d["T"])
    for days in (90, 365):
        out[f"purchases_{days}d"] = bgf.conditional_expected_number_of_purchases_up_to_time(days / 7, d["x"],
                                                                                            d["t_x"], d["T"])
    out["expected_spend"] = ggf.conditional_expected_average_profit(d["x"], d["zbar"]).to_numpy()
    out["clv_12m"] = ggf.customer_lifetime_value(bgf, d["x"], d["t_x"], d["T"], d["zbar"], time=12,
                                                 discount_rate=0.01, freq="W").to_numpy()
    b, g = ({k: float(v) for k, v in m.params_.items()} for m in (bgf, ggf))
    head = (f"# lifetimes 0.11.3 on data/external/cdnow/cdnow_customers_summary_with_transactions.csv "
            f"(tests/value/make_lifetimes_reference.py)\n"
            f"# bgnbd r={b['r']!r} alpha={b['alpha']!r} a={b['a']!r} b={b['b']!r}\n"
            f"# gamma_gamma p={g['p']!r} q={g['q']!r} v={g['v']!r}\n")
    OUT.write_text(head + out.to_csv(index=False, float_format="%.12g", lineterminator="\n"), encoding="utf-8")
    print(f"wrote {OUT} ({len(out)} customers)")


if __name__ == "__main__":
    main()
