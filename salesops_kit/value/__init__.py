"""Customer value topic (notebook 02): customers and cohorts, CAC and unit economics, BG/NBD and
Gamma-Gamma CLV, sBG retention, each model with its fit check, the per-customer value table and RFM segments.
Submodules: :mod:`.customers`, :mod:`.costs`, :mod:`.clv`, :mod:`.sbg`, :mod:`.customer_value`, :mod:`.segments`;
:mod:`.views` holds the notebook's tables built for reading."""

from . import clv, costs, customer_value, customers, sbg, segments, views
from ._findings import cost_findings, customer_value_findings, value_note
from ._kpis import kpi_rows

__all__ = ["customers", "costs", "clv", "sbg", "customer_value", "segments", "views", "kpi_rows", "value_note",
           "cost_findings", "customer_value_findings"]
