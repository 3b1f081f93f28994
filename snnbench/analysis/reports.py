"""Reports on a table's one-row-per-cell frame (`Bench.to_dataframe()`, docs/CONTRACT.md): rank
correlations of the zero-cost scores with accuracy per space, the seed-to-seed noise ceiling, the
spread across cells against the spread across seeds, and one table against another.

The frame's score columns are hd, sahd, sahd_eq9, n_params, firing_rate_init; its accuracy columns
valid_acc and test_acc (mean over training seeds, %) and valid_acc_s{seed}, test_acc_s{seed}.
"""
from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd

from ..errors import ConfigError, TableFormatError
from .stats import correlate, icc_one_way, seeds_for_reliability, spearman_brown


SCORE_COLUMNS = ("hd", "sahd", "sahd_eq9", "n_params", "firing_rate_init")


SCORE_LABELS = {"hd": "HD", "sahd": "SAHD", "sahd_eq9": "SAHD (Eq. 9)", "n_params": "parameters",
                "firing_rate_init": "firing rate at init"}


TARGETS = ("valid_acc", "test_acc")


SPACE_GROUPS = ("fw", "bw", "all")


# The attributes of the paper's Fig. 8 (accuracy against the cell's make-up).
PLOT_ATTRIBUTES = ("n_forward", "n_backward", "n_skip", "n_conv1x1", "n_conv3x3", "n_avgpool")


_SEED_COLUMN = re.compile(r"^valid_acc_s(\d+)$")


def _check_frame(df: pd.DataFrame, needed) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise TableFormatError(f"the table's data frame lacks the columns {', '.join(missing)}")


def space_groups(df: pd.DataFrame) -> dict:
    """Rows of the frame per space group: 'fw' and 'bw' (each cell's own space) and 'all'.
    Groups without rows are left out."""
    _check_frame(df, ["space"])
    groups = {name: df[df["space"] == name] for name in ("fw", "bw")}
    groups["all"] = df
    return {name: rows for name, rows in groups.items() if len(rows)}


def trained_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of cells with a finite mean validation accuracy."""
    _check_frame(df, ["valid_acc"])
    return df[np.isfinite(df["valid_acc"].to_numpy(dtype=float))]


def score_correlations(df: pd.DataFrame, scores=SCORE_COLUMNS, targets=TARGETS, n_boot: int = 1000,
                       confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Kendall tau-b and Spearman rho of every score against every target, per space group.

    One row per (space, score, target): n (cells with both values), tau, tau_lo, tau_hi, rho,
    rho_lo, rho_hi. Scores missing from the frame are skipped; a frame without trained cells
    gives an empty result."""
    rows = []
    trained = trained_rows(df)
    scores = [s for s in scores if s in df.columns]
    _check_frame(df, targets)
    for space, group in space_groups(trained).items():
        for score, target in itertools.product(scores, targets):
            stats = correlate(group[score], group[target], n_boot, confidence, seed)
            rows.append({"space": space, "score": score, "target": target, **stats})
    return pd.DataFrame(rows, columns=_RESULT_COLUMNS)


_RESULT_COLUMNS = ["space", "score", "target", "n", "tau", "tau_lo", "tau_hi", "rho", "rho_lo", "rho_hi"]


def seed_columns(df: pd.DataFrame) -> list[int]:
    """Training seeds that have a per-seed validation column valid_acc_s{seed}, sorted."""
    return sorted(int(m.group(1)) for c in df.columns if (m := _SEED_COLUMN.match(c)))


def _seed_matrix(group: pd.DataFrame, seeds, metric: str) -> np.ndarray:
    """[cells, seeds] of {metric}_s{seed} (NaN where a cell lacks the run); the cells with none dropped."""
    values = np.column_stack([group[f"{metric}_s{s}"].to_numpy(dtype=float) if f"{metric}_s{s}" in group
                              else np.full(len(group), np.nan) for s in seeds])
    return values[np.isfinite(values).any(axis=1)]


def _common_seeds(df: pd.DataFrame, seeds) -> list[int]:
    """The column indices of the build's own seeds among `seeds`: all but the extra seeds that only part
    of the cells have (df.attrs['extra_seeds'], set by Bench.to_dataframe; build --extra-seeds)."""
    extra = set(df.attrs.get("extra_seeds") or ())
    return [i for i, s in enumerate(seeds) if s not in extra]


