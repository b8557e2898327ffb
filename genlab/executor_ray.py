"""The Ray executor: one Ray Core task per pending run, on a local Ray or an existing cluster.

    genlab study lab --executor ray                      # starts a local Ray with this machine's cores
    genlab study lab --executor ray --address HOST:PORT  # joins a running cluster (`ray start --head` there)

Ray (>= 2.50, `pip install 'genlab[ray]'`) is imported only here. Each task trains, draws and evaluates one
run with genlab's own loop in the study folder, which must be on storage every node sees (Ray moves no
files; a task that cannot see the folder fails with one line naming the node). A worker or node that dies is
retried by Ray (`max_retries`), and the retried task resumes the run from its last checkpoint — genlab's
resume, not Ray Train's. Each task sets its torch thread count itself: Ray reuses worker processes and only
sets OMP_NUM_THREADS. The driver alone writes the study's pages. docs/scale-out.md: starting a cluster.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError
from genlab.progress import bar

TEST_DIE_AT_STEP = "GENLAB_TEST_DIE_AT_STEP"  # tests: the first attempt of each task dies (os._exit) at this step


def _die_once_at(step: int, marker: Path) -> None:
    """Test hook: make the first attempt of this task's worker die mid-run, as a killed node would."""
    if marker.exists():
        return
    from genlab.models import MODELS

    for cls in MODELS.values():
        real = cls.train_step

        def dying(self, x, opt, _real=real, _n=[0]):
            _n[0] += 1
            if _n[0] == step:
                marker.write_text("died once\n")
                os._exit(1)
            return _real(self, x, opt)

        cls.train_step = dying


def run_task(cfg_dict: dict[str, Any], run_dir: str, data_dir: str | None, evaluate_runs: bool, threads: int,
             device: str, tensorboard: bool = False) -> dict[str, Any]:
    """The body of one Ray task: (status, message) of training + figures + evaluation of one run."""
    import socket

    import torch

    from genlab.config import from_dict
    from genlab.runs import update_meta
    from genlab.sweep import run_one

    host = socket.gethostname()
    folder = Path(run_dir).parent
    if not (folder / "study.json").is_file():
        return {"status": "unreachable", "message": f"node {host} cannot see the study folder {folder}; put it on "
                                                    "storage every node mounts at the same path (docs/scale-out.md)"}
    torch.set_num_threads(threads)
    die_at = int(os.environ.get(TEST_DIE_AT_STEP, "0") or 0)
    if die_at:
        _die_once_at(die_at, Path(run_dir).with_name(Path(run_dir).name + ".died-once"))
    cfg = from_dict(cfg_dict)
    try:
        meta = run_one(cfg, Path(run_dir), data_dir, evaluate_runs, device=device, tensorboard=tensorboard)
    except GenlabError as e:
        return {"status": "error", "message": str(e)}
    except Exception as e:  # a bug in one run must not lose the others; recorded in its meta.json, not hidden
        update_meta(Path(run_dir), status="failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        return {"status": "failed", "message": f"{type(e).__name__}: {e}"}
    return {"status": meta.get("status", "?"), "message": "", "host": host}


def reachable(address: str, timeout: float = 5.0) -> None:
    """A TCP connection to HOST:PORT within `timeout` seconds, or one line: ray.init would retry a dead address
    for minutes before it gave up."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise GenlabError(f"--address {address!r} must look like HOST:PORT (the head's GCS port, 6379 by default) "
                          "or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise GenlabError(f"cannot reach the Ray cluster at {address} ({e.strerror or e}); start it there with "
                          "'ray start --head --port=PORT' (docs/scale-out.md) or check the address") from None


def connect(address: str | None, cpus: int):
    """ray.init: a local Ray with `cpus` CPUs when no address is given, else join the cluster at `address`
    ('auto' = the one this machine belongs to). One line and exit 2 when Ray is missing or unreachable."""
    try:
        import ray
    except ImportError:
        raise GenlabError("--executor ray needs Ray: pip install 'genlab[ray]'") from None
    if ray.is_initialized():
        return ray
    if address and address != "auto":
        reachable(address)
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR",
                              "configure_logging": False}
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=cpus, **kwargs)
    except Exception as e:  # Ray raises ConnectionError, RuntimeError, ValueError... for a bad or dead address
        msg = " ".join(str(e).split())[:200]
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise GenlabError(f"cannot start or reach {where} ({type(e).__name__}: {msg}); check the address and that "
                          "'ray start --head' runs there (docs/scale-out.md)") from None
    return ray


def run_on_ray(pending: list, study_dir: Path, data_dir, evaluate_runs: bool, log, address: str | None = None,
               cpus_per_run: int = 1, gpus_per_run: float = 0.0, max_retries: int = 3, device: str = "cpu",
               local_cpus: int | None = None, tensorboard: bool = False) -> None:
    """Run every pending run (studies.PlannedRun) as a Ray task; the run folders end as with the local executor."""
    from genlab.sweep import usable_cores

    ray = connect(address, local_cpus or usable_cores())
    env = {k: os.environ[k] for k in (TEST_DIE_AT_STEP, "GENLAB_CACHE", "GENLAB_DATA", "GENLAB_QUIET")
           if k in os.environ}
    task = ray.remote(run_task).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=max_retries,
                                        runtime_env={"env_vars": env} if env else None)
    refs = {task.remote(p.cfg.to_dict(), str(Path(study_dir).resolve() / p.name),
                        str(Path(data_dir).resolve()) if data_dir else None, evaluate_runs, max(1, cpus_per_run),
                        device, tensorboard): p for p in pending}
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
        raise GenlabError(user_errors[0].split(": ", 1)[1] + (f" (and {len(user_errors) - 1} more runs)"
                                                              if len(user_errors) > 1 else ""))
    if problems:
        log(f"{len(problems)} of {len(refs)} runs did not finish on Ray (see above); the same command resumes them")
