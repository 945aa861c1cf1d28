"""The tangent (linearized) model and the task vector.

A causal LM f(x; theta) is linearized around its pretrained weights theta0 (Ortiz-Jimenez et al., 2023):

    f_lin(x; theta0 + tau) = f(x; theta0) + J_theta f(x; theta0) . tau

One call of `torch.func.jvp` returns both terms: the primal output f(x; theta0) (the frozen reference
model's logits, which DPO needs anyway) and the tangent output J tau (a Jacobian-vector product, about
the cost of one more forward). f_lin is linear in tau, so directions trained in this regime add:

    f_lin(x; theta0 + sum_k alpha_k tau_k) = f0 + sum_k alpha_k J tau_k

`TaskVector` holds tau: named tensors keyed like the base's parameters, with + - * sum() norm cosine,
saved as safetensors (tau only) next to a fingerprint of the base it belongs to.

    python linearize.py --base runs/base            # prints what is linearized and checks tau = 0
    python linearize.py --base runs/base --linearize "h\\.3\\."   # only the last block moves
"""
import copy
import hashlib
import math
import os
import re
import weakref
from collections import OrderedDict

import torch
from torch.func import functional_call, jvp, vmap
from torch.utils._pytree import tree_leaves, tree_map

from plumbing.cli import Parser, run_cli
from plumbing.models import load_model
from plumbing.run_folder import atomic_write

FORWARD_AD_ATTENTION = ("eager",)  # fused SDPA / flash kernels have no forward-mode derivative


