#!/usr/bin/env bash
# ./run.sh docker-check: builds the nas-tf image on this machine and runs it as a user would:
# --version, check-gpu --dry, then a smoke search on synthetic data with /runs mounted,
# killed (docker kill) once its first children are recorded and rerun with the same command,
# which must resume and finish. Without a GPU base at hand it builds FROM a Debian made here
# with debootstrap (python3 3.11), so TensorFlow comes from requirements.txt. Installs
# docker.io and debootstrap when missing, starts dockerd when none runs, and says in one line
# why it cannot where it cannot (exit 2) and where it stops otherwise. The base and
# dependency layers are cached between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_IMAGE="${NAS_TF_CHECK_BASE:-nas-tf-base:bookworm}"
IMAGE="${NAS_TF_IMAGE:-nas-tf}:check"
RUNS="$(mktemp -d /tmp/nas-tf-docker-check.XXXXXX)"
NAME="nas-tf-check-$$"
say() { echo "docker-check: $*"; }
cannot() { echo "docker-check: cannot run here: $*" >&2; exit 2; }
trap 'docker rm -f "$NAME" >/dev/null 2>&1 || true; rm -rf "$RUNS"' EXIT
# Wherever a command stops it (set -e), one line says which.
trap 'echo "docker-check: stopped at docker/check.sh line $LINENO: $BASH_COMMAND" >&2' ERR

[ "$(id -u)" = 0 ] || cannot "needs root (to install docker.io and debootstrap, start dockerd and debootstrap a base)"
# Debian's docker client: its BuildKit needs no buildx plugin (secrets below).
DOCKER=/usr/bin/docker
if [ ! -x "$DOCKER" ] || ! command -v debootstrap >/dev/null; then
  command -v apt-get >/dev/null || cannot "no docker at $DOCKER and no apt-get to install it"
  say "installing docker.io and debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io debootstrap >/dev/null \
    || cannot "apt-get install docker.io debootstrap failed"
fi
if ! "$DOCKER" info >/dev/null 2>&1; then
  say "starting dockerd (log: /tmp/nas-tf-dockerd.log)"
  (nohup dockerd >/tmp/nas-tf-dockerd.log 2>&1 &)
  for _ in $(seq 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
  "$DOCKER" info >/dev/null 2>&1 || cannot "dockerd did not start (see /tmp/nas-tf-dockerd.log)"
fi

if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  mirror="$(bash docker/apt-mirror.sh)"  # deb822 sources, a sources.list, or neither
  root="$(mktemp -d /tmp/nas-tf-base.XXXXXX)"
  say "debootstrapping Debian bookworm with python3 from $mirror (about 2 minutes)"
  debootstrap --variant=minbase --include=python3,python3-pip,ca-certificates bookworm \
    "$root" "$mirror" >/tmp/nas-tf-debootstrap.log 2>&1 \
    || cannot "debootstrap failed (see /tmp/nas-tf-debootstrap.log)"
  tar -C "$root" -c . | "$DOCKER" import - "$BASE_IMAGE" >/dev/null
  rm -rf "$root"
fi

secret=()
ca="$(python3 -m pip config list 2>/dev/null | sed -n "s/^[^=]*\.cert='\(.*\)'$/\1/p" | head -1)"
if [ -n "$ca" ] && [ -f "$ca" ]; then
  secret=(--secret "id=pip_ca,src=$ca")  # what this machine's pip trusts, for the build's
fi
say "building $IMAGE FROM $BASE_IMAGE"
started=$(date +%s)
DOCKER_BUILDKIT=1 "$DOCKER" build -q --build-arg "BASE=$BASE_IMAGE" "${secret[@]}" \
  -t "$IMAGE" -f docker/Dockerfile . >/tmp/nas-tf-docker-build.log 2>&1 \
  || { tail -20 /tmp/nas-tf-docker-build.log >&2; exit 1; }
say "built in $(( $(date +%s) - started )) s; $("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.2f GB", $1/1e9}')"
if "$DOCKER" run --rm --entrypoint sh "$IMAGE" -c 'test -e /run/secrets/pip_ca'; then
  echo "docker-check: the pip CA secret is in the image" >&2; exit 1
fi

version="$("$DOCKER" run --rm "$IMAGE" --version)"
expected="nas-tf $(python3 -c 'import re; print(re.search(r"^version *= *\"([^\"]+)\"", open("pyproject.toml").read(), re.M).group(1))')"
[ "$version" = "$expected" ] || { echo "docker-check: --version said '$version', not '$expected'" >&2; exit 1; }
say "$version"

# The GPU check from the image alone (no tests/, no benchmarks/): every row at tiny size.
table="$("$DOCKER" run --rm "$IMAGE" check-gpu --dry 2>/tmp/nas-tf-check-gpu.log)" \
  || { echo "$table" | tail -5 >&2; echo "docker-check: check-gpu --dry failed (see /tmp/nas-tf-check-gpu.log)" >&2; exit 1; }
say "check-gpu --dry: $(echo "$table" | grep -c '^| [A-Za-z]') rows"

search=(search cifar10 --config=smoke --config.data.source=synthetic --workdir=/runs/c10)
"$DOCKER" run -d --name "$NAME" -v "$RUNS:/runs" "$IMAGE" "${search[@]}" >/dev/null
for _ in $(seq 600); do
  [ -s "$RUNS/c10/children.jsonl" ] && [ "$(wc -l <"$RUNS/c10/children.jsonl")" -ge 2 ] && break
  "$DOCKER" inspect -f '{{.State.Running}}' "$NAME" | grep -q true \
    || { "$DOCKER" logs "$NAME" 2>&1 | tail -5 >&2; echo "docker-check: the search ended early" >&2; exit 1; }
  sleep 1
done
"$DOCKER" kill "$NAME" >/dev/null
killed_at="$(wc -l <"$RUNS/c10/children.jsonl")"
"$DOCKER" rm "$NAME" >/dev/null
say "killed the search after $killed_at children (docker kill); rerunning the same command"
out="$("$DOCKER" run --rm -v "$RUNS:/runs" "$IMAGE" "${search[@]}" 2>&1)" \
  || { echo "$out" | tail -5 >&2; exit 1; }
echo "$out" | grep -q "^resuming" || { echo "$out" | head -5 >&2; echo "docker-check: the rerun did not resume" >&2; exit 1; }
python3 - "$RUNS/c10/children.jsonl" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
indices = [r["index"] for r in rows]
assert indices == list(range(len(rows))), f"children.jsonl indices {indices}"
print(f"docker-check: ok: resumed and finished with {len(rows)} children, none lost or "
      "duplicated")
EOF
echo "$out" | tail -1
