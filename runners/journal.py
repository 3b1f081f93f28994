"""The build journal of the shipped tables travels in the repository compressed:
tables/digits.journal.sqlite.xz (a consistent snapshot, xz). The working journal,
tables/digits.journal.sqlite, is not tracked (a full one is over 100 MB: one JSON result per job).

    python runners/journal.py pack     # snapshot the working journal (builds may be running) and compress it
    python runners/journal.py unpack   # recreate the working journal from the .xz when it is missing
    python runners/journal.py pack|unpack tables/digits-authors.journal.sqlite   # another journal

The runners call `unpack` first, so a fresh checkout resumes the builds from the committed snapshot
without redoing a job it holds. `unpack` never overwrites an existing working journal."""
import lzma
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
JOURNAL = ROOT / "tables" / "digits.journal.sqlite"
PACKED = JOURNAL.with_name(JOURNAL.name + ".xz")


def pack(journal: Path = JOURNAL, packed: Path = PACKED) -> Path:
    from snnbench.build import snapshot_journal
    with tempfile.TemporaryDirectory(prefix="snnbench-pack-") as tmp:
        snap = snapshot_journal(journal, Path(tmp) / journal.name)
        partial = packed.with_name(packed.name + ".tmp")
        with open(snap, "rb") as src, lzma.open(partial, "wb", preset=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        partial.replace(packed)
    return packed


def unpack(packed: Path = PACKED, journal: Path = JOURNAL) -> bool:
    """Decompress the snapshot into the working journal if there is none; True if it did."""
    if journal.exists() or not packed.exists():
        return False
    partial = journal.with_name(journal.name + ".unpacking")
    with lzma.open(packed, "rb") as src, open(partial, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    partial.replace(journal)
    return True


if __name__ == "__main__":
    verb = sys.argv[1] if len(sys.argv) > 1 else ""
    journal = Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else JOURNAL
    packed = journal.with_name(journal.name + ".xz")
    if verb == "pack":
        p = pack(journal, packed)
        print(f"{p.relative_to(ROOT)}: {p.stat().st_size / 1e6:.1f} MB")
    elif verb == "unpack":
        print(f"unpacked {journal.relative_to(ROOT)}" if unpack(packed, journal) else "journal present (or no snapshot): nothing to do")
    else:
        sys.exit("usage: python runners/journal.py pack|unpack [JOURNAL]")
