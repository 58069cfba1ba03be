"""A closed-loop HTTP load driver on loopback, with the server's CPU time sampled.

Each of ``concurrency`` threads owns one keep-alive connection (``Http``, on
``http.client``: no redirects followed, a small cookie jar) and runs a scenario's
``unit`` (one request, or one whole flow of several) again and again until the
deadline; a unit starts only when the previous one ended (closed loop). Before and
after the timed window the driver reads ``utime + stime`` of the server processes
from ``/proc/<pid>/stat`` (the gunicorn master and its workers, or the node
process), so that results are reported per wall second *and* per server
CPU-second: the driver shares the machine's cores with the server, and the
per-CPU figure is the one that does not depend on how much the driver took.

    from bench.driver import Http, run
    result = run("discovery", lambda http, n: http.get("/.well-known/..."),
                 "127.0.0.1", 8000, pids=server_pids, concurrency=8, seconds=5)
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from urllib.parse import urlencode
from urllib.parse import urlsplit

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A response the scenario did not expect (counted as an error, the unit is dropped)."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Http:
    """One keep-alive connection and a cookie jar: a browser's worth of state, no more."""

    def __init__(self, host: str, port: int, timeout: float = 30):
        self.host, self.port, self.timeout = host, port, timeout
        self.cookies: dict[str, str] = {}
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:
        sent = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout)
            try:
                self._conn.request(method, path, body=body, headers=sent)
                raw = self._conn.getresponse()
                payload = raw.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.close()
                if attempt == 2:
                    raise
        response = Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, payload)
        for header in raw.headers.get_all("Set-Cookie") or ():
            self._store_cookie(header)
        if raw.will_close:
            self.close()
        return response

    def _store_cookie(self, header: str) -> None:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.strip().partition("=")
        lowered = attributes.lower()
        if "max-age=0" in lowered or "expires=thu, 01 jan 1970" in lowered or value == "":
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, form: dict[str, str],
             headers: dict[str, str] | None = None) -> Response:
        body = urlencode(form).encode()
        sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", path, body=body, headers=sent)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def local_path(location: str) -> str:
    """The path and query of a redirect target (absolute or relative)."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def expect(response: Response, *statuses: int) -> Response:
    if response.status not in statuses:
        raise BenchError(f"HTTP {response.status}, expected {statuses}: {response.text[:200]}")
    return response


# --- server CPU time -----------------------------------------------------------------

def process_tree(pid: int) -> list[int]:
    """``pid`` and its children (the gunicorn master and its workers), from /proc."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(int(child) for child in children)]


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            # The command name may contain spaces: fields count from its closing ")".
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLOCK_TICKS


# --- the closed loop -----------------------------------------------------------------

@dataclass
class Result:
    name: str
    units: int
    errors: int
    wall: float
    cpu: float  # server CPU seconds over the window
    latencies: list[float] = field(repr=False)  # seconds, one per successful unit
    first_error: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def per_wall(self) -> float:
        return self.units / self.wall if self.wall else 0.0

    @property
    def per_cpu(self) -> float:
        return self.units / self.cpu if self.cpu else 0.0

    @property
    def cpu_per_unit(self) -> float:
        """Server CPU seconds per unit."""
        return self.cpu / self.units if self.units else 0.0

    def percentile(self, pct: float) -> float:
        """Latency percentile in milliseconds (nearest rank)."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))] * 1000


# unit(http, thread_index) -> None; raise BenchError (or anything) for a failed unit.
Unit = Callable[[Http, int], None]


def run(name: str, unit: Unit, host: str, port: int, *, pids: Callable[[], list[int]],
        concurrency: int = 8, seconds: float = 5.0, warmup: float = 1.0,
        setup: Callable[[Http, int], None] | None = None,
        max_units: int | None = None) -> Result:
    """Run ``unit`` in ``concurrency`` closed loops for ``seconds``; time the window only.

    ``setup(http, index)`` prepares each thread's connection (a login, say) before
    the clock starts; ``warmup`` seconds of load are run and discarded first.
    ``max_units`` stops early (a scenario consuming a pool of pre-made codes).
    """
    https = [Http(host, port) for _ in range(concurrency)]
    if setup is not None:
        for index, session in enumerate(https):
            setup(session, index)
    state = {"phase": "warmup", "taken": 0}
    lock = threading.Lock()
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[list[str]] = [[] for _ in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1)

    def loop(index: int) -> None:
        session, mine, failed = https[index], latencies[index], errors[index]
        barrier.wait()
        while state["phase"] != "done":
            measuring = state["phase"] == "measure"
            if measuring and max_units is not None:
                with lock:
                    if state["taken"] >= max_units:
                        break
                    state["taken"] += 1
            started = time.perf_counter()
            try:
                unit(session, index)
            except Exception as exc:  # noqa: BLE001 (every failure is counted, then reported)
                if state["phase"] == "measure":
                    failed.append(f"{type(exc).__name__}: {exc}"[:300])
                session.close()
                continue
            # Units ending inside the window count, those in flight at its end do not:
            # on average as much work as the window's CPU time covers.
            if state["phase"] == "measure":
                mine.append(time.perf_counter() - started)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    if warmup > 0:
        barrier.wait()
        time.sleep(warmup)
    server = pids()
    cpu_before, started = cpu_seconds(server), time.perf_counter()
    state["phase"] = "measure"
    if warmup <= 0:
        # No warm-up: every unit is measured (a pool of pre-made codes is used up
        # exactly by the window, none taken before the clock starts).
        barrier.wait()
    deadline = started + seconds
    while time.perf_counter() < deadline and any(t.is_alive() for t in threads):
        time.sleep(0.05)
    state["phase"] = "done"
    wall = time.perf_counter() - started
    cpu_after = cpu_seconds(server)
    for thread in threads:
        thread.join(timeout=60)
    for session in https:
        session.close()
    merged = [value for values in latencies for value in values]
    failures = [message for messages in errors for message in messages]
    return Result(name, len(merged), len(failures), wall, cpu_after - cpu_before, merged,
                  failures[0] if failures else "")
