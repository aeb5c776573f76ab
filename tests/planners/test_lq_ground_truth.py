"""Ground truth for the population planners: linear-quadratic problems with known
finite-horizon optima.

Each plant is ``x' = A x + B u`` with reward ``-(x'^T Q x' + u^T R u)`` per step, actions in
``[-1, 1]`` (a normalised action space, as the planners' defaults assume), horizon H. The
optimal open-loop sequence minimises a quadratic ``U^T M U + 2 g^T U + c`` in the stacked
actions ``U [H * A]``:

- where the bounds do not bind (start ``x0``: the unbounded optimum lies inside the box), it is
  the Riccati solution of :func:`planners.solve_lqr` (tested against scipy in test_lqr.py),
  checked here to be the minimiser of the quadratic;
- where they bind (start ``4 x0``), it is the box-constrained QP solved by scipy's L-BFGS-B,
  checked against its KKT conditions.

CEM, iCEM and MPPI at their documented defaults (only the seed given), cold-started, must get
within 1% of the optimal cost on every case and seed; random shooting's gap is printed, not
asserted tightly. The gaps (cost / optimal cost - 1, in %), printed by ``pytest -s``, as
measured for seeds 0, 1, 2 (torch 2.13, CPU):

    case (plant-H-start)  CEM             iCEM            MPPI            random shooting
    dint-10-1             0.00 0.00 0.00  0.00 0.00 0.00  0.01 0.02 0.02   17   22   25
    dint-20-1             0.05 0.11 0.01  0.07 0.31 0.07  0.11 0.10 0.10   44   55   58
    dint-10-4 (binding)   0.00 0.00 0.00  0.00 0.00 0.00  0.00 0.00 0.00    3    4    3
    dint-20-4 (binding)   0.01 0.01 0.00  0.02 0.01 0.01  0.08 0.05 0.07    9   11    9
    mass-10-1             0.00 0.00 0.00  0.00 0.00 0.01  0.12 0.23 0.22   56   40   53
    mass-20-1 (40 dims)   0.50 0.52 0.19  0.38 0.90 0.88  0.47 0.36 0.40  194  178  190
    mass-20-4 (binding)   0.05 0.09 0.04  0.08 0.07 0.07  0.19 0.20 0.23   59   80   50
    unst-20-1             0.00 0.00 0.00  0.03 0.01 0.02  0.13 0.08 0.13  127  127  129
    unst-10-4 (binding)   0.00 0.00 0.00  0.00 0.00 0.00  0.01 0.02 0.00    9    8    7

Over seeds 0-9 the worst gaps are 0.52% (CEM), 0.50% (MPPI), and for iCEM 0.33% on every
case but the 40-dimensional one (coupled masses, H = 20, bounds not binding), where it is
1.44%: that case is asserted within 2% for iCEM (see ``ICEM``'s docstring).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import torch

from planners import CEM, ICEM, MPPI, Problem, RandomShooting, solve_lqr

SEEDS = (0, 1, 2)


def double_integrator():
    """Position and velocity, dt = 0.1, a force on the velocity (scaled so |u*| < 1 from x0)."""
    A = np.array([[1.0, 0.1], [0.0, 1.0]])
    B = 8.0 * np.array([[0.01], [0.1]])
    return A, B, np.eye(2), 0.64 * np.eye(1), np.array([1.0, 0.0])


def coupled_masses():
    """Two masses on springs (to the walls and to each other), semi-implicit Euler with
    dt = 0.1, two coupled actuators (the second also pushes the first)."""
    dt, k = 0.1, 1.0
    stiffness = np.array([[2 * k, -k], [-k, 2 * k]])
    velocity = np.hstack([-dt * stiffness, np.eye(2)])  # v' = v - dt K p + dt u
    position = np.hstack([np.eye(2), np.zeros((2, 2))]) + dt * velocity  # p' = p + dt v'
    A = np.vstack([position, velocity])
    B = 8.0 * np.vstack([dt * dt * np.eye(2), dt * np.eye(2)]) @ np.array([[1.0, 0.5],
                                                                            [0.0, 1.0]])
    return A, B, np.diag([1.0, 1.0, 0.1, 0.1]), 0.64 * np.eye(2), np.array([1.0, -0.5, 0, 0])


def unstable():
    """An open-loop unstable plant (eigenvalues 1.05) actuated through the velocity only."""
    A = np.array([[1.05, 0.1], [0.0, 1.05]])
    B = 10.0 * np.array([[0.0], [0.1]])
    return A, B, np.eye(2), 10.0 * np.eye(1), np.array([1.0, 0.5])


PLANTS = {"dint": double_integrator, "mass": coupled_masses, "unst": unstable}
# (plant, horizon, start scale): scale 1, the bounds do not bind; scale 4, they do
CASES = [("dint", 10, 1), ("dint", 20, 1), ("dint", 10, 4), ("dint", 20, 4), ("mass", 10, 1),
         ("mass", 20, 1), ("mass", 20, 4), ("unst", 20, 1), ("unst", 10, 4)]
CASE_IDS = [f"{name}-H{horizon}-x{scale}" for name, horizon, scale in CASES]


class Case:
    """One problem: the planners' ``Problem``, the quadratic cost of ``U`` and its optimum."""

    def __init__(self, name: str, horizon: int, scale: float) -> None:
        A, B, Q, R, x0 = PLANTS[name]()
        self.A, self.B, self.Q, self.R, self.horizon = A, B, Q, R, horizon
        self.x0 = scale * x0
        self.binding = scale > 1
        self.M, self.g, self.c = _quadratic(A, B, Q, R, self.x0, horizon)
        self.unbounded = _riccati(A, B, Q, R, self.x0, horizon)
        if self.binding:
            self.optimum = _box_qp(self.M, self.g)
        else:
            self.optimum = self.unbounded
        self.optimal_cost = self.cost(self.optimum)
        tensors = [torch.tensor(m, dtype=torch.float32) for m in (A, B, Q, R)]
        At, Bt, Qt, Rt = tensors

        def dynamics(states, actions):
            return states @ At.T + actions @ Bt.T

        def reward(states, actions, next_states):
            return -((next_states @ Qt) * next_states).sum(-1) - ((actions @ Rt) * actions).sum(-1)

        dim = B.shape[1]
        self.problem = Problem(dynamics, reward, [-1.0] * dim, [1.0] * dim, horizon)
        self.state = torch.tensor(self.x0, dtype=torch.float32)

    def cost(self, actions: np.ndarray) -> float:
        """The negative return of the stacked actions, in float64."""
        U = np.asarray(actions, dtype=np.float64).reshape(-1)
        return float(U @ self.M @ U + 2 * self.g @ U + self.c)

    def gap(self, actions: torch.Tensor) -> float:
        """cost / optimal cost - 1 of a plan's actions ``[H, A]`` (inside the bounds)."""
        assert actions.shape == (self.horizon, self.B.shape[1])
        assert ((actions >= -1) & (actions <= 1)).all()
        return self.cost(actions.double().numpy()) / self.optimal_cost - 1


