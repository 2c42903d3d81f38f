"""The money unit of a Dataset, decided in one place, and the conversion to the report currency.

- :func:`currencies` — the currency codes of the deal and order tables (or the mapping's ``currency.report``);
- :func:`report_currency` — the one code money KPIs are reported in, or None when the data mixes currencies
  and the mapping gives no rates;
- :func:`convert` — a table's ``amount`` in the report currency (``currency.rates``, monthly when the rates
  have a month);
- :func:`currency_note` — the sentence the audit and report show once when money cannot be totalled.

A row without a currency code is in the report currency (or the data's only code).
"""

from __future__ import annotations

from dataclasses import replace

import narwhals as nw
import pandas as pd

from ..engines.ops import collect, columns, lazy
from ..tools.exceptions import MappingError
from .mapping import CurrencySpec, currency_spec

__all__ = ["currencies", "report_currency", "single_currency", "convert", "converted", "currency_note", "currency_of",
           "needs_split", "MONEY_TABLES"]

MONEY_TABLES = ("opportunities", "orders")
# the date whose month picks a monthly rate, per table (first one present)
RATE_DATES = {"opportunities": ("close_date", "created_date"), "orders": ("order_date",)}


def currency_of(ds) -> CurrencySpec:
    """The mapping's parsed ``currency:`` block."""
    return currency_spec((ds.mapping or {}).get("currency"))


def _codes(frame) -> list[str]:
    if frame is None or "currency" not in columns(lazy(frame)):
        return []
    c = nw.col("currency").cast(nw.String).str.strip_chars().str.to_uppercase()
    got = collect(lazy(frame).select(c.alias("currency")).unique())["currency"]
    return sorted({str(v) for v in got if pd.notna(v) and str(v)})


def currencies(ds, table: str | None = None) -> list[str]:
    """The currency codes present in the money tables (one ``table`` if given), sorted; the mapping's
    ``report:`` code when no table carries a currency column."""
    names = MONEY_TABLES if table is None else (table,)
    # one scan per table and dataset: the KPI providers ask this a dozen times per table
    cache = ds.__dict__.setdefault("_currency_codes", {}) if hasattr(ds, "__dict__") else {}
    for n in names:
        frame = ds.tables.get(n)
        if n not in cache or cache[n][0] is not frame:
            cache[n] = (frame, _codes(frame))
    found = sorted({c for n in names for c in cache[n][1]})
    if not found and currency_of(ds).report:
        return [currency_of(ds).report]
    return found


def report_currency(ds, table: str | None = None) -> str | None:
    """The code money KPIs are reported in: ``report:`` when rates are given (or when the data has no other
    code), else the data's only code; None when several currencies are present and no rates convert them."""
    spec = currency_of(ds)
    codes = currencies(ds, table)
    if spec.report and (spec.rates or set(codes) <= {spec.report}):
        return spec.report
    return codes[0] if len(codes) == 1 else None


def single_currency(ds) -> str | None:
    """The one code of every money table without any conversion (the data's only code, or ``report:`` when the
    data has no other): the unit of money KPIs that do not convert. None when the tables mix currencies."""
    spec = currency_of(ds)
    codes = currencies(ds)
    if spec.report and set(codes) <= {spec.report}:
        return spec.report
    return codes[0] if len(codes) == 1 else None


def needs_split(ds, table: str = "opportunities") -> bool:
    """True when money KPIs of ``table`` must be computed per currency (several codes, no rates)."""
    return report_currency(ds, table) is None and len(currencies(ds, table)) > 1


