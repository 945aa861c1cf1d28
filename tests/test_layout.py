"""The shape of the repo: the lesson at the root, the lab behind it, and dependencies that point one way.

- the lesson's core (the root files but evaluate.py) loads no measurement (measure/) or experiment (lab/) module;
- nothing at the root imports lab/; measure/ imports no lab/;
- no import circle among the repo's own modules, counting the imports inside functions too;
- `import train_tangent, compose` stays small enough to read.
"""
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

CORE = ["toyworld", "data", "base_model", "linearize", "dpo_loss", "train_tangent", "compose", "generate"]
LAB, MEASURE, PLUMBING = "lab", "measure", "plumbing"


def own_modules():
    """{module name: path} of every .py file of the repo outside tests/ (and the venv). The walk never enters the
    skipped folders: the venv and runs/ hold tens of thousands of files, and globbing them took seconds."""
    out = {}
    for folder, subfolders, files in os.walk(ROOT):
        rel = Path(folder).relative_to(ROOT)
        if not rel.parts:
            subfolders[:] = [d for d in subfolders if d not in ("tests", "runs", "results") and not d.startswith(".")]
        for f in files:
            if f.endswith(".py"):
                name = ".".join((rel / f[:-3]).parts)
                out[name.removesuffix(".__init__")] = Path(folder) / f
    return out


def imports_of(path, mods):
    """The repo modules a file imports anywhere in it (top level or inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in mods}
    return found


def find_circle(graph):
    """A list of modules that import each other in a circle (the first one found), or None."""
    state = {}

    def visit(m, path):
        state[m] = "open"
        for d in sorted(graph.get(m, ())):
            if state.get(d) == "open":
                return path[path.index(d):] + [d]
            if d not in state and (found := visit(d, path + [d])):
                return found
        state[m] = "done"
    for m in sorted(graph):
        if m not in state and (found := visit(m, [m])):
            return found
    return None


def loaded_by(*codes):
    """The repo's own modules loaded after each of `codes`, run one after the other in one fresh interpreter."""
    own = (f"sorted(n for n, m in list(sys.modules.items()) if (getattr(m, '__file__', None) or '')"
           f".startswith({str(ROOT)!r}) and '.venv' not in m.__file__)")
    probe = "import json, sys\n" + "".join(f"{c}\nprint(json.dumps({own}))\n" for c in codes)
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines()[-len(codes):]]


def test_the_root_shows_the_lesson():
    root = sorted(p.name for p in ROOT.glob("*.py"))
    assert len(root) <= 10, root
    for lesson in ("linearize.py", "dpo_loss.py", "train_tangent.py", "compose.py", "evaluate.py"):
        assert lesson in root


@pytest.mark.slow
def test_the_lesson_loads_no_measurement_or_experiment_code():
    small, mods = loaded_by("import train_tangent, compose", "import " + ", ".join(CORE))
    assert not [m for m in mods if m.split(".")[0] in (LAB, MEASURE)], mods
    lines = sum(len(own_modules()[m].read_text().splitlines()) for m in small)
    # about 2,400 lines: what a reader of training and composition meets; +110 since linearize.py holds the frozen
    # trunk (Trunk, trunk_depth), which every DPO forward, sweep and decoding step now runs through; +36 for one
    # tangent per slider setting (stack's mixes, generate's choice) and the trunk's memo of the batches it has seen;
    # +10 for that memo shared by every model with the same frozen weights (the runs of one seed); +44 for the prefix
    # all rows of a batch share (the chat template's system prompt), run once, and the SFT through the trunk
    assert lines <= 2629, (lines, small)


def test_dependencies_point_one_way_and_never_in_a_circle():
    mods = own_modules()
    graph = {m: imports_of(p, mods) - {m} for m, p in mods.items()}
    for m, deps in graph.items():
        if "." not in m:  # the root: the lesson and what it stands on
            assert not {d for d in deps if d.split(".")[0] == LAB}, (m, deps)
            if m != "evaluate":  # the experiment step calls the measurement tools; nothing else at the root does
                assert not {d for d in deps if d.split(".")[0] == MEASURE}, (m, deps)
        if m.startswith(MEASURE) or m.startswith(PLUMBING):
            assert not {d for d in deps if d.split(".")[0] == LAB}, (m, deps)
        if m.startswith(PLUMBING):  # plumbing stands below everything: it imports no lesson or measurement file
            assert all(d.split(".")[0] == PLUMBING for d in deps), (m, deps)
    assert find_circle(graph) is None, "import circle: " + " -> ".join(find_circle(graph))


def test_the_circle_finder_can_fail(tmp_path):
    """The check above on a made-up pair of files that import each other."""
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    import a\n")
    (tmp_path / "c.py").write_text("from a import x\n")
    mods = {n: tmp_path / f"{n}.py" for n in "abc"}
    graph = {m: imports_of(p, mods) for m, p in mods.items()}
    assert graph == {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert find_circle(graph) == ["a", "b", "a"]
    assert find_circle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
