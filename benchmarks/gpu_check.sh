#!/usr/bin/env bash
# The CUDA checks in one run, for a GPU lent for a few minutes:
#   1. the activation benchmark, channels first (with torch.compile of the
#      official form) and tokens (channels last): errors against the float64
#      formula, time against nn.SiLU, bandwidth against a device copy;
#   2. the tests that run only where CUDA exists (Triton kernels on the GPU,
#      Inductor around them, 16-bit autocast through the APA SE-ResNet);
#   3. the backbone benchmark: SE-R50-APA against R50 and SE-R50 (ReLU),
#      float32 and bf16 autocast, time and peak memory;
#   4. the host time per AGLU call against SiLU's (Python calls counted);
#   5. export on the GPU: torch.export steps the Triton kernels aside and its
#      program equals eager (layers and the APA SE-ResNet).
# Step 1 needs torch and Triton only; steps 2-3 also mmdet (of mmcv's compiled
# ops only the CARAFE comparison uses its CUDA kernel). Each step has its own time limit and log, so a slow or
# failing step leaves the others' results.
#
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR]   (default work_dirs/gpu_check)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-work_dirs/gpu_check}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1

step() {
  # step NAME SECONDS COMMAND...: run COMMAND with a time limit, log to NAME.log
  local name="$1" limit="$2" start=$SECONDS
  shift 2
  printf '\n== %s: %s\n' "$name" "$*"
  timeout "$limit" "$@" 2>&1 | tee "$out/$name.log"
  printf '== %s: exit %s after %s s\n' "$name" "${PIPESTATUS[0]}" \
    "$((SECONDS - start))" | tee -a "$out/$name.log"
}

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm \
    --format=csv
  python - <<'EOF'
import torch, triton
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton',
      triton.__version__, torch.cuda.get_device_name(),
      torch.cuda.get_device_capability())
EOF
} 2>&1 | tee "$out/machine.log"

step activation 170 python -m benchmarks.activation --device cuda --compile \
  --reps 10
step tokens 80 python -m benchmarks.activation --device cuda --tokens \
  --reps 10
step tests 110 python -m pytest -q -rA -p no:cacheprovider \
  tests/test_ops/test_triton_kernel.py \
  tests/test_models/test_backbones/test_apa_se_resnet.py \
  tests/test_models/test_layers/test_any_device_carafe.py \
  -k 'not compile_for_ampere_and_hopper and (triton_kernel or autocast or cuda)'
step backbone 80 python -m benchmarks.backbone --device cuda --reps 5
step host_overhead 60 python -m benchmarks.host_overhead --device cuda --rounds 2
step export 120 python -m pytest -q -rA -p no:cacheprovider \
  tests/test_ops/test_export.py -k cuda
