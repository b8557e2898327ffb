#!/usr/bin/env bash
# Two evaluations side by side (both cores busy, as in a 2-worker study), numpy's OpenBLAS at its default (one
# thread per core in each process) against one thread each, alternated; prints seconds and whether eval.json is
# byte-identical. The runs must be trained (e.g. `genlab study lab --profile quick --models vae --no-eval`).
#   bench/eval_blas_threads.sh RUN_DIR_A RUN_DIR_B [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2 repeats=${3:-2} out=$(mktemp -d)
export GENLAB_QUIET=1
grep -o -w "avx2\|avx512f\|amx_tile" /proc/cpuinfo | sort -u | tr '\n' ' '; nproc
one() { # $1 label, then env assignments
  label=$1; shift
  for run in "$a" "$b"; do
    (env "$@" .venv/bin/python -c "
import time, torch
from pathlib import Path
torch.set_num_threads(1)
from genlab.eval.evaluate import evaluate_run
t = time.perf_counter(); evaluate_run(Path('$run'), None)
print('$label', Path('$run').name, round(time.perf_counter() - t, 2))
" && cp "$run/eval.json" "$out/$label-$(basename "$run").json") &
  done
  wait
}
for _ in $(seq "$repeats"); do
  one default GENLAB_UNUSED=1
  one blas1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
done
for run in "$a" "$b"; do
  n=$(basename "$run")
  cmp -s "$out/default-$n.json" "$out/blas1-$n.json" && echo "$n: eval.json identical" || echo "$n: eval.json DIFFERS"
done
