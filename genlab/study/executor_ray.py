"""The Ray executor: one Ray Core task per pending run, on a local Ray or an existing cluster.

    genlab study lab --executor ray                      # starts a local Ray with this machine's cores
    genlab study lab --executor ray --address HOST:PORT  # joins a running cluster (`ray start --head` there)

Ray (>= 2.50, `pip install 'genlab[ray]'`) is imported only here. Each task trains, draws and evaluates one
run with genlab's own loop in the study folder, which must be on storage every node sees (Ray moves no
files; a task that cannot see the folder fails with one line naming the node). A worker or node that dies is
retried by Ray (`max_retries`), and the retried task resumes the run from its last checkpoint — genlab's
resume, not Ray Train's. Each task sets its torch thread count itself: Ray reuses worker processes and only
sets OMP_NUM_THREADS. The driver alone writes the study's pages. docs/scale-out.md: starting a cluster.

Before anything is written, the options are checked (`parse_address`, `check_gpus`: pure, no Ray), the head is
probed (`probe`: one bounded HTTP/2 exchange, since ray.init retries a wrong port for minutes) and the cluster's
nodes are compared with one run's CPUs and GPUs (`check_capacity`: Ray leaves a task no node can hold pending
forever, silently).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
import socket
import time
import traceback
from pathlib import Path
from typing import Any

from genlab.core.errors import GenlabError, shown
from genlab.core.progress import bar

FORWARDED_PREFIX = "GENLAB_"  # the driver's GENLAB_* settings (cache, data, quiet, ...) reach every task


def run_task(
    cfg_dict: dict[str, Any],
    run_dir: str,
    data_dir: str | None,
    evaluate_runs: bool,
    threads: int,
    device: str,
    tensorboard: bool = False,
) -> dict[str, Any]:
    """The body of one Ray task: (status, message) of training + figures + evaluation of one run."""
    import torch

    from genlab.store.runs import update_meta
    from genlab.study.one_run import run_one
    from genlab.train.config import from_dict

    host = socket.gethostname()
    folder = Path(run_dir).parent
    if not (folder / "study.json").is_file():
        return {
            "status": "unreachable",
            "message": f"node {host} cannot see the study folder {folder}; put it on "
            "storage every node mounts at the same path (docs/scale-out.md)",
        }
    torch.set_num_threads(threads)
    cfg = from_dict(cfg_dict)
    try:
        meta = run_one(cfg, Path(run_dir), data_dir, evaluate_runs, device=device, tensorboard=tensorboard)
    except GenlabError as e:
        return {"status": "error", "message": str(e)}
    except Exception as e:  # a bug in one run must not lose the others; recorded in its meta.json, not hidden
        update_meta(Path(run_dir), status="failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        return {"status": "failed", "message": f"{type(e).__name__}: {e}"}
    return {"status": meta.get("status", "?"), "message": "", "host": host}


ADDRESS_FORM = (
    "HOST:PORT (HOST a host name, an IPv4 address or [IPv6]; PORT the head's GCS port, 1-65535, 6379 "
    "by default) or auto"
)
HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")  # RFC 1123: 1-63 chars, no '-' at an end
RESOURCE_STEP = 0.0001  # Ray keeps resource quantities in fixed point, steps of 1/10,000 (RESOURCE_UNIT_SCALING)
PROBE_TIMEOUT_S = 5.0  # seconds for the TCP connection to the head, and again for its first HTTP/2 frame
# RFC 9113 3.4: the client connection preface, then an empty SETTINGS frame (length 0, type 4, flags 0, stream 0)
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(3) + b"\x04" + bytes(5)


def _host_problem(host: str) -> str | None:
    """Why `host` is not a host name, an IPv4 address or an IPv6 address in brackets; None when it is one."""
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"{shown(host)} is not an IPv6 address"
        return None
    if ":" in host or "[" in host or "]" in host:
        return f"host {shown(host)} is not a host name; an IPv6 address goes in brackets, e.g. [::1]:6379"
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"host {shown(host)} is not an IPv4 address (four numbers 0-255, no leading zeros)"
        return None
    if not host:
        return "the host is empty"
    if len(host) > 253:
        return f"host {shown(host)} is longer than 253 characters"
    for label in host.split("."):
        if not label:
            return f"host {shown(host)} has an empty label (two dots in a row, or a dot at an end)"
        if len(label) > 63:
            return f"host {shown(host)} has a label longer than 63 characters"
        if not HOST_LABEL.fullmatch(label):
            return (
                f"host {shown(host)} has a label {shown(label)} with a character other than A-Z, a-z, 0-9 and "
                "'-', or a '-' at an end"
            )
    return None


def parse_address(address: str) -> tuple[str, int] | None:
    """(host, port) of --address, None for auto; checked by hand, before Ray starts, because socket and idna raise
    UnicodeError tracebacks on names like 'a..b' and Ray retries a malformed address for minutes. Imports no Ray."""
    if address == "auto":
        return None
    if address.startswith("ray://"):
        raise GenlabError(
            f"--address {shown(address)}: Ray Client (ray://) is not supported, the study is driven "
            f"from this machine; expected {ADDRESS_FORM}"
        )
    host, sep, port = address.rpartition(":")
    if "://" in address:
        problem = "drop the scheme (the part up to '://')"
    elif not sep:
        problem = "there is no ':PORT'"
    elif not re.fullmatch(r"[0-9]{1,5}", port) or not 1 <= int(port) <= 65535:
        problem = f"port {shown(port)} is not a number from 1 to 65535"
    else:
        problem = _host_problem(host)
    if problem:
        raise GenlabError(f"--address {shown(address)}: {problem}; expected {ADDRESS_FORM}")
    return host.strip("[]"), int(port)


def check_gpus(gpus_per_run: float) -> None:
    """--gpus-per-run as Ray can schedule it: quantities are multiples of 0.0001 (Ray's own check of 0.00001 is a
    ValueError traceback) and a task gets whole GPUs above one (Ray leaves a 1.5-GPU task pending forever)."""
    g = gpus_per_run
    if not math.isfinite(g) or not 0 <= g <= 64:
        raise GenlabError(f"--gpus-per-run {g} must be from 0 to 64")
    steps = g / RESOURCE_STEP
    if g and (round(steps) < 1 or not math.isclose(steps, round(steps), rel_tol=1e-9, abs_tol=1e-6)):
        raise GenlabError(
            f"--gpus-per-run {g} is finer than Ray can schedule: a GPU share is a multiple of "
            f"{RESOURCE_STEP}, the smallest step; use e.g. 0.25, 0.5 or 1"
        )
    if g > 1 and not g.is_integer():
        raise GenlabError(
            f"--gpus-per-run {g}: above one GPU, Ray gives a task whole GPUs only; use 1, 2, ... or a "
            "share of one GPU such as 0.5"
        )


def probe(host: str, port: int, address: str, timeout: float | None = None) -> None:
    """The head's GCS is a gRPC (HTTP/2) server, which answers the HTTP/2 preface with a SETTINGS frame at once:
    a dead port, a silent server or another service is one line within 2 x `timeout` s, where ray.init would
    retry for minutes. With TLS between nodes (RAY_USE_TLS) only the TCP connection is checked."""
    timeout = PROBE_TIMEOUT_S if timeout is None else timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except (OSError, UnicodeError) as e:  # UnicodeError: idna refusing a name; parse_address lets none through
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        raise GenlabError(
            f"cannot reach the Ray cluster at {address}: {reason}; start it there with "
            "'ray start --head --port=PORT' (docs/scale-out.md) or check the address"
        ) from None
    with sock:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return
        head, deadline = b"", time.monotonic() + timeout
        try:
            sock.sendall(H2_PREFACE)
            while len(head) < 9:  # the first frame's header
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(9 - len(head))
                if not chunk:
                    why = "closed the connection"
                    break
                head += chunk
            else:
                why = "answered, but not as gRPC does"
        except TimeoutError:
            why = f"sent {'too little' if head else 'nothing'} within {timeout:g}s"
        except OSError as e:
            why = f"dropped the connection ({e.strerror or e})"
    if len(head) == 9 and head[3] == 0x04 and head[5:9] == bytes(4):  # a SETTINGS frame on stream 0
        return
    raise GenlabError(
        f"--address {address} is not a Ray cluster (it {why}); give the head's GCS port, the one "
        "'ray start --head --port=PORT' used (6379 by default; docs/scale-out.md)"
    )


def connect(address: str | None, cpus: int):
    """ray.init: a local Ray with `cpus` CPUs when no address is given, else join the cluster at `address`
    ('auto' = the one this machine belongs to). One line and exit 2 when Ray is missing or unreachable."""
    try:
        import ray
    except ImportError:
        raise GenlabError("--executor ray needs Ray: pip install 'genlab[ray]'") from None
    if ray.is_initialized():
        return ray
    if address:
        target = parse_address(address)
        shown_as = address
        if target is None:  # auto: the cluster Ray recorded on this machine (RAY_ADDRESS or its temp folder)
            try:
                from ray._private.services import canonicalize_bootstrap_address

                recorded = canonicalize_bootstrap_address("auto")
                target = parse_address(recorded) if recorded else None
                shown_as = f"auto ({recorded}, the cluster Ray recorded on this machine)"
            except Exception:  # an internal helper of Ray's; without it ray.init finds the cluster itself
                target = None
        if target is not None:
            probe(*target, shown_as)
    # configure_logging=False leaves Ray's loggers to Python's last-resort handler, which printed their warnings
    # (token authentication, SIGTERM handler) on stderr next to genlab's own lines
    logging.getLogger("ray").setLevel(logging.ERROR)
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": "ERROR",
        "configure_logging": False,
    }
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=cpus, **kwargs)
    except Exception as e:  # Ray raises ConnectionError, RuntimeError, ValueError... for a bad or dead address
        msg = " ".join(str(e).split())[:200]
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise GenlabError(
            f"cannot start or reach {where} ({type(e).__name__}: {msg}); check the address and that "
            "'ray start --head' runs there (docs/scale-out.md)"
        ) from None
    return ray


def check_capacity(ray, cpus_per_run: int, gpus_per_run: float, where: str) -> None:
    """Refuse runs no single node can hold, before any task is submitted: Ray keeps such a task pending forever
    without a word (a GPU asked of a CPU-only cluster, 4 CPUs of 2-core nodes)."""
    nodes = [n.get("Resources") or {} for n in ray.nodes() if n.get("Alive")]
    if any(r.get("CPU", 0) >= cpus_per_run and r.get("GPU", 0) >= gpus_per_run for r in nodes):
        return
    most_cpus = max((r.get("CPU", 0) for r in nodes), default=0)
    most_gpus = max((r.get("GPU", 0) for r in nodes), default=0)
    if most_cpus < cpus_per_run:
        asked = f"--cpus-per-run {cpus_per_run}"
    elif most_gpus < gpus_per_run:
        asked = f"--gpus-per-run {gpus_per_run:g}"
    else:
        asked = f"--cpus-per-run {cpus_per_run} with --gpus-per-run {gpus_per_run:g}"
    apart = "" if most_cpus < cpus_per_run or most_gpus < gpus_per_run else ", not on the same node"
    raise GenlabError(
        f"{asked} is more than any node of {where} has (the largest: {most_cpus:g} CPUs, "
        f"{most_gpus:g} GPUs{apart}); ask for less, or add a bigger node "
        "('ray start --num-cpus=N --num-gpus=N', docs/scale-out.md)"
    )


def start(address: str | None = None, cpus_per_run: int = 1, gpus_per_run: float = 0.0, local_cpus: int | None = None):
    """Ray, joined or started, whose nodes can hold one run; a local Ray this call started is stopped again when
    they cannot. Safe to call twice (the study checks before it writes anything, the executor again)."""
    from genlab.study.one_run import usable_cores

    check_gpus(gpus_per_run)
    if address:
        parse_address(address)
    try:
        import ray

        started = not ray.is_initialized()  # else a Ray someone else started: never stopped here
    except ImportError:
        started = False  # connect says how to install it
    ray = connect(address, local_cpus or usable_cores())
    where = (
        "the local Ray (this machine)"
        if not address
        else "the cluster this machine belongs to (auto)"
        if address == "auto"
        else f"the Ray cluster at {address}"
    )
    try:
        check_capacity(ray, cpus_per_run, gpus_per_run, where)
    except GenlabError:
        if started:
            ray.shutdown()
        raise
    return ray


def run_on_ray(
    pending: list,
    study_dir: Path,
    data_dir,
    evaluate_runs: bool,
    log,
    address: str | None = None,
    cpus_per_run: int = 1,
    gpus_per_run: float = 0.0,
    max_retries: int = 3,
    device: str = "cpu",
    local_cpus: int | None = None,
    tensorboard: bool = False,
) -> None:
    """Run every pending run (studies.PlannedRun) as a Ray task; the run folders end as with the local executor."""
    ray = start(address, cpus_per_run, gpus_per_run, local_cpus)  # before any task is submitted
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_PREFIX)}
    task = ray.remote(run_task).options(
        num_cpus=cpus_per_run,
        num_gpus=gpus_per_run,
        max_retries=max_retries,
        runtime_env={"env_vars": env} if env else None,
    )
    refs = {
        task.remote(
            p.cfg.to_dict(),
            str(Path(study_dir).resolve() / p.name),
            str(Path(data_dir).resolve()) if data_dir else None,
            evaluate_runs,
            max(1, cpus_per_run),
            device,
            tensorboard,
        ): p
        for p in pending
    }
    t0 = {ref: time.perf_counter() for ref in refs}
    problems = []
    try:
        with bar(total=len(refs), desc="runs (ray)", unit="run") as pb:
            waiting = list(refs)
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                ref = done[0]
                name = refs[ref].name
                try:
                    out = ray.get(ref)
                except Exception as e:  # the task died more often than max_retries allows
                    out = {"status": "lost", "message": f"{type(e).__name__}: {' '.join(str(e).split())[:160]}"}
                line = f"{name}: {out['status']} in {time.perf_counter() - t0[ref]:.1f}s"
                if out["status"] in ("unreachable", "error", "failed", "lost"):
                    problems.append((out["status"], f"{name}: {out['message']}"))
                    line = f"{name}: {out['status'].upper()} ({out['message']})"
                pb.write(line) if not pb.disable else log(line)
                pb.update(1)
    except KeyboardInterrupt:
        for ref in refs:
            ray.cancel(ref)
        raise
    user_errors = [msg for kind, msg in problems if kind in ("unreachable", "error")]
    if user_errors:  # a mistake to fix (an unreachable folder, missing data): one line, like the local executor
        raise GenlabError(
            user_errors[0].split(": ", 1)[1]
            + (f" (and {len(user_errors) - 1} more runs)" if len(user_errors) > 1 else "")
        )
    if problems:
        log(f"{len(problems)} of {len(refs)} runs did not finish on Ray (see above); the same command resumes them")
