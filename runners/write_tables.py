"""Write the shipped tables from the journals without running any job (after the builds were stopped),
through the builder's own atomic writer (then run runners/make_manifest.py).

Both tables hold the scores of the authors' graph (tables/digits-authors.journal.sqlite) and the
training runs of the first graph (tables/digits.journal.sqlite); the first time (a table of the first
graph only) a table is converted to that.

    python runners/write_tables.py                 # both tables, every cell of each space scored
    python runners/write_tables.py --only fw       # one table (the other's build may still be running)
"""
import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bw-sample-scores-only", action="store_true", help="bw table without the score-all stage")
    ap.add_argument("--fw-sample-scores-only", action="store_true", help="fw table without the score-all stage")
    ap.add_argument("--only", choices=("fw", "bw"), help="write this table only")
    ap.add_argument("--tables-dir", type=Path, default=ROOT / "tables", help="folder of the tables and journals")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from snnbench.build import spec_from_table, write_table_from_journal
    journal = a.tables_dir / "digits.journal.sqlite"  # the first graph's: the training runs
    authors_journal = a.tables_dir / "digits-authors.journal.sqlite"  # the authors' graph: the scores
    for name, score_all, script in (("digits-fw.h5", not a.fw_sample_scores_only, "runners/digits.sh fw table"),
                                    ("digits-bw.h5", not a.bw_sample_scores_only, "runners/digits.sh bw table")):
        if a.only and name != f"digits-{a.only}.h5":
            continue
        path = a.tables_dir / name
        spec = spec_from_table(path)
        if spec.train_protocol is None:  # a table of the first graph only: re-scored under the authors' graph
            spec = dataclasses.replace(spec, protocol=spec.protocol.with_(graph="authors"), train_protocol=spec.protocol)
        spec = dataclasses.replace(spec, out=path, score_all=score_all, journal=authors_journal, train_journal=journal)
        # force: the first conversion replaces a table of another protocol (the maintainers' rewrite)
        complete = write_table_from_journal(spec, path, force=True,
                                            command=f"{script} (written by runners/write_tables.py)")
        print(f"{name}: written, {'complete' if complete else 'partial (jobs missing: resume with ' + script + ')'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
