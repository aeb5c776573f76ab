"""Linear-quadratic regulators and the time-varying linear policy they produce (reference 003
§5.2 "trajectory optimisation with derivatives", §5.7.1 local linear-Gaussian controllers).

Costs are minimised (a reward is a negative cost). For ``t = 0 .. T-1``

    x_{t+1} = A_t x_t + B_t u_t + d_t
    c_t(x, u) = 1/2 x^T Q_t x + 1/2 u^T R_t u + u^T N_t^T x + q_t^T x + r_t^T u

plus a terminal cost ``1/2 x^T Q_T x + q_T^T x``. All arrays are float64 numpy; the backward
pass is sequential in time and works on small matrices, where numpy is much faster than torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass
class LQRSolution:
    """Affine feedback ``u_t = K_t x_t + k_t`` (``K [T, A, S]``, ``k [T, A]``), the quadratic
    value function ``V_t(x) = 1/2 x^T P_t x + p_t^T x + const`` (``P [T+1, S, S]``, ``p [T+1, S]``)
    and the control Hessians ``Q_uu [T, A, A]`` (their inverses are the covariance of the
    maximum-entropy linear-Gaussian controller)."""

    K: np.ndarray
    k: np.ndarray
    P: np.ndarray
    p: np.ndarray
    Quu: np.ndarray


def _time_varying(name: str, value: np.ndarray | None, horizon: int, shape: tuple[int, ...],
                  default: float = 0.0) -> np.ndarray:
    """``value`` as ``[T, *shape]``: a constant is repeated over time."""
    if value is None:
        return np.full((horizon, *shape), default)
    value = np.asarray(value, dtype=np.float64)
    if value.shape == shape:
        return np.broadcast_to(value, (horizon, *shape))
    if value.shape != (horizon, *shape):
        per_step = [horizon, *shape]
        raise ValueError(f"{name} must be {list(shape)} or {per_step}, got {list(value.shape)}")
    return value


def solve_lqr(A: np.ndarray, B: np.ndarray, Q: np.ndarray, R: np.ndarray, horizon: int,
              N: np.ndarray | None = None, q: np.ndarray | None = None,
              r: np.ndarray | None = None, d: np.ndarray | None = None,
              Q_final: np.ndarray | None = None,
              q_final: np.ndarray | None = None) -> LQRSolution:
    """Finite-horizon, time-varying LQR by the Riccati backward pass.

    Each of ``A [S, S]``, ``B [S, A]``, ``Q [S, S]``, ``R [A, A]``, ``N [S, A]``, ``q [S]``,
    ``r [A]``, ``d [S]`` is constant or given per step with a leading ``[T]``. ``Q_final``
    defaults to ``Q`` (of the last step when time-varying), ``q_final`` to zero.
    """
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    A_last = np.asarray(A, dtype=np.float64)
    state_dim = A_last.shape[-1]
    action_dim = np.asarray(B).shape[-1]
    S, U = (state_dim, state_dim), (action_dim, action_dim)
    A = _time_varying("A", A, horizon, S)
    B = _time_varying("B", B, horizon, (state_dim, action_dim))
    Q = _time_varying("Q", Q, horizon, S)
    R = _time_varying("R", R, horizon, U)
    N = _time_varying("N", N, horizon, (state_dim, action_dim))
    q = _time_varying("q", q, horizon, (state_dim,))
    r = _time_varying("r", r, horizon, (action_dim,))
    d = _time_varying("d", d, horizon, (state_dim,))
    P = np.empty((horizon + 1, *S))
    p = np.empty((horizon + 1, state_dim))
    P[-1] = Q[-1] if Q_final is None else np.asarray(Q_final, dtype=np.float64)
    p[-1] = 0.0 if q_final is None else np.asarray(q_final, dtype=np.float64)
    K = np.empty((horizon, action_dim, state_dim))
    k = np.empty((horizon, action_dim))
    Quu_all = np.empty((horizon, *U))
    for t in reversed(range(horizon)):
        Qx, Qu, Qxx, Qux, Quu = q_expansion(q[t], r[t], Q[t], R[t], N[t].T, A[t], B[t],
                                            p[t + 1] + P[t + 1] @ d[t], P[t + 1])
        try:
            factor = np.linalg.cholesky(Quu)
        except np.linalg.LinAlgError:
            raise ValueError(f"Q_uu is not positive definite at step {t}: the problem has no "
                             "unique minimiser (is R positive definite?)") from None
        K[t] = -cholesky_solve(factor, Qux)
        k[t] = -cholesky_solve(factor, Qu)
        p[t], P[t] = value_update(Qx, Qu, Qxx, Qux, Quu, K[t], k[t])
        Quu_all[t] = Quu
    return LQRSolution(K, k, P, p, Quu_all)


def q_expansion(lx: np.ndarray, lu: np.ndarray, lxx: np.ndarray, luu: np.ndarray,
                lux: np.ndarray, fx: np.ndarray, fu: np.ndarray, vx: np.ndarray, vxx: np.ndarray,
                weight: float = 1.0) -> tuple[np.ndarray, ...]:
    """Quadratic expansion ``(Qx [S], Qu [A], Qxx [S, S], Qux [A, S], Quu [A, A])`` of one step's
    Q-function ``weight * c(x, u) + V'(f(x, u))`` (Tassa, Mansard and Todorov 2014) from the cost
    derivatives ``lx [S], lu [A], lxx [S, S], luu [A, A], lux [A, S]``, the dynamics Jacobians
    ``fx [S, S], fu [S, A]`` and the next value's ``vx [S], vxx [S, S]``. LQR is the case
    ``fx = A, fu = B, lxx = Q, luu = R, lux = N^T, lx = q, lu = r``, its affine term ``d`` folded
    into ``vx = p' + P' d``."""
    fu_vxx = fu.T @ vxx
    Quu = weight * luu + fu_vxx @ fu
    return (weight * lx + fx.T @ vx, weight * lu + fu.T @ vx, weight * lxx + fx.T @ vxx @ fx,
            weight * lux + fu_vxx @ fx, (Quu + Quu.T) / 2)


def value_update(Qx: np.ndarray, Qu: np.ndarray, Qxx: np.ndarray, Qux: np.ndarray,
                 Quu: np.ndarray, K: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The value function's ``(vx [S], vxx [S, S])`` after substituting ``u = K x + k``
    (``K [A, S]``, ``k [A]``) into the Q-function expansion (exact for any K, k)."""
    vx = Qx + K.T @ Quu @ k + K.T @ Qu + Qux.T @ k
    vxx = Qxx + K.T @ Quu @ K + K.T @ Qux + Qux.T @ K
    return vx, (vxx + vxx.T) / 2