def _quadratic(A, B, Q, R, x0, horizon):
    """``M, g, c`` with cost(U) = U^T M U + 2 g^T U + c: the states are X = F x0 + G U."""
    S, dim = B.shape
    F = np.zeros((horizon * S, S))
    G = np.zeros((horizon * S, horizon * dim))
    power = np.eye(S)
    for t in range(horizon):
        power = A @ power
        F[t * S:(t + 1) * S] = power
        for s in range(t + 1):
            G[t * S:(t + 1) * S, s * dim:(s + 1) * dim] = np.linalg.matrix_power(A, t - s) @ B
    free = F @ x0
    Qb, Rb = np.kron(np.eye(horizon), Q), np.kron(np.eye(horizon), R)
    return G.T @ Qb @ G + Rb, G.T @ Qb @ free, float(free @ Qb @ free)


def _riccati(A, B, Q, R, x0, horizon):
    """The finite-horizon LQR solution rolled out from x0 (solve_lqr's costs carry a 1/2, and
    the reward is on x_{t+1}: stage costs 2Q, 2R and terminal 2Q; the x_0 term is constant)."""
    solution = solve_lqr(A, B, 2 * Q, 2 * R, horizon, Q_final=2 * Q)
    x, actions = x0, []
    for t in range(horizon):
        actions.append(solution.K[t] @ x + solution.k[t])
        x = A @ x + B @ actions[-1]
    return np.concatenate(actions)


