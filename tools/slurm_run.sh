#!/usr/bin/env bash
# srun GPUS tasks of tools/SCRIPT: bash tools/slurm_run.sh PARTITION JOB_NAME SCRIPT [args]
# (used by slurm_train.sh and slurm_test.sh; GPUS, GPUS_PER_NODE,
# TASKS_PER_NODE, CPUS_PER_TASK and SRUN_ARGS as in mmdet's scripts).
# CPU nodes: GPUS_PER_NODE=0 (no --gres), TASKS_PER_NODE=processes per node,
# a config with runner_type = 'DeviceAgnosticRunner'; GPUS = processes in all.
# PYTHON: the interpreter; default the project's .venv where it exists.
set -x
TOOLS="$(cd "$(dirname "$0")" && pwd)"
PARTITION=$1
JOB_NAME=$2
SCRIPT=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
TASKS_PER_NODE=${TASKS_PER_NODE:-${GPUS_PER_NODE}}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
GRES=""
if [ "$GPUS_PER_NODE" -gt 0 ]; then GRES="--gres=gpu:${GPUS_PER_NODE}"; fi
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python
  [ -x "$TOOLS/../.venv/bin/python" ] && PYTHON="$TOOLS/../.venv/bin/python"
fi

PYTHONPATH="$TOOLS/..":$PYTHONPATH \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    ${GRES} \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${TASKS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$TOOLS/$SCRIPT" "${@:4}" --launcher="slurm"
