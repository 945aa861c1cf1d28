"""linearize.py against independent computations: the base model, finite differences, autograd."""
import copy

import pytest
import torch

from conftest import make_tiny_model
from linearize import LinearizedModel, TaskVector, apply_vectors, fingerprint
from plumbing.models import load_model


def batch(model, B=2, T=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, model.config.vocab_size, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, -3:] = 0  # right padding on one row
    return ids, mask


def random_tau(lin, scale=1.0, seed=1):
    g = torch.Generator().manual_seed(seed)
    return TaskVector({n: scale * torch.randn(p.shape, generator=g) for n, p in lin.theta0.items()})


def test_tau_zero_is_the_base_exactly(tiny_model):
    ids, mask = batch(tiny_model)
    base = tiny_model(input_ids=ids, attention_mask=mask).logits
    lin = LinearizedModel(tiny_model)
    f0, f_lin = lin(ids, mask, tau=lin.zero_tau())
    assert torch.equal(f_lin, f0)
    torch.testing.assert_close(f0, base, rtol=0, atol=1e-6)


def test_first_order_error_shrinks_like_eps_squared(tiny_model):
    ids, mask = batch(tiny_model)
    lin = LinearizedModel(tiny_model)
    v = random_tau(lin, scale=1.0).to(torch.float64)
    model64 = tiny_model.double()
    lin64 = LinearizedModel(model64)
    errs = []
    for eps in (1e-2, 5e-3):
        _, f_lin = lin64(ids, mask, tau=eps * v)
        f_true = apply_vectors(model64, [v], [eps])(input_ids=ids, attention_mask=mask).logits
        errs.append(float((f_lin - f_true).norm()))
    # halving eps divides a second-order remainder by ~4 (a first-order one would only halve)
    assert 3.0 < errs[0] / errs[1] < 5.0, errs


def scalar_loss(f_lin, w):
    return (f_lin * w).sum() + (f_lin ** 2).mean()


