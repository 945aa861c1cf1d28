"""Measuring a composed model without generating: implicit-reward sweeps over held-out pairs, KL to the base,
the scale that spends a KL budget, and how far the linearized model is from the nonlinear one.

The linearity trick: in the linearized model the logits are LINEAR in alpha. Per batch, K jvps give f0 and
every g_k = J tau_k once (linearize.LinearizedModel.jvp_many); after that each alpha point costs one weighted sum
and a log-softmax, not a forward; logits exist only where a response token is scored, (N, V). `sweep_logps` and
`pair_sweep` use this, with the per-token KL(pi_alpha || pi_0) of every point from the same logits. The nonlinear
model pays one forward per point.

How far an alpha goes: `kl_scale` finds the s at which s * direction spends a given KL budget, and
`linearization_gap` measures ||f(theta0 + alpha tau) - f_lin|| / ||f(theta0 + alpha tau) - f0||.
"""
import math

import torch
from tqdm import tqdm

from data import collate_pairs
from dpo_loss import scored_positions, sequence_logps
from linearize import TaskVector, Trunk, apply_vectors, as_alphas, combine, linearize_for, scored_logits
from measure.metrics import standard_error


_up = lambda x: x.to(torch.promote_types(x.dtype, torch.float32))  # >= fp32: a small J tau rounds away in bf16


def token_kl(logits, ref_logp):
    """KL(pi || pi_0) per token, (N,): sum_v pi(v) (log pi(v) - log pi_0(v)); logits (N, V), ref_logp = the base's
    log_softmax (N, V). Logits equal to the base's give exactly 0."""
    logp = torch.log_softmax(_up(logits), dim=-1)
    log_ratio = logp - ref_logp
    return (logp.exp_() * log_ratio).sum(-1)  # in place: one (N, V) buffer less per alpha point


def _linear_at(lin, batch, taus):
    """(f0 (N, V), alphas -> f0 + sum_k alpha_k g_k): K jvps, logits only at the scored positions."""
    keep = scored_positions(batch["labels"])
    f0, gs = lin.jvp_many(batch["input_ids"], batch["attention_mask"], list(taus), keep=keep)
    f0, gs = _up(f0), [_up(g) for g in gs]
    return f0, lambda ap: combine(f0, gs, ap)


def _nonlinear_at(model, vectors, work, batch, f0=True):
    """(f0 (N, V), alphas -> f(theta0 + sum_k alpha_k tau_k)) at the scored positions. f0 once per batch (None with
    f0=False); `work`, a copy of the model (apply_vectors), is rewritten in place per point: one copy per sweep, not
    one per point. The blocks no vector moves run once per batch (linearize.Trunk): each point runs only the top."""
    trunk = Trunk(model, sorted({n for tau in vectors for n in tau.names}), batch["input_ids"], batch["attention_mask"])
    logits = lambda m: scored_logits(m, batch["input_ids"], batch["attention_mask"],
                                     keep=scored_positions(batch["labels"]), trunk=trunk)
    return logits(model) if f0 else None, lambda ap: logits(apply_vectors(model, vectors, ap.tolist(), into=work))


def _point_stats(f0, logits_at, labels, a, average=False, kl=True):
    """ref (2B,), logps (P, 2B) and per-token KL (P, N) (None unless kl) at the P alpha points a (P, K)."""
    ref = sequence_logps(f0, labels, average)  # the same arithmetic as every alpha point: alpha = 0 gives ref exactly
    ref_logp = torch.log_softmax(_up(f0), dim=-1) if kl else None
    logps, kls = [], []
    for ap in a:
        logits = logits_at(ap)
        logps.append(sequence_logps(logits, labels, average))
        kls.append(token_kl(logits, ref_logp) if kl else None)
    return ref, torch.stack(logps), torch.stack(kls) if kl else None


@torch.no_grad()
def sweep_logps(lin, batch, taus, alphas, average=False):
    """Sequence log-probs at P alpha points (P, K) from K jvps: (ref_logps (2B,), logps (P, 2B)); each point costs
    a weighted sum and a log-softmax over the N scored tokens (N, V), not a forward over the padded (2B, T)."""
    a = as_alphas(alphas, len(taus)).reshape(-1, len(taus))
    ref, logps, _ = _point_stats(*_linear_at(lin, batch, taus), batch["labels"], a, average, kl=False)
    return ref, logps


