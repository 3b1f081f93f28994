"""The build journal: the crash-safe record of finished jobs, an SQLite database in WAL mode (one
transaction per job). This module is the only code that speaks SQL: the schema, the journal a
build writes (claims, heartbeats, results), read-only reading, snapshots, packing for shipping,
importing external score runs, merging and rechecking (docs/TABLE_FORMAT.md, "The journal").

Several builds may share one journal (a fw and a bw build of the same protocol, even at the same
time): a job is claimed in the journal before it runs, so no job runs twice, and a finished job is
reused by every build that needs it.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, JournalError, ProtocolMismatchError, SnnbenchError, StorageError
from .files import atomic_output, storage_error
from .protocols import Protocol


JOURNAL_SUFFIX = ".journal.sqlite"


JOURNAL_FORMAT = "snnbench-journal"


JOURNAL_VERSION = 1


HEARTBEAT_S = 10.0


STALE_AFTER_S = 90.0


@dataclass(frozen=True, order=True)
class Job:
    """One unit of work of a build: score or train one cell with one seed (under the build's protocol)."""
    kind: str
    cell_hash: str
    seed: int


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_row_alive(pid, host, heartbeat, finished) -> bool:
    """Whether the build of a row of the runs table may still record jobs: not finished, and alive (its
    heartbeat recent; on this host, its process there) or only paused (Ctrl-Z) on this host."""
    if finished is not None:
        return False
    local = host == socket.gethostname()
    if time.time() - heartbeat > STALE_AFTER_S:
        # silent too long: dead or hung, unless it is a build on this host that is only paused
        # (Ctrl-Z): it will resume and record the job it holds
        return local and pid != os.getpid() and _pid_stopped(pid)
    if not local:
        return True
    return pid != os.getpid() and _pid_alive(pid)  # our own pid in another run: a reused pid, dead


def _pid_stopped(pid: int) -> bool:
    """Whether a process is stopped (Ctrl-Z, SIGSTOP) or traced: paused, not dead (Linux /proc; False
    where there is none)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("T", "t")


_STORAGE_ERRORS = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")


def journal_error(exc: sqlite3.Error, path) -> SnnbenchError:
    """SQLite's own error on a journal as a typed error of one line: StorageError when the disk or
    the file system failed (full, read-only, I/O), JournalError otherwise."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if name.startswith(_STORAGE_ERRORS) or "disk" in message or "readonly" in message:
        return StorageError(f"journal {path}: {message}")
    return JournalError(f"journal {path}: {message}")


def _protocol_difference(old_json: str, new: Protocol) -> str:
    old = json.loads(Protocol.from_json(old_json).to_json())
    new_d = json.loads(new.to_json())
    diff = [f"{k} {old.get(k)} vs {new_d.get(k)}" for k in sorted(set(old) | set(new_d))
            if k not in ("name", "seed") and old.get(k) != new_d.get(k)]
    return ", ".join(diff) or "same fields, other protocol version"


def _check_journal(conn: sqlite3.Connection, path: Path, protocol: Protocol) -> None:
    """Refuse (reading only) a file that is not our journal, or a journal of another protocol."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:  # not SQLite at all, or an SQLite file too damaged to read
        raise ConfigError(f"{path} exists and is not an snnbench journal (SQLite: {exc}); "
                          "choose another `journal` or `out`") from None
    if not tables:
        return
    meta = dict(conn.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
    if meta.get("format") != JOURNAL_FORMAT:
        raise ConfigError(f"{path} exists and is not an snnbench journal; choose another `journal`")
    if int(meta.get("version", 0)) > JOURNAL_VERSION:
        raise ConfigError(f"{path} is a journal of a newer snnbench (version {meta['version']})")
    if meta.get("protocol_hash") != protocol.hash:
        raise ProtocolMismatchError(
            f"journal {path} holds jobs of protocol {meta.get('protocol_name')} {meta.get('protocol_hash')}, "
            f"not {protocol.name} {protocol.hash} ({_protocol_difference(meta['protocol_json'], protocol)}): "
            "rerun with the same protocol options, or give another `journal`")


def _done_jobs(conn: sqlite3.Connection, protocol_hash: str) -> set:
    rows = conn.execute("SELECT kind, cell_hash, seed FROM jobs WHERE protocol_hash=?", (protocol_hash,))
    return {Job(k, h, int(s)) for k, h, s in rows}


def read_done_jobs(path, protocol: Protocol, leave_no_files: bool = False) -> set:
    """The finished jobs of `protocol` in a journal, read through a read-only connection: it takes no
    write lock, so it never waits for (or delays) builds writing the journal. leave_no_files: when
    no build has the journal open (no PATH-wal file), read it as an immutable file, so that SQLite
    does not leave the -wal and -shm files a read-only connection creates (a dry run writes nothing)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"journal {path} does not exist")
    idle = leave_no_files and not Path(str(path) + "-wal").exists()
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if idle else "")
    conn = sqlite3.connect(uri, uri=True, timeout=60)
    try:
        _check_journal(conn, path, protocol)
        return _done_jobs(conn, protocol.hash)
    except sqlite3.OperationalError as e:  # e.g. an empty file: no tables at all
        raise ConfigError(f"journal {path} cannot be read: {e}") from None
    finally:
        conn.close()


