"""Where runs execute: a local process pool (the default) or a Dask distributed cluster.

Both executors offer the same calls, used by :mod:`sgdnoise.sweeps.runner`:

* ``capacity``: how many runs execute at once (the runner keeps about twice that many in
  flight, so a killed coordinator loses only those);
* ``submit(ref, key, config) -> future`` running :func:`sgdnoise.sweeps.worker.execute`;
* ``submit_batch(ref, keys, configs) -> future`` running
  :func:`sgdnoise.sweeps.worker.execute_batch` (several points as one task, see
  :mod:`sgdnoise.sweeps.batching`), and ``outcomes(future, keys) -> list[dict]``;
* ``wait(futures, timeout) -> (done, not_done)``, returning when at least one is done;
* ``outcome(future, key) -> dict``: the worker's outcome, or a ``failed`` outcome when the
  worker itself was lost (a crashed process, a killed Dask worker).

The local pool uses the ``spawn`` start method (no fork of a coordinator that holds a
SQLite connection and threads) and its workers die with the coordinator: on Linux through
``PR_SET_PDEATHSIG``, elsewhere through a watchdog thread polling the parent's pid.

Dask: either a ``LocalCluster`` we start (``workers`` processes with one thread each, on
127.0.0.1), or an existing scheduler's address (``tcp://host:port``).  An address where
nothing answers is a :class:`ParameterError` within ``connect_timeout`` seconds; a refused
connection is reported at once.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import math
import multiprocessing
import os
import socket
import sys
import threading
import time
import uuid

from ..errors import ParameterError
from ..validation import integer, positive
from .worker import execute, execute_batch, failed_outcome

EXECUTORS = ("local", "dask")


def default_workers() -> int:
    """Cores this process may use (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------- main guard


GUARD_HELP = (
    'put the code that starts the sweep under `if __name__ == "__main__":` — worker '
    "processes are started with 'spawn' and re-run the script's top level"
)


def _guarded_lines(source: str) -> list[tuple[int, int]]:
    """Line ranges of the bodies of ``if __name__ == "__main__":`` blocks in ``source``."""
    import ast

    out = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.If):
            continue
        t = node.test
        if (
            isinstance(t, ast.Compare)
            and len(t.ops) == 1
            and isinstance(t.ops[0], ast.Eq)
            and {type(t.left), type(t.comparators[0])} == {ast.Name, ast.Constant}
        ):
            names = {getattr(t.left, "id", None), getattr(t.comparators[0], "id", None)}
            values = {getattr(t.left, "value", None), getattr(t.comparators[0], "value", None)}
            if "__name__" in names and "__main__" in values:
                out.append((node.body[0].lineno, node.body[-1].end_lineno or node.lineno))
    return out


def check_main_guard(parameter: str = "executor", value: str = "local") -> None:
    """Refuse to start worker processes from the top level of a script that has no
    ``if __name__ == "__main__":`` guard around that code.

    With the ``spawn`` start method every worker re-imports the main script; without the
    guard each worker would start the sweep again (before issue 16 every run was then
    recorded failed, "is being written by another sweep").  Scripts run as ``python -m
    pkg`` (a package's ``__main__``), interactive sessions and notebooks are not affected.
    Inside a worker that is re-running such a script, this raises at once too."""
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise ParameterError(parameter, value, "started again inside a worker: " + GUARD_HELP)
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    if not path or (spec is not None and spec.name.endswith("__main__")):
        return
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals is vars(main) and frame.f_code.co_name == "<module>":
            break
        frame = frame.f_back
    if frame is None:
        return  # not called while the main script's top level runs
    try:
        with open(path, encoding="utf-8") as fh:
            ranges = _guarded_lines(fh.read())
    except (OSError, SyntaxError, ValueError):
        return
    line = frame.f_lineno
    if not any(a <= line <= b for a, b in ranges):
        raise ParameterError(
            parameter,
            value,
            f"started from {path} line {line}, outside a main guard: " + GUARD_HELP,
        )


# --------------------------------------------------------------------------- local pool


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(1.0)


