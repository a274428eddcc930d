#!/usr/bin/env bash
# torchrun NPROC processes of tools/SCRIPT: bash tools/dist_run.sh NPROC SCRIPT [args]
# (used by dist_train.sh and dist_test.sh). NNODES, NODE_RANK, PORT and
# MASTER_ADDR as in mmdet's scripts (several nodes: the same command on each,
# with NODE_RANK=0..NNODES-1 and MASTER_ADDR the address of node 0).
# PYTHON: the interpreter; default the project's .venv where it exists.
TOOLS="$(cd "$(dirname "$0")" && pwd)"
NPROC=$1
SCRIPT=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python
  [ -x "$TOOLS/../.venv/bin/python" ] && PYTHON="$TOOLS/../.venv/bin/python"
fi

PYTHONPATH="$TOOLS/..":$PYTHONPATH \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$TOOLS/$SCRIPT" \
    "${@:3}" \
    --launcher pytorch
