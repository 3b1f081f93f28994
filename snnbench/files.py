"""Safe handling of the files snnbench writes: atomic replacement that leaves no temporary file
behind, one writer per output (a lock file), outputs that must not be inputs, and the file system's
own errors turned into StorageError with one line naming the file.

Every command that writes goes through here, so that a full or read-only disk, a missing
permission or a name too long reads the same everywhere: `PATH: cannot write (No space left on device)`."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from .errors import ConfigError, StorageError

LOCK_SUFFIX = ".lock"


def storage_error(exc: OSError, path=None, action: str = "cannot write") -> StorageError:
    """A StorageError of one line from an OSError: the file and the system's reason (strerror)."""
    name = path if path is not None else (exc.filename or "")
    reason = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]
    return StorageError(f"{_short(name)}: {action} ({reason})")


def _short(path, limit: int = 200) -> str:
    """A path as text, cut in the middle when longer than limit (names of 300 characters exist)."""
    text = str(path)
    return text if len(text) <= limit else f"{text[:limit // 2]}...{text[-limit // 2:]}"


def check_path(path, option: str) -> Path:
    """Refuse a path the file system cannot hold: a component longer than the folder's NAME_MAX or a
    path longer than PATH_MAX (ConfigError naming the option). Returns it as a Path."""
    path = Path(path)
    if str(path) == "":
        raise ConfigError(f"{option}: an empty path")
    folder = _existing_parent(path)
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
        path_max = os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    longest = max((len(os.fsencode(part)) for part in path.parts), default=0)
    if longest > name_max:
        raise ConfigError(f"{option} {_short(path)}: file name too long ({longest} bytes; the file system "
                          f"allows {name_max})")
    if len(os.fsencode(str(path.absolute()))) > path_max:
        raise ConfigError(f"{option} {_short(path)}: path too long (the file system allows {path_max} bytes)")
    return path


def _existing_parent(path: Path) -> Path:
    for parent in path.absolute().parents:
        try:
            if parent.is_dir():
                return parent
        except OSError:
            continue
    return Path("/")


def check_output_file(path, option: str) -> Path:
    """Refuse an output that exists and is not a regular file (a folder, /dev/full, a pipe)."""
    path = check_path(path, option)
    if path.exists() and not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file"
        raise ConfigError(f"{option} {_short(path)} is {kind}: give a file name")
    return path


def same_file(a, b) -> bool:
    """Whether two paths name one file (the same inode, or the same resolved path)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def refuse_overwriting_inputs(outputs, inputs, option: str) -> None:
    """ConfigError if any output path is one of the input files (an output never replaces an input)."""
    for out in outputs:
        for source in inputs:
            if source is not None and same_file(out, source):
                raise ConfigError(f"{option} {_short(out)} is one of the inputs: writing it would destroy "
                                  "the input; choose another name")


def remove_quietly(path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


@contextlib.contextmanager
def atomic_output(path, temporary=None, action: str = "cannot write"):
    """The one atomic write of snnbench: yields a binary file open on `temporary` (default PATH.tmp);
    when the block ends, the file is fsynced, renamed over PATH and its folder fsynced, so a reader
    sees the old file or the new one, never a torn one. On any failure PATH is unchanged, the
    temporary file is removed, and an OSError leaves as a StorageError (`action`: what failed)."""
    path = Path(path)
    tmp = Path(temporary) if temporary is not None else path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        remove_quietly(tmp)
        raise storage_error(exc, path, action) from None
    except BaseException:
        remove_quietly(tmp)
        raise
    try:
        fd = os.open(path.parent if str(path.parent) else Path("."), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass  # the rename is done; a folder that cannot be fsynced is no reason to fail


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write data to PATH atomically (atomic_output). Returns the path."""
    with atomic_output(path) as fh:
        fh.write(data)
    return Path(path)


def make_parent(path, option: str = "") -> None:
    """Create the folder of an output file (StorageError if the file system refuses)."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{option + ' ' if option else ''}{_short(path)}: its folder "
                          f"{_short(Path(path).parent)} is a file") from None
    except OSError as exc:
        raise storage_error(exc, Path(path).parent, "cannot create the folder") from None


@contextlib.contextmanager
def output_lock(path):
    """Hold the lock of an output file (an flock on PATH.lock) for the duration of the block, so that two
    builds never write one table at once; ConfigError at once if another process holds it. The lock
    file is removed on exit."""
    lock_path = Path(str(path) + LOCK_SUFFIX)
    make_parent(lock_path)
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise storage_error(exc, lock_path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise ConfigError(f"another build is writing {_short(path)}{holder}: wait for it to finish, "
                                  "or choose another `out`") from None
            raise storage_error(exc, lock_path, "cannot lock") from None
        # the file we locked may have been removed by the previous holder after we opened it: lock the
        # file that is at the path now, else two builds would hold 'the' lock
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass  # the pid is only for the message of a refused build
    try:
        yield lock_path
    finally:
        remove_quietly(lock_path)
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (process {pid})" if pid.isdigit() else ""


def append_records(out, jobs, work, workers: int | None = None, on_record=None, sync: bool = False) -> int:
    """The resumable loop of the scorer and the studies: run work(job) for each job and append the record
    it returns (a JSON object) to the JSONL file `out` as soon as it comes back, one flushed line each
    (fsynced with sync), so that a run stopped at any point loses only the jobs in flight; the caller
    skips the jobs whose records are there when it runs again. workers None: in this process; N: in a
    pool of N spawned processes (work and jobs picklable), records in the order they finish. on_record(record) follows
    each line. Returns how many records were written; an OSError of the file is a StorageError."""
    import concurrent.futures as cf
    import json
    import multiprocessing

    def results():
        if workers is None:
            yield from (work(job) for job in jobs)
            return
        with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield from (future.result() for future in cf.as_completed([pool.submit(work, job) for job in jobs]))

    written = 0
    try:
        with open(out, "a") as f:
            for record in results():
                f.write(json.dumps(record) + "\n")
                f.flush()
                if sync:
                    os.fsync(f.fileno())
                written += 1
                if on_record is not None:
                    on_record(record)
    except OSError as exc:
        raise storage_error(exc, out) from None
    return written
