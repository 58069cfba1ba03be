"""What the production tests run against: gunicorn in a subprocess, and cuttable TCP proxies.

Both listen on loopback only, on free ports. ``Gunicorn`` starts the real
``gunicorn.conf.py`` with ``IDP_ENV=production``; ``CuttableProxy`` stands
between it and PostgreSQL or Redis so that a test can make the dependency
unreachable and bring it back without touching the machine's shared services.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
# A deadline, not a wait: four workers may take long to start on a busy machine.
START_TIMEOUT = 120


class Gunicorn:
    """``gunicorn -c gunicorn.conf.py wsgi:app`` with the given IDP_* environment."""

    def __init__(self, environ: dict, tmp_path: Path, workers: int = 4):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_path = tmp_path / f"gunicorn-{self.port}.log"
        metrics_dir = tmp_path / f"prometheus-{self.port}"
        metrics_dir.mkdir()
        inherited = {k: v for k, v in os.environ.items()
                     if not k.startswith(("IDP_", "PROMETHEUS_", "GUNICORN_", "WEB_CONCURRENCY"))}
        self.environ = {
            **inherited, "IDP_ISSUER": self.url, **environ,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(GUNICORN), "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"],
                cwd=ROOT, env=self.environ, stdout=log, stderr=subprocess.STDOUT,
            )
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Until every worker is forked and one of them answers /healthz."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_tail()}")
            if len(self.worker_pids()) == self.workers and self._answers():
                return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn not ready in {START_TIMEOUT} s:\n{self.log_tail()}")

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except requests.RequestException:  # refused, or too slow yet: asked again
            return False

    def worker_pids(self) -> list[int]:
        """The master's children, from /proc (Linux)."""
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        return [int(child) for child in children]

    def kill_workers(self) -> list[int]:
        pids = self.worker_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def kill_worker(self) -> int | None:
        """SIGKILL one worker (the others go on serving); its pid, None if none runs."""
        for pid in self.worker_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                return pid
        return None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


class CuttableProxy:
    """A TCP relay on loopback; ``cut()`` drops every connection and refuses new ones."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        # Python 3.11's start_server keeps no reference to the task of a connection:
        # unreferenced while it waits, a relay could be collected with its sockets open.
        self._relays: set[asyncio.Task] = set()
        self._stopping = False
        self._thawed = asyncio.Event()  # cleared: nothing is relayed, nothing is reset
        self._thawed.set()

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def start(self) -> CuttableProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._relay, "127.0.0.1", self.port, reuse_address=True)

    async def _relay(self, reader, writer) -> None:
        server = self._server
        task = asyncio.current_task()
        self._relays.add(task)
        self._writers.add(writer)  # a cut or a stop aborts it even before it is piped
        upstream_writer = None
        try:
            if self._stopping or server is None or not server.is_serving():
                return  # accepted as the listening socket closed
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
            except OSError:
                return
            if server is not self._server or not server.is_serving():
                return  # accepted just before a cut: it must not outlive it
            self._writers.add(upstream_writer)
            await asyncio.gather(self._pipe(reader, upstream_writer, self.to_target),
                                 self._pipe(upstream_reader, writer, self.from_target))
        finally:
            # Whatever ends the relay (a reset, a cut, a cancelled task at stop),
            # both sockets are closed by the loop, never left to the garbage collector.
            for end in (writer, upstream_writer):
                if end is not None:
                    end.transport.abort()
                    self._writers.discard(end)
            self._relays.discard(task)

    def to_target(self, data: bytes) -> None:
        """Called with each chunk sent to the target, before it is relayed."""

    def from_target(self, data: bytes) -> None:
        """Called with each chunk the target answered, before it is relayed."""

    async def _pipe(self, reader, writer, watch) -> None:
        try:
            while data := await reader.read(65536):
                await self._thawed.wait()
                watch(data)  # a freeze it decides holds the next chunks, not this one
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()
            self._writers.discard(writer)

    async def _cut(self) -> None:
        self._thawed.set()  # held relays go on, onto the reset sockets
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def cut(self) -> None:
        """Like a dependency that went away: open connections reset, new ones refused."""
        self._call(self._cut())

    def restore(self) -> None:
        self._call(self._listen())

    def freeze(self) -> None:
        """Like a dependency that stops answering without refusing: connections stay
        open, nothing goes through until ``thaw()``."""
        self._loop.call_soon_threadsafe(self._thawed.clear)

    def thaw(self) -> None:
        self._loop.call_soon_threadsafe(self._thawed.set)

    async def _shutdown(self) -> None:
        self._stopping = True
        await self._cut()
        # Connections the kernel accepted just before the close still start relays,
        # which end at once: wait until none is left, so that the loop closes every
        # socket itself (an unclosed one is a ResourceWarning in the test that stops).
        for _ in range(50):
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if not tasks:
                break
            _done, pending = await asyncio.wait(tasks, timeout=5)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)  # their ``finally`` clauses run
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()
            await asyncio.sleep(0)
        # An aborted transport closes its socket in a callback of the next iteration.
        for _ in range(3):
            await asyncio.sleep(0)

    def stop(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


class CommitWatcher(CuttableProxy):
    """A relay to PostgreSQL that acts when the next ``COMMIT`` goes by.

    psycopg sends ``COMMIT`` as a simple query, and the server's answer is tagged
    ``COMMIT``. ``arm(action)`` runs ``action`` once, before that query reaches the
    server: what the action breaks is broken from the commit to the answer.
    ``freeze_after_commit()`` stops relaying once the server's answer has gone
    back: the commit is done, and PostgreSQL stops answering right after it.
    """

    COMMIT = b"COMMIT\x00"

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        super().__init__(target_port, target_host)
        self._action = None
        self._freeze_after = False
        self.fired = threading.Event()

    def arm(self, action) -> None:
        self.fired.clear()
        self._action = action

    def freeze_after_commit(self) -> None:
        self.fired.clear()
        self._freeze_after = True

    def to_target(self, data: bytes) -> None:
        if self._action is not None and self.COMMIT in data:
            action, self._action = self._action, None
            action()
            self.fired.set()

    def from_target(self, data: bytes) -> None:
        if self._freeze_after and self.COMMIT in data:
            self._freeze_after = False
            self._thawed.clear()  # in the relay's own loop: this answer goes, nothing after
            self.fired.set()
