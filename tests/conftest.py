"""Shared fixtures: tiny tokenizers and random tiny models, all built locally (no network)."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import shutil
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)  # two workers share 2 cores

SENTENCES = [
    "how do i care for a cat ?", "cats need water and food every day .",
    "tell me about the moon .", "the moon goes around the earth once a month .",
    "how do i make a cake ?", "mix flour , eggs and sugar , then bake it .",
    "i can not help with that .", "well , let me think about it for a moment .",
]


def build_tokenizer(texts=SENTENCES, vocab_size=300):
    """A byte-level BPE tokenizer trained in milliseconds, made exactly as the real base's (eos = pad = bos,
    no clean-up of spaces): base_model.train_tokenizer itself."""
    import base_model  # lazily: collecting the tests should not need the whole model stack
    return base_model.train_tokenizer(texts, vocab_size)


def make_tiny_model(kind="gpt2", vocab_size=300, seed=0, n_layer=2, d=32, **config):
    """A random causal LM of the given family with eager attention, float32, eval mode; `config` overrides."""
    from transformers import AutoModelForCausalLM, GPT2Config, GPTNeoXConfig, LlamaConfig

    torch.manual_seed(seed)
    if kind == "gpt2":
        cfg = GPT2Config(vocab_size=vocab_size, n_positions=128, n_embd=d, n_layer=n_layer, n_head=2,
                         resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1)
    elif kind == "llama":
        cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=d, intermediate_size=2 * d, num_hidden_layers=n_layer,
                          num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)
    elif kind == "neox":
        cfg = GPTNeoXConfig(vocab_size=vocab_size, hidden_size=d, intermediate_size=2 * d, num_hidden_layers=n_layer,
                            num_attention_heads=2, max_position_embeddings=128)
    else:
        raise ValueError(kind)
    cfg.pad_token_id = cfg.eos_token_id = cfg.bos_token_id = 0
    cfg.update(config)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    return model.float().eval()


def run_as_script(script, argv):
    """What a user sees from `python script.py ARGV` (lab/x.py: `python -m lab.x ARGV`): {"code", "stdout", "stderr",
    "traceback"}. Run here by runpy with __name__ == "__main__", from the repo root, not in a new interpreter: the
    scripts' imports (torch, transformers) are loaded already, so a table of cases costs milliseconds a case, where
    a subprocess spent seconds importing them again."""
    import contextlib
    import io
    import runpy
    import traceback
    import warnings
    out, err, code, tb = io.StringIO(), io.StringIO(), 0, None
    argv0, cwd = sys.argv, os.getcwd()
    sys.argv = [script, *argv]
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*found in sys.modules", RuntimeWarning)  # runpy: lab.x is imported
            try:
                if "/" in script:  # lab/x.py runs as python -m lab.x
                    runpy.run_module(script[:-3].replace("/", "."), run_name="__main__", alter_sys=True)
                else:
                    runpy.run_path(str(ROOT / script), run_name="__main__")
            except SystemExit as e:  # as the interpreter ends: SystemExit("message") prints it and exits 1
                code = e.code if isinstance(e.code, int) else (1 if e.code else 0)
                if isinstance(e.code, str):
                    print(e.code, file=sys.stderr)
            except Exception:  # an uncaught error: its traceback, exit 1
                code, tb = 1, traceback.format_exc()
                print(tb, file=sys.stderr, end="")
    finally:
        sys.argv = argv0
        os.chdir(cwd)
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue(), "traceback": tb}


ALPHAS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, -1.0], [-2.0, 0.3]])  # alpha points (P, K) of two vectors
PROMPTS = ["how do i care for a cat ?", "tell me", "the moon goes around the earth once a month . how"]


def random_taus(lin, k=2, scale=0.05, seed=1):
    """k random task vectors over what `lin` linearizes."""
    from linearize import TaskVector
    g = torch.Generator().manual_seed(seed)
    return [TaskVector({n: scale * torch.randn(p.shape, generator=g) for n, p in lin.theta0.items()}) for _ in range(k)]


def tiny_base(path):
    """A random 1-layer GPT-2 with a toy-world tokenizer, saved as an HF folder; returns the model."""
    import toyworld
    tok = build_tokenizer(toyworld.corpus(n_prompts=40, seed=0), vocab_size=400)
    model = make_tiny_model("gpt2", vocab_size=len(tok), n_layer=1, d=16)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return model


def once_per_run(tmp_path_factory, name, make):
    """A folder that make(folder) fills once per test run -> the folder. Under -n 2 the tests of a module may run on
    both workers (they are handed out one at a time): the first worker to need the folder makes it, the other waits
    for it and reads the same files instead of making them again."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    from filelock import FileLock
    folder = tmp_path_factory.getbasetemp().parent / name  # this run's folder, shared by its workers
    with FileLock(f"{folder}.lock"):
        if not (folder / "made").exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a worker that failed half-way left
            folder.mkdir()
            make(folder)
            (folder / "made").touch()
    return folder


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tokenizer()


@pytest.fixture(params=["gpt2", "llama", "neox"])
def tiny_model(request):
    return make_tiny_model(request.param)


@pytest.fixture
def tiny_gpt2():
    return make_tiny_model("gpt2")


@pytest.fixture
def tiny_llama():
    return make_tiny_model("llama")


@pytest.fixture
def tiny_neox():
    return make_tiny_model("neox")


@pytest.fixture
def composed(tiny_tokenizer):
    """(tokenizer, tiny GPT-2, its LinearizedModel, two random task vectors): what compose and generate act on."""
    from linearize import LinearizedModel
    model = make_tiny_model("gpt2", len(tiny_tokenizer))
    lin = LinearizedModel(model)
    return tiny_tokenizer, model, lin, random_taus(lin)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow(seconds=0): a test of several seconds (subprocesses, whole pipelines); "
                                       "run first, the longest (seconds: about that long on two cores) before the rest")
    if getattr(config.option, "maxschedchunk", "no xdist") is None:  # unless --maxschedchunk is given
        config.option.maxschedchunk = 1  # xdist's default: a quarter of the suite to each worker at once, in order


def slow_first(item):
    """Sort key: slow tests first, those said to take longest at the head."""
    slow = item.get_closest_marker("slow")
    return (0, -slow.kwargs.get("seconds", 0)) if slow else (1, 0)


def pytest_collection_modifyitems(config, items):
    """The slow tests go first, the longest at the head: with `-n 2`, xdist hands the tests out one at a time
    (pytest_configure), so the long ones start early, on both workers, and each worker ends on short tests. (In
    chunks of a quarter of the suite, the default, all the slow tests ran one after the other on one worker.)"""
    items.sort(key=slow_first)  # stable: the rest keep their order
