"""Linear-Gaussian trajectory distributions and their KL-constrained optimisation (reference 003
§5.7.1-5.7.2; Levine and Abbeel 2014, "Learning neural network policies with guided policy
search under unknown dynamics", §3; Montgomery and Levine 2016, mirror-descent GPS).

A controller ``p(u_t | x_t) = N(K_t x_t + k_t, Sigma_t)`` and affine-Gaussian dynamics
``x_{t+1} ~ N(F_t [x_t; u_t] + f_t, W_t)`` from ``x_0 ~ N(mu_0, Sigma_0)`` define a Gaussian
over trajectories. :func:`kl_constrained_update` finds the controller that minimises the
expected quadratic cost, optionally plus ``lambda KL(p || pi)`` towards a reference controller
``pi`` (a linearised global policy), subject to ``KL(p || p_previous) <= epsilon``: with the
dual variable ``eta`` of the trust region the Lagrangian is

    E_p[sum_t c_t - eta log p_prev(u|x) - lambda log pi(u|x)] - (eta + lambda) H(p),

a maximum-entropy LQR in the cost divided by ``nu = eta + lambda`` whose solution is
linear-Gaussian with covariance ``Q_uu^-1`` (:func:`max_entropy_lqr`); ``eta`` is found by a
bisection in log space. All arrays are float64 numpy (small matrices, sequential in time).
Points are ``z = [x; u]`` (``S + A``); costs are in absolute coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planners.lqr import solve_lqr


def _check(name: str, value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    value = np.asarray(value, dtype=np.float64)
    if value.shape != shape:
        raise ValueError(f"{name} must be {list(shape)}, got {list(value.shape)}")
    if not np.isfinite(value).all():
        raise ValueError(f"{name} holds NaN or Inf")
    return value


def _cholesky(name: str, matrices: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(matrices)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be symmetric positive definite at every step") from None


@dataclass
class LinearGaussianController:
    """``u_t ~ N(K_t x + k_t, covariance_t)``: ``K [T, A, S]``, ``k [T, A]``,
    ``covariance [T, A, A]`` (positive definite: a controller without one has no density)."""

    K: np.ndarray
    k: np.ndarray
    covariance: np.ndarray

    def __post_init__(self) -> None:
        if self.covariance is None:
            raise ValueError("a linear-Gaussian controller needs a covariance [T, A, A] (e.g. "
                             "Q_uu^-1 of its LQR); got None")
        self.K = np.asarray(self.K, dtype=np.float64)
        if self.K.ndim != 3:
            raise ValueError(f"K must be [T, A, S], got {list(self.K.shape)}")
        horizon, action_dim, _ = self.K.shape
        self.K = _check("K", self.K, self.K.shape)
        self.k = _check("k", self.k, (horizon, action_dim))
        self.covariance = _check("covariance", self.covariance,
                                 (horizon, action_dim, action_dim))
        self.covariance = (self.covariance + self.covariance.transpose(0, 2, 1)) / 2
        self.scale_tril = _cholesky("covariance", self.covariance)
        self.precision = np.linalg.inv(self.covariance)

    @property
    def horizon(self) -> int:
        return self.K.shape[0]

    @classmethod
    def constant(cls, horizon: int, state_dim: int, mean: np.ndarray,
                 variance: float) -> LinearGaussianController:
        """Open-loop noise ``u_t ~ N(mean, variance I)``: the usual first controller."""
        mean = np.broadcast_to(np.asarray(mean, dtype=np.float64), (horizon, np.size(mean)))
        action_dim = mean.shape[1]
        return cls(np.zeros((horizon, action_dim, state_dim)), mean.copy(),
                   np.broadcast_to(variance * np.eye(action_dim), (horizon, action_dim,
                                                                   action_dim)).copy())

    def mean(self, t: int, x: np.ndarray) -> np.ndarray:
        """Mean action ``[..., A]`` at step ``t`` for states ``[..., S]``."""
        return x @ self.K[t].T + self.k[t]

    def sample(self, t: int, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One action ``[A]`` for the state ``x [S]`` (unclamped: the caller applies bounds)."""
        return self.mean(t, x) + self.scale_tril[t] @ rng.standard_normal(self.k.shape[1])

    def log_density_cost(self) -> QuadraticCost:
        """``-log p(u | x)`` as a quadratic in ``z`` (without its constant)."""
        P = self.precision  # [T, A, A]
        PK = P @ self.K  # [T, A, S]
        C = np.block([[self.K.transpose(0, 2, 1) @ PK, -PK.transpose(0, 2, 1)], [-PK, P]])
        Pk = np.einsum("tab,tb->ta", P, self.k)
        c = np.concatenate([np.einsum("tas,ta->ts", self.K, Pk), -Pk], axis=1)
        return QuadraticCost(C, c)


