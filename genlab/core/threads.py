"""A map over batches whose result does not depend on the thread count.

torch splits one operation's work across its intra-op threads, and how it splits changes the rounding: the same
judge on the same images gave features 4e-6 apart with 1 and with 2 threads (docs/results.md). A measurement must
not move with the machine's core count, so each batch runs on one torch thread and the parallelism comes from
running batches side by side instead: the same bits on 1, 2 or 16 cores, at about the speed of 2 intra-op threads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


def thread_invariant_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """[fn(item) for item in items], each on a single torch thread, spread over as many Python threads as torch
    had intra-op threads (torch releases the GIL inside its kernels). fn must not depend on the order it runs in."""
    threads = torch.get_num_threads()
    if threads == 1:
        return [fn(item) for item in items]
    torch.set_num_threads(1)  # a single item too: on 2 threads it would round as 2 threads do (CI's Ray failure)
    try:
        if len(items) < 2:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(min(threads, len(items))) as pool:
            return list(pool.map(fn, items))
    finally:
        torch.set_num_threads(threads)


def cached_per_thread_count(maxsize: int) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """functools.lru_cache with torch's current thread count as part of the key. For a per-process cache of
    results whose rounding depends on that count (k-NN radii, KID's kernels, the real-vs-real floor): a value
    computed while the process ran 2 threads is never handed to a caller running 1, so a result depends on the
    thread count it is computed at, never on what the process computed before (CI's Ray-vs-local comparison)."""

    def wrap(fn: Callable[..., R]) -> Callable[..., R]:
        cached = functools.lru_cache(maxsize=maxsize)(lambda threads, *args: fn(*args))

        @functools.wraps(fn)
        def call(*args):
            return cached(torch.get_num_threads(), *args)

        call.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        call.keyed_by_thread_count = True  # type: ignore[attr-defined]
        return call

    return wrap


BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def worker_thread_env(threads: int, environ: Mapping[str, str]) -> dict[str, str]:
    """The thread variables a worker process of `threads` torch threads starts with, so numpy's OpenBLAS (the
    FID's matrix square roots, the bootstrap's eigenvalues) stays within the worker's share of the cores too:
    left at its default it starts one thread per core in every worker, and two workers' BLAS threads then fight
    over two cores (the evaluation 17.1 s instead of 14.7 s, docs/results.md 2026-12-03). OpenBLAS gives the same
    bits on any thread count here (measured), so this changes only the speed. A variable the user set is kept."""
    return {name: str(threads) for name in BLAS_THREAD_VARIABLES if name not in environ}
