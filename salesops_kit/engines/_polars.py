"""Polars back-end of the lazy loader (:mod:`salesops_kit.engines`): one table as a LazyFrame.

The loader's steps (:class:`._common.LazyTable`) as Polars expressions: trim text, parse dates and
numbers (failures are quarantined, never coerced), normalise stage labels, derive is_closed/is_won,
mark missing values, negative amounts, close-before-created, exact and conflicting duplicates.
"""

from __future__ import annotations

import polars as pl

from ..data.readers import FOOTER_RE
from ..data.schema import BAD_DATE, BAD_NUMBER, CONFLICT_DUP, EXACT_DUP, STATUS_COLUMN, UNKNOWN_STAGE
from ._common import LazyTable, Rule, TableResult, is_identity, number_rules, parse_formats

__all__ = ["PolarsTable"]

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


def _first_present(src) -> pl.Expr:
    """A column, or per row the first non-blank value of several (``columns.<c>: {coalesce: [...]}``)."""
    if isinstance(src, str):
        return pl.col(src)
    return pl.coalesce([pl.when(_text(h).str.strip_chars() != "").then(_text(h)) for h in src])


def _short_footer(names: list[str]) -> pl.Expr:
    """A footer line of the file (as the pandas reader counts them): only its first field, blank or reading like a
    footer ("Grand Totals (6 records)", "Confidential Information - Do Not Distribute", the copyright line)."""
    if not names:
        return pl.lit(False)
    first = _text(names[0]).str.strip_chars()
    rest = pl.all_horizontal([pl.col(n).is_null() | (_text(n).str.strip_chars() == "") for n in names[1:]]) \
        if len(names) > 1 else pl.lit(True)
    return rest & (first.is_null() | (first == "") | first.str.contains("(?i)" + FOOTER_RE.pattern).fill_null(False))