def _init_worker(parent: int) -> None:
    """Make a pool worker die with the coordinator (a kill -9 must not leave orphans)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass
    if os.getppid() != parent:  # the coordinator died before we got here
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


class LocalExecutor:
    """A pool of ``workers`` processes on this machine."""

    kind = "local"

    def __init__(self, workers: int | None = None):
        self.workers = default_workers() if workers is None else integer("workers", workers, 1)
        check_main_guard("executor", "local")
        self._pool: cf.ProcessPoolExecutor | None = None
        self._start()

    def _start(self) -> None:
        self._pool = cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )
        self._broken = False

    @property
    def capacity(self) -> int:
        return self.workers

    def warm(self) -> None:
        """Start the worker processes now (the pool otherwise spawns them on first use)."""
        list(self._pool.map(abs, range(4 * self.workers)))

    def describe(self) -> str:
        return f"local process pool, {self.workers} workers"

    def _ready(self) -> None:
        if self._broken:  # a worker died: the old pool refuses work, start a new one
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._start()

    def submit(self, ref: str, key: str, config: dict):
        self._ready()
        return self._pool.submit(execute, ref, key, config)

    def submit_batch(self, ref: str, keys: list[str], configs: list[dict]):
        self._ready()
        return self._pool.submit(execute_batch, ref, list(keys), list(configs))

    def wait(self, futures, timeout: float | None):
        done, not_done = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done, not_done

    def outcome(self, future, key: str) -> dict:
        try:
            return future.result()
        except cf.process.BrokenProcessPool as e:
            self._broken = True
            return failed_outcome(key, f"a worker process died while this run was in flight: {e}")
        except cf.CancelledError:
            return failed_outcome(key, "cancelled")

    def outcomes(self, future, keys: list[str]) -> list[dict]:
        try:
            return future.result()
        except cf.process.BrokenProcessPool as e:
            self._broken = True
            why = f"a worker process died while this task was in flight: {e}"
        except cf.CancelledError:
            why = "cancelled"
        except Exception as e:  # noqa: BLE001 - e.g. a result that does not unpickle
            why = f"task failed: {type(e).__name__}: {e}"
        return [failed_outcome(k, why) for k in keys]

    def close(self, wait: bool = True) -> None:
        """Shut the pool down; ``wait=False`` (after Ctrl-C) returns without waiting for the
        runs in flight, whose workers then exit when done or with this process."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None


# --------------------------------------------------------------------------- dask


