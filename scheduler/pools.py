"""Worker pools for the in-process scheduler: daemon threads that a stuck job cannot pin.

``concurrent.futures`` joins its worker threads at interpreter exit, so one collector blocked in a
read would keep a stopped service alive forever. These pools run jobs on daemon threads instead,
and ``join`` waits for the jobs in flight only until a deadline: what is still stuck then is
abandoned. Abandoning is safe because a source run commits once, at its end: a run cut off leaves
its cursor where it was and is fetched again next time.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from apscheduler.executors.pool import BasePoolExecutor

log = logging.getLogger(__name__)


class DaemonPool:
    """A fixed set of daemon threads taking jobs from a queue, with ``concurrent.futures``' submit."""

    def __init__(self, name: str, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"pool {name} needs at least one worker")
        self.name = name
        self._tasks: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._busy = 0
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, name=f"earshot-{name}-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def busy(self) -> int:
        """How many jobs are running right now."""
        with self._lock:
            return self._busy

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Queue ``fn(*args, **kwargs)``; the future completes when a worker has run it."""
        future: Future[Any] = Future()

        def task() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to APScheduler's callback, which logs it
                future.set_exception(exc)

        self._tasks.put(task)
        return future

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            with self._lock:
                self._busy += 1
            try:
                task()
            finally:
                with self._lock:
                    self._busy -= 1

    def shutdown(self, wait: bool = True) -> None:
        """Drop jobs not yet started and let each worker exit after its current one."""
        while True:
            try:
                self._tasks.get_nowait()
            except queue.Empty:
                break
        for _ in self._threads:
            self._tasks.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def join(self, deadline: float) -> int:
        """Wait for the workers until ``deadline`` (time.monotonic); how many are still busy."""
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(thread.is_alive() for thread in self._threads)


class DaemonPoolExecutor(BasePoolExecutor):  # type: ignore[misc]  # APScheduler 3 ships no types
    """An APScheduler executor over a ``DaemonPool``."""

    def __init__(self, pool: DaemonPool) -> None:
        super().__init__(pool)
        self.pool = pool
