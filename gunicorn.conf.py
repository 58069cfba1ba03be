"""gunicorn configuration of the IdP: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every value can be changed from the environment without editing this file
(see docs/deployment.md). gunicorn reads this file once, in the master, before
it loads the application.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# --- sockets -------------------------------------------------------------------------
# Behind the reverse proxy: listen on loopback or on the private network only.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Addresses whose X-Forwarded-Proto gunicorn believes. The client address itself is
# taken by the app from IDP_PROXY_HOPS (Werkzeug ProxyFix), not by gunicorn.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# gunicorn's control socket (gunicornc) defaults to one path per user
# ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl), shared by every
# instance that user runs: each would take it over from the other. Off unless the
# operator names this instance's own path (docs/deployment.md, « gunicorn »).
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket
control_socket_mode = 0o600

# --- workers -------------------------------------------------------------------------
# Password checks are argon2 (about 18 ms of CPU each, memory-hard): one process per
# core keeps them in parallel. Threads cover the waits on PostgreSQL, Redis and SMTP
# (argon2-cffi releases the GIL while hashing). WEB_CONCURRENCY is gunicorn's own name.
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, os.cpu_count() or 1)))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# Load the app once in the master and fork: workers start fast and share memory.
# Safe because idp.database disposes inherited connection pools in each child and
# redis-py opens new connections after a fork.
preload_app = True

# --- timeouts ------------------------------------------------------------------------
# A request should never take more than a few seconds (the database and Redis
# timeouts are shorter): a worker silent for this long is killed and replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM, requests in flight may finish (rolling restarts lose no login).
graceful_timeout = 30
# Keep-alive with the reverse proxy; the proxy's own upstream idle timeout must be
# shorter, or it may reuse a connection gunicorn is closing.
keepalive = 5

# --- limits and banner ---------------------------------------------------------------
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# gunicorn answers "Server: gunicorn" without its version; nothing to hide
# beyond that, and the proxy may strip the header altogether.

# --- logs ----------------------------------------------------------------------------
# The app writes one JSON access line per request (idp.logs) without query strings;
# gunicorn's access log would write them, so it stays off.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "idp.logs.JsonFormatter"}},
    "handlers": {"error": {"class": "logging.StreamHandler", "formatter": "json",
                           "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["error"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["error"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}

# --- Prometheus multi-process mode ---------------------------------------------------
# Each worker writes its metrics to files in this directory and /metrics adds them up.
# It must be set before prometheus_client is imported, that is before the app loads
# (preload_app: before on_starting too). A directory given by the operator is made if
# missing and emptied here: a previous run's files would add up, and nothing else
# writes there (the ``idp`` commands ignore the variable). Without one, a directory
# named after this master's pid is made for this run and removed when the master
# exits, a start that fails included; one left by a master that died without exiting
# (SIGKILL, power loss) is removed at the next start (docs/deployment.md, « gunicorn »).
_PREFIX = "idp-prometheus-"
_MADE_FOR_THIS_RUN = None
_MASTER_PID = os.getpid()


def _own_dead_leftovers(folder: str) -> list[str]:
    """This user's directories of masters that are no longer running."""
    leftovers = []
    for name in os.listdir(folder):
        pid = name.removeprefix(_PREFIX).split("-", 1)[0]
        path = os.path.join(folder, name)
        if not (name.startswith(_PREFIX) and pid.isdigit()) or int(pid) == os.getpid():
            continue
        try:
            if os.stat(path).st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            leftovers.append(path)
        except OSError:  # gone meanwhile, or a live process of another user
            continue
    return leftovers


def _empty(path: str) -> None:
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        target = os.path.join(path, name)
        if os.path.isdir(target):
            shutil.rmtree(target)
        else:
            os.remove(target)


def _inherited_from_previous_master(path: str) -> bool:
    """A directory made by another master of ours (a USR2 upgrade re-executes gunicorn
    with the old master's environment): this one makes its own, the old one removes
    its own at exit."""
    path = os.path.normpath(path)
    return (os.path.dirname(path) == tempfile.gettempdir()
            and os.path.basename(path).startswith(_PREFIX))


_given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _given and os.path.basename(os.path.normpath(_given)).startswith(f"{_PREFIX}{os.getpid()}-"):
    _MADE_FOR_THIS_RUN = _given  # this file read again by the same master (SIGHUP): kept
elif _given and not _inherited_from_previous_master(_given):
    _empty(_given)
else:
    for _leftover in _own_dead_leftovers(tempfile.gettempdir()):
        shutil.rmtree(_leftover, ignore_errors=True)
    _MADE_FOR_THIS_RUN = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _MADE_FOR_THIS_RUN


@atexit.register
def _remove_made_for_this_run() -> None:
    """In the master only (a worker leaving must not take it from the others)."""
    if _MADE_FOR_THIS_RUN and os.getpid() == _MASTER_PID:
        shutil.rmtree(_MADE_FOR_THIS_RUN, ignore_errors=True)


def child_exit(server, worker):
    """A dead worker's live gauges are dropped; its counters keep counting in the sum."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

