"""Run folders: what one script tells another about a run, written so that nothing is ever half-written.

The run-folder contract (the only thing one script tells another about a run):

    runs/<any name>/config.json               every flag of train_tangent.py, resolved, plus
                                              mode ("tangent" | "standard"), objective or weights, seed,
                                              base_fingerprint, versions, git commit, finished (bool)
    runs/<any name>/task_vector.safetensors   tau only, keyed by the base's parameter names
    runs/<any name>/metrics.jsonl, curves.png, ref_logps.pt
    runs/<any name>/checkpoint.pt             what a bit-exact --resume needs, as tensors and plain types
                                              (torch.load(weights_only=True) reads it: no pickle)

Readers find runs by their config.json (`find_runs`), never by parsing folder names: any --out works.
`default_out` is only the name train_tangent.py picks when --out is not given.

Every file is written to a temporary name beside it and renamed into place (`atomic_write`): a reader sees
the old file or the new one, never half of one. An existing output folder that holds none of our files is
refused, never replaced (`check_out`); a model folder (weights, a base, an export) is never a run folder. A bad
input ends the script with one line naming the flag, file or row and what to do (`run_cli`), never with a traceback.

    python -m plumbing.run_folder runs     # lists the finished runs under runs/ as readers see them
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from plumbing.cli import Parser, run_cli

# files only we write: a base (train_config.json), an export (compose.json), results, a bench, a study, a real-LM
# walkthrough (real.json); a training run is recognised by its config.json's base_fingerprint (every Hugging Face
# model folder has a config.json too)
OUR_FILES = ("train_config.json", "compose.json", "summary.json", "sweep.jsonl", "bench.json", "study.json",
             "real.json", "task_vector.safetensors", "checkpoint.pt", "metrics.jsonl")

# ----------------------------------------------------------------------------- atomic writes
def atomic_write(path, write):
    """write(tmp) then rename tmp -> path. `write` is a str (text), or a callable that writes to a path."""
    path = str(path)
    tmp = f"{path}.tmp{os.getpid()}{os.path.splitext(path)[1]}"  # keep the suffix: savefig reads it
    try:
        if callable(write):
            write(tmp)
        else:
            with open(tmp, "w") as f:
                f.write(write)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_folder(out, write, check=None):
    """write(tmp) fills a new folder beside `out`; check() runs last; then the folder replaces `out` whole, so a
    reader sees the old folder or the new one, never a mix. (Callers refuse a folder that is not ours first.)"""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp", dir=out.parent))
    try:
        write(tmp)
        if check is not None:
            check()
        if out.exists():  # move the old one aside, swap, then delete it
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def write_json(path, obj):
    atomic_write(path, json.dumps(obj, indent=2, default=str) + "\n")


def write_jsonl(path, rows):
    atomic_write(path, "".join(json.dumps(r) + "\n" for r in rows))


def read_json(path, fix="delete it and rerun the step that wrote it"):
    """A JSON file of ours; a corrupt one is one clear error that says how to recover."""
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}); the file is corrupt: {fix}") from None


def is_ours(path):
    """True for a folder this repo wrote: a run, a base, an export, a results folder."""
    p = Path(path)
    if any((p / f).exists() for f in OUR_FILES):
        return True
    try:
        return "base_fingerprint" in json.loads((p / "config.json").read_text())
    except (OSError, ValueError):
        return False


def model_files(path):
    """The files that make `path` a model folder: weights (any *.safetensors but a task vector, *.bin, shards and
    their index, GGUF) or the marker of a base (train_config.json) or an export (compose.json); [] for none."""
    p = Path(path)
    found = [f.name for f in p.iterdir() if f.name != "task_vector.safetensors" and (
        f.name.endswith((".safetensors", ".gguf", ".safetensors.index.json", ".bin.index.json", ".h5", ".msgpack"))
        or f.name.startswith("pytorch_model") and f.name.endswith(".bin"))] if p.is_dir() else []
    return sorted(found) + [f for f in ("train_config.json", "compose.json") if (p / f).exists()]


def check_out(path, flag="--out", kind="any"):
    """Refuse an output that would replace a user's data: a path under a file, a file, a non-empty folder that is
    not ours. kind="run" (train_tangent.py) also refuses a model folder; kind="export" (compose.py) takes only an
    export of ours."""
    p = Path(path)
    under = next((a for a in p.parents if a.exists() and not a.is_dir()), None)
    if under is not None:
        raise ValueError(f"{flag} {path}: its parent {under} is a file, not a folder; pass another {flag}")
    if p.exists() and not p.is_dir():
        raise ValueError(f"{flag} {path}: exists and is a file, not a folder; pass another {flag}")
    if not (p.is_dir() and any(p.iterdir())):
        return
    if kind == "run" and model_files(p):
        raise ValueError(f"{flag} {path}: is a model folder (it holds {', '.join(model_files(p)[:3])}), not a run "
                         f"folder; pass another {flag} (nothing was changed)")
    if kind == "export" and not (p / "compose.json").exists():
        raise ValueError(f"{flag} {path}: exists and is not a model exported by compose.py; pass another {flag} "
                         f"(nothing was changed)")
    if not is_ours(p):
        raise ValueError(f"{flag} {path}: the folder exists and is not a run of ours; pass another {flag} "
                         f"(nothing was changed)")


# ----------------------------------------------------------------------------- run folders
def default_out(mode, objective=None, weights=None, root="runs"):
    """The folder train_tangent.py uses when --out is not given: ts-<obj>, dpo-<obj>, (ts-)scal-<weights>."""
    name = objective or "scal-" + weights.replace("=", "").replace(",", "_")
    return os.path.join(root, ("ts-" if mode == "tangent" else "dpo-" if objective else "") + name)


def newer_than(path, inputs):
    """True when `path` exists and was written after every file in `inputs` (a result its inputs did not change
    since): how lab/study.py and lab/smollm2.py reuse an evaluation, and lab/smollm2.py its examples."""
    path = Path(path)
    return path.exists() and all(path.stat().st_mtime > Path(f).stat().st_mtime for f in inputs)


def read_config(run_dir):
    """config.json of a training run, checked for the keys readers rely on."""
    path = Path(run_dir) / "config.json"
    cfg = read_json(path, fix=f"delete {run_dir} and train the run again")
    missing = [k for k in ("mode", "objective", "weights", "seed") if k not in cfg]
    if missing:
        raise ValueError(f"{path}: no '{missing[0]}' field; this is not a train_tangent.py config: "
                         f"delete {run_dir} and train the run again")
    return cfg


def find_runs(root):
    """[(folder, config)] of the finished training runs anywhere under `root` (any folder names)."""
    found = []
    for cfg_path in sorted(Path(root).rglob("config.json")) if Path(root).is_dir() else []:
        d = cfg_path.parent
        if (d / "task_vector.safetensors").exists():
            cfg = read_config(d)
            if cfg.get("finished"):
                found.append((d, cfg))
    return found


def run_info():
    """Versions and git commit, recorded in every config.json."""
    import transformers
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=os.path.dirname(os.path.abspath(__file__)),
                                capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                         "transformers": transformers.__version__}, "git_commit": commit}


def plot_curves(rows, path):
    """A training run's curves.png: loss and reward accuracy per step, train and held-out, titled with its folder."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key in zip(axes, ("loss", "rewards/accuracies")):
        for prefix, style in (("", "-"), ("eval/", "o-")):
            pts = [(r["step"], r[prefix + key]) for r in rows if prefix + key in r]
            if pts:
                ax.plot(*zip(*pts), style, label=("eval " if prefix else "train ") + key, alpha=0.8)
        ax.set_xlabel("step"), ax.set_title(key), ax.legend()
    fig.suptitle(os.path.basename(os.path.dirname(os.path.abspath(path))))
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)


def main(argv=None):
    p = Parser(description="List the finished training runs under a folder, as readers find them.")
    p.add_argument("root", nargs="?", default="runs", help="folder to search (any depth)")
    root = p.parse_args(argv).root
    for d, cfg in find_runs(root):
        what = f"objective={cfg['objective']}" if cfg["objective"] else f"weights={cfg['weights']}"
        print(f"{d}: mode={cfg['mode']} {what} seed={cfg['seed']}")


if __name__ == "__main__":
    run_cli(main)
