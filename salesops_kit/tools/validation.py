"""Shared checks, so every option error and every missing-column error has the same wording.

* :func:`check_option` / :func:`check_options`: ``[where: ]<name> must be one of <allowed>; got <value>.``
  (``allowed`` may map each value to a short description, shown in parentheses), raising
  :class:`~salesops_kit.tools.exceptions.InvalidOptionError`.
* :func:`check_level`: an interval level, as a probability (0.95) or, with ``percent=True``, a percentage (95).
* :func:`require_columns` / :func:`missing_columns_message`: the house-style missing-column message (what
  is missing, what the table has, which mapping key to set), raising
  :class:`~salesops_kit.tools.exceptions.MissingColumnsError`.
* :func:`renamed_keyword`: accept an argument's old keyword name (with a ``DeprecationWarning``).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable, Mapping

from .exceptions import InvalidOptionError, MissingColumnsError

__all__ = ["check_option", "check_options", "option_error", "check_level", "require_columns",
           "missing_columns_message", "column_names", "renamed_keyword"]


def _choices(allowed) -> str:
    if isinstance(allowed, Mapping):
        return ", ".join(f"{a} ({d})" if d else str(a) for a, d in allowed.items())
    return ", ".join(map(str, allowed))


def _option_message(name: str, shown, allowed, *, where: str | None, hint: str | None) -> str:
    msg = f"{where + ': ' if where else ''}{name} must be one of {_choices(allowed)}; got {shown}."
    return msg + (f" {hint}" if hint else "")


def option_error(name: str, value, allowed, *, where: str | None = None, hint: str | None = None
                 ) -> InvalidOptionError:
    """The error :func:`check_option` raises, for checks that test membership their own way (aliases)."""
    return InvalidOptionError(_option_message(name, repr(value), allowed, where=where, hint=hint))


def check_option(name: str, value, allowed, *, where: str | None = None, hint: str | None = None):
    """Return ``value`` if it is in ``allowed``, else raise InvalidOptionError saying what is allowed.

    Parameters
    ----------
    name : the argument's name as the user writes it (``"freq"``, ``"engine"``).
    value : what was passed.
    allowed : the allowed values, or a mapping value -> short description (shown in parentheses).
    where : the function's name, prefixed to the message when the argument name alone is ambiguous.
    hint : a sentence appended to the message (what to do instead).
    """
    try:
        ok = value in allowed
    except TypeError:  # unhashable value against a set/dict
        ok = False
    if not ok:
        raise option_error(name, value, allowed, where=where, hint=hint)
    return value


def check_options(name: str, values, allowed, *, where: str | None = None, hint: str | None = None) -> list:
    """Like :func:`check_option` for several values at once; the message lists every unknown one."""
    values = list(values)
    bad = [v for v in values if v not in allowed]
    if bad:
        shown = ", ".join(map(repr, bad))
        raise InvalidOptionError(_option_message(name, f"unknown {name}(s) {shown}", allowed, where=where, hint=hint))
    return values


def check_level(level, *, name: str = "level", percent: bool = False, where: str | None = None) -> float:
    """Return an interval level as a float after checking its range.

    ``percent=False`` (the statistics helpers): a probability strictly between 0 and 1 (0.95 for a 95%
    interval). ``percent=True`` (the forecasts): a percentage strictly between 0 and 100 (80, 95).
    """
    top, example = (100, "95") if percent else (1, "0.95")
    try:
        v = float(level)
    except (TypeError, ValueError):
        v = float("nan")
    if not 0 < v < top:
        unit = "a percentage between 0 and 100" if percent else "a probability between 0 and 1"
        raise InvalidOptionError(f"{where + ': ' if where else ''}{name} must be {unit} (e.g. {example} for a "
                                 f"95% interval); got {level!r}.")
    return v


def column_names(frame) -> list[str]:
    """Column names of a pandas/Polars/narwhals frame (eager or lazy), a DuckDB relation, or an iterable of names."""
    if hasattr(frame, "collect_schema"):  # narwhals and Polars frames, eager or lazy
        return list(frame.collect_schema().names())
    if hasattr(frame, "columns"):  # pandas, DuckDB relations, Spark
        return [str(c) if not isinstance(c, str) else c for c in list(frame.columns)]
    if isinstance(frame, Mapping):
        return list(frame)
    return list(frame)


def missing_columns_message(table: str, missing: Iterable[str], available: Iterable[str], *,
                            purpose: str | None = None, hint: str | None = None) -> str:
    """The house-style message: what is missing, what the table has, which mapping key to set.

    ``hint`` replaces the default last sentence (map the column in ``tables.<table>.columns`` or rename it).
    """
    missing = list(missing)
    have = sorted(map(str, available))
    need = f" needed for {purpose}" if purpose else ""
    fix = hint or (f"Map the export's column to the canonical name in the mapping (tables.{table}.columns) or "
                   "rename it before calling.")
    return (f"{table} has no column(s) {', '.join(map(repr, missing))}{need}; it has "
            f"{', '.join(have) or 'no columns'}. {fix}")


def require_columns(frame, cols: Iterable[str], *, table: str, purpose: str | None = None,
                    hint: str | None = None) -> None:
    """Raise :class:`MissingColumnsError` (house-style message) if ``frame`` lacks any of ``cols``.

    ``frame`` is any frame :func:`column_names` understands, or the column names themselves.
    """
    have = column_names(frame)
    present = set(have)
    missing = [c for c in cols if c not in present]
    if missing:
        raise MissingColumnsError(missing_columns_message(table, missing, have, purpose=purpose, hint=hint),
                                  table=table, missing=missing, available=have)


def renamed_keyword(old: str, new: str) -> Callable:
    """Decorator: accept the keyword ``old`` as ``new`` (with a DeprecationWarning), refuse both at once."""

    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{fn.__name__}() got both {old}= and {new}=; pass {new}= only.")
                warnings.warn(f"{fn.__name__}({old}=...) is now {fn.__name__}({new}=...).", DeprecationWarning,
                              stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return inner

    return wrap
