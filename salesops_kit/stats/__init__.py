"""Statistics shared by every topic: intervals, tests, false-discovery control, shrinkage and bootstrap
(:mod:`.core`, re-exported here), maximum likelihood (:mod:`.mle`), control charts (:mod:`.control`), the
monitored KPI specs (:mod:`.kpi_specs`) and monthly-series coercion (:mod:`.series`). Imports only the
foundation (tools, i18n) and findings."""

from .core import (
    BetaBinomialFit,
    bh_adjust,
    bootstrap_ci,
    bootstrap_diff,
    chi_square_independence,
    cohens_h,
    fisher_vs_rest,
    fit_beta_binomial,
    funnel_limits,
    median_ci,
    newcombe_diff_interval,
    nps_change_test,
    nps_interval,
    poisson_rate_test,
    rate_change_test,
    shrink_rates,
    sum_change_test,
    two_proportion_test,
    weighted_quantile,
    wilson_interval,
)

__all__ = ["wilson_interval", "bh_adjust", "bootstrap_ci", "two_proportion_test", "chi_square_independence",
           "newcombe_diff_interval", "cohens_h", "weighted_quantile", "BetaBinomialFit", "fit_beta_binomial",
           "shrink_rates", "fisher_vs_rest", "funnel_limits", "median_ci", "rate_change_test", "poisson_rate_test",
           "bootstrap_diff", "sum_change_test", "nps_interval", "nps_change_test"]
