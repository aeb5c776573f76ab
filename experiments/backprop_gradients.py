"""The actor's gradient through a learned model against the horizon (reference 003 §5.5.1):

    python -m experiments.backprop_gradients --run runs/model-backprop-Pendulum-v1-s0-...

From a model-backprop run's last checkpoint (its ensemble, actor and value), for each horizon
H in ``--horizons`` with and without the value bootstrap: the norm of the gradient of the
imagined return with respect to the actor's parameters over ``--batches`` batches of start
states (reset states of the real env), its mean, spread and largest value, the same after
clipping to the run's ``max_grad_norm``, and the mean cosine between the batches' gradients
(near 1: a consistent direction; near 0: noise). Writes ``results/backprop_gradients.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

import numpy as np
import torch

from mbrl.algorithms.model_backprop import imagined_return
from mbrl.runs.harness import load_run

RESULTS = Path(__file__).parent / "results"


def gradients(run, horizon: int, bootstrap: bool, batches: int, batch_size: int) -> list:
    task, agent, model = run.task, run.agent, run.model
    env, elites = task.make_env(), model.elite_members()
    model.requires_grad_(False)
    grads = []
    for batch in range(batches):
        starts = torch.as_tensor(np.stack([env.reset(seed=1000 * batch + i)[0]
                                           for i in range(batch_size)]), dtype=torch.float32)
        generator = torch.Generator().manual_seed(batch)
        member = elites[batch % len(elites)]
        total, *_ = imagined_return(
            agent.actor, lambda s, a, m=member, g=generator: model.sample_next(m, s, a, g),
            task.reward_fn, task.termination_fn, agent.value if bootstrap else None, starts,
            horizon, run.config.gamma, generator)
        grad = torch.autograd.grad(total.mean(), list(agent.actor.parameters()))
        grads.append(torch.cat([g.flatten() for g in grad]))
    return grads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--horizons", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    run = load_run(args.run)
    clip = run.config.max_grad_norm
    rows = []
    for horizon, bootstrap in itertools.product(args.horizons, (True, False)):
        grads = gradients(run, horizon, bootstrap, args.batches, args.batch_size)
        norms = [float(g.norm()) for g in grads]
        clipped = [min(n, clip) if clip else n for n in norms]
        unit = torch.stack([g / g.norm().clamp_min(1e-12) for g in grads])
        cosines = (unit @ unit.T)[~torch.eye(len(grads), dtype=torch.bool)]
        rows.append({"horizon": horizon, "value_bootstrap": bootstrap,
                     "grad_norm_mean": round(statistics.mean(norms), 4),
                     "grad_norm_std": round(statistics.stdev(norms), 4),
                     "grad_norm_max": round(max(norms), 4),
                     "clipped_norm_mean": round(statistics.mean(clipped), 4),
                     "mean_cosine_between_batches": round(float(cosines.mean()), 4)})
        print(json.dumps(rows[-1]), flush=True)
    path = RESULTS / "backprop_gradients.json"
    path.write_text(json.dumps({"run": args.run, "max_grad_norm": clip,
                                "batches": args.batches, "batch_size": args.batch_size,
                                "rows": rows}, indent=1) + "\n")
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
