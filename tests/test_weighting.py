"""Divergence weights (Eq. 5, Eq. 7) and the k3 estimate, against direct computations; no trainer involved."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenshift.errors import UserError
from tokenshift.training.alpha import AlphaSchedule
from tokenshift.training.weighting import (
    K3_LOG_RATIO_BOUND,
    LINEAR_RELATIVE_MAX_WEIGHT,
    WEIGHTINGS,
    k3,
    token_weights,
)

logps = st.lists(st.floats(-20, 0), min_size=1, max_size=16)


@given(logps, st.data())
def test_k3_is_r_minus_log_r_minus_1(a, data):
    b = data.draw(st.lists(st.floats(-20, 0), min_size=len(a), max_size=len(a)))
    got = k3(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
    for g, x, y in zip(got.tolist(), a, b):
        r = math.exp(x - y)
        assert g == pytest.approx(r - math.log(r) - 1, rel=1e-9, abs=1e-12)
        assert g >= 0


def test_k3_is_exact_near_zero():
    """expm1 keeps the tiny KL of nearly equal policies that r - log r - 1 rounds to 0 in float32."""
    lp = torch.tensor([-1.0], dtype=torch.float32)
    d = 1e-4
    assert float(k3(lp + d, lp)) == pytest.approx(d * d / 2, rel=1e-2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_k3_clamps_the_log_ratio_so_huge_ratios_stay_finite(dtype):
    """A token one policy all but excludes (log-ratio far past the bound, or infinite) gives the bound's KL."""
    ratios = torch.tensor([-1e4, -50.0, 50.0, 1e4, float("inf"), float("-inf")], dtype=dtype)
    got = k3(ratios, torch.zeros_like(ratios))
    assert bool(torch.isfinite(got).all())
    b = K3_LOG_RATIO_BOUND
    at_bound = [math.exp(-b) + b - 1, math.exp(b) - b - 1]
    expected = [at_bound[0], at_bound[0], at_bound[1], at_bound[1], at_bound[1], at_bound[0]]
    assert got.double().tolist() == pytest.approx(expected, rel=1e-2 if dtype == torch.bfloat16 else 1e-6)


@pytest.mark.parametrize("name", ["sigmoid", "linear_relative"])
@given(big=st.floats(25, 1e30), alpha=st.floats(-1e4, 1e4))
def test_huge_log_ratios_give_finite_bounded_weights(name, big, alpha):
    logp = torch.tensor([[-big, -1.0, 0.0, big]])
    w = token_weights(name, k3(logp, torch.zeros_like(logp)), torch.ones_like(logp), alpha, 0.3)
    assert bool(torch.isfinite(w).all())
    low, high = (0.85, 1.15) if name == "sigmoid" else (0.0, LINEAR_RELATIVE_MAX_WEIGHT)
    assert bool((w >= low).all()) and bool((w <= high).all())


def test_linear_relative_weight_is_bounded_above():
    """One outlying KL with a large alpha would weigh thousands of times the others; the bound caps it."""
    kl = torch.tensor([[0.0, 0.0, 0.0, 5.0]], dtype=torch.float64)
    w = token_weights("linear_relative", kl, torch.ones_like(kl), 1000.0, 0.0)[0].tolist()
    assert w == [0.0, 0.0, 0.0, LINEAR_RELATIVE_MAX_WEIGHT]


kls = st.lists(st.floats(0, 5), min_size=2, max_size=12)


@pytest.mark.parametrize("name", ["sigmoid", "linear_relative"])
@given(kl=kls, s=st.floats(0, 1))
def test_no_divergence_weighting_when_alpha_or_s_is_zero(name, kl, s):
    t = torch.tensor([kl])
    mask = torch.ones_like(t)
    assert torch.equal(token_weights(name, t, mask, 0.0, s), torch.ones_like(t))
    if name == "sigmoid":
        assert torch.equal(token_weights(name, t, mask, 7.0, 0.0), torch.ones_like(t))


@pytest.mark.parametrize("name", ["sigmoid", "linear_relative"])
@settings(max_examples=50)
@given(kl=kls, alpha=st.floats(0.1, 60), s=st.floats(0.05, 1))
def test_weights_rise_with_kl_for_positive_alpha_and_fall_for_negative(name, kl, alpha, s):
    t = torch.tensor([sorted(kl)], dtype=torch.float64)
    mask = torch.ones_like(t)
    up = token_weights(name, t, mask, alpha, s)[0]
    down = token_weights(name, t, mask, -alpha, s)[0]
    assert all(x <= y for x, y in zip(up, up[1:]))
    assert all(x >= y for x, y in zip(down, down[1:]))
    assert bool((up >= 0).all()) and bool((down >= 0).all())


def test_sigmoid_and_linear_relative_against_their_formulas():
    kl = torch.tensor([[0.0, 0.1, 0.5, 9.0]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)  # the last token is padding
    sig = token_weights("sigmoid", kl, mask, 50.0, 0.3)[0].tolist()
    assert sig[:3] == pytest.approx([1 + 0.3 * (1 / (1 + math.exp(-50 * k)) - 0.5) for k in (0.0, 0.1, 0.5)])
    mean = (0.0 + 0.1 + 0.5) / 3
    lin = token_weights("linear_relative", kl, mask, 4.0, 0.0)[0].tolist()
    assert lin[:3] == pytest.approx([max(0.0, 1 + 4 * (k - mean)) for k in (0.0, 0.1, 0.5)])
    assert sig[3] == lin[3] == 1.0  # padding keeps weight 1 and does not enter the mean


def test_weights_carry_no_gradient():
    logp = torch.tensor([[-1.0, -2.0, -0.5]], requires_grad=True)
    kl = k3(logp, torch.tensor([[-1.2, -1.5, -0.5]]))
    for name in WEIGHTINGS:
        w = token_weights(name, kl, torch.ones_like(kl), 10.0, 0.3)
        assert not w.requires_grad


def test_alpha_schedule_ramps_in_rollout_steps():
    ramp = AlphaSchedule(start_alpha=0.0, end_alpha=50.0, start=100, ramp=50)
    assert [ramp(s) for s in (0, 99, 100, 125, 150, 400)] == [0.0, 0.0, 0.0, 25.0, 50.0, 50.0]
    assert AlphaSchedule(end_alpha=4.0)(0) == 4.0  # constant alpha
    with pytest.raises(UserError, match="start and ramp"):
        AlphaSchedule(start=-1)


def test_unknown_weighting_lists_the_known_ones():
    with pytest.raises(UserError, match="known: none, sigmoid, linear_relative"):
        token_weights("cubic", torch.zeros(1, 1), torch.ones(1, 1), 1.0, 1.0)