def _probe(address: str, timeout: float) -> None:
    """Fail fast when nothing listens at a tcp/tls scheduler address."""
    scheme, sep, loc = address.rpartition("://")
    if not sep:
        scheme, loc = "tcp", address
    if scheme not in ("tcp", "tls"):
        return  # other transports (ucx, inproc, ws) are left to Client to judge
    host, colon, port = loc.rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit():
        raise ParameterError("scheduler", address, "must look like tcp://HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        reason = e.strerror or f"no answer within {timeout:g} s"
        raise ParameterError(
            "scheduler", address, f"no Dask scheduler answers there ({reason})"
        ) from None


def _ask_identity(address: str, timeout: float) -> dict:
    """The scheduler's identity, asked over Dask's protocol with a hard deadline.

    ``Client(address, timeout=...)`` can wait forever on a peer that accepts the TCP
    connection but never speaks (observed with distributed 2026.8), so the first exchange
    is done here under :func:`asyncio.wait_for`, in a thread of its own so that it also
    works where an event loop is already running (Jupyter).
    """
    import asyncio

    from distributed.core import rpc

    async def ask():
        async with rpc(address, timeout=timeout) as r:
            return await r.identity()

    box: dict = {}

    def target():
        try:
            box["id"] = asyncio.run(asyncio.wait_for(ask(), timeout))
        except BaseException as e:  # noqa: BLE001 - reported below as a bad address
            box["err"] = e

    th = threading.Thread(target=target, name="sgdnoise-scheduler-probe", daemon=True)
    th.start()
    th.join(timeout + 5.0)
    if th.is_alive() or "err" in box:
        why = type(box["err"]).__name__ if "err" in box else "no answer"
        raise ParameterError(
            "scheduler",
            address,
            f"no Dask scheduler answered within {timeout:g} s ({why})",
        )
    ident = box["id"]
    if not isinstance(ident, dict) or ident.get("type") != "Scheduler":
        raise ParameterError("scheduler", address, "answers, but is not a Dask scheduler")
    return ident


class DaskExecutor:
    """Dask distributed: a LocalCluster we start, or an existing scheduler (``scheduler``)."""

    kind = "dask"

    def __init__(
        self,
        workers: int | None = None,
        scheduler: str | None = None,
        *,
        connect_timeout: float = 10.0,
    ):
        connect_timeout = positive("connect_timeout", connect_timeout)
        if workers is not None:
            workers = integer("workers", workers, 1)
        if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
            raise ParameterError("scheduler", scheduler, "must be an address like tcp://HOST:PORT")
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler is not None:
            _probe(scheduler, connect_timeout)
            _ask_identity(scheduler, connect_timeout)
            try:
                self.client = Client(scheduler, timeout=connect_timeout, set_as_default=False)
            except (OSError, TimeoutError) as e:
                raise ParameterError(
                    "scheduler",
                    scheduler,
                    f"no Dask scheduler answered within {connect_timeout:g} s ({e})",
                ) from None
        else:
            check_main_guard("executor", "dask")
            self.cluster = LocalCluster(
                n_workers=workers or default_workers(),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self.client = Client(self.cluster, set_as_default=False)
        self.address = self.client.scheduler.address
        self._capacity, self._capacity_at = 1, -math.inf

    @property
    def capacity(self) -> int:
        # Workers may join or leave an external cluster; asking the scheduler costs a round
        # trip, so the answer is reused for a few seconds.
        now = time.monotonic()
        if now - self._capacity_at > 5.0:
            self._capacity = max(1, sum(self.client.nthreads().values()))
            self._capacity_at = now
        return self._capacity

    def describe(self) -> str:
        where = "LocalCluster" if self.cluster is not None else "scheduler"
        return f"dask {where} at {self.address}, {self.capacity} worker threads"

    def submit(self, ref: str, key: str, config: dict):
        # pure=False and a unique task key: a re-run of a failed config is a new task.
        return self.client.submit(
            execute, ref, key, config, key=f"sgdnoise-{key[:16]}-{uuid.uuid4().hex[:8]}", pure=False
        )

    def submit_batch(self, ref: str, keys: list[str], configs: list[dict]):
        return self.client.submit(
            execute_batch,
            ref,
            list(keys),
            list(configs),
            key=f"sgdnoise-batch-{keys[0][:16]}-{uuid.uuid4().hex[:8]}",
            pure=False,
        )

    def wait(self, futures, timeout: float | None):
        from distributed import wait

        try:
            with self.client.as_current():  # wait() otherwise looks for a default client
                res = wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return set(), set(futures)
        return set(res.done), set(res.not_done)

    def outcome(self, future, key: str) -> dict:
        try:
            return future.result()
        except Exception as e:  # noqa: BLE001 - a lost worker is a failed run, not a crash
            return failed_outcome(key, f"dask: {type(e).__name__}: {e}")

    def outcomes(self, future, keys: list[str]) -> list[dict]:
        try:
            return future.result()
        except Exception as e:  # noqa: BLE001 - a lost worker fails each point of the task
            return [failed_outcome(k, f"dask: {type(e).__name__}: {e}") for k in keys]

    def close(self, wait: bool = True) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(
    executor: str = "local",
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    connect_timeout: float = 10.0,
):
    """Validate the executor arguments and start the executor."""
    if executor not in EXECUTORS:
        raise ParameterError("executor", executor, f"must be one of {', '.join(EXECUTORS)}")
    if workers is not None:
        workers = integer("workers", workers, 1)
    if executor == "dask" and scheduler is not None and workers is not None:
        raise ParameterError(
            "workers",
            workers,
            "sizes the LocalCluster we start; a scheduler brings its own workers",
        )
    if executor == "local":
        if scheduler is not None:
            raise ParameterError("scheduler", scheduler, "is only used with executor 'dask'")
        return LocalExecutor(workers)
    return DaskExecutor(workers, scheduler, connect_timeout=connect_timeout)