@dataclass
class QuadraticCost:
    """``c_t(z) = 1/2 z^T C_t z + c_t^T z`` (+ a constant): ``C [T, S+A, S+A]``, ``c [T, S+A]``."""

    C: np.ndarray
    c: np.ndarray

    def __add__(self, other: QuadraticCost) -> QuadraticCost:
        return QuadraticCost(self.C + other.C, self.c + other.c)

    def __mul__(self, weight: float) -> QuadraticCost:
        return QuadraticCost(weight * self.C, weight * self.c)

    __rmul__ = __mul__


@dataclass
class LinearGaussianDynamics:
    """``x_{t+1} ~ N(F_t z_t + f_t, covariance_t)`` (``F [T, S, S+A]``, ``f [T, S]``,
    ``covariance [T, S, S]``) from ``x_0 ~ N(initial_mean [S], initial_covariance [S, S])``."""

    F: np.ndarray
    f: np.ndarray
    covariance: np.ndarray
    initial_mean: np.ndarray
    initial_covariance: np.ndarray

    def __post_init__(self) -> None:
        self.F = np.asarray(self.F, dtype=np.float64)
        if self.F.ndim != 3:
            raise ValueError(f"F must be [T, S, S+A], got {list(self.F.shape)}")
        horizon, state_dim, _ = self.F.shape
        self.F = _check("F", self.F, self.F.shape)
        self.f = _check("f", self.f, (horizon, state_dim))
        self.covariance = _check("covariance", self.covariance, (horizon, state_dim, state_dim))
        self.initial_mean = _check("initial_mean", self.initial_mean, (state_dim,))
        self.initial_covariance = _check("initial_covariance", self.initial_covariance,
                                         (state_dim, state_dim))

    @property
    def state_dim(self) -> int:
        return self.F.shape[1]


def _check_pair(dynamics: LinearGaussianDynamics, controller: LinearGaussianController) -> None:
    T, S, SA = dynamics.F.shape
    if controller.K.shape != (T, SA - S, S):
        raise ValueError(f"controller K {list(controller.K.shape)} does not fit dynamics with "
                         f"T={T}, S={S}, A={SA - S}")


