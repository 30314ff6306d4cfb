"""Files on a local path or a URI that pyarrow.fs and Ray Tune understand, and the one atomic writer.

A sweep keeps its files as

    <storage>/<sweep name>/
        trials/<key>.parquet   one finished trial (written last: its presence means "done")
        tune/<run>/            Ray Tune's experiments, with the trials' checkpoints
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "lustre", "gpfs", "ceph", "glusterfs", "beegfs",
                       "fuse.sshfs", "fuse.gcsfuse", "fuse.s3fs", "fuse.juicefs", "9p", "virtiofs"}


def is_uri(storage: str) -> bool:
    return "://" in storage and not storage.startswith("file://")


def normalise(storage: str) -> str:
    """An absolute local path, or the URI unchanged."""
    if storage.startswith("file://"):
        storage = storage[len("file://"):]
    return storage if is_uri(storage) else str(Path(storage).expanduser().resolve())


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


def write_bytes(uri_or_path: str | Path, data: bytes) -> None:
    """Atomic where the filesystem allows it: written under a dot-name in the same folder (which
    every reader of this package, pyarrow and Tune skip), then moved into place."""
    fs, path = filesystem(str(uri_or_path))
    folder, name = path.rsplit("/", 1)
    fs.create_dir(folder, recursive=True)
    tmp = f"{folder}/.{name}.{os.getpid()}.{time.time_ns()}.tmp"
    try:
        with fs.open_output_stream(tmp) as stream:
            stream.write(data)
        fs.move(tmp, path)
    except BaseException:
        try:
            fs.delete_file(tmp)
        except OSError:
            pass
        raise


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
