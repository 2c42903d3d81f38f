"""DuckDB back-end of the lazy loader (:mod:`salesops_kit.engines`): one table as a DuckDB relation.

The same rules as ``_tables.finish_table`` and ``_engine_polars``, written as SQL over the scanned
files: trim text, parse dates and numbers (failures quarantined), normalise stage labels, derive
is_closed/is_won, missing values, negative amounts, close-before-created, exact/conflicting duplicates.
"""

from __future__ import annotations

import itertools

from ..data.readers import FOOTER_RE
from ..data.schema import TABLES

_ids = itertools.count()


def _lit(v) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _ident(c: str) -> str:
    return '"' + c.replace('"', '""') + '"'


def _q(e: str) -> str:
    return f"'''' || coalesce(cast({e} as varchar), 'None') || ''''"


def build(*, name, raw, colmap, spec, stages, mname, found, unknown_stages, con, helpers) -> dict:
    tdef = TABLES[name]
    C = helpers.checks
    rtypes = dict(zip(raw.columns, [str(t) for t in raw.types], strict=True))
    view = f"__salesops_raw_{name}_{next(_ids)}"
    raw.create_view(view, replace=True)
    is_str = {c: rtypes[src] == "VARCHAR" for c, src in colmap.items()}
    row = "row_number() over ()" if name == "stage_history" else "__line"
    sel = [f"{_ident(src)} as r__{c}" for c, src in colmap.items()] + ["__file", "__line", f"{row} as __row"]
    base = f"select {', '.join(sel)} from {view}"

    def pres(c):
        return f"(r__{c} is not null and trim(r__{c}) <> '')" if is_str[c] else f"(r__{c} is not null)"

    cols, flags, notes = {}, [], []  # flags: (check, sql bool, sql reason)
    for c in colmap:
        rc, kind = f"r__{c}", tdef.dtypes.get(c, "string")
        if kind == "datetime":
            if is_str[c]:
                fmts = "[" + ", ".join(_lit(f) for f in helpers.parse_formats(spec)) + "]"
                v = f"try_strptime(trim({rc}), {fmts})"
                flags.append((C["bad_date"], f"({pres(c)} and {v} is null)", f"'unparseable {c}: ' || {_q(rc)}"))
            else:
                v = f"cast({rc} as timestamp)"
            cols[c] = v
        elif kind == "float":
            dec, th, scale = helpers.number_rules(spec, c)
            if is_str[c]:
                s = f"regexp_replace(trim({rc}), '[\\s$€£¥%]', '', 'g')"
                s = f"replace({s}, {_lit(th)}, '')" if th else s
                s = f"replace({s}, {_lit(dec)}, '.')" if dec != "." else s
                v, bad = f"try_cast({s} as double)", f"({pres(c)} and try_cast({s} as double) is null)"
            else:
                v, bad = f"cast({rc} as double)", "false"
            if c == "probability":
                pct = f"coalesce(contains(cast({rc} as varchar), '%'), false)"
                if scale is None:
                    mx, has = con.execute(f"select max(case when not {pct} then {v} end), bool_or({pct}) "
                                      f"from ({base})").fetchall()[0]
                    scale = 100.0 if (has or (mx is not None and mx > 1)) else 1.0
                    if scale == 100.0 and not has:
                        notes.append(f"{name}.{c}: read as percentages (values above 1 found).")
                sc = f"(case when {pct} then {v} / 100.0 else {v} / {float(scale)} end)"
                bad = f"({bad} or ({sc} is not null and ({sc} < 0 or {sc} > 1)))"
                v = f"(case when {bad} then null else {sc} end)"
            flags.append((C["bad_number"], bad, f"'unparseable {c}: ' || {_q(rc)}"))
            cols[c] = v
        else:
            cols[c] = f"nullif(trim(cast({rc} as varchar)), '')"
    # stage labels: the distinct values come back to Python, the mapping goes back as CASE
    for c in ("stage", "lost_at_stage", "from_stage"):
        if c not in colmap:
            continue
        counts = con.sql(f"select {cols[c]} as label, count(*) as n from ({base}) group by 1").df()
        unknown, repl = helpers.stage_rules(name, c, counts, stages, mname, found, unknown_stages)
        if unknown:
            flags.append((C["unknown_stage"], f"coalesce({cols[c]} in ({', '.join(map(_lit, unknown))}), false)",
                          f"'stage label not in the mapping, stage: ' || {_q('r__' + c)}"))
        if repl:
            cases = " ".join(f"when {_lit(k)} then {_lit(v)}" for k, v in repl.items())
            cols[c] = f"(case {cols[c]} {cases} else {cols[c]} end)"
    s1 = f"select *, {', '.join(f'{v} as {_ident(c)}' for c, v in cols.items())} from ({base})"
    if name == "opportunities":
        won = ", ".join(map(_lit, stages.won)) or "null"
        lost = ", ".join(map(_lit, stages.lost)) or "null"
        s1 = (f"select *, coalesce(stage in ({won}), false) or coalesce(stage in ({lost}), false) as is_closed, "
              f"coalesce(stage in ({won}), false) as is_won from ({s1})")
    for c in helpers.required_values.get(name, ()):
        if c in colmap:
            flags.append((C["missing"], f"not {pres(c)}", _lit(f"missing {c}")))
    if name == "csat":
        have = [c for c in helpers.csat_one_of if c in colmap]
        if have:
            flags.append((C["missing"], " and ".join(f"not {pres(c)}" for c in have),
                          _lit("missing both owner and customer_id")))
    if name == "orders" and "customer_id" in colmap:
        flags.append((C["no_customer"], f"not {pres('customer_id')}", _lit("order without customer_id")))
    for c in helpers.nonnegative.get(name, ()):
        if c in colmap:
            flags.append((C["negative"], f"coalesce({_ident(c)} < 0, false)", f"'negative {c}: ' || {_q('r__' + c)}"))
    if name == "opportunities":
        cd, cr = "date_trunc('day', close_date)", "date_trunc('day', created_date)"
        flags.append((C["close_before"], f"coalesce({cd} < {cr}, false)",
                      f"'close_date ' || strftime({cd}, '%Y-%m-%d') || ' before created_date ' || "
                      f"strftime({cr}, '%Y-%m-%d')"))
        flags.append((C["missing"], "(is_closed and close_date is null)", _lit("closed deal without close_date")))
    idc, datec = tdef.id_column, tdef.date_column
    footer = "false"
    if idc in colmap and datec in colmap:
        rx = _lit("(?i)" + FOOTER_RE.pattern)
        strs = [c for c in colmap if is_str[c]]
        foot_text = " or ".join(f"coalesce(regexp_matches(r__{c}, {rx}), false)" for c in strs) or "false"
        empty = " and ".join(f"not {pres(c)}" for c in colmap)
        blank_id = f"(not {pres(idc)}" + (f" or coalesce(regexp_matches(r__{idc}, {rx}), false))" if is_str[idc]
                                          else ")")
        footer = f"({blank_id} and not {pres(datec)} and (({foot_text}) or ({empty})))"
    pre_bad = " or ".join(f"({f})" for _, f, _ in flags) or "false"
    fl_cols = ", ".join(f"{f} as __f{i}" for i, (_, f, _) in enumerate(flags))
    s2 = f"select *, {footer} as __footer, ({pre_bad}) as __pre_bad{', ' + fl_cols if fl_cols else ''} from ({s1})"
    flags = [(ck, f"__f{i}", rs) for i, (ck, _, rs) in enumerate(flags)]
    if name == "stage_history":
        same_from = "coalesce(from_stage is not null and from_stage = stage, false)" if "from_stage" in colmap \
            else "false"
        s2 = f"select *, {same_from} as __same_from from ({s2})"
        s2 = "select *, not __pre_bad and not __footer and not __same_from as __ok from (" + s2 + ")"
        s2 = ("select *, __same_from or (__ok and coalesce(stage = lag(stage) over (partition by opportunity_id, "
              "__ok order by entered_date, __row), false)) as __other from (" + s2 + ")")
    else:
        s2 = f"select *, false as __other from ({s2})"
    if idc in colmap:
        h = "hash(" + ", ".join(f"r__{c}" for c in colmap) + ")"
        s2 = (f"select *, case when __pre_bad or __footer or __other then null else r__{idc} end as __id, "
              f"{h} as __h from ({s2})")
        conflict = "(__id is not null and min(__h) over (partition by __id) <> max(__h) over (partition by __id))"
        s2 = (f"select *, {conflict} as __conflict, (__id is not null and row_number() over (partition by __id, __h "
              "order by __file, __line) > 1) as __exact0 from (" + s2 + ")")
        s2 = f"select *, __exact0 and not __conflict as __exact from ({s2})"
        s2 = ("select *, regexp_extract(first_value(__file) over w, '[^/\\\\]+$') || ':' || "
              "cast(first_value(__line) over w as varchar) as __first from (" + s2 + ") "
              "window w as (partition by __id, __h order by __file, __line)")
        flags.append((C["exact"], "__exact", "'exact duplicate of ' || __first"))
        flags.append((C["conflict"], "__conflict", f"{_lit(idc + ' ')} || {_q('r__' + idc)} || "
                      "' appears on other rows with different values'"))
    ranked = sorted(flags, key=lambda x: helpers.check_order.index(x[0]))
    check = ("case " + " ".join(f"when {f} then {_lit(ck)}" for ck, f, _ in ranked) + " end") if ranked else "null"
    reason = ("concat_ws('; ', " + ", ".join(f"case when {f} then {rs} end" for _, f, rs in ranked) + ")") \
        if ranked else "''"
    anyf = " or ".join(f for _, f, _ in flags) or "false"
    full = (f"select *, ({anyf}) and not __footer and not __other as __bad from ({s2})")
    full = f"select *, not (__bad or __footer or __other) as __keep from ({full})"
    fview = f"__salesops_full_{name}_{next(_ids)}"
    con.sql(full).create_view(fview, replace=True)
    out_cols = [c for c in tdef.dtypes if c in colmap and c not in ("is_closed", "is_won")]
    if name == "opportunities":
        out_cols += ["is_closed", "is_won"]
    if name == "stage_history" and ("exited_date" not in colmap or not con.execute(
            f"select bool_or({pres('exited_date')}) from {fview}").fetchall()[0][0]):
        proj = [("lead(entered_date) over (partition by opportunity_id order by entered_date) as exited_date"
                 if c == "exited_date" else _ident(c)) for c in out_cols]
        if "exited_date" not in out_cols:
            proj.append("lead(entered_date) over (partition by opportunity_id order by entered_date) as exited_date")
        clean = con.sql(f"select {', '.join(proj)} from {fview} where __keep")
    else:
        clean = con.sql(f"select {', '.join(map(_ident, out_cols))} from {fview} where __keep")
    qsel = [f"cast(r__{c} as varchar) as {_ident(c)}" for c in colmap]
    q = con.sql(f"select {', '.join(qsel)}, {check} as \"check\", {reason} as reason, __file as source_file, "
                f"__line as source_line from {fview} where __bad order by __file, __line").df()
    q["source_line"] = q["source_line"].astype("Int64")
    a = con.sql(f"select count(*) filter (where __keep) as kept, count(*) filter (where __bad) as bad, "
                f"count(*) filter (where __footer) as footer, count(*) filter (where __other) as other "
                f"from {fview}").df().iloc[0]
    return {"clean": clean, "quarantine": q.reset_index(drop=True),
            "account": helpers.account(name, len(found), a.to_dict()), "notes": notes}

