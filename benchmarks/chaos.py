"""kill -9 at random moments, for every strategy: nothing finished is lost or duplicated, the
resumed search equals an uninterrupted one, and no process outlives its search.

For each strategy (nas_rl, random, evolution, pnas, darts, enas; the proposers also with the
``processes`` executor and 2 workers), at the smoke preset on ../shared/data/cifar10-mini:
1. an uninterrupted run with the seed (the reference);
2. a chain: start the same command in a new work directory, SIGKILL its main process at a
   moment drawn uniformly from [2 s, KILL_WINDOW x the reference's duration], check that no
   process of its group is alive 3 s later, start it again, ... until it finishes; a chain
   that finishes before N kills have landed is followed by another in a new directory;
3. compare each chain's children.jsonl (index, id, reward, status) and best.json with the
   reference.
Then one kill during ``nas-tf train`` and one during ``nas-tf export`` of the nas_rl search.

    python benchmarks/chaos.py                  # 10 kills per strategy (about an hour here)
    python benchmarks/chaos.py --kills 2 --only nas_rl,darts

It prints a table: kills, finished children/epochs redone (finished, then trained again
after a kill: lost work), duplicated rows, identical to the reference, orphaned processes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIFAR = os.path.join(ROOT, "..", "shared", "data", "cifar10-mini", "cifar-10-python.tar.gz")
KILL_WINDOW = 0.6  # kills land in [2 s, 0.6 x the reference's duration] of each run
PROPOSERS = ("nas_rl", "random", "evolution")
STRATEGIES = (*PROPOSERS, "pnas", "darts", "enas")
# A line that reports a finished unit of work: "[child 3/8] ..." or "[darts epoch 1/2] ...".
FINISHED = re.compile(r"^\[(child|\w+ epoch) (\d+)/\d+\]")


def command(method: str, workdir: str, processes: bool) -> list[str]:
  extra = ["--config.executor.kind=processes", "--config.executor.workers=2"] if processes \
      else []
  return [sys.executable, "-m", "nas_tf", "search", "cifar10", f"--method={method}",
          "--config=smoke", f"--config.data.source={CIFAR}", f"--workdir={workdir}", *extra]


def group_alive(pgid: int) -> list[int]:
  """Processes of the process group ``pgid`` still alive (zombies excluded)."""
  alive = []
  for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
      with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
      continue
    if int(fields[2]) == pgid and fields[0] != "Z":
      alive.append(int(pid))
  return alive


def run(cmd: list[str], kill_at: float | None) -> tuple[int | None, str, int]:
  """(return code or None when killed, stdout, orphans): runs ``cmd`` in its own process
  group, SIGKILLs its main process ``kill_at`` seconds in (unless it ends first)."""
  with tempfile.TemporaryFile("w+") as out:
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            start_new_session=True)
    try:
      proc.wait(timeout=kill_at)
      killed = False
    except subprocess.TimeoutExpired:
      proc.send_signal(signal.SIGKILL)
      proc.wait()
      killed = True
    orphans = 0
    if killed:
      time.sleep(3.0)  # workers watch their search process and follow it within a second
      orphans = len(group_alive(proc.pid))
      if orphans:
        os.killpg(proc.pid, signal.SIGKILL)
    out.seek(0)
    return (None if killed else proc.returncode), out.read(), orphans


def rows(workdir: str) -> list[tuple]:
  """(index, id, reward, status) by index: with 2 workers children finish, and are
  recorded, in either order, killed or not."""
  with open(os.path.join(workdir, "children.jsonl")) as f:
    return sorted((r["index"], r["id"], r["reward"], r["status"])
                  for r in map(json.loads, filter(str.strip, f)))


def best(workdir: str):
  with open(os.path.join(workdir, "best.json")) as f:
    record = json.load(f)
  return record.get("id"), json.dumps(record.get("arch"), sort_keys=True)


def finished_units(output: str) -> set[tuple[str, int]]:
  return {(m.group(1), int(m.group(2))) for m in map(FINISHED.match, output.splitlines()) if m}


def chaos(name: str, cmd_for, kills: int, rng: random.Random, base: str) -> dict:
  """The reference run and the killed chain of one configuration; one table row."""
  reference = os.path.join(base, f"{name}-reference")
  started = time.perf_counter()
  code, output, _ = run(cmd_for(reference), None)
  duration = time.perf_counter() - started
  if code != 0:
    raise RuntimeError(f"{name}: the reference run failed:\n{output[-2000:]}")
  totals = {"kills": 0, "redone": 0, "duplicated": 0, "lost": 0, "identical": True,
            "orphans": 0, "chains": 0}
  while totals["kills"] < kills:  # a chain that finishes early leaves kills for a new one
    chain = killed_chain(os.path.join(base, f"{name}-killed-{totals['chains']}"), cmd_for,
                         kills - totals["kills"], duration, rng, reference)
    totals = {k: (totals[k] and chain[k]) if k == "identical" else totals[k] + chain.get(k, 1)
              for k in totals}
  return {"run": name, "reference_s": round(duration, 1), **totals}


def killed_chain(workdir: str, cmd_for, kills: int, duration: float, rng: random.Random,
                 reference: str) -> dict:
  """Runs the command in ``workdir`` with up to ``kills`` kills until it finishes; compares
  the result with ``reference``."""
  seen, redone, orphans, delivered = set(), 0, 0, 0
  while True:
    kill_at = rng.uniform(2.0, max(3.0, KILL_WINDOW * duration)) if delivered < kills else None
    code, output, stray = run(cmd_for(workdir), kill_at)
    units = finished_units(output)
    redone += len(units & seen)
    seen |= units
    orphans += stray
    if code is None:
      delivered += 1
      continue
    if code != 0:
      raise RuntimeError(f"{workdir}: a resumed run failed (rc {code}):\n{output[-2000:]}")
    break
  killed_rows, reference_rows = rows(workdir), rows(reference)
  indices = [r[0] for r in killed_rows]  # sorted: a duplicate shows as a repeated index
  return {"kills": delivered, "redone": redone, "duplicated": len(indices) - len(set(indices)),
          "lost": len({r[0] for r in reference_rows} - set(indices)),
          "identical": killed_rows == reference_rows and best(workdir) == best(reference),
          "orphans": orphans}


def after_search(search: str, rng: random.Random, base: str) -> list[dict]:
  """One kill during ``nas-tf train`` and one during ``export`` of a finished search."""
  table = []
  for what in ("train", "export"):
    results = {}
    for variant in ("reference", "killed"):
      workdir = os.path.join(base, f"{what}-{variant}")
      shutil.copytree(search, workdir)
      out = os.path.join(workdir, "exported")
      cmd = [sys.executable, "-m", "nas_tf", what, f"--workdir={workdir}"] + (
          [f"--out={out}"] if what == "export" else [])
      started = time.perf_counter()
      kill_at = None if variant == "reference" else rng.uniform(
          2.0, max(3.0, KILL_WINDOW * results["reference"]["seconds"]))
      code, output, orphans = run(cmd, kill_at)
      killed = code is None
      if killed:
        code, output, _ = run(cmd, None)
      if code != 0:
        raise RuntimeError(f"{what} ({variant}) failed:\n{output[-2000:]}")
      path = os.path.join(workdir, "final", "result.json") if what == "train" else \
          os.path.join(out, "export.json")
      with open(path) as f:
        record = json.load(f)
      record.pop("train_seconds", None)
      leftovers = [p for p in os.listdir(out if what == "export" else workdir)
                   if p.endswith(".tmp")]
      results[variant] = {"record": record, "seconds": time.perf_counter() - started,
                          "killed": killed, "orphans": orphans, "leftovers": len(leftovers)}
    killed = results["killed"]
    table.append({"run": f"nas_rl {what}", "kills": int(killed["killed"]),
                  "reference_s": round(results["reference"]["seconds"], 1), "redone": "-",
                  "duplicated": 0, "lost": 0, "orphans": killed["orphans"],
                  "identical": killed["record"] == results["reference"]["record"]
                  and not killed["leftovers"]})
  return table


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--kills", type=int, default=10, help="kills per strategy")
  parser.add_argument("--only", default="", help="comma-separated runs, e.g. nas_rl,darts,"
                      "random/processes,train")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  if not os.path.exists(CIFAR):
    sys.exit(f"chaos: {CIFAR} is absent")
  rng = random.Random(args.seed)
  runs = [(m, False) for m in STRATEGIES] + [(m, True) for m in PROPOSERS]
  only = set(filter(None, args.only.split(",")))
  table = []
  with tempfile.TemporaryDirectory() as base:
    for method, processes in runs:
      name = f"{method}/processes" if processes else method
      if only and name not in only:
        continue
      row = chaos(name.replace("/", "-"), lambda w: command(method, w, processes), args.kills,
                  rng, base)
      row["run"] = name
      table.append(row)
      print(json.dumps(row), flush=True)
    if not only or "train" in only:
      search = os.path.join(base, "nas_rl-reference")
      if not os.path.exists(search):
        run(command("nas_rl", search, False), None)
      table += after_search(search, rng, base)
  print("\n| run | kills (chains) | reference (s) | finished work redone | duplicated | lost | "
        "identical | orphans |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
  for r in table:
    print(f"| {r['run']} | {r['kills']} ({r.get('chains', 1)}) | {r['reference_s']} | "
          f"{r['redone']} | "
          f"{r['duplicated']} | {r['lost']} | {'yes' if r['identical'] else 'NO'} | "
          f"{r['orphans']} |")


if __name__ == "__main__":
  main()
