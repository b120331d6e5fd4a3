"""Seeds derived from several integers: one mix, so that every derived seed in the project is reproducible from
the run's seed and the position of what it seeds (a step, a task, a rollout, a model call)."""

MIX = 1_000_003  # a prime larger than any step, position or group size a run reaches


def derive_seed(*parts: int) -> int:
    """((p0·MIX + p1)·MIX + p2)… mod 2^63: distinct for distinct inputs in practice, and a valid seed for python,
    numpy and torch generators."""
    seed = 0
    for i, part in enumerate(parts):
        seed = part if i == 0 else seed * MIX + part
    return seed % 2**63
