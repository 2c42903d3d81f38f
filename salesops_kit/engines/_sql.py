"""DuckDB back-end of the lazy loader (:mod:`salesops_kit.engines`): one table as a DuckDB relation.

The loader's steps (:class:`._common.LazyTable`) as SQL over the scanned files: trim text, parse dates
and numbers (failures quarantined), normalise stage labels, derive is_closed/is_won, missing values,
negative amounts, close-before-created, exact/conflicting duplicates.
"""

from __future__ import annotations

import itertools

from ..data.readers import FOOTER_RE
from ..data.schema import BAD_DATE, BAD_NUMBER, CONFLICT_DUP, EXACT_DUP, STATUS_COLUMN, UNKNOWN_STAGE
from ._common import LazyTable, Rule, TableResult, is_identity, number_rules, parse_formats

__all__ = ["SqlTable"]

_ids = itertools.count()


def _lit(v) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _ident(c: str) -> str:
    return '"' + c.replace('"', '""') + '"'


def _q(e: str) -> str:
    return f"'''' || coalesce(cast({e} as varchar), 'None') || ''''"


def _first_present(src) -> str:
    """A column, or per row the first non-blank value of several (``columns.<c>: {coalesce: [...]}``)."""
    if isinstance(src, str):
        return _ident(src)
    return "coalesce(" + ", ".join(f"nullif(trim(cast({_ident(h)} as varchar)), '')" for h in src) + ")"


def _short_footer(names: list[str]) -> str:
    """A footer line of the file (as the pandas reader counts them): only its first field, blank or reading like a
    footer ("Grand Totals (6 records)", "Confidential Information - Do Not Distribute", the copyright line)."""
    if not names:
        return "false"
    def blank(n):
        return f"coalesce(trim(cast({_ident(n)} as varchar)), '') = ''"
    rest = " and ".join(blank(n) for n in names[1:]) or "true"
    first = f"trim(cast({_ident(names[0])} as varchar))"
    rx = _lit("(?i)" + FOOTER_RE.pattern)
    return f"(({rest}) and ({blank(names[0])} or coalesce(regexp_matches({first}, {rx}), false)))"


