"""``nas-tf --help`` and ``nas-tf COMMAND --help``: commands, tasks and presets, the main
flags and config keys, and examples (read from the registry and the config files, without
TensorFlow)."""

from __future__ import annotations

import re

from nas_tf import __version__, presets, registry

COMMANDS = {
    "search": "search a task's space; rerunning the same command resumes it",
    "train": "final training of the best (or --child) architecture from scratch",
    "export": "the found model as TensorFlow SavedModels (--out=DIR)",
    "show": "PNG + SVG picture of an architecture (or --pareto: the search's Pareto front), "
            "also in TensorBoard",
    "zoo": "the papers' architectures, their sizes next to the papers' (train TASK --arch=NAME)",
    "compare": "one table of several searches' work directories: method, task, preset, "
               "children, best, parameters, time, final test (--out: their HParams in one "
               "TensorBoard logdir)",
    "score": "architectures scored untrained by zero-cost proxies and NASWOT, one JSON line "
             "each (--out); rerun to resume",
    "build-table": "NAS-Bench-201's CSV from the official NATS-Bench file (the package has "
                   "one already)",
    "check-gpu": "what this machine's GPUs do: child speed, children per hour, DARTS and ENAS "
                 "steps, MirroredStrategy (--dry: tiny, on a CPU)",
}

FLAGS_HELP = """\
flags:
  --workdir=DIR            the work directory (search: default runs/TASK); rerun to resume
  --method=NAME            search: the method (strategy, space and its authors' settings)
  --space=MODULE:FUNCTION  search images|cifar10: your build_model(hp) is the space
  --config=PRESET          search, train TASK: a preset of the task's (and method's) config
  --config=FILE[:PRESET]   or a config file of your own (or a bundled one: darts:smoke)
  --config.KEY=VALUE       override any config key, e.g. --config.child.epochs=5
  --overwrite              empty the work directory and start afresh
  --child=ID               train/export/show: a child index or architecture-id prefix
  --arch=NAME              train TASK: a published architecture (nas-tf zoo lists them),
                           or a NAS-Bench-201 cell's arch string (train nasbench201)
  --out=DIR                export: where the SavedModels go; show: the picture folder
  --pareto                 show: the Pareto front (metric against search.objective.cost)
  --verbose                TensorFlow's start-up lines and full tracebacks
  --version                the version"""

KEYS_HELP = """\
main config keys:
  seed                          one seed for everything (same seed, same search on CPU; docs/workdir.md)
  data.source                   tfds | synthetic | a cifar-10-python.tar.gz or folder | ptb folder
                                | bundled (nasbench201, nasbench_macro's table) or another copy
  space.kind                    cifar10: cnn (NAS-RL's macro CNN) | cell (normal + reduction cells)
                                | enas_macro | nasbench201 (its cells, trained on the images)
  search.strategy               {strategies}
  search.num_children           children to train; raise it on a finished search to extend it
  search.batch_size             m: children per strategy update
  search.time_budget            90s, 45m, 8h, 2d: stop cleanly at a child boundary
  search.objective.kind         metric | constraint (a hard budget) | soft (MnasNet's trade-off)
  search.objective.cost         params | flops | latency_ms, under search.objective.target
  child.epochs, child.batch_size, child.learning_rate   training of each child
  controller.learning_rate, controller.baseline_decay   the NAS-RL controller
  executor.kind                 {executors}: where children train"""

EXAMPLES = """\
examples:
  nas-tf search cifar10                                  the auto preset, data from tfds
  nas-tf search cifar10 --config=smoke --config.data.source=data/cifar-10-python.tar.gz
  nas-tf search cifar10 --method=darts --config=smoke    (enas, enas_micro, pnas, ...)
  nas-tf search cifar10 --method=darts --config=paper    the authors' settings
  nas-tf search images --method=pnas --config.data.source=photos/ --config.data.image_size=64
  nas-tf search ptb --method=enas --config.data.source=data/ptb
  nas-tf search nasbench201                              offline, in seconds: the table ships
  nas-tf train --workdir=runs/cifar10 && nas-tf export --workdir=runs/cifar10 --out=exported
  nas-tf train cifar10 --arch=darts_v2 --config=smoke     (nas-tf zoo lists them)"""


