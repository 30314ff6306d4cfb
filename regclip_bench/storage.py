"""Files on a local path or a URI that pyarrow.fs and Ray Tune understand, and the one atomic writer.

A sweep keeps its files as

    <storage>/<sweep name>/
        trials/<key>.parquet   one finished trial (written last: its presence means "done")
        tune/<run>/            Ray Tune's experiments, with the trials' checkpoints
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import pyarrow.fs as pafs

from .errors import ConfigError, check_path

NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "lustre", "gpfs", "ceph", "glusterfs", "beegfs",
                       "fuse.sshfs", "fuse.gcsfuse", "fuse.s3fs", "fuse.juicefs", "9p", "virtiofs"}


def is_uri(storage: str) -> bool:
    return "://" in storage and not storage.startswith("file://")


def normalise(storage: str) -> str:
    """An absolute local path, or the URI unchanged."""
    if storage.startswith("file://"):
        storage = storage[len("file://"):]
    return storage if is_uri(storage) else str(Path(storage).expanduser().resolve())


def check_output(what: str, location: str, folders: tuple[str, ...] = ()) -> None:
    """Where a command will write, checked before any work starts: a local folder (or one it can
    create) that this user can write, and its existing `folders` too (a store's tables).  A URI's
    bucket is checked when first written."""
    if is_uri(location):
        return
    check_path(what, location)
    path = Path(normalise(location))
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{what} {location}: {existing} is a file, not a folder")
    for folder in [existing, *(path / f for f in folders if (path / f).exists())]:
        if not folder.is_dir():
            raise ConfigError(f"{what} {location}: {folder} is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"{what} {location}: {folder} is not writable")


@contextmanager
def local_pages(out: str) -> Iterator[tuple[Path, Callable[[Path], str]]]:
    """Pages (reports, the leaderboard) are written by matplotlib and Jinja into a local folder: `out`
    itself, or — for a URI (s3://…, gs://…) — a temporary folder whose files are copied there, each, once
    every page is written (nothing is copied if writing fails).  Yields the folder and how to name a file
    written in it where it ends up."""
    if not is_uri(out):
        path = Path(normalise(out))
        yield path, str
        return
    import tempfile
    with tempfile.TemporaryDirectory(prefix="regclip-pages-") as folder:
        local = Path(folder)
        yield local, lambda p: join(out, Path(p).relative_to(local).as_posix())
        fs, target = filesystem(out)
        pafs.copy_files(str(local), target, destination_filesystem=fs)


def inside(base: str | Path, *parts: str) -> Path:
    """base/parts, refused where it would lie outside `base` (a name read from data, such as a task in a
    store, never takes a write out of its folder)."""
    root = Path(os.path.abspath(Path(base).expanduser()))   # lexically: a symlink the user made is theirs
    path = Path(os.path.normpath(root.joinpath(*parts)))
    if path != root and root not in path.parents:
        raise ConfigError(f"{'/'.join(parts)!r}: not a name inside {base}; refusing to write outside it")
    return path


def join(*parts: str) -> str:
    return "/".join(p.rstrip("/") for p in parts)


def filesystem(uri_or_path: str) -> tuple[pafs.FileSystem, str]:
    if is_uri(uri_or_path):
        return pafs.FileSystem.from_uri(uri_or_path)
    return pafs.LocalFileSystem(), uri_or_path


def exists(uri_or_path: str) -> bool:
    """Whether a file is there (one stat, not a listing of its folder)."""
    fs, path = filesystem(uri_or_path)
    return fs.get_file_info(path).type == pafs.FileType.File


def finished_keys(sweep_dir: str) -> set[str]:
    fs, path = filesystem(join(sweep_dir, "trials"))
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    except FileNotFoundError:
        return set()
    return {Path(info.path).name[:-len(".parquet")] for info in infos
            if info.type == pafs.FileType.File and info.path.endswith(".parquet")}


def os_reason(exc: OSError) -> str:
    """The filesystem's words for an OSError, one line: its strerror, or the errno pyarrow puts in its
    message ("Error writing bytes to file. Detail: [errno 28] …" → "No space left on device")."""
    found = re.search(r"\[errno (\d+)\]", str(exc), re.IGNORECASE)
    if found:
        return os.strerror(int(found.group(1)))
    if exc.strerror:
        return exc.strerror
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def write_bytes(uri_or_path: str | Path, data: bytes) -> None:
    """Atomic where the filesystem allows it: written under a dot-name in the same folder (which
    every reader of this package, pyarrow and Tune skip), then moved into place."""
    write_all([(str(uri_or_path), data)])


_STAGED = re.compile(r"\..+\.\d+\.\d+\.tmp")   # what write_all names a file before moving it into place


def _staged_name(name: str) -> str:
    return f".{name}.{os.getpid()}.{time.time_ns()}.tmp"


def write_all(files: list[tuple[str, bytes]]) -> None:
    """Several files, all or none: every one written under its dot-name first (a full or read-only disk
    fails here, and every staged file is removed), then each moved into place, in the order given."""
    staged = []
    try:
        for target, data in files:
            fs, path = filesystem(target)
            folder, name = path.rsplit("/", 1)
            fs.create_dir(folder, recursive=True)
            tmp = f"{folder}/{_staged_name(name)}"
            staged.append((fs, tmp, path))
            with fs.open_output_stream(tmp) as stream:
                stream.write(data)
    except BaseException:
        for fs, tmp, _ in staged:
            try:
                fs.delete_file(tmp)
            except OSError:
                pass
        raise
    for fs, tmp, path in staged:
        fs.move(tmp, path)


def remove_staged(folder: str) -> None:
    """Remove what `write_all` staged in `folder` and never moved into place — left where storage broke off a
    write midway and could not take the staged file back (its retry writes under a new name).  Only for a
    folder no writer is using: a sweep's, once its run has ended.  Storage that does not answer is left as
    it is (the next run tidies)."""
    fs, path = filesystem(folder)
    try:
        for info in fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)):
            if info.type == pafs.FileType.File and _STAGED.fullmatch(info.base_name):
                fs.delete_file(info.path)
    except OSError:
        pass


_HELD: dict[str, tuple[int, int]] = {}   # sweep folder → (its lock file's descriptor, how many holders here)


@contextmanager
def sweep_lock(sweep_dir: str) -> Iterator[None]:
    """One driver per sweep: an exclusive lock on <sweep>/.lock, taken before anything of the sweep starts
    and held to its end (the kernel drops it when a killed driver's process ends; taken again by the same
    process, it nests).  Object storage has no locks: a sweep on a URI is not locked (README)."""
    if is_uri(sweep_dir):
        yield
        return
    if sweep_dir in _HELD:
        fd, count = _HELD[sweep_dir]
        _HELD[sweep_dir] = (fd, count + 1)
    else:
        Path(sweep_dir).mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{sweep_dir}/.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ConfigError(f"sweep {sweep_dir} is already running (its driver, pid {holder}, holds "
                              f"{sweep_dir}/.lock); wait for it or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _HELD[sweep_dir] = (fd, 1)
    try:
        yield
    finally:
        fd, count = _HELD[sweep_dir]
        if count > 1:
            _HELD[sweep_dir] = (fd, count - 1)
        else:
            del _HELD[sweep_dir]
            os.close(fd)   # releases the lock


def mount_type(path: str) -> str | None:
    """The filesystem type of the mount holding `path` (Linux), or None if unknown."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    best, best_type = "", None
    for line in mounts:
        fields = line.split()
        if len(fields) >= 3 and (path == fields[1] or path.startswith(fields[1].rstrip("/") + "/")):
            if len(fields[1]) > len(best):
                best, best_type = fields[1], fields[2]
    return best_type


def read_json(uri_or_path: str) -> Any:
    """A JSON file's value (FileNotFoundError where there is none, ValueError where it is not JSON)."""
    fs, path = filesystem(uri_or_path)
    with fs.open_input_stream(path) as stream:
        return json.loads(stream.read())


def write_json(uri_or_path: str, value: Any) -> None:
    write_bytes(uri_or_path, json.dumps(value, indent=1, default=str).encode())
