"""The package's shape: imports point one way, the registry loads lazily, and a new method is
one module plus one registry line."""

import ast
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import tiny_cifar_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "nas_tf")

# cli -> products.export | products.zoo | cli.gpu_check -> products.final -> runner
#   -> strategies | tasks -> models | diagrams | proxies -> spaces -> core (store, runtime,
#   config, data).
# A module may import its own unit and any lower level, never upward or sideways.
LEVELS = [
    ({"nas_tf", "nas_tf.config", "nas_tf.schema", "nas_tf.errors", "nas_tf.registry",
      "nas_tf.presets", "nas_tf.data", "nas_tf.store", "nas_tf.runtime"}, 0),
    ({"nas_tf.spaces"}, 1),
    ({"nas_tf.models"}, 2), ({"nas_tf.diagrams"}, 2), ({"nas_tf.proxies"}, 2),
    ({"nas_tf.strategies"}, 3), ({"nas_tf.tasks"}, 3),
    ({"nas_tf.runner"}, 4),
    ({"nas_tf.products.final"}, 5),
    ({"nas_tf.products.export"}, 6), ({"nas_tf.products.zoo"}, 6), ({"nas_tf.cli.gpu_check"}, 6),
    ({"nas_tf.cli", "nas_tf.api"}, 7),
    ({"nas_tf.__main__"}, 8),
]


def unit_of(module: str) -> tuple[int, int]:
  """(level, unit number) of a module: the entry naming it or its nearest package."""
  parts = module.split(".")
  for end in range(len(parts), 0, -1):
    prefix = ".".join(parts[:end])
    for number, (names, level) in enumerate(LEVELS):
      if prefix in names:
        return level, number
  raise AssertionError(f"{module} is in no layer of the layout; add it to LEVELS")


