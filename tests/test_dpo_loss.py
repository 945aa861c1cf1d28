"""dpo_loss.py against values computed by hand."""
import math

import pytest
import torch

from dpo_loss import (concatenated_logps, dpo_metrics, length_normalized, preference_loss, scored_positions,
                      sequence_logps)


def test_sequence_logps_by_hand_and_mask():
    logits = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.5, 0.5, 2.0], [9.0, -9.0, 0.0]]])
    labels = torch.tensor([[-100, 2, 0, -100]])
    # token 1 (label 2) is predicted from position 0; token 2 (label 0) from position 1
    lp1 = math.log(1 / 3)
    lp2 = 1.0 - math.log(math.exp(1) + math.exp(2) + math.exp(3))
    assert float(sequence_logps(logits, labels)) == pytest.approx(lp1 + lp2, rel=1e-6)
    assert float(sequence_logps(logits, labels, average=True)) == pytest.approx((lp1 + lp2) / 2, rel=1e-6)
    # masked positions do not matter, whatever their logits
    logits2 = logits.clone()
    logits2[0, 2] = torch.tensor([100.0, -50.0, 3.0])
    assert float(sequence_logps(logits2, labels)) == pytest.approx(lp1 + lp2, rel=1e-6)


def test_concatenated_split():
    logits = torch.randn(4, 5, 7)
    labels = torch.randint(0, 7, (4, 5))
    c, r = concatenated_logps(logits, labels, 2)
    full = sequence_logps(logits, labels)
    assert torch.equal(c, full[:2]) and torch.equal(r, full[2:])


def pairs(h, beta):
    """Log-probs whose DPO log-ratio difference is h."""
    pc = torch.tensor([-10.0 + h])
    return pc, torch.tensor([-12.0]), torch.tensor([-10.0]), torch.tensor([-12.0])


@pytest.mark.parametrize("h", [-3.0, 0.0, 2.5])
def test_losses_by_hand(h):
    beta = 0.4
    sig = lambda z: 1 / (1 + math.exp(-z))
    expected = {
        "sigmoid": -math.log(sig(beta * h)),
        "cdpo": -0.9 * math.log(sig(beta * h)) - 0.1 * math.log(sig(-beta * h)),
        "ipo": (h - 1 / (2 * beta)) ** 2,
        "hinge": max(0.0, 1 - beta * h),
    }
    for loss_type, value in expected.items():
        ls = 0.1 if loss_type == "cdpo" else 0.0
        losses, cr, rr = preference_loss(*pairs(h, beta), beta=beta, loss_type=loss_type, label_smoothing=ls)
        assert float(losses) == pytest.approx(value, rel=1e-5, abs=1e-6), loss_type
        assert float(cr - rr) == pytest.approx(beta * h, abs=1e-5)


def test_ipo_on_per_token_averages_by_hand():
    """IPO as published (Azar et al.; TRL divides by the completion length): beta = 0.1, a chosen log-ratio of +2.0
    over 10 tokens and a rejected one of -1.0 over 5 tokens give ((0.2 + 0.2) - 5)^2 = 21.16; sums would give 4."""
    beta = 0.1
    assert length_normalized("ipo") and not any(map(length_normalized, ("sigmoid", "cdpo", "hinge")))
    # (2, 13) rows: 2 prompt tokens, then 10 chosen (row 0) or 5 rejected (row 1) response tokens, padding -100.
    # Vocabulary of 2: the reference is uniform (log 1/2 per token); the policy gives the label token
    # p = e^r / 2, a per-token log-ratio of r = +0.2 on the chosen row and -0.2 on the rejected row.
    labels = torch.full((2, 13), -100)
    labels[0, 2:12], labels[1, 2:7] = 1, 0
    ref_logits, logits = torch.zeros(2, 13, 2), torch.zeros(2, 13, 2)
    for row, (r, token) in enumerate([(0.2, 1), (-0.2, 0)]):
        p = 0.5 * math.exp(r)
        logits[row, :, token] = math.log(p / (1 - p))
    by_kind = {}
    for average in (length_normalized("ipo"), False):
        pc, pr = concatenated_logps(logits, labels, 1, average=average)
        rc, rr = concatenated_logps(ref_logits, labels, 1, average=average)
        by_kind[average] = (float(pc - rc), float(pr - rr), float(preference_loss(pc, pr, rc, rr, beta, "ipo")[0]))
    assert by_kind[True] == pytest.approx((0.2, -0.2, 21.16), abs=1e-4)
    assert by_kind[False] == pytest.approx((2.0, -1.0, 4.0), abs=1e-4)  # the summed form: not IPO


