#!/usr/bin/env bash
# mmdet's slurm_test.sh: bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]
# (environment variables: see slurm_run.sh)
exec bash "$(dirname "$0")/slurm_run.sh" "$1" "$2" test.py "$3" "$4" "${@:5}"
