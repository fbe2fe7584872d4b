"""Documentation is code: every shell and Python block of README.md and docs/*.md runs, in
order, page by page, as a user following the page would run it, on the shipped small data.

A page's blocks become one bash script run in an empty folder whose ``data/`` holds the
shared data under the names the pages use. Python blocks run as ``python - <<EOF``. Each
``nas-tf search`` and ``nas-tf train`` line gets overrides that shrink it to seconds (fewer
children, epochs and images: the same code paths at smoke size). A block marked
```` ```sh norun: REASON ```` is not run (a server, a GPU, weeks of compute), and says why;
```` ```python tested-in: TEST ```` runs in that test (which asserts more about it); and
```` ```python file=NAME ```` is a file the page asks the user to save, written, not run.
"""

import glob
import os
import re
import subprocess
import sys
import textwrap

import pytest

from conftest import CIFAR_MINI, SHARED, SHARED_DATA

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md", *sorted(os.path.relpath(p, ROOT)
                              for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))]
RUNNABLE = ("sh", "bash", "python")
# Fences may be indented (a block inside a list item), the closing one as the opening one.
BLOCK = re.compile(r"^([ \t]*)```(\w*)([^\n]*)\n(.*?)^\1```", re.M | re.S)

# The names the pages use for data -> the shared data.
DATA = {
    "cifar-10-python.tar.gz": CIFAR_MINI,
    "ptb": os.path.join(SHARED, "ptb-mini"),
    "nb201_cifar10_cifar100_imagenet16.csv":
        os.path.join(SHARED, "nasbench", "nb201_cifar10_cifar100_imagenet16.csv"),
    "nas-bench-macro_cifar10.json": os.path.join(SHARED, "nasbench", "nas-bench-macro_cifar10.json"),
}

_IMAGES = "--config.data.max_train_examples=160 --config.data.max_val_examples=64"
_TOKENS = "--config.data.max_train_tokens=4000 --config.data.max_valid_tokens=1500"
# (task, method) -> what shrinks a search to seconds; the first match in order wins.
TINY = [
    (("cifar10", "images"), "darts", f"--config.darts.epochs=1 {_IMAGES}"),
    (("cifar10", "images"), "zero_cost",
     f"--config.zero_cost.samples=3 --config.zero_cost.naswot_batch_size=16 "
     f"--config.child.epochs=1 --config.space.num_blocks=2 {_IMAGES}"),
    (("nasbench201",), "zero_cost",
     "--config.zero_cost.samples=3 --config.zero_cost.naswot_batch_size=16"),
    (("nasbench201",), "evolution", "--config.zero_cost.naswot_batch_size=16 "
     "--config.evolution.population=3 --config.evolution.sample_size=2"),
    (("nasbench201",), "", "--config.zero_cost.naswot_batch_size=16 "
     "--config.controller.warm_start_samples=4"),
    (("cifar10", "images"), "enas_micro",
     f"--config.enas.epochs=1 --config.enas.controller.steps=2 --config.enas.derive_samples=2 "
     f"--config.space.num_blocks=2 {_IMAGES}"),
    (("cifar10", "images"), "enas", f"--config.enas.epochs=1 --config.enas.controller.steps=2 "
                                    f"--config.enas.derive_samples=2 {_IMAGES}"),
    (("cifar10", "images"), "pnas", f"--config.search.num_children=2 --config.pnas.beam=2 "
                                    f"--config.pnas.max_blocks=1 --config.child.epochs=1 {_IMAGES}"),
    (("cifar10", "images"), "", f"--config.search.num_children=2 --config.search.batch_size=2 "
                                f"--config.child.epochs=1 {_IMAGES}"),
    (("ptb", "text"), "enas", f"--config.enas.epochs=1 --config.enas.controller.steps=2 "
                              f"--config.enas.derive_samples=2 {_TOKENS}"),
    (("ptb", "text"), "", f"--config.search.num_children=2 --config.search.batch_size=2 "
                          f"--config.child.epochs=1 {_TOKENS}"),
]


def blocks(page: str) -> list[tuple[str, str, str]]:
  """(language, info after it, code) of each fenced block, its indentation removed."""
  return [(language, info, textwrap.dedent(code)) for _, language, info, code
          in BLOCK.findall(open(os.path.join(ROOT, page)).read())]


def shrink(line: str) -> str:
  """A ``nas-tf search|train`` command line at smoke size (overrides before any comment)."""
  command, comment = re.match(r"^(.*?)(\s+#.*)?$", line).groups()
  words = command.split()
  if len(words) < 2 or words[0] != "nas-tf" or words[1] not in ("search", "train"):
    return line
  if words[1] == "train":
    extra = "--config.final.epochs=1"
    if len(words) > 2 and not words[2].startswith("-"):  # train TASK --arch=NAME
      extra += f" {_IMAGES}" if words[2] in ("cifar10", "images", "nasbench201") else \
          f" {_TOKENS}"
  else:
    task = words[2]
    method = next((w.split("=", 1)[1] for w in words if w.startswith("--method=")), "")
    extra = next((t for tasks, m, t in TINY if task in tasks and method.startswith(m)), "")
  return f"{command} {extra}{comment or ''}"


