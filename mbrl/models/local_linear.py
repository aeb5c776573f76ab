"""Time-varying linear-Gaussian dynamics fitted to sampled trajectories (reference 003 §5.7.1;
Levine and Abbeel 2014 §3.1, the Gaussian-mixture prior of their §4; Levine, Finn, Darrell and
Abbeel 2016, appendix A.3).

At each step t the N samples' ``(x_t, u_t, x_{t+1})`` are too few to fit ``x_{t+1}`` on
``[x_t; u_t]`` alone (N is a handful, S + A is larger), so the joint Gaussian of
``y = [x_t; u_t; x_{t+1}]`` is the posterior under a normal-inverse-Wishart prior whose mean
and scale come from a Gaussian mixture over every transition seen so far (all steps, all
iterations): the mixture's clusters that the step's samples fall into, moment-matched. The
linear-Gaussian model is that joint Gaussian conditioned on ``[x_t; u_t]``.
"""

from __future__ import annotations

import numpy as np
from sklearn.mixture import GaussianMixture

from planners.linear_gaussian import LinearGaussianDynamics


class MixturePrior:
    """A Gaussian mixture over transitions ``y = [x, u, x'] [M, 2S+A]`` (scikit-learn's EM) and
    the normal-inverse-Wishart prior it gives for a handful of points. ``strength`` is the
    prior's pseudo-count (``m = n0`` in the posterior); at most ``max_transitions`` of the most
    recent transitions are kept."""

    def __init__(self, components: int = 20, strength: float = 1.0,
                 max_transitions: int = 20_000, seed: int = 0) -> None:
        if components < 1 or strength <= 0 or max_transitions < 1:
            raise ValueError("need components >= 1, strength > 0 and max_transitions >= 1")
        self.components, self.strength = components, strength
        self.max_transitions, self.seed = max_transitions, seed
        self.data: np.ndarray | None = None
        self.mixture: GaussianMixture | None = None

    def update(self, transitions: np.ndarray) -> None:
        """Add transitions ``[M, 2S+A]`` and refit the mixture (seeded: the same data gives the
        same fit, so a resumed run refits it identically)."""
        transitions = np.asarray(transitions, dtype=np.float64)
        self.data = transitions if self.data is None else np.concatenate([self.data,
                                                                           transitions])
        self.data = self.data[-self.max_transitions:]
        components = min(self.components, max(1, len(self.data) // 40))
        self.mixture = GaussianMixture(components, covariance_type="full", reg_covar=1e-6,
                                       random_state=self.seed % 2**32, max_iter=100)
        self.mixture.fit(self.data)

    def evaluate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Prior mean ``[D]`` and scale matrix ``Phi [D, D]`` (= strength x covariance) for the
        points ``[N, D]``: the mixture's clusters weighted by the points' mean responsibility."""
        if self.mixture is None:
            raise RuntimeError("the prior has no data yet: call update() first")
        weights = self.mixture.predict_proba(points).mean(axis=0)  # [K]
        means = self.mixture.means_
        mean = weights @ means
        offsets = means - mean
        covariance = np.einsum("k,kij->ij", weights, self.mixture.covariances_) + \
            np.einsum("k,ki,kj->ij", weights, offsets, offsets)
        return mean, self.strength * covariance


def fit_local_dynamics(states: np.ndarray, actions: np.ndarray,
                       prior: MixturePrior | None = None,
                       regularization: float = 1e-6) -> LinearGaussianDynamics:
    """Linear-Gaussian dynamics ``x_{t+1} ~ N(F_t [x_t; u_t] + f_t, W_t)`` from N trajectories:
    ``states [N, T+1, S]``, ``actions [N, T, A]``. Without a prior each step is plain maximum
    likelihood (needs ``N > S + A``); with one, the posterior covariance
    ``(N Sigma_hat + Phi + N m / (N + m) (mu_hat - mu_0)(mu_hat - mu_0)^T) / (N + n0)`` with
    ``m = n0 = prior.strength``. ``regularization`` is added to the diagonal of the
    ``[x; u]`` block before conditioning. The initial state's Gaussian is the samples' own."""
    states, actions = np.asarray(states, np.float64), np.asarray(actions, np.float64)
    if states.ndim != 3 or actions.ndim != 3 or states.shape[:1] != actions.shape[:1] or \
            states.shape[1] != actions.shape[1] + 1:
        raise ValueError(f"need states [N, T+1, S] and actions [N, T, A], got "
                         f"{list(states.shape)} and {list(actions.shape)}")
    N, T, A = actions.shape
    S = states.shape[2]
    if prior is None and N <= S + A:
        raise ValueError(f"{N} trajectories cannot determine a [{S}, {S + A}] regression per "
                         "step without a prior; sample more or give a MixturePrior")
    F, f, covariance = np.empty((T, S, S + A)), np.empty((T, S)), np.empty((T, S, S))
    ridge = regularization * np.eye(S + A)
    for t in range(T):
        y = np.concatenate([states[:, t], actions[:, t], states[:, t + 1]], axis=1)  # [N, D]
        mean = y.mean(axis=0)
        empirical = (y - mean).T @ (y - mean) / N
        if prior is None:
            sigma = empirical
        else:
            mu0, phi = prior.evaluate(y)
            m = n0 = prior.strength
            gap = (mean - mu0)[:, None]
            sigma = (N * empirical + phi + (N * m) / (N + m) * gap @ gap.T) / (N + n0)
        sigma = (sigma + sigma.T) / 2
        sxx = sigma[:S + A, :S + A] + ridge
        F[t] = np.linalg.solve(sxx, sigma[:S + A, S + A:]).T
        f[t] = mean[S + A:] - F[t] @ mean[:S + A]
        W = sigma[S + A:, S + A:] - F[t] @ sxx @ F[t].T
        covariance[t] = (W + W.T) / 2 + regularization * np.eye(S)
    x0 = states[:, 0]
    initial_covariance = np.cov(x0.T, bias=True).reshape(S, S) + regularization * np.eye(S)
    return LinearGaussianDynamics(F, f, covariance, x0.mean(axis=0), initial_covariance)
