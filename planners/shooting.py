"""Population planners over open-loop action sequences (reference 003 §5.2): random shooting,
CEM (Alg. 21), iCEM and MPPI for continuous actions, and categorical CEM for discrete ones.
Each evaluates its whole population in one batched ``Problem.evaluate`` per iteration: one
model call per time step on population x particles."""

from __future__ import annotations

import time

import torch
from torch import Tensor

from planners.noise import bounded_normal, coloured_noise
from planners.problem import Plan, Planner, Problem, check_warm_start


def make_generator(seed: int | torch.Generator | None) -> torch.Generator:
    """A ``torch.Generator`` from a seed (or the one given); ``None`` seeds it from the OS
    without touching torch's global generator."""
    if isinstance(seed, torch.Generator):
        return seed
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator


class RandomShooting(Planner):
    """Sample ``num_samples`` action sequences uniformly within the bounds (uniform indices
    for a discrete problem), keep the best.

    With a warm start (MPC's shifted previous plan, checked by :func:`check_warm_start`: inside
    the bounds and finite) it is one of the candidates, so the plan never gets worse for lack
    of luck in the draw. Default cost: ``num_samples`` = 1000 sequence evaluations per plan
    (times ``problem.num_particles`` model rows per step); no iterations, so it is far from
    the optimum on anything but short horizons (``tests/planners/test_lq_ground_truth.py``
    reports its gap).
    """

    def __init__(self, num_samples: int = 1000, seed: int | torch.Generator | None = None) -> None:
        if int(num_samples) != num_samples or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        self.num_samples = int(num_samples)
        self.generator = make_generator(seed)

    def plan(self, state: Tensor, problem: Problem, warm_start: Tensor | None = None) -> Plan:
        started = time.perf_counter()
        warm_start = check_warm_start(warm_start, problem)
        shape = (self.num_samples, problem.horizon, problem.action_dim)
        low, high = problem.action_low, problem.action_high
        if problem.is_discrete:
            candidates = torch.randint(problem.num_actions, shape, generator=self.generator
                                       ).to(low.dtype)
        else:
            candidates = low + (high - low) * torch.rand(shape, generator=self.generator,
                                                         dtype=low.dtype)
        if warm_start is not None:
            candidates[0] = warm_start
        proposed = problem.proposed(state)
        if proposed is not None:
            candidates = torch.cat([candidates, proposed])
        with torch.no_grad():
            returns = problem.evaluate(state, candidates)
        best = int(torch.argmax(returns))
        diagnostics = {"mean_return": float(returns.mean()),
                       "seconds": time.perf_counter() - started}
        return Plan(candidates[best], float(returns[best]), diagnostics)


