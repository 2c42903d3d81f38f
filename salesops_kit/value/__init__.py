"""Customer value topic (notebook 02): customers and cohorts, CAC and unit economics, BG/NBD and
Gamma-Gamma CLV, sBG retention. Submodules: :mod:`.customers`, :mod:`.costs`, :mod:`.clv`, :mod:`.sbg`."""

from . import clv, costs, customers, sbg
from ._findings import value_note
from ._kpis import kpi_rows

__all__ = ["customers", "costs", "clv", "sbg", "kpi_rows", "value_note"]
