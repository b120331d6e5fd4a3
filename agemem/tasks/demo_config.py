"""Schema of the `demo` config section: the CPU learning demo (`experiment=cpu_demo`, task=demo)."""

from dataclasses import dataclass, field


@dataclass
class DemoConfig:
    """SFT warm start, then one step-wise GRPO run per seed from the SFT model, and a shuffled-reward control."""

    # One RL run per seed, each starting from the SFT model.
    rl_seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    # Also run the control: the first seed's RL run with rewards shuffled within each batch.
    shuffle_rewards: bool = True
    # Reuse a finished SFT phase found in <out>/sft (its hf_model/) instead of training it again.
    reuse_sft: bool = True
    # RL phases run at once, each with OMP_NUM_THREADS / parallel_runs threads and its output in <phase>/run.log;
    # on 2 cores 1 is best, on 8 cores 4 runs the three seeds and the control together.
    parallel_runs: int = 1