def _box_qp(M, g):
    result = scipy.optimize.minimize(lambda U: U @ M @ U + 2 * g @ U, np.zeros(g.shape[0]),
                                     jac=lambda U: 2 * (M @ U + g), method="L-BFGS-B",
                                     bounds=[(-1.0, 1.0)] * g.shape[0],
                                     options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10000})
    assert result.success, result.message
    # polish: with L-BFGS-B's active set fixed, the free actions solve a linear system exactly
    U = np.clip(result.x, -1.0, 1.0)
    gradient = M @ U + g
    active = ((U <= -1 + 1e-6) & (gradient > 0)) | ((U >= 1 - 1e-6) & (gradient < 0))
    U[active] = np.sign(U[active])
    free = ~active
    rhs = g[free] + M[np.ix_(free, active)] @ U[active]
    U[free] = np.linalg.solve(M[np.ix_(free, free)], -rhs)
    return U


_CACHE: dict[tuple, Case] = {}


def case(spec) -> Case:
    if spec not in _CACHE:
        _CACHE[spec] = Case(*spec)
    return _CACHE[spec]


@pytest.mark.parametrize("spec", CASES, ids=CASE_IDS)
def test_the_ground_truth_is_optimal(spec):
    c = case(spec)
    # the Riccati solution is the unconstrained minimiser of the quadratic
    np.testing.assert_allclose(c.unbounded, np.linalg.solve(c.M, -c.g), atol=1e-9, rtol=0)
    # and the planners' Problem scores an action sequence exactly like the quadratic
    actions = torch.tensor(c.unbounded.reshape(c.horizon, -1), dtype=torch.float32).clamp(-1, 1)
    evaluated = -float(c.problem.evaluate(c.state, actions[None])[0])
    assert evaluated == pytest.approx(c.cost(actions.double().numpy()), rel=1e-5)
    if not c.binding:
        assert np.abs(c.unbounded).max() < 1.0  # the bounds do not bind
        return
    assert np.abs(c.unbounded).max() > 1.5  # they do, and the box QP is its own optimum:
    gradient = 2 * (c.M @ c.optimum + c.g)  # KKT: zero gradient inside, pointing out at a bound
    lower, upper = c.optimum == -1, c.optimum == 1
    assert (lower | upper).sum() >= 2
    assert np.abs(c.optimum).max() <= 1
    assert np.abs(gradient[~(lower | upper)]).max() < 1e-9
    assert (gradient[lower] > 0).all() and (gradient[upper] < 0).all()
    assert c.optimal_cost > c.cost(c.unbounded)


PLANNERS = {"CEM": CEM, "iCEM": ICEM, "MPPI": MPPI}


@pytest.mark.parametrize("spec", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("name", list(PLANNERS))
def test_population_planners_at_their_defaults_reach_the_optimum(name, spec):
    c = case(spec)
    gaps = [c.gap(PLANNERS[name](seed=seed).plan(c.state, c.problem).actions) for seed in SEEDS]
    print(f"\n{name:5s} {'-'.join(map(str, spec)):10s} optimal cost {c.optimal_cost:8.3f} gaps "
          + " ".join(f"{100 * gap:6.3f}%" for gap in gaps))
    assert min(gaps) > -1e-5  # nothing beats the optimum (float32 round-off aside)
    # iCEM's one exception, see the module docstring and ICEM's: the 40-dimensional case
    tolerance = 0.02 if (name == "iCEM" and spec == ("mass", 20, 1)) else 0.01
    assert max(gaps) < tolerance


@pytest.mark.parametrize("spec", CASES, ids=CASE_IDS)
def test_random_shooting_gap_is_reported(spec):
    c = case(spec)
    gaps = [c.gap(RandomShooting(seed=seed).plan(c.state, c.problem).actions) for seed in SEEDS]
    print(f"\nRS    {'-'.join(map(str, spec)):10s} optimal cost {c.optimal_cost:8.3f} gaps "
          + " ".join(f"{100 * gap:6.1f}%" for gap in gaps))
    assert min(gaps) > 0  # not asserted tightly: 1000 uniform draws in 10-40 dimensions


@pytest.mark.parametrize("iterations", [30, 100])
def test_mppi_control_cost_optimises_another_objective(iterations):
    """The opt-in control cost of Williams et al. 2017 is a quadratic action penalty: on the
    double integrator (H = 20) MPPI then stays > 5% above the optimal cost however long it
    iterates, where the default (no control cost) gets within 1%."""
    c = case(("dint", 20, 1))
    penalised = MPPI(iterations=iterations, control_cost=True, seed=0)
    assert c.gap(penalised.plan(c.state, c.problem).actions) > 0.05
    assert c.gap(MPPI(iterations=iterations, seed=0).plan(c.state, c.problem).actions) < 0.01
