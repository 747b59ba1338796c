"""The executor's side of the moveit_py worker process: start it, send requests, match the replies.

One JSON object per line each way (see :mod:`vla_r1_ros.ros.moveit_py_worker`); replies are matched
to requests by ``id`` on a reader thread, so a ``stop`` can be sent while an ``execute`` waits.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO, Any

__all__ = ["WorkerClient", "WorkerError"]


class WorkerError(RuntimeError):
    """The worker answered with an error, did not answer in time, or is gone."""


class WorkerClient:
    """The worker process and its reply stream: requests by id, replies matched on a reader thread."""

    def __init__(self, python: str, env: dict[str, str] | None) -> None:
        self.process = subprocess.Popen(
            [python, "-m", "vla_r1_ros.ros.moveit_py_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env,
        )  # fmt: skip
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[threading.Event, list[dict[str, Any]]]] = {}
        assert self.process.stdout is not None and self.process.stdin is not None
        self._stdin: IO[str] = self.process.stdin
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                reply = json.loads(line)
            except json.JSONDecodeError:
                continue
            entry = self._waiting.pop(reply.get("id"), None)
            if entry is not None:
                entry[1].append(reply)
                entry[0].set()
        for event, _ in list(self._waiting.values()):  # it exited: nobody will answer
            event.set()

    def gone(self) -> str:
        """Why the worker cannot answer ('' while it runs)."""
        code = self.process.poll()
        return "" if code is None else f"the moveit_py worker (pid {self.process.pid}) exited with code {code}"

    def send(self, op: str, **fields: Any) -> tuple[threading.Event, list[dict[str, Any]]]:
        request_id = next(self._ids)
        entry: tuple[threading.Event, list[dict[str, Any]]] = (threading.Event(), [])
        self._waiting[request_id] = entry
        try:
            with self._lock:
                self._stdin.write(json.dumps({"id": request_id, "op": op, **fields}) + "\n")
                self._stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as err:
            self._waiting.pop(request_id, None)
            raise WorkerError(self.gone() or f"the moveit_py worker cannot be reached ({err})") from err
        return entry

    def call(self, op: str, timeout: float, should_stop: Callable[[], bool] | None = None, **fields: Any) -> Any:
        event, reply = self.send(op, **fields)
        deadline = time.monotonic() + timeout
        while not event.wait(0.01):
            if time.monotonic() > deadline:
                raise WorkerError(f"the moveit_py worker gave no answer to {op} within {timeout:g} s")
            if should_stop is not None and should_stop():
                return None
            if self.gone() and not event.is_set():
                time.sleep(0.05)  # a reply written just before it exited is still being read
                if not event.is_set():
                    raise WorkerError(self.gone())
        if not reply:  # its output ended: it exited (or is exiting)
            try:
                self.process.wait(1.0)
            except subprocess.TimeoutExpired:
                pass
            raise WorkerError(self.gone() or f"the moveit_py worker closed its output without answering {op}")
        if "error" in reply[0]:
            raise WorkerError(str(reply[0]["error"]))
        return reply[0]

    def close(self, timeout: float = 5.0) -> None:
        try:
            self.send("shutdown")
            self._stdin.close()
        except (WorkerError, OSError, ValueError):
            pass
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
