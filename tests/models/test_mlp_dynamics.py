import numpy as np
import pytest
import torch

from mbrl.data import ReplayBuffer
from mbrl.models import FitSettings, MLPDynamics


def test_model_learns_linear_dynamics_and_keeps_best_weights():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(2000, 2))
    act = rng.uniform(-1, 1, size=(2000, 1))
    next_obs = obs @ np.array([[1.0, 0.1], [0.0, 0.9]]) + 0.5 * act
    buffer = ReplayBuffer(2000, 2, 1)
    buffer.add(obs, act, np.zeros(2000), next_obs, np.zeros(2000, bool), np.zeros(2000, bool))
    model = MLPDynamics(2, 1, hidden_size=64, num_layers=2)
    result = model.fit(buffer, torch.optim.Adam(model.parameters(), 3e-3), rng,
                       FitSettings(max_epochs=30))
    assert result.best_scores[0] == min(s[0] for s in result.validation_scores) < 0.01
    assert model.validation_mse(result) == result.best_scores[0]
    with torch.no_grad():
        predicted = model(torch.as_tensor(obs[:100], dtype=torch.float32),
                          torch.as_tensor(act[:100], dtype=torch.float32))
    np.testing.assert_allclose(predicted.numpy(), next_obs[:100], atol=0.1)
    state = model.state_dict()
    assert "input_normalizer.mean" in state and "delta_normalizer.std" in state
    with pytest.raises(ValueError, match="act must be"):
        model(torch.zeros(3, 2), torch.zeros(3, 2))
