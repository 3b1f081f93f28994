"""Analysing a table: rank statistics (stats, scipy), the correlation and noise reports (reports),
their figures (plots, matplotlib)."""
from .stats import (average_ranks, bootstrap_interval, correlate, count_inversions, icc_one_way, kendall_tau, pearson_r,
    seeds_for_reliability, spearman_brown, spearman_rho)
from .reports import (PLOT_ATTRIBUTES, SCORE_COLUMNS, SCORE_LABELS, SPACE_GROUPS, TARGETS, correlate_across,
    correlation_report, format_across, format_interval, format_report, noise_ceiling, report_to_json,
    score_correlations, seed_columns, seed_reliability, seed_spread, space_groups, trained_rows)
from .plots import (IMAGE_SUFFIXES, plot_accuracy_distribution, plot_across, plot_all, plot_attributes,
    plot_paths, plot_score_scatter, pyplot, save_figure)