class Journal:
    """The crash-safe record of finished jobs: an SQLite database in WAL mode. A job is done once its
    row is committed (one transaction per job); rows are keyed by (kind, cell_hash, protocol_hash,
    seed), so a job is never recorded twice. A journal holds the jobs of one protocol only. Keep it
    on a local disk of the driver: SQLite's WAL mode does not work on network file systems."""

    def __init__(self, path, protocol: Protocol):
        self.path = Path(path)
        self.protocol = protocol
        self.protocol_hash = protocol.hash
        existed = self.path.exists()
        if existed and self.path.is_dir():
            raise ConfigError(f"journal {self.path} is a folder")
        if not existed:
            self._create_file()
        try:
            self.conn = self._connect(self.path)
        except sqlite3.Error as exc:
            raise journal_error(exc, self.path) from None
        try:
            if existed:
                self._check_existing()
            self._create()
        except sqlite3.Error as exc:
            self.conn.close()
            if not existed:
                _remove_journal_files(self.path)
            raise journal_error(exc, self.path) from None
        except BaseException:
            self.conn.close()
            if not existed:
                _remove_journal_files(self.path)
            raise

    def _create_file(self) -> None:
        """Create the (empty) journal file, so that a refusal of the file system names its real reason
        (SQLite only says 'unable to open database file')."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            pass
        except OSError as exc:
            raise storage_error(exc, self.path, "cannot create the journal") from None

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=False)
        return conn

    def _check_existing(self) -> None:
        """Refuse (without writing anything) a file that is not our journal, or one of another protocol."""
        _check_journal(self.conn, self.path, self.protocol)

    def _create(self) -> None:
        c = self.conn
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=FULL")
        with self.transaction(immediate=True):
            c.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            c.execute("""CREATE TABLE IF NOT EXISTS jobs (
                kind TEXT NOT NULL, cell_hash TEXT NOT NULL, protocol_hash TEXT NOT NULL, seed INTEGER NOT NULL,
                result TEXT NOT NULL, where_ran TEXT, run_id TEXT, finished REAL,
                PRIMARY KEY (kind, cell_hash, protocol_hash, seed))""")
            c.execute("""CREATE TABLE IF NOT EXISTS claims (
                kind TEXT NOT NULL, cell_hash TEXT NOT NULL, protocol_hash TEXT NOT NULL, seed INTEGER NOT NULL,
                run_id TEXT NOT NULL, claimed REAL, PRIMARY KEY (kind, cell_hash, protocol_hash, seed))""")
            c.execute("""CREATE TABLE IF NOT EXISTS runs (
                run_id TEXT PRIMARY KEY, pid INTEGER, host TEXT, started REAL, heartbeat REAL, finished REAL,
                out TEXT, executor TEXT, command TEXT, jobs_run INTEGER DEFAULT 0, jobs_failed INTEGER DEFAULT 0)""")
            c.execute("""CREATE TABLE IF NOT EXISTS failures (
                kind TEXT, cell_hash TEXT, protocol_hash TEXT, seed INTEGER, run_id TEXT, error TEXT, at REAL)""")
            meta = {"format": JOURNAL_FORMAT, "version": str(JOURNAL_VERSION), "protocol_hash": self.protocol_hash,
                    "protocol_json": self.protocol.to_json(), "protocol_name": self.protocol.name,
                    "created": str(time.time())}
            c.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", meta.items())

    def transaction(self, immediate: bool = False):
        """A transaction context; immediate takes the write lock at once, waiting for it up to the
        connection's timeout. Every transaction that writes is immediate: a deferred one that reads
        first and then writes fails at once with 'database is locked' when another build wrote
        meanwhile (SQLite will not wait there), e.g. two builds opening one journal together."""
        return _Transaction(self.conn, immediate, self.path)

    def close(self) -> None:
        self.conn.close()

    # -- dataset fingerprint
    def check_fingerprint(self, fingerprint: str) -> None:
        """Record the dataset fingerprint, or refuse one that differs from the recorded one."""
        with self.transaction(immediate=True):
            row = self.conn.execute("SELECT value FROM meta WHERE key='dataset_fingerprint'").fetchone()
            if row is None:
                self.conn.execute("INSERT INTO meta (key, value) VALUES ('dataset_fingerprint', ?)", (fingerprint,))
            elif row[0] != fingerprint:
                raise ProtocolMismatchError(
                    f"journal {self.path} was built on {self.protocol.dataset} data with fingerprint {row[0]}, "
                    f"but the data now has fingerprint {fingerprint}: the dataset files changed")

    # -- runs
    def start_run(self, out, executor: str, command: str) -> str:
        run_id = uuid.uuid4().hex[:12]
        now = time.time()
        with self.transaction(immediate=True):
            self.conn.execute("INSERT INTO runs (run_id, pid, host, started, heartbeat, out, executor, command) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                              (run_id, os.getpid(), socket.gethostname(), now, now, str(out), executor, command))
        return run_id

    def finish_run(self, run_id: str) -> None:
        with self.transaction(immediate=True):
            self.conn.execute("UPDATE runs SET finished=? WHERE run_id=?", (time.time(), run_id))
            self.conn.execute("DELETE FROM claims WHERE run_id=?", (run_id,))

    def runs(self, out=None) -> list[dict]:
        """The build invocations recorded in the journal (for one output file when out is given)."""
        rows = self.conn.execute("SELECT run_id, pid, host, started, finished, out, executor, command, jobs_run, "
                                 "jobs_failed FROM runs ORDER BY started").fetchall()
        keys = ("run_id", "pid", "host", "started", "finished", "out", "executor", "command", "jobs_run", "jobs_failed")
        runs = [dict(zip(keys, r)) for r in rows]
        return [r for r in runs if out is None or r["out"] == str(out)]

    def _run_alive(self, run_id: str) -> bool:
        row = self.conn.execute("SELECT pid, host, heartbeat, finished FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return row is not None and _run_row_alive(*row)

    # -- jobs
    def _key(self, job: Job) -> tuple:
        return (job.kind, job.cell_hash, self.protocol_hash, int(job.seed))

    def done_jobs(self) -> set:
        """Every job of this protocol recorded as finished."""
        return _done_jobs(self.conn, self.protocol_hash)

    def claim(self, jobs, run_id: str) -> tuple[list, list, list]:
        """Claim jobs for a run before running them. Returns (claimed, already done, busy: claimed by
        another build that is still alive). A claim of a dead build (killed) is taken over."""
        claimed, done, busy = [], [], []
        with self.transaction(immediate=True):
            for job in jobs:
                key = self._key(job)
                if self.conn.execute("SELECT 1 FROM jobs WHERE kind=? AND cell_hash=? AND protocol_hash=? AND seed=?",
                                     key).fetchone():
                    done.append(job)
                    continue
                owner = self.conn.execute("SELECT run_id FROM claims WHERE kind=? AND cell_hash=? AND protocol_hash=? "
                                          "AND seed=?", key).fetchone()
                if owner and owner[0] != run_id and self._run_alive(owner[0]):
                    busy.append(job)
                    continue
                self.conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?)", (*key, run_id, time.time()))
                claimed.append(job)
        return claimed, done, busy

    def record(self, job: Job, result: dict, run_id: str) -> bool:
        """Commit one finished job (one transaction). False if the job was already recorded."""
        key = self._key(job)
        if result.get("protocol_hash") != self.protocol_hash or result.get("cell_hash") != job.cell_hash:
            raise ProtocolMismatchError(f"a worker returned a result of protocol {result.get('protocol_hash')} "
                                        f"for cell {result.get('cell_hash')}; expected {self.protocol_hash} {job.cell_hash}")
        with self.transaction(immediate=True):
            cur = self.conn.execute("INSERT OR IGNORE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                    (*key, json.dumps(result), str(result.get("where", "")), run_id, time.time()))
            self.conn.execute("DELETE FROM claims WHERE kind=? AND cell_hash=? AND protocol_hash=? AND seed=?", key)
            self.conn.execute("UPDATE runs SET jobs_run = jobs_run + 1, heartbeat=? WHERE run_id=?", (time.time(), run_id))
        return cur.rowcount == 1

    def record_failure(self, job: Job, error: str, run_id: str) -> None:
        with self.transaction(immediate=True):
            self.conn.execute("INSERT INTO failures VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (*self._key(job), run_id, error, time.time()))
            self.conn.execute("DELETE FROM claims WHERE kind=? AND cell_hash=? AND protocol_hash=? AND seed=?",
                              self._key(job))
            self.conn.execute("UPDATE runs SET jobs_failed = jobs_failed + 1 WHERE run_id=?", (run_id,))

    def results(self, jobs) -> dict:
        """{job: result dict} for the finished jobs among `jobs`; JournalError for a damaged row."""
        return self.results_after(jobs)[0]

    def results_after(self, jobs, row: int = 0) -> tuple[dict, int, int]:
        """The results of the jobs among `jobs` recorded after journal row `row` (0: every row), so that
        a build reads each row once however often it writes its table. Returns ({job: result dict},
        the last row read (`row` when none is new), how many rows were read). Rows are only ever added
        (INSERT OR IGNORE, no update, no delete), and SQLite numbers them in commit order, so the
        rows after `row` are exactly the jobs finished since. JournalError for a damaged row."""
        wanted = jobs if isinstance(jobs, (set, frozenset)) else set(jobs)
        out, last, n = {}, row, 0
        rows = self.conn.execute("SELECT rowid, kind, cell_hash, seed, result FROM jobs WHERE protocol_hash=? "
                                 "AND rowid>? ORDER BY rowid", (self.protocol_hash, row))
        for rowid, kind, cell_hash, seed, result in rows:
            last, n = rowid, n + 1
            job = Job(kind, cell_hash, int(seed))
            if job in wanted:
                out[job] = _checked_result(job, result, self.path)
        return out, last, n


_RESULT_KEYS = {"score": ("hd", "sahd", "sahd_eq9", "firing_rate", "wall_time", "n_params"),
                "train": ("valid_acc", "test_acc", "train_time", "firing_rate", "sops", "macs", "energy_pj",
                          "epochs_run", "diverged", "n_params", "valid_acc_curve", "train_acc", "train_loss",
                          "epoch_time")}


def _checked_result(job: Job, text, path) -> dict:
    """A journal row's result, parsed and checked for the keys a table needs."""
    what = f"journal {path} is damaged: the result of {job.kind} {job.cell_hash} seed {job.seed}"
    try:
        result = json.loads(text)
    except (TypeError, ValueError):
        raise JournalError(f"{what} is not JSON") from None
    if not isinstance(result, dict):
        raise JournalError(f"{what} is not a JSON object")
    missing = [k for k in _RESULT_KEYS.get(job.kind, ()) if k not in result]
    if missing:
        raise JournalError(f"{what} lacks {', '.join(missing)}")
    return result


