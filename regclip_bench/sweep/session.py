"""The Ray session a sweep runs in: a cluster joined at an address, or a local Ray started for it.

A local Ray is quiet (no dashboard, no usage stats), token-authenticated (a fresh random token
per session: Ray's servers listen on every interface and Ray does not let them bind to loopback
only; see docs/security.md), and recorded under the user's cache folder so that, if the driver is
killed, the next start of the same sweep stops the processes that session left behind — only
those: each is found by the files it holds open in that session's own folder (its logs).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError
from ..identity import digest

CONNECT_TIMEOUT_S = 10.0
QUIET = {"RAY_AIR_NEW_OUTPUT": "0", "RAY_USAGE_STATS_ENABLED": "0",
         "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
         "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}
log = logging.getLogger(__name__)


@contextmanager
def ray_session(address: str | None, sweep_dir: str) -> Iterator[None]:
    """Ray, initialised for the duration of the block (left alone if it already is)."""
    for key, value in QUIET.items():
        os.environ.setdefault(key, value)
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        yield
        return
    if address:
        check_reachable(address)
        import ray
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        except Exception as exc:  # Ray raises ConnectionError, ValueError, RuntimeError, …
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"--address {address}: cannot join a Ray cluster there ({first})") from None
        try:
            yield
        finally:
            ray.shutdown()
        return
    record = _record_path(sweep_dir)
    stopped = stop_orphans(record)
    if stopped:
        log.warning("stopped %d Ray processes left by this sweep's killed run", stopped)
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    if not use_token():
        log.info("Ray was imported before the sweep started: its local cluster runs without a token")
    import ray
    try:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                 num_cpus=os.cpu_count())
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"session_dir": ray._private.worker._global_node.get_session_dir_path(),
                                      "driver_pid": os.getpid(), "driver_start": _start_time(os.getpid()),
                                      "sweep_dir": sweep_dir}))
        yield
    finally:
        ray.shutdown()
        record.unlink(missing_ok=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def use_token() -> bool:
    """Give a local cluster started from this process a fresh random token; False if it is too
    late: Ray reads its authentication mode once, when it is first imported (the CLI calls this
    before it imports Ray)."""
    if os.environ.get("RAY_AUTH_MODE") == "token" and os.environ.get("RAY_AUTH_TOKEN"):
        return True
    if "ray._raylet" in sys.modules:
        return False
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    return True


def check_reachable(address: str) -> None:
    """HOST:PORT must accept a TCP connection within a few seconds ('auto' is Ray's to find)."""
    if address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--address {address!r}: expected auto or HOST:PORT with a port in 1-65535")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except socket.gaierror:
        raise ConfigError(f"--address {address}: unknown host {host!r}") from None
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__).lower()
        raise ConfigError(f"--address {address}: no Ray cluster answers there ({reason})") from None


def _record_path(sweep_dir: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "regclip-bench" / "ray-sessions" / f"{digest(sweep_dir)}.json"


def _stat(pid: int, field: int) -> str | None:
    """A field of /proc/<pid>/stat after the command name (0: state; 19: start time since boot)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[field]
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str | None:   # tells a reused pid from the original
    return _stat(pid, 19)


def stop_orphans(record: Path) -> int:
    """Stop the processes of the Ray session in `record` if its driver is gone; return how many."""
    try:
        session = json.loads(record.read_text())
    except (OSError, ValueError):
        return 0
    started = session.get("driver_start")
    if started is not None and _start_time(session.get("driver_pid", -1)) == started:
        raise ConfigError(f"sweep {session.get('sweep_dir')} is already running (driver pid "
                          f"{session['driver_pid']}); stop it first")
    left = session_processes(session.get("session_dir"))
    for sig in (signal.SIGTERM, signal.SIGKILL):   # Ray's agents ignore SIGTERM
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_running(pid) for pid in left):
            time.sleep(0.1)
    record.unlink(missing_ok=True)
    return len(left)


def session_processes(session_dir: str | None) -> list[int]:
    """The live processes that hold a file open in a Ray session's folder (every Ray process
    of a session logs there; no other session's does)."""
    if not session_dir or not os.path.isdir("/proc"):
        return []
    prefix = session_dir.rstrip("/") + "/"
    return [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) != os.getpid()
            and any(link.startswith(prefix) for link in _open_files(name)) and _running(int(name))]


def _open_files(pid: str) -> list[str]:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    links = []
    for fd in fds:
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return links


def _running(pid: int) -> bool:
    return _stat(pid, 0) not in (None, "Z", "X")
