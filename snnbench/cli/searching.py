"""Commands that search with tables: search, run-algo, transfer."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import ConfigError
from .format import number, plain_json
from .group import FiniteFloat, main, check_plot_outputs, read_tables, table_input


_HARNESS_ALIASES = {"random": "rs", "hd": "zc-hd", "sahd": "zc-sahd"}


def _search_algos(text, harness, hint=" (the harness algorithms need --budget-hours)"):
    from ..errors import ConfigError
    from ..search import ALGORITHMS, PAPER_ALGOS
    names = [a.strip() for a in text.split(",") if a.strip()]
    known = ALGORITHMS if harness else PAPER_ALGOS
    if harness:
        names = [_HARNESS_ALIASES.get(a, a) for a in names]
    bad = [a for a in names if a not in known]
    if bad or not names:
        raise ConfigError(f"unknown --algo {', '.join(bad) or text!r}: choose from {', '.join(known)}"
                          f"{'' if harness else hint}")
    return names


def _paper_search(bench, algos, space_name, plan, runs, seed, model, compute, data_dir, device, as_json, quiet):
    from ..search import paper_search, summarise_paper_search
    samples = plan.n_samples
    summaries = []
    if not as_json:
        click.echo(f"{_table_name(bench)}: {plan.note}")
    for algo in algos:
        results = paper_search(bench, space_name, algo, n_samples=samples, runs=runs, seed=seed, model=model,
                               compute_missing=compute, restrict_to_table=plan.restrict_to_table, data_dir=data_dir,
                               device=device, progress=_progress_wanted(as_json, quiet) and algo != "random")
        summary = summarise_paper_search(results)
        summary["results"] = [r.__dict__ for r in results]
        summary["searched"] = plan.note
        summaries.append(summary)
        if as_json:
            continue
        for r in results:
            mark = {"table": "", "surrogate": "  PREDICTED by the surrogate", "untrained": "  not trained in the table"}[r.source]
            click.echo(f"{algo:6s} {space_name} run {r.run}: {r.winner} {r.text}  score {number(r.score, '.3f')}  "
                       f"valid {number(r.valid_acc, '.2f')} %  test {number(r.test_acc, '.2f')} %{mark}")
        sources = ", ".join(f"{n} {s}" for s, n in summary["sources"].items())
        click.echo(f"{algo:6s} {space_name}: valid {number(summary['valid_acc'], '.2f')} +- "
                   f"{number(summary['valid_acc_std'], '.2f')} %, test {number(summary['test_acc'], '.2f')} +- "
                   f"{number(summary['test_acc_std'], '.2f')} % over {runs} runs of "
                   f"{samples} samples (winners: {sources}; means over the {summary['n_measured']} measured of {runs})")
        if summary["n_predicted"]:
            click.echo(f"{algo:6s} {space_name}: {summary['n_predicted']} PREDICTED winners: valid "
                       f"{number(summary['valid_acc_predicted'], '.2f')} +- "
                       f"{number(summary['valid_acc_predicted_std'], '.2f')} % (predicted by the surrogate, untrained)")
    if as_json:
        click.echo(json.dumps(plain_json(summaries)))


def _progress_wanted(as_json: bool, quiet: bool) -> bool:
    """Progress bars only for a person watching: not with --json or --quiet, nor when stderr is not a terminal."""
    import sys
    return not (as_json or quiet) and sys.stderr.isatty()


def _table_name(bench) -> str:
    path = getattr(bench, "path", None)
    return getattr(path, "name", "the table")


def _check_plot_file(plot_out, table_path) -> None:
    if plot_out:
        from ..analysis import IMAGE_SUFFIXES
        if Path(plot_out).suffix.lower() not in IMAGE_SUFFIXES:
            raise ConfigError(f"--plot {plot_out}: name an image file ({', '.join(IMAGE_SUFFIXES)})")
        check_plot_outputs([plot_out], [table_path])


def _harness(bench, algos, space_name, budget_hours, runs, seed, model, plot_out, as_json, cost_model="median",
             incumbent="seen", rank_scale=False):
    from ..search import plot_regret, run_algorithm
    from ..search.harness import COST_MODELS, describe_setting
    budget_s = budget_hours * 3600.0
    results = [run_algorithm(a, bench, space_name, budget_s, runs=runs, seed=seed, model=model, cost_model=cost_model,
                             incumbent=incumbent) for a in algos]
    finals = [r.final() for r in results]
    first = results[0].runs[0]
    noise = first.cost_noise()
    if as_json:
        context = {"table": _table_name(bench), "setting": describe_setting(first),
                   "cost_model_rule": COST_MODELS[cost_model], "cost_noise": noise}
        click.echo(json.dumps(plain_json([{**f, **context} for f in finals])))  # one object per algorithm, as before
    else:
        _print_harness(finals, describe_setting(first), noise, runs, budget_hours)
    if plot_out:
        path = plot_regret(results, plot_out, budget_s, scale="rank" if rank_scale else "regret")
        click.echo(f"wrote {path}", err=as_json)


def _print_harness(finals, setting, noise, runs, budget_hours):
    """The harness's table: regrets over the runs that ended on a measured cell, with how many did."""
    f0 = finals[0]
    click.echo(f"{setting}; {runs} runs of {budget_hours:g} simulated hours")
    if noise.get("cells"):
        click.echo(f"cost noise: a cell's two seeds' recorded times differ by a median factor "
                   f"{noise['seed_ratio_median']:.2f} (max {noise['seed_ratio_max']:.1f}); the cost model charges "
                   f"the median over seeds")
    click.echo(f"regret against the best mean valid {f0['reference_valid_acc']:.2f} % and best mean test "
               f"{f0['reference_test_acc']:.2f} %; a perfect validation search has test regret "
               f"{f0['oracle_by_valid_regret']:.2f}")
    click.echo(f"{'algorithm':26s} {'evals':>6s} {'measured':>9s}  {'valid regret':>15s}  {'test regret':>15s}  "
               f"{'observed valid %':>16s}  {'its mean test %':>15s}")
    for f in finals:
        click.echo(f"{f['algo']:26s} {f['evaluations']:6.1f} {f['n_measured']:>4d}/{f['runs']:<4d}  "
                   f"{_pm(f, 'valid_regret')}  {_pm(f, 'test_regret')}  {_pm(f, 'best_valid_acc', 16)}  "
                   f"{_pm(f, 'best_test_acc')}")
        if f["n_predicted"]:
            click.echo(f"{'':26s} {f['n_predicted']} of {f['runs']} runs ended on a PREDICTED cell (untrained): "
                       f"test regret {_pm(f, 'test_regret_predicted').strip()} PREDICTED by a test_acc surrogate")
        if f["n_empty"]:
            click.echo(f"{'':26s} {f['n_empty']} of {f['runs']} runs had no incumbent within the budget")


