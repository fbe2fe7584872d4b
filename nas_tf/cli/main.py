"""``nas-tf``: the command line.

    nas-tf search cifar10 [--method=darts] --workdir=runs/c10 --config=smoke \
        --config.data.source=/path/to/cifar-10-python.tar.gz --config.seed=1
    nas-tf train --workdir=runs/c10 [--child=ID]      final training of the best (or ID) child
    nas-tf export --workdir=runs/c10 --out=DIR [--child=ID]   TensorFlow SavedModels
    nas-tf show --workdir=runs/c10 [--child=ID]       PNG + SVG picture of the architecture
    nas-tf show --workdir=runs/c10 --pareto   the Pareto front of metric against cost
    nas-tf train cifar10 --arch=darts_v2    a published architecture (nas-tf zoo lists them)
    nas-tf score nasbench201 --random=100 --out=scores.jsonl   zero-cost proxies, untrained
    nas-tf --help | nas-tf COMMAND --help | nas-tf --version

Without ``--config``, ``search`` and ``score`` use the task's (or method's) bundled config at
preset ``auto``, the other commands the config stored in the work directory;
``--config.KEY=VALUE`` overrides either (``nas_tf.cli.arguments``). Rerun to resume.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags
from ml_collections import config_flags

from nas_tf import __version__, presets
from nas_tf.cli import arguments, interrupts, score, show, usage
from nas_tf.runtime import quiet

USAGE = ("usage: nas-tf search TASK [--method=NAME] [--config=PRESET|FILE[:PRESET]] "
         "[--config.KEY=VALUE] | nas-tf train|export|show --workdir=DIR [--child=ID] [--out=DIR]"
         " | nas-tf train TASK --arch=NAME | nas-tf zoo (nas-tf --help)")
COMMANDS = tuple(usage.COMMANDS)

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Work directory (default runs/<task>); rerun to resume.")
flags.DEFINE_bool("overwrite", False, "Delete the work directory's contents and start afresh.")
flags.DEFINE_bool("verbose", False, "Show TensorFlow's start-up lines and tracebacks.")
flags.DEFINE_string("child", None, "train/export/show: a child index or architecture id "
                    "(default: the best child).")
flags.DEFINE_string("arch", None, "train TASK: a published architecture to train (nas-tf zoo "
                    "lists them), instead of a search's child.")
flags.DEFINE_string("out", None, "export: the output folder; show: the picture folder "
                    "(default WORKDIR/pictures); compare: a TensorBoard logdir of all the "
                    "searches' HParams.")
flags.DEFINE_bool("pareto", False, "show: the search's Pareto front instead of a child.")
flags.DEFINE_string("method", None, "search: the method (nas-tf --help lists them), with its "
                    "authors' settings.")


class UsageError(Exception):
  """Bad command-line use: one line and the usage, exit 2."""


def _fail(message: str, code: int = 2):
  print(f"nas-tf: error: {message}", file=sys.stderr)
  sys.exit(code)


def _report(error: Exception, bad_input: tuple, stopped: tuple, prefix: str = "",
            resume: str = "") -> None:
  """One stderr line: exit 2 for bad input, 1 for work that stopped (a full disk too);
  else the traceback."""
  from nas_tf import errors
  if interrupt := errors.disguised_interrupt(error):
    interrupts.exit_interrupted(interrupt)
  if FLAGS.verbose:
    raise error
  if isinstance(error, bad_input):
    _fail(str(error))
  full = errors.disk_full(error)  # TensorFlow's writers' too (checkpoints, TensorBoard)
  if isinstance(error, stopped) or full:
    text = errors.disk_full_message(error) if full else str(error)
    _fail(f"{prefix}{text}" + (f"; {resume}" if resume else ""), code=1)
  raise error


def _parse_flags(argv: list[str]) -> list[str]:
  try:
    return FLAGS(argv)
  except flags.Error as e:
    message = str(e).strip().splitlines()
    _fail(usage.flag_error(message[-1]) if message else "bad flags")
  except Exception as e:  # a config file that fails to load, an unknown preset, ...
    _fail(f"config: {usage.clean_message(e)}")


def search(task_name: str, workdir: str | None) -> int:
  from nas_tf import config as config_lib, registry
  from nas_tf.store import workdir as wd
  from nas_tf.errors import DataError, InfrastructureError, SearchError
  from nas_tf.tasks import TASKS
  if task_name not in TASKS:
    raise UsageError(f"unknown task {task_name!r} (known: {', '.join(TASKS)})"
                     f"{presets.suggest(task_name, TASKS)}")
  config = FLAGS.config
  if not config:
    raise UsageError(f"no config for task {task_name!r}; pass --config=FILE[:PRESET]")
  if config.get("task", task_name) != task_name:
    raise UsageError(f"the config is for task {config.task!r}, not {task_name!r}")
  workdir = workdir or os.path.join("runs", task_name)
  interrupts.saving(f"finished children are saved in {workdir}")
  if "about" in config:
    print(f"preset {config.about.preset} ({config.about.reason}); expected duration: "
          f"{config.about.expected}", flush=True)
  try:
    config_lib.validate(config)  # before TensorFlow is even imported
    task = registry.task_class(task_name)(config)
    task.prepare()  # bad data fails here, before TensorFlow starts
    with wd.WorkdirLock(workdir):
      wd.claim_search(workdir, config, task, FLAGS.overwrite)
      from nas_tf.runner.run import make_search  # TensorFlow starts here
      result = make_search(config, workdir, task, after_child=interrupts.raise_if_received,
                           after_epoch=interrupts.raise_if_received).run()
  except KeyboardInterrupt as e:
    return interrupts.exit_interrupted(e)
  except Exception as e:
    _report(e, bad_input=(config_lib.ConfigError, DataError, wd.WorkdirError),
            stopped=(SearchError, InfrastructureError), prefix="search stopped: ",
            resume="finished children and the last checkpoint are kept; rerun to resume")
  return 0 if result.best is not None or result.stopped else 1


def train_published(task_name: str, workdir: str | None) -> int:
  """``nas-tf train TASK --arch=NAME``: a published architecture, trained from scratch."""
  interrupts.saving("finished epochs are saved")
  from nas_tf import config as config_lib, registry
  from nas_tf.products import zoo
  from nas_tf.store import workdir as wd
  from nas_tf.errors import DataError, InfrastructureError
  try:
    entry, config, workdir = zoo.resolve(task_name, FLAGS.arch, FLAGS.config, workdir)
  except ValueError as e:
    raise UsageError(str(e)) from None
  task_name = zoo.training_task(task_name, FLAGS.arch)
  if "about" in config:
    print(f"preset {config.about.preset} ({config.about.reason})", flush=True)
  try:
    config_lib.validate(config)
    task = registry.task_class(task_name)(config)
    task.prepare()  # bad data fails here, before TensorFlow starts
    zoo.train_published(config, workdir, task, entry, FLAGS.overwrite,
                        after_epoch=interrupts.raise_if_received)
  except KeyboardInterrupt as e:
    return interrupts.exit_interrupted(e)
  except Exception as e:
    from nas_tf.tasks.training import ChildFailure
    _report(e, bad_input=(config_lib.ConfigError, DataError, wd.WorkdirError),
            stopped=(ChildFailure, InfrastructureError))
  print(f"export it: nas-tf export --workdir={workdir} --out=DIR")
  return 0


def _stored_config(workdir: str):
  """``--config`` when given, else the config the search in ``workdir`` ran with."""
  import ml_collections
  from nas_tf.store import workdir as wd
  if FLAGS.config:  # the stored config (nas_tf.cli.arguments), or --config's
    return FLAGS.config
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise UsageError(f"{workdir} holds no search (no config.json); run 'nas-tf search TASK "
                     f"--workdir={workdir}' first")
  return ml_collections.ConfigDict(wd.read_json(path))


def after_search(command: str, workdir: str | None) -> int:
  """train / export / show: commands that read a search's work directory."""
  interrupts.saving("finished epochs are saved")
  from nas_tf import config as config_lib
  from nas_tf.store import workdir as wd
  from nas_tf.errors import DataError, SearchError
  if not workdir:
    raise UsageError(f"'{command}' needs --workdir (a search's work directory)")
  if command == "export" and not FLAGS.out:
    raise UsageError("'export' needs --out=DIR (where the SavedModels go)")
  try:
    config = _stored_config(workdir)
    config_lib.validate(config)
    from nas_tf import registry
    task = registry.task_class(config.task)(config)
    if command == "show" and FLAGS.pareto:
      return show.pareto(workdir, task, FLAGS.out)
    row = wd.find_child(workdir, FLAGS.child, task.objective.rank_key, task.higher_is_better)
    if command == "show":
      return show.architecture(workdir, row, task, FLAGS.out)
    if task.simulated:
      from nas_tf.products.zoo import looked_up_message
      raise config_lib.ConfigError(looked_up_message(command, config.task, row["arch"]))
    if command == "train":
      task.prepare()  # bad data fails here, before TensorFlow starts
      from nas_tf.products.final import train_final
      train_final(config, workdir, task, str(wd.child_number(row)), FLAGS.overwrite)
      return 0
    from nas_tf.products.export import export
    manifest = export(workdir, FLAGS.out, task, str(wd.child_number(row)))
    models = ", ".join(os.path.join(FLAGS.out, name) for name in manifest["models"])
    print(f"exported child {manifest['child'] + 1} ({manifest['weights']} weights): {models}")
    return 0
  except KeyboardInterrupt as e:
    return interrupts.exit_interrupted(e)
  except Exception as e:
    from nas_tf.tasks.training import ChildFailure
    from nas_tf.products.export import ExportError
    from nas_tf.errors import InfrastructureError
    _report(e, bad_input=(config_lib.ConfigError, DataError, wd.WorkdirError),
            stopped=(SearchError, ExportError, ChildFailure, InfrastructureError))


