import pytest
import torch

from mbrl.nn import EnsembleMLP, mlp


def test_like_mlp_members_equal_separately_built_mlps():
    torch.manual_seed(0)
    stacked = EnsembleMLP(2, [3, 5, 2], "tanh", like_mlp=True, output_gains=(0.01, 1.0))
    torch.manual_seed(0)
    nets = [mlp([3, 5, 2], "tanh", 0.01), mlp([3, 5, 2], "tanh", 1.0)]
    x = torch.randn(4, 3)
    out = stacked(x)
    for member, net in enumerate(nets):
        torch.testing.assert_close(out[member], net(x))
        torch.testing.assert_close(stacked.member(member, x), net(x))


def test_members_see_their_own_rows_and_gradients_stay_apart():
    net = EnsembleMLP(3, [2, 8, 1], "silu")
    x = torch.randn(3, 6, 2)
    out = net(x)
    for member in range(3):
        torch.testing.assert_close(out[member], net.member(member, x[member]))
    out[0].sum().backward()
    assert net.weights[0].grad[1:].abs().sum() == 0


def test_forward_members_equals_each_member_and_follows_weight_updates():
    net = EnsembleMLP(4, [3, 8, 8, 2], "silu")
    x = torch.randn(2, 5, 3)
    subset = (3, 1)
    with torch.no_grad():
        for _ in range(2):  # the stacked copy of a subset is rebuilt after the weights change
            out = net.forward_members(subset, x)
            for row, member in enumerate(subset):
                torch.testing.assert_close(out[row], net.member(member, x[row]))
            net.weights[1].mul_(2.0)
        every = torch.randn(4, 5, 3)
        torch.testing.assert_close(net.forward_members((0, 1, 2, 3), every), net(every))


def test_reset_and_member_state():
    net = EnsembleMLP(2, [2, 4, 1])
    generator = torch.Generator().manual_seed(1)
    net.reset_parameters(generator)
    first = [p.detach().clone() for p in net.parameters()]
    net.reset_parameters(torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(first, net.parameters(), strict=True))
    saved = net.member_state(1)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    net.load_member_state(1, saved)
    assert torch.equal(net.weights[0][1], first[0][1])
    assert not torch.equal(net.weights[0][0], first[0][0])


def test_bad_layers_raise():
    with pytest.raises(ValueError, match="activation"):
        mlp([3, 4], "sigmoidish")
    with pytest.raises(ValueError, match="sizes"):
        EnsembleMLP(2, [3])
    with pytest.raises(ValueError, match="members"):
        EnsembleMLP(0, [3, 4])
