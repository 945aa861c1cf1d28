"""What mixing costs, made cheaper without changing a number: one primal for K tangents (jvp_of_many) and the frozen
trunk run once (linearize.Trunk), each against the plain computation it replaces."""
from collections import OrderedDict

import pytest
import torch
from conftest import make_tiny_model, random_taus

from linearize import LinearizedModel, Trunk, apply_vectors, scored_logits, trunk_depth
from measure.sweeps import linearization_gap, pair_sweep
from train_tangent import StandardPolicy

TOP = {"gpt2": r"transformer\.h\.2\.", "llama": r"model\.layers\.2\.", "qwen2": r"model\.layers\.2\.",
       "mistral": r"model\.layers\.2\.", "neox": r"gpt_neox\.layers\.2\."}


@pytest.fixture(autouse=True)
def fresh_memo(monkeypatch):
    """Each test starts with no trunk remembered (the memo is shared by every model of a process)."""
    monkeypatch.setattr(Trunk, "_memo", OrderedDict())


def model_of(kind, n_layer=3, d=32, vocab_size=300):
    """A random 3-block causal LM of any family the trunk knows (and GPT-NeoX, which it does not)."""
    if kind in ("gpt2", "llama", "neox"):
        return make_tiny_model(kind, n_layer=n_layer, d=d, vocab_size=vocab_size)
    from transformers import AutoModelForCausalLM, MistralConfig, Qwen2Config
    torch.manual_seed(0)
    cfg = {"qwen2": Qwen2Config, "mistral": MistralConfig}[kind](
        vocab_size=vocab_size, hidden_size=d, intermediate_size=2 * d, num_hidden_layers=n_layer,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)
    cfg.pad_token_id = cfg.eos_token_id = cfg.bos_token_id = 0
    return AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").float().eval()


