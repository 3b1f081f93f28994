"""Adding one training run to an existing table (`snnbench train CELL --append-to TABLE`): the run
becomes a job of the table's journal, and the table is written anew from that journal, so that it
stays what its journal holds and `snnbench verify` passes. The new cell (or the new seed of a cell)
is recorded in the table's selection as an appended run (BuildSpec.appended_runs)."""
from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError, JournalError, ProtocolMismatchError
from ..files import output_lock, same_file
from ..journal import Job, Journal, journal_error
from ..protocols import Protocol
from ..space import Cell
from .spec import BuildSpec, spec_from_table


def append_spec(table, cell, seed: int, protocol: Protocol | None = None) -> BuildSpec:
    """The BuildSpec of `table` with the training run (cell, seed) added, after every check that needs
    no training: the table exists and keeps its training runs under its own protocol, `protocol`
    (when given) is the table's, its journal is there, the cell fits the table's space, and the table
    does not hold that run yet. Errors are typed and one line (TableFormatError, ProtocolMismatchError,
    JournalError, ConfigError)."""
    table = Path(table)
    spec = spec_from_table(table)  # TableFormatError when there is no such table
    if spec.train_protocol is not None:
        raise ConfigError(f"{table} keeps training runs of another graph ({spec.train_protocol.name} "
                          f"{spec.train_protocol.hash}) beside scores of {spec.protocol.hash}: runs cannot be "
                          "appended to it; append to a table built in one protocol")
    if protocol is not None and protocol.hash != spec.protocol.hash:
        raise ProtocolMismatchError(f"{table} was trained under protocol {spec.protocol.name} {spec.protocol.hash}, "
                                    f"not {protocol.name} {protocol.hash}: leave out `protocol` to train under the "
                                    "table's")
    if not spec.journal_path.is_file():
        raise JournalError(f"the journal of {table} ({spec.journal_path}) is missing: a run is appended through "
                           "the table's journal, so that the table stays verifiable")
    parsed = Cell.parse(cell)
    if spec.space == "fw" and parsed.space != "fw":
        raise ConfigError(f"cell {parsed.hash} is a bw cell and {table} a table of the fw space")
    from ..table.reader import Bench
    with Bench(table) as bench:
        stored = bench.stored_jobs()
    if ("train", parsed.hash, int(seed)) in stored:
        raise ConfigError(f"{table} already holds cell {parsed.hash} trained with `seed` {seed}")
    out = spec.out if spec.out.exists() and same_file(spec.out, table) else table
    return replace(spec, out=out, appended_runs=(spec.appended_runs or ()) + ((parsed.hash, int(seed)),)).validate()


def append_run(table, cell, seed: int = 0, protocol: Protocol | None = None, data_dir=None, device=None,
               on_epoch=None, command: str | None = None) -> dict:
    """Train `cell` with `seed` under the table's protocol and add the run to `table` through its
    journal: the run (and the scoring of a cell new to the table) are recorded there as jobs, then the
    table is written anew from the journal (write_table_from_journal) with the cell in it. A run the
    journal holds already (recorded by another build sharing it) is reused, not trained again.
    on_epoch: called with the TrainRecord after each epoch. Returns the run's result (run_job's dict);
    errors: append_spec."""
    from ..model.jobs import run_job
    from ..model.checkpoint import build_root
    from .driver import write_table_from_journal
    from .executors import dataset_fingerprint
    table = Path(table)
    spec = append_spec(table, cell, seed, protocol)
    train_job = Job("train", Cell.parse(cell).hash, int(seed))
    new_cell = [j for j in spec.jobs() if j.cell_hash == train_job.cell_hash]
    command = command or f"snnbench train {train_job.cell_hash} --seed {seed} --append-to {table}"
    protocol_json = spec.protocol.to_json()
    result = None
    with output_lock(table):
        journal = Journal(spec.journal_path, spec.protocol)
        try:
            journal.check_fingerprint(dataset_fingerprint(protocol_json, data_dir))
            run_id = journal.start_run(spec.out, "local", command)
            claimed, _done, busy = journal.claim(new_cell, run_id)
            if busy:
                raise ConfigError(f"another build is running {busy[0].kind} {busy[0].cell_hash} seed {busy[0].seed} "
                                  f"in {spec.journal_path}: try again when it has finished")
            for job in claimed:
                r = run_job(job.kind, job.cell_hash, protocol_json, job.seed, data_dir=data_dir, device=device,
                            checkpoint_root=build_root(spec.journal_path),
                            on_epoch=on_epoch if job == train_job else None)
                journal.record(job, r, run_id)
            journal.finish_run(run_id)
            result = journal.results([train_job]).get(train_job)
        except sqlite3.Error as exc:
            raise journal_error(exc, journal.path) from None
        finally:
            journal.close()
    write_table_from_journal(spec, table, force=True, command=command)
    return result
