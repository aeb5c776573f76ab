"""Which member layout to use for ensemble forward passes, by measurement:

    python -m experiments.benchmarks.ensemble_layout

E = 5 members of a 4 x 200 SiLU MLP (HalfCheetah-sized input 23, output 34). Forward time of
(a) a loop of per-member ``nn.Linear`` stacks (the layout ``ProbabilisticEnsemble`` uses) and
(b) one ``torch.baddbmm`` per layer over stacked weights, for a range of rows per member.
Results go to ``results/ensemble_layout.json``.
"""

from __future__ import annotations

import torch
from torch import nn

from experiments.benchmarks.common import median_seconds, write_results
from mbrl.models.mlp_dynamics import mlp

MEMBERS, IN_DIM, OUT_DIM, HIDDEN, LAYERS = 5, 23, 34, 200, 4


def stacked_forward(weights: list[torch.Tensor], biases: list[torch.Tensor],
                    x: torch.Tensor) -> torch.Tensor:
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        x = torch.baddbmm(b, x, w)
        if i < len(weights) - 1:
            x = nn.functional.silu(x)
    return x


def main() -> None:
    torch.manual_seed(0)
    members = [mlp(IN_DIM, OUT_DIM, HIDDEN, LAYERS) for _ in range(MEMBERS)]
    linears = [[m for m in member if isinstance(m, nn.Linear)] for member in members]
    weights = [torch.stack([ls[i].weight.T for ls in linears]).detach()
               for i in range(LAYERS + 1)]
    biases = [torch.stack([ls[i].bias[None] for ls in linears]).detach()
              for i in range(LAYERS + 1)]
    results = {}
    with torch.no_grad():
        for rows in (100, 500, 2000, 10_000):
            x = torch.randn(MEMBERS, rows, IN_DIM)
            loop = median_seconds(lambda x=x: [m(x[i]) for i, m in enumerate(members)], 20)
            stacked = median_seconds(lambda x=x: stacked_forward(weights, biases, x), 20)
            torch.testing.assert_close(stacked_forward(weights, biases, x)[2], members[2](x[2]),
                                       atol=1e-4, rtol=1e-4)
            results[str(rows)] = {"loop_ms": 1000 * loop, "stacked_ms": 1000 * stacked,
                                  "loop_over_stacked": loop / stacked}
            print(f"{rows:6d} rows/member: loop {1000 * loop:.2f} ms, stacked "
                  f"{1000 * stacked:.2f} ms (loop/stacked {loop / stacked:.2f})", flush=True)
    print(write_results("ensemble_layout", results))


if __name__ == "__main__":
    main()