def test_zero_margin_is_log_two_and_limits():
    losses, _, _ = preference_loss(*pairs(0.0, 0.1), beta=0.1)
    assert float(losses) == pytest.approx(math.log(2))
    assert float(preference_loss(*pairs(200.0, 0.1))[0]) < 1e-8  # confident and right: no loss
    assert float(preference_loss(*pairs(-200.0, 0.1))[0]) == pytest.approx(20.0, rel=1e-6)  # linear tail


def test_reference_free_ignores_the_reference():
    pc, pr = torch.tensor([-3.0]), torch.tensor([-5.0])
    losses, cr, rr = preference_loss(pc, pr, torch.tensor([9.0]), torch.tensor([-9.0]), beta=1.0,
                                     reference_free=True)
    assert float(losses) == pytest.approx(-math.log(1 / (1 + math.exp(-2.0))))
    assert float(cr) == -3.0 and float(rr) == -5.0


def test_bad_loss_arguments():
    args = pairs(1.0, 0.1)
    with pytest.raises(ValueError, match="--loss"):
        preference_loss(*args, loss_type="kto")
    with pytest.raises(ValueError, match="label-smoothing"):
        preference_loss(*args, loss_type="cdpo")


def test_metrics_names_and_values():
    losses = torch.tensor([0.5, 1.5])
    m = dpo_metrics(losses, torch.tensor([1.0, -1.0]), torch.tensor([0.0, 0.0]), torch.tensor([-2.0, -4.0]),
                    torch.tensor([-6.0, -8.0]))
    assert m == {"loss": 1.0, "rewards/chosen": 0.0, "rewards/rejected": 0.0, "rewards/margins": 0.0,
                 "rewards/accuracies": 0.5, "logps/chosen": -3.0, "logps/rejected": -7.0}


def test_gradient_flows_only_through_the_policy():
    pc = torch.tensor([-3.0], requires_grad=True)
    losses, cr, _ = preference_loss(pc, torch.tensor([-4.0]), torch.tensor([-3.5]), torch.tensor([-4.0]), beta=0.5)
    losses.sum().backward()
    # d/dpc of -log sigmoid(beta h) = -beta * sigmoid(-beta h), h = 0.5
    assert float(pc.grad) == pytest.approx(-0.5 / (1 + math.exp(0.25)), rel=1e-6)
    assert not cr.requires_grad


def test_sequence_logps_from_scored_positions_only():
    """(N, V) logits at the scored positions give the same log-probs (and gradients) as the full (B, T, V) grid."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, 11, generator=g, requires_grad=True)
    labels = torch.randint(0, 11, (3, 7), generator=g)
    labels[:, :3] = -100
    labels[2, 5:] = -100  # padding at the end of one row
    keep = scored_positions(labels)
    for average in (False, True):
        full = sequence_logps(logits, labels, average)
        sel = sequence_logps(logits[:, :-1][keep], labels, average)
        torch.testing.assert_close(sel, full)
        # against an independent log_softmax computation
        lp = torch.log_softmax(logits[:, :-1].double(), -1).gather(-1, labels[:, 1:].clamp(min=0)[..., None])[..., 0]
        want = (lp * keep).sum(-1) / (keep.sum(-1) if average else 1)
        torch.testing.assert_close(full.double(), want)
        ga, = torch.autograd.grad(full.sum(), logits)
        gb, = torch.autograd.grad(sel.sum(), logits)
        torch.testing.assert_close(ga, gb)
