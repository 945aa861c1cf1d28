"""compose.py against independent computations: fresh per-alpha linearized forwards, apply_vectors' model, a
direct KL, the gap's two limits."""
import pytest
import torch
from conftest import ALPHAS, make_tiny_model, random_taus

import compose
from measure import sweeps
from dpo_loss import sequence_logps
from linearize import LinearizedModel, TaskVector, apply_vectors, combine, fingerprint
from plumbing.cli import run_cli


def hand_batch(vocab, b=3, seed=0):
    """(2B, T) right-padded pair batch with -100 on prompt and padding, built without data.py."""
    g = torch.Generator().manual_seed(seed)
    lens = [(3, 4), (5, 2), (2, 6)][:b] * 2
    T = max(p + r for p, r in lens)
    ids = torch.zeros(2 * b, T, dtype=torch.long)
    labels = torch.full((2 * b, T), -100)
    mask = torch.zeros(2 * b, T, dtype=torch.long)
    for i, (p, r) in enumerate(lens):
        ids[i, :p + r] = torch.randint(1, vocab, (p + r,), generator=g)
        labels[i, p:p + r], mask[i, :p + r] = ids[i, p:p + r], 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def test_linearity_trick_equals_fresh_linearized_forward(composed):
    tok, model, lin, taus = composed
    batch = hand_batch(len(tok))
    ref, logps = sweeps.sweep_logps(lin, batch, taus, ALPHAS)
    f0, gs = lin.jvp_many(batch["input_ids"], batch["attention_mask"], taus)
    for p, a in enumerate(ALPHAS.tolist()):
        tau = sum(ak * t for ak, t in zip(a, taus))
        base, f_lin = lin(batch["input_ids"], batch["attention_mask"], tau=tau)
        torch.testing.assert_close(combine(f0, gs, torch.tensor(a)), f_lin.detach(), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(logps[p], sequence_logps(f_lin.detach(), batch["labels"]), atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(ref, sequence_logps(base, batch["labels"]))
    # per-row alphas (B, K) equal the shared-alpha combination row by row
    rows = ALPHAS[[1, 2, 3, 0, 1, 2]]
    mixed = combine(f0, gs, rows)
    for i in range(len(rows)):
        torch.testing.assert_close(mixed[i], combine(f0, gs, rows[i])[i])
    assert torch.equal(logps[0], ref)  # alpha = 0 is the base, bit for bit


def tokenized_pairs(n=10, vocab=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda k: torch.randint(1, vocab, (k,), generator=g).tolist()
    return [{"prompt_ids": r(2 + i % 3), "chosen_ids": r(3 + i % 4), "rejected_ids": r(2 + i % 5)} for i in range(n)]


def test_pair_sweep_margins(composed):
    tok, model, lin, taus = composed
    pairs = tokenized_pairs()
    res = sweeps.pair_sweep(pairs, taus, ALPHAS, beta=0.1, lin=lin, batch_size=4)
    assert res["margins"].shape == (len(ALPHAS), len(pairs)) and res["n"] == len(pairs)
    assert torch.equal(res["margins"][0], torch.zeros(len(pairs)))  # alpha = 0: exactly the reference
    torch.testing.assert_close(res["accuracy"], (res["margins"] > 0).float().mean(1))
    torch.testing.assert_close(res["margin"], res["margins"].mean(1))
    assert res["accuracy"][0] == 0 and (res["accuracy_se"] >= 0).all()
    # independent: one fresh linearized forward per pair at alpha = ALPHAS[2]
    from data import collate_pairs
    tau = sum(a * t for a, t in zip(ALPHAS[2].tolist(), taus))
    for j, pair in enumerate(pairs[:3]):
        b = collate_pairs([pair], 0)
        f0, f_lin = lin(b["input_ids"], b["attention_mask"], tau=tau)
        pi, ref = sequence_logps(f_lin.detach(), b["labels"]), sequence_logps(f0, b["labels"])
        want = 0.1 * ((pi[0] - ref[0]) - (pi[1] - ref[1]))
        torch.testing.assert_close(res["margins"][2, j], want, atol=1e-5, rtol=1e-4)
    # nonlinear mode: alpha = 0 is the base; alpha != 0 equals apply_vectors' model
    non = sweeps.pair_sweep(pairs, taus, ALPHAS[[0, 2]], lin=None, model=model, batch_size=4)
    assert torch.equal(non["margins"][0], torch.zeros(len(pairs)))
    b = collate_pairs(pairs, 0)
    ref, logps = sweeps.sweep_logps_nonlinear(model, b, taus, ALPHAS[[0, 2]])
    n = len(pairs)
    torch.testing.assert_close(non["margins"][1], 0.1 * ((logps[1, :n] - ref[:n]) - (logps[1, n:] - ref[n:])),
                               atol=1e-5, rtol=1e-4)


@pytest.fixture
def base_dir(tmp_path, tiny_tokenizer):
    model = make_tiny_model("gpt2", len(tiny_tokenizer))
    base = tmp_path / "base"
    model.save_pretrained(base)
    tiny_tokenizer.save_pretrained(base)
    lin = LinearizedModel(model)
    paths = []
    for k, tau in enumerate(random_taus(lin, k=2)):
        (tmp_path / f"ts-{k}").mkdir()
        tau.save(str(tmp_path / f"ts-{k}" / "task_vector.safetensors"), {"base_fingerprint": fingerprint(model)})
        paths.append(str(tmp_path / f"ts-{k}"))
    other = make_tiny_model("gpt2", len(tiny_tokenizer), seed=5)
    TaskVector.from_models(other, other).save(str(tmp_path / "foreign.safetensors"),
                                              {"base_fingerprint": fingerprint(other)})
    return base, paths, tmp_path / "foreign.safetensors"


def test_load_export_and_refusals(base_dir, tmp_path, capsys):
    from transformers import AutoModelForCausalLM
    from plumbing.models import load_model
    base, paths, foreign = base_dir
    model = load_model(str(base))
    vectors = compose.load_vectors(paths, model)
    assert len(vectors) == 2
    with pytest.raises(ValueError, match="trained on base"):
        compose.load_vectors([paths[0], str(foreign)], model)
    with pytest.raises(ValueError, match="one alpha per vector"):
        compose.export(str(base), paths, [1.0], str(tmp_path / "out"))
    with pytest.raises(ValueError, match="one alpha per vector"):
        combine(torch.zeros(2, 3, 4), [torch.zeros(2, 3, 4)] * 2, torch.tensor([1.0, 2.0, 3.0]))
    out = compose.export(str(base), paths, [1.0, -0.5], str(tmp_path / "out"))
    out = compose.export(str(base), paths, [1.0, -0.5], out)  # overwriting an export is fine too
    loaded = AutoModelForCausalLM.from_pretrained(out, attn_implementation="eager").eval()
    want = apply_vectors(model, vectors, [1.0, -0.5])
    x = torch.randint(1, 300, (2, 7))
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=x).logits, want(input_ids=x).logits)
    # CLI: one clear line for mismatched counts and foreign vectors; a normal run prints generations
    with pytest.raises(SystemExit) as usage:
        compose.main(["--base", str(base), "--vectors", *paths, "--alphas", "1"])
    assert usage.value.code == 2 and "2 --vectors but 1 --alphas" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="trained on base"):
        run_cli(compose.main, ["--base", str(base), "--vectors", str(foreign), "--alphas", "1"])
    with pytest.raises(SystemExit, match="no task vector here"):
        run_cli(compose.main, ["--base", str(base), "--vectors", str(tmp_path / "nope"), "--alphas", "1"])
    # an existing folder that is not an export of ours is refused, and left as it was
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a model exported by compose.py"):
        compose.export(str(base), paths, [1.0, -0.5], str(mine))
    assert (mine / "notes.txt").read_text() == "keep me" and len(list(mine.iterdir())) == 1
    compose.main(["--base", str(base), "--vectors", *paths, "--alphas", "1", "-0.5", "--prompt", "tell me",
                  "--greedy", "--max-new-tokens", "4"])
    assert "> tell me" in capsys.readouterr().out


