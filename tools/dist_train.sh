#!/usr/bin/env bash
# mmdet's dist_train.sh with torchrun: bash tools/dist_train.sh CONFIG NPROC [train.py args]
# On CPU use a config with runner_type = 'DeviceAgnosticRunner' (gloo).
exec bash "$(dirname "$0")/dist_run.sh" "$2" train.py "$1" "${@:3}"