def _remove_journal_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(str(path) + suffix)
        except OSError:
            pass


class _Transaction:
    """BEGIN [IMMEDIATE] ... COMMIT, or ROLLBACK on an exception. An SQLite error (a full disk, an I/O
    error) leaves as a StorageError or JournalError carrying SQLite's own message: after such an
    error SQLite may have rolled back already, and a second ROLLBACK would only say 'no transaction
    is active'."""

    def __init__(self, conn, immediate: bool = False, path=None):
        self.conn, self.immediate, self.path = conn, immediate, path

    def __enter__(self):
        try:
            self.conn.execute("BEGIN IMMEDIATE" if self.immediate else "BEGIN")
        except sqlite3.Error as exc:
            raise journal_error(exc, self.path) from None
        return self.conn

    def __exit__(self, exc_type, exc, _tb):
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return False
            except sqlite3.Error as commit_error:
                exc_type, exc = type(commit_error), commit_error
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the error that brought us here is the one to report
        if isinstance(exc, sqlite3.Error):
            raise journal_error(exc, self.path) from None
        return False


class Heartbeat(threading.Thread):
    """Keeps a run's heartbeat fresh so that other builds sharing the journal see it alive."""

    def __init__(self, path: Path, run_id: str):
        super().__init__(daemon=True)
        self.path, self.run_id = path, run_id
        self.stop_event = threading.Event()

    def run(self):
        conn = sqlite3.connect(str(self.path), timeout=60)
        try:
            while not self.stop_event.wait(HEARTBEAT_S):
                try:
                    with conn:
                        conn.execute("UPDATE runs SET heartbeat=? WHERE run_id=?", (time.time(), self.run_id))
                except sqlite3.Error:
                    pass
        finally:
            conn.close()

    def stop(self):
        self.stop_event.set()


