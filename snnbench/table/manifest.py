"""The manifest of the shipped tables (tables/MANIFEST.json): for each table its file, size and
SHA-256, protocol, counts, and how it was built (command, CPU-hours, wall time, machines), so that
`snnbench verify` can tell a shipped table from any other file of the same name.

Reading and checking a manifest needs neither torch nor the journal; writing one (make_manifest,
used by the command `snnbench manifest` and runners/manifest.sh) reads the tables
and a snapshot of the build journal.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import tempfile
from collections import Counter
from pathlib import Path

from ..version import __version__
from ..errors import ConfigError, ManifestError
from ..journal import job_costs, snapshot_journal

MANIFEST_NAME = "MANIFEST.json"
MANIFEST_FORMAT = "snnbench-manifest"
MANIFEST_VERSION = 1
# What verify compares between a table and its manifest entry (besides sha256): the file size, then
# the table metadata it was written with.
CHECKED_FIELDS = ("size", "space", "dataset", "protocol_name", "protocol_hash", "n_cells", "n_trained",
                  "n_train_runs", "n_score_runs", "seeds", "score_seeds", "complete")
_META_FIELDS = ("space", "dataset", "dataset_fingerprint", "protocol_name", "protocol_hash", "n_cells", "n_trained",
                "n_train_runs", "n_score_runs", "seeds", "score_seeds", "complete", "created", "snnbench_version")


def sha256_file(path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _utc(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- reading and checking
def read_manifest(path) -> dict:
    """A manifest file, checked for its format; ManifestError (one line) if it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"{path} is not a readable manifest ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{path} is not an snnbench manifest (no format='{MANIFEST_FORMAT}')")
    if not isinstance(data.get("version"), int) or data["version"] > MANIFEST_VERSION:
        raise ManifestError(f"{path} has manifest version {data.get('version')!r}; this snnbench {__version__} "
                            f"reads version {MANIFEST_VERSION}: upgrade snnbench")
    tables = data.get("tables")
    if not isinstance(tables, list) or not all(isinstance(t, dict) and isinstance(t.get("file"), str)
                                               and isinstance(t.get("sha256"), str) for t in tables):
        raise ManifestError(f"{path} is damaged: 'tables' must be a list of entries with 'file' and 'sha256'")
    names = [t["file"] for t in tables]
    if len(set(names)) != len(names) or any(Path(n).name != n for n in names):
        raise ManifestError(f"{path} is damaged: table file names must be plain, distinct names")
    return data


def manifest_beside(table_path) -> Path | None:
    """The MANIFEST.json in the folder of a table, if there is one."""
    candidate = Path(table_path).resolve().parent / MANIFEST_NAME
    return candidate if candidate.is_file() else None


def manifest_entry(manifest: dict, file_name: str) -> dict | None:
    """The entry of a table file name in a manifest (None if it is not listed)."""
    return next((t for t in manifest["tables"] if t["file"] == file_name), None)


def _table_facts(path) -> dict:
    """What the manifest records of a table that the table itself can tell: size, metadata, counts."""
    from .reader import Bench
    path = Path(path)
    with Bench(path) as bench:
        meta = bench.metadata
        score_where = bench.column("scores/where")
        done = bench.column("train/done")
        diverged = bench.column("train/diverged")
    facts = {"file": path.name, "size": path.stat().st_size}
    facts.update({k: meta[k] for k in _META_FIELDS})
    facts["n_cells_scored"] = int((score_where >= 0).any(axis=1).sum()) if score_where.size else 0
    facts["n_trained_all_seeds"] = int(done.all(axis=1).sum()) if done.size else 0
    facts["n_diverged_runs"] = int((done & diverged).sum())
    facts["selection"] = meta["selection"]
    facts["build_command"] = meta["build"].get("command")
    if meta.get("train_protocol_hash"):  # training runs kept from a protocol that differs only in the graph
        facts["train_protocol_hash"] = meta["train_protocol_hash"]
    return facts


