"""Customer value topic (notebook 02): customers and cohorts, CAC and unit economics, BG/NBD and
Gamma-Gamma CLV, sBG retention, each model with its fit check. Submodules: :mod:`.customers`, :mod:`.costs`,
:mod:`.clv`, :mod:`.sbg`; :mod:`.views` holds the notebook's tables built for reading."""

from . import clv, costs, customers, sbg, views
from ._findings import cost_findings, value_note
from ._kpis import kpi_rows

__all__ = ["customers", "costs", "clv", "sbg", "views", "kpi_rows", "value_note", "cost_findings"]