def snapshot_journal(source, dest) -> Path:
    """A consistent copy of a journal, taken with SQLite's online backup API, so that a table can be
    written (or a manifest computed) from a journal that live builds are writing: the copy reads the
    source in one step under a read lock and never writes to it. The copy is a single file
    (rollback-journal mode). Returns dest."""
    source, dest = Path(source), Path(dest)
    if not source.is_file():
        raise ConfigError(f"journal {source}: no such file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.unlink()
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
    try:
        dst = sqlite3.connect(str(dest))
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"cannot snapshot journal {source}: {exc}") from None
    finally:
        src.close()
    return dest


# ----------------------------------------------------------------------------- reading without a build
_JOB_COLUMNS = ("kind", "cell_hash", "protocol_hash", "seed", "result", "where_ran", "run_id", "finished")
_RUN_COLUMNS = ("run_id", "pid", "host", "started", "heartbeat", "finished", "out", "executor", "command",
                "jobs_run", "jobs_failed")


def open_read_only(path) -> sqlite3.Connection:
    """A read-only connection to a journal file (it takes no write lock: builds writing the journal go
    on); ConfigError when there is no such file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"journal {path}: no such file")
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)


def read_meta(path) -> dict:
    """The meta table of a journal (format, version, protocol_hash, protocol_json, ...); ConfigError for
    a file that is not an snnbench journal."""
    conn = open_read_only(path)
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta"))
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path} is not a readable snnbench journal ({exc})") from None
    finally:
        conn.close()
    if meta.get("format") != JOURNAL_FORMAT:
        raise ConfigError(f"{path} is not an snnbench journal")
    if int(meta.get("version", 0)) > JOURNAL_VERSION:
        raise ConfigError(f"{path} is a journal of a newer snnbench (version {meta['version']})")
    return meta


def _query(path, sql: str, parameters=()) -> list:
    conn = open_read_only(path)
    try:
        return conn.execute(sql, parameters).fetchall()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path} is not a readable snnbench journal ({exc})") from None
    finally:
        conn.close()


def dataset_fingerprint_of(journal: "Journal") -> str:
    """The dataset fingerprint an open journal recorded ('' before its first build checked one)."""
    row = journal.conn.execute("SELECT value FROM meta WHERE key='dataset_fingerprint'").fetchone()
    return row[0] if row else ""


def last_run(path, out) -> dict | None:
    """The latest build run recorded for the output file `out` ({'executor', 'command'}), or None."""
    try:
        rows = _query(path, "SELECT executor, command FROM runs WHERE out=? ORDER BY started DESC LIMIT 1",
                      (str(out),))
    except ConfigError:
        return None
    return {"executor": rows[0][0], "command": rows[0][1]} if rows else None


def job_costs(path, protocol_hash: str) -> dict:
    """What a manifest needs of a journal: {"jobs": {(kind, cell_hash, seed): (cost, where_ran, run_id,
    finished)}, "runs": {run_id: run}}; cost keeps only wall_time, threads and train_time of a result."""
    rows = _query(path, "SELECT kind, cell_hash, seed, result, where_ran, run_id, finished FROM jobs "
                        "WHERE protocol_hash=?", (protocol_hash,))
    runs = {r[0]: {"run_id": r[0], "host": r[1], "out": r[2], "executor": r[3], "command": r[4],
                   "started": r[5], "finished": r[6]}
            for r in _query(path, "SELECT run_id, host, out, executor, command, started, finished FROM runs")}
    jobs = {}
    for kind, cell_hash, seed, text, where, run_id, finished in rows:
        result = json.loads(text)
        cost = {k: result.get(k, default) for k, default in (("wall_time", 0.0), ("threads", 1), ("train_time", 0.0))}
        jobs[(kind, cell_hash, int(seed))] = (cost, where, run_id, finished)
    return {"jobs": jobs, "runs": runs}


def recorded_results(path, kind: str | None = None, where_prefix: str = "", limit: int | None = None) -> list[dict]:
    """Finished jobs (of one kind, or all) that ran where `where` starts with where_prefix, ordered by
    kind, cell hash and seed, at most `limit`: [{"kind", "cell_hash", "seed", "where", "finished" (Unix
    time), "result": dict}]."""
    rows = _query(path, "SELECT kind, cell_hash, seed, result, where_ran, finished FROM jobs WHERE kind LIKE ? "
                        "AND where_ran LIKE ? ORDER BY kind, cell_hash, seed LIMIT ?",
                  (kind or "%", where_prefix + "%", -1 if limit is None else limit))
    return [{"kind": k, "cell_hash": h, "seed": int(s), "where": w, "finished": f, "result": json.loads(r)}
            for k, h, s, r, w, f in rows]


def journal_stats(path) -> dict:
    """A journal's protocol, its finished jobs by kind and by where they ran, its failures and runs:
    runs (builds that used it), runs_unfinished = runs_running (still recording, or paused) +
    runs_stopped (killed or crashed: what they held is taken over by the next build)."""
    meta = read_meta(path)
    by_kind = dict(_query(path, "SELECT kind, count(*) FROM jobs GROUP BY kind"))
    by_where = dict(_query(path, "SELECT where_ran, count(*) FROM jobs GROUP BY where_ran"))
    failures = _query(path, "SELECT count(*) FROM failures")[0][0]
    runs = _query(path, "SELECT pid, host, heartbeat, finished FROM runs")
    unfinished = [r for r in runs if r[3] is None]
    alive = sum(_run_row_alive(*r) for r in unfinished)
    return {"protocol_name": meta.get("protocol_name"), "protocol_hash": meta.get("protocol_hash"),
            "dataset_fingerprint": meta.get("dataset_fingerprint"), "jobs": by_kind, "where": by_where,
            "failures": failures, "runs": len(runs), "runs_unfinished": len(unfinished), "runs_running": alive,
            "runs_stopped": len(unfinished) - alive}


# ----------------------------------------------------------------------------- moving jobs between journals
def _writable(path) -> sqlite3.Connection:
    read_meta(path)  # an snnbench journal of a version we read, or ConfigError
    conn = sqlite3.connect(str(path), timeout=60, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def _insert_jobs(conn: sqlite3.Connection, rows: list, run: dict) -> int:
    """Insert job rows (in _JOB_COLUMNS order) and the run that made them in one transaction; a job
    already there is kept as it is. Returns how many jobs were added."""
    marks = ", ".join("?" * len(_JOB_COLUMNS))
    with _Transaction(conn, immediate=True):
        before = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        conn.executemany(f"INSERT OR IGNORE INTO jobs ({', '.join(_JOB_COLUMNS)}) VALUES ({marks})", rows)
        added = conn.execute("SELECT count(*) FROM jobs").fetchone()[0] - before
        if run:
            run = {**run, "jobs_run": run.get("jobs_run", added)}
            names = [c for c in _RUN_COLUMNS if c in run]
            conn.execute(f"INSERT OR IGNORE INTO runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                         [run[c] for c in names])
    return added


def import_score_records(path, records, source: str, where: str | None = None) -> int:
    """Record score results (dicts of `snnbench score --out`, e.g. scorer.read_score_records) as
    finished score jobs of the journal at `path`, so that a build does not score those cells again.
    A record of another protocol is refused (ProtocolMismatchError) before anything is written; jobs
    already in the journal are kept. where: relabel where the jobs ran (the scorer's label is kept as
    where_recorded). Returns how many jobs were added."""
    protocol_hash = read_meta(path)["protocol_hash"]
    run_id = f"import-{uuid.uuid4().hex[:12]}"
    rows, hosts = [], {}
    for r in records:
        if r.get("kind") != "score" or r.get("protocol_hash") != protocol_hash:
            raise ProtocolMismatchError(f"{source}: a {r.get('kind')} record of protocol {r.get('protocol_hash')}, "
                                        f"but journal {path} holds protocol {protocol_hash}")
        if where:
            r = {**r, "where_recorded": r["where"], "where": where}
        hosts[r["where"]] = hosts.get(r["where"], 0) + 1
        rows.append(("score", r["cell_hash"], protocol_hash, int(r["seed"]), json.dumps(r), r["where"], run_id,
                     time.time()))
    now = time.time()
    run = {"run_id": run_id, "pid": 0, "host": ",".join(sorted(hosts)), "started": now, "heartbeat": now,
           "finished": now, "out": str(source), "executor": "snnbench score",
           "command": f"snnbench score (imported from {source})"}
    conn = _writable(path)
    try:
        return _insert_jobs(conn, rows, run)
    finally:
        conn.close()


def merge_journals(target, other) -> int:
    """Add the finished jobs and the runs of journal `other` (e.g. a copy that ran on another
    machine) to journal `target`. Both must be snnbench journals of one protocol (ProtocolMismatchError
    otherwise); jobs already in target are kept as they are. Returns how many jobs were added."""
    mine, theirs = read_meta(target), read_meta(other)
    if mine.get("protocol_hash") != theirs.get("protocol_hash"):
        raise ProtocolMismatchError(f"journal {other} holds protocol {theirs.get('protocol_hash')}, "
                                    f"journal {target} {mine.get('protocol_hash')}: only journals of one protocol merge")
    rows = _query(other, f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs")
    runs = _query(other, f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs")
    conn = _writable(target)
    try:
        added = _insert_jobs(conn, rows, {})
        with _Transaction(conn, immediate=True):
            conn.executemany(f"INSERT OR IGNORE INTO runs ({', '.join(_RUN_COLUMNS)}) "
                             f"VALUES ({', '.join('?' * len(_RUN_COLUMNS))})", runs)
        return added
    finally:
        conn.close()


# ----------------------------------------------------------------------------- the packed snapshot
PACKED_SUFFIX = ".xz"


def pack_journal(path, packed=None) -> Path:
    """A consistent snapshot of a journal (builds may be writing it), xz-compressed, written atomically
    to `packed` (default PATH.xz): the form in which a repository carries a journal. Returns packed."""
    import lzma
    import shutil
    import tempfile
    path = Path(path)
    packed = Path(packed) if packed is not None else path.with_name(path.name + PACKED_SUFFIX)
    with tempfile.TemporaryDirectory(prefix="snnbench-pack-") as tmp:
        snap = snapshot_journal(path, Path(tmp) / path.name)
        with open(snap, "rb") as src, atomic_output(packed, action="cannot write the packed journal") as out, \
                lzma.open(out, "wb", preset=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return packed


def unpack_journal(packed, path=None) -> bool:
    """Decompress a packed journal into `path` (default: packed without .xz) when there is no journal
    there; never overwrites one. Returns whether it wrote the journal."""
    import lzma
    import shutil
    packed = Path(packed)
    path = Path(path) if path is not None else packed.with_name(packed.name.removesuffix(PACKED_SUFFIX))
    if path.exists() or not packed.exists():
        return False
    try:
        with lzma.open(packed, "rb") as src, \
                atomic_output(path, path.with_name(path.name + ".unpacking"), "cannot unpack the journal") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except lzma.LZMAError as exc:
        raise ConfigError(f"{packed} is not a packed journal ({exc})") from None
    return True


def copy_without_jobs(source, dest, kind: str, cell_hashes) -> Path:
    """A consistent copy of journal `source` at `dest` lacking every finished job of `kind` ('score' or
    'train') for the cells `cell_hashes`, so that a build on the copy runs them again (benchmarks
    measure a build that way; a journal a build uses is never changed like this). Returns dest."""
    dest = snapshot_journal(source, dest)
    conn = sqlite3.connect(str(dest))
    try:
        with conn:
            conn.executemany("DELETE FROM jobs WHERE kind=? AND cell_hash=?", [(kind, h) for h in cell_hashes])
    finally:
        conn.close()
    return dest