def modules() -> dict[str, str]:
  found = {}
  for folder, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
        found[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = path
  return found


def imports_of(path: str, module: str) -> set[str]:
  """Every nas_tf module ``path`` imports, at module level or inside functions."""
  package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
  found = set()
  for node in ast.walk(ast.parse(open(path).read())):
    if isinstance(node, ast.Import):
      found.update(a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                        + ([base] if base else []))
      found.add(base)
      found.update(f"{base}.{a.name}" for a in node.names)
  known = modules()
  if module == "nas_tf":  # the root's facades, imported when used: nas_tf.search(), and
    found -= {"nas_tf.api", "nas_tf.models", "nas_tf.models.choices"}  # LayerChoice, ...
  return {m for m in found if m in known and m != module}


def test_every_import_points_down_the_layers():
  upward = []
  graph = {}
  for module, path in sorted(modules().items()):
    level, unit = unit_of(module)
    graph[module] = imports_of(path, module)
    for target in graph[module]:
      target_level, target_unit = unit_of(target)
      if target_unit != unit and target_level >= level:
        upward.append(f"{module} imports {target}")
  assert not upward, "imports against the layout:\n" + "\n".join(upward)
  # No cycle, even within a unit (a package's __init__ and its modules included).
  state = {}

  def visit(module, trail):
    if state.get(module) == "done":
      return
    assert state.get(module) != "open", "import cycle: " + " -> ".join(trail + [module])
    state[module] = "open"
    for target in sorted(graph[module]):
      visit(target, trail + [module])
    state[module] = "done"
  for module in graph:
    visit(module, [])


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
  source = tmp_path / "probe.py"
  source.write_text("def f():\n  from nas_tf.runner import loop\nfrom . import seeds\n")
  assert imports_of(str(source), "nas_tf.spaces.probe") >= {"nas_tf.runner.loop",
                                                           "nas_tf.spaces"}


def test_modules_stay_short():
  long = {m: n for m, path in modules().items() if (n := len(open(path).readlines())) > 300}
  assert not long, f"modules over 300 lines: {long}"


def test_the_registry_and_config_checks_import_no_tensorflow():
  code = ("import sys\n"
          "from nas_tf import config, registry\n"
          "sys.path.insert(0, 'tests')\n"
          "from conftest import load_config\n"
          "for task in registry.TASKS:\n"
          "  c = load_config('smoke', task)\n"
          "  c.data.source = c.data.source or 'a table'\n"  # lookup tasks ship no default path
          "  config.validate(c)\n"
          "for name in registry.SPACES:\n"
          "  registry.space_class(name)\n"
          "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
          "assert not heavy, heavy\n")
  subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_every_registry_entry_resolves_to_its_family():
  from nas_tf import registry
  from nas_tf.strategies.base import OneShot, Proposer
  from nas_tf.spaces.base import SearchSpace
  for name, entry in registry.SPACES.items():
    space = registry.space_class(name)
    assert issubclass(space, SearchSpace) and space.name == name
    if entry.models is None:  # a tabular benchmark's space: never built
      with pytest.raises(KeyError, match="table of published results"):
        registry.models_for(name)
      continue
    models = registry.models_for(name)
    assert hasattr(models, "build_classifier") or hasattr(models, "build_language_model")
  for name, entry in registry.STRATEGIES.items():
    family = {"proposer": Proposer, "one_shot": OneShot}[entry.family]
    assert issubclass(registry.strategy_class(name), family), name
  for name in registry.TASKS:
    assert registry.task_class(name).name == name
  for name in registry.EXECUTORS:
    assert callable(registry.executor_factory(name))


def test_a_new_strategy_is_one_module_plus_one_registry_line(tmp_path, monkeypatch):
  from nas_tf import registry
  from nas_tf.store import workdir as wd
  from nas_tf.runner.loop import Search
  from nas_tf.tasks.cifar10 import Cifar10Task
  module = tmp_path / "first_choice.py"
  module.write_text(
      "import numpy as np\n"
      "from nas_tf.spaces.base import plan_length\n"
      "from nas_tf.strategies.base import Proposer\n\n"
      "class FirstChoice(Proposer):\n"
      "  name = 'first_choice'\n\n"
      "  @classmethod\n"
      "  def from_config(cls, config, space, compiled=True):\n"
      "    return cls()\n\n"
      "  def propose(self, plan, m, seed):\n"
      "    return np.zeros((m, plan_length(plan)), np.int32)\n\n"
      "  def tell(self, plan, tokens, rewards):\n"
      "    return {'finite': True, 'reward': float(np.mean(rewards))}\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  monkeypatch.setitem(registry.STRATEGIES, "first_choice",
                      registry.StrategyEntry("first_choice:FirstChoice", "proposer",
                                             "first choice"))
  config = tiny_cifar_config(2, **{"search.strategy": "first_choice"})
  Search(config, str(tmp_path / "w"), Cifar10Task(config), log=lambda _: None).run()
  rows = wd.read_jsonl(str(tmp_path / "w" / "children.jsonl"))
  assert [r["status"] for r in rows] == ["ok", "ok"]
  assert all(np.all(np.array(r["arch"]["tokens"]) == 0) for r in rows)


def test_unknown_names_say_what_is_known():
  from nas_tf import registry
  with pytest.raises(KeyError, match="unknown strategy 'hill_climbing' .known: nas_rl, random"):
    registry.strategy_class("hill_climbing")
  assert registry.space_name("enas", "ptb") == "enas_rnn"
  assert registry.space_name("darts", "ptb") is None
  assert registry.no_space_message("darts", "ptb") == (
      "search.strategy=darts: DARTS does not search ptb; it searches cifar10, images with "
      "space.kind=cell or user (--method=darts sets both)")


def test_the_top_level_holds_the_core_and_every_group_has_its_package():
  # Command-line pieces, the work directory's files, process matters and products each live
  # in their package (cli/, store/, runtime/, products/); a new module finds its group there.
  top = {m for m, path in modules().items()
         if m.count(".") == 1 and not path.endswith("__init__.py")}
  assert top == {"nas_tf.__main__", "nas_tf.api", "nas_tf.config", "nas_tf.schema",
                 "nas_tf.errors", "nas_tf.registry", "nas_tf.presets", "nas_tf.diagrams"}
  for module, path in modules().items():
    if path.endswith("__init__.py") and module != "nas_tf.configs":
      assert ast.get_docstring(ast.parse(open(path).read())), f"{module} says what it holds"


def test_every_package_is_in_the_wheel():
  # pyproject.toml lists the packages by hand (nas_tf.configs comes from configs/): a new
  # folder left out installs without it, and the installed nas-tf fails on its import.
  import tomllib
  listed = set(tomllib.load(open(os.path.join(ROOT, "pyproject.toml"), "rb"))
               ["tool"]["setuptools"]["packages"])
  found = {m for m, path in modules().items() if path.endswith("__init__.py")}
  assert found | {"nas_tf.configs"} == listed
