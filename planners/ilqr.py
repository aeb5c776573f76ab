"""Iterative LQR with control limits (reference 003 §5.2 eq. 5.2.8-5.2.9, §5.7.1; Tassa, Mansard
and Todorov 2014, "Control-limited differential dynamic programming").

Each iteration linearises the dynamics and quadratises the cost ``c_t = -reward`` around the
nominal trajectory, solves the resulting LQR backward (each step a box-constrained QP when the
controls are bounded), and accepts the best of a batch of line-search step sizes. Dynamics
Jacobians come from torch autograd (batched over time with ``torch.func``) or from central
finite differences (one batched model call), so black-box models work too; the cost is
differentiated by autograd through the dynamics linearisation (Gauss-Newton: the dynamics'
second derivatives are dropped, as iLQR does).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from planners.lqr import TimeVaryingLinearPolicy, cholesky_solve, q_expansion, value_update
from planners.problem import (
    NonFiniteModelOutput,
    Plan,
    Planner,
    Problem,
    _check_output,
    check_warm_start,
)
from planners.shooting import make_generator

DERIVATIVES = ("autograd", "finite_differences", "model")
# smallest eigenvalue of the Q_uu inverted for the exploration covariance, relative to its largest
COVARIANCE_CURVATURE_FLOOR = 1e-6
# (K [T, A, S], k [T, A], (sum k^T Q_u, 1/2 sum k^T Q_uu k), Q_uu [T, A, A])
_Gains = tuple[np.ndarray, np.ndarray, tuple[float, float], np.ndarray]


@dataclass
class _Expansion:
    """Derivatives along a trajectory (float64 numpy): dynamics ``fx [T, S, S]``,
    ``fu [T, S, A]``; cost ``lx [T, S]``, ``lu [T, A]``, ``lxx [T, S, S]``, ``luu [T, A, A]``,
    ``lux [T, A, S]``; terminal cost ``vx [S]``, ``vxx [S, S]``."""

    fx: np.ndarray
    fu: np.ndarray
    lx: np.ndarray
    lu: np.ndarray
    lxx: np.ndarray
    luu: np.ndarray
    lux: np.ndarray
    vx: np.ndarray
    vxx: np.ndarray


class _Regularisation:
    """The Levenberg-Marquardt schedule of Tassa et al. 2014 for ``mu`` (added to ``Q_uu``)."""

    def __init__(self, value: float, minimum: float, maximum: float, factor: float) -> None:
        self.value, self.minimum, self.maximum, self.factor = value, minimum, maximum, factor
        self.step = 1.0

    @property
    def exhausted(self) -> bool:
        return self.value > self.maximum

    def increase(self) -> None:
        self.step = max(self.factor, self.step * self.factor)
        self.value = max(self.minimum, self.value * self.step)

    def decrease(self) -> None:
        self.step = min(1.0 / self.factor, self.step / self.factor)
        self.value = self.value * self.step if self.value * self.step > self.minimum else 0.0


class ILQR(Planner):
    """iLQR/iLQG planner: ``plan(state, problem)`` returns the optimised open-loop actions and,
    in ``diagnostics["policy"]``, the :class:`TimeVaryingLinearPolicy` around them (with the
    exploration covariance ``Q_uu^-1``; ``diagnostics["covariance_shift"] [T]`` is non-zero
    where a clamped control's curvature had to be lifted to make it one, see ``_policy``).

    ``derivatives``: ``"autograd"`` (the dynamics must be a torch function that ``torch.func``
    can transform), ``"finite_differences"`` (central differences with step ``fd_step``, one
    batched model call) or ``"model"`` (the dynamics' own ``jacobians(states, actions)``, e.g.
    ``MujocoSimulator``'s from ``mujoco.mjd_transitionFD``).
    Regularisation ``mu`` is added to ``Q_uu`` and follows the Levenberg-Marquardt schedule of
    Tassa et al.: raised by a growing factor when the backward pass fails or no step size
    improves the cost, lowered after success. Stops when the relative cost improvement is below
    ``tolerance``, when the feedforward step is below ``gradient_tolerance`` or after
    ``max_iterations``. Termination functions are ignored (the objective must be smooth);
    ``problem.num_particles`` must be 1. Without a warm start the controls start mid-range
    plus Gaussian noise of std ``init_noise`` in action units (from the seeded generator), so
    that a symmetric equilibrium such as a pendulum hanging still is left.
    """

    def __init__(self, max_iterations: int = 50, derivatives: str = "autograd",
                 fd_step: float = 1e-5, tolerance: float = 1e-9,
                 gradient_tolerance: float = 1e-7, mu_init: float = 0.0, mu_min: float = 1e-8,
                 mu_max: float = 1e10, mu_factor: float = 1.6,
                 step_sizes: tuple[float, ...] = tuple(10.0 ** np.linspace(0, -3, 11)),
                 init_noise: float = 0.01, seed: int | torch.Generator | None = None) -> None:
        if derivatives not in DERIVATIVES:
            raise ValueError(f"derivatives must be one of {DERIVATIVES}, got {derivatives!r}")
        if int(max_iterations) != max_iterations or max_iterations < 1:
            raise ValueError(f"max_iterations must be a positive integer, got {max_iterations!r}")
        if not (mu_init >= 0 and 0 < mu_min <= mu_max and mu_factor > 1 and fd_step > 0):
            raise ValueError("need mu_init >= 0, 0 < mu_min <= mu_max, mu_factor > 1 and "
                             "fd_step > 0")
        self.max_iterations, self.derivatives = int(max_iterations), derivatives
        self.fd_step = fd_step
        self.tolerance, self.gradient_tolerance = tolerance, gradient_tolerance
        self.mu_init, self.mu_min, self.mu_max, self.mu_factor = mu_init, mu_min, mu_max, mu_factor
        if init_noise < 0:
            raise ValueError(f"init_noise must be >= 0, got {init_noise}")
        self.init_noise = init_noise
        self.step_sizes = torch.tensor(sorted(step_sizes, reverse=True), dtype=torch.float64)
        self.generator = make_generator(seed)

    def plan(self, state: Tensor, problem: Problem, warm_start: Tensor | None = None) -> Plan:
        started = time.perf_counter()
        problem.require_continuous("iLQR")
        if problem.num_particles != 1:
            raise ValueError("iLQR optimises one deterministic trajectory: use num_particles=1, "
                             f"got {problem.num_particles}")
        dtype = torch.float64
        x0 = problem.check_state(state).to(dtype)
        low, high = problem.action_low.to(dtype), problem.action_high.to(dtype)
        warm_start = check_warm_start(warm_start, problem)
        if warm_start is None:  # mid-range, slightly perturbed to leave symmetric equilibria
            noise = torch.randn((problem.horizon, problem.action_dim), generator=self.generator,
                                dtype=dtype)
            controls = (low + high) / 2 + self.init_noise * noise
        controls = torch.clamp(controls if warm_start is None else warm_start.to(dtype), low, high)
        states, _, cost = _rollout(problem, x0, 1, lambda t, x: controls[None, t])
        states, cost = states[0], float(cost[0])
        mu = _Regularisation(self.mu_init, self.mu_min, self.mu_max, self.mu_factor)
        history, converged, iterations, gains = [cost], False, 0, None
        while iterations < self.max_iterations and not converged and not mu.exhausted:
            iterations += 1
            expansion = self._expand(problem, states, controls)
            backward = None
            while backward is None and not mu.exhausted:
                backward = _backward_pass(expansion, controls.numpy(), low.numpy(), high.numpy(),
                                          mu.value, problem.discount)
                if backward is None:
                    mu.increase()
            if backward is None:
                break
            gains = backward
            K, k, expected = torch.from_numpy(backward[0]), torch.from_numpy(backward[1]), \
                backward[2]
            step = float(k.abs().max() / (controls.abs().max() + 1.0))
            if step < self.gradient_tolerance:
                converged = True
                break
            accepted = self._line_search(problem, x0, states, controls, K, k, low, high, cost,
                                         expected)
            if accepted is None:
                mu.increase()
                continue
            improvement = cost - accepted[2]
            states, controls, cost = accepted
            history.append(cost)
            mu.decrease()
            converged = improvement <= self.tolerance * max(1.0, abs(cost))
        policy, covariance_shift = self._policy(states, controls, gains, low, high)
        diagnostics = {"iterations": iterations, "converged": converged, "cost_history": history,
                       "states": states, "policy": policy, "covariance_shift": covariance_shift,
                       "mu": mu.value,
                       "seconds": time.perf_counter() - started}
        return Plan(controls.to(problem.action_low.dtype), -cost, diagnostics)

    def _policy(self, states: Tensor, controls: Tensor, gains: _Gains | None, low: Tensor,
                high: Tensor) -> tuple[TimeVaryingLinearPolicy | None, Tensor | None]:
        """The feedback policy around the plan and the shift ``[T]`` added to each regularised
        ``Q_uu`` before inverting it for the covariance. The box QP needs only the block of the
        free controls to be positive definite, so where controls are clamped ``Q_uu`` may not
        be (a cost concave in u, optimum on the bounds): there the covariance is
        ``(Q_uu + shift I)^-1`` with the smallest shift that lifts every eigenvalue to
        ``COVARIANCE_CURVATURE_FLOOR`` times the largest magnitude (at least 1); zero elsewhere."""
        if gains is None:
            return None, None
        K, _, _, Quu = gains
        Quu = torch.from_numpy(Quu)
        Quu = (Quu + Quu.transpose(1, 2)) / 2
        eigenvalues = torch.linalg.eigvalsh(Quu)  # [T, A], ascending
        floor = COVARIANCE_CURVATURE_FLOOR * eigenvalues.abs().amax(dim=1).clamp(min=1.0)
        shift = (floor - eigenvalues[:, 0]).clamp(min=0.0)  # [T]
        eye = torch.eye(Quu.shape[1], dtype=Quu.dtype)
        covariance = torch.linalg.inv(Quu + shift[:, None, None] * eye)
        covariance = (covariance + covariance.transpose(1, 2)) / 2
        policy = TimeVaryingLinearPolicy(states[:-1], controls, torch.from_numpy(K),
                                         torch.zeros_like(controls), low, high, covariance,
                                         self.generator)
        return policy, shift

    # --- line search ----------------------------------------------------------------------

    def _line_search(self, problem: Problem, x0: Tensor, states: Tensor, controls: Tensor,
                     K: Tensor, k: Tensor, low: Tensor, high: Tensor, cost: float,
                     expected: tuple[float, float]) -> tuple[Tensor, Tensor, float] | None:
        """Roll out all step sizes at once (rows of one batch); return the largest step size's
        trajectory whose improvement is a positive fraction of the predicted one."""
        alphas = self.step_sizes

        def policy(t: int, x: Tensor) -> Tensor:
            return torch.clamp(controls[t] + alphas[:, None] * k[t] + (x - states[t]) @ K[t].T,
                               low, high)

        try:
            new_states, new_controls, costs = _rollout(problem, x0, alphas.shape[0], policy)
        except FloatingPointError:
            return None
        predicted = -(alphas * expected[0] + alphas.square() * expected[1])  # > 0: improvement
        for i in range(alphas.shape[0]):
            actual = cost - float(costs[i])
            if actual > 0 and (predicted[i] <= 0 or actual / float(predicted[i]) > 1e-4):
                return new_states[i], new_controls[i], float(costs[i])
        return None

    # --- derivatives ----------------------------------------------------------------------

    def _expand(self, problem: Problem, states: Tensor, controls: Tensor) -> _Expansion:
        x, u = states[:-1], controls
        if self.derivatives == "autograd":
            fx, fu = _autograd_jacobians(problem, x, u)
        elif self.derivatives == "model":
            fx, fu = _model_jacobians(problem, x, u)
        else:
            fx, fu = _finite_difference_jacobians(problem, x, u, self.fd_step)
        next_states = states[1:]

        def step_cost(xt, ut, x_ref, u_ref, next_ref, jx, ju):
            predicted = next_ref + jx @ (xt - x_ref) + ju @ (ut - u_ref)
            reward = problem.reward_fn(xt[None], ut[None], predicted[None])
            _check_output("reward_fn", reward, (1,), "for a batch of one transition")
            return -reward[0]

        # reverse-over-reverse: torch's forward-mode AD (torch.func.hessian) warns on import
        grad_fn = torch.func.grad(step_cost, argnums=(0, 1))
        grad = torch.func.vmap(grad_fn)
        hess = torch.func.vmap(torch.func.jacrev(grad_fn, argnums=(0, 1)))
        args = (x, u, x, u, next_states, fx, fu)
        lx, lu = grad(*args)
        (lxx, _), (lux, luu) = hess(*args)
        vx = torch.zeros(x.shape[1], dtype=x.dtype)
        vxx = torch.zeros(x.shape[1], x.shape[1], dtype=x.dtype)
        if problem.terminal_value is not None:
            def terminal_cost(xt):
                value = problem.terminal_value(xt[None])
                _check_output("terminal_value", value, (1,), "for a batch of one state")
                return -value[0]
            vx = torch.func.grad(terminal_cost)(states[-1])
            vxx = torch.func.jacrev(torch.func.grad(terminal_cost))(states[-1])
        as_numpy = [t.detach().numpy() for t in (fx, fu, lx, lu, lxx, luu, lux, vx, vxx)]
        return _Expansion(*as_numpy)


def _rollout(problem: Problem, x0: Tensor, rows: int,
             policy: Callable[[int, Tensor], Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """States ``[B, T+1, S]``, controls ``[B, T, A]`` and discounted costs ``[B]`` of ``B = rows``
    trajectories from ``x0 [S]`` under ``policy(t, states [B, S]) -> controls [B, A]``. Stepped
    by ``problem.step`` (the nominal one too, so that it is scored exactly like the closed-loop
    line search; a model's own sequence rollout may differ by round-off), scored by
    ``problem.returns`` without termination (the objective must be smooth)."""
    x = x0.expand(rows, -1)
    states, controls = [x], []
    with torch.no_grad():
        for t in range(problem.horizon):
            controls.append(policy(t, x))
            x = problem.step(x, controls[-1], t).to(x0.dtype)
            states.append(x)
        states, controls = torch.stack(states, 1), torch.stack(controls, 1)
        returns, finite = problem.returns(states[:, 0], controls, states[:, 1:],
                                          use_termination=False)
    if not bool(finite):
        raise NonFiniteModelOutput("iLQR: the dynamics or reward returned NaN/Inf along a "
                                   "trajectory; refusing to plan through it")
    return states, controls, -returns


def _autograd_jacobians(problem: Problem, x: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """``fx [T, S, S]``, ``fu [T, S, A]`` of the dynamics at each ``(x_t, u_t)``."""
    def step(xt, ut):
        return problem.dynamics(xt[None], ut[None])[0]

    try:
        return torch.func.vmap(torch.func.jacrev(step, argnums=(0, 1)))(x, u)
    except RuntimeError as error:
        raise RuntimeError("iLQR could not differentiate the dynamics with torch.func; use "
                           "derivatives='finite_differences' for black-box models") from error


def _model_jacobians(problem: Problem, x: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """The model's own ``jacobians(states [T, S], actions [T, A])`` (e.g. MuJoCo's)."""
    jacobians = getattr(problem.dynamics, "jacobians", None)
    if jacobians is None:
        raise ValueError("derivatives='model' needs a dynamics with a jacobians(states, actions) "
                         "method")
    fx, fu = jacobians(x, u)
    return fx.to(x.dtype), fu.to(x.dtype)


def _finite_difference_jacobians(problem: Problem, x: Tensor, u: Tensor,
                                 step: float) -> tuple[Tensor, Tensor]:
    """Central differences, all ``2 (S + A)`` perturbations of all T steps in one model call."""
    horizon, state_dim = x.shape
    action_dim = u.shape[1]
    size = state_dim + action_dim
    basis = torch.eye(size, dtype=x.dtype) * step
    offsets = torch.cat([basis, -basis])  # [2 (S+A), S+A]
    points = torch.cat([x, u], dim=1)[:, None] + offsets[None]  # [T, 2 (S+A), S+A]
    flat = points.reshape(-1, size)
    with torch.no_grad():
        out = problem.dynamics(flat[:, :state_dim], flat[:, state_dim:]).to(x.dtype)
    out = out.view(horizon, 2, size, state_dim)
    jacobian = ((out[:, 0] - out[:, 1]) / (2 * step)).transpose(1, 2)  # [T, S, S+A]
    return jacobian[:, :, :state_dim], jacobian[:, :, state_dim:]


# --- backward pass ------------------------------------------------------------------------

def _backward_pass(e: _Expansion, controls: np.ndarray, low: np.ndarray, high: np.ndarray,
                   mu: float, discount: float) -> _Gains | None:
    """Gains ``K [T, A, S]``, feedforward ``k [T, A]``, the predicted cost change coefficients
    ``(sum k^T Q_u, 1/2 sum k^T Q_uu k)`` and ``Q_uu [T, A, A]``; None if some regularised
    ``Q_uu`` is not positive definite. Bounded controls make each step a box QP (Tassa 2014):
    rows of K for clamped controls are zero."""
    horizon, action_dim = controls.shape
    state_dim = e.fx.shape[1]
    K = np.zeros((horizon, action_dim, state_dim))
    k = np.zeros((horizon, action_dim))
    Quu_all = np.zeros((horizon, action_dim, action_dim))
    vx, vxx = discount ** horizon * e.vx, discount ** horizon * e.vxx
    linear, quadratic = 0.0, 0.0
    for t in reversed(range(horizon)):
        Qx, Qu, Qxx, Qux, Quu = q_expansion(e.lx[t], e.lu[t], e.lxx[t], e.luu[t], e.lux[t],
                                            e.fx[t], e.fu[t], vx, vxx, discount ** t)
        Quu_reg = Quu + mu * np.eye(action_dim)
        result = _box_qp(Quu_reg, Qu, low - controls[t], high - controls[t], k[min(t + 1,
                                                                               horizon - 1)])
        if result is None:
            return None
        k[t], free, factor = result
        if free.any():
            K[t][free] = -cholesky_solve(factor, Qux[free])
        linear += k[t] @ Qu
        quadratic += 0.5 * k[t] @ Quu @ k[t]
        vx, vxx = value_update(Qx, Qu, Qxx, Qux, Quu, K[t], k[t])
        Quu_all[t] = Quu_reg
    return K, k, (linear, quadratic), Quu_all


def _box_qp(H: np.ndarray, g: np.ndarray, lower: np.ndarray, upper: np.ndarray,
            start: np.ndarray, max_iterations: int = 100
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Minimise ``1/2 z^T H z + g^T z`` subject to ``lower <= z <= upper`` by projected Newton
    (Tassa et al. 2014, Alg. 3). Returns ``(z, free [A] bool, cholesky factor of H_free)`` or
    None if H (restricted to the free set) is not positive definite."""
    z = np.clip(start, lower, upper)
    free = np.ones(g.shape[0], dtype=bool)
    factor = None
    for _ in range(max_iterations):
        grad = g + H @ z
        clamped = ((z <= lower) & (grad > 0)) | ((z >= upper) & (grad < 0))
        new_free = ~clamped
        if factor is None or (new_free != free).any():
            free = new_free
            if not free.any():
                return z, free, None
            try:
                factor = np.linalg.cholesky(H[np.ix_(free, free)])
            except np.linalg.LinAlgError:
                return None
        if np.linalg.norm(grad[free]) < 1e-10:
            break
        # Newton step on the free dimensions, then a projected Armijo line search
        direction = np.zeros_like(z)
        direction[free] = -cholesky_solve(factor, grad[free])
        value = 0.5 * z @ H @ z + g @ z
        step, accepted = 1.0, False
        while step > 1e-10:
            candidate = np.clip(z + step * direction, lower, upper)
            new_value = 0.5 * candidate @ H @ candidate + g @ candidate
            if value - new_value >= 0.1 * step * -(grad @ direction) or new_value < value - 1e-14:
                accepted = True
                break
            step *= 0.5
        if not accepted:
            break
        z = candidate
    return z, free, factor
