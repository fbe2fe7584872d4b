"""``nas-tf --help`` and ``nas-tf COMMAND --help``: commands, tasks and presets, the main
flags and config keys, and examples (read from the registry and the config files, without
TensorFlow)."""

from __future__ import annotations

import difflib
import importlib.util
import os

from nas_tf import __version__, registry

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")

COMMANDS = {
    "search": "search a task's space; rerunning the same command resumes it",
    "train": "final training of the best (or --child) architecture from scratch",
    "export": "the found model as TensorFlow SavedModels (--out=DIR)",
    "show": "PNG + SVG picture of an architecture, also in TensorBoard",
    "zoo": "the papers' architectures, their sizes next to the papers' (train TASK --arch=NAME)",
}

FLAGS_HELP = """\
flags:
  --workdir=DIR            the work directory (search: default runs/TASK); rerun to resume
  --config=FILE[:PRESET]   config file and preset (search: default configs/TASK.py:auto)
  --config.KEY=VALUE       override any config key, e.g. --config.child.epochs=5
  --overwrite              empty the work directory and start afresh
  --child=ID               train/export/show: a child index or architecture-id prefix
  --arch=NAME              train TASK: a published architecture (nas-tf zoo lists them)
  --out=DIR                export: where the SavedModels go; show: the picture folder
  --verbose                TensorFlow's start-up lines and full tracebacks
  --version                the version"""

KEYS_HELP = """\
main config keys:
  seed                          one seed for everything (same seed, same search on CPU)
  data.source                   tfds | synthetic | a cifar-10-python.tar.gz or folder | ptb folder
                                | a NAS-Bench table (nasbench201, nasbench_macro)
  space.kind                    cifar10: cnn (NAS-RL's macro CNN) | cell (normal + reduction cells)
  search.strategy               {strategies}
  search.num_children           children to train; raise it on a finished search to extend it
  search.batch_size             m: children per strategy update
  search.time_budget            90s, 45m, 8h, 2d: stop cleanly at a child boundary
  child.epochs, child.batch_size, child.learning_rate   training of each child
  controller.learning_rate, controller.baseline_decay   the NAS-RL controller
  executor.kind                 {executors}: where children train"""

EXAMPLES = """\
examples:
  nas-tf search cifar10                                  the auto preset, data from tfds
  nas-tf search cifar10 --config=configs/cifar10.py:smoke \\
      --config.data.source=~/data/cifar-10-python.tar.gz --workdir=runs/c10
  nas-tf search cifar10 --config.search.strategy=enas --config.search.time_budget=2h
  nas-tf search cifar10 --config.space.kind=cell --config.search.strategy=darts   (or pnas)
  nas-tf search cifar10 --config=configs/darts.py:paper     the authors' settings (also
      configs/enas_micro.py; nas-tf search ptb --config=configs/enas_ptb.py:paper)
  nas-tf search nasbench201 --config.data.source=nb201_cifar10_cifar100_imagenet16.csv
  nas-tf train --workdir=runs/c10 && nas-tf export --workdir=runs/c10 --out=exported
  nas-tf train cifar10 --arch=darts_v2 --config=configs/darts.py:smoke   (nas-tf zoo)"""


def method_config(base: str, preset: str, presets: dict[str, str], expected: dict[str, str]):
  """(preset, config) of a method's config file (``configs/darts.py``, ...): its ``auto``
  is ``paper`` where GPUs are visible, else ``cpu``; the config is ``configs/<base>.py``'s
  of that preset, with the method file's ``about`` (what was chosen, why, how long)."""
  from nas_tf import hardware
  preset, _, about = hardware.choose_preset(
      preset, presets, expected, None if hardware.visible_gpus() else ("cpu", "no GPU visible"))
  config = config_module(base).get_config(preset)
  config.about = about
  return preset, config


def config_module(task: str):
  """The module of ``configs/<task>.py`` (config files build on one another with it)."""
  spec = importlib.util.spec_from_file_location(f"nas_tf_config_{task}",
                                                os.path.join(CONFIG_DIR, f"{task}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def presets(task: str) -> dict[str, str]:
  """A task config file's PRESETS (name -> description); {} when it has none."""
  if not os.path.exists(os.path.join(CONFIG_DIR, f"{task}.py")):
    return {}
  return getattr(config_module(task), "PRESETS", {})


def suggest(name: str, known) -> str:
  """``; did you mean 'x'?`` for a near miss, else ''."""
  close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
  return f"; did you mean {close[0]!r}?" if close else ""


def tasks_help() -> str:
  lines = ["tasks and presets (--config=configs/TASK.py:PRESET):"]
  for task, entry in registry.TASKS.items():
    lines.append(f"  {task:<9} searches {entry.finds}")
    for name, about in presets(task).items():
      lines.append(f"      {name:<8} {about}")
  return "\n".join(lines)


def main_help() -> str:
  commands = "\n".join(f"  {name:<8} {about}" for name, about in COMMANDS.items())
  keys = KEYS_HELP.format(strategies=" | ".join(registry.STRATEGIES),
                          executors=" | ".join(registry.EXECUTORS))
  return (f"nas-tf {__version__}: neural architecture search in TensorFlow / Keras\n\n"
          "usage: nas-tf COMMAND [TASK] [flags]   (nas-tf COMMAND --help for one command)\n\n"
          f"commands:\n{commands}\n\n{tasks_help()}\n\n{FLAGS_HELP}\n\n{keys}\n\n{EXAMPLES}")


def command_help(command: str) -> str:
  if command == "search":
    keys = KEYS_HELP.format(strategies=" | ".join(registry.STRATEGIES),
                            executors=" | ".join(registry.EXECUTORS))
    return ("usage: nas-tf search TASK [--workdir=DIR] [--config=FILE[:PRESET]] "
            "[--config.KEY=VALUE ...]\n\n"
            "Searches TASK's space and writes everything to the work directory: children.jsonl "
            "(one line per child),\nbest.json, checkpoints, kept weights, TensorBoard logs. "
            "Rerunning the same command resumes it;\nrun settings (executor.*, "
            "search.num_children, search.time_budget, the data path) may change on resume.\n\n"
            f"{tasks_help()}\n\n{FLAGS_HELP}\n\n{keys}\n\n{EXAMPLES}")
  usage = {"train": "nas-tf train --workdir=DIR [--child=ID] [--config.final.KEY=VALUE ...]"
                    " | nas-tf train TASK --arch=NAME [--workdir=DIR] [--config=FILE[:PRESET]]",
           "zoo": "nas-tf zoo",
           "export": "nas-tf export --workdir=DIR --out=DIR [--child=ID]",
           "show": "nas-tf show --workdir=DIR [--child=ID] [--out=DIR]"}[command]
  return f"usage: {usage}\n\n{COMMANDS[command]}.\n\n{FLAGS_HELP}"


def clean_message(error: BaseException) -> str:
  """One clean line: ml_collections wraps a KeyError (whose str() is the repr of its
  message, escaped quotes and newlines included) in an AttributeError."""
  while len(error.args) == 1 and isinstance(error.args[0], BaseException):
    error = error.args[0]
  text = error.args[0] if len(error.args) == 1 and isinstance(error.args[0], str) else str(error)
  text = " ".join(text.split())
  if isinstance(error, KeyError) and text.startswith("'"):
    name, _, rest = text[1:].partition("'")
    text = f"unknown key {name!r}{rest}".replace(" Did you mean", "; did you mean")
  return text
