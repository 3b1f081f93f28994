"""Figures of a table (matplotlib, the `plots` extra): scores against accuracy, accuracy against the
cell's make-up, the accuracy distribution, one table against another."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .reports import PLOT_ATTRIBUTES, SCORE_COLUMNS, SCORE_LABELS, TARGETS, format_interval, trained_rows
from .stats import correlate, kendall_tau


def plot_across(df_a: pd.DataFrame, df_b: pd.DataFrame, out, name_a: str, name_b: str,
                targets=("valid_acc", "test_acc"), context: str | None = None) -> Path:
    """Scatter of b's accuracy against a's over the cells both trained, one panel per target (one point
    per cell, the mean over seeds, with each cell's seed range as error bars where there are two seeds
    or more) and Kendall tau in each panel's title. The identity line is drawn only where the two
    accuracy ranges overlap (two protocols on one dataset); across datasets each axis keeps its own
    range, since only the order of the cells is compared. context: prefixed to the figure's title."""
    plt = pyplot()
    common = trained_rows(df_a).merge(trained_rows(df_b), on="hash", suffixes=("_a", "_b"))
    if len(common) == 0:
        raise ConfigError("the two tables have no trained cell in common")
    if isinstance(targets, str):
        targets = (targets,)
    fig, axes = plt.subplots(1, len(targets), figsize=(4.4 * len(targets), 4.4), squeeze=False)
    for ax, target in zip(axes[0], targets):
        x, y = common[f"{target}_a"], common[f"{target}_b"]
        ax.errorbar(x, y, xerr=common.get(f"{target}_std_a"), yerr=common.get(f"{target}_std_b"), fmt="o", ms=3,
                    alpha=0.6, elinewidth=0.6)
        shared = shared_range(x, y)
        if shared is not None:
            ax.plot(shared, shared, color="grey", lw=0.8, ls="--", label="equal accuracy")
            ax.legend(fontsize=7, loc="lower right")
        label = TARGET_LABELS.get(target, target)
        ax.set_xlabel(f"{label} (%)\n{_wrapped(name_a)}", fontsize=8)
        ax.set_ylabel(f"{label} (%)\n{_wrapped(name_b)}", fontsize=8)
        ax.set_title(f"{label}: tau {kendall_tau(x, y):.2f}", fontsize=9)
    fig.suptitle(_titled(context, f"{len(common)} cells trained in both"), fontsize=9)
    return save_figure(fig, plt, out)


def shared_range(x, y) -> tuple[float, float] | None:
    """The interval where the values of x and of y overlap (where plot_across draws the identity
    line), or None when they do not: two datasets whose accuracies lie in different ranges. Overlap
    is judged on the central 90 % of each (5th to 95th percentile), so that a tail of poor cells
    (a digits cell at 72 % beside Fashion-MNIST's 70-80 %) does not make two ranges look shared."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    central = max(np.percentile(x, 5), np.percentile(y, 5)) < min(np.percentile(x, 95), np.percentile(y, 95))
    lo, hi = max(float(np.min(x)), float(np.min(y))), min(float(np.max(x)), float(np.max(y)))
    return (lo, hi) if central and lo < hi else None


TARGET_LABELS = {"valid_acc": "validation accuracy", "test_acc": "test accuracy"}


def _wrapped(name: str) -> str:
    """A table's description ("digits-fw.h5 (digits, digits-cpu 9f5b...)") on two lines."""
    return name.replace(" (", "\n(", 1)


def _titled(context: str | None, title: str) -> str:
    return f"{context}\n{title}" if context else title


def describe_table(bench) -> str:
    """A plot's context line for an open table: its file, space and protocol (name and hash)."""
    path = getattr(bench, "path", None)
    protocol = getattr(bench, "protocol", None)
    name = getattr(path, "name", "a table")
    return f"{name}, {getattr(bench, 'space', '?')} space, protocol " + (
        f"{protocol.name} {protocol.hash[:8]}" if protocol is not None else "unknown")


def _ranks(values) -> np.ndarray:
    """Ranks 1 = highest (ties share their mean rank), NaN kept."""
    values = pd.Series(np.asarray(values, dtype=float))
    return values.rank(ascending=False, method="average").to_numpy()


def pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt
    return plt


_SPACE_COLORS = {"fw": "tab:blue", "bw": "tab:orange"}