def state_action_marginals(dynamics: LinearGaussianDynamics, controller: LinearGaussianController
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Means ``[T, S+A]`` and covariances ``[T, S+A, S+A]`` of ``z_t`` under the controller."""
    _check_pair(dynamics, controller)
    T = controller.horizon
    mu = np.empty((T, dynamics.F.shape[2]))
    sigma = np.empty((T, dynamics.F.shape[2], dynamics.F.shape[2]))
    mx, Sx = dynamics.initial_mean, dynamics.initial_covariance
    for t in range(T):
        K = controller.K[t]
        mu[t] = np.concatenate([mx, K @ mx + controller.k[t]])
        SxK = Sx @ K.T
        sigma[t] = np.block([[Sx, SxK], [SxK.T, K @ SxK + controller.covariance[t]]])
        mx = dynamics.F[t] @ mu[t] + dynamics.f[t]
        Sx = dynamics.F[t] @ sigma[t] @ dynamics.F[t].T + dynamics.covariance[t]
        Sx = (Sx + Sx.T) / 2
    return mu, sigma


def expected_cost(dynamics: LinearGaussianDynamics, controller: LinearGaussianController,
                  cost: QuadraticCost) -> float:
    """``E[sum_t c_t(z_t)]`` under the controller (the quadratic model, constants dropped)."""
    mu, sigma = state_action_marginals(dynamics, controller)
    quadratic = 0.5 * (np.einsum("ti,tij,tj->", mu, cost.C, mu)
                       + np.einsum("tij,tji->", cost.C, sigma))
    return float(quadratic + np.einsum("ti,ti->", cost.c, mu))


def trajectory_kl(dynamics: LinearGaussianDynamics, p: LinearGaussianController,
                  q: LinearGaussianController) -> np.ndarray:
    """``KL(p(tau) || q(tau))`` per step ``[T]`` of two controllers under the same dynamics and
    initial state distribution (their dynamics terms cancel):
    ``E_{x_t ~ p}[KL(p(u|x) || q(u|x))]``."""
    _check_pair(dynamics, p)
    _check_pair(dynamics, q)
    mu, sigma = state_action_marginals(dynamics, p)
    S = dynamics.state_dim
    mx, Sx = mu[:, :S], sigma[:, :S, :S]
    dK, dk = p.K - q.K, p.k - q.k
    dm = np.einsum("tas,ts->ta", dK, mx) + dk  # mean difference at the mean state
    Pq = q.precision
    trace = np.einsum("tab,tba->t", Pq, p.covariance)
    mahalanobis = np.einsum("ta,tab,tb->t", dm, Pq, dm)
    spread = np.einsum("tij,tji->t", dK.transpose(0, 2, 1) @ Pq @ dK, Sx)
    logdet = np.linalg.slogdet(q.covariance)[1] - np.linalg.slogdet(p.covariance)[1]
    return 0.5 * (trace + mahalanobis + spread - p.k.shape[1] + logdet)


def max_entropy_lqr(dynamics: LinearGaussianDynamics,
                    cost: QuadraticCost) -> LinearGaussianController | None:
    """The controller minimising ``E[sum_t c_t] - sum_t H(p(u_t|x_t))`` under the dynamics:
    the LQR gains (:func:`planners.lqr.solve_lqr`, no cost on the final state) with covariance
    ``Q_uu^-1``; None where some ``Q_uu`` is not positive definite (the cost is not convex
    enough in u)."""
    T, S, SA = dynamics.F.shape
    try:
        solution = solve_lqr(dynamics.F[:, :, :S], dynamics.F[:, :, S:], cost.C[:, :S, :S],
                             cost.C[:, S:, S:], T, N=cost.C[:, :S, S:], q=cost.c[:, :S],
                             r=cost.c[:, S:], d=dynamics.f, Q_final=np.zeros((S, S)))
    except ValueError:
        return None
    return LinearGaussianController(solution.K, solution.k, np.linalg.inv(solution.Quu))


@dataclass
class TrustRegionStep:
    """A :func:`kl_constrained_update` result: the new controller, its dual ``eta``, its KL to
    the previous controller (total over the horizon), to the reference policy, and the
    expected cost of the new and previous controllers under the quadratic model."""

    controller: LinearGaussianController
    eta: float
    kl: float
    policy_kl: float
    expected_cost: float
    previous_expected_cost: float


def kl_constrained_update(dynamics: LinearGaussianDynamics, cost: QuadraticCost,
                          previous: LinearGaussianController, epsilon: float,
                          policy: LinearGaussianController | None = None,
                          policy_weight: float = 0.0, eta: float = 1.0,
                          eta_range: tuple[float, float] = (1e-8, 1e16),
                          tolerance: float = 0.1, max_steps: int = 60) -> TrustRegionStep:
    """Minimise ``E_p[sum c] + policy_weight KL(p || policy)`` subject to
    ``KL(p || previous) <= epsilon`` (total nats over the horizon).

    ``eta`` (the previous step's dual, a warm start) is bisected in log space until the KL is
    within ``tolerance * epsilon`` below or above ``epsilon``, or the unconstrained optimum
    (``eta`` at its lower end) already lies inside the trust region. Where ``Q_uu`` is not
    positive definite ``eta`` is raised (a larger weight on ``log p_prev`` convexifies)."""
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    if policy_weight < 0 or (policy_weight > 0 and policy is None):
        raise ValueError("policy_weight must be >= 0 and needs a reference policy when > 0")
    low, high = eta_range
    previous_cost = previous.log_density_cost()
    policy_cost = policy.log_density_cost() if policy is not None else None

    def solve(eta: float) -> tuple[LinearGaussianController | None, float]:
        nu = eta + policy_weight
        total = cost * (1.0 / nu) + previous_cost * (eta / nu)
        if policy_cost is not None and policy_weight > 0:
            total = total + policy_cost * (policy_weight / nu)
        controller = max_entropy_lqr(dynamics, total)
        if controller is None:
            return None, np.inf
        return controller, float(trajectory_kl(dynamics, controller, previous).sum())

    eta = float(np.clip(eta, low, high))
    too_small = inside = None  # an eta known to leave the region, one known to stay in it
    best: tuple[float, LinearGaussianController, float] | None = None
    for _ in range(max_steps):
        controller, kl = solve(eta)
        if controller is not None and kl <= epsilon * (1 + tolerance):
            best, inside = (eta, controller, kl), eta  # each is below the last: the best so far
            if kl >= epsilon * (1 - tolerance) or eta <= low:
                break
        else:
            too_small = eta
            if eta >= high:
                break
        if inside is None:
            eta = min(eta * 10.0, high)
        elif too_small is None:
            eta = max(eta / 10.0, low)
        elif inside / too_small < 1 + 1e-6:
            break
        else:
            eta = float(np.sqrt(too_small * inside))
    if best is None:
        raise ValueError(f"kl_constrained_update: even eta={high:g} leaves KL > {epsilon} or a "
                         "Q_uu that is not positive definite; is the previous controller valid?")
    eta, controller, kl = best
    policy_kl = float(trajectory_kl(dynamics, controller, policy).sum()) if policy is not None \
        else 0.0
    return TrustRegionStep(controller, eta, kl, policy_kl,
                           expected_cost(dynamics, controller, cost),
                           expected_cost(dynamics, previous, cost))