def cholesky_solve(factor: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``M^-1 rhs`` given the lower Cholesky factor ``[n, n]`` of ``M``; ``rhs [n]`` or
    ``[n, m]``."""
    return np.linalg.solve(factor.T, np.linalg.solve(factor, rhs))


def infinite_horizon_lqr(A: np.ndarray, B: np.ndarray, Q: np.ndarray, R: np.ndarray,
                         N: np.ndarray | None = None, tolerance: float = 1e-13,
                         max_iterations: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Stationary gain ``K [A, S]`` (``u = K x``) and Riccati solution ``P [S, S]`` of the
    discrete-time infinite-horizon LQR, by iterating the Riccati recursion to a fixed point.
    Raises if it does not converge (e.g. an unstabilisable pair (A, B))."""
    A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
    N = np.zeros(B.shape) if N is None else np.asarray(N, dtype=np.float64)
    Q, R = np.asarray(Q, dtype=np.float64), np.asarray(R, dtype=np.float64)
    P = Q.copy()
    zeros_s, zeros_a = np.zeros(A.shape[0]), np.zeros(B.shape[1])
    for _ in range(max_iterations):
        Qx, Qu, Qxx, Qux, Quu = q_expansion(zeros_s, zeros_a, Q, R, N.T, A, B, zeros_s, P)
        K = -np.linalg.solve(Quu, Qux)
        _, P_next = value_update(Qx, Qu, Qxx, Qux, Quu, K, zeros_a)
        if np.max(np.abs(P_next - P)) <= tolerance * max(1.0, np.max(np.abs(P_next))):
            return K, P_next
        P = P_next
    raise ValueError(f"the Riccati iteration did not converge in {max_iterations} iterations; "
                     "is (A, B) stabilisable and Q positive semi-definite?")


class TimeVaryingLinearPolicy:
    """``u_t = u_hat_t + k_t + K_t (x - x_hat_t)`` for ``t = 0 .. T-1`` (``x_hat [T, S]``,
    ``u_hat [T, A]``, ``K [T, A, S]``, ``k [T, A]``), clamped to the action bounds.

    With ``covariance [T, A, A]`` (e.g. ``Q_uu^-1``, the maximum-entropy linear-Gaussian
    controller of guided policy search), ``act(obs, deterministic=False)`` adds Gaussian
    exploration noise drawn from ``generator``. The step counter advances on every ``act`` and
    restarts with ``reset()``; acting past step T-1 is an error.
    """

    def __init__(self, x_hat: Tensor, u_hat: Tensor, K: Tensor, k: Tensor,
                 action_low: Tensor, action_high: Tensor, covariance: Tensor | None = None,
                 generator: torch.Generator | None = None) -> None:
        horizon, action_dim, state_dim = K.shape
        for name, value, shape in [("x_hat", x_hat, (horizon, state_dim)),
                                   ("u_hat", u_hat, (horizon, action_dim)),
                                   ("k", k, (horizon, action_dim)),
                                   ("covariance", covariance, (horizon, action_dim, action_dim))]:
            if value is not None and tuple(value.shape) != shape:
                raise ValueError(f"{name} must be {list(shape)}, got {list(value.shape)}")
        dtype = K.dtype
        self.x_hat, self.u_hat, self.K, self.k = x_hat.to(dtype), u_hat.to(dtype), K, k.to(dtype)
        self.action_low, self.action_high = action_low.to(dtype), action_high.to(dtype)
        self.covariance = None if covariance is None else covariance.to(dtype)
        self.scale_tril = None if covariance is None else torch.linalg.cholesky(self.covariance)
        self.generator = generator if generator is not None else torch.Generator()
        self.t = 0

    @property
    def horizon(self) -> int:
        return self.K.shape[0]

    def reset(self) -> None:
        self.t = 0

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        if self.t >= self.horizon:
            raise IndexError(f"this policy covers {self.horizon} steps; call reset() to restart")
        x = torch.as_tensor(np.asarray(obs), dtype=self.K.dtype)
        u = self.u_hat[self.t] + self.k[self.t] + self.K[self.t] @ (x - self.x_hat[self.t])
        if not deterministic and self.scale_tril is not None:
            noise = torch.randn(u.shape, generator=self.generator, dtype=u.dtype)
            u = u + self.scale_tril[self.t] @ noise
        self.t += 1
        return torch.clamp(u, self.action_low, self.action_high).numpy()
