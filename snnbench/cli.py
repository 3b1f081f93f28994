"""The `snnbench` command. Each command is a thin call into the library; every SnnbenchError becomes
one line on stderr and exit code 2 (click's own usage errors exit with 2 as well)."""
from __future__ import annotations

import json
import sys
import time

import click

from .errors import SnnbenchError


class SnnbenchGroup(click.Group):
    """A click group that turns snnbench's typed errors into one line and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SnnbenchError as exc:
            click.echo(f"error: {exc}", err=True)
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


def run():  # console entry for `python -m snnbench`
    main()


if __name__ == "__main__":
    main()
