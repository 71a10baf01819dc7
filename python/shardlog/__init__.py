"""shardlog: a local Kinesis endpoint (`shardlog serve`) for tests and development.

The wheel installs the `shardlog` command into the environment's scripts directory.
:class:`ShardlogServer` starts it on a free port with a data directory and stops it; the
pytest plugin (:mod:`shardlog.pytest_plugin`) wraps it in fixtures.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import urllib.request
from pathlib import Path
from typing import IO, Iterable, Optional

__all__ = ["ShardlogServer", "binary", "ShardlogError"]

_EXE = "shardlog.exe" if sys.platform == "win32" else "shardlog"


class ShardlogError(RuntimeError):
    """The server could not be started or did not stop cleanly."""


def binary() -> Path:
    """The `shardlog` executable: `$SHARDLOG_BIN`, else the one this package installed into
    the environment's scripts directory, else the first on `PATH`."""
    override = os.environ.get("SHARDLOG_BIN")
    if override:
        return Path(override)
    candidates = [Path(sysconfig.get_path("scripts")) / _EXE, Path(sys.prefix) / "bin" / _EXE]
    for c in candidates:
        if c.is_file():
            return c
    found = shutil.which("shardlog")
    if found:
        return Path(found)
    raise ShardlogError("the shardlog executable was not found; is the shardlog wheel installed?")


class ShardlogServer:
    """`shardlog serve` on a free loopback port.

    ``data_dir`` keeps the data (a temporary directory, removed on stop, by default);
    ``create_streams`` are `NAME`, `NAME:SHARDS` or `NAME:on-demand` specs created before the
    port accepts; ``args`` are further `serve` flags. Use it as a context manager, or call
    :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        data_dir: Optional[os.PathLike] = None,
        create_streams: Iterable[str] = (),
        args: Iterable[str] = (),
        log_level: str = "warn",
        startup_timeout: float = 60.0,
    ) -> None:
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._create_streams = list(create_streams)
        self._args = list(args)
        self._log_level = log_level
        self._startup_timeout = startup_timeout
        self._temp: Optional[tempfile.TemporaryDirectory] = None
        self._process: Optional[subprocess.Popen] = None
        self._log: Optional[IO[bytes]] = None
        self.url: Optional[str] = None

    @property
    def data_dir(self) -> Path:
        """Where the data lives."""
        if self._data_dir is None:
            raise ShardlogError("not started")
        return self._data_dir

    def start(self) -> "ShardlogServer":
        """Start the server; returns once its port accepts connections and it is healthy."""
        if self._data_dir is None:
            self._temp = tempfile.TemporaryDirectory(prefix="shardlog-pytest-")
            self._data_dir = Path(self._temp.name) / "data"
        log_path = self._data_dir.parent / (self._data_dir.name + ".log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "wb")
        cmd = [
            str(binary()),
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--dir",
            str(self._data_dir),
            "--log-level",
            self._log_level,
        ]
        for spec in self._create_streams:
            cmd += ["--create-stream", spec]
        cmd += self._args
        # The server's own SHARDLOG_* settings come from this call only.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHARDLOG_")}
        self._process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL, env=env
        )
        assert self._process.stdout is not None
        # The first stdout line names the bound address; start-up streams exist by then.
        line = self._process.stdout.readline().decode("utf-8", "replace").strip()
        if "://" not in line:
            self._process.wait(timeout=self._startup_timeout)
            raise ShardlogError(f"shardlog serve did not start: {line!r}\n{self._read_log(log_path)}")
        self.url = "http" + line.split("http", 1)[1]
        status, body = self._health()
        if status != 200:
            self.stop()
            raise ShardlogError(f"shardlog serve is not healthy: {status} {body}")
        return self

    def _health(self):
        req = urllib.request.Request(self.url + "/healthcheck")
        with urllib.request.urlopen(req, timeout=self._startup_timeout) as resp:  # noqa: S310 (loopback)
            return resp.status, json.loads(resp.read())

    @staticmethod
    def _read_log(path: Path) -> str:
        try:
            return path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server (SIGTERM, a clean shutdown), then remove a temporary data directory."""
        p, self._process = self._process, None
        if p is not None:
            if p.poll() is None:
                if sys.platform == "win32":
                    p.terminate()
                else:
                    p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    raise ShardlogError(f"shardlog serve did not stop within {timeout} s")
            if p.stdout is not None:
                p.stdout.close()
            code = p.returncode
            if code not in (0, None):
                raise ShardlogError(f"shardlog serve exited with {code}")
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._temp is not None:
            self._temp.cleanup()
            self._temp = None

    def __enter__(self) -> "ShardlogServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