def direct_kl(pairs, logits):
    """Per-token KL(pi || pi_0) straight from full (2N, T, V) logits of one batch of all pairs: -> (kl, kl_seq (2N,),
    per-pair KL sums (N,), per-pair token counts (N,)). logits(batch) -> (f, f0)."""
    from data import collate_pairs
    b = collate_pairs(pairs, 0)
    f, f0 = logits(b)
    keep = b["labels"][:, 1:] != -100
    lp, lp0 = torch.log_softmax(f[:, :-1].double(), -1), torch.log_softmax(f0[:, :-1].double(), -1)
    tok = ((lp.exp() * (lp - lp0)).sum(-1) * keep).sum(-1)  # (2N,) summed over each sequence's scored tokens
    n, count = len(pairs), keep.sum(-1).double()
    return tok.sum() / count.sum(), tok / count, tok[:n] + tok[n:], count[:n] + count[n:]


def linear_logits(lin, taus, alphas):
    tau = sum(float(a) * t for a, t in zip(alphas, taus))
    return lambda b: lin(b["input_ids"], b["attention_mask"], tau=tau)[::-1]


def nonlinear_logits(model, taus, alphas):
    moved = apply_vectors(model, taus, [float(a) for a in alphas])
    fwd = lambda m, b: m(input_ids=b["input_ids"], attention_mask=b["attention_mask"], use_cache=False).logits
    return lambda b: (fwd(moved, b), fwd(model, b))