@pytest.mark.parametrize("act", ["gelu_new", "gelu_pytorch_tanh"])  # the fused one is what base_model.py builds
def test_gradient_matches_central_finite_differences(act):
    model = make_tiny_model("gpt2", activation_function=act).double()
    ids, mask = batch(model)
    lin = LinearizedModel(model)
    tau0 = random_tau(lin, scale=0.05).to(torch.float64)
    w = torch.randn(*ids.shape, model.config.vocab_size, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    tau = {n: t.clone().requires_grad_(True) for n, t in tau0.tensors.items()}
    scalar_loss(lin(ids, mask, tau=TaskVector(tau))[1], w).backward()
    direction = random_tau(lin, seed=7).to(torch.float64)
    analytic = sum(float((tau[n].grad * direction[n]).sum()) for n in tau)
    h = 1e-4
    up = scalar_loss(lin(ids, mask, tau=tau0 + h * direction)[1], w)
    down = scalar_loss(lin(ids, mask, tau=tau0 - h * direction)[1], w)
    numeric = float(up - down) / (2 * h)
    assert abs(analytic - numeric) <= 1e-6 * max(1.0, abs(numeric)), (analytic, numeric)


def test_gradient_at_tau_zero_is_the_ordinary_gradient(tiny_model):
    ids, mask = batch(tiny_model)
    w = torch.randn(*ids.shape, tiny_model.config.vocab_size, generator=torch.Generator().manual_seed(3))
    for p in tiny_model.parameters():
        p.requires_grad_(True)
    scalar_loss(tiny_model(input_ids=ids, attention_mask=mask).logits, w).backward()
    ordinary = {n: p.grad.clone() for n, p in tiny_model.named_parameters()}
    lin = LinearizedModel(tiny_model)
    tau = {n: torch.zeros_like(p, requires_grad=True) for n, p in lin.theta0.items()}
    scalar_loss(lin(ids, mask, tau=TaskVector(tau))[1], w).backward()
    for n in tau:
        torch.testing.assert_close(tau[n].grad, ordinary[n], rtol=1e-4, atol=1e-5)


def test_composed_logits_are_f0_plus_sum_alpha_j_tau(tiny_model):
    ids, mask = batch(tiny_model)
    lin = LinearizedModel(tiny_model)
    taus = [random_tau(lin, 0.02, seed=s) for s in (1, 2, 3)]
    f0, gs = lin.jvp_many(ids, mask, taus)
    for alphas in ([0.7, -1.3, 0.0], [-2.0, 0.5, 1.5]):
        _, f_lin = lin(ids, mask, tau=sum(a * t for a, t in zip(alphas, taus)))
        expected = f0 + sum(a * g for a, g in zip(alphas, gs))
        torch.testing.assert_close(f_lin, expected, rtol=1e-5, atol=1e-5)


def test_regex_moves_only_the_selected_parameters(tiny_gpt2):
    lin = LinearizedModel(tiny_gpt2, linearize=r"h\.1\.")
    assert lin.names and all(".h.1." in n for n in lin.names)
    ids, mask = batch(tiny_gpt2)
    tau = {n: torch.zeros_like(p, requires_grad=True) for n, p in lin.theta0.items()}
    lin(ids, mask, tau=TaskVector(tau))[1].square().mean().backward()
    assert all(tau[n].grad is not None and tau[n].grad.abs().sum() > 0 for n in tau)
    # a vector that moves frozen parameters is refused
    with pytest.raises(ValueError, match="keeps at theta0"):
        lin(ids, mask, tau=TaskVector({"transformer.wte.weight": torch.zeros(1)}))
    with pytest.raises(ValueError, match="matches no parameter"):
        LinearizedModel(tiny_gpt2, linearize="no_such_layer")


def test_tied_weights_count_once(tiny_gpt2):
    lin = LinearizedModel(tiny_gpt2)
    assert "transformer.wte.weight" in lin.names and "lm_head.weight" not in lin.names
    wte0 = tiny_gpt2.transformer.wte.weight.detach().clone()
    g = torch.Generator().manual_seed(0)
    tau = TaskVector({"transformer.wte.weight": torch.randn(wte0.shape, generator=g)})
    # the nonlinear model moves the tied matrix once: input embedding AND output layer are theta0 + alpha tau
    moved = apply_vectors(tiny_gpt2, [tau], [0.5])
    torch.testing.assert_close(moved.lm_head.weight, wte0 + 0.5 * tau["transformer.wte.weight"])
    torch.testing.assert_close(moved.transformer.wte.weight, moved.lm_head.weight)
    # the linear model's J tau sees both uses: it equals the central finite difference of the tied nonlinear
    # model, and differs clearly from the derivative through the input embedding alone
    x = torch.randint(0, tiny_gpt2.config.vocab_size, (2, 10))
    f0, f_lin = lin(x, tau=tau)
    j_tau = (f_lin - f0).double()
    eps = 1e-3
    fwd = lambda m: m(input_ids=x, use_cache=False).logits.double()
    fd = (fwd(apply_vectors(tiny_gpt2, [tau], [eps])) - fwd(apply_vectors(tiny_gpt2, [tau], [-eps]))) / (2 * eps)
    assert float((j_tau - fd).norm() / fd.norm()) < 1e-3
    untied = copy.deepcopy(tiny_gpt2)
    untied.lm_head.weight = torch.nn.Parameter(wte0.clone(), requires_grad=False)  # same values, not tied
    moved_in = lambda a: apply_vectors(untied, [tau], [a])
    fd_in = (fwd(moved_in(eps)) - fwd(moved_in(-eps))) / (2 * eps)
    assert float((j_tau - fd_in).norm() / fd.norm()) > 0.1


def test_non_eager_attention_is_refused(tiny_gpt2):
    tiny_gpt2.config._attn_implementation = "sdpa"
    with pytest.raises(ValueError, match='attn_implementation="eager"'):
        LinearizedModel(tiny_gpt2)


def test_task_vector_arithmetic(tiny_gpt2):
    lin = LinearizedModel(tiny_gpt2)
    a, b = random_tau(lin, seed=1), random_tau(lin, seed=2)
    flat = lambda tv: torch.cat([tv[n].flatten() for n in lin.names]).double()
    torch.testing.assert_close(flat(sum([a, b])), flat(a) + flat(b))
    torch.testing.assert_close(flat(a - 2 * b), flat(a) - 2 * flat(b))
    torch.testing.assert_close(flat(-a), -flat(a))
    assert a.norm() == pytest.approx(float(flat(a).norm()), rel=1e-9)
    cos = float(flat(a) @ flat(b) / (flat(a).norm() * flat(b).norm()))
    assert a.cosine(b) == pytest.approx(cos, rel=1e-9)
    assert a.cosine(3.0 * a) == pytest.approx(1.0)


def test_save_load_round_trip_and_fingerprint(tiny_gpt2, tmp_path):
    lin = LinearizedModel(tiny_gpt2)
    tau = random_tau(lin, seed=4)
    path = tmp_path / "task_vector.safetensors"
    tau.save(str(path), {"base_fingerprint": fingerprint(tiny_gpt2), "mode": "tangent"})
    back = TaskVector.load(str(tmp_path), base=tiny_gpt2)
    assert sorted(back.names) == sorted(tau.names) and all(torch.equal(back[n], tau[n]) for n in tau.names)
    assert back.metadata["mode"] == "tangent"
    other = make_tiny_model("gpt2", seed=123)
    assert fingerprint(other) != fingerprint(tiny_gpt2)
    with pytest.raises(ValueError, match="trained on base"):
        TaskVector.load(str(path), base=other)
    with pytest.raises(ValueError, match="base_fingerprint"):
        random_tau(lin).save(str(tmp_path / "x.safetensors"))


def test_fingerprint_ignores_dtype_but_not_values(tiny_gpt2):
    fp = fingerprint(tiny_gpt2)
    assert fingerprint(make_tiny_model("gpt2").to(torch.bfloat16)) == fp
    with torch.no_grad():
        tiny_gpt2.transformer.h[0].mlp.c_fc.weight[0, 0] += 0.1
    assert fingerprint(tiny_gpt2) != fp


def test_from_models_and_apply_vectors_invert(tiny_llama):
    tuned = make_tiny_model("llama", seed=5)
    tau = TaskVector.from_models(tuned, tiny_llama)
    rebuilt = apply_vectors(tiny_llama, [tau], [1.0])
    for (n, p), q in zip(rebuilt.named_parameters(), tuned.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)


def test_apply_vectors_into_rewrites_one_copy_bit_for_bit(tiny_gpt2):
    """A sweep's one working copy, rewritten in place, equals a fresh apply_vectors copy bit for bit, even after
    an earlier call moved other parameters; the base stays theta0."""
    g = torch.Generator().manual_seed(0)
    params = dict(tiny_gpt2.named_parameters())
    theta0 = {n: p.detach().clone() for n, p in params.items()}
    everything = TaskVector({n: torch.randn(p.shape, generator=g) for n, p in params.items()})
    one = TaskVector({"transformer.h.0.mlp.c_fc.weight": torch.randn(params["transformer.h.0.mlp.c_fc.weight"].shape,
                                                                     generator=g)})
    work = apply_vectors(tiny_gpt2, [everything, one], [0.7, -1.3])
    assert apply_vectors(tiny_gpt2, [one], [0.4], into=work) is work
    fresh = apply_vectors(tiny_gpt2, [one], [0.4])
    moved = [n for n, p in work.named_parameters() if not torch.equal(p, theta0[n])]
    assert moved == ["transformer.h.0.mlp.c_fc.weight"]
    assert all(torch.equal(p, q) for p, q in zip(work.parameters(), fresh.parameters()))
    assert all(torch.equal(p, theta0[n]) for n, p in tiny_gpt2.named_parameters())
    assert work.lm_head.weight is work.transformer.wte.weight  # still tied


def test_load_model_fails_clearly(tmp_path):
    with pytest.raises(ValueError, match="cannot load a causal LM"):
        load_model(str(tmp_path / "missing"))


def tiny_qwen2(vocab_size=300, d=32):
    from transformers import AutoModelForCausalLM, Qwen2Config
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=vocab_size, hidden_size=d, intermediate_size=2 * d, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)
    cfg.pad_token_id = cfg.eos_token_id = cfg.bos_token_id = 0
    return AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").float().eval()