def tasks_help() -> str:
  lines = ["tasks and their presets (--config=PRESET; for the methods above without their own)"]
  for task, entry in registry.TASKS.items():
    lines.append(f"  {task:<14} searches {entry.finds}")
    for name, about in presets.presets(task).items():
      lines.append(f"      {name:<8} {about}")
  return "\n".join(lines)


def methods_help() -> str:
  lines = ["methods (--method=NAME; default nas_rl):"]
  for name, entry in registry.METHODS.items():
    lines.append(f"  {name:<11} {entry.about}")
    lines.append(f"  {'':<11} tasks: {', '.join(registry.method_tasks(name))}")
    for config in dict.fromkeys((entry.configs or {}).values()):
      where = ", ".join(t for t, c in entry.configs.items() if c == config)
      lines.append(f"  {'':<11} presets on {where} (config {config}):")
      lines += [f"  {'':<13} {preset:<6} {about}"
                for preset, about in presets.presets(config).items()]
  return "\n".join(lines)


def main_help() -> str:
  width = max(map(len, COMMANDS))
  commands = "\n".join(f"  {name:<{width}} {about}" for name, about in COMMANDS.items())
  keys = KEYS_HELP.format(strategies=" | ".join(registry.STRATEGIES),
                          executors=" | ".join(registry.EXECUTORS))
  return (f"nas-tf {__version__}: neural architecture search in TensorFlow / Keras\n\n"
          "usage: nas-tf COMMAND [TASK] [flags]   (nas-tf COMMAND --help for one command)\n\n"
          f"commands:\n{commands}\n\n{methods_help()}\n\n{tasks_help()}\n\n{FLAGS_HELP}\n\n"
          f"{keys}\n\n{EXAMPLES}")


def command_help(command: str) -> str:
  if command == "search":
    keys = KEYS_HELP.format(strategies=" | ".join(registry.STRATEGIES),
                            executors=" | ".join(registry.EXECUTORS))
    return ("usage: nas-tf search TASK [--method=NAME] [--config=PRESET|FILE[:PRESET]] "
            "[--workdir=DIR] [--config.KEY=VALUE ...]\n\n"
            "Searches TASK's space and writes everything to the work directory: children.jsonl "
            "(one line per child),\nbest.json, checkpoints, kept weights, TensorBoard logs. "
            "Rerunning the same command resumes it;\nrun settings (executor.*, "
            "search.num_children, search.time_budget, the data path) may change on resume.\n\n"
            f"{methods_help()}\n\n{tasks_help()}\n\n{FLAGS_HELP}\n\n{keys}\n\n{EXAMPLES}")
  usage = {"train": "nas-tf train --workdir=DIR [--child=ID] [--config.final.KEY=VALUE ...]"
                    " | nas-tf train TASK --arch=NAME [--workdir=DIR] [--config=PRESET]",
           "zoo": "nas-tf zoo",
           "export": "nas-tf export --workdir=DIR --out=DIR [--child=ID]",
           "show": "nas-tf show --workdir=DIR [--child=ID | --pareto] [--out=DIR]",
           "compare": "nas-tf compare DIR [DIR ...] [--out=LOGDIR]",
           "score": "nas-tf score TASK (--archs=FILE | --random=N [--seed=S]) --out=FILE "
                    "[--proxies=naswot,synflow,...] [--config=PRESET] [--config.KEY=VALUE]",
           "build-table": "nas-tf build-table nasbench201 NATS_BENCH_PATH [--out=FILE]",
           "check-gpu": "nas-tf check-gpu [--dry] [--only=child,children_per_hour,darts,enas,"
                        "mirrored]"}[command]
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


# Python's words for a value absl could not convert -> what the key takes.
_EXPECTED = (("invalid literal for int", "an integer"), ("convert string to float", "a number"),
             ("Non-boolean argument", "true or false"))


def flag_error(line: str) -> str:
  """absl's ``flag --config.KEY=VALUE: <Python's error>`` as one line saying what KEY takes."""
  match = re.match(r"flag (--\S+?)=(.*?): (.*)$", line)
  if not match:
    return line
  flag, value, cause = match.groups()
  wanted = next((w for pattern, w in _EXPECTED if pattern in cause), None)
  return f"{flag}={value}: expected {wanted}" if wanted else f"{flag}={value}: {cause}"
