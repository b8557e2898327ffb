"""Hostile --executor ray options (issue #21): a bad address, a run no node can hold, a port that is not Ray, a
GPU share finer than Ray's 0.0001 — each is one line and exit 2, within a bounded time, before anything is written.

The parsing tests import no Ray and start none; the tests that start a local Ray are marked slow.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from genlab.cli import main
from genlab.core.errors import GenlabError
from genlab.study import executor_ray

BOUND_S = 120  # no test waits longer than this for main() to return (a regression would otherwise hang)


def one_line_error(capsys, argv: list[str]) -> str:
    """main(argv) in a thread bounded by BOUND_S; asserts exit 2 and exactly one 'genlab: error:' line."""
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(main(argv)), daemon=True)
    worker.start()
    worker.join(BOUND_S)
    assert not worker.is_alive(), f"{argv} still running after {BOUND_S}s"
    err = capsys.readouterr().err
    assert result == [2] and err.startswith("genlab: error:") and err.count("\n") == 1 and err.endswith("\n"), err
    return err


def study_argv(runs: Path, *extra: str, data: Path | None = None) -> list[str]:
    data_args = ["--data-dir", str(data)] if data else []
    return ["study", "smoke", "--runs-dir", str(runs), "--no-eval", *data_args, "--executor", "ray", *extra]


BAD_ADDRESSES = [
    "a..b:80",
    "x" * 64 + ".example.org:6379",
    "a." * 127 + "ab:1",
    "-head:6379",
    "head-:6379",
    "he_ad:6379",
    "héad:6379",
    "head :6379",
    "head\n:6379",
    "head:0",
    "head:65536",
    "head:",
    "head:+1",
    "head:1\u0661",
    "head",
    ":6379",
    "",
    "::1:6379",
    "[::g]:6379",
    "[::1]",
    "[::1]x:6379",
    "1.2.3.999:6379",
    "01.2.3.4:6379",
    "ray://head:10001",
    "http://head:6379",
    "auto ",
]


@pytest.mark.parametrize("address", BAD_ADDRESSES, ids=range(len(BAD_ADDRESSES)))
def test_a_malformed_address_is_one_line_before_anything(capsys, tmp_path, address):
    err = one_line_error(capsys, study_argv(tmp_path, f"--address={address}"))  # = : "-head" is no option
    assert "--address" in err and "HOST:PORT" in err, err
    assert not any(tmp_path.iterdir()), "something was written"


def test_well_formed_addresses_parse():
    assert executor_ray.parse_address("auto") is None
    for address, expected in [
        ("head:6379", ("head", 6379)),
        ("10.0.0.1:1", ("10.0.0.1", 1)),
        ("[::1]:65535", ("::1", 65535)),
        ("a-b.example.org:6379", ("a-b.example.org", 6379)),
        ("x" * 63 + ".c:6379", ("x" * 63 + ".c", 6379)),
        ("a." * 125 + "abc:6379", ("a." * 125 + "abc", 6379)),
    ]:  # 253 characters
        assert executor_ray.parse_address(address) == expected, address


BAD_GPUS = ["0.00001", "0.00015", "1e-9", "1.5", "2.0001", "nan", "inf", "-1", "65"]


@pytest.mark.parametrize("gpus", BAD_GPUS)
def test_a_gpu_share_ray_cannot_schedule_is_one_line(capsys, tmp_path, gpus):
    err = one_line_error(capsys, study_argv(tmp_path, "--gpus-per-run", gpus))
    assert f"--gpus-per-run {float(gpus)}" in err, err
    if gpus in ("0.00001", "0.00015", "1e-9"):
        assert "0.0001" in err, err  # names the smallest step
    assert not any(tmp_path.iterdir())


def test_gpu_shares_ray_can_schedule_pass():
    for g in (0.0, 0.0001, 0.0003, 0.25, 1 / 4, 0.3333, 0.5, 1.0, 2.0, 64.0):
        executor_ray.check_gpus(g)
    with pytest.raises(GenlabError, match="0.0001"):
        executor_ray.check_gpus(1 / 3)  # 0.33333...: not a multiple of the step


def test_fractional_cpus_stay_refused(capsys, tmp_path):
    err = one_line_error(capsys, study_argv(tmp_path, "--cpus-per-run", "0.5"))
    assert "--cpus-per-run" in err, err


def serve(reply: str) -> tuple[int, threading.Event]:
    """A plain TCP server on 127.0.0.1 that accepts and then says nothing, sends junk or hangs up; not Ray."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(BOUND_S)
    stop = threading.Event()

    def loop():
        with server:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                if reply == "close":
                    conn.close()
                    continue
                if reply == "junk":
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                elif reply == "echo":
                    conn.sendall(conn.recv(64))
                stop.wait(BOUND_S)  # say nothing more, keep the connection open
                conn.close()

    threading.Thread(target=loop, daemon=True).start()
    return server.getsockname()[1], stop


@pytest.mark.parametrize("reply", ["silent", "junk", "echo", "close"])
def test_a_port_that_is_not_ray_is_one_line_within_a_bounded_time(capsys, real_data, tmp_path, monkeypatch, reply):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray is already running in this process")
    monkeypatch.setattr(executor_ray, "PROBE_TIMEOUT_S", 1.0)
    port, stop = serve(reply)
    try:
        err = one_line_error(capsys, study_argv(tmp_path, "--address", f"127.0.0.1:{port}", data=real_data))
    finally:
        stop.set()
    assert f"127.0.0.1:{port} is not a Ray cluster" in err, err
    assert not ray.is_initialized() and not any(tmp_path.iterdir())


# --- tests that start a local Ray -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_local_ray_too_small_for_one_run_is_refused_and_stopped(capsys, real_data, tmp_path):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray is already running in this process")
    err = one_line_error(capsys, study_argv(tmp_path, "--cpus-per-run", "1024", data=real_data))
    assert "--cpus-per-run 1024 is more than any node of the local Ray" in err, err
    assert not ray.is_initialized(), "the local Ray genlab started for the check is still running"
    assert not any(tmp_path.iterdir()), "the study folder was written (tasks may have been submitted)"


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR", configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_a_real_ray_head_passes_the_probe(local_ray):
    address = local_ray.get_runtime_context().gcs_address
    executor_ray.probe(*executor_ray.parse_address(address), address)  # no GenlabError


@pytest.mark.slow
def test_runs_no_node_can_hold_are_refused_before_any_task(local_ray, capsys, real_data, tmp_path):
    gpus = max(n["Resources"].get("GPU", 0) for n in local_ray.nodes() if n["Alive"]) + 1  # 1 without a GPU
    for flag, value, capacity in (("--cpus-per-run", "3", "2 CPUs"), ("--gpus-per-run", f"{gpus:g}", "GPUs")):
        err = one_line_error(capsys, study_argv(tmp_path, flag, value, data=real_data))
        assert f"{flag} {value} is more than any node" in err and capacity in err, err
        assert not any(tmp_path.iterdir()), "the study folder was written (tasks may have been submitted)"
    assert local_ray.is_initialized(), "a Ray genlab did not start was stopped"
