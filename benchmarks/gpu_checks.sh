#!/usr/bin/env bash
# Every check that needs a GPU, in one run, for a session lent one (device time is short: the cheapest
# first, each bounded).  Run from the repository root with the machine's Python (torch with CUDA):
#
#     bash benchmarks/gpu_checks.sh            # writes each step's output to $OUT (default /tmp/gpu-checks)
#
# 1. the CUDA tests: no host sync in the optimizers and the trial loop; captured trials and packs equal
#    uncaptured ones (tests/test_graphs.py);
# 2. the optimizer step against its floor, as it is and replayed from a CUDA graph (target ≤ 1.2×);
# 3. captured against uncaptured steps per second (teacher_mlp and the VAE, trial and pack);
# 4. the paper's VAE protocol, every family × 3 seeds, 200 epochs, captured (target ≤ 10 minutes).
set -uo pipefail
out=${OUT:-/tmp/gpu-checks}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/device.txt"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/device.txt"
timeout 240 python -m pytest -n 0 -q -o addopts="-ra" tests/test_no_host_sync.py tests/test_graphs.py \
    2>&1 | tee "$out/tests.txt"
for graph in "" "--cuda-graph"; do
  timeout 120 python benchmarks/optimizer_step.py --device cuda --rounds 40 $graph 2>&1 | tee -a "$out/optimizer_step.txt"
done
timeout 240 python benchmarks/captured_step.py --device cuda --rounds 3 2>&1 | tee "$out/captured_step.txt"
timeout 900 python benchmarks/vae_protocol.py --device cuda --cuda-graph 2>&1 | tee "$out/vae_protocol.txt"
