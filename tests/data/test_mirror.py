import torch

from mbrl.data.mirror import with_mirror_image


def test_mirror_image_follows_the_data_and_cuts_unfinished_episodes():
    data = {"obs": torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
            "act": torch.tensor([[0.5], [-0.5], [1.0]]),
            "next_obs": torch.tensor([[3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]),
            "rew": torch.tensor([1.0, 2.0, 3.0]),
            "terminated": torch.tensor([False, True, False]),
            "truncated": torch.tensor([False, False, False])}
    both = with_mirror_image(data, torch.tensor([-1.0, 1.0]), torch.tensor([-1.0]))
    assert torch.equal(both["obs"][3:], data["obs"] * torch.tensor([-1.0, 1.0]))
    assert torch.equal(both["next_obs"][3:, 0], -data["next_obs"][:, 0])
    assert torch.equal(both["act"][3:], -data["act"])
    assert torch.equal(both["rew"], data["rew"].repeat(2))
    assert torch.equal(both["obs"][:3], data["obs"])  # originals first, unchanged
    assert both["terminated"].tolist() == [False, True, False] * 2
    # the last episode is unfinished: each copy of it ends (truncated) where the data ends
    assert both["truncated"].tolist() == [False, False, True] * 2
    assert not data["truncated"].any()  # the input is not modified