def currency_note(ds) -> str | None:
    """One sentence, in the report language, when money cannot be labelled or totalled as it stands.

    Several currencies without rates: which codes, and the mapping block that would total them. Amounts but no
    currency code anywhere (no currency column, no ``currency.report``): the mapping key that would name it, so
    the pages' money units read as a code instead of the word "currency".
    """
    from ..i18n import tr

    codes = currencies(ds)
    if report_currency(ds) is not None:
        return None
    if not codes:
        deals = ds.tables.get("opportunities")
        if deals is None or "amount" not in columns(lazy(deals)):
            return None
        return tr("Amounts carry no currency code (no currency column in the export and no currency.report in the "
                  "mapping), so money is labelled 'currency'. To name it, add to the mapping: currency: "
                  "{{report: <CODE>}} (for example USD or CNY).")
    if len(codes) < 2:
        return None
    ex = ", ".join(f"{c}: <rate>" for c in codes[1:])
    return tr("Amounts are in {n} currencies ({codes}) and the mapping gives no rates: money KPIs are reported per "
              "currency (segment currency=XXX) and never totalled. To total them, add to the mapping: currency: "
              "{{report: {first}, rates: {{{ex}}}}} (units of the report currency per unit).",
              n=len(codes), codes=", ".join(codes), first=codes[0], ex=ex)


def convert(frame, ds, table: str = "opportunities"):
    """``frame`` with ``amount`` in the report currency and ``currency`` set to its code.

    Without ``currency.rates`` (or without a ``currency`` column) the frame is returned unchanged. A code
    present in the data without a rate raises :class:`MappingError` naming ``currency.rates.<CODE>``.
    Monthly rates use the month of the row's close date (else created date; orders: order date); a month
    without a rate uses the latest earlier month's rate, else the earliest one, else the code's rate without
    a month.
    """
    spec = currency_of(ds)
    if frame is None or not spec.rates or "currency" not in columns(lazy(frame)):
        return frame
    present = set(_codes(frame)) - {spec.report}
    missing = sorted(present - spec.codes())
    if missing:
        raise MappingError(
            f"No exchange rate for {', '.join(missing)} in the {table} table: the mapping's currency.rates has "
            f"{', '.join(sorted(spec.codes())) or 'none'}; set currency.rates.{missing[0]} (units of "
            f"{spec.report} per {missing[0]}).")
    code = nw.col("currency").cast(nw.String).str.strip_chars().str.to_uppercase()
    if not spec.monthly:
        rate = nw.lit(1.0)
        for c, _, r in spec.rates:
            rate = nw.when(code == c).then(nw.lit(float(r))).otherwise(rate)
        native = nw.from_native(frame)
        out = native.with_columns((nw.col("amount").cast(nw.Float64) * rate).alias("amount"),
                                  nw.lit(spec.report).alias("currency"))
        return out.to_native()
    return _convert_monthly(frame, spec, table)


def converted(ds):
    """``ds`` with every money table (deals, orders) in the report currency; ``ds`` itself without rates."""
    if not currency_of(ds).rates:
        return ds
    tables = {n: convert(t, ds, n) if n in MONEY_TABLES else t for n, t in ds.tables.items()}
    return replace(ds, tables=tables)


def _monthly_rate(spec: CurrencySpec, code: str, month: str | None) -> float:
    if code == spec.report or not code:
        return 1.0
    dated = sorted((m, r) for c, m, r in spec.rates if c == code and m is not None)
    flat = [r for c, m, r in spec.rates if c == code and m is None]
    if month is not None and dated:
        earlier = [r for m, r in dated if m <= month]
        return earlier[-1] if earlier else dated[0][1]
    if flat:
        return flat[0]
    return dated[-1][1]


def _convert_monthly(frame, spec: CurrencySpec, table: str) -> pd.DataFrame:
    df = collect(lazy(frame)).copy()
    dates = [c for c in RATE_DATES.get(table, ()) if c in df.columns]
    when = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    for c in dates:
        when = when.fillna(pd.to_datetime(df[c], errors="coerce"))
    months = when.dt.strftime("%Y-%m").where(when.notna(), None)
    codes = df["currency"].astype("string").str.strip().str.upper().fillna("")
    rate = [_monthly_rate(spec, c, m) for c, m in zip(codes, months, strict=True)]
    df["amount"] = pd.to_numeric(df["amount"], errors="coerce") * pd.Series(rate, index=df.index, dtype=float)
    df["currency"] = spec.report
    return df
