#!/usr/bin/env bash
# The GPU verification (docs/scale-out.md): run on a machine with a CUDA GPU and a CUDA build of torch, from the
# repo root, with the data in $GENLAB_DATA. Prints the GPU-marked tests, a throughput table on the GPU, and the
# wall time of the full 18-run lab study (1 seed) with --device cuda, then the same study as Ray tasks with four runs
# per GPU. The judges ship with genlab, so no judge is trained first. Paste the output into docs/results.md.
#   GENLAB_DATA=/path/to/data bash bench/gpu_check.sh [PYTHON]
set -euo pipefail
py="${1:-python}"
export GENLAB_QUIET=1
"$py" -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print(torch.__version__, torch.cuda.get_device_name(0))"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
echo "## GPU tests"
"$py" -m pytest -q -m "gpu" -p no:cacheprovider tests/ || true
echo "## throughput on cuda (median of 5 x 40 steps)"
"$py" bench/gpu_throughput.py --device cuda --repeats 5 --steps 40 --amp
echo "## full lab study, 18 runs, 1 seed, --device cuda"
out="$(mktemp -d)"
start=$(date +%s)
"$py" -m genlab study lab --profile full --device cuda --workers 1 --runs-dir "$out" > "$out/log.txt" 2>&1
echo "full study wall time: $(( $(date +%s) - start )) s (runs in $out)"
"$py" -m genlab runs "$out/lab-full"
echo "## the same study as Ray tasks, four runs sharing the GPU (--gpus-per-run 0.25; needs genlab[ray])"
if "$py" -c "import ray" 2>/dev/null; then
  out2="$(mktemp -d)"
  start=$(date +%s)
  "$py" -m genlab study lab --profile full --device cuda --executor ray --gpus-per-run 0.25 --cpus-per-run 1 \
    --runs-dir "$out2" > "$out2/log.txt" 2>&1 || tail -5 "$out2/log.txt"
  echo "full study on Ray, 0.25 GPU per run: $(( $(date +%s) - start )) s (runs in $out2)"
  "$py" -m genlab runs "$out2/lab-full" || true
else
  echo "ray is not installed: pip install -e '.[ray]' to time this step"
fi
echo "## pixel-space flow matching at its full budget on cuda: the CPU default (MLP) and a U-Net (the GPU's choice)"
out3="$(mktemp -d)"
for arch in "" "--flow.arch=unet --flow.width=64"; do
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$py" -m genlab study families --profile full --models flow --device cuda --workers 1 --runs-dir "$out3/${arch:+unet}mlp" $arch \
    > "$out3/log.txt" 2>&1 || tail -5 "$out3/log.txt"
  echo "flow ${arch:-mlp}: $(( $(date +%s) - start )) s"
  "$py" -m genlab runs "$out3/${arch:+unet}mlp/families-full" || true
done
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader || true
