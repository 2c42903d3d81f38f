"""Error and warning types of salesops-kit (in the spirit of statsmodels' ``sm_exceptions``).

Every error the kit raises on purpose is a :class:`SalesopsError`, so ``except SalesopsError`` catches
them all. Each also keeps the built-in base that the same problem raised before these types existed, so
``except KeyError`` / ``except ValueError`` / ``except LookupError`` clauses written against older
versions keep catching what they caught:

=========================  ==========================================  ==============================
type                       the problem                                 also an instance of
=========================  ==========================================  ==============================
``MappingError``           a mapping or export does not fit the        ``ValueError``
                           canonical schema
``MissingColumnsError``    a table lacks columns an analysis or the    ``MappingError``, ``KeyError``
                           loader needs                                (and so ``ValueError``,
                                                                       ``LookupError``)
``MissingTablesError``     the dataset lacks a table an analysis       ``LookupError``
                           needs
``InvalidOptionError``     an argument is not one of the allowed       ``ValueError``
                           values (or out of range)
=========================  ==========================================  ==============================

A missing column used to raise ``KeyError`` in the analyses, ``ValueError`` in the forecasting and
monitoring helpers and ``MappingError`` in the loader; :class:`MissingColumnsError` is all three. Its
``str()`` is the message itself, without the quotes ``KeyError`` puts around its argument.
"""

from __future__ import annotations

__all__ = ["SalesopsError", "MappingError", "MissingColumnsError", "MissingTablesError", "InvalidOptionError",
           "SalesopsWarning", "DataWarning"]


class SalesopsError(Exception):
    """Base class of every error salesops-kit raises on purpose; the message says what to do."""

    def __str__(self) -> str:
        # BaseException's str: the message as given (KeyError, a base of some subclasses, would quote it)
        return BaseException.__str__(self)


class MappingError(SalesopsError, ValueError):
    """A mapping or export does not fit the canonical schema; the message says what to do."""


class MissingColumnsError(MappingError, KeyError):
    """A table lacks columns that an analysis (or the loader) needs.

    The message names the missing columns, the columns the table has and the mapping key to set
    (``tables.<table>.columns``). The same facts are attributes for code that wants them:

    Attributes
    ----------
    table : the canonical table name (``"opportunities"``, ``"orders"``, ...) or a description of the input.
    missing : the missing column names.
    available : the column names the table has.
    """

    def __init__(self, message: str = "", *, table: str | None = None, missing=(), available=()):
        super().__init__(message)
        self.table = table
        self.missing = tuple(missing)
        self.available = tuple(available)

    def __str__(self) -> str:
        return BaseException.__str__(self)


class MissingTablesError(SalesopsError, LookupError):
    """An analysis needs tables the dataset does not have."""


class InvalidOptionError(SalesopsError, ValueError):
    """An argument is not one of the allowed values (or not in its allowed range)."""


class SalesopsWarning(UserWarning):
    """Base class of the warnings salesops-kit issues."""


class DataWarning(SalesopsWarning):
    """The data loaded, but something in it makes results misleading unless fixed (e.g. no won deals)."""
