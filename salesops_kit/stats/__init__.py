"""Statistics shared by every topic: intervals and effect sizes (:mod:`.intervals`), tests and false-discovery
control (:mod:`.testing`), shrinkage (:mod:`.shrinkage`) and bootstrap (:mod:`.bootstrap`), re-exported here;
maximum likelihood (:mod:`.mle`), control charts (:mod:`.control`), the monitored KPI specs (:mod:`.kpi_specs`)
and monthly-series coercion (:mod:`.series`). Imports only the foundation (tools, i18n) and findings."""

from .bootstrap import bootstrap_ci, bootstrap_diff
from .intervals import cohens_h, median_ci, newcombe_diff_interval, nps_interval, weighted_quantile, wilson_interval
from .shrinkage import BetaBinomialFit, fit_beta_binomial, funnel_limits, shrink_rates
from .testing import (
    bh_adjust,
    chi_square_independence,
    fisher_vs_rest,
    nps_change_test,
    poisson_rate_test,
    rate_change_test,
    sum_change_test,
    two_proportion_test,
)

__all__ = ["wilson_interval", "bh_adjust", "bootstrap_ci", "two_proportion_test", "chi_square_independence",
           "newcombe_diff_interval", "cohens_h", "weighted_quantile", "BetaBinomialFit", "fit_beta_binomial",
           "shrink_rates", "fisher_vs_rest", "funnel_limits", "median_ci", "rate_change_test", "poisson_rate_test",
           "bootstrap_diff", "sum_change_test", "nps_interval", "nps_change_test"]
