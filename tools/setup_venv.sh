#!/usr/bin/env bash
# Copyright (c) apa_mmdet contributors.
# Create or reuse .venv at the repository root with the full, pinned stack.
#
# torch: the local CPU wheel (/opt/wheels) where it exists, else PyPI's
# (whose Linux x86_64 wheels carry CUDA); a torch already in .venv (any build
# of the pinned version) is kept, and TORCH_INDEX=URL installs it from that
# index instead (e.g. https://pypi.org/simple for the CUDA build where a
# local CPU wheel exists).
#
# Three wheels are made once and cached outside the repository, in
#   ${APA_MMDET_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apa_mmdet/wheels}/TAG/
# with TAG from tools/setup/mmcv_build_settings.py (Python, torch with its local
# version, CUDA version and architectures):
# * mmcv 2.1.0 with its ops: PyPI has no wheel for torch 2.13, so it is built
#   from the source archive (about 13 minutes on 2 cores for CPU ops). When
#   torch has CUDA (or APA_MMDET_CUDA=1) with its CUDA ops too
#   (FORCE_CUDA=1), for TORCH_CUDA_ARCH_LIST or else the visible GPUs'
#   compute capabilities, MAX_JOBS parallel compilers (default: all cores);
#   APA_MMDET_CUDA=0 builds CPU ops only;
# * lvis-api 0.5.3 fixed for NumPy 2 and headless OpenCV, and mmengine 0.10.7
#   requiring headless OpenCV, so that exactly one OpenCV is installed
#   (tools/setup/patch_wheel.py says what changes).
# Re-running is cheap: the script returns at once when nothing it depends on
# changed, and never rebuilds a cached wheel that is intact.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }

pip_install() { "$py" -m pip install --quiet "${find_links[@]}" "$@"; }

build_mmcv_wheel() {
  local out="$1" build pid start step
  build="$(mktemp -d)"
  log "building mmcv==$mmcv_version $build_kind, $max_jobs jobs" \
    "(CPU ops: about 13 min on 2 cores; CUDA ops take longer)"
  log "build log: $build/build.log"
  # --no-cache-dir: pip's wheel cache is keyed on the source archive only,
  # not on the torch it was built against
  MMCV_WITH_OPS=1 FORCE_CUDA="$force_cuda" MAX_JOBS="$max_jobs" \
    TORCH_CUDA_ARCH_LIST="$cuda_arch_list" \
    "$py" -m pip wheel -v --no-cache-dir --no-deps --no-build-isolation \
    --no-binary mmcv \
    -w "$build/out" "mmcv==$mmcv_version" >"$build/build.log" 2>&1 &
  pid=$!
  start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    step="$(grep -oE '^ *\[[0-9]+/[0-9]+\]' "$build/build.log" | tail -n1 | tr -d ' ' || true)"
    log "still building mmcv: $((SECONDS - start)) s, compile step ${step:-[preparing]}"
  done
  if ! wait "$pid"; then
    tail -n 40 "$build/build.log" >&2
    log "mmcv build failed; full log in $build/build.log"
    exit 1
  fi
  log "built mmcv $build_kind in $((SECONDS - start)) s"
  local built
  built="$(ls "$build"/out/mmcv-*.whl)"
  # copy then rename, so a cache never holds a half-written wheel
  cp "$built" "$out/.partial"
  mv "$out/.partial" "$out/$(basename "$built")"
  rm -rf "$build"
}

fixed_wheel() {
  # fixed_wheel NAME VERSION: path of PyPI's wheel rewritten by
  # patch_wheel.py, made on first use and cached
  local wheel download
  wheel="$(cached_wheel "$1-$2-1-*.whl")"
  if [ -z "$wheel" ]; then
    download="$(mktemp -d)"
    log "making the fixed $1 $2 wheel (tools/setup/patch_wheel.py)"
    "$py" -m pip download --quiet --no-deps --only-binary :all: \
      -d "$download" "$1==$2" >&2
    wheel="$("$py" "$root/tools/setup/patch_wheel.py" \
      "$download/$1-$2-py3-none-any.whl" "$cache")"
    rm -rf "$download"
  fi
  printf '%s' "$wheel"
}

