"""DuckDB back-end of the lazy loader (:mod:`salesops_kit.engines`): one table as a DuckDB relation.

The loader's steps (:class:`._common.LazyTable`) as SQL over the scanned files: trim text, parse dates
and numbers (failures quarantined), normalise stage labels, derive is_closed/is_won, missing values,
negative amounts, close-before-created, exact/conflicting duplicates.

The SQL is written once, in :class:`SqlTable`; what DuckDB writes differently from other SQL engines (quoting,
date parsing, regular expressions, ``select * replace``) and how a query is run go through a :class:`Dialect`.
Spark SQL is the other dialect (:mod:`._spark`).
"""

from __future__ import annotations

import itertools

import pandas as pd

from ..data import schema
from ..data.readers import FOOTER_RE
from ..data.schema import BAD_DATE, BAD_NUMBER, CONFLICT_DUP, EXACT_DUP, STATUS_COLUMN, UNKNOWN_STAGE
from ._common import LazyTable, Rule, TableResult, is_identity, number_rules, parse_formats

__all__ = ["SqlTable", "Dialect", "HeldTables", "flag_counts"]

_ids = itertools.count()
_FOOTER = "(?i)" + FOOTER_RE.pattern


class Dialect:
    """DuckDB's way of writing (and running) what :class:`SqlTable` needs; a subclass per other SQL engine.

    ``con`` is the DuckDB connection the relations live in."""

    text = "varchar"  # the text type in casts
    timestamp = "timestamp"  # the type of the parsed dates: a naive date and time

    def __init__(self, con, hold: bool = False):
        self.con, self.hold = con, hold
        self.held: list[str] = []  # the tables keep() wrote

    # expressions
    def lit(self, v) -> str:
        return "'" + str(v).replace("'", "''") + "'"

    def ident(self, c: str) -> str:
        return '"' + c.replace('"', '""') + '"'

    def matches(self, e: str, pattern: str) -> str:
        """Whether text ``e`` matches the regular expression anywhere (false when null)."""
        return f"coalesce(regexp_matches({e}, {self.lit(pattern)}), false)"

    def strptime(self, e: str, formats: list[str]) -> str:
        """``e`` parsed by the first of the strftime ``formats`` that reads it; null when none does."""
        return f"try_strptime({e}, [{', '.join(self.lit(f) for f in formats)}])"

    def remove(self, e: str, pattern: str) -> str:
        """``e`` with every match of the regular expression removed."""
        return f"regexp_replace({e}, {self.lit(pattern)}, '', 'g')"

    def to_double(self, e: str) -> str:
        return f"try_cast({e} as double)"

    def contains(self, e: str, s: str) -> str:
        return f"contains({e}, {self.lit(s)})"

    def row_hash(self, cols: list[str]) -> str:
        return "hash(" + ", ".join(cols) + ")"

    def first_in_file_order(self, e: str, where: str) -> str:
        """The aggregate: ``e`` on the first row (by file, line) where ``where`` holds."""
        return f"first({e} order by __file, __line) filter (where {where})"

    def day_text(self, e: str) -> str:
        return f"strftime({e}, '%Y-%m-%d')"

    def file_name(self, e: str) -> str:
        return f"regexp_extract({e}, '[^/\\\\]+$')"

    def row_index(self) -> str:
        """Each row's position in the scan (for ordering; need not start at any value)."""
        return "row_number() over ()"

    def replace(self, sql: str, reps: dict[str, str]) -> str:
        """``select *`` from ``sql`` with the columns named in ``reps`` replaced by their expressions."""
        return (f"select * replace ({', '.join(f'{e} as {self.ident(c)}' for c, e in reps.items())}) "
                f"from ({sql})")

    # running
    def text_columns(self, raw) -> dict[str, bool]:
        """Each column of the scan: whether it holds text."""
        return {c: str(t) == "VARCHAR" for c, t in zip(raw.columns, raw.types, strict=True)}

    def view(self, rel, name: str) -> None:
        rel.create_view(name, replace=True)

    def keep(self, rel):
        """``rel`` kept once computed, for the queries that read it next: with ``hold``, written to a table in the
        connection (DuckDB spills it to disk past its memory limit); otherwise the plan, computed by each query."""
        if not self.hold:
            return rel
        name = f"__salesops_checked_{next(_ids)}"
        rel.create(name)
        self.held.append(name)
        return self.con.table(name)

    def release(self, rel) -> None:
        pass

    def relation(self, sql: str):
        return self.con.sql(sql)

    def df(self, sql: str):
        return self.con.sql(sql).df()

    def row(self, sql: str) -> tuple:
        return tuple(self.con.execute(sql).fetchall()[0])

    def aggregate(self, rel, exprs: list[str]) -> tuple:
        """One row of aggregates over a relation (a clean table the loader returned)."""
        return tuple(rel.aggregate(", ".join(exprs)).fetchall()[0])