def _grid(plt, n: int, ncols: int = 3, size=(4.0, 3.4)):
    nrows = max(1, -(-n // ncols))
    ncols = min(ncols, max(n, 1))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def plot_score_scatter(df: pd.DataFrame, out, scores=SCORE_COLUMNS, target: str = "valid_acc",
                       n_boot: int = 1000, seed: int = 0, context: str | None = None, rank: bool = False) -> Path:
    """Score vs accuracy, one panel per score, fw and bw cells coloured, Kendall tau over all trained
    cells (with its bootstrap interval) in each title: the paper's Fig. 4. rank: plot the ranks among
    the trained cells (1 = highest) instead of the values, so that a few outliers do not squash the
    rest. context: the table, space and protocol, in the title. Writes a PNG; returns its path."""
    plt = pyplot()
    trained = trained_rows(df)
    scores = [s for s in scores if s in df.columns and np.isfinite(trained[s].to_numpy(dtype=float)).any()]
    if rank:
        trained = trained.assign(**{c: _ranks(trained[c]) for c in [*scores, target]})
    fig, axes = _grid(plt, len(scores))
    for ax, score in zip(axes, scores):
        for space, group in trained.groupby("space"):
            ax.scatter(group[score], group[target], s=14, alpha=0.7, label=f"{space} ({len(group)})",
                       color=_SPACE_COLORS.get(space))
        if rank:
            ax.invert_xaxis()
            ax.invert_yaxis()
        stats = correlate(trained[score], trained[target], n_boot=n_boot, seed=seed)
        ax.set_title(f"{SCORE_LABELS.get(score, score)}: tau = {format_interval(stats['tau'], stats['tau_lo'], stats['tau_hi'])}",
                     fontsize=9)
        ax.set_xlabel(SCORE_LABELS.get(score, score) + (" (rank, 1 = highest)" if rank else ""))
        ax.set_ylabel(f"{target} " + ("(rank, 1 = best)" if rank else "(%)"))
        ax.legend(fontsize=7)
    if not scores:
        axes[0].set_visible(True)
        axes[0].text(0.5, 0.5, "no scores stored", ha="center", va="center")
    fig.suptitle(_titled(context, f"zero-cost scores vs {target} ({len(trained)} trained cells)"), fontsize=10)
    return save_figure(fig, plt, out)


def plot_attributes(df: pd.DataFrame, out, attributes=PLOT_ATTRIBUTES, target: str = "valid_acc",
                    context: str | None = None) -> Path:
    """Accuracy against the cell's make-up (number of forward and backward edges and of each op): one
    box per count value, the paper's Fig. 8. An attribute with one value among the trained cells (the
    backward edges of an fw table) has no panel. context: the table, space and protocol, in the title.
    Writes a PNG; returns its path."""
    plt = pyplot()
    trained = trained_rows(df)
    attributes = [a for a in attributes if a in df.columns and trained[a].nunique() > 1]
    fig, axes = _grid(plt, len(attributes))
    for ax, attr in zip(axes, attributes):
        values = sorted(int(v) for v in trained[attr].unique())
        data = [trained.loc[trained[attr] == v, target].to_numpy(dtype=float) for v in values]
        if values:
            ax.boxplot(data, positions=range(len(values)), widths=0.6)
            ax.set_xticks(range(len(values)), [f"{v}\n({len(d)})" for v, d in zip(values, data)])
        ax.set_xlabel(f"{attr} (cells)")
        ax.set_ylabel(f"{target} (%)")
    if not attributes:
        axes[0].set_visible(True)
        axes[0].text(0.5, 0.5, "every trained cell has the same attributes", ha="center", va="center")
    fig.suptitle(_titled(context, f"{target} against cell attributes ({len(trained)} trained cells)"), fontsize=10)
    return save_figure(fig, plt, out)


def plot_accuracy_distribution(df: pd.DataFrame, out, targets=TARGETS, context: str | None = None) -> Path:
    """Histogram of each accuracy per space (fw and bw cells overlaid); a target with no value has no
    panel. context: the table, space and protocol, in the title. Writes a PNG; returns its path."""
    plt = pyplot()
    trained = trained_rows(df)
    targets = [t for t in targets if t in trained.columns and np.isfinite(trained[t].to_numpy(dtype=float)).any()]
    targets = targets or list(TARGETS[:1])
    fig, axes = _grid(plt, len(targets), ncols=len(targets))
    for ax, target in zip(axes, targets):
        values = trained[target].to_numpy(dtype=float)
        bins = np.linspace(np.nanmin(values), np.nanmax(values), 25) if len(values) else 10
        for space, group in trained.groupby("space"):
            acc = group[target].to_numpy(dtype=float)
            ax.hist(acc, bins=bins, alpha=0.6, color=_SPACE_COLORS.get(space),
                    label=f"{space}: n={len(acc)}, median {np.median(acc):.2f}")
        ax.set_xlabel(f"{target} (%)")
        ax.set_ylabel("cells")
        ax.legend(fontsize=7)
    fig.suptitle(_titled(context, "accuracy distribution per space"), fontsize=10)
    return save_figure(fig, plt, out)


IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def save_figure(fig, plt, out) -> Path:
    """Write a figure to out (its format from the suffix); StorageError if the disk refuses, and no
    partial file is left."""
    from ..files import make_parent, remove_quietly, storage_error
    out = Path(out)
    try:
        make_parent(out, "`plot`")
        fig.tight_layout()
        fig.savefig(out, dpi=110)
    except OSError as exc:
        remove_quietly(out)
        raise storage_error(exc, out) from None
    except ValueError as exc:  # a format matplotlib does not write
        raise ConfigError(f"`plot` {out}: {str(exc).splitlines()[0]}") from None
    finally:
        plt.close(fig)
    return out


def plot_paths(out) -> list[Path]:
    """The files `snnbench correlate --plot out` writes: in a folder, scores.png, attributes.png and
    distribution.png; for NAME.png, the scatter there and NAME_attributes.png, NAME_distribution.png
    beside it."""
    out = Path(out)
    if out.suffix.lower() == ".png":
        return [out, out.with_name(out.stem + "_attributes.png"), out.with_name(out.stem + "_distribution.png")]
    return [out / "scores.png", out / "attributes.png", out / "distribution.png"]


def plot_all(df: pd.DataFrame, out, n_boot: int = 1000, seed: int = 0, context: str | None = None,
             rank: bool = False) -> list[Path]:
    """The three figures of `snnbench correlate --plot` (their paths: plot_paths(out)), titled with
    `context` (describe_table); rank: the score scatter on the rank scale. Returns the paths written."""
    paths = plot_paths(out)
    if len(trained_rows(df)) == 0:
        raise ConfigError("the table has no trained cell: nothing to plot")
    return [plot_score_scatter(df, paths[0], n_boot=n_boot, seed=seed, context=context, rank=rank),
            plot_attributes(df, paths[1], context=context), plot_accuracy_distribution(df, paths[2], context=context)]
