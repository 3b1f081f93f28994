"""Commands that analyse tables: correlate, surrogate fit|eval, predict."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click

from .format import csv_ints, plain_json
from .group import FiniteFloat, main, SnnbenchGroup, check_plot_folder, check_plot_outputs, read_tables, table_input


@main.command("correlate")
@table_input(required=False)
@click.option("--across", nargs=2, type=click.Path(dir_okay=False), default=None, metavar="TABLE_A TABLE_B",
              help="Compare two tables of one space over the cells both trained (two datasets, or two protocols).")
@click.option("--plot", "plot_out", type=click.Path(), default=None, help="Write the figures: a folder, or NAME.png (with NAME_attributes.png and NAME_distribution.png beside it; with --across, one scatter NAME.png).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (NaN as null).")
@click.option("--boot", "n_boot", type=click.IntRange(0), default=1000, show_default=True, help="Bootstrap resamples of the cells for the intervals (0: none).")
@click.option("--confidence", type=FiniteFloat(0.5, 0.999), default=0.95, show_default=True, help="Coverage of the bootstrap intervals.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--rank-scale", is_flag=True, help="Plot scores against accuracy as ranks (1 = highest) instead of values.")
def correlate_cmd(table_path, across, plot_out, as_json, n_boot, confidence, seed, rank_scale):
    """Kendall tau and Spearman rho of every zero-cost score against validation and test accuracy,
    per space, with bootstrap intervals and the seed-to-seed noise ceiling; or, with --across, the
    accuracies of the cells two tables both trained against each other."""
    from .. import analysis
    from ..errors import ConfigError
    from ..table import open_table
    if (table_path is None) == (across is None):
        raise ConfigError("give one table FILE, or --across TABLE_A TABLE_B")
    if across is not None:
        _correlate_across(across, plot_out, as_json, n_boot, confidence, seed)
        return
    if plot_out:
        check_plot_outputs(analysis.plot_paths(plot_out), [table_path])
    with open_table(table_path) as bench:
        frame = bench.to_dataframe()
        context = analysis.plots.describe_table(bench)
    report = analysis.correlation_report(frame, n_boot=n_boot, confidence=confidence, seed=seed)
    if report["n_trained"] < 3:
        raise ConfigError(f"{table_path} has {report['n_trained']} trained cells: correlations need at least 3")
    if as_json:
        click.echo(json.dumps(plain_json(analysis.report_to_json(report)), sort_keys=True))
    else:
        click.echo(analysis.format_report(report))
    if plot_out:
        for path in analysis.plot_all(frame, plot_out, n_boot=n_boot, seed=seed, context=context, rank=rank_scale):
            click.echo(f"wrote {path}", err=as_json)


def _correlate_across(paths, plot_out, as_json, n_boot, confidence, seed):
    from .. import analysis
    from ..errors import ConfigError
    frames, names, spaces = read_tables(paths)
    if spaces[0] != spaces[1]:
        raise ConfigError(f"the tables hold different spaces ({spaces[0]} and {spaces[1]}): compare tables of one space")
    if plot_out and Path(plot_out).suffix.lower() != ".png":
        check_plot_folder(plot_out)
        plot_out = str(Path(plot_out) / "across.png")
    if plot_out:
        check_plot_outputs([plot_out], paths)
    report = analysis.correlate_across(frames[0], frames[1], n_boot=n_boot, confidence=confidence, seed=seed)
    if as_json:
        out = {"n_common": report["n_common"], "a": names[0], "b": names[1], "space": spaces[0],
               "rows": report["rows"].to_dict("records"),
               **{key: report[key].to_dict("records") for key in ("ceiling_a", "ceiling_b", "ceiling_a_test",
                                                                   "ceiling_b_test")}}
        click.echo(json.dumps(plain_json(out), sort_keys=True))
    else:
        click.echo(analysis.format_across(report, names[0], names[1]))
    if plot_out:
        path = analysis.plot_across(frames[0], frames[1], plot_out, names[0], names[1],
                                    context=f"{spaces[0]} space")
        click.echo(f"wrote {path}", err=as_json)


@main.group("surrogate", cls=SnnbenchGroup)
def surrogate_group():
    """Fit and evaluate the XGBoost surrogate of a table."""


def _surrogate_params(members, estimators, depth, seed, threads):
    from ..surrogate import SurrogateParams
    return SurrogateParams(n_members=members, n_estimators=estimators, max_depth=depth, seed=seed, nthread=threads).check()


_SURROGATE_OPTIONS = [
    click.option("--target", type=click.Choice(["valid_acc", "test_acc"]), default="valid_acc", show_default=True, help="Accuracy the model predicts (mean over training seeds)."),
    click.option("--with-scores", "with_scores", default="", help="Zero-cost scores used as extra features, comma-separated (hd,sahd,...); none by default."),
    click.option("--members", type=click.IntRange(1), default=5, show_default=True, help="Ensemble size (each member on a bootstrap resample)."),
    click.option("--estimators", type=click.IntRange(1), default=400, show_default=True, help="Boosting rounds per member."),
    click.option("--depth", type=click.IntRange(1), default=4, show_default=True, help="Maximum tree depth."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of the ensemble (and of the folds)."),
    click.option("--threads", type=click.IntRange(1), default=1, show_default=True, help="XGBoost threads."),
]


def _with_surrogate_options(fn):
    for option in reversed(_SURROGATE_OPTIONS):
        fn = option(fn)
    return fn


def _score_features(text):
    from ..errors import ConfigError
    from ..surrogate import OPTIONAL_SCORE_FEATURES
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in names if s not in OPTIONAL_SCORE_FEATURES]
    if bad:
        raise ConfigError(f"unknown score feature {', '.join(bad)}: choose from {', '.join(OPTIONAL_SCORE_FEATURES)}")
    return names


@surrogate_group.command("fit")
@table_input(required=True)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="MODEL.json to write (members go beside it).")
@_with_surrogate_options
def surrogate_fit_cmd(table_path, out, target, with_scores, members, estimators, depth, seed, threads):
    """Fit the surrogate ensemble on every trained cell of FILE and save it."""
    from ..files import check_output_file, refuse_overwriting_inputs
    from ..surrogate import Surrogate, member_paths
    from ..table import open_table
    check_output_file(out, "--out")
    refuse_overwriting_inputs([out, *member_paths(out, members)], [table_path], "--out")
    score_features = _score_features(with_scores)
    with open_table(table_path) as bench:
        frame, protocol = bench.to_dataframe(), bench.protocol
    model = Surrogate(_surrogate_params(members, estimators, depth, seed, threads),
                      score_features=score_features, target=target)
    t0 = time.perf_counter()
    model.fit_table(frame, protocol)
    path = model.save(out)
    click.echo(f"fit {len(model.members)} members on {len(model.train_hashes)} trained cells ({target}) in "
               f"{time.perf_counter() - t0:.1f} s; wrote {path} and {len(model.members)} member files beside it")


@surrogate_group.command("eval")
@table_input(required=True)
@click.option("--sizes", default=None, help="Training-set sizes of the curve, comma-separated (default: 5 steps up to all).")
@click.option("--folds", type=click.IntRange(2), default=5, show_default=True, help="Folds of the cross-validation.")
@click.option("--json", "as_json", is_flag=True, help="Print the curve as JSON.")
@_with_surrogate_options
def surrogate_eval_cmd(table_path, sizes, folds, as_json, target, with_scores, members, estimators, depth, seed, threads):
    """k-fold cross-validation of the surrogate on FILE: Kendall tau, Spearman rho and R^2 on held-out
    cells as a curve over training-set size, next to the noise ceiling."""
    from ..surrogate import cross_validate, evaluation_report
    from ..table import open_table
    with open_table(table_path) as bench:
        frame = bench.to_dataframe()
    sizes = csv_ints(sizes, "--sizes") if sizes else None
    curve = cross_validate(frame, sizes=sizes, folds=folds, params=_surrogate_params(members, estimators, depth, seed, threads),
                           target=target, score_features=_score_features(with_scores), seed=seed)
    if as_json:
        click.echo(json.dumps(plain_json(curve.to_dict(orient="records"))))
    else:
        click.echo(evaluation_report(frame, curve, target))


@main.command("predict")
@click.argument("cells", metavar="CELL...", nargs=-1, required=True)
@click.option("--model", type=click.Path(dir_okay=False), required=True, help="MODEL.json written by `snnbench surrogate fit`.")
@click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None, envvar="SNNBENCH_TABLE", help="A table whose protocol the model must match (and whose scores it may need; default $SNNBENCH_TABLE).")
@click.option("--json", "as_json", is_flag=True, help="Print the predictions as JSON.")
def predict_cmd(cells, model, table_path, as_json):
    """Predicted accuracy of each CELL (hash or row text) from a surrogate: mean +- std over the
    ensemble. A prediction, never a measurement."""
    from ..space import Cell
    from ..surrogate import load_surrogate
    parsed = [Cell.parse(c) for c in cells]
    surrogate = load_surrogate(model)
    scores = None
    if table_path is not None:
        from ..table import open_table
        with open_table(table_path) as bench:
            surrogate.check_protocol(bench.protocol.hash)
            scores = bench.to_dataframe().set_index("hash")
    mean, std = surrogate.predict_cells(parsed, scores=scores)
    rows = [{"hash": c.hash, "text": c.canonical_text, "space": c.space, "predicted": True, "target": surrogate.target,
             "mean": float(m), "std": float(s), "in_training_set": c.hash in set(surrogate.train_hashes)}
            for c, m, s in zip(parsed, mean, std)]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        note = " (a training cell of the model)" if r["in_training_set"] else ""
        click.echo(f"{r['hash']}  {r['text']}  predicted {r['target']} {r['mean']:.2f} +- {r['std']:.2f} %{note}")
