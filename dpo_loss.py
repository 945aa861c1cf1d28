"""The DPO loss family, as pure functions of per-sequence log-probs.

With pi the policy and ref the frozen reference, per pair (x, y_chosen, y_rejected):

    h = (log pi(y_c|x) - log ref(y_c|x)) - (log pi(y_r|x) - log ref(y_r|x))
    sigmoid (DPO, Rafailov et al. 2023):        -log sigmoid(beta h)
    cdpo (conservative DPO, label smoothing e): -(1-e) log sigmoid(beta h) - e log sigmoid(-beta h)
    ipo (Azar et al. 2023):                     (h - 1/(2 beta))^2,  h from per-token AVERAGE log-probs
    hinge (SLiC):                               max(0, 1 - beta h)

IPO is defined on length-normalized log-ratios (TRL divides by the completion length too), so for
`ipo` every log-prob above is the mean over response tokens, not the sum: `length_normalized(loss_type)`
says which kind a loss takes, and the training loop and the reference cache ask it. Example (beta = 0.1):
a chosen log-ratio of +2.0 over 10 tokens and a rejected one of -1.0 over 5 tokens give
h = 0.2 - (-0.2) = 0.4 and loss (0.4 - 5)^2 = 21.16 (the summed form would give (3 - 5)^2 = 4).

Implicit rewards r = beta (log pi(y|x) - log ref(y|x)); metric names follow TRL's DPOTrainer so numbers
compare directly. In TS-DPO, pi is the linearized model and ref its jvp's primal output.

    python dpo_loss.py    # prints each loss at a few margins
"""
import torch
import torch.nn.functional as F

LOSSES = ("sigmoid", "cdpo", "ipo", "hinge")
AVERAGED = ("ipo",)  # losses defined on per-token average log-probs


def length_normalized(loss_type):
    """True when `loss_type` takes per-token AVERAGE log-probs (IPO, as published), False for sums."""
    return loss_type in AVERAGED


def scored_positions(labels):
    """keep (B, T-1) bool: position t is scored when its NEXT token is a response token (labels[:, t+1] != -100)."""
    return labels[:, 1:] != -100


def sequence_logps(logits, labels, average=False):
    """Sum (or mean) of log p(label_t | tokens < t) over the tokens whose label is not -100. Returns (B,).

    labels: (B, T), aligned with input_ids (the function shifts). logits: (B, T, V) at every position, or
    (N, V) only at the N scored positions keep = scored_positions(labels), in row-major order
    (linearize.scored_logits): the same numbers without a vocabulary-sized row for prompt and padding."""
    keep = scored_positions(labels)
    target = labels[:, 1:][keep]  # (N,)
    if logits.dim() == 3:
        logits = logits[:, :-1][keep]
    # gather - logsumexp avoids materializing a second (N, V) tensor for log_softmax
    logits = logits.float()
    token = logits.gather(-1, target[:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)  # (N,)
    total = torch.zeros(keep.shape, dtype=token.dtype, device=token.device).masked_scatter(keep, token).sum(-1)
    return total / keep.sum(-1).clamp(min=1) if average else total


def concatenated_logps(logits, labels, n_chosen, average=False):
    """Split a (2B, T) batch whose first B rows are chosen and last B rejected: (chosen (B,), rejected (B,))."""
    logps = sequence_logps(logits, labels, average)
    return logps[:n_chosen], logps[n_chosen:]


def preference_loss(pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta=0.1, loss_type="sigmoid",
                    label_smoothing=0.0, reference_free=False):
    """Per-pair losses and implicit rewards, each (B,). All inputs are per-sequence log-probs (B,).

    For loss_type "ipo" they must be per-token averages (sequence_logps(..., average=True); see
    length_normalized), as in Azar et al.; for the others, sums."""
    if loss_type not in LOSSES:
        raise ValueError(f"--loss {loss_type!r} is not one of {', '.join(LOSSES)}")
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"--label-smoothing {label_smoothing} must be in [0, 0.5)")
    if loss_type == "cdpo" and label_smoothing == 0.0:
        raise ValueError("--loss cdpo needs --label-smoothing > 0 (the assumed fraction of flipped labels)")
    if reference_free:
        ref_chosen, ref_rejected = torch.zeros_like(pi_chosen), torch.zeros_like(pi_rejected)
    h = (pi_chosen - ref_chosen) - (pi_rejected - ref_rejected)
    if loss_type in ("sigmoid", "cdpo"):
        losses = -(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)
    elif loss_type == "ipo":
        losses = (h - 1 / (2 * beta)) ** 2
    else:
        losses = torch.relu(1 - beta * h)
    chosen_rewards = beta * (pi_chosen - ref_chosen).detach()
    rejected_rewards = beta * (pi_rejected - ref_rejected).detach()
    return losses, chosen_rewards, rejected_rewards


@torch.no_grad()
def dpo_metrics(losses, chosen_rewards, rejected_rewards, pi_chosen, pi_rejected):
    """TRL-named means as python floats."""
    return {
        "loss": float(losses.mean()),
        "rewards/chosen": float(chosen_rewards.mean()),
        "rewards/rejected": float(rejected_rewards.mean()),
        "rewards/margins": float((chosen_rewards - rejected_rewards).mean()),
        "rewards/accuracies": float((chosen_rewards > rejected_rewards).float().mean()),
        "logps/chosen": float(pi_chosen.detach().mean()),
        "logps/rejected": float(pi_rejected.detach().mean()),
    }


if __name__ == "__main__":
    from plumbing.cli import Parser
    Parser(description="Print each preference loss at h = -5, 0, 5 (no flags).").parse_args()
    zero = torch.zeros(3)
    margins = torch.tensor([-5.0, 0.0, 5.0])  # log-ratio differences h
    for loss_type in LOSSES:
        ls = 0.1 if loss_type == "cdpo" else 0.0
        losses, _, _ = preference_loss(margins, zero, zero, zero, beta=0.5, loss_type=loss_type, label_smoothing=ls)
        print(f"{loss_type:8s} h = -5, 0, 5 ->", ", ".join(f"{v:.4f}" for v in losses.tolist()))
