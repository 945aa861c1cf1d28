"""train_tangent.py: artifacts per mode, tangent = standard at tau = 0, a step on scored logits = the full-logits
step (GPT-2, Llama), --precompute-ref frees the reference, bit-exact resume after SIGKILL (from a checkpoint that
loads with weights_only=True), DDP on two gloo processes = one process, bf16 vs fp32 J tau, IPO on per-token
averages, NaN stop, bad flags / data / files refused in one line with nothing finished-looking left behind. Tiny
local base + data."""
import gc
import json
import math
import os
import signal
import socket
import shutil
import subprocess
import sys
import weakref

import pytest
import torch
from safetensors import safe_open

from conftest import ROOT, build_tokenizer, make_tiny_model
import train_tangent as T
from dpo_loss import concatenated_logps, preference_loss, sequence_logps
from linearize import TaskVector
from plumbing.models import load_model
from plumbing.checkpoints import warmup_cosine
from plumbing.cli import run_cli
from toyworld import DEFAULT_CORRELATION

TRAIN_KEYS = {"loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
              "logps/rejected", "grad_norm", "lr", "tokens_per_s"}
META_KEYS = {"mode", "objective", "weights", "beta", "loss", "steps", "linearize", "seed", "base", "base_fingerprint"}
RESPONSES = [("cats need water and food every day .", 4, 1), ("i can not help with that .", 0, 0),
             ("well , let me think about it for a moment . cats need water and food every day .", 3, 3)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny GPT-2 base folder and a rated-row JSONL (helpfulness, verbosity, safety) on disk."""
    d = tmp_path_factory.mktemp("world")
    tok = build_tokenizer()
    model = make_tiny_model("gpt2", len(tok))
    model.save_pretrained(d / "base"), tok.save_pretrained(d / "base")
    with open(d / "rated.jsonl", "w") as f:
        for i in range(60):
            for text, h, v in RESPONSES:
                f.write(json.dumps({"prompt": f"question {i} : how do i care for a cat ?", "response": " " + text,
                                    "helpfulness": h, "verbosity": v, "safety": 4}) + "\n")
    return d


def flags(world, out, *extra, steps=4):
    return ["--base", str(world / "base"), "--data", str(world / "rated.jsonl"), "--out", str(out), "--steps",
            str(steps), "--batch-size", "4", "--eval-every", "2", "--save-every", "2", "--max-length", "64",
            "--eval-pairs", "8", "--warmup-steps", "2", *extra]


def rows_of(out):
    return [json.loads(line) for line in open(out / "metrics.jsonl")]


@pytest.mark.parametrize("extra", [["--mode", "tangent", "--objective", "helpfulness"],
                                   ["--mode", "standard", "--objective", "helpfulness"],
                                   ["--mode", "standard", "--weights", "helpfulness=0.7,verbosity=-0.3"],
                                   ["--mode", "standard", "--objective", "verbosity", "--precompute-ref"]])
def test_run_writes_artifacts(world, tmp_path, extra):
    out = tmp_path / "run"
    assert T.train(T.parse_args(flags(world, out, *extra))) == str(out)
    cfg = json.load(open(out / "config.json"))
    assert cfg["finished"] and cfg["steps"] == 4 and cfg["mode"] == extra[1] and "torch" in cfg["versions"]
    assert {"git_commit", "lr", "beta", "linearize", "seed", "base_fingerprint"} <= set(cfg)
    rows = rows_of(out)
    train_rows, eval_rows = [r for r in rows if "loss" in r], [r for r in rows if "eval/loss" in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4] and [r["step"] for r in eval_rows] == [2, 4]
    assert all(TRAIN_KEYS <= set(r) for r in train_rows)
    assert {"eval/rewards/accuracies", "eval/rewards/margins", "eval/logps/chosen"} <= set(eval_rows[0])
    assert open(out / "curves.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with safe_open(str(out / "task_vector.safetensors"), "pt") as f:
        meta = f.metadata()
    assert META_KEYS <= set(meta) and meta["mode"] == extra[1] and meta["steps"] == "4"
    if "--weights" in extra:
        assert meta["weights"] == "helpfulness=0.7,verbosity=-0.3"
    tau = TaskVector.load(out, base=load_model(world / "base"))  # fingerprint matches the base
    assert tau.norm() > 0
    if "--precompute-ref" in extra:  # cached for the visited pairs only; equal to an independent reference forward
        import data
        base, tok = load_model(world / "base"), build_tokenizer()
        pairs = data.load_pairs(str(world / "rated.jsonl"), "verbosity", split="train")
        logps = torch.load(out / "ref_logps.pt", weights_only=True)["logps"]
        visited = {i for s in range(4) for i in T.batch_indices(len(pairs), 4, s, 0)}
        assert {i for i in range(len(pairs)) if not logps[i].isnan().any()} == visited
        i = min(visited)
        b = data.collate_pairs([data.tokenize_pair(tok, pairs[i], 64)], tok.pad_token_id)
        want = sequence_logps(base(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits, b["labels"])
        torch.testing.assert_close(logps[i], want.detach(), rtol=1e-5, atol=1e-4)
    mtime = os.path.getmtime(out / "task_vector.safetensors")  # a finished run is skipped, not retrained
    T.train(T.parse_args(flags(world, out, *extra)))
    assert os.path.getmtime(out / "task_vector.safetensors") == mtime


def pair_batch(tokenizer):
    """(4, T) collated batch of two pairs of unequal lengths: prompt, response and padding positions all occur."""
    import data
    pairs = [{"prompt": "how do i make a cake ?", "chosen": " mix flour , eggs and sugar , then bake it .",
              "rejected": " i can not help with that ."}, {"prompt": "tell me about the moon .",
              "chosen": " the moon goes around the earth once a month .", "rejected": " well , let me think ."}]
    return data.collate_pairs([data.tokenize_pair(tokenizer, p, 64) for p in pairs], tokenizer.pad_token_id)


def test_tangent_equals_standard_at_theta0(tiny_tokenizer):
    """At tau = 0 the linearized policy is the base: same log-probs, and d loss/d tau = d loss/d theta."""
    batch = pair_batch(tiny_tokenizer)
    grads = {}
    for mode in ("tangent", "standard"):
        policy = T.make_policy(mode, make_tiny_model("gpt2", len(tiny_tokenizer)))
        pc, pr, rc, rr = T.policy_logps(policy, batch)
        torch.testing.assert_close(torch.stack([pc, pr]), torch.stack([rc, rr]), rtol=1e-5, atol=1e-5)
        preference_loss(pc, pr, rc, rr, beta=0.1)[0].mean().backward()
        named = policy.tau.items() if mode == "tangent" else policy.policy.named_parameters()
        grads[mode] = {n.replace("-", "."): p.grad for n, p in named}
    assert set(grads["tangent"]) == set(grads["standard"])
    for n, g in grads["standard"].items():
        torch.testing.assert_close(grads["tangent"][n], g, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("mode", ["tangent", "standard"])
def test_step_on_scored_logits_equals_the_full_logits_step(tiny_tokenizer, mode, arch):
    """Issue 14: the training step computes logits only at the scored positions (N, V); its loss and its gradient
    (d/d tau, or d/d theta) equal those of the whole (B, T, V) logits of the model's own forward, away from theta0."""
    batch, gen = pair_batch(tiny_tokenizer), torch.Generator().manual_seed(1)
    policy = T.make_policy(mode, make_tiny_model(arch, len(tiny_tokenizer)))
    trainable = [p for p in policy.parameters() if p.requires_grad]
    with torch.no_grad():  # move off theta0, so that the policy and the reference differ
        for p in trainable:
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    ids, mask, labels, n = batch["input_ids"], batch["attention_mask"], batch["labels"], 2
    assert (labels[:, 1:] == -100).any() and labels.shape[0] * (labels.shape[1] - 1) > (labels != -100).sum()
    losses, grads = [], []
    for scored in (True, False):
        if scored:  # what train() runs
            pc, pr, rc, rr = T.policy_logps(policy, batch)
        else:  # every position: the jvp of the plain HF forward, or the two HF forwards
            f0, f = (policy(ids, mask) if mode == "tangent" else
                     (policy.ref[0](input_ids=ids, attention_mask=mask).logits.detach(),
                      policy.policy(input_ids=ids, attention_mask=mask).logits))
            assert f.shape[:2] == ids.shape
            (pc, pr), (rc, rr) = concatenated_logps(f, labels, n), concatenated_logps(f0, labels, n)
        loss = preference_loss(pc, pr, rc, rr, beta=0.1)[0].mean()
        losses.append(loss.detach())
        grads.append(torch.autograd.grad(loss, trainable))
    assert abs(float(losses[1]) - 0.6931) > 1e-3  # off theta0: not the trivial log 2
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-5, atol=1e-6)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_precompute_ref_frees_the_reference_model(world, tmp_path, monkeypatch):
    """Issue 14: once ref_logps.pt is built the frozen model is gone (only theta0 of the trainable tensors stays);
    tau is still theta - theta0 of the base, and the run computes the same losses as one keeping the reference."""
    loaded, real = [], T.load_model

    def tracked(*a, **k):
        model = real(*a, **k)
        loaded.append(weakref.ref(model))
        return model

    monkeypatch.setattr(T, "load_model", tracked)
    extra = ["--mode", "standard", "--objective", "helpfulness", "--linearize", r"h\.1\.", "--eval-every", "1"]
    out, policy = T.train(T.parse_args(flags(world, tmp_path / "pre", *extra, "--precompute-ref", steps=2)),
                          return_policy=True)
    gc.collect()
    assert len(loaded) == 1 and loaded[0]() is None and policy.ref == []
    theta, base = dict(policy.policy.named_parameters()), dict(load_model(world / "base").named_parameters())
    tau = TaskVector.load(out)
    assert set(tau.names) == {n for n in base if n.startswith("transformer.h.1.")} and tau.norm() > 0
    assert all(torch.equal(tau[n], (theta[n] - base[n]).detach()) for n in tau.names)
    kept = TaskVector.load(T.train(T.parse_args(flags(world, tmp_path / "kept", *extra, steps=2))))
    assert all(torch.allclose(tau[n], kept[n], rtol=1e-4, atol=1e-7) for n in tau.names)
    losses = lambda run: [r.get("loss", r.get("eval/loss")) for r in rows_of(tmp_path / run)]
    assert losses("pre") == pytest.approx(losses("kept"), rel=1e-5)  # held-out rows use cached log pi_0 too