class SqlTable(LazyTable):
    """One table as nested DuckDB selects: ``base`` (raw columns ``r__<column>``), ``s1`` (parsed columns),
    ``s2`` (footer, flag and duplicate columns)."""

    def parse_columns(self) -> None:
        rtypes = dict(zip(self.raw.columns, [str(t) for t in self.raw.types], strict=True))
        names = [n for n in self.raw.columns if n not in ("__line", "__file")]
        view = f"__salesops_raw_{self.name}_{next(_ids)}"
        self.raw.create_view(view, replace=True)
        self.is_str = {c: not isinstance(src, str) or rtypes[src] == "VARCHAR" for c, src in self.colmap.items()}
        row = "row_number() over ()" if self.name == "stage_history" else "__line"
        sel = [f"{_first_present(src)} as r__{c}" for c, src in self.colmap.items()] + [
            "__file", "__line", f"{row} as __row", f"{_short_footer(names)} as __short"]
        self.base = f"select {', '.join(sel)} from {view}"
        self.cols = {}
        for c in self.colmap:
            kind = self.tdef.dtypes.get(c, "string")
            if kind == "datetime":
                self.cols[c] = self._date(c)
            elif kind == "float":
                self.cols[c] = self._number(c)
            else:
                self.cols[c] = f"nullif(trim(cast(r__{c} as varchar)), '')"

    def pres(self, c: str) -> str:
        return f"(r__{c} is not null and trim(r__{c}) <> '')" if self.is_str[c] else f"(r__{c} is not null)"

    def _date(self, c: str) -> str:
        rc = f"r__{c}"
        if not self.is_str[c]:
            return f"cast({rc} as timestamp)"
        fmts = "[" + ", ".join(_lit(f) for f in parse_formats(self.spec)) + "]"
        v = f"try_strptime(trim({rc}), {fmts})"
        if is_identity(self.name, c):
            self.flags.append((BAD_DATE, f"({self.pres(c)} and {v} is null)", f"'unparseable {c}: ' || {_q(rc)}"))
        else:
            self.withheld.append((BAD_DATE, (c,), f"({self.pres(c)} and {v} is null)"))
        return v

    def _number(self, c: str) -> str:
        rc = f"r__{c}"
        dec, th, scale = number_rules(self.spec, c)
        if self.is_str[c]:
            s = f"regexp_replace(trim({rc}), '[\\s$€£¥%]', '', 'g')"
            s = f"replace({s}, {_lit(th)}, '')" if th else s
            s = f"replace({s}, {_lit(dec)}, '.')" if dec != "." else s
            v, bad = f"try_cast({s} as double)", f"({self.pres(c)} and try_cast({s} as double) is null)"
        else:
            v, bad = f"cast({rc} as double)", "false"
        if c == "probability":
            pct = f"coalesce(contains(cast({rc} as varchar), '%'), false)"
            if scale is None:
                mx, has = self.con.execute(f"select max(case when not {pct} then {v} end), bool_or({pct}) "
                                           f"from ({self.base})").fetchall()[0]
                scale = 100.0 if (has or (mx is not None and mx > 1)) else 1.0
                if scale == 100.0 and not has:
                    self.notes.append(f"{self.name}.{c}: read as percentages (values above 1 found).")
            sc = f"(case when {pct} then {v} / 100.0 else {v} / {float(scale)} end)"
            bad = f"({bad} or ({sc} is not null and ({sc} < 0 or {sc} > 1)))"
            v = f"(case when {bad} then null else {sc} end)"
        if is_identity(self.name, c):
            self.flags.append((BAD_NUMBER, bad, f"'unparseable {c}: ' || {_q(rc)}"))
        else:
            self.withheld.append((BAD_NUMBER, (c,), bad))
        return v

    def label_counts(self, column: str):
        # the distinct labels come back to Python, the renames go back as CASE
        return self.con.sql(f"select {self.cols[column]} as label, count(*) as n from ({self.base}) group by 1").df()

    def rename_stages(self, column: str, unknown: list, renames: dict) -> None:
        expr = self.cols[column]
        if unknown:
            self.flags.append((UNKNOWN_STAGE, f"coalesce({expr} in ({', '.join(map(_lit, unknown))}), false)",
                               f"'stage label not in the mapping, stage: ' || {_q('r__' + column)}"))
        if renames:
            cases = " ".join(f"when {_lit(k)} then {_lit(v)}" for k, v in renames.items())
            self.cols[column] = f"(case {expr} {cases} else {expr} end)"

    def apply_status(self, won: list, lost: list, unknown: list) -> None:
        st, stage = self.cols[STATUS_COLUMN], self.cols["stage"]

        def among(vals) -> str:
            return f"coalesce({st} in ({', '.join(map(_lit, vals))}), false)" if vals else "false"

        if unknown:
            self.flags.append((UNKNOWN_STAGE, among(unknown), f"'status not in the mapping, {STATUS_COLUMN}: ' || "
                                                              f"{_q('r__' + STATUS_COLUMN)}"))
        order = ", ".join(map(_lit, self.stages.order)) or "null"
        step = f"(case when {stage} in ({order}) then {stage} end)"
        lat = self.cols.get("lost_at_stage", "cast(null as varchar)")
        self.cols["lost_at_stage"] = f"(case when {among(lost)} then coalesce({lat}, {step}) else {lat} end)"
        self.cols["stage"] = (f"(case when {among(won)} then {_lit(self.stages.won[0])} when {among(lost)} then "
                              f"{_lit(self.stages.lost[0])} else {stage} end)")

    def project(self) -> None:
        self.s1 = f"select *, {', '.join(f'{v} as {_ident(c)}' for c, v in self.cols.items())} from ({self.base})"
        if self.name == "opportunities":
            won = ", ".join(map(_lit, self.stages.won)) or "null"
            lost = ", ".join(map(_lit, self.stages.lost)) or "null"
            self.s1 = (f"select *, coalesce(stage in ({won}), false) or coalesce(stage in ({lost}), false) as "
                       f"is_closed, coalesce(stage in ({won}), false) as is_won from ({self.s1})")

    def rule(self, rule: Rule):
        c = rule.columns[0]
        if rule.kind == "absent":
            return f"not {self.pres(c)}", _lit(rule.text)
        if rule.kind == "all_absent":
            return " and ".join(f"not {self.pres(x)}" for x in rule.columns), _lit(rule.text)
        if rule.kind == "negative":
            return f"coalesce({_ident(c)} < 0, false)", f"{_lit(rule.text + ': ')} || {_q('r__' + c)}"
        if rule.kind == "close_before_created":
            cd, cr = "date_trunc('day', close_date)", "date_trunc('day', created_date)"
            return (f"coalesce({cd} < {cr}, false)",
                    f"'close_date ' || strftime({cd}, '%Y-%m-%d') || ' before created_date ' || "
                    f"strftime({cr}, '%Y-%m-%d')")
        if rule.kind == "closed_without_close_date":  # blank in the file (an unparseable one is a bad date)
            return f"(is_closed and not {self.pres('close_date')})", _lit(rule.text)
        raise ValueError(f"unknown rule kind {rule.kind!r}")

    def apply_withheld(self, blank: dict[str, list[int]]) -> None:
        if not self.withheld:
            return
        cols = ", ".join(f"coalesce({f}, false) as __w{i}" for i, (_, _, f) in enumerate(self.withheld))
        self.s1 = f"select *, {cols} from ({self.s1})"
        self.withheld = [(ck, cs, f"__w{i}") for i, (ck, cs, _) in enumerate(self.withheld)]
        if blank:
            rep = ", ".join(f"case when {' or '.join(self.withheld[i][2] for i in idx)} then null else {_ident(c)} "
                            f"end as {_ident(c)}" for c, idx in blank.items())
            self.s1 = f"select * replace ({rep}) from ({self.s1})"

    def mark_footer(self) -> None:
        idc, datec = self.tdef.id_column, self.tdef.date_column
        footer = "false"
        if idc in self.colmap and datec in self.colmap:
            rx = _lit("(?i)" + FOOTER_RE.pattern)
            strs = [c for c in self.colmap if self.is_str[c]]
            foot_text = " or ".join(f"coalesce(regexp_matches(r__{c}, {rx}), false)" for c in strs) or "false"
            empty = " and ".join(f"not {self.pres(c)}" for c in self.colmap)
            blank_id = f"(not {self.pres(idc)}" + (f" or coalesce(regexp_matches(r__{idc}, {rx}), false))"
                                                   if self.is_str[idc] else ")")
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
            self.s2 = (f"select * replace (case when __ok and not __other then {last} else exited_date end as "
                       f"exited_date) from ({s2})")

    def mark_duplicates(self) -> None:
        idc = self.tdef.id_column
        h = "hash(" + ", ".join(f"r__{c}" for c in self.colmap) + ")"
        s2 = (f"select *, case when __pre_bad or __footer or __other then null else r__{idc} end as __id, "
              f"{h} as __h from ({self.s2})")
        conflict = "(__id is not null and min(__h) over (partition by __id) <> max(__h) over (partition by __id))"
        s2 = (f"select *, {conflict} as __conflict, (__id is not null and row_number() over (partition by __id, __h "
              "order by __file, __line) > 1) as __exact0 from (" + s2 + ")")
        s2 = f"select *, __exact0 and not __conflict as __exact from ({s2})"
        self.s2 = ("select *, regexp_extract(first_value(__file) over w, '[^/\\\\]+$') || ':' || "
                   "cast(first_value(__line) over w as varchar) as __first from (" + s2 + ") "
                   "window w as (partition by __id, __h order by __file, __line)")
        self.flags.append((EXACT_DUP, "__exact", "'exact duplicate of ' || __first"))
        self.flags.append((CONFLICT_DUP, "__conflict", f"{_lit(idc + ' ')} || {_q('r__' + idc)} || "
                           "' appears on other rows with different values'"))

    def finish(self) -> TableResult:
        con, ranked = self.con, self.ranked()
        check = ("case " + " ".join(f"when {f} then {_lit(ck)}" for ck, f, _ in ranked) + " end") if ranked else "null"
        reason = ("concat_ws('; ', " + ", ".join(f"case when {f} then {rs} end" for _, f, rs in ranked) + ")") \
            if ranked else "''"
        anyf = " or ".join(f for _, f, _ in self.flags) or "false"
        full = f"select *, ({anyf}) and not __footer and not __other as __bad from ({self.s2})"
        full = f"select *, not (__bad or __footer or __other) as __keep from ({full})"
        fview = f"__salesops_full_{self.name}_{next(_ids)}"
        con.sql(full).create_view(fview, replace=True)
        clean = con.sql(f"select {', '.join(self._clean_projection(fview))} from {fview} where __keep")
        qsel = [f"cast(r__{c} as varchar) as {_ident(c)}" for c in self.colmap]
        q = con.sql(f"select {', '.join(qsel)}, {check} as \"check\", {reason} as reason, __file as source_file, "
                    f"__line as source_line from {fview} where __bad order by __file, __line").df()
        q["source_line"] = q["source_line"].astype("Int64")
        aggs = "".join(", " + a for a in self._withheld_aggs())
        a = con.sql(f"select count(*) filter (where __keep) as kept, count(*) filter (where __bad) as bad, "
                    f"count(*) filter (where __footer) as footer, count(*) filter (where __other) as other{aggs} "
                    f"from {fview}").df().iloc[0].to_dict()
        withheld, row_flags = self.withheld_result(a)
        return TableResult(clean, q.reset_index(drop=True), self.account(a), self.notes, withheld=withheld,
                           row_flags=row_flags)

    def _withheld_aggs(self) -> list[str]:
        """Per withheld condition: kept rows, the first one's file, line and raw values; per reason: kept rows."""
        out = []
        for i, (_, cols, f) in enumerate(self.withheld):
            w = f"filter (where __keep and {f})"
            out += [f"count(*) {w} as n{i}", f"first(__file order by __file, __line) {w} as f{i}",
                    f"first(__line order by __file, __line) {w} as l{i}"]
            out += [f"first(cast(r__{c} as varchar) order by __file, __line) {w} as v{i}_{j}"
                    for j, c in enumerate(cols) if c in self.colmap]
        for k, ck in enumerate(self.withheld_reasons()):
            anyf = " or ".join(f for c2, _, f in self.withheld if c2 == ck)
            out.append(f"count(*) filter (where __keep and ({anyf})) as r{k}")
        return out

    def _clean_projection(self, fview: str) -> list[str]:
        """The clean table's columns; a stage history without exit dates gets them from the next entry."""
        out_cols = self.output_columns()
        if self.name != "stage_history" or ("exited_date" in self.colmap and self.con.execute(
                f"select bool_or({self.pres('exited_date')}) from {fview}").fetchall()[0][0]):
            return [_ident(c) for c in out_cols]
        lead = "lead(entered_date) over (partition by opportunity_id order by entered_date) as exited_date"
        proj = [lead if c == "exited_date" else _ident(c) for c in out_cols]
        return proj if "exited_date" in out_cols else proj + [lead]