def _check_positive_int(name: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_fraction(name: str, value: float, low_open: bool = False) -> float:
    if not (0.0 < value < 1.0 if low_open else 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be in {'(0' if low_open else '[0'}, 1), got {value!r}")
    return float(value)


def _check_population(population: int, elites: int) -> tuple[int, int]:
    population = _check_positive_int("population", population)
    elites = _check_positive_int("elites", elites)
    if elites > population:
        raise ValueError(f"elites ({elites}) must not exceed population ({population})")
    return population, elites


class _BestSeen:
    """The best action sequence evaluated so far over the iterations of one ``plan`` call."""

    def __init__(self) -> None:
        self.actions: Tensor | None = None
        self.value = -float("inf")

    def update(self, candidates: Tensor, returns: Tensor) -> None:
        best = int(torch.argmax(returns))
        if float(returns[best]) > self.value:
            self.actions, self.value = candidates[best].clone(), float(returns[best])


class CEM(Planner):
    """Cross-entropy method over action sequences (reference 003 §5.2, Alg. 21; Rubinstein and
    Kroese 2004; as an MPC planner, Chua et al. 2018).

    Each of ``iterations`` rounds samples ``population`` sequences from a diagonal Gaussian
    clipped into the bounds (:func:`bounded_normal`: a mean on a bound still explores inwards,
    and the elites can concentrate on a bound), evaluates them in one batched
    ``problem.evaluate``, and refits mean and standard deviation to the ``elites`` best:
    ``new = smoothing * old + (1 - smoothing) * elite statistic``. The standard deviation
    starts at ``init_std`` and never drops below ``min_std``, both as fractions of the half
    range of the bounds. The mean starts at the warm start (MPC's shifted plan, checked by
    :func:`check_warm_start`), which is also evaluated unchanged in the first round so the plan
    never gets worse for lack of luck in the draw, or mid-range.

    Returns the best sequence evaluated in any round, or with ``return_mean=True`` the final
    mean (evaluated once more so ``expected_return`` is its own).

    Defaults: 500 sequences x 30 iterations = 15,000 sequence evaluations per plan (times
    ``problem.num_particles`` model rows per step), starting from the std of the half range
    (``init_std=1``: with clipping, a broad start that also escapes a wrong warm start). They
    are set so that a cold start reaches within 1% of the optimal return on the
    linear-quadratic problems of ``tests/planners/test_lq_ground_truth.py`` (up to 40 action
    dimensions, bounds binding or not; worst 0.5% over 10 seeds); 20 iterations leave it up to
    2% short there, the old 5 iterations 2-50%. Warm-started MPC usually needs far fewer:
    pass ``iterations``.
    """

    def __init__(self, population: int = 500, elites: int = 20, iterations: int = 30,
                 smoothing: float = 0.1, init_std: float = 1.0, min_std: float = 1e-3,
                 return_mean: bool = False, seed: int | torch.Generator | None = None) -> None:
        self.population, self.elites = _check_population(population, elites)
        self.iterations = _check_positive_int("iterations", iterations)
        self.smoothing = _check_fraction("smoothing", smoothing)
        if not init_std > 0 or not 0 <= min_std <= init_std:
            raise ValueError(f"need 0 <= min_std <= init_std and init_std > 0, got "
                             f"min_std={min_std}, init_std={init_std}")
        self.init_std, self.min_std, self.return_mean = init_std, min_std, return_mean
        self.generator = make_generator(seed)

    def plan(self, state: Tensor, problem: Problem, warm_start: Tensor | None = None) -> Plan:
        started = time.perf_counter()
        problem.require_continuous(type(self).__name__)
        mean, std, low, high = _initial_distribution(problem, warm_start, self.init_std)
        min_std = self.min_std * (high - low) / 2
        proposed = problem.proposed(state)
        best = _BestSeen()
        with torch.no_grad():
            for i in range(self.iterations):
                candidates = bounded_normal(mean, std, low, high, self.population,
                                            self.generator)
                if i == 0 and warm_start is not None:  # the shifted plan competes unchanged
                    candidates = torch.cat([candidates, mean[None]])
                if proposed is not None:
                    candidates = torch.cat([candidates, proposed])
                returns = problem.evaluate(state, candidates)
                best.update(candidates, returns)
                elites = candidates[torch.topk(returns, self.elites).indices]
                mean, std = _refit(mean, std, elites, self.smoothing, min_std)
            if self.return_mean:
                actions = mean
                value = float(problem.evaluate(state, mean[None])[0])
            else:
                actions, value = best.actions, best.value
        diagnostics = {"mean_std": float(std.mean()), "seconds": time.perf_counter() - started}
        return Plan(actions, value, diagnostics)


def _refit(mean: Tensor, std: Tensor, elites: Tensor, smoothing: float,
           min_std: Tensor) -> tuple[Tensor, Tensor]:
    """Smoothed refit of mean and std ``[H, A]`` to ``elites [M, H, A]``, std floored."""
    mean = smoothing * mean + (1 - smoothing) * elites.mean(dim=0)
    std = smoothing * std + (1 - smoothing) * elites.std(dim=0, unbiased=False)
    return mean, torch.maximum(std, min_std)


def _initial_distribution(problem: Problem, warm_start: Tensor | None,
                          init_std: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Mean and std ``[H, A]`` to start from, and the bounds broadcast to ``[H, A]``."""
    warm_start = check_warm_start(warm_start, problem)
    shape = (problem.horizon, problem.action_dim)
    low, high = problem.action_low.expand(shape), problem.action_high.expand(shape)
    mean = (low + high) / 2 if warm_start is None else warm_start
    return mean, init_std * (high - low) / 2, low, high


class ICEM(CEM):
    """Improved CEM (Pinneri et al. 2020): CEM with temporally coloured noise, a population
    that shrinks each iteration, and elites carried over.

    Differences from :class:`CEM`: samples use noise with power spectrum ~ 1/f^``noise_beta``
    along the horizon, clipped into the bounds like CEM's; iteration i samples
    ``max(population * population_decay**-i, 2 * elites)`` sequences; a fraction
    ``keep_elites`` of the previous iteration's elites joins each population, and after MPC
    executes actions the elites of the last call, shifted in time (padded with the mean), join
    the first population of the next, as does the warm start itself; the final mean is a
    candidate in the last iteration. Returns the best sequence evaluated.

    Defaults: 1000 sequences decaying by 1.1 per iteration to the floor of 40, 30 iterations:
    about 10,400 sequence evaluations per plan (times ``problem.num_particles``), from the std
    of the half range (``init_std=1``). They reach within 1% of the optimum from a cold start
    on the linear-quadratic problems of ``tests/planners/test_lq_ground_truth.py`` with up to
    20 action dimensions, but only within about 1.5% on the 40-dimensional one (see that
    file). ``noise_beta`` defaults to 0.25, mildly coloured: strongly coloured noise (the
    paper's beta ~ 2 for locomotion) explores the high-frequency directions of an action
    sequence so little that iCEM stalls 4-7% short of the optimum on those problems whatever
    the iterations; pass ``noise_beta=2.0`` where smooth action sequences are wanted.
    """

    def __init__(self, population: int = 1000, elites: int = 20, iterations: int = 30,
                 smoothing: float = 0.1, init_std: float = 1.0, min_std: float = 1e-3,
                 noise_beta: float = 0.25, population_decay: float = 1.1,
                 keep_elites: float = 0.3, seed: int | torch.Generator | None = None) -> None:
        super().__init__(population, elites, iterations, smoothing, init_std, min_std, seed=seed)
        if noise_beta < 0:
            raise ValueError(f"noise_beta must be >= 0, got {noise_beta}")
        if population_decay < 1:
            raise ValueError(f"population_decay must be >= 1, got {population_decay}")
        self.noise_beta, self.population_decay = float(noise_beta), float(population_decay)
        self.keep_elites = _check_fraction("keep_elites", keep_elites)
        self._carried: Tensor | None = None  # elites of the last call, already shifted

    def reset(self) -> None:
        self._carried = None

    def advance(self, steps: int) -> None:
        if self._carried is not None:
            self._carried = self._carried[:, steps:]  # padded to the horizon in the next call

    def plan(self, state: Tensor, problem: Problem, warm_start: Tensor | None = None) -> Plan:
        started = time.perf_counter()
        problem.require_continuous(type(self).__name__)
        mean, std, low, high = _initial_distribution(problem, warm_start, self.init_std)
        min_std = self.min_std * (high - low) / 2
        num_kept = int(round(self.keep_elites * self.elites))
        carried = self._carried_candidates(mean, num_kept)
        proposed = problem.proposed(state)
        best = _BestSeen()
        with torch.no_grad():
            for i in range(self.iterations):
                size = max(int(self.population * self.population_decay ** -i), 2 * self.elites)
                noise = coloured_noise(self.noise_beta, size, problem.horizon,
                                       problem.action_dim, self.generator, mean.dtype)
                candidates = bounded_normal(mean, std, low, high, size, self.generator, noise)
                extra = [c for c in (carried, proposed) if c is not None]
                if (i == 0 and warm_start is not None) or i == self.iterations - 1:
                    extra.append(mean[None])  # the shifted plan, and the final mean
                candidates = torch.cat([candidates, *extra], dim=0)
                returns = problem.evaluate(state, candidates)
                best.update(candidates, returns)
                top = torch.topk(returns, min(self.elites, returns.shape[0])).indices
                elites = candidates[top]
                carried = elites[:num_kept] if num_kept else None
                mean, std = _refit(mean, std, elites, self.smoothing, min_std)
        self._carried = carried
        diagnostics = {"mean_std": float(std.mean()), "seconds": time.perf_counter() - started}
        return Plan(best.actions, best.value, diagnostics)

    def _carried_candidates(self, mean: Tensor, num_kept: int) -> Tensor | None:
        """Elites from the previous call, shifted by ``advance``, padded with ``mean``'s tail."""
        if self._carried is None or num_kept == 0:
            return None
        carried = self._carried[:num_kept]
        horizon = mean.shape[0]
        if carried.shape[1] != horizon:
            missing = horizon - carried.shape[1]
            if missing < 0:
                return None  # the horizon shrank: nothing sensible to carry
            padding = mean[horizon - missing:].expand(carried.shape[0], -1, -1)
            carried = torch.cat([carried, padding], dim=1)
        return carried


class MPPI(Planner):
    """Model-predictive path integral control (Williams et al. 2017).

    Perturbs a nominal sequence ``U [H, A]`` (the warm start, or mid-range) with Gaussian noise
    ``eps`` of covariance ``Sigma`` (``noise_std``: a scalar, per-dimension ``[A]``, or a full
    ``[A, A]`` covariance when ``noise_cov=True``), evaluates the perturbed sequences clipped
    into the bounds, and moves ``U`` by the importance-weighted noise ``sum_k w_k eps_k``
    (then clips ``U`` into the bounds), with ``w = softmax(J / lambda)`` over the sampled
    returns ``J_k``. ``iterations`` repeats the update; ``smoothing`` in [0, 1) low-pass
    filters it along the horizon. The update uses the noise as sampled, not the clipped
    perturbation: clipped perturbations always point back inside, so a nominal on a bound (a
    bang-bang optimum) would be pulled off it by every update.

    The temperature ``lambda``: with ``normalize=True`` (default) it is ``temperature`` times
    the spread ``max J - min J`` of the sampled returns of the iteration (the normalisation of
    PI^2, Theodorou, Buchli and Schaal 2010, with their ``h = 1 / temperature``), so the
    weighting does not depend on the scale of the rewards and sharpens as the samples
    concentrate; with ``normalize=False`` it is ``temperature`` itself, in return units.

    By default MPPI maximises exactly the problem's return. ``control_cost=True`` opts in to
    the information-theoretic control cost of Williams et al. 2017: the weights become
    ``softmax((J_k - lambda sum_t U_t^T Sigma^-1 eps_{k,t}) / lambda)``, which makes MPPI
    converge to the optimum of ``return - (lambda / 2) sum_t U_t^T Sigma^-1 U_t`` instead: a
    quadratic action penalty whose weight depends on the temperature and the noise, pulling
    plans towards zero action: with the other defaults its cost stays 1-49% above the optimal
    cost on the linear-quadratic problems of ``tests/planners/test_lq_ground_truth.py``, with
    30 iterations as with 100 (the default, without it: within 1%).

    ``expected_return`` is the return of the returned nominal, evaluated once more.

    Defaults: 1000 samples x 30 iterations = 30,000 sequence evaluations per plan (times
    ``problem.num_particles``), plus one for the final nominal. MPPI's noise does not shrink,
    so its precision comes from a small ``noise_std`` (0.15, for actions in about [-1, 1]), a
    sharp ``temperature`` (0.01 of the spread of the returns) and many samples and
    iterations: with these it reaches within 1% of the optimum from a cold start on the
    linear-quadratic problems of ``tests/planners/test_lq_ground_truth.py`` (worst 0.5% over
    10 seeds); the old defaults (noise 0.5, temperature 1 in return units, 1 iteration,
    control cost) were 3-80% short. Warm-started MPC needs far fewer iterations (Williams et
    al. use one per control step): pass ``iterations``.
    """

    def __init__(self, num_samples: int = 1000, temperature: float = 0.01,
                 noise_std: float | Tensor = 0.15, noise_cov: bool = False, iterations: int = 30,
                 smoothing: float = 0.0, control_cost: bool = False, normalize: bool = True,
                 seed: int | torch.Generator | None = None) -> None:
        self.num_samples = _check_positive_int("num_samples", num_samples)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.iterations = _check_positive_int("iterations", iterations)
        self.smoothing = _check_fraction("smoothing", smoothing)
        self.control_cost, self.normalize = bool(control_cost), bool(normalize)
        self.scale_tril, self.precision = _noise_factors(noise_std, noise_cov)
        self._factor_cache: dict[tuple[int, torch.dtype], tuple[Tensor, Tensor]] = {}
        self.generator = make_generator(seed)

    def plan(self, state: Tensor, problem: Problem, warm_start: Tensor | None = None) -> Plan:
        started = time.perf_counter()
        problem.require_continuous("MPPI")
        warm_start = check_warm_start(warm_start, problem)
        dtype, horizon, dim = problem.action_low.dtype, problem.horizon, problem.action_dim
        colour, precision = self._factors_for(dim, dtype)
        if warm_start is None:
            nominal = ((problem.action_low + problem.action_high) / 2).expand(horizon, dim)
        else:
            nominal = warm_start
        proposed = problem.proposed(state)
        shape = (self.num_samples, horizon, dim)
        with torch.no_grad():
            for _ in range(self.iterations):
                white = torch.randn(shape, generator=self.generator, dtype=dtype)
                noise = white * colour if colour.ndim == 1 else white @ colour.T
                if proposed is not None:  # as perturbations of the nominal, exactly
                    noise = torch.cat([noise, proposed - nominal])
                returns = problem.evaluate(state, problem.clip_actions(nominal + noise))
                temperature = self.temperature
                if self.normalize:
                    spread = returns.max() - returns.min()
                    temperature = self.temperature * torch.clamp(
                        spread, min=torch.finfo(dtype).tiny)
                objective = returns
                if self.control_cost:
                    # sum_t U_t^T Sigma^-1 eps_t for every sample, as one matrix product
                    weighted_nominal = nominal @ precision if precision.ndim == 2 \
                        else nominal * precision
                    cost = noise.flatten(1) @ weighted_nominal.reshape(-1)
                    objective = returns - temperature * cost
                weights = torch.softmax((objective - objective.max()) / temperature, dim=0)
                update = (weights @ noise.flatten(1)).view(horizon, dim)
                if self.smoothing:
                    update = _low_pass(update, self.smoothing)
                nominal = problem.clip_actions(nominal + update)
            value = float(problem.evaluate(state, nominal[None])[0])
        diagnostics = {"effective_samples": float(1.0 / weights.square().sum()),
                       "sampled_return": float(weights @ returns),
                       "seconds": time.perf_counter() - started}
        return Plan(nominal, value, diagnostics)

    def _factors_for(self, dim: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """Noise colouring (std ``[A]`` if diagonal, else the Cholesky factor ``[A, A]``) and
        the precision (``[A]`` if diagonal, else ``[A, A]``) for ``dim`` action dimensions."""
        key = (dim, dtype)
        if key not in self._factor_cache:
            scale_tril, precision = self.scale_tril, self.precision
            if scale_tril.shape[0] == 1:
                scale_tril = torch.eye(dim, dtype=scale_tril.dtype) * scale_tril[0, 0]
                precision = torch.eye(dim, dtype=precision.dtype) * precision[0, 0]
            if scale_tril.shape[0] != dim:
                raise ValueError(f"noise_std is for {scale_tril.shape[0]} action dims, the "
                                 f"problem has {dim}")
            if torch.equal(scale_tril, torch.diag(torch.diagonal(scale_tril))):
                scale_tril, precision = torch.diagonal(scale_tril), torch.diagonal(precision)
            self._factor_cache[key] = (scale_tril.to(dtype), precision.to(dtype))
        return self._factor_cache[key]


def _noise_factors(noise_std: float | Tensor, noise_cov: bool) -> tuple[Tensor, Tensor]:
    """Cholesky factor ``L`` of the noise covariance and its inverse covariance (``[1, 1]`` for a
    scalar std, broadcast later to the action dimension)."""
    value = torch.as_tensor(noise_std, dtype=torch.float64)
    if noise_cov:
        if value.ndim != 2 or value.shape[0] != value.shape[1]:
            raise ValueError(f"with noise_cov=True noise_std must be a covariance [A, A], got "
                             f"shape {tuple(value.shape)}")
        covariance = value
    else:
        if value.ndim > 1 or not (value > 0).all():
            raise ValueError(f"noise_std must be a positive scalar or [A] vector, got {noise_std}")
        covariance = torch.diag_embed(value.reshape(-1).square())
    scale_tril, info = torch.linalg.cholesky_ex(covariance)
    if info != 0:
        raise ValueError(f"noise covariance must be symmetric positive definite, got {covariance}")
    return scale_tril, torch.cholesky_inverse(scale_tril)


def _low_pass(sequence: Tensor, smoothing: float) -> Tensor:
    """Exponential moving average ``[H, A]`` along time: y_t = s y_{t-1} + (1 - s) x_t."""
    smoothed = [sequence[0]]
    for step in sequence[1:]:
        smoothed.append(smoothing * smoothed[-1] + (1 - smoothing) * step)
    return torch.stack(smoothed)


class CategoricalCEM(Planner):
    """The cross-entropy method over sequences of discrete actions (``Problem.discrete``;
    Rubinstein and Kroese 2004, the categorical case; PETS's planner for discrete actions).

    The sampling distribution is one categorical ``p [H, K]`` per planned step, independent
    across steps. Each of ``iterations`` rounds samples ``population`` index sequences from it,
    evaluates them in one batched ``problem.evaluate`` and refits it to the action frequencies
    of the ``elites`` best: ``p = smoothing * p + (1 - smoothing) * frequencies``. No
    probability drops below ``min_probability`` (renormalised), so no action is ruled out for
    good. ``p`` starts uniform, or with a warm start (MPC's shifted plan) at
    ``warm_start_weight`` on its action and the rest uniform; the warm start also competes
    unchanged in the first round. Returns the best sequence evaluated in any round.

    Defaults: 500 sequences x 5 iterations = 2,500 sequence evaluations per plan (times
    ``problem.num_particles`` model rows per step).
    """

    def __init__(self, population: int = 500, elites: int = 50, iterations: int = 5,
                 smoothing: float = 0.1, min_probability: float = 0.01,
                 warm_start_weight: float = 0.5,
                 seed: int | torch.Generator | None = None) -> None:
        self.population, self.elites = _check_population(population, elites)
        self.iterations = _check_positive_int("iterations", iterations)
        self.smoothing = _check_fraction("smoothing", smoothing)
        self.min_probability = _check_fraction("min_probability", min_probability)
        self.warm_start_weight = _check_fraction("warm_start_weight", warm_start_weight)
        self.generator = make_generator(seed)

    def plan(self, state: Tensor, problem: Problem, warm_start: Tensor | None = None) -> Plan:
        started = time.perf_counter()
        if not problem.is_discrete:
            raise ValueError("CategoricalCEM plans discrete actions: build the problem with "
                             "Problem.discrete (CEM, iCEM or MPPI plan continuous ones)")
        warm_start = check_warm_start(warm_start, problem)
        horizon, choices, dtype = problem.horizon, problem.num_actions, problem.action_low.dtype
        if self.min_probability * choices >= 1.0:
            raise ValueError(f"min_probability ({self.min_probability}) x {choices} actions "
                             "must be below 1")
        probabilities = torch.full((horizon, choices), 1.0 / choices, dtype=torch.float64)
        if warm_start is not None:
            chosen = torch.nn.functional.one_hot(warm_start[:, 0].long(), choices).double()
            probabilities = self.warm_start_weight * chosen + \
                (1 - self.warm_start_weight) * probabilities
        proposed = problem.proposed(state)
        best = _BestSeen()
        with torch.no_grad():
            for i in range(self.iterations):
                indices = torch.multinomial(probabilities, self.population, replacement=True,
                                            generator=self.generator).T  # [N, H]
                if i == 0 and warm_start is not None:
                    indices = torch.cat([indices, warm_start[:, 0].long()[None]])
                if proposed is not None:
                    indices = torch.cat([indices, proposed[:, :, 0].long()])
                candidates = indices.to(dtype)[:, :, None]
                returns = problem.evaluate(state, candidates)
                best.update(candidates, returns)
                elite = indices[torch.topk(returns, self.elites).indices]  # [elites, H]
                frequencies = torch.nn.functional.one_hot(elite, choices).double().mean(0)
                probabilities = self.smoothing * probabilities + \
                    (1 - self.smoothing) * frequencies
                probabilities = probabilities.clamp(min=self.min_probability)
                probabilities = probabilities / probabilities.sum(dim=1, keepdim=True)
        diagnostics = {"probabilities": probabilities, "seconds": time.perf_counter() - started}
        return Plan(best.actions, best.value, diagnostics)
