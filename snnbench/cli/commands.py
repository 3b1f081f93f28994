"""The `snnbench` command. Each command is a thin call into the library; every SnnbenchError becomes
one line on stderr and exit code 2 (click's own usage errors exit with 2 as well)."""
from __future__ import annotations

import json
import math
import signal
import sqlite3
import sys
import time
from pathlib import Path

import click

from ..errors import ConfigError, SnnbenchError
from ..profiles import DATASETS

MAX_ERROR_LENGTH = 600  # characters of an error line; a message may quote an argument of any length


def _one_line(text: str) -> str:
    """A message as one line of bounded length (click's choice lists span several lines)."""
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_ERROR_LENGTH else line[:MAX_ERROR_LENGTH - 3] + "..."


def _command_path(ctx) -> str:
    """'snnbench surrogate fit' for the command a context runs, whatever the program was called."""
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(["snnbench", *reversed(names)])


def _environment_message(exc: BaseException) -> str:
    """One line for a failure of the environment that reached the CLI without a typed error."""
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return f"{where}{exc.strerror or exc}"
    return f"SQLite: {exc}"


# optional dependencies, by the module a command imports, and the extra that installs them
_EXTRAS = {"torch": "build", "torchvision": "build", "spikingjelly": "build", "sklearn": "build",
           "xgboost": "surrogate", "matplotlib": "plots", "ray": "ray"}


