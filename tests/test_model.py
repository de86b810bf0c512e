"""The fusion head: losses against hand-computed values, router behaviour, ablation switches, baselines."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from microfuse_cli.errors import DataError, UsageError
from microfuse_cli.model import (
    ABLATIONS,
    FusionConfig,
    FusionModel,
    bce_loss,
    disagreement_weights,
    supcon_loss,
    total_loss,
    xmod_infonce_loss,
)

P_DIM, C_DIM, HIDDEN = 12, 6, 16




def _config(**kw) -> FusionConfig:
    return FusionConfig(protein_dim=P_DIM, context_dim=C_DIM, hidden=HIDDEN, **kw)


def _batch(n: int = 10, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    xp = torch.randn(n, P_DIM, generator=g)
    xb = torch.randn(n, C_DIM, generator=g)
    y = (torch.arange(n) % 2).float()
    return xp, xb, y


def _model(config: FusionConfig, seed: int = 0) -> FusionModel:
    torch.manual_seed(seed)
    return FusionModel(config)


# ---------------------------------------------------------------------------------------------- losses by hand


def test_bce_loss_by_hand():
    logits = torch.tensor([0.0, 2.0])
    y = torch.tensor([1.0, 0.0])
    # -log(sigmoid(0)) = log 2 ; -log(1 - sigmoid(2)) = log(1 + e^2)
    expected = (math.log(2) + math.log(1 + math.e**2)) / 2
    assert bce_loss(logits, y).item() == pytest.approx(expected, rel=1e-6)


def test_xmod_infonce_by_hand():
    z_p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z_b = torch.tensor([[2.0, 0.0], [1.0, 1.0]])  # normalised: (1, 0) and (r, r), r = 1/sqrt(2)
    tau = 0.5
    r = 1 / math.sqrt(2)
    # S = cos / tau = [[1, r], [0, r]] / tau
    row0 = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + math.exp(r / tau)))
    row1 = -math.log(math.exp(r / tau) / (math.exp(0) + math.exp(r / tau)))
    col0 = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + math.exp(0)))
    col1 = -math.log(math.exp(r / tau) / (math.exp(r / tau) + math.exp(r / tau)))  # = log 2
    expected = ((row0 + row1) / 2 + (col0 + col1) / 2) / 2
    assert xmod_infonce_loss(z_p, z_b, tau).item() == pytest.approx(expected, rel=1e-6)


def test_supcon_by_hand():
    h = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 2.0]])  # unit, unit, (0, 1) after normalising
    y = torch.tensor([1.0, 1.0, 0.0])
    tau = 0.5
    s01, s02, s12 = 0.6 / tau, 0.0 / tau, 0.8 / tau
    l0 = -(s01 - math.log(math.exp(s01) + math.exp(s02)))  # anchor 0: positive 1, others {1, 2}
    l1 = -(s01 - math.log(math.exp(s01) + math.exp(s12)))  # anchor 1: positive 0, others {0, 2}
    # anchor 2 has no positive and is left out
    assert supcon_loss(h, y, tau).item() == pytest.approx((l0 + l1) / 2, rel=1e-6)
    w = torch.tensor([1.0, 3.0, 100.0])
    assert supcon_loss(h, y, tau, w).item() == pytest.approx((1 * l0 + 3 * l1) / 4, rel=1e-6)


def test_supcon_several_positives_against_numpy():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(6, 3))
    y = np.array([1, 1, 1, 0, 0, 1])
    tau = 0.15
    z = h / np.linalg.norm(h, axis=1, keepdims=True)
    s = z @ z.T / tau
    terms = []
    for i in range(6):
        others = [a for a in range(6) if a != i]
        log_den = np.log(np.sum(np.exp(s[i, others])))
        pos = [j for j in others if y[j] == y[i]]
        terms.append(-np.mean([s[i, j] - log_den for j in pos]))
    got = supcon_loss(torch.tensor(h), torch.tensor(y), tau).item()
    assert got == pytest.approx(np.mean(terms), rel=1e-9)


def test_supcon_without_any_positive_is_zero():
    h = torch.randn(2, 4, requires_grad=True)
    loss = supcon_loss(h, torch.tensor([0.0, 1.0]))
    assert loss.item() == 0.0
    loss.backward()  # still differentiable


def test_disagreement_weights():
    z_p = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    z_b = torch.tensor([[3.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    assert disagreement_weights(z_p, z_b).tolist() == pytest.approx([0.0, 1.0, 2.0])


def test_total_loss_combines_the_terms():
    cfg = _config()
    xp, xb, y = _batch()
    out = _model(cfg).eval()(xp, xb)
    loss, parts = total_loss(out, y, cfg)
    w = disagreement_weights(out.z_p, out.z_b)
    expected = (
        bce_loss(out.logits, y)
        + 0.02 * xmod_infonce_loss(out.z_p, out.z_b, 0.12)
        + 0.03 * supcon_loss(out.h, y, 0.15, w)
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert set(parts) == {"bce", "xmod", "supcon"}


# ---------------------------------------------------------------------------------------------- router


def test_router_weights_are_a_distribution():
    xp, xb, _ = _batch(32)
    out = _model(_config()).eval()(xp, xb)
    assert out.router_weights.shape == (32, 4)
    assert torch.all(out.router_weights > 0)
    assert torch.allclose(out.router_weights.sum(1), torch.ones(32), atol=1e-6)
    assert out.h.shape == (32, HIDDEN) and out.logits.shape == (32,)
    assert out.z_p.shape == out.z_b.shape == (32, HIDDEN)


def test_standardisation_lives_in_the_model():
    model = _model(_config()).eval()
    keys = set(model.state_dict())
    assert {"protein_mean", "protein_std", "context_mean", "context_std"} <= keys
    xp, xb, _ = _batch()
    before = model(xp, xb).logits
    mean, std = torch.full((P_DIM,), 2.0), torch.full((P_DIM,), 3.0)
    model.set_standardisation(protein=(mean, std))
    assert torch.allclose(model(xp * 3 + 2, xb).logits, before, atol=1e-5)
    # a constant column (std 0) does not divide by zero
    model.set_standardisation(context=(torch.zeros(C_DIM), torch.zeros(C_DIM)))
    assert torch.equal(model.context_std, torch.ones(C_DIM))


# ---------------------------------------------------------------------------------------------- ablations


def test_ablation_configs_change_only_their_switches():
    full = FusionConfig()
    expected = {
        "full": set(),
        "no_disagreement_weighting": {"disagreement_weighting"},
        "no_interaction_experts": {"interaction_experts"},
        "no_conflict_expert": {"conflict_expert"},
        "no_supcon": {"supcon"},
        "ce_only": {"supcon", "xmod"},
        "no_xmod": {"xmod"},
    }
    assert set(ABLATIONS) == set(expected)
    for name, fields in expected.items():
        cfg = FusionConfig.ablation(name)
        changed = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(full, f.name)}
        assert changed == fields, name
        assert all(getattr(cfg, f) is False for f in fields)
    assert FusionConfig.ablation("no_xmod", hidden=8).hidden == 8
    with pytest.raises(UsageError):
        FusionConfig.ablation("no_such_thing")


def _grads_after_step(cfg):
    model = _model(cfg).train()
    xp, xb, y = _batch(16)
    out = model(xp, xb)
    loss, parts = total_loss(out, y, cfg)
    loss.backward()
    return model, out, parts


@pytest.mark.parametrize(
    "name, removed",
    [("no_conflict_expert", ["conflict"]), ("no_interaction_experts", ["agreement", "conflict"])],
)
def test_removed_experts_get_zero_weight_and_no_gradient(name, removed):
    cfg = _config(**ABLATIONS[name])
    model, out, _ = _grads_after_step(cfg)
    order = ["protein", "context", "agreement", "conflict"]
    for expert in order:
        k = order.index(expert)
        grads = [p.grad for p in model.experts[expert].parameters()]
        if expert in removed:
            assert torch.all(out.router_weights[:, k] == 0), expert
            assert all(g is None for g in grads), expert
        else:
            assert torch.all(out.router_weights[:, k] > 0), expert
            assert all(g is not None and torch.any(g != 0) for g in grads), expert
    assert torch.allclose(out.router_weights.sum(1), torch.ones(16), atol=1e-6)
    # the removed experts' parameters cannot change the output
    model.eval()
    xp, xb, _ = _batch(16)
    before = model(xp, xb).logits.detach().clone()
    with torch.no_grad():
        for expert in removed:
            for p in model.experts[expert].parameters():
                p.add_(torch.randn_like(p))
    assert torch.equal(model(xp, xb).logits, before)


def test_full_model_gives_every_expert_a_gradient():
    model, out, parts = _grads_after_step(_config())
    assert set(parts) == {"bce", "xmod", "supcon"}
    for expert in ("protein", "context", "agreement", "conflict"):
        assert all(p.grad is not None for p in model.experts[expert].parameters())


@pytest.mark.parametrize(
    "name, terms",
    [("no_supcon", {"bce", "xmod"}), ("no_xmod", {"bce", "supcon"}), ("ce_only", {"bce"}),
     ("no_disagreement_weighting", {"bce", "xmod", "supcon"})],
)  # fmt: skip
def test_loss_switches(name, terms):
    cfg = _config(**ABLATIONS[name])
    xp, xb, y = _batch()
    out = _model(cfg).eval()(xp, xb)
    full_out = _model(_config()).eval()(xp, xb)
    assert torch.equal(out.logits, full_out.logits)  # loss switches leave the network alone
    loss, parts = total_loss(out, y, cfg)
    assert set(parts) == terms
    if name == "ce_only":
        assert loss.item() == bce_loss(out.logits, y).item()


def test_disagreement_weighting_switch_changes_only_supcon():
    xp, xb, y = _batch()
    out = _model(_config()).eval()(xp, xb)
    _, weighted = total_loss(out, y, _config())
    _, plain = total_loss(out, y, _config(disagreement_weighting=False))
    assert weighted["bce"] == plain["bce"] and weighted["xmod"] == plain["xmod"]
    assert plain["supcon"] == pytest.approx(supcon_loss(out.h, y, 0.15).item(), rel=1e-6)
    assert weighted["supcon"] != pytest.approx(plain["supcon"], rel=1e-6)


# ---------------------------------------------------------------------------------------------- baselines, checks


def test_baselines():
    xp, xb, y = _batch(8)
    out = _model(_config(arch="protein")).eval()(xp, None)
    assert out.router_weights.tolist() == [[1.0, 0.0, 0.0, 0.0]] * 8
    assert out.z_p is None and out.z_b is None
    out = _model(_config(arch="context")).eval()(None, xb)
    assert out.router_weights.tolist() == [[0.0, 1.0, 0.0, 0.0]] * 8
    out = _model(_config(arch="concat")).eval()(xp, xb)
    assert torch.isnan(out.router_weights).all()
    loss, parts = total_loss(out, y, _config(arch="concat"))
    assert set(parts) == {"bce"}  # baselines train with BCE only
    assert "context_mean" not in _model(_config(arch="protein")).state_dict()


def test_config_and_input_checks():
    with pytest.raises(UsageError):
        _config(arch="transformer").validate()
    with pytest.raises(UsageError):
        _config(dropout=1.0).validate()
    with pytest.raises(UsageError):
        FusionModel(FusionConfig(context_dim=4))  # protein_dim unknown
    with pytest.raises(DataError):
        FusionConfig.from_dict({**_config().to_dict(), "colour": "blue"})
    assert FusionConfig.from_dict(_config().to_dict()) == _config()
    model = _model(_config()).eval()
    with pytest.raises(DataError):
        model(torch.randn(3, P_DIM + 1), torch.randn(3, C_DIM))
    with pytest.raises(DataError):
        model(torch.randn(3, P_DIM), None)


def test_one_ablation_vocabulary_on_the_command_line():
    """`train --ablation` offers the model's own names ("full" first) and still takes the old "none"."""
    import click

    from microfuse_cli.cli.train import ABLATION_ALIASES, train
    from microfuse_cli.fusion import ABLATIONS, ARCHS

    options = {p.name: p for p in train.params if isinstance(p, click.Option)}
    assert list(options["ablation"].type.choices) == [*ABLATIONS, *ABLATION_ALIASES]
    assert options["ablation"].default == "full" and ABLATION_ALIASES == {"none": "full"}
    assert list(options["arch"].type.choices) == [*ARCHS, "distance"]