@pytest.mark.parametrize("kind", ["gpt2", "llama", "qwen2", "neox"])
def test_scored_logits_match_full_logits_and_gradients(kind):
    """Logits only at scored positions (hidden -> gather -> lm_head, inside the jvp) = the full path, in the
    reference, the linearized policy and tau's gradient."""
    model = tiny_qwen2() if kind == "qwen2" else make_tiny_model(kind)
    lin = LinearizedModel(model)
    ids, mask = batch(model, B=3, T=12)
    keep = torch.zeros(3, 11, dtype=torch.bool)
    keep[:, 5:] = True
    keep[1, -3:] = False  # that row is padded at the end
    tau = random_tau(lin, scale=1e-2)
    for t in tau.tensors.values():
        t.requires_grad_(True)
    grads = []
    for k in (None, keep):
        f0, f_lin = lin(ids, mask, tau=tau, keep=k)
        if k is None:
            f0, f_lin = f0[:, :-1][keep], f_lin[:, :-1][keep]
        assert f0.shape == f_lin.shape == (int(keep.sum()), model.config.vocab_size)
        target = ids[:, 1:][keep]
        logp = torch.log_softmax(f_lin, -1).gather(-1, target[:, None]).sum()
        grads.append(torch.autograd.grad(logp, list(tau.tensors.values())))
        if k is None:
            full = (f0, f_lin)
        else:
            torch.testing.assert_close(f0, full[0], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(f_lin, full[1], rtol=1e-5, atol=1e-6)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(lin.base_logits(ids, mask, keep=keep), full[0], rtol=1e-5, atol=1e-6)


def test_base_available_knows_folders_smollm2_and_cached_hub_ids(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from plumbing.models import base_available
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    snap = tmp_path / "hub" / "models--org--tiny" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (tmp_path / "hub" / "models--org--tiny" / "refs").mkdir()
    (tmp_path / "hub" / "models--org--tiny" / "refs" / "main").write_text("abc123")
    assert base_available("org/tiny") and base_available("smollm2") and base_available(str(tmp_path))
    assert not base_available("org/other") and not base_available(str(tmp_path / "nope"))
    assert not base_available("not a // repo id")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_vector_holding_nan_or_inf_is_refused_at_load(tiny_gpt2, tmp_path, bad):
    """A diverged run's vector would export a NaN model: every reader goes through TaskVector.load, which refuses it."""
    lin = LinearizedModel(tiny_gpt2)
    tau = random_tau(lin, seed=4)
    name = tau.names[1]
    tau.tensors[name][0] = bad
    path = tmp_path / "task_vector.safetensors"
    tau.save(str(path), {"base_fingerprint": fingerprint(tiny_gpt2)})
    with pytest.raises(ValueError, match=f"{path}: tensor {name} holds NaN or inf") as e:
        TaskVector.load(str(tmp_path), base=tiny_gpt2)
    assert "\n" not in str(e.value)
    tau.tensors[name][0] = 0.0  # the same file without it loads
    tau.save(str(path), {"base_fingerprint": fingerprint(tiny_gpt2)})
    assert sorted(TaskVector.load(str(tmp_path), base=tiny_gpt2).names) == sorted(tau.names)


def test_a_base_folder_without_tokenizer_files_is_refused(tiny_gpt2, tiny_tokenizer, tmp_path):
    """AutoTokenizer would silently give a 1-token tokenizer for a folder holding only the model."""
    from plumbing.models import load_tokenizer
    tiny_gpt2.save_pretrained(tmp_path / "bare")
    with pytest.raises(ValueError, match="--base .*bare: the folder has no tokenizer") as e:
        load_tokenizer(str(tmp_path / "bare"))
    assert "tokenizer.json" in str(e.value) and "\n" not in str(e.value)
    tiny_tokenizer.save_pretrained(tmp_path / "bare")
    assert len(load_tokenizer(str(tmp_path / "bare"))) == len(tiny_tokenizer)