class LinearizedModel(torch.nn.Module):
    """f_lin(x; theta0 + tau) = f(x; theta0) + J f(x; theta0) . tau over any causal LM.

    `linearize` is a regex on parameter names: matching parameters move along tau, the rest stay at
    theta0 (None = all). theta0 is frozen and detached; tied weights (GPT-2's lm_head/wte) count once."""

    def __init__(self, model, linearize=None):
        super().__init__()
        check_attention(model)
        self.model = freeze(model)
        self.names = select_parameters(model, linearize)
        params = dict(model.named_parameters())  # remove_duplicate=True: a tied weight appears once
        self.theta0 = {n: params[n].detach() for n in self.names}

    def zero_tau(self, dtype=None):
        return TaskVector({n: torch.zeros_like(p, dtype=dtype) for n, p in self.theta0.items()})

    def tangent(self, tau):
        """tau as the jvp's tangent: one tensor per linearized parameter (zeros where tau has none)."""
        extra = [n for n in tau.names if n not in self.theta0]
        if extra:
            raise ValueError(f"task vector moves {extra[0]}, which this linearized model keeps at theta0; "
                             f"use the same --linearize as in training")
        return {n: tau.tensors[n].to(p.dtype) if n in tau else torch.zeros_like(p) for n, p in self.theta0.items()}

    def call(self, theta, fn=None, **inputs):
        """The network's output at theta (the linearized parameters; the others stay at theta0): model(**inputs), or
        fn(model, **inputs) for any other function of it (scored_logits, the top above a Trunk, ...)."""
        if fn is None:
            return functional_call(self.model, theta, args=(), kwargs=inputs)
        return functional_call(_At(self.model, fn), {f"lm.{n}": t for n, t in theta.items()}, args=(), kwargs=inputs)

    def jvp_of(self, fn, tau, *state, state_tangents=()):
        """(fn(theta0, *state), d/de fn(theta0 + e tau, *state + e state_tangents) at e = 0): THE jvp of this repo.

        fn(theta, *state) is any function of the network at theta (use self.call), returning a pytree of
        tensors: logits, pooled hidden states, or (logits, KV cache) when decoding, where the cache is the
        extra `state` whose tangent flows from step to step. Every other file linearizes through here."""
        return jvp(fn, (self.theta0, *state), (self.tangent(tau), *state_tangents))

    def jvp_of_many(self, fn, taus, *state, state_tangents=(), dim=0):
        """jvp_of for K vectors at once: (fn(theta0, *state), the K tangents stacked along `dim`).

        vmap over the jvp's tangent argument: theta0's forward runs once, only the tangent arithmetic is batched
        K-fold, so K vectors cost one primal plus K tangents, not K primals. The numbers equal K separate jvp_of
        calls (tests check it). state_tangents come stacked along `dim` too. taus: the vectors, or stack(taus) made
        once for many calls (a decoding loop)."""
        stacked = taus if isinstance(taus, dict) else self.stack(taus)
        one = lambda tan, *st: jvp(fn, (self.theta0, *state), (tan, *st))
        if len(next(iter(stacked.values()))) == 1:  # vmap over 1 trips on outputs that do not depend on the tangent
            y, dy = one({n: t[0] for n, t in stacked.items()}, *tree_map(lambda t: t.select(dim, 0), state_tangents))
            return y, tree_map(lambda t: t.unsqueeze(dim), dy)
        return vmap(one, in_dims=(0,) + (dim,) * len(state_tangents), out_dims=(None, dim))(stacked, *state_tangents)

    def stack(self, taus, mixes=None):
        """The K vectors as one tangent, {name: (K, *shape)}: each slice laid out like its weight, as the jvp wants.

        mixes (D, K): the D mixed vectors sum_k mixes[d, k] tau_k instead. J is linear in its tangent, so the jvp
        along a mix is the same mix of the K jvps: D tangents, not K, when fewer mixes than vectors are asked for."""
        t = [self.tangent(tau) for tau in taus]
        s = {n: torch.stack([ti[n] for ti in t]) for n in self.theta0}
        return s if mixes is None else {n: torch.tensordot(mixes.to(v), v, dims=1) for n, v in s.items()}

    def _logits(self, input_ids, attention_mask, position_ids, keep=None):
        """theta -> scored_logits at theta. The frozen trunk (the blocks below the first one that moves) runs here,
        once and outside the jvp: inside it only the moving top pays the forward-mode machinery."""
        trunk = Trunk(self.model, self.names, input_ids, attention_mask, position_ids)
        inputs = dict(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, keep=keep,
                      trunk=trunk)
        return lambda theta: self.call(theta, scored_logits, **inputs)

    @torch.no_grad()
    def base_logits(self, input_ids, attention_mask=None, position_ids=None, keep=None):
        """f(x; theta0), (B, T, V), or (N, V) at the scored positions `keep`: the reference model."""
        return scored_logits(self.model, input_ids, attention_mask, keep, position_ids)

    def forward(self, input_ids, attention_mask=None, tau=None, position_ids=None, keep=None):
        """(f0, f_lin), each (B, T, V), or (N, V) with keep (see scored_logits). f0 carries no graph; f_lin (at least
        fp32) is differentiable in tau."""
        if tau is None:
            f0 = self.base_logits(input_ids, attention_mask, position_ids, keep)
            return f0, f0
        f0, j_tau = self.jvp_of(self._logits(input_ids, attention_mask, position_ids, keep), tau)
        f0, dtype = f0.detach(), torch.promote_types(f0.dtype, torch.float32)
        return f0, f0.to(dtype) + j_tau.to(dtype)  # summed in >= fp32: in bf16 a small J tau would round away

    def jvp_many(self, input_ids, attention_mask, taus, position_ids=None, keep=None):
        """(f0, [J tau_k]): one primal and K tangents, after which any alpha combination is f0 + sum_k alpha_k J tau_k."""
        if not taus:
            return self.base_logits(input_ids, attention_mask, position_ids, keep), []
        f0, gs = self.jvp_of_many(self._logits(input_ids, attention_mask, position_ids, keep), taus)
        return f0.detach(), list(gs.unbind(0))


def scored_logits(model, input_ids, attention_mask=None, keep=None, position_ids=None, trunk=None):
    """Logits only where they are scored (the cost floor of every DPO path).

    keep (B, T-1) bool marks the positions t whose NEXT token is scored (keep = labels[:, 1:] != -100). Then
        hidden states (B, T, d) -> gather h[:, :-1][keep] (N, d) -> lm_head -> (N, V)
    instead of (B, T, V): prompt, chat template and padding never reach the vocabulary-sized head. keep=None gives
    the ordinary (B, T, V) logits. Works for any HF causal LM whose logits are lm_head(last hidden state)
    (GPT-2, Llama, Qwen2, GPT-NeoX, ...; tests compare it with the full forward). trunk: this batch's Trunk, when
    `model` equals theta0 below it; then only the blocks above it run."""
    inputs = dict(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False)
    if trunk is not None and trunk.state is not None:
        h = trunk.top(model)
    elif keep is None:
        return model(**inputs).logits
    else:
        h = model.base_model(**inputs).last_hidden_state
    return model.get_output_embeddings()(h if keep is None else h[:, :-1][keep])


