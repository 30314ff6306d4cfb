#!/usr/bin/env bash
# Every check that needs a GPU, in one run that fits one `run` call (device time is short: the cheapest
# first, each bounded by what is left of BUDGET seconds).  Prepare here with `bash benchmarks/gpu_wheels.sh`,
# then, from the repository root on the device (the image's python3 holds torch with CUDA):
#
#     run(command="bash benchmarks/gpu_checks.sh", carry=[".whl"], timeout_s=600)
#
# Each step's output goes to $OUT (default /tmp/gpu-checks), which `run` brings back:
# 1. the CUDA tests: no host sync in the optimizers and the trial loop; captured trials and packs equal
#    uncaptured ones (tests/test_no_host_sync.py, tests/test_graphs.py);
# 2. the optimizer step against its floor, as it is and replayed from a CUDA graph (target ≤ 1.2×);
# 3. captured against uncaptured steps per second (teacher_mlp and the VAE, trial and pack);
# 4. the paper's VAE protocol, every family × 3 seeds, captured, for VAE_EPOCHS epochs (default 10),
#    projected to the paper's 200 (target ≤ 10 minutes on one H200).
# Where Fashion-MNIST is not on disk (a device machine: no network, and the files do not fit in what travels)
# the VAE runs on random images of its size: the timings hold, the losses do not.
set -uo pipefail
budget=${BUDGET:-540}
out=${OUT:-/tmp/gpu-checks}
py=${PYTHON:-python3}
device=${DEVICE:-cuda}   # DEVICE=cpu: a smoke run of the script itself on a machine without a GPU
export PYTHONUNBUFFERED=1
mkdir -p "$out"
if ! $py -c "import pydantic" 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "pydantic is missing: run benchmarks/gpu_wheels.sh here and carry .whl"; exit 2; }
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
$py -c "import regclip_bench.trial, regclip_bench.packed" || exit 1
synthetic=()
if ! compgen -G "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte*" >/dev/null \
   && ! compgen -G "$HOME/.cache/regclip-bench/data/train-images-idx3-ubyte*" >/dev/null; then
  synthetic=(--synthetic-data /tmp/fashion-synthetic)
fi
left() { local s=$(( budget - SECONDS - 5 )); (( s > $1 )) && s=$1; (( s < 1 )) && s=1; echo $s; }
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  $py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; git log -1 --format='code: %h %s' 2>/dev/null
} | tee "$out/device.txt"
timeout "$(left 150)" $py -m pytest -n 0 -q -o addopts="-ra" -p no:cacheprovider tests/test_no_host_sync.py tests/test_graphs.py \
    2>&1 | tee "$out/tests.txt"
for graph in "" "--cuda-graph"; do
  timeout "$(left 60)" $py benchmarks/optimizer_step.py --device "$device" --rounds 40 $graph 2>&1 | tee -a "$out/optimizer_step.txt"
done
timeout "$(left 120)" $py benchmarks/captured_step.py --device "$device" --rounds 3 "${synthetic[@]}" 2>&1 | tee "$out/captured_step.txt"
timeout "$(left 600)" $py benchmarks/vae_protocol.py --device "$device" --cuda-graph --epochs "${VAE_EPOCHS:-10}" "${synthetic[@]}" \
    2>&1 | tee "$out/vae_protocol.txt"
echo "gpu checks: ${SECONDS} s in all (budget ${budget} s)" | tee -a "$out/device.txt"
