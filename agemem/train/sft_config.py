"""Schema of the `sft` config section: supervised warm start on the scripted expert's demonstrations."""

from dataclasses import dataclass


@dataclass
class SFTConfig:
    """`task=sft`: imitate the expert (agemem/rollout/expert.py) until greedy validation success reaches a threshold."""

    # Training tasks whose expert trajectories make the demonstration set.
    demo_tasks: int = 512
    # Demonstration samples per optimizer step: one per model call, or per chain of calls merged into one sequence
    # (algorithm.merge_prefix_steps).
    batch_size: int = 64
    # Peak learning rate.
    lr: float = 3e-3
    # constant | cosine | linear: the decay runs over sft.max_steps (a decaying rate steadies the model once
    # copying has clicked).
    lr_schedule: str = "constant"
    # Most optimizer steps.
    max_steps: int = 600
    # Validate (greedy, full episodes through the collector) every N steps.
    eval_every: int = 25
    # Validation tasks.
    eval_tasks: int = 64
    # Validate on synthetic tasks whose entity ids are never seen in training (drawn like the held-out tasks, from
    # trainer.heldout_seed + 1): the threshold then tracks held-out success, not ids memorised from demonstrations.
    eval_unseen_ids: bool = False
    # Skip validation while the training loss (mean of the last eval_every steps) is above this: before copying
    # "clicks" success is 0 and validating only costs time; 0 always validates.
    eval_below_loss: float = 0.0
    # Stop once validation success reaches this (the step SFT "clicks" varies by seed: stop on success).
    success_threshold: float = 0.5
    # Train this many more steps once validation has reached the threshold, the rate decaying linearly to 0 over
    # them, then stop (0: stop at the threshold). Past the click a constant high rate makes validation swing.
    steps_past_threshold: int = 0
    # Stop at the first validation at or above this once the threshold has been reached, even inside the steps past
    # it (0: off): a cap on how far past the click the model RL starts from gets.
    stop_success: float = 0.0
    # Mem-α only: share of the facts the scripted writer stores (agemem/rollout/mem_alpha_expert.py); below 1 the
    # demonstrations are an inconsistent writer that passes over the rest, a behaviour RL can improve on.
    expert_store_rate: float = 1.0
