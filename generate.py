"""Sampling from theta0 + sum_k alpha_k tau_k, linearized or nonlinear: the one sampler of every script.

Linearized (TS-DPO): rows = (prompt, alpha point) decode together. Each step runs one primal and K tangents for the
whole batch (a KV cache carries the primal keys/values and their tangents) and each row mixes the shared
g_k = J tau_k with its own alphas (linearize.combine). One slider setting for every row needs one tangent, along
sum_k alpha_k tau_k: J is linear. Nonlinear: a plain forward of an apply_vectors copy.

Sampling is temperature plus top-p by the inverse CDF at one uniform per row and step. A row's stream depends only
on (seed, key), so prompt i draws the same numbers in every method, at every alpha point and in every batch layout:
common random numbers. Two nearby models then give the same token unless a boundary moved past u.

    python compose.py --base runs/base --vectors runs/ts-helpfulness runs/ts-verbosity --alphas 1.0 -0.5  # samples
"""
import torch
from torch.utils._pytree import tree_map
from tqdm import tqdm

from data import format_prompt
from linearize import Trunk, apply_vectors, as_alphas, combine

TOP_P = 0.95  # the project's sampling default (every sampler, every script): nucleus sampling cuts the garbled tail


def _prompt_ids(tokenizer, prompts):
    """Token ids exactly as in training: the (chat-formatted) prompt, add_special_tokens=False."""
    ids = [tokenizer(format_prompt(tokenizer, p), add_special_tokens=False)["input_ids"] for p in prompts]
    return [x or [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
            for x in ids]


def _nonlinear_step(model):
    """(ids, mask, pos, cache, rows) -> (last-position logits (b, V), cache) for the plain model."""
    from transformers import DynamicCache

    def step(ids, mask, pos, cache, rows):
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, cache=DynamicCache(cache or None),
                    use_cache=True, logits_to_keep=1)
        return out.logits[:, -1], tuple((layer.keys, layer.values) for layer in out.cache.layers)
    return step


def _linear_step(lin, taus, alphas):
    """The linearized model with a KV cache: state = (frozen blocks' cache, moving blocks' cache, its K tangents).

    The cache is an input and an output of the jvp'd function, so its tangent (d keys/values along tau_k) flows
    through every step: the result equals the jvp of a full-sequence forward (tests check it). What a step costs:
    - the frozen blocks once, as a plain forward outside the jvp (linearize.Trunk); their cache has no tangent;
    - the moving blocks' primal once and their K tangents batched (vmap: LinearizedModel.jvp_of_many), or one
      tangent per distinct mix when the rows ask for fewer mixes than there are vectors (one slider setting);
    - one head per row when the head is frozen: the tangents mix in hidden space, h0 + sum_k alpha_k J_h tau_k,
      and the (V x d) head runs once on the mix, as in the merged model. The head is linear, so this is
      f0 + sum_k alpha_k J tau_k exactly; with a moving head the K tangents are mixed as logits."""
    from transformers import DynamicCache
    model = lin.model
    head = model.get_output_embeddings()
    params = dict(model.named_parameters())
    in_hidden = not any(params[n] is p for n in lin.names for p in head.parameters())
    n_blocks = model.config.num_hidden_layers
    # fewer distinct alpha rows than vectors (one slider setting: play.py, a deployed mix): one tangent per mix,
    # sum_k alpha_k tau_k, since J is linear in it; each row then adds its mix's tangent. Else K tangents, mixed per row
    mixes, which = torch.unique(alphas, dim=0, return_inverse=True) if taus else (None, None)
    mix_first = taus and len(mixes) < len(taus)
    stacked = lin.stack(taus, mixes if mix_first else None) if taus else None  # once per generation, not per step

    def step(ids, mask, pos, state, rows):
        bottom, top, tangents = state if state is not None else ((), (), ())
        cache = DynamicCache(bottom + top or None)
        trunk = Trunk(model, lin.names, ids, mask, pos, cache=cache) if in_hidden else None
        depth = trunk.depth if trunk is not None and trunk.state is not None else 0
        bottom = tuple((layer.keys, layer.values) for layer in cache.layers[:depth])  # now with this step's

        def f(theta, top):
            c = DynamicCache(((None, None),) * depth + (top or ((None, None),) * (n_blocks - depth)))  # None: empty
            c.layers[:depth] = cache.layers[:depth]  # the trunk's, as they are: no copy of the frozen blocks' cache
            kw = dict(input_ids=ids, attention_mask=mask, position_ids=pos, cache=c, use_cache=True)
            if not in_hidden:
                y = lin.call(theta, **kw, logits_to_keep=1).logits[:, -1]
            elif depth:
                y = lin.call(theta, lambda lm: trunk.top(lm, c))[:, -1]
            else:
                y = lin.call(theta, lambda lm, **kw: lm.base_model(**kw).last_hidden_state, **kw)[:, -1]
            return y, tuple((layer.keys, layer.values) for layer in c.layers[depth:])

        if not taus:
            y, top = f(lin.theta0, top)
            return (head(y) if in_hidden else y), (bottom, top, ())
        (y, top), (dy, tangents) = lin.jvp_of_many(f, stacked, top, state_tangents=(tangents,), dim=1)  # dy (b, K, ..)
        if mix_first:
            y = y + dy[torch.arange(len(rows)), which[rows]].to(y.dtype)
        else:
            y = combine(y, list(dy.unbind(1)), alphas[rows])
        return (head(y) if in_hidden else y), (bottom, top, tangents)
    return step


