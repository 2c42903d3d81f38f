"""Polars back-end of the lazy loader (:mod:`salesops_kit.engines`): one table as a LazyFrame.

The loader's rules (``_tables.finish_table``) as Polars expressions: trim text, parse dates and
numbers (failures are quarantined, never coerced), normalise stage labels, derive is_closed/is_won,
mark missing values, negative amounts, close-before-created, exact and conflicting duplicates.
"""

from __future__ import annotations

import polars as pl

from ..data.readers import FOOTER_RE
from ..data.schema import TABLES

_DT = pl.Datetime("us")


def _present(c: str, dtype) -> pl.Expr:
    if dtype == pl.String:
        return pl.col(c).is_not_null() & (pl.col(c).str.strip_chars() != "")
    return pl.col(c).is_not_null()


def _text(c: str) -> pl.Expr:
    return pl.col(c).cast(pl.String)


def _q(e: pl.Expr) -> pl.Expr:
    """Python-repr-like quoting of a raw value for reasons: 'value'."""
    return pl.lit("'") + e.cast(pl.String).fill_null("None") + pl.lit("'")


def build(*, name, raw, colmap, spec, stages, mname, found, unknown_stages, con, helpers) -> dict:
    tdef = TABLES[name]
    C = helpers.checks
    schema = raw.collect_schema()
    rtypes = {c: schema[src] for c, src in colmap.items()}
    r = raw.select([pl.col(src).alias(f"r__{c}") for c, src in colmap.items()]
                   + [pl.col("__file"), pl.col("__line")]).with_row_index("__row")
    cols: dict[str, pl.Expr] = {}
    flags: list[tuple[str, pl.Expr, pl.Expr]] = []  # (check, mask, reason)
    notes: list[str] = []
    pres = {c: _present(f"r__{c}", rtypes[c]) for c in colmap}
    for c in colmap:
        rc, dt, kind = f"r__{c}", rtypes[c], tdef.dtypes.get(c, "string")
        if kind == "datetime":
            if dt == pl.String:
                s = pl.col(rc).str.strip_chars()
                v = pl.coalesce([s.str.strptime(_DT, f, strict=False) for f in helpers.parse_formats(spec)])
                flags.append((C["bad_date"], pres[c] & v.is_null(), pl.lit(f"unparseable {c}: ") + _q(pl.col(rc))))
            elif dt == pl.Date or isinstance(dt, pl.Datetime):
                v = pl.col(rc).cast(_DT)
            else:
                v = pl.col(rc).cast(pl.String).str.strptime(_DT, "%Y-%m-%d", strict=False)
            cols[c] = v
        elif kind == "float":
            dec, th, scale = helpers.number_rules(spec, c)
            if dt == pl.String:
                s = pl.col(rc).str.strip_chars().str.replace_all(r"[\s$€£¥%]", "")
                s = s.str.replace_all(th, "", literal=True) if th else s
                s = s.str.replace_all(dec, ".", literal=True) if dec != "." else s
                v = s.cast(pl.Float64, strict=False)
                bad = pres[c] & v.is_null()
            else:
                v, bad = pl.col(rc).cast(pl.Float64), pl.lit(False)
            if c == "probability":
                pct = pl.col(rc).cast(pl.String).str.contains("%", literal=True).fill_null(False)
                if scale is None:
                    mx = r.select(pl.when(~pct).then(v).max()).collect().item()
                    has = r.select(pct.any()).collect().item()
                    scale = 100.0 if (has or (mx is not None and mx > 1)) else 1.0
                    if scale == 100.0 and not has:
                        notes.append(f"{name}.{c}: read as percentages (values above 1 found).")
                v = pl.when(pct).then(v / 100.0).otherwise(v / float(scale))
                bad = bad | (v.is_not_null() & ((v < 0) | (v > 1)))
                v = pl.when(bad).then(None).otherwise(v)
            flags.append((C["bad_number"], bad, pl.lit(f"unparseable {c}: ") + _q(pl.col(rc))))
            cols[c] = v
        else:
            s = _text(rc).str.strip_chars()
            cols[c] = pl.when(s == "").then(None).otherwise(s)
    r = r.with_columns([e.alias(c) for c, e in cols.items()])
    for c in helpers.required_values.get(name, ()):
        if c in colmap:
            flags.append((C["missing"], ~pres[c], pl.lit(f"missing {c}")))
    if name == "csat":
        have = [c for c in helpers.csat_one_of if c in colmap]
        if have:
            flags.append((C["missing"], pl.all_horizontal([~pres[c] for c in have]),
                          pl.lit("missing both owner and customer_id")))
    if name == "orders" and "customer_id" in colmap:
        flags.append((C["no_customer"], ~pres["customer_id"], pl.lit("order without customer_id")))
    # stages: distinct labels come back to Python (few), the mapping goes back as a replace
    repl = {}
    for c in ("stage", "lost_at_stage", "from_stage"):
        if c not in colmap:
            continue
        counts = r.group_by(c).agg(pl.len().alias("n")).collect().to_pandas().rename(columns={c: "label"})
        unknown, repl[c] = helpers.stage_rules(name, c, counts, stages, mname, found, unknown_stages)
        if c == "stage":
            flags.append((C["unknown_stage"], pl.col(c).is_in(unknown),
                          pl.lit("stage label not in the mapping, stage: ") + _q(pl.col(f"r__{c}"))))
    r = r.with_columns([pl.col(c).replace(m) for c, m in repl.items() if m])
    for c in helpers.nonnegative.get(name, ()):
        if c in colmap:
            flags.append((C["negative"], (pl.col(c) < 0).fill_null(False), pl.lit(f"negative {c}: ")
                          + _q(pl.col(f"r__{c}"))))
    if name == "opportunities":
        r = r.with_columns(pl.col("stage").is_in(list(stages.won)).fill_null(False).alias("is_won"))
        r = r.with_columns((pl.col("is_won") | pl.col("stage").is_in(list(stages.lost)).fill_null(False))
                           .alias("is_closed"))
        cd, cr = pl.col("close_date").dt.truncate("1d"), pl.col("created_date").dt.truncate("1d")
        flags.append((C["close_before"], (cd < cr).fill_null(False),
                      pl.lit("close_date ") + cd.dt.strftime("%Y-%m-%d") + pl.lit(" before created_date ")
                      + cr.dt.strftime("%Y-%m-%d")))
        flags.append((C["missing"], pl.col("is_closed") & pl.col("close_date").is_null(),
                      pl.lit("closed deal without close_date")))
    # footer lines: no id and no date, and empty or a "Total ..." line
    idc, datec = tdef.id_column, tdef.date_column
    footer = pl.lit(False)
    if idc in colmap and datec in colmap:
        strs = [c for c in colmap if rtypes[c] == pl.String]
        rx = "(?i)" + FOOTER_RE.pattern
        foot_text = pl.any_horizontal([pl.col(f"r__{c}").str.contains(rx).fill_null(False) for c in strs]) \
            if strs else pl.lit(False)
        empty = pl.all_horizontal([~pres[c] for c in colmap])
        blank_id = ~pres[idc] | (pl.col(f"r__{idc}").cast(pl.String).str.contains(rx).fill_null(False)
                                 if rtypes[idc] == pl.String else pl.lit(False))
        footer = blank_id & ~pres[datec] & (foot_text | empty)
    pre_bad = pl.any_horizontal([f for _, f, _ in flags]) if flags else pl.lit(False)
    r = r.with_columns(footer.alias("__footer"), pre_bad.alias("__pre_bad"))
    other = pl.lit(False)
    if name == "stage_history":
        same_from = (pl.col("from_stage").is_not_null() & (pl.col("from_stage") == pl.col("stage"))).fill_null(False) \
            if "from_stage" in colmap else pl.lit(False)
        r = r.with_columns(same_from.alias("__same_from"))
        ok = ~pl.col("__pre_bad") & ~pl.col("__footer") & ~pl.col("__same_from")
        r = r.with_columns(ok.alias("__ok"))
        prev = pl.col("stage").shift(1).over(["opportunity_id", "__ok"], order_by=["entered_date", "__row"])
        other = pl.col("__same_from") | (pl.col("__ok") & (pl.col("stage") == prev).fill_null(False))
    r = r.with_columns(other.alias("__other"))
    if idc in colmap:
        excluded = pl.col("__pre_bad") | pl.col("__footer") | pl.col("__other")
        r = r.with_columns(pl.when(excluded).then(None).otherwise(pl.col(f"r__{idc}")).alias("__id"),
                           pl.struct([f"r__{c}" for c in colmap]).hash(7).alias("__h"))
        conflict = pl.col("__id").is_not_null() & (pl.col("__h").min().over("__id") != pl.col("__h").max().over("__id"))
        exact = pl.col("__id").is_not_null() & (pl.int_range(pl.len()).over(["__id", "__h"]) > 0) & ~conflict
        r = r.with_columns((pl.col("__file").str.extract(r"([^/\\]+)$") + pl.lit(":")
                            + pl.col("__line").first().over(["__id", "__h"]).cast(pl.String)).alias("__first"))
        flags.append((C["exact"], exact, pl.lit("exact duplicate of ") + pl.col("__first")))
        flags.append((C["conflict"], conflict, pl.lit(f"{idc} ") + _q(pl.col(f"r__{idc}"))
                      + pl.lit(" appears on other rows with different values")))
    # every flag becomes a column before any filter (window flags must see the whole table)
    r = r.with_columns([f.alias(f"__f{i}") for i, (_, f, _) in enumerate(flags)])
    flags = [(ck, pl.col(f"__f{i}"), rs) for i, (ck, _, rs) in enumerate(flags)]
    order = [helpers.check_order.index(ck) for ck, _, _ in flags]
    ranked = sorted(zip(order, flags, strict=True), key=lambda x: x[0])
    check = pl.lit(None, dtype=pl.String)
    for _, (ck, f, _) in reversed(ranked):
        check = pl.when(f).then(pl.lit(ck)).otherwise(check)
    reason = pl.concat_str([pl.when(f).then(rs) for _, (_, f, rs) in ranked], separator="; ", ignore_nulls=True) \
        if ranked else pl.lit("")
    bad = (pl.any_horizontal([f for _, f, _ in flags]) if flags else pl.lit(False)) & ~pl.col("__footer") \
        & ~pl.col("__other")
    r = r.with_columns(bad.alias("__bad"))
    keep = ~(pl.col("__bad") | pl.col("__footer") | pl.col("__other"))
    out_cols = [c for c in tdef.dtypes if c in colmap and c not in ("is_closed", "is_won")]
    if name == "opportunities":
        out_cols += ["is_closed", "is_won"]
    clean = r.filter(keep).select(out_cols)
    if name == "stage_history":
        derive = "exited_date" not in colmap or not r.select(pres["exited_date"].any()).collect().item()
        if derive:
            clean = clean.with_columns(pl.col("entered_date").shift(-1).over("opportunity_id", order_by="entered_date")
                                       .alias("exited_date"))
    q = r.filter(pl.col("__bad")).select([_text(f"r__{c}").alias(c) for c in colmap]
                                         + [check.alias("check"), reason.alias("reason"),
                                            pl.col("__file").alias("source_file"), pl.col("__line").alias("source_line")])
    acc = r.select(keep.sum().alias("kept"), pl.col("__bad").sum().alias("bad"), pl.col("__footer").sum().alias("footer"),
                   pl.col("__other").sum().alias("other"))
    qdf, adf = pl.collect_all([q, acc])
    quarantine = qdf.sort("source_file", "source_line").to_pandas()
    quarantine["source_line"] = quarantine["source_line"].astype("Int64")
    return {"clean": clean, "quarantine": quarantine.reset_index(drop=True),
            "account": helpers.account(name, len(found), adf.row(0, named=True)), "notes": notes}


__all__ = ["build"]
