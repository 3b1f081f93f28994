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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables-dir", type=Path, default=ROOT / "tables", help="folder of the tables (and of the manifest)")
    parser.add_argument("--journal", type=Path, default=ROOT / "tables" / "digits.journal.sqlite", help="the build journal")
    parser.add_argument("--tables", nargs="+", default=list(TABLES), help="table file names, in query order")
    parser.add_argument("--out", type=Path, default=None, help="manifest to write (default TABLES_DIR/MANIFEST.json)")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:  # the checkout's snnbench, installed or not
        sys.path.insert(0, str(ROOT))
    from snnbench.errors import SnnbenchError
    from snnbench.manifest import MANIFEST_NAME, make_manifest, write_manifest
    try:
        manifest = make_manifest([args.tables_dir / t for t in args.tables], journal=args.journal,
                                 runners_dir=ROOT / "runners")
    except SnnbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = write_manifest(manifest, args.out or args.tables_dir / MANIFEST_NAME)
    for t in manifest["tables"]:
        b = t["build"]
        print(f"{t['file']}: sha256 {t['sha256'][:16]}..., {t['n_cells']} cells ({t['n_cells_scored']} scored), "
              f"{t['n_trained']} trained ({t['n_trained_all_seeds']} with every seed), {t['n_train_runs']} training runs; "
              f"{b['cpu_hours']} CPU-h, wall {b['wall_hours']} h; machines "
              + ", ".join(f"{w} ({m['jobs']} jobs)" for w, m in b["machines"].items()))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