def _pm(final, key, width=15):
    return f"{number(final[key], '.2f')} +- {number(final[key + '_std'], '.2f')}".rjust(width)


def _search_options(default_algo):
    return lambda fn: _add_search_options(fn, default_algo)


def _add_search_options(fn, default_algo):
    options = [
        click.option("--algo", default=default_algo, show_default=True, help="sahd, hd or random (the paper's search); with --budget-hours also rs, re, ls, zc-hd, zc-sahd, predictor; comma-separated for several."),
        click.option("--space", "space_name", type=click.Choice(["fw", "bw"]), default=None, help="Space searched (default: the table's; fw in a bw table is its forward-only cells)."),
        click.option("--runs", type=click.IntRange(1), default=5, show_default=True, help="Independent runs (seeds)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Base seed."),
        click.option("--model", type=click.Path(dir_okay=False), default=None, help="Surrogate MODEL.json answering for untrained cells (marked as predicted)."),
        click.option("--json", "as_json", is_flag=True, help="Print the results as JSON."),
        click.option("--quiet", is_flag=True, help="No progress bars (there are none either when stderr is not a terminal)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return table_input(required=True)(fn)


def _harness_options(fn):
    options = [
        click.option("--cost-model", type=click.Choice(["median", "measured"]), default="median", show_default=True, help="What the simulated clock charges: a cell's median epoch time over its seeds (the same on every draw), or the drawn seed's recorded time."),
        click.option("--incumbent", type=click.Choice(["seen", "measured"]), default="seen", show_default=True, help="Which evaluated cells may be the incumbent: all (predicted ones labelled), or only cells measured in the table (NAS-Bench-301's best measured incumbent, for --model)."),
        click.option("--rank-scale", is_flag=True, help="Plot the incumbent's rank among the trained cells instead of its regret."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _open_model(model, bench):
    if model is None:
        return None
    from ..surrogate import load_surrogate
    return load_surrogate(model, protocol_hash=bench.protocol.hash)


@main.command("search")
@_search_options("sahd")
@click.option("--samples", type=click.IntRange(1), default=None, help="Candidates drawn per run (the paper's search). Default: 5000 over the whole space; on a table that trained a sample, the same share (4.9 %) of its trained cells.")
@click.option("--no-compute", is_flag=True, help="Drop candidates the table has no score for instead of scoring them now.")
@click.option("--restrict-to-table/--whole-space", default=None, help="Draw only cells trained in the table, so every winner is measured (the default on a table that trained a sample of the space), or draw from the whole space.")
@click.option("--budget-hours", type=FiniteFloat(min=0, min_open=True), default=None, help="Run the NAS-algorithm harness with this simulated training budget instead.")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False), default=None, help="With --budget-hours: PNG of validation and test regret against simulated time.")
@_harness_options
@click.option("--data-dir", default=None, help="Dataset folder, for scoring candidates the table lacks.")
@click.option("--device", default=None, help="cpu or cuda, for scoring candidates the table lacks.")
def search_cmd(table_path, algo, space_name, runs, seed, model, as_json, quiet, samples, no_compute, restrict_to_table,
               budget_hours, plot_out, cost_model, incumbent, rank_scale, data_dir, device):
    """The paper's search on FILE: draw --samples cells as the authors do, keep the best by SAHD or HD
    (or a random one), report the winner's accuracy, mean +- std over --runs. With --budget-hours,
    run NAS algorithms against the table with a simulated clock instead (as `snnbench run-algo`)."""
    from ..model.devices import check_device
    from ..errors import ConfigError
    from ..table import open_table
    check_device(device)
    harness = budget_hours is not None
    if plot_out and not harness:
        raise ConfigError("--plot draws the regret of the harness: give --budget-hours too")
    algos = _search_algos(algo, harness)
    _check_plot_file(plot_out, table_path)
    with open_table(table_path) as bench:
        space_name = space_name or bench.space
        surrogate = _open_model(model, bench)
        if harness:
            _harness(bench, algos, space_name, budget_hours, runs, seed, surrogate, plot_out, as_json, cost_model,
                     incumbent, rank_scale)
        else:
            from ..search import search_plan
            plan = search_plan(bench, space_name, samples, restrict_to_table)
            _paper_search(bench, algos, space_name, plan, runs, seed, surrogate, not no_compute,
                          data_dir, device, as_json, quiet)


@main.command("run-algo")
@_search_options("rs,re,ls,zc-sahd")
@click.option("--budget-hours", type=FiniteFloat(min=0, min_open=True), required=True, help="Simulated training time per run (hours).")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False), default=None, help="PNG of validation and test regret against simulated time.")
@_harness_options
def run_algo_cmd(table_path, algo, space_name, runs, seed, model, as_json, quiet, budget_hours, plot_out, cost_model,
                 incumbent, rank_scale):
    """Run NAS algorithms (rs, re, ls, zc-hd, zc-sahd, predictor; comma-separated) against FILE as a
    training service with a simulated clock; print the final incumbents and optionally plot regret."""
    from ..table import open_table
    algos = _search_algos(algo, True)
    _check_plot_file(plot_out, table_path)
    with open_table(table_path) as bench:
        space_name = space_name or bench.space
        _harness(bench, algos, space_name, budget_hours, runs, seed, _open_model(model, bench), plot_out, as_json,
                 cost_model, incumbent, rank_scale)