def script(page: str) -> str:
  """The page's runnable blocks as one bash script."""
  parts = []
  for language, info, code in blocks(page):
    info = info.strip()
    if language not in RUNNABLE or info.startswith(("norun", "tested-in")):
      continue
    if info.startswith("file="):
      parts.append(f"cat > {info[5:]} <<'NAS_TF_DOCS_EOF'\n{code}NAS_TF_DOCS_EOF")
    elif language == "python":
      parts.append(f"python - <<'NAS_TF_DOCS_EOF'\n{code}NAS_TF_DOCS_EOF")
    else:
      joined = code.replace("\\\n", " ")
      parts.append("\n".join(shrink(line) for line in joined.splitlines()))
  return "\n".join(parts)


def test_every_block_is_runnable_or_says_why_not():
  for page in PAGES:
    for language, info, code in blocks(page):
      where = f"{page}: block ```{language}{info}"
      info = info.strip()
      if language in RUNNABLE and info.startswith("tested-in:"):
        test = info.split()[1]
        assert page in open(os.path.join(ROOT, test)).read(), f"{where}: {test} never reads it"
      elif language in RUNNABLE:
        assert not info or info.startswith("file=") or re.match(r"norun: \S", info), \
            f"{where}: norun needs a reason"
      else:  # output, diagrams, diffs: no command a user would copy hides in them
        assert not re.search(r"^\s*(nas-tf|\./run\.sh|python|docker) ", code, re.M), where


INLINE = re.compile(r"`(nas-tf (?:search|train) [^`]*)`")


def test_every_inline_command_resolves_to_a_valid_config():
  # Commands quoted in the prose (the README's method table, ...): their task, method,
  # preset and keys resolve as the CLI resolves them (the blocks above run in full).
  from nas_tf.cli import arguments
  from nas_tf import config as config_lib
  commands = [c for page in PAGES for c in INLINE.findall(open(os.path.join(ROOT, page)).read())]
  assert len(commands) >= 7
  for command in commands:
    argv = command.split()
    if argv[1] == "train" and not any(a.startswith("--arch=") for a in argv):
      continue  # train --workdir=DIR: the work directory's config
    if re.search(r"\b[A-Z]{3,}\b", command) or "first_choice" in command:
      continue  # a placeholder (TASK, FOLDER), or layout.md's strategy that its diff adds
    _, config = arguments.command_config(argv)
    assert arguments.unknown_override(argv, config) is None, command
    config.data.source = "synthetic"
    config_lib.validate(config)


def test_shrink_appends_overrides_before_comments():
  line = "nas-tf train  --workdir=runs/first   # the best child"
  assert shrink(line) == ("nas-tf train  --workdir=runs/first --config.final.epochs=1   "
                          "# the best child")
  assert "--config.darts.epochs=1" in shrink("nas-tf search cifar10 --method=darts")
  assert shrink("nas-tf export --workdir=w --out=o") == "nas-tf export --workdir=w --out=o"


# The method pages run in tests/test_docs_methods.py: the two files share CI's two workers.
# Run by tests/test_docs_methods.py: the method pages, and your-space.md (the longest page).
METHOD_PAGES = [f"docs/{name}.md" for name in ("nas-rl", "enas", "pnas", "baselines",
                                                "your-space")]
needs_data = pytest.mark.skipif(not all(map(os.path.exists, SHARED_DATA)),
                                reason="../shared/data absent")


def run_page(tmp_path, page):
  data = tmp_path / "data"
  data.mkdir()
  for name, target in DATA.items():
    os.symlink(os.path.abspath(target), data / name)
  os.symlink(os.path.join(ROOT, "benchmarks"), tmp_path / "benchmarks")
  bin_dir = os.path.dirname(sys.executable)
  env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TF_CPP_MIN_LOG_LEVEL": "3",
         "CUDA_VISIBLE_DEVICES": ""}
  text = script(page)
  result = subprocess.run(["bash", "-euo", "pipefail", "-c", text], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, (f"{page} failed:\n{text}\n--- stdout\n{result.stdout[-3000:]}"
                                  f"\n--- stderr\n{result.stderr[-3000:]}")


def test_every_page_with_commands_is_run_by_one_of_the_two_files():
  assert set(METHOD_PAGES) <= set(PAGES)
  assert all(script(page) for page in METHOD_PAGES)


@needs_data
@pytest.mark.parametrize("page", [p for p in PAGES if script(p) and p not in METHOD_PAGES])
def test_the_page_runs(tmp_path, page):
  run_page(tmp_path, page)


def _slug(heading: str) -> str:
  """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
  return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_between_pages_resolves():
  for page in PAGES:
    folder = os.path.dirname(os.path.join(ROOT, page))
    for target, anchor in re.findall(r"\]\(([\w./-]+\.md)(?:#([\w-]+))?\)",
                                     open(os.path.join(ROOT, page)).read()):
      path = os.path.join(folder, target)
      assert os.path.exists(path), f"{page}: {target} does not exist"
      if anchor:
        headings = re.findall(r"^#+ (.*)$", open(path).read(), re.M)
        assert anchor in map(_slug, headings), f"{page}: no heading #{anchor} in {target}"