def check_table(table_path, manifest_path=None) -> tuple[dict | None, list[str]]:
    """Compare a table with its entry in a manifest (by default the MANIFEST.json beside it).

    Returns (entry, problems): entry None when there is no manifest or it does not list the file
    (nothing to check); problems empty when the file is the one the manifest describes. The table
    must be readable (TableFormatError otherwise); a damaged manifest raises ManifestError."""
    path = Path(table_path)
    manifest_path = Path(manifest_path) if manifest_path is not None else manifest_beside(path)
    if manifest_path is None:
        return None, []
    entry = manifest_entry(read_manifest(manifest_path), path.name)
    if entry is None:
        return None, []
    problems = []
    actual = sha256_file(path)
    where = manifest_path.name
    if actual != entry["sha256"]:
        problems.append(f"sha256 {actual[:16]}... differs from the {entry['sha256'][:16]}... that {where} records: "
                        "not the shipped file (restore it, or rerun runners/manifest.sh after a rebuild)")
    facts = _table_facts(path)
    for key in CHECKED_FIELDS:
        if key in entry and facts.get(key) != entry[key]:
            problems.append(f"{key} is {facts.get(key)!r} but {where} records {entry[key]!r}")
    return entry, problems


# ----------------------------------------------------------------------------- writing
def _table_jobs(path) -> set:
    """(kind, cell_hash, seed) of every job stored in a table."""
    from .reader import Bench
    with Bench(path) as bench:
        return bench.stored_jobs()


def _build_record(path, journal_data: dict) -> dict:
    """Build cost of a table from the journal: CPU-hours (sum over its jobs of wall time x threads),
    training time, wall time from its first job's start to its last job's end, machines and runs."""
    wanted = _table_jobs(path)
    found = {job: journal_data["jobs"][job] for job in wanted if job in journal_data["jobs"]}
    cpu = Counter()
    machines: dict = {}
    run_jobs = Counter()
    train_time = 0.0
    starts, ends = [], []
    for (kind, _, _), (result, where, run_id, finished) in found.items():
        seconds = float(result.get("wall_time", 0.0)) * int(result.get("threads", 1) or 1)
        cpu[kind] += seconds
        if kind == "train":
            train_time += float(result.get("train_time", 0.0))
        m = machines.setdefault(str(where), {"jobs": 0, "score": 0, "train": 0, "cpu_hours": 0.0})
        m["jobs"] += 1
        m[kind] += 1
        m["cpu_hours"] += seconds / 3600
        run_jobs[run_id] += 1
        if finished is not None:
            ends.append(float(finished))
            starts.append(float(finished) - float(result.get("wall_time", 0.0)))
    for m in machines.values():
        m["cpu_hours"] = round(m["cpu_hours"], 3)
    runs = []
    for run_id, n in sorted(run_jobs.items(), key=lambda kv: journal_data["runs"].get(kv[0], {}).get("started") or 0):
        r = dict(journal_data["runs"].get(run_id, {"run_id": run_id}))
        for key in ("started", "finished"):
            r[key] = _utc(r[key]) if r.get(key) else None
        r["jobs"] = n
        runs.append(r)
    return {
        "jobs": len(wanted),
        "jobs_in_journal": len(found),
        "cpu_hours": round((cpu["score"] + cpu["train"]) / 3600, 3),
        "score_cpu_hours": round(cpu["score"] / 3600, 3),
        "train_cpu_hours": round(cpu["train"] / 3600, 3),
        "train_time_hours": round(train_time / 3600, 3),
        "wall_hours": round((max(ends) - min(starts)) / 3600, 3) if ends else None,
        "started": _utc(min(starts)) if starts else None,
        "finished": _utc(max(ends)) if ends else None,
        "machines": dict(sorted(machines.items())),
        "runs": runs,
    }


def _runner_of(build: dict, runners_dir) -> str | None:
    """The run spec in runners_dir that built a table (e.g. runners/fmnist.sh), from its recorded build
    metadata: the label the build was given (`snnbench build --label`), else the script its recorded
    command names. None when neither names a script there."""
    if runners_dir is None or not Path(runners_dir).is_dir():
        return None
    for word in [build.get("label") or "", *(build.get("command") or "").split()]:
        if Path(word).suffix == ".sh" and (Path(runners_dir) / Path(word).name).is_file():
            return f"{Path(runners_dir).name}/{Path(word).name}"
    return None


