#!/usr/bin/env bash
# torchrun NPROC processes of tools/SCRIPT: bash tools/dist_run.sh NPROC SCRIPT [args]
# (used by dist_train.sh and dist_test.sh; NNODES, NODE_RANK, PORT,
# MASTER_ADDR and PYTHON as in mmdet's scripts)
NPROC=$1
SCRIPT=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
exec ${PYTHON:-python} -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$(dirname "$0")/$SCRIPT" \
    "${@:3}" \
    --launcher pytorch
