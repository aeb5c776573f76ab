"""Guided policy search with local linear-Gaussian models (reference 003 §5.7.1-5.7.2, Alg. 30;
Levine and Koltun 2013; Levine and Abbeel 2014; Montgomery and Levine 2016).

One local controller ``p_c(u|x) = N(K_t x + k_t, Sigma_t)`` per initial condition c (the
env's reset state for a fixed seed) guides one global network ``pi_theta(u|x)``. Iteration i:

1. sample ``samples_per_condition`` trajectories of ``horizon`` steps from each ``p_c`` on the
   real env (the first controller is open-loop noise);
2. refit the Gaussian-mixture prior on every transition so far and fit time-varying
   linear-Gaussian dynamics to each condition's samples under it (§5.7.1: regression with a
   prior, never the simulator's derivatives);
3. quadratise the cost ``-reward`` (plus a penalty for leaving the action box) around the
   samples, linearise ``pi_theta`` around them, and update each ``p_c`` by the KL-constrained
   LQR: minimise ``E[sum c] + lambda_c KL(p_c || pi_theta)`` subject to
   ``KL(p_c || p_c^previous) <= epsilon_c`` (Alg. 30 line 2 with line 4's cost
   ``c - lambda log pi_theta`` plus its entropy term: a trust region with dual ``eta``);
   ``epsilon_c`` follows the ratio of actual to predicted improvement (Levine and Abbeel's step
   rule), ``lambda_c`` is doubled while ``KL(p_c || pi_theta)`` exceeds its target and halved
   below half of it;
4. fit ``pi_theta`` to the new controllers on the samples' states (line 3), matching each
   Gaussian in KL: the mean by the precision-weighted squared error
   ``(mu_theta(x) - mu_c(x))^T Sigma_t^-1 (mu_theta(x) - mu_c(x))``, the covariance in closed
   form as the inverse of the mean precision;
5. evaluate the network alone (deterministic, clipped to the action box) from the training
   conditions and from held-out ones.

Actions are sampled unclamped (the env receives them clipped to the box; the dynamics and the
cost see the commanded action, the cost penalises the part outside the box).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from mbrl.envs import make_task
from mbrl.models.local_linear import MixturePrior, fit_local_dynamics
from mbrl.nn import mlp
from mbrl.nn.normalizer import Normalizer
from mbrl.runs import Run
from mbrl.util.config import require_positive
from planners.linear_gaussian import (
    LinearGaussianController,
    LinearGaussianDynamics,
    QuadraticCost,
    kl_constrained_update,
)


class Purpose(IntEnum):
    CONDITION = 0
    HELD_OUT = 1
    SAMPLE = 2
    FIT = 3
    INIT = 4


@dataclass
class GlobalPolicyConfig:
    hidden: tuple[int, ...] = (64, 64)  # hidden layer widths of the mean network
    activation: str = "tanh"  # tanh | relu | silu | elu
    learning_rate: float = 1e-3  # Adam step size
    epochs: int = 50  # passes over the iteration's samples per fit
    batch_size: int = 128  # minibatch size


@dataclass
class GPSConfig:
    """Guided policy search of a network from local linear-Gaussian controllers on one task."""

    EXTENDABLE: ClassVar[frozenset[str]] = frozenset({"iterations", "progress", "output_dir"})

    task: str = "CartPoleSwingUp"  # a registered continuous-action MuJoCo task
    seed: int = 0  # run seed: conditions, samples and fits derive from it
    iterations: int = 15  # GPS iterations
    conditions: int = 6  # training initial conditions (env resets with fixed seeds)
    held_out_conditions: int = 20  # conditions the network is evaluated from, never trained on
    samples_per_condition: int = 5  # trajectories sampled from each local controller
    horizon: int | None = None  # steps per trajectory; None is the task's episode length
    reset_noise_scale: float | None = None  # the env's reset spread (None keeps its default)
    init_variance: float = 0.25  # variance of the first (open-loop noise) controller
    kl_step: float = 0.2  # trust region epsilon per step, nats (times horizon, times mult)
    step_multiplier_range: tuple[float, float] = (0.1, 10.0)  # bounds of epsilon's multiplier
    policy_weight: float = 0.01  # initial lambda on KL(p || pi_theta) (cost units)
    policy_weight_range: tuple[float, float] = (1e-4, 1e4)  # bounds of lambda
    policy_kl_target: float = 0.5  # per-step KL(p || pi_theta) lambda steers towards, nats
    bound_penalty: float = 10.0  # weight of the squared excursion outside the action box
    prior_components: int = 20  # clusters of the Gaussian-mixture dynamics prior
    prior_strength: float = 1.0  # pseudo-count of the prior in each step's fit
    policy: GlobalPolicyConfig = field(default_factory=GlobalPolicyConfig)
    output_dir: str = "runs"  # parent folder of the run folder
    progress: bool = True  # progress bar

    def validate(self) -> None:
        task = make_task(self.task)
        if task.discrete_actions:
            raise ValueError(f"GPS needs continuous actions; {self.task} has discrete ones")
        require_positive(self, "iterations", "conditions", "samples_per_condition")
        require_positive(self.policy, "epochs", "batch_size", prefix="policy.")
        if self.held_out_conditions < 0:
            raise ValueError(f"held_out_conditions must be >= 0, got {self.held_out_conditions}")
        if self.horizon is not None and not 1 <= self.horizon <= task.max_episode_steps:
            raise ValueError(f"horizon must be in [1, {task.max_episode_steps}] (the task's "
                             f"episode length) or null, got {self.horizon}")
        for name in ("init_variance", "kl_step", "policy_kl_target", "prior_strength"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.policy_weight < 0 or self.bound_penalty < 0:
            raise ValueError("policy_weight and bound_penalty must be >= 0")
        for name in ("step_multiplier_range", "policy_weight_range"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"{name} must be (low, high) with 0 < low <= high")
        if self.policy.learning_rate <= 0:
            raise ValueError(f"policy.learning_rate must be > 0, got {self.policy.learning_rate}")


class GaussianPolicy(nn.Module):
    """The global policy ``N(mu_theta(x), Sigma)``: an MLP mean on standardised states and a
    state-independent covariance ``[A, A]`` set by :meth:`fit`. ``act`` returns the mean (or a
    sample) clipped to the action box."""

    def __init__(self, obs_dim: int, act_dim: int, config: GlobalPolicyConfig,
                 action_low: np.ndarray, action_high: np.ndarray) -> None:
        super().__init__()
        self.normalizer = Normalizer(obs_dim)
        self.net = mlp([obs_dim, *config.hidden, act_dim], config.activation)
        self.register_buffer("covariance", torch.eye(act_dim, dtype=torch.float64))
        self.register_buffer("low", torch.as_tensor(action_low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(action_high, dtype=torch.float32))
        self.generator = torch.Generator()

    def forward(self, obs: Tensor) -> Tensor:
        """Mean actions ``[B, A]`` for observations ``[B, S]``."""
        return self.net(self.normalizer.normalize(obs))

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        single = np.ndim(obs) == 1
        mean = self(torch.as_tensor(np.atleast_2d(obs), dtype=torch.float32)).double()
        if not deterministic:
            noise = torch.randn(mean.shape, generator=self.generator, dtype=mean.dtype)
            mean = mean + noise @ torch.linalg.cholesky(self.covariance).T
        actions = torch.clamp(mean.float(), self.low, self.high).numpy()
        return actions[0] if single else actions

    def linearise(self, states: np.ndarray) -> LinearGaussianController:
        """The policy as a time-varying linear-Gaussian controller around sampled states
        ``[N, T, S]``: ``K_t`` the mean Jacobian over the N states of step t, ``k_t`` so that
        the linear mean matches the network's on average, the policy's own covariance."""
        x = torch.as_tensor(states, dtype=torch.float32)
        N, T, S = x.shape
        flat = x.reshape(N * T, S)
        with torch.no_grad():
            means = self(flat).double().reshape(N, T, -1)
        jacobians = torch.func.vmap(torch.func.jacrev(lambda s: self(s[None])[0]))(flat)
        K = jacobians.detach().double().reshape(N, T, -1, S).mean(dim=0)  # [T, A, S]
        k = (means - torch.einsum("tas,nts->nta", K, x.double())).mean(dim=0)
        covariance = self.covariance.expand(T, -1, -1)
        return LinearGaussianController(K.numpy(), k.numpy(), covariance.numpy())

    def fit(self, states: Tensor, target_means: Tensor, precisions: Tensor,
            optimizer: torch.optim.Optimizer, epochs: int, batch_size: int,
            generator: torch.Generator) -> float:
        """Match the Gaussians ``N(target_means [M, A], precisions^-1 [M, A, A])`` at
        ``states [M, S]`` in ``KL(pi || p)``: Adam on the precision-weighted squared error of
        the mean (the states' statistics set the normaliser first), the covariance in closed
        form ``(mean precision)^-1``. Returns the last epoch's mean loss."""
        self.normalizer.fit(states)
        self.covariance.copy_(torch.linalg.inv(precisions.double().mean(dim=0)))
        for _ in range(epochs):
            order, losses = torch.randperm(len(states), generator=generator), []
            for start in range(0, len(states), batch_size):
                rows = order[start:start + batch_size]
                error = self(states[rows]) - target_means[rows]
                loss = 0.5 * torch.einsum("ba,bac,bc->b", error, precisions[rows], error).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        return float(np.mean(losses))


@dataclass
class Samples:
    """Trajectories of one condition: ``states [N, T+1, S]``, commanded ``actions [N, T, A]``,
    ``costs [N]`` (total ``-reward``) and the returns ``[N]`` of the clipped actions applied."""

    states: np.ndarray
    actions: np.ndarray
    returns: np.ndarray


def quadratic_cost(task: Any, samples: Samples, dynamics: LinearGaussianDynamics,
                   bound_penalty: float) -> QuadraticCost:
    """The cost ``-reward(x, u, x') + bound_penalty |u - clip(u)|^2`` quadratised around each
    sample (``x'`` moved with the fitted ``F_t``) and averaged over the samples, in absolute
    coordinates ``z = [x; u]``."""
    N, T, A = samples.actions.shape
    S = samples.states.shape[2]
    x = torch.as_tensor(samples.states[:, :-1], dtype=torch.float64).reshape(N * T, S)
    x_next = torch.as_tensor(samples.states[:, 1:], dtype=torch.float64).reshape(N * T, S)
    u = torch.as_tensor(samples.actions, dtype=torch.float64).reshape(N * T, A)
    z = torch.cat([x, u], dim=1)
    F = torch.as_tensor(dynamics.F).repeat(N, 1, 1)  # [N T, S, S+A], step t of sample n
    low = torch.as_tensor(task.action_space.low, dtype=torch.float64)
    high = torch.as_tensor(task.action_space.high, dtype=torch.float64)

    def cost(zi: Tensor, z_ref: Tensor, next_ref: Tensor, Fi: Tensor) -> Tensor:
        xi, ui = zi[:S], zi[S:]
        predicted = next_ref + Fi @ (zi - z_ref)
        reward = task.reward_fn(xi[None], ui[None], predicted[None])[0]
        excursion = torch.relu(ui - high) + torch.relu(low - ui)
        return -reward + bound_penalty * excursion.square().sum()

    gradient = torch.func.vmap(torch.func.grad(cost))(z, z, x_next, F)
    hessian = torch.func.vmap(torch.func.jacrev(torch.func.grad(cost)))(z, z, x_next, F)
    hessian = (hessian + hessian.transpose(1, 2)) / 2
    linear = gradient - torch.einsum("bij,bj->bi", hessian, z)
    C = hessian.reshape(N, T, S + A, S + A).mean(dim=0)
    c = linear.reshape(N, T, S + A).mean(dim=0)
    return QuadraticCost(C.numpy(), c.numpy())


class GPSRun(Run):
    """One guided-policy-search run; ``train()`` continues from the last finished iteration."""

    config_class = GPSConfig

    def __init__(self, config: GPSConfig) -> None:
        super().__init__(config)
        self.task = make_task(config.task)
        self.env_kwargs = {} if config.reset_noise_scale is None else \
            {"reset_noise_scale": config.reset_noise_scale}
        self.horizon = config.horizon or self.task.max_episode_steps
        self.env = self.task.make_env(max_episode_steps=self.horizon, **self.env_kwargs)
        self.eval_env = self.evaluation_env()
        self.low, self.high = self.task.action_space.low, self.task.action_space.high
        S, A = self.task.obs_dim, self.task.act_dim
        self.policy = GaussianPolicy(S, A, config.policy, self.low, self.high)
        self.optimizer = torch.optim.Adam(self.policy.parameters(),
                                          lr=config.policy.learning_rate)
        self.prior = MixturePrior(config.prior_components, config.prior_strength,
                                  seed=self.seeds.derive(Purpose.FIT))
        first = LinearGaussianController.constant(self.horizon, S, (self.low + self.high) / 2,
                                                  config.init_variance)
        C = config.conditions
        self.controllers = [first] * C
        self.eta = np.ones(C)
        self.step_multiplier = np.ones(C)
        self.policy_weight = np.full(C, config.policy_weight)
        self.predicted_improvement = np.full(C, np.nan)  # of the last update, cost units
        self.previous_cost = np.full(C, np.nan)  # mean sample cost before the last update
        self.policy_trained = False
        self.iteration = 0

    def folder_name(self) -> str:
        return f"gps-{self.config.task}-s{self.config.seed}"

    # ----- the loop (reference 003 Alg. 30) -------------------------------------------------
    def train(self) -> None:
        config = self.config
        bar = self.progress_bar(config.iterations, self.iteration, "iteration",
                                f"GPS {config.task}")
        while self.iteration < config.iterations:
            samples = [self.sample(c) for c in range(config.conditions)]
            self.prior.update(np.concatenate([transitions(s) for s in samples]))
            steps = [self.improve_local(c, samples[c]) for c in range(config.conditions)]
            fit_loss = self.fit_policy(samples)
            row = {"iteration": self.iteration + 1, "env_steps": self.env_steps,
                   "sample_return": float(np.mean([s.returns.mean() for s in samples])),
                   "policy_fit_loss": fit_loss, **self.summarise(steps),
                   "policy_return": self.evaluate_conditions(Purpose.CONDITION,
                                                             config.conditions),
                   "held_out_return": self.evaluate_conditions(Purpose.HELD_OUT,
                                                               config.held_out_conditions)}
            self.iteration += 1
            self.log("iterations", row)
            self.plot("iterations", "iteration", "held_out_return",
                      f"GPS {config.task} (seed {config.seed})")
            self.save()
            bar.update(1)
            bar.set_postfix(samples=f"{row['sample_return']:.1f}",
                            held_out=f"{row['held_out_return']:.1f}")
        bar.close()

    def sample(self, condition: int) -> Samples:
        """Trajectories of the condition's local controller from its fixed reset state."""
        controller, N = self.controllers[condition], self.config.samples_per_condition
        states, actions, returns = [], [], []
        for n in range(N):
            rng = self.seeds.numpy(Purpose.SAMPLE, self.iteration, condition, n)
            obs, _ = self.env.reset(seed=self.seeds.derive(Purpose.CONDITION, condition))
            xs, us, total = [obs], [], 0.0
            for t in range(self.horizon):
                u = controller.sample(t, xs[-1], rng)
                obs, reward, terminated, truncated, _ = self.env.step(np.clip(u, self.low,
                                                                              self.high))
                xs.append(obs)
                us.append(u)
                total += float(reward)
                if terminated:
                    raise ValueError(f"{self.config.task} terminated at step {t + 1} of a GPS "
                                     "trajectory; GPS needs fixed-length episodes")
            states.append(np.stack(xs))
            actions.append(np.stack(us))
            returns.append(total)
        self.env_steps += N * self.horizon
        return Samples(np.stack(states), np.stack(actions), np.asarray(returns))

    def improve_local(self, condition: int, samples: Samples) -> dict[str, float]:
        """Fit the local model, adapt epsilon from the last step's improvement, and take the
        KL-constrained step of the condition's controller."""
        config, c = self.config, condition
        dynamics = fit_local_dynamics(samples.states, samples.actions, self.prior)
        cost = quadratic_cost(self.task, samples, dynamics, config.bound_penalty)
        sample_cost = -float(samples.returns.mean())
        if np.isfinite(self.predicted_improvement[c]):  # Levine and Abbeel 2014 §3.2's rule
            actual = self.previous_cost[c] - sample_cost
            predicted = self.predicted_improvement[c]
            ratio = predicted / (2.0 * max(predicted - actual, 1e-4))
            low, high = config.step_multiplier_range
            self.step_multiplier[c] = np.clip(self.step_multiplier[c] * np.clip(ratio, 0.1, 5.0),
                                              low, high)
        policy = self.policy.linearise(samples.states[:, :-1]) if self.policy_trained else None
        step = kl_constrained_update(
            dynamics, cost, self.controllers[c],
            epsilon=config.kl_step * self.horizon * self.step_multiplier[c], policy=policy,
            policy_weight=self.policy_weight[c] if policy is not None else 0.0,
            eta=self.eta[c])
        if policy is not None:
            per_step = step.policy_kl / self.horizon
            low, high = config.policy_weight_range
            factor = 2.0 if per_step > config.policy_kl_target else \
                0.5 if per_step < config.policy_kl_target / 2 else 1.0
            self.policy_weight[c] = np.clip(self.policy_weight[c] * factor, low, high)
        self.controllers[c], self.eta[c] = step.controller, step.eta
        self.predicted_improvement[c] = step.previous_expected_cost - step.expected_cost
        self.previous_cost[c] = sample_cost
        return {"kl": step.kl, "policy_kl": step.policy_kl, "eta": step.eta}

    def fit_policy(self, samples: list[Samples]) -> float:
        """Line 3: the network on every sample state, towards its condition's new controller."""
        states, means, precisions = [], [], []
        for condition, s in enumerate(samples):
            controller = self.controllers[condition]
            x = s.states[:, :-1]  # [N, T, S]
            means.append(np.einsum("tas,nts->nta", controller.K, x) + controller.k)
            precisions.append(np.broadcast_to(controller.precision,
                                              (len(x), *controller.precision.shape)))
            states.append(x)
        S, A = self.task.obs_dim, self.task.act_dim
        as_tensor = lambda a, *shape: torch.as_tensor(np.concatenate(a).reshape(-1, *shape),  # noqa: E731
                                                      dtype=torch.float32)
        loss = self.policy.fit(as_tensor(states, S), as_tensor(means, A),
                               as_tensor(precisions, A, A), self.optimizer,
                               self.config.policy.epochs, self.config.policy.batch_size,
                               self.seeds.torch(Purpose.FIT, self.iteration))
        self.policy_trained = True
        return loss

    def evaluate_conditions(self, purpose: Purpose, count: int) -> float:
        """Mean return of the network alone over ``count`` conditions (full task episodes)."""
        if count == 0:
            return float("nan")
        returns = [self.evaluate(self.policy, self.eval_env, 1, self.seeds.derive(purpose, i))
                   for i in range(count)]
        return float(np.mean(returns))

    def summarise(self, steps: list[dict[str, float]]) -> dict[str, float]:
        return {"mean_kl": float(np.mean([s["kl"] for s in steps])),
                "mean_policy_kl": float(np.mean([s["policy_kl"] for s in steps])),
                "mean_eta": float(np.exp(np.mean(np.log([s["eta"] for s in steps])))),
                "mean_step_multiplier": float(np.mean(self.step_multiplier)),
                "mean_policy_weight": float(np.mean(self.policy_weight))}

    # ----- the harness's hooks ---------------------------------------------------------------
    def evaluation_policy(self) -> GaussianPolicy:
        return self.policy

    def evaluation_env(self, render_mode: str | None = None) -> Any:
        return self.task.make_env(render_mode=render_mode, **self.env_kwargs)

    ARRAYS: ClassVar[tuple[str, ...]] = ("eta", "step_multiplier", "policy_weight",
                                         "predicted_improvement", "previous_cost")

    def state_dict(self) -> dict[str, Any]:
        tensor = torch.from_numpy
        return {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
                "iteration": self.iteration, "policy_trained": self.policy_trained,
                "controllers": [[tensor(p.K), tensor(p.k), tensor(p.covariance)]
                                for p in self.controllers],
                "prior_data": tensor(self.prior.data),
                **{name: tensor(getattr(self, name)) for name in self.ARRAYS}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration, self.policy_trained = int(state["iteration"]), state["policy_trained"]
        self.controllers = [LinearGaussianController(*(a.numpy() for a in arrays))
                            for arrays in state["controllers"]]
        for name in self.ARRAYS:
            setattr(self, name, state[name].numpy().astype(np.float64))
        self.prior.data = state["prior_data"].numpy()

    def evaluations(self) -> list[dict[str, float]]:
        return self.folder.read("iterations")


def transitions(samples: Samples) -> np.ndarray:
    """``[N T, 2S + A]`` rows ``[x_t, u_t, x_{t+1}]`` for the dynamics prior."""
    N, T, _ = samples.actions.shape
    return np.concatenate([samples.states[:, :-1], samples.actions, samples.states[:, 1:]],
                          axis=2).reshape(N * T, -1)