def test_config_records_base_seed_and_correlation(world, tmp_path):
    base = tmp_path / "base"  # a base made by base_model.py records its seed in train_config.json
    shutil.copytree(world / "base", base)
    for b, want in ((world / "base", None), (base, 7)):
        if want is not None:
            (base / "train_config.json").write_text(json.dumps({"seed": want, "steps": 10}))
        argv = flags(world, tmp_path / f"run{want}", "--objective", "helpfulness", "--eval-every", "100", steps=1)
        cfg = json.load(open(T.train(T.parse_args(argv + ["--base", str(b)])) + "/config.json"))
        assert cfg["base_seed"] == want and "correlation" in cfg and cfg["correlation"] is None  # not the toy world


@pytest.mark.parametrize("given, want", [([], DEFAULT_CORRELATION), (["--correlation", "0.5"], 0.5)])
def test_correlation_reaches_the_toy_world(tmp_path, monkeypatch, given, want):
    """--correlation (default: the toy world's, recorded resolved) goes to data.load_pairs for both splits."""
    seen = []

    def spy(*a, **k):
        seen.append(k.get("correlation"))
        raise ValueError("stop here")

    monkeypatch.setattr(T.data, "load_pairs", spy)
    args = T.parse_args(["--objective", "helpfulness", "--out", str(tmp_path / "o"), *given])
    with pytest.raises(ValueError, match="stop here"):
        T.train(args)
    assert args.correlation == want and seen == [want]  # the first split asked, then the spy stopped the run