def _better_half(values: np.ndarray, common: list[int]) -> tuple[np.ndarray, list[int]]:
    """The cells with every common seed whose mean over those seeds is at least the median (where a
    search picks its winner), as [cells, seeds]: over the common seeds and the extra seeds (the better
    half's, build --extra-seeds) that EXTRA_SEED_COVERAGE of the chosen cells have; and the column
    indices of those seeds."""
    complete = values[np.isfinite(values[:, common]).all(axis=1)] if common else values[:0]
    if len(common) < 2 or len(complete) < 4:
        return values[:0], []
    means = complete[:, common].mean(axis=1)
    top = complete[means >= np.median(means)]
    # an extra seed counts where nearly every chosen cell has it (`table better` breaks ties at the
    # median by hash, so a tied cell may lack it); the cells without it are left out
    cols = common + [j for j in range(values.shape[1])
                     if j not in common and np.isfinite(top[:, j]).mean() >= EXTRA_SEED_COVERAGE]
    top = top[:, cols]
    return top[np.isfinite(top).all(axis=1)], cols


EXTRA_SEED_COVERAGE = 0.9


def noise_ceiling(df: pd.DataFrame, metric: str = "valid_acc", n_boot: int = 1000,
                  confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """How well one training seed ranks the cells as another seed does: tau-b and rho between
    {metric}_s{a} and {metric}_s{b} over the cells trained with both, for every pair of seeds a < b,
    per space group. No score can agree with a single seed's accuracy much better than this.

    One row per (space, seed pair) with the columns of score_correlations (score 'seed a', target
    '{metric}_s{b}'; n says over how many cells: a seed added for part of the cells pairs over that
    part), plus one row per space with score 'seed pairs (mean)' averaging tau and rho over the
    pairs of the build's own seeds (not the extra seeds of part of the cells). Empty if the table has
    fewer than two seeds."""
    seeds = seed_columns(df)
    rows = []
    for space, group in space_groups(df).items():
        pair_rows, common = [], [seeds[i] for i in _common_seeds(df, seeds)]
        for a, b in itertools.combinations(seeds, 2):
            x, y = group.get(f"{metric}_s{a}"), group.get(f"{metric}_s{b}")
            if x is None or y is None:
                continue
            stats = correlate(x, y, n_boot, confidence, seed)
            if stats["n"] >= 2:
                rows.append({"space": space, "score": f"{metric}_s{a}", "target": f"{metric}_s{b}", **stats})
                if a in common and b in common:
                    pair_rows.append(rows[-1])
        if len(pair_rows) > 1:  # the pairs of seeds every cell has, not those of a part's extra seeds
            mean = {k: float(np.nanmean([r[k] for r in pair_rows])) for k in _RESULT_COLUMNS[4:]}
            rows.append({"space": space, "score": "seed pairs (mean)", "target": metric,
                         "n": int(np.mean([r["n"] for r in pair_rows])), **mean})
    return pd.DataFrame(rows, columns=_RESULT_COLUMNS)


_SPREAD_COLUMNS = ["space", "cells", "metric", "n_cells", "mean", "arch_sd", "min", "max", "n_pairs", "seed_sd",
                   "mean_abs_diff", "ratio", "mean_sd", "mean_ratio"]


def _spread_row(per_seed: np.ndarray) -> dict | None:
    """The spread statistics of one group of cells: per_seed is [cells, seeds] (NaN where not trained)."""
    first = per_seed[:, 0][np.isfinite(per_seed[:, 0])]
    if len(first) == 0:
        return None
    both = per_seed[np.isfinite(per_seed).all(axis=1)] if per_seed.shape[1] > 1 else per_seed[:0]
    arch_sd = float(np.std(first, ddof=1)) if len(first) > 1 else float("nan")
    seed_sd = float(np.sqrt(np.mean(np.var(both, axis=1, ddof=1)))) if len(both) else float("nan")
    # the table reports the mean over k seeds, whose seed noise is seed_sd / sqrt(k)
    mean_sd = float(np.std(both.mean(axis=1), ddof=1)) if len(both) > 1 else float("nan")
    mean_noise = seed_sd / np.sqrt(per_seed.shape[1])
    return {"n_cells": int(len(first)), "mean": float(first.mean()), "arch_sd": arch_sd,
            "min": float(first.min()), "max": float(first.max()), "n_pairs": int(len(both)), "seed_sd": seed_sd,
            "mean_abs_diff": float(np.mean(np.abs(both[:, 0] - both[:, 1]))) if len(both) else float("nan"),
            "ratio": arch_sd / seed_sd if seed_sd > 0 else float("nan"),
            "mean_sd": mean_sd, "mean_ratio": mean_sd / mean_noise if mean_noise > 0 else float("nan")}


def seed_spread(df: pd.DataFrame, metric: str = "valid_acc") -> pd.DataFrame:
    """Is the table's signal larger than its noise? Per space group: the spread of {metric} across
    cells with one training seed (the first: sd with ddof 1, mean, min, max over the cells that have
    it) against the spread across training seeds of one cell (seed_sd: root mean square over the cells
    with every seed of the per-cell sd, ddof 1; mean_abs_diff: mean |first seed - second seed|).
    ratio = arch_sd / seed_sd; a table ranks cells only where it is well above 1. mean_sd is the sd
    across cells of the mean over every seed (what the table reports) and mean_ratio = mean_sd /
    (seed_sd / sqrt(seeds)), its signal against its own noise.

    Each group has a second row, cells='top half': the cells with every seed whose mean is at least
    the median mean, where a search picks its winner; spread dominated by a few bad cells can hide
    that the good cells are not ranked. Seeds: 'all' uses the build's own seeds (not the extra seeds
    of part of the cells); 'top half' is chosen on those and uses the extra seeds too where its cells
    all have them."""
    seeds = seed_columns(df)
    rows = []
    for space, group in space_groups(df).items():
        if not seeds:
            continue
        per_seed = _seed_matrix(group, seeds, metric)
        common = _common_seeds(df, seeds)
        subsets = [("all", per_seed[:, common])]
        top, _ = _better_half(per_seed, common)
        if len(top):
            subsets.append(("top half", top))
        for label, values in subsets:
            row = _spread_row(values)
            if row is not None:
                rows.append({**row, "space": space, "cells": label, "metric": metric})
    return pd.DataFrame(rows, columns=_SPREAD_COLUMNS)


_RELIABILITY_COLUMNS = ["space", "cells", "metric", "n_cells", "seeds", "tau", "tau_lo", "tau_hi", "r_one",
                        "r_mean", "seeds_for_08"]


def seed_reliability(df: pd.DataFrame, metric: str = "valid_acc", n_boot: int = 1000, confidence: float = 0.95,
                     seed: int = 0, target: float = 0.8) -> pd.DataFrame:
    """How reliably does the table rank its cells? Per space group, over all trained cells and over the
    better half (seed_spread's 'top half': where a search picks its winner, and where the spread
    between cells is smallest):
      tau [interval]  Kendall tau between the first two seeds' {metric} (one run against another);
      r_one           the reliability of one run: the share of its variance across these cells that
                      is the cells' own (true variance / (true + seed variance));
      r_mean          the reliability of the mean over the `seeds` (Spearman-Brown of r_one): how well
                      that mean would agree with the mean of as many fresh seeds;
      seeds_for_08    the fewest seeds whose mean reaches reliability `target` (inf: none will).
    Over all cells r_one is ICC(1) over the seeds every cell has. The better half is chosen on those
    same runs, which shrinks their apparent agreement (a cell lands in it partly by a lucky seed): its
    tau is the plain one over the chosen cells, biased low, and its r_one comes only from seeds that
    played no part in the choice, the extra seeds a build added for it (build --extra-seeds): their
    variance over the chosen cells is true variance + seed variance, the seed variance being the
    within-cell variance of the common seeds over the same cells (deviations from a mean are
    independent of the mean for Gaussian seed noise). Without extra seeds the better half's r_one is
    NaN (benchmarks/seed_noise.py retrains chosen cells with fresh seeds for the same purpose).
    seeds: the seeds used, as text."""
    seeds = seed_columns(df)
    rows = []
    for space, group in space_groups(df).items():
        per_seed = _seed_matrix(group, seeds, metric)
        common = _common_seeds(df, seeds)
        if len(common) < 2:
            continue
        values = per_seed[:, common]
        values = values[np.isfinite(values).all(axis=1)]
        top, cols = _better_half(per_seed, common)
        subsets = [("all", values, common, icc_one_way(values) if len(values) >= 3 else float("nan")),
                   ("better half", top, cols, _held_out_reliability(top, len(common)))]
        for label, part, used, r_one in subsets:
            if len(part) < 3 or len(used) < 2:
                continue
            stats = correlate(part[:, 0], part[:, 1], n_boot, confidence, seed)
            rows.append({"space": space, "cells": label, "metric": metric, "n_cells": int(len(part)),
                         "seeds": ",".join(str(seeds[i]) for i in used), "tau": stats["tau"],
                         "tau_lo": stats["tau_lo"], "tau_hi": stats["tau_hi"], "r_one": r_one,
                         "r_mean": spearman_brown(r_one, len(used)),
                         "seeds_for_08": seeds_for_reliability(r_one, target)})
    return pd.DataFrame(rows, columns=_RELIABILITY_COLUMNS)


def _held_out_reliability(top: np.ndarray, n_common: int) -> float:
    """r_one of the better half from its extra seeds (seed_reliability); NaN where it has none.
    top: _better_half's [cells, seeds], the common seeds' columns first."""
    if top.shape[1] <= n_common or len(top) < 4:
        return float("nan")
    noise = float(np.mean(np.var(top[:, :n_common], axis=1, ddof=1)))  # seed variance of these very cells
    if noise <= 0:
        return float("nan")
    true_var = float(np.mean([np.var(top[:, j], ddof=1) - noise for j in range(n_common, top.shape[1])]))
    # below zero: the extra seeds vary less across cells than the seeds within a cell do, that is no
    # detectable difference between the cells (a negative variance would give r < 0, or r > 1 past -noise)
    true_var = max(true_var, 0.0)
    return true_var / (true_var + noise)


def correlate_across(df_a: pd.DataFrame, df_b: pd.DataFrame, n_boot: int = 1000, confidence: float = 0.95,
                     seed: int = 0, targets=TARGETS) -> dict:
    """The same cells measured twice (two datasets, or two protocols): do they rank alike?

    Over the cells both frames trained (finite mean accuracy in both), for every target: Kendall
    tau-b and Spearman rho of a's value against b's with bootstrap intervals; the mean difference
    b - a (points) with its bootstrap interval; the sd across cells of that difference against the
    sd that seed noise alone would give it (sqrt(noise_a^2 + noise_b^2): each frame's seed sd scaled
    by sqrt(mean over the cells of 1/k), k a cell's number of seeds);
    and each frame's own noise ceiling (seed-vs-seed tau, the mean over seed pairs) on those cells,
    for validation and for test accuracy.
    Returns {'n_common', 'rows': DataFrame (one row per target), 'ceiling_a', 'ceiling_b' (validation),
    'ceiling_a_test', 'ceiling_b_test': noise_ceiling frames}. ConfigError when no cell is trained in both."""
    a, b = trained_rows(df_a), trained_rows(df_b)
    common = a.merge(b, on="hash", suffixes=("_a", "_b"))
    if len(common) == 0:
        raise ConfigError("the two tables have no trained cell in common")
    on_common = common["hash"]
    ceilings = {f"ceiling_{label}{suffix}": noise_ceiling(f[f["hash"].isin(on_common)], metric, n_boot, confidence, seed)
                for label, f in (("a", a), ("b", b)) for metric, suffix in (("valid_acc", ""), ("test_acc", "_test"))}
    rows = []
    for target in targets:
        x, y = common[f"{target}_a"].to_numpy(float), common[f"{target}_b"].to_numpy(float)
        stats = correlate(x, y, n_boot, confidence, seed)
        diff = (y - x)[np.isfinite(x) & np.isfinite(y)]
        lo, hi = _mean_interval(diff, n_boot, confidence, seed)
        noise = [_seed_noise_of_mean(f, target, on_common) for f in (a, b)]
        rows.append({"target": target, **stats, "mean_a": float(np.nanmean(x)), "mean_b": float(np.nanmean(y)),
                     "diff": float(diff.mean()), "diff_lo": lo, "diff_hi": hi,
                     "diff_sd": float(np.std(diff, ddof=1)) if len(diff) > 1 else float("nan"),
                     "noise_sd": float(np.sqrt(noise[0] ** 2 + noise[1] ** 2))})
    return {"n_common": int(len(common)), "rows": pd.DataFrame(rows), **ceilings}


def _mean_interval(values: np.ndarray, n_boot: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of values, seeded."""
    if len(values) < 3 or n_boot < 1:
        return float("nan"), float("nan")
    draws = np.random.default_rng(seed).integers(0, len(values), size=(n_boot, len(values)))
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(values[draws].mean(axis=1), [tail, 100 - tail])
    return float(lo), float(hi)


def _seed_noise_of_mean(df: pd.DataFrame, metric: str, hashes) -> float:
    """Seed noise (sd) of the mean over a frame's seeds of `metric` on the given cells: the seed sd
    (from the cells with every seed) scaled by each cell's own number of seeds k, sqrt(mean 1/k).
    NaN when no cell has two seeds."""
    seeds = seed_columns(df)
    rows = df[df["hash"].isin(hashes)]
    per_seed = np.column_stack([rows[f"{metric}_s{s}"].to_numpy(float) for s in seeds]) if seeds else np.empty((0, 0))
    spread = _spread_row(per_seed) if per_seed.size and per_seed.shape[1] > 1 else None
    if spread is None or not np.isfinite(spread["seed_sd"]):
        return float("nan")
    k = np.isfinite(per_seed).sum(axis=1)
    return float(spread["seed_sd"] * np.sqrt(np.mean(1.0 / k[k > 0])))


def format_across(report: dict, name_a: str, name_b: str) -> str:
    """The text `snnbench correlate --across` prints."""
    lines = [f"cells trained in both: {report['n_common']}   a = {name_a}   b = {name_b}",
             f"{'target':<10} {'tau [interval]':<24} {'rho [interval]':<24} {'mean a':>7} {'mean b':>7} "
             f"{'b - a [interval]':<24} {'sd(b-a)':>8} {'seed noise':>10}"]
    for r in report["rows"].to_dict("records"):
        lines.append(f"{r['target']:<10} {format_interval(r['tau'], r['tau_lo'], r['tau_hi']):<24} "
                     f"{format_interval(r['rho'], r['rho_lo'], r['rho_hi']):<24} {r['mean_a']:7.2f} {r['mean_b']:7.2f} "
                     f"{format_interval(r['diff'], r['diff_lo'], r['diff_hi']):<24} {r['diff_sd']:8.2f} {r['noise_sd']:10.2f}")
    for metric, suffix in (("valid_acc", ""), ("test_acc", "_test")):
        for label in ("a", "b"):
            frame = report.get(f"ceiling_{label}{suffix}")
            if frame is None:
                continue
            rows = frame[frame["space"] == "all"]
            mean = rows[rows["score"] == "seed pairs (mean)"]
            row = (mean if len(mean) else rows).head(1).to_dict("records")
            text = format_interval(row[0]["tau"], row[0]["tau_lo"], row[0]["tau_hi"]) if row else "- (one seed)"
            lines.append(f"noise ceiling of {label} on these cells ({metric}, seed vs seed tau): {text}")
    return "\n".join(lines)


def correlation_report(df: pd.DataFrame, scores=SCORE_COLUMNS, targets=TARGETS, n_boot: int = 1000,
                       confidence: float = 0.95, seed: int = 0) -> dict:
    """Everything `snnbench correlate` prints: {'scores': score_correlations(...),
    'noise_ceiling': noise_ceiling(valid_acc), 'noise_ceiling_test': noise_ceiling(test_acc),
    'spread': seed_spread(valid_acc), 'reliability': seed_reliability(valid_acc), 'n_cells', 'n_trained',
    'seeds', 'n_boot', 'confidence'}."""
    return {"scores": score_correlations(df, scores, targets, n_boot, confidence, seed),
            "spread": seed_spread(df, "valid_acc"),
            "reliability": seed_reliability(df, "valid_acc", n_boot, confidence, seed),
            "noise_ceiling": noise_ceiling(df, "valid_acc", n_boot, confidence, seed),
            "noise_ceiling_test": noise_ceiling(df, "test_acc", n_boot, confidence, seed),
            "n_cells": int(len(df)), "n_trained": int(len(trained_rows(df))),
            "seeds": seed_columns(df), "n_boot": int(n_boot), "confidence": float(confidence)}


def format_report(report: dict) -> str:
    """The correlation report as aligned text lines, one per (space, score, target)."""
    lines = [f"{report['n_trained']} trained cells of {report['n_cells']}; seeds {report['seeds']}; "
             f"{100 * report['confidence']:.0f}% bootstrap intervals over {report['n_boot']} resamples of cells"]
    header = f"{'space':5s} {'score':22s} {'target':14s} {'n':>5s}  {'Kendall tau':24s}  {'Spearman rho':24s}"
    for title, key in (("zero-cost scores vs accuracy", "scores"),
                       ("noise ceiling: one training seed vs another (validation)", "noise_ceiling"),
                       ("noise ceiling (test)", "noise_ceiling_test")):
        table = report[key]
        if len(table) == 0:
            continue
        lines += ["", title, header]
        for r in table.itertuples():
            label = SCORE_LABELS.get(r.score, r.score)
            lines.append(f"{r.space:5s} {label:22s} {r.target:14s} {r.n:5d}  "
                         f"{format_interval(r.tau, r.tau_lo, r.tau_hi):24s}  {format_interval(r.rho, r.rho_lo, r.rho_hi):24s}")
    if len(report["noise_ceiling"]) == 0:
        lines += ["", "noise ceiling: not available (the table has fewer than two training seeds per cell)"]
    spread = report.get("spread")
    if spread is not None and len(spread):
        lines += ["", "spread across cells (first seed) vs across seeds (cells with every seed); ratio = sd / seed sd;",
                  "mean sd: across cells of the mean over seeds, mean ratio = mean sd / (seed sd / sqrt(seeds))",
                  f"{'space':5s} {'cells':8s} {'metric':10s} {'cells':>5s} {'mean':>6s} {'sd':>5s} {'min':>6s} {'max':>6s}  "
                  f"{'pairs':>5s} {'seed sd':>7s} {'|d|':>5s} {'ratio':>5s} {'mean sd':>7s} {'mean ratio':>10s}"]
        for r in spread.itertuples():
            lines.append(f"{r.space:5s} {r.cells:8s} {r.metric:10s} {r.n_cells:5d} {r.mean:6.2f} {r.arch_sd:5.2f} "
                         f"{r.min:6.2f} {r.max:6.2f}  {r.n_pairs:5d} {r.seed_sd:7.2f} {r.mean_abs_diff:5.2f} "
                         f"{r.ratio:5.2f} {r.mean_sd:7.2f} {r.mean_ratio:10.2f}")
    reliability = report.get("reliability")
    if reliability is not None and len(reliability):
        lines += ["", "ranking reliability (validation): tau = one seed against another (better half: chosen on these",
                  "runs, so biased low); r one = of one run (all: ICC(1); better half: from its extra seeds only,",
                  "'-' without); r mean = of the mean over the seeds; seeds for 0.8 = for a mean that reliable",
                  f"{'space':5s} {'cells':11s} {'cells':>5s} {'seeds':7s} {'tau seed vs seed':24s} {'r one':>6s} "
                  f"{'r mean':>6s} {'seeds for 0.8':>13s}"]
        for r in reliability.itertuples():
            need = "never" if r.seeds_for_08 == np.inf else ("-" if not np.isfinite(r.seeds_for_08) else f"{r.seeds_for_08:.0f}")
            r_one, r_mean = (f"{v:6.2f}" if np.isfinite(v) else f"{'-':>6s}" for v in (r.r_one, r.r_mean))
            lines.append(f"{r.space:5s} {r.cells:11s} {r.n_cells:5d} {r.seeds:7s} "
                         f"{format_interval(r.tau, r.tau_lo, r.tau_hi):24s} {r_one} {r_mean} {need:>13s}")
    return "\n".join(lines)


def format_interval(value, lo, hi) -> str:
    if not np.isfinite(value):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{value:+.3f}"
    return f"{value:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def report_to_json(report: dict) -> dict:
    """The report as plain JSON values (NaN becomes null)."""
    def records(frame):
        return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
                for row in frame.to_dict(orient="records")]
    out = {k: v for k, v in report.items() if not isinstance(v, pd.DataFrame)}
    out.update({k: records(v) for k, v in report.items() if isinstance(v, pd.DataFrame)})
    return out
