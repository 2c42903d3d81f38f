"""salesops-kit: CRM exports -> canonical tables -> sales KPIs with honest definitions and uncertainty."""

from .data.load import Dataset, MappingError, MissingTablesError, load_dataset, load_mapping, open_dataset
from .tools.exceptions import DataWarning, InvalidOptionError, MissingColumnsError, SalesopsError

__version__ = "0.1.0"

__all__ = ["Dataset", "MappingError", "MissingTablesError", "load_dataset", "load_mapping", "open_dataset",
           "SalesopsError", "MissingColumnsError", "InvalidOptionError", "DataWarning", "__version__"]