def _pick(logits, u, greedy, temperature, top_p):
    """Next token per row: argmax, or the inverse CDF at u (B,) of the top-p nucleus of softmax(logits / T).

    The CDF runs over the vocabulary in its fixed order, so two nearby distributions (two alpha points, two
    methods) fed the same u give the same token unless a boundary moved past u: common random numbers."""
    if greedy:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        p, idx = probs.sort(-1, descending=True)
        p = p.masked_fill(p.cumsum(-1) - p > top_p, 0.0)  # keeps the smallest prefix with mass >= top_p
        probs = torch.zeros_like(probs).scatter_(-1, idx, p)
    cdf = probs.cumsum(-1)
    token = torch.searchsorted(cdf, (u.to(cdf) * cdf[:, -1]).unsqueeze(-1), right=True).squeeze(-1)
    return token.clamp(max=probs.shape[-1] - 1)


def _uniforms(keys, seed, steps):
    """(rows, steps) uniforms; row r's stream depends only on (seed, keys[r]): prompt i, sample j draws the same
    numbers in every method, at every alpha point and in every batch layout."""
    streams = {k: torch.rand(steps, generator=torch.Generator().manual_seed(seed * 1_000_003 + int(k)))
               for k in dict.fromkeys(keys)}  # one generator per distinct key: a sweep repeats each key per point
    return torch.stack([streams[k] for k in keys])


def _decode(step, prompt_ids, pad_id, eos_id, max_new_tokens, pick, max_positions):
    """Left-padded batched decoding; rows that emit eos leave the batch. Returns new token lists per row.

    pick(logits (b, V), rows (b,), t) -> next tokens (b,)."""
    n, T = len(prompt_ids), max(len(x) for x in prompt_ids)
    ids = torch.full((n, T), pad_id, dtype=torch.long)
    mask = torch.zeros((n, T), dtype=torch.long)
    for i, x in enumerate(prompt_ids):
        ids[i, T - len(x):], mask[i, T - len(x):] = torch.tensor(x), 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)  # explicit positions: a padded row equals the unpadded one
    out, rows, state = [[] for _ in range(n)], torch.arange(n), None
    steps = min(max_new_tokens, max_positions - T + 1) if max_positions else max_new_tokens
    for t in range(steps):
        logits, state = step(ids, mask, pos, state, rows)
        tok = pick(logits, rows, t)
        for r, x in zip(rows.tolist(), tok.tolist()):
            if x != eos_id:
                out[r].append(x)
        keep = tok != eos_id
        if t == steps - 1 or not keep.any():
            break
        rows, tok, mask, state = rows[keep], tok[keep], mask[keep], tree_map(lambda c: c[keep], state)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        ids, pos = tok[:, None], mask.sum(-1, keepdim=True) - 1
    return out


