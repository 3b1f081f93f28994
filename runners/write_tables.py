"""Write the shipped tables from the journal without running any job (after the builds were stopped),
through the builder's own atomic writer, then regenerate tables/MANIFEST.json.

    python runners/write_tables.py                 # digits-fw with every fw cell's scores, digits-bw as sampled
    python runners/write_tables.py --bw-score-all  # once every bw cell is scored too
    python runners/write_tables.py --only fw       # one table (the other's build may still be running)
"""
import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bw-score-all", action="store_true")
    ap.add_argument("--fw-sample-scores-only", action="store_true", help="fw table without the score-all stage")
    ap.add_argument("--only", choices=("fw", "bw"), help="write this table only")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from snnbench.build import spec_from_table, write_table_from_journal
    journal = ROOT / "tables" / "digits.journal.sqlite"
    for name, score_all, script in (("digits-fw.h5", not a.fw_sample_scores_only, "runners/digits-fw.sh"),
                                    ("digits-bw.h5", a.bw_score_all, "runners/digits-bw.sh")):
        if a.only and name != f"digits-{a.only}.h5":
            continue
        path = ROOT / "tables" / name
        spec = spec_from_table(path, journal=journal)
        spec = dataclasses.replace(spec, out=path, score_all=score_all)
        complete = write_table_from_journal(spec, path, journal=journal, force=True,
                                            command=f"{script}{'' if score_all else ' train'} (written by runners/write_tables.py)")
        print(f"{name}: written, {'complete' if complete else 'partial (jobs missing: resume with ' + script + ')'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
