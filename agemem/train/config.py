"""Schemas of the `algorithm`, `trainer`, `deepspeed` and `logger` config groups."""

from dataclasses import dataclass

OLD_LOGPROBS = ("engine", "recompute")
BF16_MODES = ("auto", "true", "false")
DIST_BACKENDS = ("auto", "nccl", "gloo")


@dataclass
class AlgorithmConfig:
    """Step-wise GRPO (SPEC.md §5): advantages, policy loss, KL."""

    # Advantage statistics over the K trajectory rewards (trajectory, paper) or over all step samples (step,
    # official code: long trajectories weigh more).
    normalize_over: str = "trajectory"
    # Divide by the group's std (false is Dr.GRPO).
    norm_by_std: bool = True
    # Divide each trajectory's advantage by its number of steps.
    divide_by_length: bool = False
    # ε in (r − mean)/(std + ε).
    eps: float = 1e-6
    # PPO ratio clip below 1 (1 − clip_low).
    clip_low: float = 0.2
    # PPO ratio clip above 1 (1 + clip_high).
    clip_high: float = 0.2
    # Dual-clip constant c > 1 for negative advantages; null disables it.
    dual_clip_c: float | None = None
    # KL coefficient β; 0 needs no reference model (paper: 0.1, official code: 0.001).
    kl_coef: float = 0.0
    # KL estimator: k1 | k2 | k3.
    kl_estimator: str = "k3"
    # Loss aggregation: token-mean | seq-mean-token-mean | seq-mean-token-sum | seq-mean-token-sum-norm.
    loss_agg: str = "token-mean"
    # Constant normaliser of seq-mean-token-sum-norm (Dr.GRPO); null uses rollout.max_new_tokens.
    loss_agg_constant: float | None = None
    # Old log-probs: engine (recorded at generation) or recompute (a forward pass of the actor before updating).
    old_logprobs: str = "engine"
    # Which model calls train: all (the paper: every step of every stage) | official (the official code's filter: a
    # stage-relevant call, an answer, or the trajectory's last step).
    step_filter: str = "all"
    # Control experiment: permute rewards within each batch before computing advantages.
    shuffle_rewards: bool = False
    # Train consecutive calls of a trajectory whose prompt extends the previous prompt + response as one sequence
    # (the same tokens and gradient, the shared context computed once); needs loss_agg=token-mean.
    merge_prefix_steps: bool = True
    # Train identical samples once with their advantages summed, and skip zero-advantage ones (the same gradient
    # while the PPO ratio is inside the clip range, as in the single on-policy update of a batch); needs kl_coef=0.
    combine_duplicates: bool = False
    # Passes over each rollout batch (verl's ppo_epochs); 1 is the paper's single on-policy update.
    ppo_epochs: int = 1
    # Optimizer steps per pass, each on a contiguous 1/N of the batch's samples (verl's ppo_mini_batch_size as a
    # count); > 1 makes the PPO ratio leave 1 after the first step so the clip bounds the update.
    ppo_mini_batches: int = 1


@dataclass
class TrainerConfig:
    """The training loop: steps, batch, optimizer, checkpoints, validation."""

    # Training steps: rollout batches of tasks (each one optimizer step, or algorithm.ppo_epochs ×
    # algorithm.ppo_mini_batches).
    total_steps: int = 3
    # Tasks per optimizer step across all ranks (each rolled out rollout.group_size times).
    tasks_per_step: int = 2
    # Peak learning rate (AgeMem official code: 1e-5).
    lr: float = 1e-5
    # Linear warm-up steps.
    warmup_steps: int = 0
    # After warm-up: constant | cosine | linear decay to 0 at total_steps.
    lr_schedule: str = "constant"
    # AdamW weight decay.
    weight_decay: float = 0.0
    # Gradient-norm clip; 0 disables it.
    grad_clip: float = 1.0
    # Most (padded) tokens per micro-batch; samples are packed into micro-batches under it.
    micro_batch_tokens: int = 16384
    # Save a checkpoint every N steps (and always at the end); 0 saves only at the end.
    save_every: int = 0
    # Checkpoints kept on disk (oldest deleted first).
    keep_last: int = 2
    # Validate every N steps (and at the end); 0 disables validation.
    eval_every: int = 0
    # Validation tasks (greedy, one rollout each).
    eval_tasks: int = 8
    # Held-out tasks (synthetic data with data.heldout=true: entity ids never seen in training) whose exact-match
    # success (greedy unless heldout_temperature) is logged as eval/heldout_success at each validation; 0 skips them.
    heldout_tasks: int = 0
    # Seed of the held-out task set, fixed across runs: every run of a comparison (each RL seed, the control, the
    # SFT model) is scored on the same tasks.
    heldout_seed: int = 0
    # Decoding temperature of the held-out evaluation (0: greedy). Above 0 it scores the sampled policy RL trains
    # rather than its argmax, one rollout per task seeded from heldout_seed and the task's id (any rank count).
    heldout_temperature: float = 0.0
    # Also validate before the first step (step 0): the starting point of the curves.
    eval_before_training: bool = False
    # Trade compute for memory in the actor's backward pass.
    gradient_checkpointing: bool = False
    # LoRA rank; 0 trains all weights (AgeMem official code: 32).
    lora_rank: int = 0
    # LoRA alpha.
    lora_alpha: int = 64
    # Save a transformers folder (save_pretrained) of the final model and tokenizer.
    export_hf: bool = True


@dataclass
class DeepSpeedConfig:
    """DeepSpeed ZeRO settings; the DeepSpeed JSON is built from these by agemem.train.distributed."""

    # ZeRO stage: 0 (plain DDP), 1, 2 or 3.
    zero_stage: int = 2
    # Keep optimizer states in CPU memory (ZeRO-Offload).
    offload_optimizer: bool = False
    # Keep parameters in CPU memory (ZeRO-3 only).
    offload_param: bool = False
    # bf16 training: auto (on when the accelerator supports it), true, false.
    bf16: str = "auto"
    # torch.distributed backend: auto (nccl on CUDA, gloo on CPU), nccl, gloo.
    dist_backend: str = "auto"


@dataclass
class LoggerConfig:
    """Where metrics go: metrics.jsonl always, plus W&B."""

    # local (metrics.jsonl only) or wandb.
    backend: str = "local"
    # W&B project.
    project: str = "agemem"
    # W&B run name; empty uses the output folder's name.
    run_name: str = ""
    # W&B mode: auto (online with WANDB_API_KEY set, else offline), online, offline, disabled.
    mode: str = "auto"
