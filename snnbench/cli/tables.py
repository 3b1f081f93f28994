"""Commands that read tables: query, info, verify, manifest."""
from __future__ import annotations

import json
import sys

import click

from ..errors import ConfigError
from ..profiles import DATASETS
from .format import format_curves, format_record, plain_json
from .group import main, table_input


def _load_checked_surrogate(model, protocol_hashes):
    """The surrogate of a model file; a model fit under a protocol that none of the tables queried
    has is refused (ModelFormatError)."""
    from ..errors import ModelFormatError
    from ..surrogate import load_surrogate
    hashes = sorted(set(protocol_hashes))
    if len(hashes) == 1:
        return load_surrogate(model, protocol_hash=hashes[0])
    surrogate = load_surrogate(model)
    if surrogate.protocol_hash is not None and surrogate.protocol_hash not in hashes:
        raise ModelFormatError(f"the surrogate was fit on protocol {surrogate.protocol_hash}, which none of the "
                               f"tables queried has ({', '.join(hashes)}): fit a model on one of them")
    return surrogate


def _surrogate_prediction(model, cell_hash, protocol_hashes, scores=None):
    """Prediction of the surrogate for a cell: (mean, std) arrays of one value, in %."""
    return _load_checked_surrogate(model, protocol_hashes).predict_cells([cell_hash], scores=scores)


def _predict_untrained(records, model, protocol_hashes) -> None:
    """Add the surrogate's prediction to each record of a cell the table scored but did not train:
    predicted_<target> and predicted_std (%), predicted_by (the model file). Trained records are
    left as measured."""
    untrained = [r for r in records if not r["trained"]]
    if not untrained:
        return
    import pandas as pd
    surrogate = _load_checked_surrogate(model, protocol_hashes)
    for rec in untrained:  # the record's own scores, for a model that uses them as features
        scores = pd.DataFrame([{k: v for k, v in rec.items() if k != "per_seed"}]).set_index("hash")
        mean, std = surrogate.predict_cells([rec["hash"]], scores=scores)
        rec[f"predicted_{surrogate.target}"] = float(mean[0])
        rec["predicted_std"] = float(std[0])
        rec["predicted_by"] = str(model)


def _format_with_prediction(rec) -> str:
    """format_record, plus the surrogate's prediction of an untrained cell, labelled as one."""
    text = format_record(rec)
    predicted = [k for k in rec if k.startswith("predicted_") and k not in ("predicted_std", "predicted_by")]
    for key in predicted:
        text += (f"\npredicted   {key[len('predicted_'):]} {rec[key]:.2f} % (std {rec['predicted_std']:.2f}) by "
                 f"{rec['predicted_by']}: a surrogate's prediction, not a measurement")
    return text


def _echo_prediction(cell_hash, model, prediction, as_json, where) -> None:
    """Print a surrogate's prediction for a cell that the table(s) queried lack."""
    if isinstance(prediction, tuple) and len(prediction) == 2:  # (mean, std) arrays, one cell
        prediction = {"predicted_acc": float(prediction[0][0]), "predicted_std": float(prediction[1][0])}
    if as_json:
        click.echo(json.dumps(plain_json({"hash": cell_hash, "in_table": False, **(
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
@click.option("--budget", default=None, help="A named training budget, half (the half-way epoch) or full (the last), "
              "or an epoch number: validation (and, where evaluated, test) accuracy and loss at that epoch.")
@click.option("--curves", "with_curves", is_flag=True, help="Also print the per-epoch curves of every seed "
              "(with --json: a 'curves' key, {seed: {curve: [per epoch]}}).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (NaN as null): the record with --table, else a "
              "list of records, one per shipped table holding the cell.")
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="Surrogate model predicting the cells "
              "the table did not train (scored only) or lacks; a prediction is labelled as one.")
def query_cmd(cell, table_path, dataset, seed, epoch, budget, with_curves, as_json, model):
    """Print the record of CELL (hash or row text such as "0123 0021 0002 0000") from a table; without
    --table, every shipped table's record of it, one block per table (a table without the cell is
    skipped; none holding it is exit 2)."""
    if epoch is not None and budget is not None:
        raise ConfigError("give --epoch or --budget, not both")
    if table_path is None:
        _query_shipped(cell, dataset, seed, epoch, as_json, model, budget, with_curves)
        return
    from ..errors import ArchitectureNotInTable
    from ..table import open_table
    with open_table(table_path) as bench:
        _check_table_dataset(bench, dataset)
        try:
            rec = bench.query(cell, seed=seed, epoch=epoch, budget=budget)
        except ArchitectureNotInTable as exc:
            cell_hash = exc.cell.hash
            if model is None:
                raise _not_in_table(exc, cell_hash, model, f" --table {table_path}") from None
            prediction = _surrogate_prediction(model, cell_hash, [bench.metadata["protocol_hash"]])
            if prediction is None:
                raise _not_in_table(exc, cell_hash, model, f" --table {table_path}") from None
            _echo_prediction(cell_hash, model, prediction, as_json, "this table")
            return
        if model is not None:
            _predict_untrained([rec], model, [bench.metadata["protocol_hash"]])
        curves = _chosen_curves(bench, cell, seed) if with_curves else None
    if as_json:
        click.echo(json.dumps(plain_json(_with_curves(rec, curves)), sort_keys=True))
    else:
        click.echo(_format_with_prediction(rec) + ("" if curves is None else "\n" + format_curves(curves)))


def _chosen_curves(bench, cell, seed) -> dict:
    """The per-epoch curves of a cell, of one seed when `seed` is given."""
    curves = bench.curves(cell)
    return curves if seed is None else {s: c for s, c in curves.items() if s == int(seed)}


def _with_curves(rec: dict, curves) -> dict:
    return rec if curves is None else {**rec, "curves": {s: {k: list(v) for k, v in c.items()}
                                                         for s, c in curves.items()}}


def _check_table_dataset(bench, dataset) -> None:
    if dataset is not None and bench.metadata["dataset"] != dataset:
        raise ConfigError(f"--dataset {dataset}, but {bench.path} is a table of {bench.metadata['dataset']}")


def _query_shipped(cell, dataset, seed, epoch, as_json, model, budget=None, with_curves=False) -> None:
    """`snnbench query CELL` without --table: every shipped table's record (of one dataset's tables)."""
    from ..errors import ArchitectureNotInTable
    from ..table.shipped import open_shipped
    with open_shipped(dataset) as view:
        try:
            records = view.query_all(cell, seed=seed, epoch=epoch, budget=budget)
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
        if model is not None:
            _predict_untrained(records, model, [b.metadata["protocol_hash"] for b in view.tables])
        tables = {b.path.name: b for b in view.tables}
        curves = [_chosen_curves(tables[r["table"]], cell, seed) if with_curves else None for r in records]
    if as_json:
        click.echo(json.dumps([plain_json(_with_curves(r, c)) for r, c in zip(records, curves)], sort_keys=True))
    else:
        click.echo("\n\n".join(_format_with_prediction(r) + ("" if c is None else "\n" + format_curves(c))
                                for r, c in zip(records, curves)))


@main.command("info")
@table_input(required=False)
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
@table_input(required=False)
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


@main.command("manifest")
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
