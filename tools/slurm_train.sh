#!/usr/bin/env bash
# mmdet's slurm_train.sh: bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]
# (environment variables: see slurm_run.sh)
exec bash "$(dirname "$0")/slurm_run.sh" "$1" "$2" train.py "$3" \
  --work-dir="$4" "${@:5}"