def flag_counts(d: Dialect, tables: dict, as_of: pd.Timestamp) -> pd.DataFrame:
    """Counts of the audit's flag checks (kept rows that are usable but suspicious) on the clean tables, in the
    dialect's engine: open deals past their close date, close dates on the last day of the created month, dates
    after ``as_of``, rows repeated in a table without ids."""
    rows = []
    if pd.isna(as_of):
        return pd.DataFrame(rows, columns=["table", "check", "rows"])
    ts = f"cast({d.lit(f'{as_of:%Y-%m-%d %H:%M:%S}')} as {d.timestamp})"
    te = f"cast({d.lit(f'{as_of + pd.Timedelta(days=1):%Y-%m-%d %H:%M:%S}')} as {d.timestamp})"
    for name, t in tables.items():
        ex = {}
        if name == "opportunities":
            ex[schema.OPEN_PAST_CLOSE] = f"not is_closed and close_date < {ts}"
            ex[schema.DEFAULT_CLOSE] = f"date_trunc('day', close_date) = cast(last_day(created_date) as {d.timestamp})"
        if name not in ("quotas", "marketing_spend"):
            after = f"{d.ident(schema.TABLES[name].date_column)} >= {te}"
            closed = f" or (is_closed and close_date >= {te})" if name == "opportunities" else ""
            ex[schema.AFTER_AS_OF] = after + closed
        if ex:
            vals = d.aggregate(t, [f"count(*) filter (where {cond})" for cond in ex.values()])
            rows += [(name, k, int(v or 0)) for k, v in zip(ex, vals, strict=True)]
        if schema.TABLES[name].id_column is None:  # rows repeated in a table without ids: all but the first copy
            n, k = d.aggregate(t, ["count(*)"])[0], d.aggregate(t.distinct(), ["count(*)"])[0]
            rows.append((name, schema.REPEATED_ROW, int(n - k)))
    return pd.DataFrame(rows, columns=["table", "check", "rows"])


class HeldTables:
    """Tables the DuckDB loader wrote for a clean table (:meth:`Dialect.keep`); ``unpersist`` drops them."""

    def __init__(self, con, names: list[str]):
        self.con, self.names = con, names

    def unpersist(self) -> None:
        for n in self.names:
            self.con.execute(f'drop table if exists "{n}"')