KILL_CHILD = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
import train_tangent as T
calls, real = [0], T.preference_loss
def loss_then_die(*a, **k):  # SIGKILL in the middle of step 6, after the step-4 checkpoint
    calls[0] += 1
    if calls[0] == 6:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*a, **k)
T.preference_loss = loss_then_die
T.train(T.parse_args(sys.argv[2:]))
"""


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_exact(world, tmp_path):
    extra = ["--mode", "tangent", "--objective", "helpfulness", "--save-every", "4", "--eval-every", "100"]
    T.train(T.parse_args(flags(world, tmp_path / "full", *extra, steps=8)))
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", KILL_CHILD, str(ROOT), *flags(world, out, *extra, steps=8)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not (out / "task_vector.safetensors").exists()
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 4
    assert [r["step"] for r in rows_of(out)] == [1, 2, 3, 4, 5]  # step 5 ran but was never checkpointed
    T.train(T.parse_args(flags(world, out, *extra, "--resume", steps=8)))
    a, b = TaskVector.load(tmp_path / "full"), TaskVector.load(out)
    assert a.names == b.names and all(torch.equal(a[n], b[n]) for n in a.names)
    assert [r["step"] for r in rows_of(out) if "loss" in r] == list(range(1, 9))  # step 5 redone, not duplicated
    loss = lambda out: [r.get("loss", r.get("eval/loss")) for r in rows_of(out)]
    assert loss(out) == loss(tmp_path / "full")  # the logged losses are bit-exact too


def test_resume_refuses_other_flags(world, tmp_path):
    out = tmp_path / "run"
    args = T.parse_args(flags(world, out, "--objective", "helpfulness", steps=3))
    T.train(args)
    with pytest.raises(ValueError, match="--resume: .*beta=0.1"):
        T.train(T.parse_args(flags(world, out, "--objective", "helpfulness", "--beta", "0.5", "--resume", "--force",
                                   steps=3)))


@pytest.mark.slow
def test_ddp_two_gloo_ranks_match_one_process(world, tmp_path):
    extra = ["--mode", "tangent", "--objective", "helpfulness", "--eval-every", "100"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = ("import sys, os, torch; sys.path.insert(0, sys.argv[1]); import train_tangent as T; "
            "_, pol = T.train(T.parse_args(sys.argv[3:]), return_policy=True); "
            "torch.save(pol.task_vector().tensors, os.path.join(sys.argv[2], f'tau{os.environ[\"RANK\"]}.pt'))")
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "OMP_NUM_THREADS": "1",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "HF_HUB_OFFLINE": "1"}
        procs.append(subprocess.Popen([sys.executable, "-c", code, str(ROOT), str(tmp_path),
                                       *flags(world, tmp_path / "ddp", *extra, steps=2)], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=180)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), logs[0][-2000:] + logs[1][-2000:]
    tau0, tau1 = (torch.load(tmp_path / f"tau{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(tau0[n], tau1[n]) for n in tau0)  # gradients were synced: ranks agree exactly
    assert json.load(open(tmp_path / "ddp" / "config.json"))["world_size"] == 2
    single = TaskVector.load(T.train(T.parse_args(flags(world, tmp_path / "single", *extra, steps=2))))
    diff = sum(float((tau0[n] - single[n]).norm() ** 2) for n in tau0) ** 0.5
    assert single.norm() > 0 and diff / single.norm() < 1e-5, diff / single.norm()


def test_bf16_swallows_small_j_tau(tiny_tokenizer):
    """For a small tau, J tau in bf16 is percent-level off the fp64 value (fp32: ~1e-6), and adding it to f0
    in bf16 (instead of fp32, as TangentPolicy does) loses far more: why fp32 is the default."""
    x = torch.randint(0, len(tiny_tokenizer), (2, 24), generator=torch.Generator().manual_seed(0))
    j, swallowed = {}, None
    for name, dtype in (("fp64", torch.float64), ("fp32", torch.float32), ("bf16", torch.bfloat16)):
        policy = T.make_policy("tangent", make_tiny_model("gpt2", len(tiny_tokenizer)).to(dtype))
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in policy.tau.values():
                p.copy_(1e-3 * torch.randn(p.shape, generator=gen))
            f0, f_lin = policy(x, torch.ones_like(x))
        j[name] = (f_lin - f0.float()).double()
        if dtype == torch.bfloat16:  # f0 + J tau summed in bf16, then the reference subtracted again
            swallowed = ((f0 + j[name].to(dtype)) - f0).double()
    err = {k: float((j[k] - j["fp64"]).norm() / j["fp64"].norm()) for k in ("fp32", "bf16")}
    err["bf16 sum"] = float((swallowed - j["fp64"]).norm() / j["fp64"].norm())
    print("relative error of J tau vs fp64:", ", ".join(f"{k} {v:.2e}" for k, v in err.items()))
    assert err["fp32"] < 1e-4 and err["bf16"] > 1e-3 and err["bf16"] > 100 * err["fp32"]
    assert err["bf16 sum"] > 1.5 * err["bf16"]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(world, tmp_path, monkeypatch):
    calls, real = [0], T.preference_loss

    def poisoned(*a, **k):  # the 5th training step produces a NaN loss
        calls[0] += 1
        losses, cr, rr = real(*a, **k)
        return (losses * float("nan"), cr, rr) if calls[0] == 5 else (losses, cr, rr)

    monkeypatch.setattr(T, "preference_loss", poisoned)
    out = tmp_path / "nan"
    with pytest.raises(ValueError) as e:
        T.train(T.parse_args(flags(world, out, "--objective", "verbosity", "--eval-every", "100", steps=8)))
    msg = str(e.value)
    assert "non-finite" in msg and "step 5" in msg and "step 4" in msg and "\n" not in msg
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 4
    assert not (out / "task_vector.safetensors").exists() and not json.load(open(out / "config.json"))["finished"]


@pytest.mark.parametrize("argv, match", [
    (["--objective", "honesty"], "unknown objective 'honesty'"),
    (["--weights", "helpfulness:0.7"], "cannot parse"),
    (["--objective", "helpfulness", "--weights", "helpfulness=1"], "exactly one of"),
    ([], "exactly one of"),
    (["--objective", "safety", "--loss", "cdpo"], "label-smoothing"),
    (["--objective", "safety", "--mode", "tangent", "--precompute-ref"], "precompute-ref"),
    *[(["--objective", "safety", flag, value], flag) for flag, value in [
        ("--batch-size", "0"), ("--grad-accum", "0"), ("--eval-every", "0"), ("--save-every", "0"),
        ("--eval-pairs", "0"), ("--eval-batch-size", "0"), ("--steps", "0"), ("--steps", "two"), ("--epochs", "0"),
        ("--warmup-steps", "-1"), ("--lr", "0"), ("--lr", "nan"), ("--beta", "0"), ("--beta", "-0.1"),
        ("--max-grad-norm", "0"), ("--label-smoothing", "0.5"), ("--label-smoothing", "-0.1"),
        ("--weight-decay", "-1"), ("--limit", "0"), ("--max-length", "1"), ("--linearize", "(("),
        ("--correlation", "1.5"), ("--correlation", "-2"), ("--correlation", "high")]],
    (["--objective", "safety", "--data", "rows.jsonl", "--correlation", "0.5"], "knob of the toy world"),
    (["--objective", "safety", "--batch-size", "6", "--grad-accum", "4"], "divisible by ranks x --grad-accum"),
])
def test_bad_flags_fail_with_one_line(argv, match, capsys):
    with pytest.raises(SystemExit) as e:
        T.parse_args(argv)
    assert e.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("usage:") is False and match in last, last


def test_bad_base_data_and_attention_fail_with_one_line(world, tmp_path):
    with pytest.raises(SystemExit, match=r"error: --base .*cannot load") as e:
        run_cli(T.main, ["--objective", "helpfulness", "--base", str(tmp_path / "missing"), "--data",
                         str(world / "rated.jsonl"), "--out", str(tmp_path / "o")])
    assert "\n" not in str(e.value.code) and not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="unknown attribute 'honesty'"):
        T.train(T.parse_args(flags(world, tmp_path / "o2", "--objective", "honesty")))
    from transformers import AutoModelForCausalLM, GPT2Config
    sdpa = AutoModelForCausalLM.from_config(GPT2Config(vocab_size=64, n_embd=16, n_layer=1, n_head=2),
                                            attn_implementation="sdpa")
    with pytest.raises(ValueError, match="attn_implementation='sdpa'"):
        T.make_policy("tangent", sdpa)


def test_regex_refused_in_both_modes_and_the_cli_prints_one_line(world, tmp_path, tiny_tokenizer, monkeypatch,
                                                                 capsys):
    """The exit line is run_cli's, here without a new interpreter to import torch again; the same case as a command
    line (`python train_tangent.py`: exit 1, no traceback) is a row of test_cli_errors' table."""
    for mode in ("tangent", "standard"):
        with pytest.raises(ValueError, match="--linearize '\\(\\(': not a valid regex"):
            T.make_policy(mode, make_tiny_model("gpt2", len(tiny_tokenizer)), "((")
        with pytest.raises(ValueError, match="--linearize 'zzz' matches no parameter"):
            T.make_policy(mode, make_tiny_model("gpt2", len(tiny_tokenizer)), "zzz")
    out = tmp_path / "o"  # a valid regex that matches nothing is found only once the base is loaded
    monkeypatch.setattr(sys, "argv", ["train_tangent.py"])  # run_cli names the script it runs as
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_cli(T.main, flags(world, out, "--mode", "standard", "--objective", "helpfulness", "--linearize", "zzz",
                              steps=1))
    said = [str(e.value.code), *capsys.readouterr().err.splitlines()]  # the exit line, and all else on stderr
    errors = [line for line in said if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("train_tangent.py: error: --linearize 'zzz'"), errors
    assert not out.exists()


def test_refused_inputs_leave_nothing_behind(world, tmp_path):
    out = tmp_path / "few"  # the train split cannot fill one batch: said with the --data source, nothing written
    with pytest.raises(ValueError, match=r"--data .*rated.jsonl: the train split has \d+ pairs, fewer than one "
                                         r"--batch-size \(400\)"):
        T.train(T.parse_args(flags(world, out, "--objective", "helpfulness", "--batch-size", "400")))
    assert not out.exists()
    mine = tmp_path / "mine"  # an existing folder that is not a run of ours is never written into
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a run of ours"):
        T.train(T.parse_args(flags(world, mine, "--objective", "helpfulness", steps=1)))
    assert os.listdir(mine) == ["notes.txt"] and (mine / "notes.txt").read_text() == "keep me"


def test_failed_force_rerun_leaves_nothing_finished(world, tmp_path, monkeypatch):
    out = tmp_path / "run"
    T.train(T.parse_args(flags(world, out, "--objective", "helpfulness", steps=1)))
    assert json.load(open(out / "config.json"))["finished"] and (out / "task_vector.safetensors").exists()
    real = T.preference_loss
    monkeypatch.setattr(T, "preference_loss", lambda *a, **k: (real(*a, **k)[0] * float("nan"), *real(*a, **k)[1:]))
    with pytest.raises(ValueError, match="non-finite"):
        T.train(T.parse_args(flags(world, out, "--objective", "helpfulness", "--force", steps=1)))
    assert not (out / "task_vector.safetensors").exists() and not json.load(open(out / "config.json"))["finished"]


def test_corrupt_checkpoint_or_config_says_how_to_recover(world, tmp_path):
    out = tmp_path / "run"
    argv = flags(world, out, "--objective", "helpfulness", "--eval-every", "100", "--save-every", "1", steps=2)
    T.train(T.parse_args(argv))
    ck = out / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"checkpoint.pt: cannot read the checkpoint .*: delete .*checkpoint.pt") as e:
        T.train(T.parse_args(argv + ["--resume", "--force"]))
    assert "\n" not in str(e.value) and json.load(open(out / "config.json"))["finished"]  # the finished run is intact
    ck.unlink()  # follow the advice: the run trains again from step 0 and finishes
    T.train(T.parse_args(argv + ["--resume", "--force"]))
    assert json.load(open(out / "config.json"))["finished"]
    assert [r["step"] for r in rows_of(out) if "loss" in r] == [1, 2]
    (out / "config.json").write_text('{"mode": "tang')
    with pytest.raises(ValueError, match=r"config.json: not valid JSON .*delete .*run and train again") as e:
        T.train(T.parse_args(argv + ["--resume"]))
    assert "\n" not in str(e.value)