class SnnbenchGroup(click.Group):
    """A click group that turns snnbench's typed errors, and any failure of the file system, into one
    line and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SnnbenchError as exc:
            click.echo(f"error: {_one_line(exc)}", err=True)
            ctx.exit(2)
        except ModuleNotFoundError as exc:  # an optional dependency this command needs is not installed
            extra = _EXTRAS.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            click.echo(f"error: this command needs {exc.name}, which is not installed: "
                       f"pip install 'snnbench[{extra}]'", err=True)
            ctx.exit(2)
        except click.UsageError as exc:  # a bad option of a command: one line too, not the usage text
            sub = ctx.invoked_subcommand or ""
            where = f"{_command_path(ctx)} {sub}".strip()
            click.echo(f"error: {_one_line(exc.format_message())} (see {where} --help)", err=True)
            ctx.exit(2)
        except BrokenPipeError:
            raise  # `snnbench space --list | head`: click ends quietly
        except (OSError, sqlite3.Error) as exc:  # a disk or permission failure no layer below named
            click.echo(f"error: {_one_line(_environment_message(exc))}", err=True)
            ctx.exit(2)


class FiniteFloat(click.FloatRange):
    """A float option in a range that is also finite: nan passes every comparison of a plain range,
    and inf makes a budget endless."""
    name = "finite float"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def _seed_option(value, option):
    from ..options import seed_value
    return seed_value(value, option)


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
    from .. import space
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
    from ..space import Cell
    click.echo(Cell.parse(cell).describe())


# ----------------------------------------------------------------------------- score
@main.command("score")
@click.argument("cell", required=False)
@click.option("--space", "space_name", type=click.Choice(["fw", "bw"]), help="Score cells of this space.")
@click.option("--dataset", default="digits", show_default=True, help=f"One of {', '.join(DATASETS)}.")
@click.option("--data-dir", default=None, help="Folder holding the dataset files (or $SNNBENCH_DATA_DIR).")
@click.option("--protocol", "protocol_name", default=None, help="Protocol whose profile and scoring batch are used (default: the dataset's).")
@click.option("--width", type=int, default=None, help="Override the protocol's width C.")
@click.option("--timesteps", type=int, default=None, help="Override the protocol's timesteps T.")
@click.option("--graph", type=click.Choice(["authors", "skip-idle"]), default=None, help="Which edge modules a backward cell runs (default: the protocol's, 'authors' = the SNASNet authors' graph; 'skip-idle' = the shipped digits tables' first graph).")
@click.option("--batch", type=int, default=None, help="Scoring mini-batch size (>= 2).")
@click.option("--repeat", type=int, default=None, help="Number of mini-batches averaged.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Score the first N unique cells of the space.")
@click.option("--all", "all_cells", is_flag=True, help="Score every unique cell of the space.")
@click.option("--seed", type=int, default=0, show_default=True, help="Initialisation and batch seed.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="JSONL file the scores are appended to (resumable).")
@click.option("--device", default=None, help="cpu, cuda or cuda:K (default: cuda when a GPU is visible); a GPU that is not there is an error.")
@click.option("--shard", default=None, help="K/N: only the cells whose hash is K modulo N (split a space over processes).")
@click.option("--first", "first_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="File of cells (hashes or texts, one per line) to score before the rest, in its order.")
@click.option("--skip-journal", type=click.Path(dir_okay=False), default=None,
              help="Build journal whose scored cells (same protocol and seed) are skipped.")
def score_cmd(cell, space_name, dataset, data_dir, protocol_name, width, timesteps, graph, batch, repeat, limit,
              all_cells, seed, out, device, shard, first_file, skip_journal):
    """Score one CELL and print HD and SAHD, or score many cells of --space into --out."""
    from ..files import check_output_file, refuse_overwriting_inputs
    from ..jobs import check_device
    from ..build.scorer import ScoreRun, parse_shard, score_one, scored_in_journal
    from ..space import read_cell_list
    from ..protocols import default_protocol, get_protocol
    named = get_protocol(protocol_name or default_protocol(dataset))
    if named.dataset != dataset:  # a network sized for one dataset scored on another's images
        raise ConfigError(f"protocol {named.name} is for {named.dataset}, not {dataset}")
    protocol = get_protocol(named.name, dataset=dataset, width=width,
                            timesteps=timesteps, graph=graph, score_batch=batch, score_repeat=repeat)
    seed = _seed_option(seed, "--seed")
    check_device(device)
    if out is not None:
        check_output_file(out, "--out")
        refuse_overwriting_inputs([out], [first_file, skip_journal], "--out")
    if cell is not None:
        r = score_one(cell, protocol, seed, data_dir, device)
        click.echo(f"cell      {r['cell_hash']}\nHD        {r['hd']:.4f}\nSAHD      {r['sahd']:.4f}\n"
                   f"SAHD-Eq.9 {r['sahd_eq9']:.4f}\nparams    {r['n_params']}\n"
                   f"firing    {r['firing_rate']:.4f} spikes/neuron/timestep\ntime      {r['wall_time']:.2f} s")
        return
    if space_name is None or out is None or (limit is None and not all_cells):
        raise click.UsageError("give a CELL, or --space with --out and --limit N or --all")
    skip = scored_in_journal(skip_journal, protocol, seed) if skip_journal else frozenset()
    first = read_cell_list(first_file) if first_file else ()
    run = ScoreRun(space_name, protocol, seed, out, data_dir=data_dir, device=device,
                   shard=parse_shard(shard) if shard else None, skip=skip, first=first)
    t0 = time.perf_counter()
    done = run.run(limit=None if all_cells else limit)
    click.echo(f"scored {done} cells in {time.perf_counter() - t0:.1f} s; {run.count()} in {out}")


# ----------------------------------------------------------------------------- train
def _step_options(fn):
    """The training step's protocol settings (Protocol: autocast, compile, device_augment), each
    recorded in the protocol and its hash when set; left out, the protocol's own."""
    options = [
        click.option("--autocast", type=click.Choice(["off", "bf16"]), default=None,
                     help="Train and evaluate under torch.autocast in bfloat16 (bf16) or in float32 (off, the default)."),
        click.option("--compile/--no-compile", "compile_", default=None,
                     help="torch.compile the training forward pass (needs a compiler; every architecture compiles anew)."),
        click.option("--device-augment/--no-device-augment", "device_augment", default=None,
                     help="Draw the crop/flip augmentation on the training device from its own generator."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@main.command("train")
@click.argument("cell")
@click.option("--dataset", default="digits", show_default=True, help=f"One of {', '.join(DATASETS)}.")
@click.option("--protocol", "protocol_name", default=None, help="Named protocol (default: the dataset's).")
@click.option("--seed", type=int, default=0, show_default=True, help="Training seed.")
@click.option("--epochs", type=click.IntRange(1), default=None, help="Override the protocol's epochs (a new protocol hash).")
@_step_options
@click.option("--data-dir", default=None, help="Folder holding the dataset files (or $SNNBENCH_DATA_DIR).")
@click.option("--device", default=None, help="cpu, cuda or cuda:K (default: cuda when a GPU is visible); a GPU that is not there is an error.")
@click.option("--checkpoint-dir", type=click.Path(file_okay=False), default=None,
              help="Checkpoint the run here every epoch; run the same command again to resume it.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON (NaN as null).")
def train_cmd(cell, dataset, protocol_name, seed, epochs, autocast, compile_, device_augment, data_dir, device,
              checkpoint_dir, as_json):
    """Train one CELL (hash or text) from scratch under a protocol and print its record: what a table
    row of that cell and seed holds, to check a table or a surrogate's pick, or to extend a study."""
    from ..jobs import check_device, run_job
    from ..protocols import default_protocol, get_protocol
    from ..space import Cell
    named = get_protocol(protocol_name or default_protocol(dataset))
    if named.dataset != dataset:
        raise ConfigError(f"protocol {named.name} is for {named.dataset}, not {dataset}")
    protocol = get_protocol(named.name, epochs=epochs, autocast=autocast, compile=compile_,
                            device_augment=device_augment)
    seed = _seed_option(seed, "--seed")
    check_device(device)
    cell_hash = Cell.parse(cell).hash
    record = run_job("train", cell_hash, protocol.to_json(), seed, data_dir=data_dir, device=device,
                     checkpoint_root=checkpoint_dir, checkpoint_every=1 if checkpoint_dir else 0)
    record.update(protocol_name=protocol.name, protocol_json=protocol.to_json())
    if as_json:
        click.echo(json.dumps(_json_value(record), sort_keys=True))
        return
    def num(v):
        return "-" if v is None or v != v else f"{v:.2f}"
    click.echo(f"cell        {cell_hash}\nprotocol    {protocol.name} ({protocol.hash}), seed {seed}\n"
               f"valid acc   {num(record['valid_acc'])} %\ntest acc    {num(record['test_acc'])} %\n"
               f"epochs      {record['epochs_run']}{'  DIVERGED' if record['diverged'] else ''}\n"
               f"train time  {record['train_time']:.1f} s on {record['where']}\n"
               f"params      {record['n_params']}\n"
               f"spikes      firing rate {num(record['firing_rate'])}, {record['sops']:.4g} SOPs per test image")


# ----------------------------------------------------------------------------- build
@main.command("build")
@click.option("--space", "space_name", type=click.Choice(["fw", "bw"]), required=True, help="Cell space of the table.")
@click.option("--dataset", required=True, help=f"One of {', '.join(DATASETS)}.")
@click.option("--protocol", "protocol_name", default=None, help="Named protocol (default: the dataset's).")
@click.option("--sample", type=int, default=None, help="Train N cells drawn uniformly from the space.")
@click.option("--all", "all_cells", is_flag=True, help="Train (and score) every cell of the space.")
@click.option("--cells", "cells_file", type=click.Path(dir_okay=False, exists=True), default=None, help="Train (and score) the cells listed in this file (hashes or texts, one per line).")
@click.option("--sample-seed", type=int, default=0, show_default=True, help="Seed of the cell selection (recorded in the table).")
@click.option("--seeds", default="0,1,2", show_default=True, help="Training seeds, comma-separated.")
@click.option("--score-seeds", default="0", show_default=True, help="Scoring seeds, comma-separated.")
@click.option("--score-sample", type=int, default=None, help="Score M cells in total: the trained ones plus others drawn with the sample seed.")
@click.option("--score-all", is_flag=True, help="Score every cell of the space (train only the sample).")
@click.option("--scores-only", is_flag=True, help="Score the selected cells, train none.")
@click.option("--epochs", type=int, default=None, help="Override the protocol's epochs.")
@click.option("--width", type=int, default=None, help="Override the protocol's width C.")
@click.option("--timesteps", type=int, default=None, help="Override the protocol's timesteps T.")
@click.option("--graph", type=click.Choice(["authors", "skip-idle"]), default=None, help="Which edge modules a backward cell runs (default: the protocol's, 'authors' = the SNASNet authors' graph; 'skip-idle' = the shipped digits tables' first graph).")
@_step_options
@click.option("--workers", type=click.IntRange(1), default=None, help="Local executor: N single-thread worker processes (default 1: in this process; with --jobs-per-gpu, GPUs x M). With a GPU device, worker i computes on GPU i mod K of the K visible ones.")
@click.option("--jobs-per-gpu", type=click.IntRange(1), default=None, help="Jobs that share one GPU: at most M workers per GPU (and GPUs x M workers without --workers); under Ray, each training task takes 1/M of a GPU.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="Where jobs run.")
@click.option("--address", default=None, help="Ray cluster address (--executor ray; default: start a local Ray).")
@click.option("--journal", type=click.Path(dir_okay=False), default=None, help="Journal file (default: OUT.journal.sqlite); builds of one protocol may share it.")
@click.option("--data-dir", default=None, help="Folder holding the dataset files (or $SNNBENCH_DATA_DIR).")
@click.option("--device", default=None, help="cpu, cuda (every visible GPU) or cuda:K (one GPU); default: cuda when a GPU is visible. A GPU asked for and not there is an error, never a CPU run.")
@click.option("--checkpoint-every", type=click.IntRange(0), default=1, show_default=True, help="Every training run writes a checkpoint every K epochs beside the journal (JOURNAL.checkpoints/); a killed build resumes each run from it. 0: none.")
@click.option("--checkpoint-jobs", type=click.IntRange(1), default=500, show_default=True, help="Rewrite the table after this many finished jobs.")
@click.option("--checkpoint-seconds", type=FiniteFloat(min=0, min_open=True), default=600.0, show_default=True, help="... or after this many seconds.")
@click.option("--max-retries", type=click.IntRange(0), default=3, show_default=True, help="Runs of a job again when its worker dies.")
@click.option("--force", is_flag=True, help="Replace an existing --out table that another build made.")
@click.option("--extend", is_flag=True, help="Add this build's cells to an existing --out table (same protocol, seeds and journal).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--dry-run", is_flag=True, help="Print the jobs (in all, in the journal already, left) and their estimated cost from a short calibration here; write nothing.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The table to write (FILE.h5); an existing table is only resumed, unless --force or --extend.")
def build_cmd(space_name, dataset, protocol_name, sample, all_cells, cells_file, sample_seed, seeds, score_seeds, score_sample,
              score_all, scores_only, epochs, width, timesteps, graph, autocast, compile_, device_augment, workers,
              jobs_per_gpu, executor, address, journal,
              data_dir, device, checkpoint_every, checkpoint_jobs, checkpoint_seconds, max_retries, force, extend, quiet,
              dry_run, out):
    """Score and train cells of a space into one HDF5 table (crash-safe and resumable: rerun the same
    command after an interruption). An existing --out is written over only when it is this build's
    own table (the same command and journal), or with --force / --extend."""
    import shlex
    from ..build import Build, BuildSpec
    from ..protocols import default_protocol, get_protocol
    protocol = get_protocol(protocol_name or default_protocol(dataset), epochs=epochs, width=width,
                            timesteps=timesteps, graph=graph, autocast=autocast, compile=compile_,
                            device_augment=device_augment)
    if protocol.dataset != dataset:
        raise ConfigError(f"protocol {protocol.name} is for {protocol.dataset}, not {dataset}")
    from ..space import read_cell_list
    cells = read_cell_list(cells_file) if cells_file else None
    spec = BuildSpec(space_name, protocol, out, sample=sample, all_cells=all_cells, cells=cells, sample_seed=sample_seed,
                     seeds=seeds, score_seeds=score_seeds, scores_only=scores_only, score_sample=score_sample,
                     score_all=score_all, journal=journal, data_dir=data_dir)
    command = "snnbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if dry_run:
        _dry_run(Build(spec, executor=executor, workers=workers, address=address, device=device, force=force,
                       extend=extend, checkpoint_jobs=checkpoint_jobs, checkpoint_seconds=checkpoint_seconds,
                       max_retries=max_retries))
        return
    # a scheduler's time limit or `kill PID` (SIGTERM) stops the build as Ctrl-C does: workers ended,
    # a checkpoint of its own table written, the output lock released
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        summary = Build(spec, executor=executor, workers=workers, address=address, device=device,
                        checkpoint_jobs=checkpoint_jobs, checkpoint_seconds=checkpoint_seconds, max_retries=max_retries,
                        progress=not quiet, command=command, force=force, extend=extend, jobs_per_gpu=jobs_per_gpu,
                        checkpoint_every=checkpoint_every).run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo(summary.line())
    for line in summary.failures[:10]:
        click.echo(f"  failed: {line}", err=True)
    if summary.jobs_failed:
        sys.exit(1)


def _dry_run(build) -> None:
    """Print what `build` would run and what it would cost (snnbench.cost); create nothing."""
    from ..build.cost import estimate, job_counts
    spec, done = build.plan()
    click.echo(f"dry run: {spec.space} space, protocol {spec.protocol.name} {spec.protocol.hash}, table {spec.out}, "
               f"journal {spec.journal_path} (nothing is written)")
    click.echo(job_counts(spec, done).line())
    for line in estimate(spec, done, workers=build.workers, device=build.device).lines():
        click.echo(line)


def _raise_keyboard_interrupt(*_):
    raise KeyboardInterrupt


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
    lines = [f"table       {rec['table']} (shipped)"] if "table" in rec else []
    lines += [f"dataset     {rec['dataset']}"] if "dataset" in rec else []
    lines += [f"cell        {rec['hash']}  {rec['text']}  ({rec['space']} cell)",
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


def _surrogate_prediction(model, cell_hash, protocol_hashes):
    """Prediction of the surrogate for a cell; a model fit under a protocol that none of the tables
    queried has is refused."""
    from ..errors import ModelFormatError
    from ..surrogate import load_surrogate
    hashes = sorted(set(protocol_hashes))
    if len(hashes) == 1:
        return load_surrogate(model, protocol_hash=hashes[0]).predict_cells([cell_hash])
    surrogate = load_surrogate(model)
    if surrogate.protocol_hash is not None and surrogate.protocol_hash not in hashes:
        raise ModelFormatError(f"the surrogate was fit on protocol {surrogate.protocol_hash}, which none of the "
                               f"tables queried has ({', '.join(hashes)}): fit a model on one of them")
    return surrogate.predict_cells([cell_hash])


def _echo_prediction(cell_hash, model, prediction, as_json, where) -> None:
    """Print a surrogate's prediction for a cell that the table(s) queried lack."""
    if isinstance(prediction, tuple) and len(prediction) == 2:  # (mean, std) arrays, one cell
        prediction = {"predicted_acc": float(prediction[0][0]), "predicted_std": float(prediction[1][0])}
    if as_json:
        click.echo(json.dumps(_json_value({"hash": cell_hash, "in_table": False, **(
            prediction if isinstance(prediction, dict) else {"predicted": prediction})})))
    elif isinstance(prediction, dict) and "predicted_acc" in prediction:
        click.echo(f"cell        {cell_hash} is not in {where}\npredicted   "
                   f"{prediction['predicted_acc']:.2f} % (std {prediction['predicted_std']:.2f}) by {model}")
    else:
        click.echo(f"cell        {cell_hash} is not in {where}\npredicted   {prediction} by {model}")


def _not_in_table(exc, cell_hash, model, where_option) -> Exception:
    """The one-line error for a cell the table(s) lack, with how to predict it instead."""
    from ..errors import ArchitectureNotInTable
    hint = (f"predict it with a surrogate: snnbench query {cell_hash}{where_option} --model MODEL"
            if model is None else "the surrogate (snnbench.surrogate) is not available in this install")
    return ArchitectureNotInTable(f"{exc}; {hint}")


@main.command("query")
@click.argument("cell")
@click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None, envvar="SNNBENCH_TABLE",
              help="The table (.h5) to query (or $SNNBENCH_TABLE); without it, every shipped table.")
@click.option("--dataset", default=None, help=f"Only the shipped tables of this dataset ({', '.join(DATASETS)}); "
              "with --table, the dataset that table must hold.")
@click.option("--seed", type=int, default=None, help="One training seed instead of the mean over seeds.")
@click.option("--epoch", type=int, default=None, help="Validation accuracy and time after this epoch (1-based).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (NaN as null): the record with --table, else a "
              "list of records, one per shipped table holding the cell.")
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="Surrogate model predicting cells the table lacks.")
def query_cmd(cell, table_path, dataset, seed, epoch, as_json, model):
    """Print the record of CELL (hash or row text such as "0302 0030 3003 0000") from a table; without
    --table, every shipped table's record of it, one block per table (a table without the cell is
    skipped; none holding it is exit 2)."""
    if table_path is None:
        _query_shipped(cell, dataset, seed, epoch, as_json, model)
        return
    from ..errors import ArchitectureNotInTable
    from ..table import open_table
    with open_table(table_path) as bench:
        _check_table_dataset(bench, dataset)
        try:
            rec = bench.query(cell, seed=seed, epoch=epoch)
        except ArchitectureNotInTable as exc:
            cell_hash = exc.cell.hash
            if model is None:
                raise _not_in_table(exc, cell_hash, model, f" --table {table_path}") from None
            prediction = _surrogate_prediction(model, cell_hash, [bench.metadata["protocol_hash"]])
            if prediction is None:
                raise _not_in_table(exc, cell_hash, model, f" --table {table_path}") from None
            _echo_prediction(cell_hash, model, prediction, as_json, "this table")
            return
    if as_json:
        click.echo(json.dumps(_json_value(rec), sort_keys=True))
    else:
        click.echo(_format_record(rec))


def _check_table_dataset(bench, dataset) -> None:
    if dataset is not None and bench.metadata["dataset"] != dataset:
        raise ConfigError(f"--dataset {dataset}, but {bench.path} is a table of {bench.metadata['dataset']}")


def _query_shipped(cell, dataset, seed, epoch, as_json, model) -> None:
    """`snnbench query CELL` without --table: every shipped table's record (of one dataset's tables)."""
    from ..errors import ArchitectureNotInTable
    from ..table.shipped import open_shipped
    with open_shipped(dataset) as view:
        try:
            records = view.query_all(cell, seed=seed, epoch=epoch)
        except ArchitectureNotInTable as exc:
            cell_hash = exc.cell.hash
            where = f" --dataset {dataset}" if dataset else ""
            if model is None:
                raise _not_in_table(exc, cell_hash, model, where) from None
            prediction = _surrogate_prediction(model, cell_hash, [b.metadata["protocol_hash"] for b in view.tables])
            if prediction is None:
                raise _not_in_table(exc, cell_hash, model, where) from None
            _echo_prediction(cell_hash, model, prediction, as_json, "the shipped tables")
            return
    if as_json:
        click.echo(json.dumps([_json_value(r) for r in records], sort_keys=True))
    else:
        click.echo("\n\n".join(_format_record(r) for r in records))


@main.command("info")
@click.argument("table_path", metavar="[FILE]", type=click.Path(dir_okay=False), required=False)
def info_cmd(table_path):
    """Summarise a table: metadata, protocol, seeds, counts, how it was built. Without FILE, list every
    shipped table (space, dataset, counts, protocol, whether each matches its MANIFEST.json), and the
    tables the manifest lists that are missing or the folder holds unlisted."""
    if table_path is None:
        from ..table.shipped import describe_shipped
        click.echo(describe_shipped())
        return
    from ..table import open_table
    with open_table(table_path) as bench:
        click.echo(bench.describe())


@main.command("verify")
@click.argument("table_path", metavar="[FILE]", type=click.Path(dir_okay=False), required=False)
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False), default=None,
              help="Check FILE against this manifest (default: the MANIFEST.json beside FILE, if it lists FILE).")