class _At(torch.nn.Module):
    """fn(lm, **inputs) as a module with `lm.` in front of every parameter name, so that functional_call (and so the
    jvp) can run any function of the network at any theta."""

    def __init__(self, lm, fn):
        super().__init__()
        self.lm, self.fn = lm, fn

    def forward(self, **inputs):
        return self.fn(self.lm, **inputs)


# ----------------------------------------------------------------------------- the frozen trunk
TRUNK_FAMILIES = {"gpt2": ("h", "ln_f"), "llama": ("layers", "norm"), "qwen2": ("layers", "norm"),
                  "mistral": ("layers", "norm")}  # base_model's block list and final norm; others run whole


class _Stop(Exception):
    """Raised by the hook that has what it came for: the rest of the forward is not needed."""


class Trunk:
    """The bottom blocks that no vector moves, run once per batch.

    When only the top blocks move (--linearize "layers\\.(28|29)\\."), every model a sweep or a DPO step runs, the
    base, a trained policy, an apply_vectors copy at any alpha point, equals theta0 below them, so the hidden
    states entering the first moving block are the same for all of them. Trunk(model, names, ids, mask) computes
    them once (a hook on that block records its input and arguments: masks, rotary embeddings, positions, and
    stops the forward); scored_logits(..., trunk=) then runs only the blocks above. For GPT-2 and the Llama family
    (SmolLM2, Llama, Qwen2, Mistral); any other model (or vectors that move the embeddings) runs whole, said once.

    An evaluation visits the same pairs many times (KL, calibration, sweeps, gap), and runs of one seed train on the
    same batches, so the latest trunks (MEMO bytes) are remembered for all models, keyed by the inputs, the depth
    and the content of the weights below it (_frozen_digest: an in-place edit of a frozen weight is a miss). Within
    a batch, the tokens every row begins with (a chat template's system prompt, about a third of SmolLM2's short
    sequences) run once, as one row: each row's own tokens then attend to its keys and values."""
    _said = set()
    share = True  # lab/bench.py turns it off to time the old way: every block for every model
    MEMO = 512 << 20  # bytes of trunk states remembered; lab/bench.py sets 0: a timed step pays its trunk
    _memo = OrderedDict()  # key -> (state, bytes), oldest first
    _digests = weakref.WeakKeyDictionary()  # model -> (storage and version of its frozen weights, their digest)
    PREFIX = 8  # tokens that every row of a batch begins with, at least, for them to run the trunk once for all
    _prefixes = {}  # the last shared prefix: its key -> (hidden states, KV cache)

    def __init__(self, model, names, input_ids, attention_mask=None, position_ids=None, cache=None, remember=True):
        """cache: a KV cache (decoding); the trunk's blocks append to it, the top's entries are left as they are.
        remember=False: a batch that will not come back (an SFT's) stays out of the memo."""
        self.depth, self.state = trunk_depth(model, names) if Trunk.share else None, None
        if self.depth is None:
            return
        blocks, norm = _trunk_parts(model)
        key, seen, noisy = None, Trunk._memo, _noisy(model)  # dropout: every forward draws anew, nothing is kept
        if cache is None and Trunk.MEMO and remember and not noisy:
            key = (self.depth, *map(_content, (input_ids, attention_mask, position_ids)),
                   _frozen_digest(model, blocks[self.depth:], norm))
            if key in seen:
                seen.move_to_end(key)
                self.state = seen[key][0]
                return
        P = _shared_prefix(input_ids, attention_mask) if cache is None and position_ids is None and not noisy else 0
        if P < Trunk.PREFIX:
            self._run(model, blocks[self.depth], input_ids, attention_mask, position_ids, cache)
        else:  # the prefix every row shares (a chat template's system prompt) once, then each row's own tokens
            from transformers import DynamicCache
            h0, kv = self._prefix(model, blocks, norm, input_ids[:1, :P])
            rows, B = DynamicCache(config=model.config), len(input_ids)
            for i in range(self.depth):
                rows.update(*(x.expand(B, -1, -1, -1) for x in (kv.layers[i].keys, kv.layers[i].values)), i)
            h = self._run(model, blocks[self.depth], input_ids[:, P:], attention_mask, cache=rows)[0]
            _, args, kwargs = self._run(model, blocks[0], input_ids, attention_mask)  # the whole rows' mask, positions
            self.state = torch.cat([h0.expand(B, -1, -1), h], 1), args, kwargs
        if key is not None and self.state is not None:
            seen[key] = self.state, sum(t.nbytes for t in tree_leaves(self.state) if isinstance(t, torch.Tensor))
            while sum(b for _, b in seen.values()) > Trunk.MEMO:
                seen.popitem(last=False)

    def _run(self, model, block, input_ids, attention_mask=None, position_ids=None, cache=None):
        """The forward up to `block` -> (its input hidden states, its other arguments, its keyword arguments)."""
        hook = block.register_forward_pre_hook(self._record, with_kwargs=True)
        try:
            with torch.no_grad():
                model.base_model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                 cache=cache, use_cache=cache is not None)
        except _Stop:
            pass
        finally:
            hook.remove()
        return self.state

    def _prefix(self, model, blocks, norm, prefix):
        """(hidden states entering the trunk's top, the trunk's KV cache) of one row's prefix; the last one is kept."""
        key = (prefix.cpu().numpy().tobytes(), self.depth, _frozen_digest(model, blocks[self.depth:], norm))
        if key not in Trunk._prefixes:
            from transformers import DynamicCache
            kv = DynamicCache(config=model.config)
            Trunk._prefixes = {key: (self._run(model, blocks[self.depth], prefix, cache=kv)[0], kv)}
        return Trunk._prefixes[key]

    def _record(self, module, args, kwargs):
        self.state = (args[0], args[1:], kwargs)
        raise _Stop

    def top(self, model, cache=None):
        """The final hidden states (after the last norm) of `model`, from the recorded trunk output; with `cache`, the
        top blocks read and append their keys/values there instead of in the trunk's cache."""
        from transformers import Cache
        blocks, norm = _trunk_parts(model)
        h, args, kwargs = self.state
        if cache is not None:
            swap = lambda x: cache if isinstance(x, Cache) else x
            args, kwargs = tuple(map(swap, args)), {k: swap(v) for k, v in kwargs.items()}
        for block in blocks[self.depth:]:
            h = block(h, *args, **kwargs)
            h = h[0] if isinstance(h, tuple) else h
        return norm(h)


