"""The `snnbench` command. Each command is a thin call into the library; every SnnbenchError becomes
one line on stderr and exit code 2 (click's own usage errors exit with 2 as well)."""
from __future__ import annotations

import json
import sys
import time

import click

from .errors import ConfigError, SnnbenchError


class SnnbenchGroup(click.Group):
    """A click group that turns snnbench's typed errors into one line and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SnnbenchError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except click.UsageError as exc:  # a bad option of a command: one line too, not the usage text
            click.echo(f"error: {exc.format_message()} (see snnbench {ctx.invoked_subcommand or ''} --help)",
                       err=True)
            ctx.exit(2)


@click.group(cls=SnnbenchGroup)
@click.version_option(package_name="snnbench")
def main():
    """SNN-NAS-Bench: enumerate, score, train, tabulate and query SNASNet cell spaces."""


# ----------------------------------------------------------------------------- space
@main.command("space")
@click.option("--space", "space_name", type=click.Choice(["fw", "bw"]), required=True, help="fw: forward edges only; bw: forward and backward edges.")
@click.option("--list", "list_cells", is_flag=True, help="Stream every unique cell as 'hash<TAB>text'.")
def space_cmd(space_name, list_cells):
    """Print the number of encodings, valid architectures and unique cells of a space."""
    from . import space
    if list_cells:
        out = sys.stdout
        for h, text in space.iter_cells(space_name):
            out.write(f"{h}\t{text}\n")
        return
    s = space.summarize_space(space_name)
    click.echo(f"space {s.space}: {s.n_encodings} encodings, {s.n_valid} valid, {s.n_unique} unique cells")


@main.command("show")
@click.argument("cell")
def show_cmd(cell):
    """Describe a cell given as row text ("0302 0030 3003 0000") or as a hash."""
    from .space import Cell
    click.echo(Cell.parse(cell).describe())


# ----------------------------------------------------------------------------- score
@main.command("score")
@click.argument("cell", required=False)
@click.option("--space", "space_name", type=click.Choice(["fw", "bw"]), help="Score cells of this space.")
@click.option("--dataset", default="digits", show_default=True, help="digits, cifar10, cifar100 or tinyimagenet.")
@click.option("--data-dir", default=None, help="Folder holding the dataset files (or $SNNBENCH_DATA_DIR).")
@click.option("--protocol", "protocol_name", default=None, help="Protocol whose profile and scoring batch are used (default: the dataset's).")
@click.option("--width", type=int, default=None, help="Override the protocol's width C.")
@click.option("--timesteps", type=int, default=None, help="Override the protocol's timesteps T.")
@click.option("--batch", type=int, default=None, help="Scoring mini-batch size (>= 2).")
@click.option("--repeat", type=int, default=None, help="Number of mini-batches averaged.")
@click.option("--limit", type=int, default=None, help="Score the first N unique cells of the space.")
@click.option("--all", "all_cells", is_flag=True, help="Score every unique cell of the space.")
@click.option("--seed", type=int, default=0, show_default=True, help="Initialisation and batch seed.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="JSONL file the scores are appended to (resumable).")
@click.option("--device", default=None, help="cpu or cuda (default: cuda when available).")
def score_cmd(cell, space_name, dataset, data_dir, protocol_name, width, timesteps, batch, repeat, limit,
              all_cells, seed, out, device):
    """Score one CELL and print HD and SAHD, or score many cells of --space into --out."""
    from .scorer import ScoreRun, score_one
    from .protocols import default_protocol, get_protocol
    protocol = get_protocol(protocol_name or default_protocol(dataset), dataset=dataset, width=width,
                            timesteps=timesteps, score_batch=batch, score_repeat=repeat)
    if cell is not None:
        r = score_one(cell, protocol, seed, data_dir, device)
        click.echo(f"cell      {r['cell_hash']}\nHD        {r['hd']:.4f}\nSAHD      {r['sahd']:.4f}\n"
                   f"SAHD-Eq.9 {r['sahd_eq9']:.4f}\nparams    {r['n_params']}\n"
                   f"firing    {r['firing_rate']:.4f} spikes/neuron/timestep\ntime      {r['wall_time']:.2f} s")
        return
    if space_name is None or out is None or (limit is None and not all_cells):
        raise click.UsageError("give a CELL, or --space with --out and --limit N or --all")
    run = ScoreRun(space_name, protocol, seed, out, data_dir=data_dir, device=device)
    t0 = time.perf_counter()
    done = run.run(limit=None if all_cells else limit)
    click.echo(f"scored {done} cells in {time.perf_counter() - t0:.1f} s; {run.count()} in {out}")


# ----------------------------------------------------------------------------- build
@main.command("build")
@click.option("--space", "space_name", type=click.Choice(["fw", "bw"]), required=True, help="Cell space of the table.")
@click.option("--dataset", required=True, help="digits, cifar10, cifar100 or tinyimagenet.")
@click.option("--protocol", "protocol_name", default=None, help="Named protocol (default: the dataset's).")
@click.option("--sample", type=int, default=None, help="Train N cells drawn uniformly from the space.")
@click.option("--all", "all_cells", is_flag=True, help="Train (and score) every cell of the space.")
@click.option("--sample-seed", type=int, default=0, show_default=True, help="Seed of the cell selection (recorded in the table).")
@click.option("--seeds", default="0,1,2", show_default=True, help="Training seeds, comma-separated.")
@click.option("--score-seeds", default="0", show_default=True, help="Scoring seeds, comma-separated.")
@click.option("--score-sample", type=int, default=None, help="Score M cells in total: the trained ones plus others drawn with the sample seed.")
@click.option("--score-all", is_flag=True, help="Score every cell of the space (train only the sample).")
@click.option("--scores-only", is_flag=True, help="Score the selected cells, train none.")
@click.option("--epochs", type=int, default=None, help="Override the protocol's epochs.")
@click.option("--width", type=int, default=None, help="Override the protocol's width C.")
@click.option("--timesteps", type=int, default=None, help="Override the protocol's timesteps T.")
@click.option("--workers", type=int, default=1, show_default=True, help="Local executor: N single-thread worker processes (1: in this process).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="Where jobs run.")
@click.option("--address", default=None, help="Ray cluster address (--executor ray; default: start a local Ray).")
@click.option("--journal", type=click.Path(dir_okay=False), default=None, help="Journal file (default: OUT.journal.sqlite); builds of one protocol may share it.")
@click.option("--data-dir", default=None, help="Folder holding the dataset files (or $SNNBENCH_DATA_DIR).")
@click.option("--device", default=None, help="cpu or cuda (default: cuda when available).")
@click.option("--checkpoint-jobs", type=int, default=500, show_default=True, help="Rewrite the table after this many finished jobs.")
@click.option("--checkpoint-seconds", type=float, default=600.0, show_default=True, help="... or after this many seconds.")
@click.option("--max-retries", type=int, default=3, show_default=True, help="Runs of a job again when its worker dies.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The table to write (FILE.h5).")
def build_cmd(space_name, dataset, protocol_name, sample, all_cells, sample_seed, seeds, score_seeds, score_sample,
              score_all, scores_only, epochs, width, timesteps, workers, executor, address, journal, data_dir, device,
              checkpoint_jobs, checkpoint_seconds, max_retries, quiet, out):
    """Score and train cells of a space into one HDF5 table (crash-safe and resumable: rerun the same
    command after an interruption)."""
    import shlex
    from .build import Build, BuildSpec
    from .protocols import default_protocol, get_protocol
    protocol = get_protocol(protocol_name or default_protocol(dataset), epochs=epochs, width=width,
                            timesteps=timesteps)
    if protocol.dataset != dataset:
        raise ConfigError(f"protocol {protocol.name} is for {protocol.dataset}, not {dataset}")
    spec = BuildSpec(space_name, protocol, out, sample=sample, all_cells=all_cells, sample_seed=sample_seed,
                     seeds=seeds, score_seeds=score_seeds, scores_only=scores_only, score_sample=score_sample,
                     score_all=score_all, journal=journal, data_dir=data_dir)
    command = "snnbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = Build(spec, executor=executor, workers=workers, address=address, device=device,
                    checkpoint_jobs=checkpoint_jobs, checkpoint_seconds=checkpoint_seconds, max_retries=max_retries,
                    progress=not quiet, command=command).run()
    click.echo(summary.line())
    for line in summary.failures[:10]:
        click.echo(f"  failed: {line}", err=True)
    if summary.jobs_failed:
        sys.exit(1)


# ----------------------------------------------------------------------------- query, info, verify
def _json_value(value):
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if hasattr(value, "item"):
        return _json_value(value.item())
    return value


def _format_record(rec: dict) -> str:
    def num(v, fmt):
        return "-" if v is None or v != v else format(v, fmt)
    lines = [f"cell        {rec['hash']}  {rec['text']}  ({rec['space']} cell)",
             f"attributes  " + ", ".join(f"{k} {rec[k]}" for k in ("n_forward", "n_backward", "depth", "n_nodes")),
             f"scores      HD {num(rec['hd'], '.3f')}  SAHD {num(rec['sahd'], '.3f')}  SAHD-Eq.9 "
             f"{num(rec['sahd_eq9'], '.3f')}  (log|det K|)",
             f"network     {rec['n_params']} parameters; firing rate at init {num(rec['firing_rate_init'], '.4f')}"]
    if not rec["trained"]:
        lines.append("trained     no (scores only)")
        return "\n".join(lines)
    which = f"seed {rec['seed']}" if "seed" in rec else f"mean of {rec['n_seeds']} seeds"
    lines += [f"trained     {which}, {rec['epochs']} epochs",
              f"valid acc   {num(rec['valid_acc'], '.2f')} %  (std {num(rec['valid_acc_std'], '.2f')})",
              f"test acc    {num(rec['test_acc'], '.2f')} %  (std {num(rec['test_acc_std'], '.2f')})",
              f"train time  {num(rec['train_time'], '.1f')} s per run",
              f"spikes      firing rate {num(rec['firing_rate'], '.4f')}, {num(rec['sops'], '.4g')} SOPs, "
              f"{num(rec['energy_pj'], '.4g')} pJ per test image"]
    for seed, r in rec.get("per_seed", {}).items():
        lines.append(f"  seed {seed}    valid {num(r['valid_acc'], '.2f')} %, test {num(r['test_acc'], '.2f')} %, "
                     f"{num(r['train_time'], '.1f')} s{'  DIVERGED' if r['diverged'] else ''}")
    return "\n".join(lines)


def _surrogate_prediction(model, cell_hash):
    """Prediction of the surrogate (snnbench.surrogate) for a cell, or None if that module is absent."""
    import importlib.util
    if importlib.util.find_spec("snnbench.surrogate") is None:
        return None
    from .surrogate import load_surrogate
    return load_surrogate(model).predict_cells([cell_hash])


@main.command("query")
@click.argument("cell")
@click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None, envvar="SNNBENCH_TABLE",
              help="The table (.h5) to query (or $SNNBENCH_TABLE).")
@click.option("--seed", type=int, default=None, help="One training seed instead of the mean over seeds.")
@click.option("--epoch", type=int, default=None, help="Validation accuracy and time after this epoch (1-based).")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON (NaN as null).")
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="Surrogate model predicting cells the table lacks.")
def query_cmd(cell, table_path, seed, epoch, as_json, model):
    """Print the record of CELL (hash or row text such as "0302 0030 3003 0000") from a table."""
    from .errors import ArchitectureNotInTable
    from .table import open_table
    with open_table(table_path) as bench:
        try:
            rec = bench.query(cell, seed=seed, epoch=epoch)
        except ArchitectureNotInTable as exc:
            cell_hash = exc.cell.hash
            prediction = _surrogate_prediction(model, cell_hash) if model else None
            if prediction is None:
                hint = (f"predict it with a surrogate: snnbench query {cell_hash} --table {table_path} --model MODEL"
                        if model is None else "the surrogate (snnbench.surrogate) is not available in this install")
                raise ArchitectureNotInTable(f"{exc}; {hint}") from None
            if isinstance(prediction, tuple) and len(prediction) == 2:  # (mean, std) arrays, one cell
                prediction = {"predicted_acc": float(prediction[0][0]), "predicted_std": float(prediction[1][0])}
            if as_json:
                click.echo(json.dumps(_json_value({"hash": cell_hash, "in_table": False, **(
                    prediction if isinstance(prediction, dict) else {"predicted": prediction})})))
            elif isinstance(prediction, dict) and "predicted_acc" in prediction:
                click.echo(f"cell        {cell_hash} is not in this table\npredicted   "
                           f"{prediction['predicted_acc']:.2f} % (std {prediction['predicted_std']:.2f}) by {model}")
            else:
                click.echo(f"cell        {cell_hash} is not in this table\npredicted   {prediction} by {model}")
            return
    if as_json:
        click.echo(json.dumps(_json_value(rec), sort_keys=True))
    else:
        click.echo(_format_record(rec))


@main.command("info")
@click.argument("table_path", metavar="FILE", type=click.Path(dir_okay=False))
def info_cmd(table_path):
    """Summarise a table: metadata, protocol, seeds, counts, how it was built."""
    from .table import open_table
    with open_table(table_path) as bench:
        click.echo(bench.describe())


@main.command("verify")
@click.argument("table_path", metavar="FILE", type=click.Path(dir_okay=False))
def verify_cmd(table_path):
    """Check a table's schema and internal consistency. Exit 0: sound; 1: inconsistent (each problem
    printed); 2: not a readable table."""
    from .table import open_table, verify_table
    problems = verify_table(table_path)
    if problems:
        click.echo(f"{table_path}: {len(problems)} problem(s)", err=True)
        for p in problems:
            click.echo(f"  {p}", err=True)
        sys.exit(1)
    with open_table(table_path) as bench:
        m = bench.metadata
    click.echo(f"OK {table_path}: schema {m['schema_version']}, {m['n_cells']} cells, {m['n_trained']} trained, "
               f"{m['n_train_runs']} training runs, protocol {m['protocol_name']} {m['protocol_hash']}"
               f"{'' if m['complete'] else ' (checkpoint of an unfinished build)'}")


def run():  # console entry for `python -m snnbench`
    main()


if __name__ == "__main__":
    main()