@pytest.mark.parametrize("mode", ["linear", "nonlinear"])
def test_pair_sweep_kl_matches_a_direct_computation(composed, mode):
    """kl, kl_se and kl_seq (over chunks of 4 pairs) against fresh full forwards of all pairs at theta0 + alpha tau and
    torch.log_softmax; KL = 0 exactly at alpha = 0."""
    tok, model, lin, taus = composed
    pairs = tokenized_pairs(n=7)
    kw = dict(lin=lin) if mode == "linear" else dict(model=model)
    res = sweeps.pair_sweep(pairs, taus, ALPHAS[[0, 2, 3]], batch_size=4, **kw)
    assert res["kl"].shape == res["kl_se"].shape == (3,) and res["kl_seq"].shape == (3, 2 * len(pairs))
    assert torch.equal(res["kl"][0], torch.tensor(0.0)) and torch.equal(res["kl_seq"][0], torch.zeros(2 * len(pairs)))
    assert res["kl_se"][0] == 0
    if mode == "linear":  # kl=False: the same margins, no KL
        plain = sweeps.pair_sweep(pairs, taus, ALPHAS[[0, 2, 3]], batch_size=4, kl=False, **kw)
        assert torch.equal(plain["margins"], res["margins"]) and "kl" not in plain and "kl_seq" not in plain
    for p in (1, 2):
        logits = (linear_logits(lin, taus, ALPHAS[[0, 2, 3]][p]) if mode == "linear"
                  else nonlinear_logits(model, taus, ALPHAS[[0, 2, 3]][p]))
        kl, kl_seq, pair_kl, pair_n = direct_kl(pairs, logits)
        assert kl > 1e-3  # the vectors do move the model, so the test can fail
        torch.testing.assert_close(res["kl"][p].double(), kl, rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(res["kl_seq"][p].double(), kl_seq, rtol=1e-4, atol=1e-7)
        # the standard error of a ratio of sums over pairs (the pair is the unit): sqrt(n/(n-1) sum r_i^2) / sum n_i
        resid = pair_kl - kl * pair_n
        se = (len(pairs) / (len(pairs) - 1) * resid.square().sum()).sqrt() / pair_n.sum()
        torch.testing.assert_close(res["kl_se"][p].double(), se, rtol=1e-3, atol=1e-7)


def test_linearization_gap_shrinks_linearly_and_vanishes_where_f_is_linear():
    """gap = ||f - f_lin|| / ||f - f0|| = O(alpha) (the remainder is second order, the change first order); against
    full forwards; about 0 for a tau that moves only an untied lm_head (logits are linear in it), not elsewhere."""
    from data import collate_pairs
    batch = collate_pairs(tokenized_pairs(n=6), 0)
    model = make_tiny_model("gpt2").double()
    lin = LinearizedModel(model)
    tau = 1e-4 * random_taus(lin, k=1, scale=1.0)[0].to(torch.float64)
    gap = sweeps.linearization_gap(model, tau, batch)
    assert list(gap) == [0.5, 1.0, 2.0] and 0 < gap[1.0] < 0.1
    assert gap[2.0] / gap[1.0] == pytest.approx(2.0, rel=0.01) and gap[0.5] / gap[1.0] == pytest.approx(0.5, rel=0.01)
    keep = batch["labels"][:, 1:] != -100
    f0, f_lin = lin(batch["input_ids"], batch["attention_mask"], tau=2.0 * tau)
    f = apply_vectors(model, [tau], [2.0])(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    f, f0, f_lin = (x[:, :-1][keep] for x in (f, f0, f_lin))
    assert gap[2.0] == pytest.approx(float((f - f_lin).norm() / (f - f0).norm()), rel=1e-6)
    # llama's lm_head is not tied: f = h W^T is linear in W, so the linearized model is exact along it
    llama = make_tiny_model("llama")
    params = dict(llama.named_parameters())
    assert params["lm_head.weight"].data_ptr() != params["model.embed_tokens.weight"].data_ptr()
    g = torch.Generator().manual_seed(2)
    moved = lambda name: TaskVector({name: 0.05 * torch.randn(params[name].shape, generator=g)})
    head = sweeps.linearization_gap(llama, moved("lm_head.weight"), batch)
    inner = sweeps.linearization_gap(llama, moved("model.layers.0.mlp.up_proj.weight"), batch)
    assert max(head.values()) < 1e-5 and min(inner.values()) > 1e-3, (head, inner)


@pytest.mark.parametrize("mode", ["linear", "nonlinear"])
def test_kl_scale_hits_the_target(composed, mode):
    """The returned s gives the target per-token KL within rtol, checked by a direct computation at s * direction."""
    tok, model, lin, taus = composed
    pairs = tokenized_pairs(n=6)
    direction, target = torch.tensor([1.0, -0.5]), 0.02
    kw = dict(lin=lin) if mode == "linear" else dict(model=model)
    s = sweeps.kl_scale(taus, direction, target, pairs, batch_size=4, **kw)
    assert isinstance(s, float)  # one direction: a float, as always
    logits = linear_logits if mode == "linear" else nonlinear_logits
    kl = float(direct_kl(pairs, logits(lin if mode == "linear" else model, taus, s * direction))[0])
    assert abs(kl / target - 1) <= 1e-3 + 1e-5, (s, kl)
    assert float(direct_kl(pairs, logits(lin if mode == "linear" else model, taus, 1.1 * s * direction))[0]) > target
    if mode == "linear":  # one vector and a scalar direction
        s1 = sweeps.kl_scale(taus[0], 1.0, target, pairs, **kw)
        assert float(direct_kl(pairs, logits(lin, taus[:1], [s1]))[0]) == pytest.approx(target, rel=1.1e-3)
    with pytest.raises(ValueError, match="target KL > 0"):
        sweeps.kl_scale(taus, direction, 0.0, pairs, **kw)
    with pytest.raises(ValueError, match="nonzero direction"):
        sweeps.kl_scale(taus, [0.0, 0.0], target, pairs, **kw)


@pytest.mark.parametrize("mode", ["linear", "nonlinear"])
def test_kl_scale_many_directions_share_the_batch(composed, mode, monkeypatch):
    """direction (M, K), target (M,): M scales equal to the one-at-a-time calls, each on its own target (checked
    directly), from one pass of the shared work per pair batch (f0 and the jvps, or the base forward) and a few KL
    evaluations per direction (the log-log secant; bisection takes 10-20); an unreachable target names its direction."""
    tok, model, lin, taus = composed
    pairs = tokenized_pairs(n=6)  # two batches of 4 and 2 pairs
    kw = (dict(lin=lin) if mode == "linear" else dict(model=model)) | {"batch_size": 4}
    dirs, targets = torch.tensor([[1.0, -0.5], [0.0, 1.0], [0.3, 0.7]]), [0.02, 0.05, 0.01]
    calls = {"_linear_at": 0, "_nonlinear_at": 0, "token_kl": 0}  # the shared work per batch; KL evaluations

    def counted(name, f):
        def call(*args):
            calls[name] += 1
            return f(*args)
        return call
    for name in calls:
        monkeypatch.setattr(sweeps, name, counted(name, getattr(sweeps, name)))
    many = sweeps.kl_scale(taus, dirs, targets, pairs, **kw)
    assert isinstance(many, list) and len(many) == 3
    evals = calls["token_kl"] / 2  # one token_kl per batch and trial
    assert calls["_linear_at"] + calls["_nonlinear_at"] == 2 and evals <= 6 * len(dirs), calls  # <= 6 trials each
    logits = linear_logits if mode == "linear" else nonlinear_logits
    for d, target, s in zip(dirs, targets, many):
        assert s == pytest.approx(sweeps.kl_scale(taus, d, target, pairs, **kw), rel=1e-3)
        kl = float(direct_kl(pairs, logits(lin if mode == "linear" else model, taus, s * d))[0])
        assert abs(kl / target - 1) <= 1e-3 + 1e-5, (d, s, kl)
    # started at the answers (s0=): one evaluation each returns them unchanged; one target shared by every direction
    calls["token_kl"] = 0
    assert sweeps.kl_scale(taus, dirs, targets, pairs, s0=many, **kw) == many and calls["token_kl"] == 2 * len(dirs)
    assert sweeps.kl_scale(taus, dirs[[0, 0]], targets[0], pairs, s0=many[0], **kw) == [many[0]] * 2
    with pytest.raises(ValueError, match="3 directions but 2 targets"):
        sweeps.kl_scale(taus, dirs, [0.02, 0.05], pairs, **kw)
    if mode == "linear":  # KL saturates as s grows (softmax -> argmax), far below 1000 nats per token
        with pytest.raises(ValueError, match=r"direction 1 \(\[0.0, 1.0\]\): no s in \[2\^-30, 2\^30\] gives a "
                                             r"per-token KL of 1000"):
            sweeps.kl_scale(taus, dirs, [0.02, 1e3, 0.01], pairs, **kw)


@pytest.mark.parametrize("mode", ["linear", "nonlinear"])
def test_pair_sweep_runs_in_fp64(tiny_tokenizer, mode):
    """An fp64 model runs (the per-sequence KL accumulator follows the logits' dtype) and agrees with fp32."""
    from linearize import LinearizedModel
    from conftest import make_tiny_model, random_taus
    pairs = tokenized_pairs(n=5)
    out = {}
    for dtype in (torch.float32, torch.float64):
        model = make_tiny_model("gpt2", len(tiny_tokenizer)).to(dtype)
        lin = LinearizedModel(model)
        taus = [t.to(dtype) for t in random_taus(lin)]
        kw = dict(lin=lin) if mode == "linear" else dict(model=model)
        out[dtype] = sweeps.pair_sweep(pairs, taus, ALPHAS[[0, 2]], batch_size=4, **kw)
    assert out[torch.float64]["kl"][1] > 1e-4
    torch.testing.assert_close(out[torch.float64]["kl"], out[torch.float32]["kl"], rtol=1e-3, atol=1e-6)