def main(argv: list[str]) -> int:
  from absl import logging
  logging.set_verbosity(logging.WARNING)  # TF's INFO lines would drown the progress lines
  if not FLAGS.verbose:
    quiet.quiet_python_loggers()
  pos = arguments.positional(argv)
  try:
    if FLAGS.workdir and os.path.exists(FLAGS.workdir) and not os.path.isdir(FLAGS.workdir):
      raise UsageError(f"--workdir={FLAGS.workdir} is a file, not a directory")
    if not pos:
      raise UsageError("missing command")
    if pos[0] not in COMMANDS:
      raise UsageError(f"unknown command {pos[0]!r} (known: {', '.join(COMMANDS)})"
                       f"{presets.suggest(pos[0], COMMANDS)}")
    if pos[0] == "zoo":
      from nas_tf.products import zoo
      return print(zoo.listing()) or 0
    if pos[0] == "train" and FLAGS.arch and len(pos) == 2:
      return train_published(pos[1], FLAGS.workdir)
    if pos[0] == "compare":
      from nas_tf.cli import compare
      return compare.run(pos[1:], FLAGS.out, _fail)
    if pos[0] == "score":
      return score.run(pos[1:], FLAGS.config, _fail)
    if pos[0] != "search":
      if len(pos) != 1:
        raise UsageError(f"'{pos[0]}' takes no positional arguments, got {pos[1:]}")
      return after_search(pos[0], FLAGS.workdir)
    if len(pos) != 2:
      raise UsageError(f"'{pos[0]}' takes exactly one task, got {pos[1:] or 'none'}")
    return search(pos[1], FLAGS.workdir)
  except UsageError as e:
    _fail(f"{e}; {USAGE}")


