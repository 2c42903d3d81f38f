"""Tools: the kit's shared error types, option validators and the result protocol.

The foundation floor: every other subpackage may import from here, and nothing here imports the rest of
the kit except :mod:`salesops_kit.i18n` (same floor: the words and number formats of tables).
:mod:`.exceptions` holds the error and warning types (one :class:`MissingColumnsError` for a missing column
everywhere), :mod:`.tables` the tables built for reading (:func:`readable`, :func:`show_table`),
:mod:`.validation` the checks that give every option and column error the
same wording, :mod:`.results` the :class:`Result` base class every analysis result follows
(``summary()``, ``headline()``, ``plot(ax=None)``, ``__repr__``, ``_repr_html_``).
"""

from .exceptions import (
    DataWarning,
    InvalidOptionError,
    MappingError,
    MissingColumnsError,
    MissingTablesError,
    SalesopsError,
    SalesopsWarning,
)
from .results import Result
from .tables import readable, show_table
from .validation import check_level, check_option, check_options, missing_columns_message, require_columns

__all__ = ["SalesopsError", "MissingColumnsError", "MappingError", "MissingTablesError", "InvalidOptionError",
           "SalesopsWarning", "DataWarning", "Result", "check_option", "check_options", "check_level",
           "require_columns", "missing_columns_message", "readable", "show_table"]