@torch.no_grad()
def sweep_logps_nonlinear(model, batch, vectors, alphas, average=False):
    """The same outputs in the nonlinear model: one forward per alpha point (the reference once)."""
    a = as_alphas(alphas, len(vectors)).reshape(-1, len(vectors))
    work = apply_vectors(model, vectors, [0.0] * len(vectors))
    ref, logps, _ = _point_stats(*_nonlinear_at(model, vectors, work, batch), batch["labels"], a, average, kl=False)
    return ref, logps


def _batches(batch, batch_size, pad_id):
    """A collated pair batch (dict) as it is, or a list of tokenized pairs collated in chunks of batch_size."""
    if not batch:
        raise ValueError("no pairs given; pass a collated pair batch or at least one tokenized pair")
    if isinstance(batch, dict):
        return [batch]
    return [collate_pairs(batch[s:s + batch_size], pad_id) for s in range(0, len(batch), batch_size)]


@torch.no_grad()
def pair_sweep(tokenized_pairs, taus, alphas, beta=0.1, lin=None, model=None, batch_size=16, pad_id=0, kl=True):
    """Implicit-reward margins beta ((pi_c - ref_c) - (pi_r - ref_r)) and KL to the base per alpha point (P, K).

    Linear (TS-DPO) with `lin` (K jvps per batch); nonlinear with `model` (per batch the base once, then one
    forward per point). Returns torch tensors {"margins": (P, N), "accuracy", "accuracy_se", "margin", "margin_se":
    (P,), "n": N, "kl", "kl_se": (P,), "kl_seq": (P, 2N)}: kl = per-token KL(pi_alpha || pi_0) averaged over every
    scored response token of the pairs (chosen and rejected), from the margins' logits; kl_se with the pair as the
    unit (its tokens are not independent); kl_seq per sequence (mean over its tokens), columns [chosen 0..N-1,
    rejected 0..N-1]. kl=False leaves the KL out (a linear point then costs about half)."""
    if (lin is None) == (model is None):
        raise ValueError("pair_sweep: pass exactly one of lin= (linearized) or model= (nonlinear)")
    taus = list(taus)
    a = as_alphas(alphas, len(taus)).reshape(-1, len(taus))
    work = apply_vectors(model, taus, [0.0] * len(taus)) if model is not None else None
    margins, rows = [], []  # per chunk: (P, b); per sequence (KL summed over its tokens (P, 2b), tokens (2b,))
    for bt in tqdm(_batches(tokenized_pairs, batch_size, pad_id), desc="pair sweep", leave=False):
        b = len(bt["labels"]) // 2
        at = _linear_at(lin, bt, taus) if lin is not None else _nonlinear_at(model, taus, work, bt)
        ref, pi, tok_kl = _point_stats(*at, bt["labels"], a, kl=kl)
        margins.append(beta * ((pi[:, :b] - ref[:b]) - (pi[:, b:] - ref[b:])))
        keep = scored_positions(bt["labels"])
        if kl:  # each token's KL summed into its row
            rows.append((torch.zeros(len(a), 2 * b, dtype=tok_kl.dtype).index_add_(1, keep.nonzero()[:, 0], tok_kl), keep.sum(-1)))
    margins = torch.cat(margins, dim=1)
    n = margins.shape[1]  # pairs: a list of tokenized pairs or one collated batch of them
    correct = (margins > 0).float()
    out = {"margins": margins, "accuracy": correct.mean(1), "accuracy_se": torch.as_tensor(standard_error(correct)),
           "margin": margins.mean(1), "margin_se": torch.as_tensor(standard_error(margins)), "n": n}
    if not kl:
        return out
    kl_sum = torch.cat([s.chunk(2, -1)[i] for i in (0, 1) for s, _ in rows], dim=1).double()  # chosen, then rejected
    n_tok = torch.cat([t.chunk(2)[i] for i in (0, 1) for _, t in rows]).double()
    pair_kl, pair_tok = kl_sum[:, :n] + kl_sum[:, n:], n_tok[:n] + n_tok[n:]
    mean = pair_kl.sum(1) / pair_tok.sum()
    # ratio estimator: kl = sum_i S_i / sum_i n_i over pairs i; its se is that of (S_i - kl n_i) / mean(n)
    se = standard_error(((pair_kl - mean[:, None] * pair_tok) / pair_tok.mean()).numpy())
    return out | {"kl": mean.float(), "kl_se": torch.as_tensor(se).float(),
                  "kl_seq": (kl_sum / n_tok.clamp(min=1)).float()}


