"""generate.py against independent computations: full-sequence jvps, one (prompt, alpha) at a time, one row at a
time, fresh random generators."""
import pytest
import torch
from conftest import ALPHAS, PROMPTS, make_tiny_model, random_taus

import generate
from linearize import LinearizedModel, combine


TOP_BLOCK = {"gpt2": r"transformer\.h\.1\.", "llama": r"model\.layers\.1\.", "neox": r"gpt_neox\.layers\.1\."}


@pytest.mark.parametrize("kind", ["gpt2", "llama", "neox"])
@pytest.mark.parametrize("top", [False, True], ids=["all", "top-block"])
@pytest.mark.parametrize("one_mix", [False, True], ids=["row-alphas", "one-mix"])
def test_cached_linear_decoding_equals_full_sequence_jvp(kind, top, one_mix, monkeypatch):
    """The KV-cached jvp step (tangents carried through the cache) equals jvp_many over the whole sequence: with every
    weight moving (tangents mixed as logits) and with only the top block moving (the frozen block's cache carries no
    tangent; the tangents mix in hidden space before the head; neox: the same without the frozen-trunk split).
    one-mix: every row has the same alphas, so the step runs one tangent along sum_k alpha_k tau_k, not K."""
    model = make_tiny_model(kind)
    lin = LinearizedModel(model, TOP_BLOCK[kind] if top else None)
    taus = random_taus(lin)
    alphas = torch.tensor([[1.0, -0.5], [1.0, -0.5]] if one_mix else [[1.0, -0.5], [-2.0, 1.0]])
    tangents = []
    many = lin.jvp_of_many
    monkeypatch.setattr(lin, "jvp_of_many", lambda fn, st, *a, **kw: tangents.append(
        len(next(iter(st.values()))) if isinstance(st, dict) else len(st)) or many(fn, st, *a, **kw))
    ids = torch.randint(1, 300, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, :3], ids[1, :3] = 0, 0  # left padding
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    f0, gs = lin.jvp_many(ids[:, :7], mask[:, :7], taus, position_ids=pos[:, :7])
    want = combine(f0, gs, alphas)
    step = generate._linear_step(lin, taus, alphas)
    logits, state = step(ids[:, :5], mask[:, :5], pos[:, :5], None, torch.arange(2))
    torch.testing.assert_close(logits, want[:, 4], atol=1e-5, rtol=1e-5)
    for t in range(5, 7):
        logits, state = step(ids[:, t:t + 1], mask[:, :t + 1], pos[:, t:t + 1], state, torch.arange(2))
        torch.testing.assert_close(logits, want[:, t], atol=1e-5, rtol=1e-5)
    assert tangents == [2] + [1 if one_mix else 2] * 3  # jvp_many over the sequence, then the 3 steps


def test_batched_alpha_generation_equals_per_alpha_and_eos_drops_rows(composed):
    """All alpha points in one batch equal each (prompt, alpha) decoded alone, token for token (greedy)."""
    tok, model, lin, taus = composed
    alphas = ALPHAS[[0, 2, 3]]
    ids = generate._prompt_ids(tok, PROMPTS)
    greedy = lambda logits, rows, t: logits.argmax(-1)
    rows = [(i, p) for p in range(len(alphas)) for i in range(len(PROMPTS))]
    alone = [generate._decode(generate._linear_step(lin, taus, alphas[[p]]), [ids[i]], 0, -1, 6, greedy, 128)[0]
             for i, p in rows]
    sweep = generate.generate_sweep(tok, PROMPTS, alphas, lin=lin, taus=taus, greedy=True, max_new_tokens=6)
    assert [s for sw in sweep for s in sw] == [tok.decode(x) for x in alone]
    assert sweep[0] == generate.generate(tok, PROMPTS, model=model, greedy=True, max_new_tokens=6)  # alpha 0 = base
    assert sweep[1] != sweep[2]  # the vectors do change the text
    # an 'eos' that rows emit at different steps: rows leave the batch (with their tangent caches) early
    eos = int(torch.bincount(torch.tensor(sum(alone, []))).argmax())
    cut = [x[:x.index(eos)] if eos in x else x for x in alone]
    assert len({len(c) for c in cut}) > 1
    batched = generate._decode(generate._linear_step(lin, taus, alphas[[p for _, p in rows]]),
                               [ids[i] for i, _ in rows], 0, eos, 6, greedy, 128)
    assert batched == cut


