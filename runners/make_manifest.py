"""Regenerate tables/MANIFEST.json from the shipped tables and the build journal (read through a
snapshot, so the builds may still be running). Run it after a table is (re)written, from anywhere:

    .venv/bin/python runners/make_manifest.py              # tables/digits-fw.h5, tables/digits-bw.h5
    .venv/bin/python runners/make_manifest.py --tables-dir /tmp/scratch --journal tables/digits.journal.sqlite

The order of the tables is the order `snnbench query HASH` without --table tries them (fw, then bw).
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("digits-fw.h5", "digits-bw.h5")
JOURNALS = [ROOT / "tables" / "digits.journal.sqlite", ROOT / "tables" / "digits-authors.journal.sqlite"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables-dir", type=Path, default=ROOT / "tables", help="folder of the tables (and of the manifest)")
    parser.add_argument("--journal", type=Path, nargs="+", default=JOURNALS, help="the build journals (one per protocol)")
    parser.add_argument("--tables", nargs="+", default=list(TABLES), help="table file names, in query order")
    parser.add_argument("--out", type=Path, default=None, help="manifest to write (default TABLES_DIR/MANIFEST.json)")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:  # the checkout's snnbench, installed or not
        sys.path.insert(0, str(ROOT))
    from snnbench.cli import main as snnbench
    command = ["manifest", *(str(args.tables_dir / t) for t in args.tables), "--runners", str(ROOT / "runners"),
               "--out", str(args.out or args.tables_dir / "MANIFEST.json")]
    for journal in args.journal:
        if journal.exists():
            command += ["--journal", str(journal)]
    # the maintainers' command `snnbench manifest`, which prints one line per table
    return snnbench.main(command, prog_name="snnbench", standalone_mode=False) or 0


if __name__ == "__main__":
    sys.exit(main())