class PolarsTable(LazyTable):
    """One table as a Polars LazyFrame ``r``: raw columns ``r__<column>``, parsed ones by their names."""

    def parse_columns(self) -> None:
        schema = self.raw.collect_schema()
        self.rtypes = {c: schema[src] if isinstance(src, str) else pl.String for c, src in self.colmap.items()}
        names = [n for n in schema.names() if n not in ("__line", "__file")]
        raw = self.raw
        if all(f.suffix.lower() == ".csv" for f in self.files):
            # a blank line is a row of nulls here; the pandas reader (and DuckDB) skip it: not a row at all
            raw = raw.filter(~pl.all_horizontal([pl.col(n).is_null() for n in names]))
        self.r = raw.select([_first_present(src).alias(f"r__{c}") for c, src in self.colmap.items()]
                            + [pl.col("__file"), pl.col("__line"), _short_footer(names).alias("__short")]
                            ).with_row_index("__row")
        self.pres = {c: _present(f"r__{c}", self.rtypes[c]) for c in self.colmap}
        cols: dict[str, pl.Expr] = {}
        for c in self.colmap:
            kind = self.tdef.dtypes.get(c, "string")
            if kind == "datetime":
                cols[c] = self._date(c)
            elif kind == "float":
                cols[c] = self._number(c)
            else:
                s = _text(f"r__{c}").str.strip_chars()
                cols[c] = pl.when(s == "").then(None).otherwise(s)
        self.r = self.r.with_columns([e.alias(c) for c, e in cols.items()])

    def _date(self, c: str) -> pl.Expr:
        rc, dt = f"r__{c}", self.rtypes[c]
        if dt == pl.String:
            s = pl.col(rc).str.strip_chars()
            fmts = [f.replace(".%f", "%.f") for f in parse_formats(self.spec)]  # chrono's fraction of a second
            v = pl.coalesce([s.str.strptime(_DT, f, strict=False) for f in fmts])
            if is_identity(self.name, c):
                self.flags.append((BAD_DATE, self.pres[c] & v.is_null(),
                                   pl.lit(f"unparseable {c}: ") + _q(pl.col(rc))))
            else:
                self.withheld.append((BAD_DATE, (c,), self.pres[c] & v.is_null()))
            return v
        if dt == pl.Date or isinstance(dt, pl.Datetime):
            return pl.col(rc).cast(_DT)
        return pl.col(rc).cast(pl.String).str.strptime(_DT, "%Y-%m-%d", strict=False)

    def _number(self, c: str) -> pl.Expr:
        rc, dt = f"r__{c}", self.rtypes[c]
        dec, th, scale = number_rules(self.spec, c)
        if dt == pl.String:
            s = pl.col(rc).str.strip_chars().str.replace_all(r"[\s$€£¥%]", "")
            s = s.str.replace_all(th, "", literal=True) if th else s
            s = s.str.replace_all(dec, ".", literal=True) if dec != "." else s
            v = s.cast(pl.Float64, strict=False)
            bad = self.pres[c] & v.is_null()
        else:
            v, bad = pl.col(rc).cast(pl.Float64), pl.lit(False)
        if c == "probability":
            pct = pl.col(rc).cast(pl.String).str.contains("%", literal=True).fill_null(False)
            if scale is None:
                mx = self.r.select(pl.when(~pct).then(v).max()).collect().item()
                has = self.r.select(pct.any()).collect().item()
                scale = 100.0 if (has or (mx is not None and mx > 1)) else 1.0
                if scale == 100.0 and not has:
                    self.notes.append(f"{self.name}.{c}: read as percentages (values above 1 found).")
            v = pl.when(pct).then(v / 100.0).otherwise(v / float(scale))
            bad = bad | (v.is_not_null() & ((v < 0) | (v > 1)))
            v = pl.when(bad).then(None).otherwise(v)
        if is_identity(self.name, c):
            self.flags.append((BAD_NUMBER, bad, pl.lit(f"unparseable {c}: ") + _q(pl.col(rc))))
        else:
            self.withheld.append((BAD_NUMBER, (c,), bad))
        return v

    def label_counts(self, column: str):
        # the distinct labels come back to Python (few), the renames go back as a replace
        return self.r.group_by(column).agg(pl.len().alias("n")).collect().to_pandas().rename(columns={column: "label"})

    def rename_stages(self, column: str, unknown: list, renames: dict) -> None:
        if column == "stage":
            self.flags.append((UNKNOWN_STAGE, pl.col(column).is_in(unknown),
                               pl.lit("stage label not in the mapping, stage: ") + _q(pl.col(f"r__{column}"))))
        if renames:
            self.r = self.r.with_columns(pl.col(column).replace(renames))

    def apply_status(self, won: list, lost: list, unknown: list) -> None:
        st = pl.col(STATUS_COLUMN)
        if unknown:
            reason = pl.lit(f"status not in the mapping, {STATUS_COLUMN}: ") + _q(pl.col(f"r__{STATUS_COLUMN}"))
            self.flags.append((UNKNOWN_STAGE, st.is_in(unknown).fill_null(False), reason))
        is_won, is_lost = st.is_in(won).fill_null(False), st.is_in(lost).fill_null(False)
        step = pl.when(pl.col("stage").is_in(list(self.stages.order))).then(pl.col("stage"))
        lat = pl.col("lost_at_stage") if "lost_at_stage" in self.colmap else pl.lit(None, dtype=pl.String)
        self.r = self.r.with_columns(
            pl.when(is_lost).then(pl.coalesce([lat, step])).otherwise(lat).alias("lost_at_stage"),
            pl.when(is_won).then(pl.lit(self.stages.won[0])).when(is_lost).then(pl.lit(self.stages.lost[0]))
            .otherwise(pl.col("stage")).alias("stage"))

    def project(self) -> None:
        if self.name == "opportunities":
            won, lost = list(self.stages.won), list(self.stages.lost)
            self.r = self.r.with_columns(pl.col("stage").is_in(won).fill_null(False).alias("is_won"))
            self.r = self.r.with_columns((pl.col("is_won") | pl.col("stage").is_in(lost).fill_null(False))
                                         .alias("is_closed"))

    def rule(self, rule: Rule):
        c = rule.columns[0]
        if rule.kind == "absent":
            return ~self.pres[c], pl.lit(rule.text)
        if rule.kind == "all_absent":
            return pl.all_horizontal([~self.pres[x] for x in rule.columns]), pl.lit(rule.text)
        if rule.kind == "negative":
            return (pl.col(c) < 0).fill_null(False), pl.lit(f"{rule.text}: ") + _q(pl.col(f"r__{c}"))
        if rule.kind == "close_before_created":
            cd, cr = pl.col("close_date").dt.truncate("1d"), pl.col("created_date").dt.truncate("1d")
            return (cd < cr).fill_null(False), (pl.lit("close_date ") + cd.dt.strftime("%Y-%m-%d")
                                                + pl.lit(" before created_date ") + cr.dt.strftime("%Y-%m-%d"))
        if rule.kind == "closed_without_close_date":  # blank in the file (an unparseable one is a bad date)
            return pl.col("is_closed") & ~self.pres["close_date"], pl.lit(rule.text)
        raise ValueError(f"unknown rule kind {rule.kind!r}")

    def apply_withheld(self, blank: dict[str, list[int]]) -> None:
        if not self.withheld:
            return
        self.r = self.r.with_columns([f.fill_null(False).alias(f"__w{i}")
                                      for i, (_, _, f) in enumerate(self.withheld)])
        self.withheld = [(ck, cols, pl.col(f"__w{i}")) for i, (ck, cols, _) in enumerate(self.withheld)]
        if blank:
            self.r = self.r.with_columns([
                pl.when(pl.any_horizontal([self.withheld[i][2] for i in idx])).then(None).otherwise(pl.col(c)).alias(c)
                for c, idx in blank.items()])

    def mark_footer(self) -> None:
        idc, datec = self.tdef.id_column, self.tdef.date_column
        footer = pl.lit(False)
        if idc in self.colmap and datec in self.colmap:
            strs = [c for c in self.colmap if self.rtypes[c] == pl.String]
            rx = "(?i)" + FOOTER_RE.pattern
            foot_text = pl.any_horizontal([pl.col(f"r__{c}").str.contains(rx).fill_null(False) for c in strs]) \
                if strs else pl.lit(False)
            empty = pl.all_horizontal([~self.pres[c] for c in self.colmap])
            blank_id = ~self.pres[idc] | (pl.col(f"r__{idc}").cast(pl.String).str.contains(rx).fill_null(False)
                                          if self.rtypes[idc] == pl.String else pl.lit(False))
            footer = blank_id & ~self.pres[datec] & (foot_text | empty)
        footer = footer | pl.col("__short")
        pre_bad = pl.any_horizontal([f for _, f, _ in self.flags]) if self.flags else pl.lit(False)
        self.r = self.r.with_columns(footer.alias("__footer"), pre_bad.alias("__pre_bad"))

    def mark_other(self) -> None:
        other = pl.lit(False)
        if self.name == "stage_history":
            # a record in the same stage as the deal's previous one is an edit, not an entry (a run of them is
            # one stay: its first record, with the run's last exit when the export has exit dates)
            self.r = self.r.with_columns((~pl.col("__pre_bad") & ~pl.col("__footer")).alias("__ok"))
            order = ["entered_date", "__row"]
            prev = pl.col("stage").shift(1).over(["opportunity_id", "__ok"], order_by=order)
            other = pl.col("__ok") & (pl.col("stage") == prev).fill_null(False)
            if "exited_date" in self.colmap:
                run = (~other).cast(pl.Int64).cum_sum().over(["opportunity_id", "__ok"], order_by=order)
                self.r = self.r.with_columns(other.alias("__other"), run.alias("__run"))
                last = pl.col("exited_date").last().over(["opportunity_id", "__ok", "__run"], order_by=order)
                self.r = self.r.with_columns(pl.when(pl.col("__ok") & ~pl.col("__other")).then(last)
                                             .otherwise(pl.col("exited_date")).alias("exited_date"))
                return
        self.r = self.r.with_columns(other.alias("__other"))

    def mark_duplicates(self) -> None:
        idc = self.tdef.id_column
        excluded = pl.col("__pre_bad") | pl.col("__footer") | pl.col("__other")
        self.r = self.r.with_columns(pl.when(excluded).then(None).otherwise(pl.col(f"r__{idc}")).alias("__id"),
                                     pl.struct([f"r__{c}" for c in self.colmap]).hash(7).alias("__h"))
        conflict = pl.col("__id").is_not_null() & (pl.col("__h").min().over("__id") != pl.col("__h").max().over("__id"))
        exact = pl.col("__id").is_not_null() & (pl.int_range(pl.len()).over(["__id", "__h"]) > 0) & ~conflict
        first_line = pl.col("__line").first().over(["__id", "__h"]).cast(pl.String)
        self.r = self.r.with_columns((pl.col("__file").str.extract(r"([^/\\]+)$") + pl.lit(":") + first_line)
                                     .alias("__first"))
        self.flags.append((EXACT_DUP, exact, pl.lit("exact duplicate of ") + pl.col("__first")))
        self.flags.append((CONFLICT_DUP, conflict, pl.lit(f"{idc} ") + _q(pl.col(f"r__{idc}"))
                           + pl.lit(" appears on other rows with different values")))

    def finish(self) -> TableResult:
        # every flag becomes a column before any filter (window flags must see the whole table)
        self.r = self.r.with_columns([f.alias(f"__f{i}") for i, (_, f, _) in enumerate(self.flags)])
        self.flags = [(ck, pl.col(f"__f{i}"), rs) for i, (ck, _, rs) in enumerate(self.flags)]
        ranked = self.ranked()
        check = pl.lit(None, dtype=pl.String)
        for ck, f, _ in reversed(ranked):
            check = pl.when(f).then(pl.lit(ck)).otherwise(check)
        reason = pl.concat_str([pl.when(f).then(rs) for _, f, rs in ranked], separator="; ", ignore_nulls=True) \
            if ranked else pl.lit("")
        bad = (pl.any_horizontal([f for _, f, _ in self.flags]) if self.flags else pl.lit(False)) \
            & ~pl.col("__footer") & ~pl.col("__other")
        r = self.r.with_columns(bad.alias("__bad"))
        keep = ~(pl.col("__bad") | pl.col("__footer") | pl.col("__other"))
        clean = r.filter(keep).select(self.output_columns())
        if self.name == "stage_history":
            derive = "exited_date" not in self.colmap or not r.select(self.pres["exited_date"].any()).collect().item()
            if derive:
                clean = clean.with_columns(pl.col("entered_date").shift(-1)
                                           .over("opportunity_id", order_by="entered_date").alias("exited_date"))
        q = r.filter(pl.col("__bad")).select([_text(f"r__{c}").alias(c) for c in self.colmap]
                                             + [check.alias("check"), reason.alias("reason"),
                                                pl.col("__file").alias("source_file"),
                                                pl.col("__line").alias("source_line")])
        acc = r.select(keep.sum().alias("kept"), pl.col("__bad").sum().alias("bad"),
                       pl.col("__footer").sum().alias("footer"), pl.col("__other").sum().alias("other"),
                       *self._withheld_aggs(keep))
        if self.keep:  # the files read and checked once: the clean table stays in memory for what follows
            cdf, qdf, adf = pl.collect_all([clean, q, acc])
            clean = cdf.lazy()
        else:
            qdf, adf = pl.collect_all([q, acc])
        quarantine = qdf.sort("source_file", "source_line").to_pandas()
        quarantine["source_line"] = quarantine["source_line"].astype("Int64")
        row = adf.row(0, named=True)
        withheld, row_flags = self.withheld_result(row)
        return TableResult(clean, quarantine.reset_index(drop=True), self.account(row), self.notes,
                           withheld=withheld, row_flags=row_flags)

    def _withheld_aggs(self, keep: pl.Expr) -> list[pl.Expr]:
        """Per withheld condition: kept rows, the first one's file, line and raw values; per reason: kept rows."""
        out = []
        for i, (_, cols, f) in enumerate(self.withheld):
            m = f & keep
            out += [m.sum().alias(f"n{i}"), pl.col("__file").filter(m).first().alias(f"f{i}"),
                    pl.col("__line").filter(m).first().alias(f"l{i}")]
            out += [_text(f"r__{c}").filter(m).first().alias(f"v{i}_{j}") for j, c in enumerate(cols)
                    if c in self.colmap]
        for k, ck in enumerate(self.withheld_reasons()):
            anyf = pl.any_horizontal([f for c2, _, f in self.withheld if c2 == ck])
            out.append((anyf & keep).sum().alias(f"r{k}"))
        return out
