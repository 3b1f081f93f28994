"""Sizes of the SNASNet macro skeleton per dataset (spec section 4), as plain values.

Torch-free, so that a protocol read from a table (protocols.Protocol) never imports torch; the
network itself is built by snnbench.snn."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from .errors import ConfigError

# Which edge modules a cell with backward edges runs (spec section 2, "Which modules run"; the
# snn module docstring): the SNASNet authors' graph, or snnbench's first graph.
GRAPHS = ("authors", "skip-idle")


@dataclass(frozen=True)
class NetworkProfile:
    """Sizes of the macro skeleton. width = C of cell 1, hidden = H of fc1, vote = k."""
    name: str
    in_channels: int
    image_size: int
    num_classes: int
    width: int
    hidden: int
    vote: int
    stem_stride: int = 1
    timesteps: int = 5
    classifier_init: str = "authors"    # 'authors': N(0, 0.01); 'fan_in': N(0, 0.3*sqrt(512/F)) for fc1
    bn_stats: str = "shared"            # 'shared' (authors) or 'per_timestep' (BNTT-style running stats)
    graph: str = "authors"              # which edge modules run in a backward cell (see GRAPHS)

    def with_(self, **changes) -> "NetworkProfile":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def feature_size(self) -> int:
        """Spatial side after the stem and the two 2x2 poolings."""
        return self.image_size // self.stem_stride // 4

    def validate(self) -> "NetworkProfile":
        side = self.image_size // self.stem_stride
        if side % 4 or side < 4:
            raise ConfigError(f"profile {self.name}: input side {side} after the stem must be a multiple of 4")
        if self.timesteps < 1 or self.width < 1:
            raise ConfigError(f"profile {self.name}: timesteps and width must be positive")
        if self.classifier_init not in ("authors", "fan_in") or self.bn_stats not in ("shared", "per_timestep"):
            raise ConfigError(f"profile {self.name}: unknown classifier_init or bn_stats")
        if self.graph not in GRAPHS:
            raise ConfigError(f"profile {self.name}: unknown graph {self.graph!r}; choose one of {', '.join(GRAPHS)}")
        return self


PROFILES = {
    "cifar10": NetworkProfile("cifar10", 3, 32, 10, width=256, hidden=1024, vote=10),
    "cifar100": NetworkProfile("cifar100", 3, 32, 100, width=128, hidden=1024, vote=5),
    "tinyimagenet": NetworkProfile("tinyimagenet", 3, 64, 200, width=128, hidden=4096, vote=5, stem_stride=2),
    # The small CPU profile: scikit-learn digits (8x8, already a multiple of 4). fc1 sees only
    # 2C*2*2 = 128 inputs, so the authors' N(0, 0.01) would leave its LIF silent (spec section 7).
    "digits": NetworkProfile("digits", 1, 8, 10, width=16, hidden=256, vote=5, classifier_init="fan_in"),
    # Fashion-MNIST at its own 28x28 (a protocol's input_size resamples it, e.g. to 16x16); sized like
    # digits, whose small fc1 input needs the fan-in initialisation too.
    "fashion-mnist": NetworkProfile("fashion-mnist", 1, 28, 10, width=8, hidden=256, vote=5, classifier_init="fan_in"),
}

# The datasets snnbench knows, one network profile each: the one list that the loaders (data), the
# protocols, the table reader and the CLI use.
DATASETS = tuple(PROFILES)


def get_profile(name: str, **overrides) -> NetworkProfile:
    """A named profile with optional field overrides (width=..., timesteps=...)."""
    if name not in PROFILES:
        raise ConfigError(f"unknown network profile {name!r}; choose one of {', '.join(PROFILES)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return PROFILES[name].with_(**overrides).validate()
