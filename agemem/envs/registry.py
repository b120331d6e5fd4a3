"""`make_env(name, **options)`: the interactive benchmarks by name. Each lives in its own module, imported only
when asked for, so the project works without the benchmark packages (the `envs` extra)."""

import importlib

from agemem.envs.protocol import TextEnv

# name → (module, class, the PyPI packages it needs)
_ENVS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "babyai": ("agemem.envs.babyai", "BabyAIEnv", ("minigrid",)),
    "pddl": ("agemem.envs.pddl", "PDDLTextEnv", ("pddlgym",)),
    "alfworld": ("agemem.envs.alfworld", "AlfWorldEnv", ("alfworld", "textworld")),
    "scienceworld": ("agemem.envs.scienceworld", "ScienceWorldEnv", ("scienceworld",)),
}
ENV_NAMES = tuple(_ENVS)
INSTALL_HINT = ("install the benchmark extra, `pip install -e '.[envs]'`, then `pip install --no-deps pddlgym==0.0.7` "
                "(its own pin pillow<10 would downgrade pillow and is not needed)")


def make_env(name: str, **options) -> TextEnv:
    """Build the environment `name` with its options (see each class). Raises `ValueError` for an unknown name and
    `ModuleNotFoundError` naming the missing package and how to install it."""
    if name not in _ENVS:
        raise ValueError(f"unknown environment {name!r}; valid: {', '.join(ENV_NAMES)}")
    module_name, class_name, packages = _ENVS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        package = (error.name or "").split(".")[0]
        if package not in packages:
            raise
        raise ModuleNotFoundError(f"environment {name!r} needs the package {package!r}: {INSTALL_HINT}",
                                  name=package) from error
    return getattr(module, class_name)(**options)
