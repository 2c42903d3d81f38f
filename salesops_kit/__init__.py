"""salesops-kit: CRM exports -> canonical tables -> sales KPIs with honest definitions and uncertainty."""

from .data.load import Dataset, MappingError, MissingTablesError, load_dataset, load_mapping

__version__ = "0.1.0"

__all__ = ["Dataset", "MappingError", "MissingTablesError", "load_dataset", "load_mapping", "__version__"]