def _build_metadata(path) -> dict:
    from .reader import Bench
    with Bench(path) as bench:
        return bench.metadata["build"]


def table_record(path, journal_data: dict | None = None, runners_dir=None) -> dict:
    """The manifest entry of one table (journal_data: from _journal_jobs of a journal snapshot)."""
    path = Path(path)
    record = {"file": path.name, "sha256": sha256_file(path)}
    record.update(_table_facts(path))
    record["runner"] = _runner_of(_build_metadata(path), runners_dir)
    record["build"] = _build_record(path, journal_data) if journal_data is not None else None
    return record


def make_manifest(tables, journal=None, runners_dir=None) -> dict:
    """The manifest of `tables` (paths, in the order a query without a table tries them), with build
    cost from `journal`: a journal path, or a list of them when the tables were built under several
    protocols (one journal per protocol; each read through a snapshot, so builds may be writing it)."""
    from .reader import Bench
    tables = [Path(t) for t in tables]
    if not tables:
        raise ConfigError("no tables to put in the manifest")
    for t in tables:
        if not t.is_file():
            raise ConfigError(f"{t}: no such table file")
    journals = [] if journal is None else [Path(j) for j in (journal if isinstance(journal, (list, tuple)) else [journal])]
    protocols = {}  # table -> (protocol of its scores, protocol of its training runs)
    for t in tables:
        with Bench(t) as bench:
            meta = bench.metadata
        protocols[t] = (meta["protocol_hash"], meta.get("train_protocol_hash") or meta["protocol_hash"])
    wanted = {ph for pair in protocols.values() for ph in pair}
    journal_info, data = [], {}
    for path in journals:
        with tempfile.TemporaryDirectory(prefix="snnbench-manifest-") as tmp:
            snap = snapshot_journal(path, Path(tmp) / path.name)
            jobs = 0
            for ph in sorted(wanted - set(data)):
                found = job_costs(snap, ph)
                if found["jobs"]:
                    data[ph] = found
                    jobs += len(found["jobs"])
        journal_info.append({"file": path.name, "snapshot_at": _utc(datetime.datetime.now().timestamp()), "jobs": jobs})
    entries = []
    for t in tables:
        scores, training = (data.get(ph) for ph in protocols[t])
        jobs = None
        if scores is not None and training is not None:
            jobs = {"jobs": {k: v for k, v in scores["jobs"].items() if k[0] == "score"}
                    | {k: v for k, v in training["jobs"].items() if k[0] == "train"},
                    "runs": scores["runs"] | training["runs"]}
        entries.append(table_record(t, jobs if journals else None, runners_dir))
    return {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
            "generated": _utc(datetime.datetime.now().timestamp()),
            "generated_by": f"snnbench {__version__} (snnbench.manifest.make_manifest)",
            "journal": (journal_info[0] if len(journal_info) == 1 else journal_info) if journal_info else None,
            "note": "tables in the order `snnbench query` without --table tries them; cpu_hours: sum over a "
                    "table's jobs of wall time x threads; wall_hours: first job start to last job end",
            "tables": entries}


def write_manifest(manifest: dict, path) -> Path:
    """Write a manifest atomically (temporary file, fsync, rename; no temporary file is left when the
    disk refuses, StorageError then)."""
    from ..files import atomic_write_bytes
    return atomic_write_bytes(Path(path), (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode())


def describe(manifest: dict) -> list[str]:
    """One line per table: checksum, counts, build cost and the machines its jobs ran on."""
    lines = []
    for t in manifest["tables"]:
        b = t.get("build") or {}
        machines = ", ".join(f"{w} ({m['jobs']} jobs)" for w, m in (b.get("machines") or {}).items())
        lines.append(f"{t['file']}: sha256 {t['sha256'][:16]}..., {t['n_cells']} cells ({t['n_cells_scored']} scored), "
                     f"{t['n_trained']} trained ({t['n_trained_all_seeds']} with every seed), "
                     f"{t['n_train_runs']} training runs; {b.get('cpu_hours')} CPU-h, wall {b.get('wall_hours')} h"
                     + (f"; machines {machines}" if machines else ""))
    return lines