@click.option("--quick", is_flag=True, help="Skip the full read of every dataset and the whole-column rules (the fast check).")
def verify_cmd(table_path, manifest_path, quick):
    """Check a table's schema and internal consistency, and a shipped table against its MANIFEST.json
    (SHA-256, protocol, counts). Every dataset is read in full (a damaged chunk anywhere is found)
    unless --quick. Without FILE, check every shipped table. Exit 0: sound; 1: inconsistent, damaged
    data or not the file the manifest lists (each problem printed); 2: not a readable table (or a
    damaged manifest). A table the shipped tables' MANIFEST.json lists that the folder lacks is noted,
    not checked."""
    if table_path is None:
        from ..table.shipped import missing_tables, shipped_tables
        paths = shipped_tables(required=True)
        for missing in missing_tables():
            click.echo(f"note: {missing.name} is listed in {missing.parent / 'MANIFEST.json'} but not in "
                       f"{missing.parent}: not checked", err=True)
    else:
        paths = [table_path]
    failed = False
    for path in paths:
        failed |= not _verify_one(str(path), manifest_path, quick)
    if failed:
        sys.exit(1)


def _verify_one(table_path: str, manifest_path, quick: bool = False) -> bool:
    from ..table.manifest import check_table
    from ..table import open_table, verify_table
    from pathlib import Path
    problems = verify_table(table_path, quick=quick)
    entry, manifest_problems = check_table(table_path, manifest_path)
    if manifest_path is not None and entry is None:
        manifest_problems = [f"{Path(table_path).name} is not listed in {manifest_path}"]
    problems += manifest_problems
    if problems:
        click.echo(f"{table_path}: {len(problems)} problem(s)", err=True)
        for p in problems:
            click.echo(f"  {p}", err=True)
        return False
    with open_table(table_path) as bench:
        m = bench.metadata
    listed = (f"; matches {Path(manifest_path).name if manifest_path else 'MANIFEST.json'} "
              f"(sha256 {entry['sha256'][:16]}...)" if entry is not None else "")
    click.echo(f"OK {table_path}: schema {m['schema_version']}, {m['n_cells']} cells, {m['n_trained']} trained, "
               f"{m['n_train_runs']} training runs, protocol {m['protocol_name']} {m['protocol_hash']}"
               f"{'' if m['complete'] else ' (checkpoint of an unfinished build)'}{listed}")
    return True