class EosAfter(torch.nn.Module):
    """Wraps a causal LM: eos becomes the argmax once the position reaches `at` (tests stopping)."""

    def __init__(self, model, eos, at):
        super().__init__()
        self.model, self.eos, self.at, self.config = model, eos, at, model.config

    def forward(self, position_ids=None, **kw):
        out = self.model(position_ids=position_ids, **kw)
        out.logits[..., self.eos] += 1e4 * (position_ids[:, -1:] >= self.at).float()
        return out


def test_generation_stops_at_eos_respects_max_new_tokens_and_padding(tiny_tokenizer):
    tok = tiny_tokenizer
    model = make_tiny_model("llama", len(tok))
    ids = generate._prompt_ids(tok, PROMPTS)
    greedy = lambda logits, rows, t: logits.argmax(-1)
    step = generate._nonlinear_step(model)
    free = [generate._decode(step, [x], tok.pad_token_id, tok.eos_token_id, 7, greedy, 128)[0] for x in ids]
    assert [len(x) for x in free] == [7] * len(PROMPTS)  # max_new_tokens respected
    at = 12  # eos is forced at position 12: rows stop after 12 - len(prompt) + 1 tokens (or max_new_tokens)
    stop = generate._decode(generate._nonlinear_step(EosAfter(model, tok.eos_token_id, at)), ids, tok.pad_token_id,
                            tok.eos_token_id, 7, greedy, 128)
    for x, f, s in zip(ids, free, stop):
        assert s == f[:max(0, min(7, at - len(x) + 1))]
    # batched (left padded, rows dropping out) equals one at a time, as text through the public API
    batched = generate.generate(tok, PROMPTS, model=model, greedy=True, max_new_tokens=7)
    assert batched == [generate.generate(tok, [p], model=model, greedy=True, max_new_tokens=7)[0] for p in PROMPTS]
    assert batched == [tok.decode(f) for f in free]
    # sampling is seeded and top-p of a tiny mass is greedy
    s1 = generate.generate(tok, PROMPTS, model=model, max_new_tokens=7, seed=3, top_p=0.9)
    assert s1 == generate.generate(tok, PROMPTS, model=model, max_new_tokens=7, seed=3, top_p=0.9)
    assert generate.generate(tok, PROMPTS, model=model, max_new_tokens=7, top_p=1e-6) == batched


def test_common_random_numbers(composed):
    """Prompt i draws the same numbers everywhere: in any batch layout, at every alpha point, linear or nonlinear.
    So alpha = 0 in the linearized sweep samples exactly what the base samples, and a repeated key repeats a text."""
    tok, model, lin, taus = composed
    kw = dict(max_new_tokens=6, seed=7, top_p=0.95)
    base = generate.generate(tok, PROMPTS, model=model, **kw)
    assert base == [generate.generate(tok, [p], model=model, keys=[i], **kw)[0] for i, p in enumerate(PROMPTS)]
    assert base == generate.generate(tok, PROMPTS, model=model, batch_size=1, **kw)
    sweep = generate.generate_sweep(tok, PROMPTS, ALPHAS[[0, 2]], lin=lin, taus=taus, **kw)
    assert sweep[0] == base  # the linear sweep's alpha = 0 rows, batched with other alphas, = the base alone
    nonlinear = generate.generate_sweep(tok, PROMPTS, ALPHAS[[0, 2]], model=model, taus=taus, **kw)
    assert nonlinear[0] == base
    # other keys are other streams; the same key twice is the same text
    twice = generate.generate(tok, [PROMPTS[0]] * 4, model=model, keys=[0, 0, 1, 2], **kw)
    assert twice[0] == twice[1] == base[0] and len(set(twice[1:])) > 1
    # the uniforms themselves: one stream per key (drawn once per distinct key), the same as a fresh generator
    u = generate._uniforms([3, 5, 3], seed=7, steps=4)
    fresh = torch.rand(4, generator=torch.Generator().manual_seed(7 * 1_000_003 + 5))
    assert torch.equal(u[0], u[2]) and torch.equal(u[1], fresh) and not torch.equal(u[0], u[1])