def _shared_prefix(input_ids, attention_mask=None):
    """How many leading tokens all rows of a batch share, none of them padding (0 for one row; at most T - 1)."""
    if len(input_ids) < 2:
        return 0
    same = (input_ids == input_ids[:1]).all(0)
    if attention_mask is not None:
        same &= (attention_mask == 1).all(0)
    return min(int(same.long().cumprod(0).sum()), input_ids.shape[1] - 1)


def _noisy(model):
    """True when a forward draws dropout: train mode and a rate above 0."""
    rate = lambda m: m.p if isinstance(m, torch.nn.Dropout) else getattr(m, "attention_dropout", 0)
    return model.training and any(isinstance(rate(m), (int, float)) and rate(m) > 0 for m in model.modules())


def _content(t):
    """A tensor as a dict key, by value (None stays None)."""
    return None if t is None else (tuple(t.shape), str(t.dtype), t.detach().cpu().numpy().tobytes())


def _frozen_digest(model, top_blocks, norm):
    """blake2b of the model's class, config and every weight below `top_blocks` (name, shape, dtype, device, bytes):
    a run's policy copy shares its base's. Recomputed (about 0.6 s for SmolLM2) only when one of them changes."""
    top = {id(w) for m in (*top_blocks, norm) for w in m.parameters()}
    weights = [(n, w) for n, w in model.base_model.named_parameters() if id(w) not in top]
    stamp, known = tuple((w.data_ptr(), w._version) for _, w in weights), Trunk._digests.get(model)
    if known is None or known[0] != stamp:
        cfg = {k: v for k, v in model.config.to_dict().items() if k != "use_cache"}
        h = hashlib.blake2b(f"{type(model).__name__}{cfg}{model.config._attn_implementation}".encode(), digest_size=16)
        for n, w in weights:
            h.update(f"{n}:{tuple(w.shape)}:{w.dtype}:{w.device};".encode())
            h.update(w.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
        known = Trunk._digests[model] = (stamp, h.hexdigest())
    return known[1]


def _trunk_parts(model):
    blocks, norm = TRUNK_FAMILIES[model.config.model_type]
    base = model.base_model
    return getattr(base, blocks)[:model.config.num_hidden_layers], getattr(base, norm)


def trunk_depth(model, names):
    """How many bottom blocks stay at theta0 when the parameters `names` move: None when it is none (the
    embeddings move), when the blocks differ in their attention masks, or for a model family Trunk does not know."""
    kind = model.config.model_type
    uniform = len(set(getattr(model.config, "layer_types", None) or [None])) == 1  # one mask for every block
    if kind not in TRUNK_FAMILIES or not uniform:
        if kind not in Trunk._said:
            Trunk._said.add(kind)
            print(f"note: {kind} models run every block for every alpha point (the frozen trunk is computed once "
                  f"only for {', '.join(TRUNK_FAMILIES)} with one attention mask for all blocks)")
        return None
    blocks, norm = _trunk_parts(model)
    where = {id(p): i for i, b in enumerate(blocks) for p in b.parameters()}
    above = {id(p) for p in norm.parameters()} | {id(p) for p in model.get_output_embeddings().parameters()}
    above -= {id(p) for p in model.get_input_embeddings().parameters()}  # a head tied to the embeddings is below too
    params, depth = dict(model.named_parameters()), len(blocks) - 1  # at least one block runs on top
    for n in names:
        p = id(params[n])
        if p in where:
            depth = min(depth, where[p])
        elif p not in above:
            return None  # embeddings (or GPT-2's tied wte/lm_head) move: every block sees the change
    return depth if depth > 0 else None


# ----------------------------------------------------------------------------- attention, freezing, selecting
def check_attention(model):
    """Forward-mode AD cannot go through fused attention kernels; fail before the first jvp does."""
    impl = getattr(model.config, "_attn_implementation", None)
    if impl not in FORWARD_AD_ATTENTION:
        raise ValueError(f"model uses attn_implementation={impl!r}, which torch.func.jvp cannot differentiate; "
                         f"load it with attn_implementation=\"eager\" (plumbing.models.load_model does)")


def freeze(model):
    """theta0 stays theta0: eval mode (dropout off), no KV cache, no gradients. Returns the model."""
    model.eval()
    model.config.use_cache = False
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def select_parameters(model, linearize=None, flag="--linearize"):
    """Names of the parameters that move: those matching the regex `linearize` (None = all), tied weights once."""
    names = [n for n, _ in model.named_parameters()]
    try:
        pattern = re.compile(linearize) if linearize else None
    except re.error as e:
        raise ValueError(f"{flag} {linearize!r}: not a valid regex ({e}); fix the pattern") from None
    chosen = [n for n in names if pattern is None or pattern.search(n)]
    if not chosen:
        raise ValueError(f"{flag} {linearize!r} matches no parameter name (names look like "
                         f"{', '.join(names[:3])}); fix the regex")
    return chosen


def fingerprint(model):
    """sha256 of parameter names, shapes and values (tied weights once).

    Values are hashed after rounding to bf16, so the same checkpoint loaded in fp32 or bf16 has one
    fingerprint, while any real change of the weights gives another."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        h.update(f"{name}:{tuple(p.shape)};".encode())
        h.update(p.detach().to(torch.bfloat16).cpu().contiguous().view(torch.int16).numpy().tobytes())
    return h.hexdigest()[:16]


class TaskVector:
    """tau: a direction in weight space, {parameter name: tensor}, plus string metadata.

    Vectors over different parameter subsets combine over the union of names (missing = zero)."""

    def __init__(self, tensors, metadata=None):
        self.tensors = dict(tensors)
        self.metadata = {k: str(v) for k, v in (metadata or {}).items()}

    names = property(lambda self: list(self.tensors))
    __getitem__ = lambda self, name: self.tensors[name]
    __contains__ = lambda self, name: name in self.tensors
    __iter__ = lambda self: iter(self.tensors)
    __len__ = lambda self: len(self.tensors)

    def _zip(self, other, op):
        names = self.names + [n for n in other.names if n not in self.tensors]
        get = lambda tv, n, ref: tv.tensors[n] if n in tv.tensors else torch.zeros_like(ref)
        return TaskVector({n: op(get(self, n, other.tensors.get(n)), get(other, n, self.tensors.get(n)))
                           for n in names})

    def __add__(self, other):
        if isinstance(other, (int, float)) and other == 0:  # so that sum([tau1, tau2]) works
            return self
        return self._zip(other, torch.add)

    __radd__ = __add__

    def __sub__(self, other):
        return self._zip(other, torch.sub)

    def __neg__(self):
        return -1.0 * self

    def __mul__(self, alpha):
        if not isinstance(alpha, (int, float)):
            raise TypeError("a task vector scales by a number")
        return TaskVector({n: alpha * t for n, t in self.tensors.items()})

    __rmul__ = __mul__

    def dot(self, other):
        return sum(float((self.tensors[n].double() * other.tensors[n].double()).sum())
                   for n in self.tensors if n in other.tensors)

    def norm(self):
        return math.sqrt(self.dot(self))

    def cosine(self, other):
        return self.dot(other) / max(self.norm() * other.norm(), 1e-30)

    def numel(self):
        return sum(t.numel() for t in self.tensors.values())

    def to(self, *args, **kwargs):
        return TaskVector({n: t.to(*args, **kwargs) for n, t in self.tensors.items()}, self.metadata)

    def detach(self):
        return TaskVector({n: t.detach().clone() for n, t in self.tensors.items()}, self.metadata)

    def save(self, path, metadata=None):
        """Write tau only, atomically, with metadata (must include base_fingerprint)."""
        from safetensors.torch import save_file
        meta = {**self.metadata, **{k: str(v) for k, v in (metadata or {}).items()}}
        if "base_fingerprint" not in meta:
            raise ValueError(f"{path}: a task vector is saved with the fingerprint of its base (base_fingerprint)")
        tensors = {n: t.detach().cpu().contiguous() for n, t in self.tensors.items()}
        atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))
        self.metadata = meta

    @classmethod
    def load(cls, path, base=None, fingerprint_=None, device="cpu"):
        """Load tau; refuse it if it holds NaN or inf, or was trained on another base than the model `base` (or
        `fingerprint_`)."""
        from safetensors import SafetensorError, safe_open
        if os.path.isdir(path):
            path = os.path.join(path, "task_vector.safetensors")
        if not os.path.exists(path):
            raise ValueError(f"{path}: no task vector here; train one with train_tangent.py --out DIR")
        try:
            with safe_open(path, framework="pt", device=str(device)) as f:
                meta = f.metadata() or {}
                tensors = {n: f.get_tensor(n) for n in f.keys()}
        except (SafetensorError, OSError) as e:
            raise ValueError(f"{path}: not a readable task vector ({' '.join(str(e).split())}); the file is corrupt or "
                             f"not a safetensors file: retrain it with train_tangent.py --force") from None
        bad = next((n for n, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()), None)
        if bad is not None:
            raise ValueError(f"{path}: tensor {bad} holds NaN or inf; the run diverged or the file is damaged: "
                             f"retrain it (train_tangent.py --force, perhaps with a lower --lr)")
        want = fingerprint(base) if base is not None else fingerprint_
        if want is not None and meta.get("base_fingerprint") != want:
            raise ValueError(f"{path}: vector was trained on base {meta.get('base_fingerprint')}, but this base is "
                             f"{want}; compose vectors only with the base they were trained from")
        if base is not None:
            params = dict(base.named_parameters())
            for n, t in tensors.items():
                if n not in params or params[n].shape != t.shape:
                    raise ValueError(f"{path}: tensor {n} {tuple(t.shape)} does not fit this base")
        return cls(tensors, meta)

    @classmethod
    def from_models(cls, finetuned, base):
        """tau = theta - theta0 over the base's parameters (tied weights once): a standard fine-tune as a vector."""
        theta = dict(finetuned.named_parameters(remove_duplicate=False))
        return cls({n: (theta[n] - p).detach().clone() for n, p in base.named_parameters()})


def linearize_for(model, vectors):
    """A LinearizedModel that moves exactly the parameters the vectors touch (J tau ignores the rest)."""
    names = sorted({n for tau in vectors for n in tau.names})
    return LinearizedModel(model, "^(" + "|".join(re.escape(n) for n in names) + ")$" if names else None)


def apply_vectors(model, vectors, alphas, into=None):
    """The nonlinear model at theta0 + sum_k alpha_k tau_k: a new copy, or `into` (an earlier copy of `model`) with
    its weights rewritten in place, so that a sweep over alpha points pays one copy, not one per point. Either
    way the same weights bit for bit; `model` is left as theta0."""
    if len(vectors) != len(alphas):
        raise ValueError(f"{len(vectors)} vectors but {len(alphas)} alphas; give one alpha per vector")
    out = copy.deepcopy(model) if into is None else into
    params = dict(out.named_parameters())
    with torch.no_grad():
        if into is not None:  # back to theta0 first (every parameter: an earlier call may have moved others)
            for n, p in model.named_parameters():
                params[n].copy_(p)
        for tau, alpha in zip(vectors, alphas):
            for n, t in tau.tensors.items():
                if n not in params:
                    raise ValueError(f"task vector tensor {n} is not a parameter of this model")
                params[n].add_(t.to(params[n].device, params[n].dtype), alpha=float(alpha))
    return out


def as_alphas(alphas, k, rows=None):
    """alphas as a float tensor, (K,) or (rows, K); one clear line when the count does not match."""
    a = torch.as_tensor(alphas if alphas is not None else [0.0] * k, dtype=torch.float32)
    if a.dim() == 0 or a.shape[-1] != k:
        raise ValueError(f"{k} task vectors but alphas of shape {tuple(a.shape)}; give one alpha per vector")
    if rows is not None and a.dim() == 1:
        a = a.expand(rows, k)
    return a


def combine(f0, gs, alphas):
    """The linearized model at theta0 + sum_k alpha_k tau_k: f0 + sum_k alpha_k g_k, from g_k = J tau_k (jvp_many) once
    for any alphas (apply_vectors is the nonlinear twin). f0 and each g_k: (B, ...); alphas: (K,) shared or (B, K)
    one row per example."""
    a = as_alphas(alphas, len(gs)).to(f0.device, f0.dtype)
    out = f0
    for k, g in enumerate(gs):  # alpha = 0 leaves f0 bit for bit (so margins and KL at alpha = 0 are exactly 0)
        if a.dim() == 2:
            out = out + a[:, k].view(-1, *[1] * (f0.dim() - 1)) * g
        else:
            out = torch.add(out, g, alpha=float(a[k]))  # one fused pass over (N, V) per vector: a sweep's inner loop
    return out


def main(argv=None):
    p = Parser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default="runs/base", help="HF folder or hub id of theta0")
    p.add_argument("--linearize", default=None, help="regex on parameter names that move (default: all)")
    args = p.parse_args(argv)
    model = load_model(args.base)
    lin = LinearizedModel(model, args.linearize)
    n_all = sum(p.numel() for p in model.parameters())
    n_lin = sum(p.numel() for p in lin.theta0.values())
    print(f"base {args.base}: fingerprint {fingerprint(model)}, {n_all:,} parameters, "
          f"{n_lin:,} linearized in {len(lin.names)} tensors")
    x = torch.randint(0, model.config.vocab_size, (2, 16))
    f0, f_lin = lin(x, tau=lin.zero_tau())
    print(f"tau = 0: max |f_lin - f0| = {float((f_lin - f0).abs().max()):.2e}")


if __name__ == "__main__":
    run_cli(main)