@main.command("manifest", hidden=True)
@click.argument("tables", metavar="TABLE...", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--journal", type=click.Path(dir_okay=False, exists=True), multiple=True, help="The build journal (read through a snapshot); repeat it for tables built under several protocols, one journal each.")
@click.option("--runners", "runners_dir", type=click.Path(file_okay=False), default=None, help="Folder of the run specs (default: runners/ beside the tables' folder).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Manifest to write (default: MANIFEST.json beside the first table).")
def manifest_cmd(tables, journal, runners_dir, out):
    """(Maintainers) Write the MANIFEST.json of shipped tables, in the order queries try them."""
    from pathlib import Path
    from ..files import check_output_file, refuse_overwriting_inputs
    from ..table.manifest import MANIFEST_NAME, describe, make_manifest, write_manifest
    first = Path(tables[0]).resolve()
    out = out or first.parent / MANIFEST_NAME
    check_output_file(out, "--out")
    refuse_overwriting_inputs([out], [*tables, *journal], "--out")
    from ..table import verify_table
    for table in tables:  # a manifest vouches for its tables: never for a damaged one
        problems = verify_table(table)
        if problems:
            raise ConfigError(f"{table} fails verify ({len(problems)} problem(s), first: {problems[0]}): "
                              f"see snnbench verify {table}")
    if runners_dir is None and (first.parent.parent / "runners").is_dir():
        runners_dir = first.parent.parent / "runners"
    manifest = make_manifest(tables, journal=list(journal) or None, runners_dir=runners_dir)
    path = write_manifest(manifest, out)
    for line in describe(manifest):
        click.echo(line)
    click.echo(f"wrote {path}")


# ----------------------------------------------------------------------------- analysis, surrogate, search
# (snnbench.analysis, snnbench.surrogate, snnbench.search; the table is a positional FILE here)
def _plain_json(value):
    """JSON-ready copy of nested results: NaN -> null, numpy scalars -> Python numbers."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_json(v) for v in value]
    if hasattr(value, "item"):
        return _plain_json(value.item())
    return value


def _num(value, fmt) -> str:
    return "-" if value is None or value != value else format(value, fmt)


def _csv_ints(text, what):
    from ..errors import ConfigError
    try:
        return [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} must be comma-separated integers, got {text!r}") from None


@main.command("correlate")
@click.argument("table_path", metavar="[FILE]", type=click.Path(dir_okay=False), required=False)
@click.option("--across", nargs=2, type=click.Path(dir_okay=False), default=None, metavar="TABLE_A TABLE_B",
              help="Compare two tables of one space over the cells both trained (two datasets, or two protocols).")
@click.option("--plot", "plot_out", type=click.Path(), default=None, help="Write the figures: a folder, or NAME.png (with NAME_attributes.png and NAME_distribution.png beside it; with --across, one scatter NAME.png).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (NaN as null).")
@click.option("--boot", "n_boot", type=click.IntRange(0), default=1000, show_default=True, help="Bootstrap resamples of the cells for the intervals (0: none).")
@click.option("--confidence", type=FiniteFloat(0.5, 0.999), default=0.95, show_default=True, help="Coverage of the bootstrap intervals.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
def correlate_cmd(table_path, across, plot_out, as_json, n_boot, confidence, seed):
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
        _check_plot_outputs(analysis.plot_paths(plot_out), [table_path])
    with open_table(table_path) as bench:
        frame = bench.to_dataframe()
    report = analysis.correlation_report(frame, n_boot=n_boot, confidence=confidence, seed=seed)
    if report["n_trained"] < 3:
        raise ConfigError(f"{table_path} has {report['n_trained']} trained cells: correlations need at least 3")
    if as_json:
        click.echo(json.dumps(_plain_json(analysis.report_to_json(report)), sort_keys=True))
    else:
        click.echo(analysis.format_report(report))
    if plot_out:
        for path in analysis.plot_all(frame, plot_out, n_boot=n_boot, seed=seed):
            click.echo(f"wrote {path}", err=as_json)


def _read_tables(paths) -> tuple[list, list, list]:
    """(frames, names, spaces) of tables given by path or shipped name; a name says the file, dataset
    and protocol."""
    from ..table import open_table
    frames, names, spaces = [], [], []
    for path in paths:
        with open_table(path) as bench:
            frames.append(bench.to_dataframe())
            meta = bench.metadata
            names.append(f"{bench.path.name} ({meta['dataset']}, {meta['protocol_name']} {meta['protocol_hash']})")
        spaces.append(meta["space"])
    return frames, names, spaces


def _correlate_across(paths, plot_out, as_json, n_boot, confidence, seed):
    from .. import analysis
    from ..errors import ConfigError
    frames, names, spaces = _read_tables(paths)
    if spaces[0] != spaces[1]:
        raise ConfigError(f"the tables hold different spaces ({spaces[0]} and {spaces[1]}): compare tables of one space")
    if plot_out and Path(plot_out).suffix.lower() != ".png":
        _check_plot_folder(plot_out)
        plot_out = str(Path(plot_out) / "across.png")
    if plot_out:
        _check_plot_outputs([plot_out], paths)
    report = analysis.correlate_across(frames[0], frames[1], n_boot=n_boot, confidence=confidence, seed=seed)
    if as_json:
        out = {"n_common": report["n_common"], "a": names[0], "b": names[1], "space": spaces[0],
               "rows": report["rows"].to_dict("records"),
               **{key: report[key].to_dict("records") for key in ("ceiling_a", "ceiling_b", "ceiling_a_test",
                                                                   "ceiling_b_test")}}
        click.echo(json.dumps(_plain_json(out), sort_keys=True))
    else:
        click.echo(analysis.format_across(report, names[0], names[1]))
    if plot_out:
        path = analysis.plot_across(frames[0], frames[1], plot_out, names[0], names[1])
        click.echo(f"wrote {path}", err=as_json)


def _check_plot_folder(folder) -> None:
    """--plot naming a folder: it may not exist yet, but must not be a file."""
    if Path(folder).exists() and not Path(folder).is_dir():
        raise ConfigError(f"--plot {folder} exists and is not a folder: give a folder or NAME.png")


def _check_plot_outputs(paths, inputs) -> None:
    """Refuse figures that would replace an input, or land on something that is not a plain file."""
    from ..files import check_output_file, refuse_overwriting_inputs
    for path in paths:
        _check_plot_folder(Path(path).parent)
        check_output_file(path, "--plot")
    refuse_overwriting_inputs(paths, inputs, "--plot")


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
@click.argument("table_path", metavar="FILE", type=click.Path(dir_okay=False))
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
@click.argument("table_path", metavar="FILE", type=click.Path(dir_okay=False))
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
    sizes = _csv_ints(sizes, "--sizes") if sizes else None
    curve = cross_validate(frame, sizes=sizes, folds=folds, params=_surrogate_params(members, estimators, depth, seed, threads),
                           target=target, score_features=_score_features(with_scores), seed=seed)
    if as_json:
        click.echo(json.dumps(_plain_json(curve.to_dict(orient="records"))))
    else:
        click.echo(evaluation_report(frame, curve, target))


@main.command("predict")
@click.argument("cells", metavar="CELL...", nargs=-1, required=True)
@click.option("--model", type=click.Path(dir_okay=False), required=True, help="MODEL.json written by `snnbench surrogate fit`.")
@click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None, help="A table whose protocol the model must match (and whose scores it may need).")
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


def _paper_search(bench, algos, space_name, samples, runs, seed, model, compute, restrict, data_dir, device, as_json):
    from ..search import paper_search, summarise_paper_search
    summaries = []
    for algo in algos:
        results = paper_search(bench, space_name, algo, n_samples=samples, runs=runs, seed=seed, model=model,
                               compute_missing=compute, restrict_to_table=restrict, data_dir=data_dir,
                               device=device, progress=not as_json and algo != "random")
        summary = summarise_paper_search(results)
        summary["results"] = [r.__dict__ for r in results]
        summaries.append(summary)
        if as_json:
            continue
        for r in results:
            mark = {"table": "", "surrogate": "  PREDICTED by the surrogate", "untrained": "  not trained in the table"}[r.source]
            click.echo(f"{algo:6s} {space_name} run {r.run}: {r.winner} {r.text}  score {_num(r.score, '.3f')}  "
                       f"valid {_num(r.valid_acc, '.2f')} %  test {_num(r.test_acc, '.2f')} %{mark}")
        sources = ", ".join(f"{n} {s}" for s, n in summary["sources"].items())
        click.echo(f"{algo:6s} {space_name}: valid {_num(summary['valid_acc'], '.2f')} +- "
                   f"{_num(summary['valid_acc_std'], '.2f')} %, test {_num(summary['test_acc'], '.2f')} +- "
                   f"{_num(summary['test_acc_std'], '.2f')} % over {runs} runs of "
                   f"{samples} samples (winners: {sources})")
    if as_json:
        click.echo(json.dumps(_plain_json(summaries)))


def _check_plot_file(plot_out, table_path) -> None:
    if plot_out:
        from ..analysis import IMAGE_SUFFIXES
        if Path(plot_out).suffix.lower() not in IMAGE_SUFFIXES:
            raise ConfigError(f"--plot {plot_out}: name an image file ({', '.join(IMAGE_SUFFIXES)})")
        _check_plot_outputs([plot_out], [table_path])


def _harness(bench, algos, space_name, budget_hours, runs, seed, model, plot_out, as_json):
    from ..search import plot_regret, run_algorithm
    budget_s = budget_hours * 3600.0
    results = [run_algorithm(a, bench, space_name, budget_s, runs=runs, seed=seed, model=model) for a in algos]
    finals = [r.final() for r in results]
    if as_json:
        click.echo(json.dumps(_plain_json(finals)))
    else:
        click.echo(f"{'algorithm':26s} {'evals':>6s}  {'best valid %':>15s}  {'its test %':>15s}  {'test regret':>15s}"
                   f"   ({runs} runs, {budget_hours:g} simulated hours, {space_name} space)")
        for f in finals:
            click.echo(f"{f['algo']:26s} {f['evaluations']:6.1f}  {f['best_valid_acc']:7.2f} +- {f['best_valid_acc_std']:4.2f}  "
                       f"{f['best_test_acc']:7.2f} +- {f['best_test_acc_std']:4.2f}  {f['regret']:7.2f} +- {f['regret_std']:4.2f}")
    if plot_out:
        click.echo(f"wrote {plot_regret(results, plot_out, budget_s)}", err=as_json)


def _search_options(default_algo):
    return lambda fn: _add_search_options(fn, default_algo)


def _add_search_options(fn, default_algo):
    options = [
        click.argument("table_path", metavar="FILE", type=click.Path(dir_okay=False)),
        click.option("--algo", default=default_algo, show_default=True, help="sahd, hd or random (the paper's search); with --budget-hours also rs, re, ls, zc-hd, zc-sahd, predictor; comma-separated for several."),
        click.option("--space", "space_name", type=click.Choice(["fw", "bw"]), default="fw", show_default=True, help="Space searched."),
        click.option("--runs", type=click.IntRange(1), default=5, show_default=True, help="Independent runs (seeds)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Base seed."),
        click.option("--model", type=click.Path(dir_okay=False), default=None, help="Surrogate MODEL.json answering for untrained cells (marked as predicted)."),
        click.option("--json", "as_json", is_flag=True, help="Print the results as JSON."),
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
@click.option("--samples", type=click.IntRange(1), default=5000, show_default=True, help="Candidates drawn per run (the paper's search).")
@click.option("--no-compute", is_flag=True, help="Drop candidates the table has no score for instead of scoring them now.")
@click.option("--restrict-to-table", is_flag=True, help="Draw only cells trained in the table, so every winner is measured.")
@click.option("--budget-hours", type=FiniteFloat(min=0, min_open=True), default=None, help="Run the NAS-algorithm harness with this simulated training budget instead.")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False), default=None, help="With --budget-hours: PNG of test regret against simulated time.")
@click.option("--data-dir", default=None, help="Dataset folder, for scoring candidates the table lacks.")
@click.option("--device", default=None, help="cpu or cuda, for scoring candidates the table lacks.")
def search_cmd(table_path, algo, space_name, runs, seed, model, as_json, samples, no_compute, restrict_to_table,
               budget_hours, plot_out, data_dir, device):
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
        surrogate = _open_model(model, bench)
        if harness:
            _harness(bench, algos, space_name, budget_hours, runs, seed, surrogate, plot_out, as_json)
        else:
            _paper_search(bench, algos, space_name, samples, runs, seed, surrogate, not no_compute,
                          restrict_to_table, data_dir, device, as_json)


@main.command("run-algo")
@_search_options("rs,re,ls,zc-sahd")
@click.option("--budget-hours", type=FiniteFloat(min=0, min_open=True), required=True, help="Simulated training time per run (hours).")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False), default=None, help="PNG of test regret against simulated time.")
def run_algo_cmd(table_path, algo, space_name, runs, seed, model, as_json, budget_hours, plot_out):
    """Run NAS algorithms (rs, re, ls, zc-hd, zc-sahd, predictor; comma-separated) against FILE as a
    training service with a simulated clock; print the final incumbents and optionally plot regret."""
    from ..table import open_table
    algos = _search_algos(algo, True)
    _check_plot_file(plot_out, table_path)
    with open_table(table_path) as bench:
        _harness(bench, algos, space_name, budget_hours, runs, seed, _open_model(model, bench), plot_out, as_json)


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
    (source, target), names, spaces = _read_tables([source_path, target_path])
    report = transfer_search(source, target, space=space_name or spaces[0], algos=algos,
                             n_samples=samples, runs=runs, seed=seed)
    if as_json:
        out = {"source": names[0], "target": names[1],
               **{k: v for k, v in report.items() if k not in ("picks", "summary")},
               "summary": report["summary"].to_dict("records"), "picks": report["picks"].to_dict("records")}
        click.echo(json.dumps(_plain_json(out), sort_keys=True))
    else:
        click.echo(format_transfer(report, names[0], names[1]))


# ----------------------------------------------------------------------------- end of analysis, surrogate, search


def run():  # console entry for `python -m snnbench` (snnbench/__main__.py)
    main(prog_name="snnbench")


if __name__ == "__main__":
    main(prog_name="snnbench")
