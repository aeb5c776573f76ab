"""One RSSM training step (forward, backward, clipped Adam step) against mbrl-lib 0.2.0's
PlaNet model, in one process, at equal sizes.

mbrl-lib is installed apart (``experiments/benchmarks/mbrl_lib_peer.py``):

    pip install --no-deps --target .bench/mbrl-lib mbrl==0.2.0
    pip install hydra-core==1.3.8 termcolor
    python -m experiments.benchmarks.rssm_vs_mbrl_lib

Both sides: a sequence batch of 50 windows of 50 transitions of 64 x 64 RGB frames
(``uint8``), belief (GRU) 200, stochastic state 30, hidden layers 200, PlaNet's conv encoder
(32-64-128-256 channels, 4x4 stride 2, a 1024 embedding) and decoder (a linear layer to 1024
then 128-64-32-3 transposed convolutions), a 2 x 200 reward MLP, free nats 3, Adam at 1e-3.
Differences: mbrl-lib decodes the 50 frames after each transition, ours the 51 frames of the
window (the first one too); ours balances the KL (two KL terms) and uses ELU where mbrl-lib
uses ReLU in the small MLPs. The work is counted by ``torch.utils.flop_counter`` (matmul and
convolution FLOPs, forward and backward) and set against the fp32 matmul peak measured in the
same process: the fraction of the roofline. Results go to ``results/rssm_vs_mbrl_lib.json``.
"""

from __future__ import annotations

from experiments.benchmarks.mbrl_lib_peer import import_mbrl_lib

PEER = import_mbrl_lib({"models": "mbrl.models", "types": "mbrl.types"})

import argparse  # noqa: E402

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from experiments.benchmarks.common import matmul_rate, median_seconds, write_results  # noqa: E402
from mbrl.models.rssm import RSSM, RSSMConfig  # noqa: E402

BATCH, STEPS, ACT_DIM = 50, 50, 1
BELIEF, STATE, HIDDEN, EMBED = 200, 30, 200, 1024


def data(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(frames [B, T+1, 3, 64, 64] uint8, actions [B, T, A], rewards [B, T])``."""
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (BATCH, STEPS + 1, 3, 64, 64), generator=g,
                           dtype=torch.uint8)
    return (frames, torch.rand(BATCH, STEPS, ACT_DIM, generator=g) * 2 - 1,
            torch.randn(BATCH, STEPS, generator=g))


def ours(frames: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor):
    torch.manual_seed(0)
    model = RSSM((3, 64, 64), ACT_DIM, RSSMConfig(
        deterministic_dim=BELIEF, stochastic_dim=STATE, hidden=HIDDEN, embed_dim=EMBED,
        channels=(32, 64, 128, 256), free_nats=3.0, learning_rate=1e-3, max_grad_norm=1000.0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        loss, _, _ = model.loss(frames, actions, rewards, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1000.0)
        optimizer.step()

    return step


def peer(frames: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor):
    """mbrl-lib's batches are windows of L frames with the action and reward after each; its
    loss uses the transitions between them, so L = T + 1 gives T transitions."""
    torch.manual_seed(0)
    model = PEER["models"].PlaNetModel(
        obs_shape=(3, 64, 64), obs_encoding_size=EMBED,
        encoder_config=((3, 32, 4, 2), (32, 64, 4, 2), (64, 128, 4, 2), (128, 256, 4, 2)),
        decoder_config=((EMBED, 1, 1), ((EMBED, 128, 5, 2), (128, 64, 5, 2), (64, 32, 6, 2),
                                        (32, 3, 6, 2))),
        latent_state_size=STATE, action_size=ACT_DIM, belief_size=BELIEF,
        hidden_size_fcs=HIDDEN, device="cpu", free_nats=3.0, grad_clip_norm=1000.0,
        rng=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    padded_actions = torch.cat([actions, torch.zeros(BATCH, 1, ACT_DIM)], 1)
    padded_rewards = torch.cat([rewards, torch.zeros(BATCH, 1)], 1)
    batch = PEER["types"].TransitionBatch(frames.numpy(), padded_actions.numpy(), None,
                                          padded_rewards.numpy(), None, None)

    def step() -> None:
        model.update(batch, optimizer)

    return step


def counted_flops(step) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per side and round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    args = parser.parse_args()
    frames, actions, rewards = data(0)
    steps = {"mbrl_lib": peer(frames, actions, rewards), "ours": ours(frames, actions, rewards)}
    peak = matmul_rate(2048, 2048, 2048, repeats=5)
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):  # alternating, so that machine noise hits both
        for name, step in steps.items():
            seconds[name].append(median_seconds(step, args.repeats, warmup=1))
            print(name, f"{seconds[name][-1]:.2f} s per training step", flush=True)
    summary = {"fp32_matmul_peak_gflops": peak / 1e9, "torch_threads": torch.get_num_threads()}
    for name, step in steps.items():
        per_step = min(seconds[name])
        flops = counted_flops(step)
        summary[name] = {"seconds_per_step": seconds[name], "best_seconds_per_step": per_step,
                         "gflop_per_step": flops / 1e9,
                         "achieved_gflops": flops / per_step / 1e9,
                         "roofline_fraction": flops / per_step / peak}
        print(name, summary[name], flush=True)
    summary["speedup_ours_over_mbrl_lib"] = (summary["mbrl_lib"]["best_seconds_per_step"]
                                             / summary["ours"]["best_seconds_per_step"])
    print(summary)
    print(write_results("rssm_vs_mbrl_lib", {"settings": vars(args) | {
        "batch": BATCH, "transitions": STEPS, "belief": BELIEF, "state": STATE,
        "hidden": HIDDEN, "embedding": EMBED}, "summary": summary}))


if __name__ == "__main__":
    main()
