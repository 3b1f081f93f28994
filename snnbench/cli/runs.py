"""Commands on cells and runs: space, show, score, train, build."""
from __future__ import annotations

import json
import signal
import sys
import time

import click

from ..errors import ConfigError
from ..profiles import DATASETS
from .format import plain_json
from .group import FiniteFloat, as_options, main, seed_option


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
    """Describe a cell given as row text ("0203 0002 0100 0020") or as a hash."""
    from ..space import Cell
    click.echo(Cell.parse(cell).describe())


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
    from ..model.jobs import check_device
    from ..build.scorer import ScoreRun, parse_shard, score_one, scored_in_journal
    from ..space import read_cell_list
    from ..protocols import default_protocol, get_protocol
    named = get_protocol(protocol_name or default_protocol(dataset))
    if named.dataset != dataset:  # a network sized for one dataset scored on another's images
        raise ConfigError(f"protocol {named.name} is for {named.dataset}, not {dataset}")
    protocol = get_protocol(named.name, dataset=dataset, width=width,
                            timesteps=timesteps, graph=graph, score_batch=batch, score_repeat=repeat)
    seed = seed_option(seed, "--seed")
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


def _step_options(fn):
    """The training step's protocol settings (Protocol: autocast, compile, device_augment, test_every), each
    recorded in the protocol and its hash when set; left out, the protocol's own."""
    options = [
        click.option("--autocast", type=click.Choice(["off", "bf16"]), default=None,
                     help="Train and evaluate under torch.autocast in bfloat16 (bf16) or in float32 (off, the default)."),
        click.option("--compile/--no-compile", "compile_", default=None,
                     help="torch.compile the training forward pass (needs a compiler; every architecture compiles anew)."),
        click.option("--device-augment/--no-device-augment", "device_augment", default=None,
                     help="Draw the crop/flip augmentation on the training device from its own generator."),
        click.option("--test-every", type=click.IntRange(0), default=None,
                     help="Evaluate the test split every K epochs and at the half-way and last epochs; 0: only those two (default: every epoch)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@main.command("train")
@click.argument("cell")
@click.option("--dataset", default=None, help=f"One of {', '.join(DATASETS)} (default: digits, or the --append-to table's).")
@click.option("--protocol", "protocol_name", default=None, help="Named protocol (default: the dataset's, or the --append-to table's).")
@click.option("--seed", type=int, default=0, show_default=True, help="Training seed.")
@click.option("--epochs", type=click.IntRange(1), default=None, help="Override the protocol's epochs (a new protocol hash).")
@_step_options
@click.option("--data-dir", default=None, help="Folder holding the dataset files (or $SNNBENCH_DATA_DIR).")
@click.option("--device", default=None, help="cpu, cuda or cuda:K (default: cuda when a GPU is visible); a GPU that is not there is an error.")
@click.option("--checkpoint-dir", type=click.Path(file_okay=False), default=None,
              help="Checkpoint the run here every epoch; run the same command again to resume it.")
@click.option("--append-to", "append_to", type=click.Path(dir_okay=False), default=None,
              help="Add the run to this table (.h5) through its journal, under the table's protocol: the run becomes "
                   "a job of the journal and the table is written anew from it (snnbench verify passes).")
@click.option("--quiet", is_flag=True, help="No progress bar (there is none either when stderr is not a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON (NaN as null).")
def train_cmd(cell, dataset, protocol_name, seed, epochs, autocast, compile_, device_augment, test_every, data_dir,
              device, checkpoint_dir, append_to, quiet, as_json):
    """Train one CELL (hash or text) from scratch under a protocol and print its record: what a table
    row of that cell and seed holds, to check a table or a surrogate's pick, or to extend a study.
    With --append-to TABLE, the run is added to that table (its journal, its protocol)."""
    from ..model.jobs import check_device, run_job
    from ..space import Cell
    seed = seed_option(seed, "--seed")
    check_device(device)
    cell_hash = Cell.parse(cell).hash
    step = dict(epochs=epochs, autocast=autocast, compile=compile_, device_augment=device_augment,
                test_every=test_every)
    if append_to is not None:
        if checkpoint_dir is not None:
            raise ConfigError("--checkpoint-dir is for a run outside a table: an appended run checkpoints beside "
                              "the table's journal")
        protocol = _append_protocol(append_to, dataset, protocol_name, step)
    else:
        protocol = _train_protocol(dataset or "digits", protocol_name, step)
    bar = _EpochBar(protocol.epochs, enabled=not quiet and sys.stderr.isatty(), desc=f"train {cell_hash[:8]}")
    try:
        if append_to is not None:
            from ..build.append import append_run
            record = append_run(append_to, cell_hash, seed, protocol, data_dir=data_dir, device=device,
                                on_epoch=bar.update)
        else:
            record = run_job("train", cell_hash, protocol.to_json(), seed, data_dir=data_dir, device=device,
                             checkpoint_root=checkpoint_dir, checkpoint_every=1 if checkpoint_dir else 0,
                             on_epoch=bar.update)
    finally:
        bar.close()
    record.update(protocol_name=protocol.name, protocol_json=protocol.to_json())
    if append_to is not None:
        record["appended_to"] = str(append_to)
    if as_json:
        click.echo(json.dumps(plain_json(record), sort_keys=True))
        return
    def num(v):
        return "-" if v is None or v != v else f"{v:.2f}"
    click.echo(f"cell        {cell_hash}\nprotocol    {protocol.name} ({protocol.hash}), seed {seed}\n"
               f"valid acc   {num(record['valid_acc'])} %\ntest acc    {num(record['test_acc'])} %\n"
               f"epochs      {record['epochs_run']}{'  DIVERGED' if record['diverged'] else ''}\n"
               f"train time  {record['train_time']:.1f} s on {record['where']}\n"
               f"params      {record['n_params']}\n"
               f"spikes      firing rate {num(record['firing_rate'])}, {record['sops']:.4g} SOPs per test image")
    if append_to is not None:
        click.echo(f"appended    to {append_to} (written anew from its journal)")


def _train_protocol(dataset, protocol_name, step):
    """The protocol of a run outside a table: a named one (default: the dataset's) with the options."""
    from ..protocols import default_protocol, get_protocol
    named = get_protocol(protocol_name or default_protocol(dataset))
    if named.dataset != dataset:
        raise ConfigError(f"protocol {named.name} is for {named.dataset}, not {dataset}")
    return get_protocol(named.name, **step)


def _append_protocol(table, dataset, protocol_name, step):
    """The protocol of a run appended to `table`: the table's own; --dataset, --protocol and the step
    options, when given, must describe it (ProtocolMismatchError otherwise)."""
    from ..errors import ProtocolMismatchError
    from ..table.reader import Bench
    with Bench(table) as bench:
        protocol, table_dataset = bench.protocol, bench.metadata["dataset"]
    if dataset is not None and dataset != table_dataset:
        raise ProtocolMismatchError(f"--dataset {dataset}, but {table} is a table of {table_dataset}")
    if protocol_name is None and all(v is None for v in step.values()):
        return protocol
    asked = _train_protocol(table_dataset, protocol_name or protocol.name, step)
    if asked.hash != protocol.hash:
        raise ProtocolMismatchError(f"{table} was trained under protocol {protocol.name} {protocol.hash}, not "
                                    f"{asked.name} {asked.hash}: leave out --protocol and its options to train "
                                    "under the table's")
    return protocol


class _EpochBar:
    """A tqdm bar over a run's epochs on stderr, with the last validation accuracy; nothing when disabled."""

    def __init__(self, epochs: int, enabled: bool, desc: str):
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=epochs, unit="epoch", desc=desc, dynamic_ncols=True, file=sys.stderr)

    def update(self, record) -> None:
        if self.bar is not None:
            self.bar.update(record.epochs_run - self.bar.n)
            if record.valid_acc_curve:
                self.bar.set_postfix(valid=f"{record.valid_acc_curve[-1]:.2f}%")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


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
@click.option("--extra-seeds", default=None, help="Further training seeds, comma-separated, for the --extra-cells only (recorded as added runs).")
@click.option("--extra-cells", "extra_cells_file", type=click.Path(dir_okay=False, exists=True), default=None, help="The cells that get the --extra-seeds (a file as for --cells; `snnbench table better` writes the better half of a table).")
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
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (counts, seconds, each table write's seconds) instead of a line.")
@click.option("--label", default=None, help="What runs this build, e.g. its run spec (runners/fmnist.sh): recorded in the table, named by its manifest.")
@click.option("--dry-run", is_flag=True, help="Print the jobs (in all, in the journal already, left) and their estimated cost from a short calibration here; write nothing.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The table to write (FILE.h5); an existing table is only resumed, unless --force or --extend.")
def build_cmd(space_name, dataset, protocol_name, sample, all_cells, cells_file, sample_seed, seeds, score_seeds,
              extra_seeds, extra_cells_file, score_sample,
              score_all, scores_only, epochs, width, timesteps, graph, autocast, compile_, device_augment, test_every,
              workers,
              jobs_per_gpu, executor, address, journal,
              data_dir, device, checkpoint_every, checkpoint_jobs, checkpoint_seconds, max_retries, force, extend, quiet,
              as_json, label, dry_run, out):
    """Score and train cells of a space into one HDF5 table (crash-safe and resumable: rerun the same
    command after an interruption). An existing --out is written over only when it is this build's
    own table (the same command and journal), or with --force / --extend."""
    import shlex
    from ..build import Build, BuildSpec
    from ..protocols import default_protocol, get_protocol
    protocol = get_protocol(protocol_name or default_protocol(dataset), epochs=epochs, width=width,
                            timesteps=timesteps, graph=graph, autocast=autocast, compile=compile_,
                            device_augment=device_augment, test_every=test_every)
    if protocol.dataset != dataset:
        raise ConfigError(f"protocol {protocol.name} is for {protocol.dataset}, not {dataset}")
    from ..space import read_cell_list
    cells = read_cell_list(cells_file) if cells_file else None
    if (extra_seeds is None) != (extra_cells_file is None):
        raise ConfigError("give --extra-seeds and --extra-cells together (the seeds, and the cells that get them)")
    appended = None
    if extra_seeds is not None:
        from ..build.extra import extra_runs
        appended = extra_runs(read_cell_list(extra_cells_file), extra_seeds, "--extra-seeds") or None
    spec = BuildSpec(space_name, protocol, out, sample=sample, all_cells=all_cells, cells=cells, sample_seed=sample_seed,
                     seeds=seeds, score_seeds=score_seeds, scores_only=scores_only, score_sample=score_sample,
                     score_all=score_all, journal=journal, data_dir=data_dir, appended_runs=appended)
    command = "snnbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if dry_run:
        _dry_run(Build(spec, executor=executor, workers=workers, address=address, device=device, force=force,
                       extend=extend, checkpoint_jobs=checkpoint_jobs, checkpoint_seconds=checkpoint_seconds,
                       max_retries=max_retries))
        return
    # a scheduler's time limit or `kill PID` (SIGTERM) stops the build as Ctrl-C does: workers ended,
    # a checkpoint of its own table written, the output lock released; both also leave a request the
    # driver checks between jobs (driver.request_stop)
    from ..build.driver import request_stop
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        summary = Build(spec, executor=executor, workers=workers, address=address, device=device,
                        checkpoint_jobs=checkpoint_jobs, checkpoint_seconds=checkpoint_seconds, max_retries=max_retries,
                        progress=not quiet, command=command, force=force, extend=extend, jobs_per_gpu=jobs_per_gpu,
                        checkpoint_every=checkpoint_every, label=label).run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if as_json:
        import dataclasses
        click.echo(json.dumps(plain_json(dataclasses.asdict(summary)), sort_keys=True, default=str))
    else:
        click.echo(summary.line())
    for line in summary.failures[:10]:
        click.echo(f"  failed: {as_options(line, click.get_current_context().command)}", err=True)
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

