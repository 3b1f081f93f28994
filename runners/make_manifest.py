"""Regenerate tables/MANIFEST.json from the shipped tables and the build journal (read through a
snapshot, so the builds may still be running). Run it after a table is (re)written, from anywhere:

    .venv/bin/python runners/make_manifest.py              # the tables of TABLES that are in tables/
    .venv/bin/python runners/make_manifest.py --tables-dir /tmp/scratch --journal tables/digits.journal.sqlite

The order of the tables is the order `snnbench query HASH` without --table answers in (digits fw, bw,
then Fashion-MNIST fw, bw). A table of TABLES not built yet is left out, so the manifest lists only
tables that exist; name tables with --tables to list exactly those (each must exist).
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("digits-fw.h5", "digits-bw.h5", "fmnist-fw.h5", "fmnist-bw.h5")
# the journals of the tables' protocols (a table's build cost is read from its own; add a new table's here)
JOURNALS = [ROOT / "tables" / "digits.journal.sqlite", ROOT / "tables" / "digits-authors.journal.sqlite",
            ROOT / "tables" / "fmnist.journal.sqlite"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables-dir", type=Path, default=ROOT / "tables", help="folder of the tables (and of the manifest)")
    parser.add_argument("--journal", type=Path, nargs="+", default=JOURNALS, help="the build journals (one per protocol)")
    parser.add_argument("--tables", nargs="+", default=None,
                        help="table file names, in query order (default: those of TABLES in the folder)")
    parser.add_argument("--out", type=Path, default=None, help="manifest to write (default TABLES_DIR/MANIFEST.json)")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:  # the checkout's snnbench, installed or not
        sys.path.insert(0, str(ROOT))
    from snnbench.cli import main as snnbench
    tables = args.tables or [t for t in TABLES if (args.tables_dir / t).is_file()] or list(TABLES[:1])
    command = ["manifest", *(str(args.tables_dir / t) for t in tables), "--runners", str(ROOT / "runners"),
               "--out", str(args.out or args.tables_dir / "MANIFEST.json")]
    for journal in args.journal:
        if journal.exists():
            command += ["--journal", str(journal)]
    # the maintainers' command `snnbench manifest`, which prints one line per table
    return snnbench.main(command, prog_name="snnbench", standalone_mode=False) or 0


if __name__ == "__main__":
    sys.exit(main())