class SqlTable(LazyTable):
    """One table as nested selects: ``base`` (raw columns ``r__<column>``), ``s1`` (parsed columns),
    ``s2`` (footer, flag and duplicate columns). ``dialect`` writes them for the engine (default: DuckDB)."""

    dialect = Dialect

    def _lit(self, v) -> str:
        return self.d.lit(v)

    def _ident(self, c: str) -> str:
        return self.d.ident(c)

    def _q(self, e: str) -> str:
        """A raw value quoted for a reason: 'value' ('None' when missing)."""
        q = self._lit("'")
        return f"{q} || coalesce(cast({e} as {self.d.text}), 'None') || {q}"

    def _first_present(self, src) -> str:
        """A column, or per row the first non-blank value of several (``columns.<c>: {coalesce: [...]}``)."""
        if isinstance(src, str):
            return self._ident(src)
        return "coalesce(" + ", ".join(f"nullif(trim(cast({self._ident(h)} as {self.d.text})), '')" for h in src) + ")"

    def _short_footer(self, names: list[str]) -> str:
        """A footer line of the file (as the pandas reader counts them): only its first field, blank or reading like
        a footer ("Grand Totals (6 records)", "Confidential Information - Do Not Distribute", the copyright line)."""
        if not names:
            return "false"

        def blank(n):
            return f"coalesce(trim(cast({self._ident(n)} as {self.d.text})), '') = ''"
        rest = " and ".join(blank(n) for n in names[1:]) or "true"
        first = f"trim(cast({self._ident(names[0])} as {self.d.text}))"
        return f"(({rest}) and ({blank(names[0])} or {self.d.matches(first, _FOOTER)}))"

    def parse_columns(self) -> None:
        self.d = self.dialect(self.con, hold=self.keep)
        rtypes = self.d.text_columns(self.raw)
        names = [n for n in rtypes if n not in ("__line", "__file")]
        view = f"__salesops_raw_{self.name}_{next(_ids)}"
        self.d.view(self.raw, view)
        self.is_str = {c: not isinstance(src, str) or rtypes[src] for c, src in self.colmap.items()}
        row = self.d.row_index() if self.name == "stage_history" else "__line"
        sel = [f"{self._first_present(src)} as r__{c}" for c, src in self.colmap.items()] + [
            "__file", "__line", f"{row} as __row", f"{self._short_footer(names)} as __short"]
        self.base = f"select {', '.join(sel)} from {view}"
        self.cols = {}
        for c in self.colmap:
            kind = self.tdef.dtypes.get(c, "string")
            if kind == "datetime":
                self.cols[c] = self._date(c)
            elif kind == "float":
                self.cols[c] = self._number(c)
            else:
                self.cols[c] = f"nullif(trim(cast(r__{c} as {self.d.text})), '')"

    def pres(self, c: str) -> str:
        return f"(r__{c} is not null and trim(r__{c}) <> '')" if self.is_str[c] else f"(r__{c} is not null)"

    def _date(self, c: str) -> str:
        rc = f"r__{c}"
        if not self.is_str[c]:
            return f"cast({rc} as {self.d.timestamp})"
        v = self.d.strptime(f"trim({rc})", parse_formats(self.spec))
        if is_identity(self.name, c):
            self.flags.append((BAD_DATE, f"({self.pres(c)} and {v} is null)", f"'unparseable {c}: ' || {self._q(rc)}"))
        else:
            self.withheld.append((BAD_DATE, (c,), f"({self.pres(c)} and {v} is null)"))
        return v

    def _number(self, c: str) -> str:
        rc = f"r__{c}"
        dec, th, scale = number_rules(self.spec, c)
        if self.is_str[c]:
            s = self.d.remove(f"trim({rc})", r"[\s$€£¥%]")
            s = f"replace({s}, {self._lit(th)}, '')" if th else s
            s = f"replace({s}, {self._lit(dec)}, '.')" if dec != "." else s
            v = self.d.to_double(s)
            bad = f"({self.pres(c)} and {v} is null)"
        else:
            v, bad = f"cast({rc} as double)", "false"
        if c == "probability":
            pct = f"coalesce({self.d.contains(f'cast({rc} as {self.d.text})', '%')}, false)"
            if scale is None:
                mx, has = self.d.row(f"select max(case when not {pct} then {v} end), bool_or({pct}) from ({self.base})")
                scale = 100.0 if (has or (mx is not None and mx > 1)) else 1.0
                if scale == 100.0 and not has:
                    self.notes.append(f"{self.name}.{c}: read as percentages (values above 1 found).")
            sc = f"(case when {pct} then {v} / 100.0 else {v} / {float(scale)} end)"
            bad = f"({bad} or ({sc} is not null and ({sc} < 0 or {sc} > 1)))"
            v = f"(case when {bad} then null else {sc} end)"
        if is_identity(self.name, c):
            self.flags.append((BAD_NUMBER, bad, f"'unparseable {c}: ' || {self._q(rc)}"))
        else:
            self.withheld.append((BAD_NUMBER, (c,), bad))
        return v

    def label_counts(self, column: str):
        # the distinct labels come back to Python, the renames go back as CASE
        return self.d.df(f"select {self.cols[column]} as label, count(*) as n from ({self.base}) group by 1")

    def rename_stages(self, column: str, unknown: list, renames: dict) -> None:
        expr = self.cols[column]
        if unknown:
            self.flags.append((UNKNOWN_STAGE, f"coalesce({expr} in ({', '.join(map(self._lit, unknown))}), false)",
                               f"'stage label not in the mapping, stage: ' || {self._q('r__' + column)}"))
        if renames:
            cases = " ".join(f"when {self._lit(k)} then {self._lit(v)}" for k, v in renames.items())
            self.cols[column] = f"(case {expr} {cases} else {expr} end)"

    def apply_status(self, won: list, lost: list, unknown: list) -> None:
        st, stage = self.cols[STATUS_COLUMN], self.cols["stage"]

        def among(vals) -> str:
            return f"coalesce({st} in ({', '.join(map(self._lit, vals))}), false)" if vals else "false"

        if unknown:
            self.flags.append((UNKNOWN_STAGE, among(unknown), f"'status not in the mapping, {STATUS_COLUMN}: ' || "
                                                              f"{self._q('r__' + STATUS_COLUMN)}"))
        order = ", ".join(map(self._lit, self.stages.order)) or "null"
        step = f"(case when {stage} in ({order}) then {stage} end)"
        lat = self.cols.get("lost_at_stage", f"cast(null as {self.d.text})")
        self.cols["lost_at_stage"] = f"(case when {among(lost)} then coalesce({lat}, {step}) else {lat} end)"
        self.cols["stage"] = (f"(case when {among(won)} then {self._lit(self.stages.won[0])} when {among(lost)} then "
                              f"{self._lit(self.stages.lost[0])} else {stage} end)")

    def project(self) -> None:
        self.s1 = f"select *, {', '.join(f'{v} as {self._ident(c)}' for c, v in self.cols.items())} from ({self.base})"
        if self.name == "opportunities":
            won = ", ".join(map(self._lit, self.stages.won)) or "null"
            lost = ", ".join(map(self._lit, self.stages.lost)) or "null"
            self.s1 = (f"select *, coalesce(stage in ({won}), false) or coalesce(stage in ({lost}), false) as "
                       f"is_closed, coalesce(stage in ({won}), false) as is_won from ({self.s1})")

    def rule(self, rule: Rule):
        c = rule.columns[0]
        if rule.kind == "absent":
            return f"not {self.pres(c)}", self._lit(rule.text)
        if rule.kind == "all_absent":
            return " and ".join(f"not {self.pres(x)}" for x in rule.columns), self._lit(rule.text)
        if rule.kind == "negative":
            return f"coalesce({self._ident(c)} < 0, false)", f"{self._lit(rule.text + ': ')} || {self._q('r__' + c)}"
        if rule.kind == "close_before_created":
            cd, cr = "date_trunc('day', close_date)", "date_trunc('day', created_date)"
            return (f"coalesce({cd} < {cr}, false)",
                    f"'close_date ' || {self.d.day_text(cd)} || ' before created_date ' || {self.d.day_text(cr)}")
        if rule.kind == "closed_without_close_date":  # blank in the file (an unparseable one is a bad date)
            return f"(is_closed and not {self.pres('close_date')})", self._lit(rule.text)
        raise ValueError(f"unknown rule kind {rule.kind!r}")

    def apply_withheld(self, blank: dict[str, list[int]]) -> None:
        if not self.withheld:
            return
        cols = ", ".join(f"coalesce({f}, false) as __w{i}" for i, (_, _, f) in enumerate(self.withheld))
        self.s1 = f"select *, {cols} from ({self.s1})"
        self.withheld = [(ck, cs, f"__w{i}") for i, (ck, cs, _) in enumerate(self.withheld)]
        if blank:
            rep = {c: f"case when {' or '.join(self.withheld[i][2] for i in idx)} then null else {self._ident(c)} end"
                   for c, idx in blank.items()}
            self.s1 = self.d.replace(self.s1, rep)

    def mark_footer(self) -> None:
        idc, datec = self.tdef.id_column, self.tdef.date_column
        footer = "false"
        if idc in self.colmap and datec in self.colmap:
            strs = [c for c in self.colmap if self.is_str[c]]
            foot_text = " or ".join(self.d.matches(f"r__{c}", _FOOTER) for c in strs) or "false"
            empty = " and ".join(f"not {self.pres(c)}" for c in self.colmap)
            blank_id = f"(not {self.pres(idc)}" + (f" or {self.d.matches(f'r__{idc}', _FOOTER)})" if self.is_str[idc]
                                                   else ")")
            footer = f"({blank_id} and not {self.pres(datec)} and (({foot_text}) or ({empty})))"
        footer = f"({footer} or __short)"
        pre_bad = " or ".join(f"({f})" for _, f, _ in self.flags) or "false"
        fl_cols = ", ".join(f"{f} as __f{i}" for i, (_, f, _) in enumerate(self.flags))
        self.s2 = (f"select *, {footer} as __footer, ({pre_bad}) as __pre_bad{', ' + fl_cols if fl_cols else ''} "
                   f"from ({self.s1})")
        self.flags = [(ck, f"__f{i}", rs) for i, (ck, _, rs) in enumerate(self.flags)]

    def mark_other(self) -> None:
        if self.name != "stage_history":
            self.s2 = f"select *, false as __other from ({self.s2})"
            return
        # a record in the same stage as the deal's previous one is an edit, not an entry (a run of them is one
        # stay: its first record, with the run's last exit when the export has exit dates)
        s2 = f"select *, not __pre_bad and not __footer as __ok from ({self.s2})"
        self.s2 = ("select *, __ok and coalesce(stage = lag(stage) over (partition by opportunity_id, __ok order by "
                   "entered_date, __row), false) as __other from (" + s2 + ")")
        if "exited_date" in self.colmap:
            w = "partition by opportunity_id, __ok"
            s2 = (f"select *, sum(case when __other then 0 else 1 end) over ({w} order by entered_date, __row rows "
                  f"between unbounded preceding and current row) as __run from ({self.s2})")
            last = (f"last_value(exited_date) over ({w}, __run order by entered_date, __row rows between unbounded "
                    "preceding and unbounded following)")
            self.s2 = self.d.replace(s2, {"exited_date": f"case when __ok and not __other then {last} else "
                                                         "exited_date end"})

    def mark_duplicates(self) -> None:
        idc = self.tdef.id_column
        h = self.d.row_hash([f"r__{c}" for c in self.colmap])
        s2 = (f"select *, case when __pre_bad or __footer or __other then null else r__{idc} end as __id, "
              f"{h} as __h from ({self.s2})")
        conflict = "(__id is not null and min(__h) over (partition by __id) <> max(__h) over (partition by __id))"
        s2 = (f"select *, {conflict} as __conflict, (__id is not null and row_number() over (partition by __id, __h "
              "order by __file, __line) > 1) as __exact0 from (" + s2 + ")")
        s2 = f"select *, __exact0 and not __conflict as __exact from ({s2})"
        self.s2 = (f"select *, {self.d.file_name('first_value(__file) over w')} || ':' || "
                   f"cast(first_value(__line) over w as {self.d.text}) as __first from ({s2}) "
                   "window w as (partition by __id, __h order by __file, __line)")
        self.flags.append((EXACT_DUP, "__exact", "'exact duplicate of ' || __first"))
        self.flags.append((CONFLICT_DUP, "__conflict", f"{self._lit(idc + ' ')} || {self._q('r__' + idc)} || "
                           "' appears on other rows with different values'"))

    def finish(self) -> TableResult:
        d, ranked = self.d, self.ranked()
        check = ("case " + " ".join(f"when {f} then {self._lit(ck)}" for ck, f, _ in ranked) + " end") \
            if ranked else "null"
        reason = ("concat_ws('; ', " + ", ".join(f"case when {f} then {rs} end" for _, f, rs in ranked) + ")") \
            if ranked else "''"
        anyf = " or ".join(f for _, f, _ in self.flags) or "false"
        full = f"select *, ({anyf}) and not __footer and not __other as __bad from ({self.s2})"
        full = f"select *, not (__bad or __footer or __other) as __keep from ({full})"
        fview = f"__salesops_full_{self.name}_{next(_ids)}"
        kept = d.keep(d.relation(full))  # the quarantine and the account read the same checked rows
        d.view(kept, fview)
        clean = d.relation(f"select {', '.join(self._clean_projection(fview))} from {fview} where __keep")
        qsel = [f"cast(r__{c} as {d.text}) as {self._ident(c)}" for c in self.colmap]
        q = d.df(f"select {', '.join(qsel)}, {check} as {self._ident('check')}, {reason} as reason, __file as "
                 f"source_file, __line as source_line from {fview} where __bad order by __file, __line")
        q["source_line"] = q["source_line"].astype("Int64")
        aggs = "".join(", " + a for a in self._withheld_aggs())
        a = d.df(f"select count(*) filter (where __keep) as kept, count(*) filter (where __bad) as bad, "
                 f"count(*) filter (where __footer) as footer, count(*) filter (where __other) as other{aggs} "
                 f"from {fview}").iloc[0].to_dict()
        d.release(kept)
        withheld, row_flags = self.withheld_result(a)
        return TableResult(clean, q.reset_index(drop=True), self.account(a), self.notes, withheld=withheld,
                           row_flags=row_flags)

    def _withheld_aggs(self) -> list[str]:
        """Per withheld condition: kept rows, the first one's file, line and raw values; per reason: kept rows."""
        out = []
        for i, (_, cols, f) in enumerate(self.withheld):
            cond = f"__keep and {f}"
            w = f"filter (where {cond})"
            out += [f"count(*) {w} as n{i}", f"{self.d.first_in_file_order('__file', cond)} as f{i}",
                    f"{self.d.first_in_file_order('__line', cond)} as l{i}"]
            out += [f"{self.d.first_in_file_order(f'cast(r__{c} as {self.d.text})', cond)} as v{i}_{j}"
                    for j, c in enumerate(cols) if c in self.colmap]
        for k, ck in enumerate(self.withheld_reasons()):
            anyf = " or ".join(f for c2, _, f in self.withheld if c2 == ck)
            out.append(f"count(*) filter (where __keep and ({anyf})) as r{k}")
        return out

    def _clean_projection(self, fview: str) -> list[str]:
        """The clean table's columns; a stage history without exit dates gets them from the next entry."""
        out_cols = self.output_columns()
        if self.name != "stage_history" or ("exited_date" in self.colmap and self.d.row(
                f"select bool_or({self.pres('exited_date')}) from {fview}")[0]):
            return [self._ident(c) for c in out_cols]
        lead = "lead(entered_date) over (partition by opportunity_id order by entered_date) as exited_date"
        proj = [lead if c == "exited_date" else self._ident(c) for c in out_cols]
        return proj if "exited_date" in out_cols else proj + [lead]
