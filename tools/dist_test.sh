#!/usr/bin/env bash
# mmdet's dist_test.sh with torchrun: bash tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py args]
exec bash "$(dirname "$0")/dist_run.sh" "$3" test.py "$1" "$2" "${@:4}"