@main.command("transfer")
@click.argument("source_path", metavar="SOURCE", type=click.Path(dir_okay=False))
@click.argument("target_path", metavar="TARGET", type=click.Path(dir_okay=False))
@click.option("--space", "space_name", type=click.Choice(["fw", "bw"]), default=None, help="Space searched on SOURCE (default: SOURCE's).")
@click.option("--algo", default="sahd,hd,random", show_default=True, help="The paper's searches run on SOURCE, comma-separated.")
@click.option("--samples", type=click.IntRange(1), default=20, show_default=True, help="Candidates drawn per run among SOURCE's trained cells.")
@click.option("--runs", type=click.IntRange(1), default=20, show_default=True, help="Runs of each search (seeds).")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed of the searches.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary and every winner as JSON (NaN as null).")
def transfer_cmd(source_path, target_path, space_name, algo, samples, runs, seed, as_json):
    """The paper's transfer (its Table 3): search on SOURCE, evaluate on TARGET. On SOURCE's trained
    cells: the paper's search (--algo, --runs runs of the best of --samples), the best cell by SAHD
    and by HD, and the best by validation accuracy (oracle). Each winner's accuracy on SOURCE and on
    TARGET (mean over seeds) and its rank among TARGET's trained cells, next to TARGET's best cell.
    SOURCE and TARGET: table files, or shipped tables by name (digits-fw)."""
    from ..search import format_transfer, transfer_search
    algos = _search_algos(algo, False, hint="")
    (source, target), names, spaces = read_tables([source_path, target_path])
    report = transfer_search(source, target, space=space_name or spaces[0], algos=algos,
                             n_samples=samples, runs=runs, seed=seed)
    if as_json:
        out = {"source": names[0], "target": names[1],
               **{k: v for k, v in report.items() if k not in ("picks", "summary")},
               "summary": report["summary"].to_dict("records"), "picks": report["picks"].to_dict("records")}
        click.echo(json.dumps(plain_json(out), sort_keys=True))
    else:
        click.echo(format_transfer(report, names[0], names[1]))