cached_wheel() {
  # cached_wheel PATTERN: the intact cached wheel matching PATTERN, or nothing
  local wheel
  wheel="$(ls "$cache"/$1 2>/dev/null | head -n1 || true)"
  if [ -n "$wheel" ] && ! "$py" -m zipfile -t "$wheel" >/dev/null 2>&1; then
    log "cached $wheel is corrupt; making it again"
    rm -f "$wheel"
    wheel=""
  fi
  printf '%s' "$wheel"
}

main() {
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cd "$root"
  local python_bin="${PYTHON:-python3}" torch_version="2.13.0"
  mmcv_version="2.1.0"
  mmengine_version="0.10.7"
  py="$root/.venv/bin/python"
  find_links=()
  [ -d /opt/wheels ] && find_links=(--find-links /opt/wheels)

  if [ ! -x "$py" ]; then
    log "creating .venv with $("$python_bin" --version 2>&1)"
    "$python_bin" -m venv "$root/.venv"
  fi
  local stamp="$root/.venv/.apa_mmdet_setup" want
  want="$( (cat setup.cfg pyproject.toml tools/setup_venv.sh \
    tools/setup/patch_wheel.py tools/setup/mmcv_build_settings.py
    echo "${APA_MMDET_CUDA:-}|${TORCH_CUDA_ARCH_LIST:-}|${TORCH_INDEX:-}") \
    | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi

  if [ -n "${TORCH_INDEX:-}" ]; then
    log "installing torch==$torch_version from $TORCH_INDEX"
    "$py" -m pip install --quiet --index-url "$TORCH_INDEX" \
      "torch==$torch_version"
  fi
  log "installing build prerequisites and torch==$torch_version"
  pip_install "pip>=23" "setuptools<82" wheel ninja numpy \
    "torch==$torch_version" opencv-python-headless

  local key value
  force_cuda=0 cuda_arch_list="" build_kind="" tag=""
  max_jobs="${MAX_JOBS:-$(nproc)}"
  while IFS='=' read -r key value; do
    case "$key" in
      FORCE_CUDA) force_cuda="$value" ;;
      TORCH_CUDA_ARCH_LIST) cuda_arch_list="$value" ;;
      MMCV_CACHE_TAG) tag="$value" ;;
      MMCV_BUILD_KIND) build_kind="$value" ;;
    esac
  done < <("$py" "$root/tools/setup/mmcv_build_settings.py" || echo FAILED=1)
  [ -n "$tag" ] || exit 1
  cache="${APA_MMDET_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apa_mmdet/wheels}/$tag"
  mkdir -p "$cache"
  local mmcv_wheel mmengine_wheel lvis_wheel
  mmcv_wheel="$(cached_wheel "mmcv-$mmcv_version-*.whl")"
  if [ -z "$mmcv_wheel" ]; then
    build_mmcv_wheel "$cache"
    mmcv_wheel="$(cached_wheel "mmcv-$mmcv_version-*.whl")"
  else
    log "reusing $mmcv_wheel"
  fi
  mmengine_wheel="$(fixed_wheel mmengine "$mmengine_version")"
  lvis_wheel="$(fixed_wheel lvis 0.5.3)"

  log "installing mmcv, mmengine, the fixed lvis-api and apa_mmdet (editable)"
  # --force-reinstall: a reused .venv may hold PyPI builds of the same versions
  pip_install --no-deps --force-reinstall "$mmcv_wheel" "$mmengine_wheel" \
    "$lvis_wheel"
  if "$py" -m pip show --quiet opencv-python >/dev/null 2>&1; then
    log "removing opencv-python left in .venv (headless OpenCV only)"
    "$py" -m pip uninstall --quiet --yes opencv-python
    pip_install --no-deps --force-reinstall opencv-python-headless
  fi
  pip_install -e ".[tests,deploy]"

  local opencvs
  opencvs="$("$py" -m pip list 2>/dev/null | grep -i '^opencv' || true)"
  if [ "$(printf '%s\n' "$opencvs" | grep -c .)" != "1" ]; then
    log "expected exactly one OpenCV distribution, found: $opencvs"
    exit 1
  fi
  "$py" -c 'import mmcv.ops, mmdet, apa_mmdet' \
    || { log "import check failed"; exit 1; }
  if [ "$force_cuda" = 1 ]; then
    "$py" -c 'from mmcv.ops import get_compiling_cuda_version as v
assert v() != "not available", "mmcv has no CUDA ops"' \
      || { log "mmcv was built without its CUDA ops"; exit 1; }
  fi
  echo "$want" >"$stamp"
  log "ready: $py"
}

main "$@"