def padded_batch(pad, B=3, T=10, seed=0):
    """ids, mask, keep (the next token scored) with one padded row, on the left or on the right."""
    ids = torch.randint(1, 300, (B, T), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones_like(ids)
    if pad == "left":
        mask[0, :3] = 0
    else:
        mask[0, -3:] = 0
    keep = mask[:, 1:].bool() & mask[:, :-1].bool()
    keep[:, :2] = False  # a prompt that is not scored
    return ids, mask, keep


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_one_primal_for_k_tangents_equals_k_jvps(kind):
    model = make_tiny_model(kind)
    lin = LinearizedModel(model)
    taus = random_taus(lin, k=3)
    ids, mask, keep = padded_batch("left")
    f0, gs = lin.jvp_many(ids, mask, taus, keep=keep)
    fn = lin._logits(ids, mask, None, keep)
    for tau, g in zip(taus, gs):
        f0_k, g_k = lin.jvp_of(fn, tau)
        torch.testing.assert_close(g, g_k, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(f0, f0_k, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["gpt2", "llama", "qwen2", "mistral"])
@pytest.mark.parametrize("pad", ["left", "right"])
def test_the_top_from_the_trunk_equals_the_full_forward(kind, pad):
    """The base and a moved copy, at the scored positions and over the whole (B, T, V), with and without explicit
    positions: the top blocks run from the recorded trunk give the full forward's logits."""
    model = model_of(kind)
    lin = LinearizedModel(model, TOP[kind])
    moved = apply_vectors(model, random_taus(lin, k=2, scale=0.5), [1.0, -0.7])
    ids, mask, keep = padded_batch(pad)
    for pos in (None, (mask.cumsum(-1) - 1).clamp(min=0)):
        trunk = Trunk(model, lin.names, ids, mask, position_ids=pos)
        assert trunk.depth == 2 and trunk.state is not None
        for m in (model, moved):
            for k in (keep, None):
                want = scored_logits(m, ids, mask, keep=k, position_ids=pos)
                torch.testing.assert_close(scored_logits(m, ids, mask, keep=k, position_ids=pos, trunk=trunk), want,
                                           rtol=1e-5, atol=1e-6)
    assert not torch.allclose(scored_logits(moved, ids, mask, keep), scored_logits(model, ids, mask, keep))


def test_the_trunk_stays_out_when_it_cannot_be_shared(capsys, monkeypatch):
    """Vectors that move the embeddings (GPT-2's tied wte and lm_head) leave no frozen trunk; a family the trunk does
    not know runs whole, said once (per process), with the same numbers."""
    monkeypatch.setattr(Trunk, "_said", set())
    gpt2 = model_of("gpt2")
    assert trunk_depth(gpt2, ["transformer.wte.weight", "transformer.h.2.mlp.c_fc.weight"]) is None
    assert trunk_depth(gpt2, ["transformer.h.1.attn.c_attn.weight", "transformer.ln_f.weight"]) == 1
    neox = model_of("neox")
    ids, mask, keep = padded_batch("right")
    for _ in range(2):
        trunk = Trunk(neox, LinearizedModel(neox, TOP["neox"]).names, ids, mask)
        assert trunk.state is None
        torch.testing.assert_close(scored_logits(neox, ids, mask, keep, trunk=trunk), scored_logits(neox, ids, mask, keep))
    assert capsys.readouterr().out.count("gpt_neox models run every block") == 1


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_standard_dpo_with_the_shared_trunk_gives_the_same_logits_and_gradients(kind):
    """StandardPolicy runs the frozen bottom once for the policy and the reference: same f0, f_theta and gradient."""
    policy = StandardPolicy(model_of(kind), TOP[kind])
    with torch.no_grad():  # a policy that has moved: its top differs from the reference's
        for p in policy.policy.parameters():
            if p.requires_grad:
                p.add_(0.3 * torch.randn_like(p))
    ids, mask, keep = padded_batch("left")
    f0, f = policy(ids, mask, keep=keep)
    want0, want = scored_logits(policy.ref[0], ids, mask, keep), scored_logits(policy.policy, ids, mask, keep)
    torch.testing.assert_close(f0, want0, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(f, want, rtol=1e-5, atol=1e-6)
    params = [p for p in policy.policy.parameters() if p.requires_grad]
    grads = [torch.autograd.grad(torch.log_softmax(x, -1)[:, 7].sum(), params) for x in (f, want)]
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_nonlinear_sweep_and_gap_with_the_trunk_equal_them_without(monkeypatch):
    """pair_sweep's nonlinear points (and so kl_scale's) and the linearization gap, trunk on vs every block per point."""
    from data import collate_pairs
    model = model_of("llama")
    lin = LinearizedModel(model, TOP["llama"])
    taus = random_taus(lin, k=2, scale=0.3)
    g = torch.Generator().manual_seed(5)
    tokens = lambda n: torch.randint(1, 300, (n,), generator=g).tolist()
    batch = collate_pairs([{"prompt_ids": tokens(4), "chosen_ids": tokens(5), "rejected_ids": tokens(3)}
                           for _ in range(3)], pad_id=0)
    alphas = torch.tensor([[0.0, 0.0], [1.0, -0.5], [2.0, 1.0]])
    runs = []
    for share in (True, False):
        monkeypatch.setattr(Trunk, "share", share)
        runs.append((pair_sweep(batch, taus, alphas, model=model), linearization_gap(model, taus[0], batch)))
    (with_trunk, gap), (without, gap_without) = runs
    for key in ("margins", "kl", "kl_seq"):
        torch.testing.assert_close(with_trunk[key], without[key], rtol=1e-5, atol=1e-6)
    assert gap == pytest.approx(gap_without, rel=1e-5) and gap[1.0] > 0


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_the_jvp_over_the_top_equals_the_jvp_over_the_whole_network(kind, monkeypatch):
    """TS-DPO's forward with the trunk outside the jvp: the same f0, f_lin and gradient in tau as with every block
    inside it."""
    lin = LinearizedModel(model_of(kind), TOP[kind])
    tau = random_taus(lin, k=1, scale=0.3)[0]
    for t in tau.tensors.values():
        t.requires_grad_(True)
    ids, mask, keep = padded_batch("right")
    runs = []
    for share in (True, False):
        monkeypatch.setattr(Trunk, "share", share)
        f0, f_lin = lin(ids, mask, tau=tau, keep=keep)
        grad = torch.autograd.grad(torch.log_softmax(f_lin, -1)[:, 3].sum(), list(tau.tensors.values()))
        runs.append((f0, f_lin, grad))
    (f0, f_lin, grad), (f0_all, f_lin_all, grad_all) = runs
    torch.testing.assert_close(f0, f0_all, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(f_lin, f_lin_all, rtol=1e-5, atol=1e-6)
    for a, b in zip(grad, grad_all):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_the_trunk_of_a_batch_seen_before_is_remembered_until_a_frozen_weight_changes(monkeypatch):
    """An evaluation visits the same pairs many times, and runs of one seed train on the same batches: the second
    Trunk of the same batch runs no block, for the same model or another with equal weights below the top (a run's
    policy copy); other inputs, other weights, or an in-place edit of a trunk weight run them again, with the same
    result as a fresh trunk."""
    model, twin, other = model_of("llama"), model_of("llama"), model_of("llama")
    with torch.no_grad():
        other.model.layers[0].self_attn.q_proj.weight[0, 0] += 1e-3  # one weight of the trunk differs
        twin.model.layers[2].mlp.up_proj.weight.mul_(2.0)  # the top differs: the trunk is the same
    names = [n for n, _ in model.named_parameters() if n.startswith("model.layers.2.")]
    ids, mask, _ = padded_batch("left")
    calls = []
    for m in (model, twin, other):
        m.model.layers[0].register_forward_pre_hook(lambda *a: calls.append(1))
    first = Trunk(model, names, ids, mask)
    again = Trunk(model, names, ids.clone(), mask.clone())  # equal by value: remembered
    assert len(calls) == 1 and again.state is first.state
    assert Trunk(twin, names, ids, mask).state is first.state and len(calls) == 1  # equal weights below the top
    Trunk(model, names, ids[:2], mask[:2])  # other inputs
    moved = Trunk(other, names, ids, mask)  # a trunk weight differs
    assert len(calls) == 3 and not torch.equal(moved.state[0], first.state[0])
    with torch.no_grad():
        model.model.layers[1].mlp.up_proj.weight.mul_(1.5)  # a trunk weight edited in place
    edited = Trunk(model, names, ids, mask)
    assert len(calls) == 4 and not torch.equal(edited.state[0], first.state[0])
    with torch.no_grad():
        model.model.embed_tokens.weight.add_(0.1)  # the embeddings are below the trunk too
    Trunk(model, names, ids, mask)
    assert len(calls) == 5
    one = Trunk._memo[next(reversed(Trunk._memo))][1]  # the bytes of one batch's trunk
    monkeypatch.setattr(Trunk, "MEMO", one)  # room for one batch: the other is forgotten
    Trunk(model, names, ids[:2], mask[:2]), Trunk(model, names, ids, mask)
    assert len(calls) == 7 and len(Trunk._memo) == 1
    monkeypatch.setattr(Trunk, "MEMO", 0)
    fresh, again = Trunk(model, names, ids, mask), Trunk(model, names, ids, mask)
    assert len(calls) == 9 and torch.equal(fresh.state[0], again.state[0]) and fresh.state is not again.state


@pytest.mark.parametrize("kind", ["gpt2", "llama", "qwen2", "mistral"])
def test_a_prefix_every_row_shares_runs_the_trunk_once_and_gives_the_full_forward(kind, monkeypatch):
    """A chat template opens every sequence with the same system prompt: the trunk runs it once (one row, kept for
    the next batch) and each row's own tokens after it, attending to its keys and values. The top from there gives
    the full forward's logits with right padding; a left-padded batch shares no prefix and runs whole."""
    monkeypatch.setattr(Trunk, "_prefixes", {})
    model = model_of(kind)
    lin = LinearizedModel(model, TOP[kind])
    moved = apply_vectors(model, random_taus(lin, k=2, scale=0.5), [1.0, -0.7])
    seen = []
    model.base_model.get_input_embeddings().register_forward_hook(lambda m, a, out: seen.append(tuple(a[0].shape)))
    for seed, pad in ((0, "right"), (1, "right"), (2, "left")):
        ids, mask, keep = padded_batch(pad, B=3, T=16, seed=seed)
        ids[:, :9] = torch.arange(1, 10)  # the shared prefix: 9 tokens
        seen.clear()
        trunk = Trunk(model, lin.names, ids, mask)
        for m in (model, moved):
            torch.testing.assert_close(scored_logits(m, ids, mask, keep, trunk=trunk), scored_logits(m, ids, mask, keep),
                                       rtol=1e-5, atol=1e-5)
        runs = seen[:-1]  # the last: the base's full forward compared with (the moved copy has no hook)
        if pad == "left":
            assert runs == [(3, 16)]
        else:  # the prefix once (on the first batch only), the rows' own 7 tokens, then the mask and positions
            assert runs == ([(1, 9)] if seed == 0 else []) + [(3, 7), (3, 16)]


def test_an_sft_of_the_top_blocks_through_the_trunk_trains_as_the_full_forward(monkeypatch):
    """base_model.sft with a shared chat-template prefix: the trunk (prefix once, no graph below the trained block)
    gives the same losses and weights as every block run every step (Trunk.share off). GPT-2 in train mode draws
    dropout (0.1 here): neither its prefix nor its batch is kept, and in eval mode both are."""
    import random

    import base_model
    gen = torch.Generator().manual_seed(2)
    examples = []
    for n in (6, 9, 7, 11, 8, 10):
        ids = list(range(1, 10)) + torch.randint(10, 300, (n,), generator=gen).tolist()  # a 9-token shared prefix
        examples.append((ids, [-100] * 11 + ids[11:]))
    trained = {}
    for share in (False, True):
        monkeypatch.setattr(Trunk, "share", share)
        monkeypatch.setattr(Trunk, "_prefixes", {})
        model = model_of("llama", n_layer=2)
        params = [p for n, p in model.named_parameters() if n.startswith("model.layers.1.")]
        for p in model.parameters():
            p.requires_grad_(any(p is q for q in params))
        bottom = []
        model.model.layers[0].register_forward_hook(lambda m, a, out: bottom.append(tuple(a[0].shape[:2])))
        loss = base_model.sft(model, examples, params, 6, 2, 1e-2, 1, random.Random(0), 0, show_progress=False)
        trained[share] = loss, [p.detach().clone() for p in params], bottom
    (l0, w0, b0), (l1, w1, b1) = trained[False], trained[True]
    assert b1[0] == (1, 9) and all(t < u for (_, t), (_, u) in zip(b1[1:], b0))  # each row's own tokens after it
    assert abs(l0 - l1) < 1e-5
    for a, b in zip(w0, w1):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert not torch.equal(w1[0], model_of("llama", n_layer=2).model.layers[1].self_attn.q_proj.weight)
    monkeypatch.setattr(Trunk, "_prefixes", {})
    gpt2 = model_of("gpt2")
    names = LinearizedModel(gpt2, TOP["gpt2"]).names  # (LinearizedModel puts its model in eval mode)
    ids = torch.tensor([list(range(1, 10)) + [20, 21], list(range(1, 10)) + [22, 23]])
    assert Trunk(gpt2.train(), names, ids).state is not None and not Trunk._prefixes
    assert Trunk(gpt2.eval(), names, ids).state is not None and Trunk._prefixes