def test_ipo_trains_on_per_token_averages(world, tmp_path, monkeypatch):
    """--loss ipo gives preference_loss per-token AVERAGE log-probs, policy and cached reference alike (Azar et al.)."""
    import data
    from plumbing.models import load_tokenizer
    seen, real = [], T.preference_loss

    def spy(*a, **k):
        seen.append(torch.cat([torch.cat(a[0:2]), torch.cat(a[2:4])]).detach().view(2, -1))
        return real(*a, **k)

    monkeypatch.setattr(T, "preference_loss", spy)
    out = tmp_path / "ipo"
    T.train(T.parse_args(flags(world, out, "--mode", "standard", "--objective", "helpfulness", "--loss", "ipo",
                               "--precompute-ref", "--eval-every", "100", steps=1)))
    pairs = data.load_pairs(str(world / "rated.jsonl"), "helpfulness", split="train")
    idx, base, tok = T.batch_indices(len(pairs), 4, 0, 0), load_model(world / "base"), load_tokenizer(world / "base")
    b = data.collate_pairs([data.tokenize_pair(tok, pairs[i], 64) for i in idx], tok.pad_token_id)
    logits = base(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits.detach()
    want = sequence_logps(logits, b["labels"], average=True)  # (8,): chosen rows, then rejected rows
    assert not torch.allclose(sequence_logps(logits, b["labels"]), want)  # sums would be another number
    policy, ref = seen[0]  # the first step starts at theta0: the policy equals the reference
    torch.testing.assert_close(policy, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ref, want, rtol=1e-5, atol=1e-5)
    cache = torch.load(out / "ref_logps.pt", weights_only=True)
    assert cache["key"]["logps"] == "average"
    torch.testing.assert_close(cache["logps"][idx].T.reshape(-1), want, rtol=1e-5, atol=1e-5)


def test_lr_schedule_warmup_then_cosine_or_constant():
    cosine, constant = T.lr_lambda("cosine", 4, 20), T.lr_lambda("constant", 4, 20)
    assert [cosine(s) for s in range(4)] == [constant(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    for s in range(4, 21):  # nanoGPT's get_lr, written out: 10% floor + cosine over the steps after warmup
        assert cosine(s) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - 4) / 16)), rel=1e-12)
        assert constant(s) == 1.0
    assert cosine(20) == pytest.approx(0.1)
    assert T.lr_lambda("constant", 0, 20)(0) == T.lr_lambda("cosine", 0, 20)(0) == 1.0  # no warmup: full lr
    assert cosine(7) == warmup_cosine(7, 4, 20)