# ---------------------------------------------------------------- how far an alpha goes: linearization gap, KL scale
@torch.no_grad()
def linearization_gap(model, tau, batch, alphas=(0.5, 1.0, 2.0), batch_size=16, pad_id=0):
    """{alpha: ||f(theta0 + alpha tau) - f_lin|| / ||f(theta0 + alpha tau) - f0||} with f_lin = f0 + alpha J tau.

    Norms over the scored logits (N, V) of a collated pair batch (or tokenized pairs, in chunks): the share of the
    nonlinear change the linearized model misses. 0 where f is linear in tau (e.g. an untied lm_head only); about
    proportional to alpha for small alpha tau (remainder O(alpha^2), change O(alpha)); nan if tau moves nothing."""
    lin, work = linearize_for(model, [tau]), apply_vectors(model, [tau], [0.0])
    num, den = dict.fromkeys(alphas, 0.0), dict.fromkeys(alphas, 0.0)
    for bt in _batches(batch, batch_size, pad_id):
        f0, f_lin = _linear_at(lin, bt, [tau])
        f_at = _nonlinear_at(model, [tau], work, bt, f0=False)[1]  # f0 came with the jvp
        for alpha in alphas:
            f = _up(f_at(torch.tensor([alpha])))
            num[alpha] += float((f - f_lin(torch.tensor([alpha]))).double().square().sum())
            den[alpha] += float((f - f0).double().square().sum())
    return {alpha: math.sqrt(num[alpha] / den[alpha]) if den[alpha] > 0 else math.nan for alpha in alphas}


def _secant_log(kl_of, target, s, rtol):
    """kl_scale's root search for one direction (its docstring has the equations) -> (s, KL(s)), the last trial;
    the caller checks |KL / target - 1| <= rtol."""
    log = lambda x: math.nan if math.isnan(x) else math.log(x) if x > 0 else -math.inf  # KL ~ 0: a maximal step
    s = min(max(s, 2.0 ** -30), 2.0 ** 30)  # a start only: moved into the search range
    lo, hi, prev = 0.0, math.inf, None  # the bracket; prev = (log s, log KL) of the previous evaluation
    for _ in range(100):  # a safety net: every evaluation shrinks the bracket, but not always by much
        kl = kl_of(s)
        if abs(kl / target - 1) <= rtol:
            break
        lo, hi = (s, hi) if kl < target else (lo, s)  # a nan KL (overflow) counts as too far
        slope = 2.0  # KL ~ c s^2: the first step, and whenever the secant has no finite end
        if prev is not None and math.isfinite(log(kl)) and math.isfinite(prev[1]):
            slope = min(max((log(kl) - prev[1]) / (math.log(s) - prev[0]), 0.5), 4.0)
        prev = (math.log(s), log(kl))
        step = (math.log(target) - log(kl)) / slope  # log(s_{n+1} / s_n); +-inf where KL is 0 or inf
        s_next = s * math.exp(max(-7.0, min(7.0, step))) if not math.isnan(step) else math.nan  # <= ~1000x
        if not lo < s_next < hi:  # left the bracket (or nan): bisect log s; one-sided, keep doubling or halving
            s_next = math.sqrt(lo * hi) if lo > 0 and hi < math.inf else 2.0 * lo if hi == math.inf else hi / 2
        s = s_next
        if not 2.0 ** -30 <= s <= 2.0 ** 30 or hi / max(lo, 1e-300) <= 1 + 1e-12:
            break  # out of range, or a bracket too narrow to hold the target: KL jumps over it
    return s, kl


