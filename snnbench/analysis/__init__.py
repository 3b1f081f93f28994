"""Analysing a table: rank statistics, the correlation and noise reports, their plots."""
from .stats import (IMAGE_SUFFIXES, PLOT_ATTRIBUTES, SCORE_COLUMNS, SCORE_LABELS, SPACE_GROUPS, TARGETS,
    average_ranks, bootstrap_interval, correlate, correlate_across, correlation_report, count_inversions,
    format_across, format_report, kendall_tau, noise_ceiling, pearson_r, plot_accuracy_distribution,
    plot_across, plot_all, plot_attributes, plot_paths, plot_score_scatter, report_to_json,
    score_correlations, seed_columns, seed_spread, space_groups, spearman_rho, trained_rows)