def _help_or_version(argv: list[str]) -> str | None:
  """What ``--help`` / ``help`` / ``--version`` print (absl's own help lists only flags)."""
  args = argv[1:]
  if "--version" in args:
    return f"nas-tf {__version__}"
  if not any(a in ("--help", "-h", "--helpfull", "-?", "help") for a in args):
    return None
  commands = [a for a in args if a in COMMANDS]
  return usage.command_help(commands[0]) if commands else usage.main_help()


def run() -> None:
  """Console-script entry point."""
  if "--verbose" not in sys.argv:
    quiet.install()  # before anything loads TensorFlow
  interrupts.install()
  if sys.argv[1:2] == ["check-gpu"]:  # its own flags (argparse): nas_tf/cli/gpu_check.py
    from nas_tf.cli import gpu_check
    return gpu_check.main(sys.argv[2:])
  if sys.argv[1:2] == ["build-table"]:  # its own flags too: nas_tf/data/nasbench201.py
    from nas_tf.data import nasbench201
    sys.exit(nasbench201.main(sys.argv[2:]))
  text = _help_or_version(sys.argv)
  if text is not None:
    print(text)
    sys.exit(0)
  app.run(main, argv=_define_config(sys.argv), flags_parser=_parse_flags)


def _define_config(argv: list[str]) -> list[str]:
  """Defines ``--config`` as the config the command means, so that ``--config.KEY=VALUE``
  overrides it; returns argv without ``--config=SPEC``."""
  from nas_tf import config as config_lib
  import ml_collections
  try:
    argv, config = arguments.command_config(argv)
  except config_lib.ConfigError as e:
    _fail(str(e))
  except Exception as e:  # a config file of the user's that fails to load
    _fail(f"--config: {usage.clean_message(e)}")
  if config and (message := arguments.unknown_override(argv, config)):
    _fail(message)
  if config is None and any(a.startswith("--config.") for a in argv):
    workdir = arguments.flag_value(argv, "workdir")
    _fail(f"--config.KEY overrides need a config: {workdir} holds no search (no config.json)"
          if workdir else "--config.KEY overrides need a config: pass --config=FILE[:PRESET]")
  config_flags.DEFINE_config_dict("config", config or ml_collections.ConfigDict(),
                                  "The config: --config=PRESET or FILE[:PRESET], then "
                                  "--config.KEY=VALUE overrides.", lock_config=True,
                                  sys_argv=argv)  # where it looks for the overrides
  return argv


if __name__ == "__main__":
  run()
