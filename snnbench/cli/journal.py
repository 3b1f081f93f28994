"""Commands on build journals (pack, unpack, merge, import-scores, recheck, stats) and on written
tables (table rewrite)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .group import SnnbenchGroup, main

JOURNAL_FILE = click.Path(dir_okay=False)


@main.group("journal", cls=SnnbenchGroup)
def journal_group():
    """Build journals: the SQLite record of every finished job (docs/TABLE_FORMAT.md)."""


@journal_group.command("pack")
@click.argument("journal", type=JOURNAL_FILE)
@click.option("--out", type=JOURNAL_FILE, default=None, help="The packed file (default: JOURNAL.xz).")
def journal_pack_cmd(journal, out):
    """Write a consistent, xz-compressed snapshot of JOURNAL (builds may be writing it)."""
    from ..journal import pack_journal
    packed = pack_journal(journal, out)
    click.echo(f"{packed}: {packed.stat().st_size / 1e6:.1f} MB")


@journal_group.command("unpack")
@click.argument("packed", type=JOURNAL_FILE)
@click.option("--out", type=JOURNAL_FILE, default=None, help="The journal to write (default: PACKED without .xz).")
def journal_unpack_cmd(packed, out):
    """Recreate a journal from its packed snapshot when there is none; an existing journal is kept."""
    from ..journal import unpack_journal
    if unpack_journal(packed, out):
        click.echo(f"unpacked {out or Path(packed).with_suffix('')}")
    else:
        click.echo("journal present (or no snapshot): nothing to do")


@journal_group.command("merge")
@click.argument("journal", type=JOURNAL_FILE)
@click.argument("other", type=click.Path(dir_okay=False, exists=True))
def journal_merge_cmd(journal, other):
    """Add the finished jobs and runs of OTHER (a copy that ran elsewhere; same protocol) to JOURNAL."""
    from ..journal import merge_journals
    click.echo(f"merged {merge_journals(journal, other)} new jobs")


@journal_group.command("import-scores")
@click.argument("journal", type=JOURNAL_FILE)
@click.argument("scores", type=click.Path(dir_okay=False, exists=True))
@click.option("--where", default=None, help="Record the jobs as run on HOST:DEVICE (the scorer's label is kept "
                                            "as where_recorded).")
def journal_import_scores_cmd(journal, scores, where):
    """Record the scores of a `snnbench score --out SCORES` run as finished score jobs of JOURNAL (same
    protocol), so that a build does not score those cells again."""
    from ..build.scorer import read_score_records
    from ..journal import import_score_records
    click.echo(f"imported {import_score_records(journal, read_score_records(scores), scores, where)} score jobs")


@journal_group.command("recheck")
@click.argument("journal", type=JOURNAL_FILE)
@click.option("--host", default="", help="Recheck jobs that ran where the recorded 'where' starts with this.")
@click.option("--score", "n_score", type=click.IntRange(0), default=40, show_default=True, help="Score jobs to rerun.")
@click.option("--train", "n_train", type=click.IntRange(0), default=1, show_default=True, help="Training jobs to rerun.")
@click.option("--out", type=JOURNAL_FILE, default=None, help="Write the full report (JSON) here.")
def journal_recheck_cmd(journal, host, n_score, n_train, out):
    """Rerun recorded jobs on this machine's CPU and compare them with their records, field by field."""
    from ..build.recheck import recheck_journal
    from ..files import atomic_write_bytes, check_output_file

    def show(job):
        differs = {k: v["max_abs_diff"] for k, v in job["fields"].items() if not v["identical"]}
        click.echo(f"{job['kind']} {job['cell_hash']} {job['seed']} "
                   + ("identical" if job["identical"] else "DIFFERS " + json.dumps(differs)))

    if out:
        check_output_file(out, "--out")
    report = recheck_journal(journal, host, n_score, n_train, progress=show)
    click.echo(json.dumps({"here": report["here"], "torch": report["torch"], "summary": report["summary"]}))
    if out:
        atomic_write_bytes(out, json.dumps(report, indent=1).encode())


@journal_group.command("stats")
@click.argument("journal", type=click.Path(dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def journal_stats_cmd(journal, as_json):
    """What a journal holds: its protocol, finished jobs by kind and by machine, failures, runs."""
    from ..journal import journal_stats
    stats = journal_stats(journal)
    if as_json:
        click.echo(json.dumps(stats, sort_keys=True))
        return
    click.echo(f"protocol {stats['protocol_name']} {stats['protocol_hash']}  data {stats['dataset_fingerprint']}")
    click.echo("jobs     " + ", ".join(f"{n} {kind}" for kind, n in sorted(stats["jobs"].items())))
    for where, n in sorted(stats["where"].items()):
        click.echo(f"  {n:8d} on {where}")
    click.echo(f"failures {stats['failures']}  runs {stats['runs']} ({stats['runs_running']} running, "
               f"{stats['runs_stopped']} stopped without finishing)")


@main.group("table", cls=SnnbenchGroup)
def table_group():
    """Written tables: rewrite one from its journals; choose its better cells."""


@table_group.command("rewrite")
@click.argument("table_path", metavar="TABLE", type=click.Path(dir_okay=False, exists=True))
@click.option("--journal", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Journal of the table's scores (default: the one it records).")
@click.option("--train-journal", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Journal of its training runs, when they were made under another graph.")
@click.option("--scores-graph", type=click.Choice(["authors", "skip-idle"]), default=None,
              help="Scores of this graph, the training runs of the table's own graph kept (from --train-journal).")
@click.option("--score-all/--score-selection", default=None,
              help="Every cell of the space scored, or only the selected ones (default: as the table has it).")
@click.option("--label", default=None, help="What ran this rewrite (e.g. its run spec), recorded in the table.")
@click.option("--force", is_flag=True, help="Replace the table even when it is not this build's (another protocol).")
def table_rewrite_cmd(table_path, journal, train_journal, scores_graph, score_all, label, force):
    """Write TABLE anew from its journals without running any job (after its builds stopped)."""
    from ..build import rewrite_table
    complete = rewrite_table(table_path, journal=journal, train_journal=train_journal, scores_graph=scores_graph,
                             score_all=score_all, label=label, force=force)
    click.echo(f"{table_path}: written, {'complete' if complete else 'partial (jobs missing: resume its build)'}")


@table_group.command("better")
@click.argument("table_path", metavar="TABLE", type=click.Path(dir_okay=False, exists=True))
@click.option("--fraction", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True,
              help="The part of the trained cells to choose.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the hashes to this file (one per line; an existing file is kept unless it holds the same).")
def table_better_cmd(table_path, fraction, out):
    """The better part of TABLE's trained cells by mean validation accuracy over the seeds its build
    trained (best first): the cells a build gives further seeds with --extra-seeds / --extra-cells."""
    from ..build.extra import better_cells
    from ..errors import ConfigError
    from ..files import atomic_write_bytes
    cells = better_cells(table_path, fraction)
    text = "".join(f"{h}\n" for h in cells)
    if out is None:
        click.echo(text, nl=False)
        return
    path = Path(out)
    if path.exists():
        if path.read_text() != text:
            raise ConfigError(f"{out} exists and lists other cells: choose another --out (it is kept)")
        click.echo(f"{out}: already lists these {len(cells)} cells")
        return
    atomic_write_bytes(path, text.encode())
    click.echo(f"{out}: the better {len(cells)} cells of {table_path}")