@torch.no_grad()
def generate(tokenizer, prompts, model=None, lin=None, taus=(), alphas=None, max_new_tokens=64, temperature=1.0,
             top_p=TOP_P, greedy=False, seed=0, batch_size=64, keys=None, stop_at_eos=True):
    """Responses (decoded, prompt removed, cut at eos) for each prompt.

    Linearized when `lin` is given: row i uses alphas[i] ((N, K), or (K,) for all rows). Nonlinear when
    `model` is given (a plain forward, e.g. an apply_vectors copy). keys (N,) name each row's random stream
    (default: its index); rows with the same key draw the same numbers (common random numbers). stop_at_eos=False:
    every row decodes max_new_tokens tokens (what lab/bench.py times per token)."""
    if (lin is None) == (model is None):
        raise ValueError("generate: pass exactly one of lin= (linearized) or model= (nonlinear)")
    base = lin.model if lin is not None else model
    if lin is not None:
        a = as_alphas(alphas, len(taus), rows=len(prompts))
        if a.shape[0] != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {a.shape[0]} alpha rows; give one row of alphas per prompt")
    eos_id = tokenizer.eos_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id
    eos_id = eos_id if stop_at_eos else -1  # no token is -1
    cfg = base.config
    max_positions = getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None)
    greedy = greedy or temperature <= 0
    keys = list(range(len(prompts))) if keys is None else list(keys)
    if len(keys) != len(prompts):
        raise ValueError(f"{len(prompts)} prompts but {len(keys)} random-stream keys; give one key per prompt")
    ids = _prompt_ids(tokenizer, prompts)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths together: less padding
    responses = [None] * len(ids)
    for s in tqdm(range(0, len(order), batch_size), desc="generate", leave=False, disable=len(order) <= batch_size):
        chunk = order[s:s + batch_size]
        u = None if greedy else _uniforms([keys[i] for i in chunk], seed, max_new_tokens)
        pick = lambda logits, rows, t: _pick(logits, None if u is None else u[rows, t], greedy, temperature, top_p)
        step = _linear_step(lin, list(taus), a[chunk]) if lin is not None else _nonlinear_step(model)
        new = _decode(step, [ids[i] for i in chunk], pad_id, eos_id, max_new_tokens, pick, max_positions)
        for i, toks in zip(chunk, new):
            responses[i] = tokenizer.decode(toks, skip_special_tokens=True)
    return responses


def generate_sweep(tokenizer, prompts, alpha_points, lin=None, model=None, taus=(), **gen_kwargs):
    """P lists of len(prompts) responses, one per alpha point (P, K).

    Linear: all P x N rows (each prompt once per alpha point) in one batched generate. Nonlinear: one
    apply_vectors copy per alpha point. Either way prompt i draws from the same random stream at every point."""
    a = as_alphas(alpha_points, len(taus))
    a = a.unsqueeze(0) if a.dim() == 1 else a
    n = len(prompts)
    if lin is not None:
        keys = gen_kwargs.pop("keys", None) or list(range(n))
        flat = generate(tokenizer, list(prompts) * len(a), lin=lin, taus=taus, alphas=a.repeat_interleave(n, 0),
                        keys=list(keys) * len(a), **gen_kwargs)
        return [flat[p * n:(p + 1) * n] for p in range(len(a))]
    return [generate(tokenizer, prompts, model=apply_vectors(model, list(taus), ap.tolist()), **gen_kwargs)
            for ap in tqdm(a, desc="generate sweep (nonlinear)", leave=False)]