@torch.no_grad()
def kl_scale(tau_or_taus, direction, target, batch, lin=None, model=None, rtol=1e-3, batch_size=16, pad_id=0,
             s0=None):
    """s > 0 such that the per-token KL(pi_alpha || pi_0) at alphas = s * direction (K,) equals `target`.

    pair_sweep's KL over `batch` (a collated pair batch, or tokenized pairs in chunks), linearized (lin=: K jvps,
    then a weighted sum per trial s) or nonlinear (model=: the base once, then one forward per trial s).

    The search is a safeguarded secant in log-log space. Near s = 0, KL(s) ~ c s^2, and log KL stays close to
    linear in log s, so a Newton step on log KL = log c + slope * log s is, from s_0 = s0 (default 1),

        s_{n+1} = s_n * (target / KL(s_n)) ** (1 / slope_n),
        slope_0 = 2,   slope_n = (log KL(s_n) - log KL(s_{n-1})) / (log s_n - log s_{n-1})  clipped to [0.5, 4].

    Every evaluation narrows a bracket lo < s < hi (KL(lo) < target <= KL(hi)); a step that leaves it is replaced
    by sqrt(lo * hi), a bisection step on log s. It stops when |KL(s) / target - 1| <= rtol (default 1e-3: KL grows
    about like s^2, so s is within about rtol / 2 of the exact scale): 3-5 evaluations from s = 1.

    Many directions on the same pairs: direction (M, K) with target (M,) (or one target for all) returns a list of
    M scales. The shared work, f0 and the K jvps (linear) or the base forward (nonlinear), is done once per pair
    batch; each direction then runs its own search. A single direction returns a float. s0: the start, one or (M,)
    (clipped to [2^-30, 2^30]). ValueError when a target cannot be reached with s in [2^-30, 2^30] (naming the
    first such direction)."""
    if (lin is None) == (model is None):
        raise ValueError("kl_scale: pass exactly one of lin= (linearized) or model= (nonlinear)")
    taus = [tau_or_taus] if isinstance(tau_or_taus, TaskVector) else list(tau_or_taus)
    d = torch.as_tensor(direction, dtype=torch.float32)
    many = d.dim() == 2
    ds = as_alphas(d if many else d.reshape(-1), len(taus)).reshape(-1, len(taus))  # (M, K); M = 1 for one direction

    def per_direction(x, what):  # a scalar or M numbers -> M floats
        x = [float(v) for v in torch.as_tensor(x, dtype=torch.float64).reshape(-1)]
        if len(x) not in (1, len(ds)):
            raise ValueError(f"kl_scale: {len(ds)} directions but {len(x)} {what}s; give one or one per direction")
        return x * len(ds) if len(x) == 1 else x
    targets, starts = per_direction(target, "target"), per_direction(1.0 if s0 is None else s0, "s0")
    for t, dm, s in zip(targets, ds, starts):
        if not (math.isfinite(t) and t > 0) or not bool(dm.ne(0).any()):
            raise ValueError(f"kl_scale: needs a target KL > 0 (got {t}) and a nonzero direction (got {dm.tolist()})")
        if not (math.isfinite(s) and s > 0):
            raise ValueError(f"kl_scale: s0 must be a finite number > 0 (got {s})")
    if not len(ds):
        return []
    work = apply_vectors(model, taus, [0.0] * len(taus)) if model is not None else None
    parts = []  # per batch: (alphas -> logits (N, V), the base's log_softmax (N, V)); shared by every direction
    for bt in _batches(batch, batch_size, pad_id):
        f0, logits_at = _linear_at(lin, bt, taus) if lin is not None else _nonlinear_at(model, taus, work, bt)
        parts.append((logits_at, torch.log_softmax(_up(f0), dim=-1)))
    n_tokens = sum(len(ref_logp) for _, ref_logp in parts)
    kl_at = lambda a: sum(float(token_kl(logits_at(a), ref_logp).sum()) for logits_at, ref_logp in parts) / n_tokens
    scales = []
    for m, (dm, t, s) in enumerate(zip(ds, targets, starts)):
        s, kl = _secant_log(lambda x, dm=dm: kl_at(x * dm), t, s, rtol)
        if not abs(kl / t - 1) <= rtol:
            which = f"direction {m} ({dm.tolist()}): " if many else ""
            raise ValueError(f"kl_scale: {which}no s in [2^-30, 2^30] gives a per-token KL of {t:g} (last "
                             f"{kl:.3g} at s = {s:.3g}); the direction barely moves the model or cannot reach it: "
                             f"pick another target")
        scales.append(s)
    return scales if many else scales[0]


