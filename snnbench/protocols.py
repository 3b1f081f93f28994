"""Named training-and-scoring protocols. A Protocol is a value; its hash (everything but the name
and the seed) goes into every record so that results of different protocols never mix."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace

from .errors import ConfigError
from .profiles import DATASETS, NetworkProfile, get_profile

PROTOCOL_VERSION = 1
# The network graph became part of a protocol's identity with version 2. Protocols of the first graph
# ('skip-idle') keep their version-1 identity, so the hashes recorded in earlier tables and journals
# stay what they were; a record written before the field existed reads as that graph.
GRAPH_VERSION = 2
LEGACY_GRAPH = "skip-idle"
# Fields added after protocols were first recorded, each with a default that means "as before": a
# protocol that leaves one at its default has the identity (and hash) it had before the field existed.
OPTIONAL_FIELDS = ("input_size", "train_size", "test_every")
# The training step's GPU settings, with their defaults (the step as it was before they existed). Each
# changes the numbers a run gives (rounding, fused kernels, other random draws), so each is part of the
# identity, but only when it is not at its default: every protocol recorded before keeps its hash.
STEP_DEFAULTS = {"autocast": "off", "compile": False, "device_augment": False}
AUTOCAST_MODES = ("off", "bf16")


@dataclass(frozen=True)
class Protocol:
    """How a cell is trained and scored.

    lr is the base learning rate of SGD; the schedule is linear warm-up over `warmup_epochs` then
    cosine down to lr * lr_min_ratio at the last step. augmentation: 'crop_flip' or 'none'.
    bn_stats / classifier_init: see profiles.NetworkProfile (spec section 7). graph: which edge modules a
    backward cell runs ('authors', the SNASNet authors' graph, or 'skip-idle'; snn module docstring). score_batch / score_repeat:
    the zero-cost scoring mini-batches. Epoch-level results are recorded for every epoch.

    input_size: the side (pixels) every image is resampled to once, at load time, by area averaging
    (None: the dataset's own side); the network is sized for it. train_size: the number of training
    images, a fixed stratified subset of the train split, nested across sizes (None: the whole split;
    validation and test are never subsetted). Both are part of the hash only when set (data module
    docstring). test_every: after which epochs a run evaluates the test split (accuracy and loss):
    None (the default) every epoch, as NATS-Bench records; k >= 1 every k-th epoch and the named
    budgets, the half-way epoch and the last (model.train.budget_epochs); 0 the budgets only. It
    changes no trained number (test passes are not timed either); part of the hash only when set.

    The training step (train module docstring), each setting left out of the hash at its default:
    autocast 'bf16' runs the forward pass and the loss of training and evaluation under
    torch.autocast in bfloat16 ('off': float32). compile: torch.compile the network's training forward
    pass (needs a compiler, C++ on the CPU or Triton on a GPU, and a compilation per architecture).
    device_augment: draw the crop/flip augmentation on the data's device from a generator of its own,
    seeded from the run seed, instead of on the CPU and copying the draws every step."""
    name: str
    dataset: str
    width: int
    timesteps: int
    epochs: int
    batch_size: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    lr_min_ratio: float = 0.01
    warmup_epochs: int = 0
    grad_clip: float = 0.0
    augmentation: str = "crop_flip"
    neuron: str = "lif-tau4/3-atan-hardreset"
    bn_stats: str = "shared"
    classifier_init: str = "authors"
    graph: str = "authors"
    input_size: int | None = None
    train_size: int | None = None
    test_every: int | None = None
    autocast: str = "off"
    compile: bool = False
    device_augment: bool = False
    score_batch: int = 256
    score_repeat: int = 2
    seed: int = 0

    def network_profile(self) -> NetworkProfile:
        return get_profile(self.dataset, width=self.width, timesteps=self.timesteps, image_size=self.input_size,
                           bn_stats=self.bn_stats, classifier_init=self.classifier_init, graph=self.graph)

    def identity(self) -> dict:
        """The fields that define results (not the name, not the seed)."""
        d = asdict(self)
        d.pop("name")
        d.pop("seed")
        for key in OPTIONAL_FIELDS:
            if d[key] is None:
                d.pop(key)
        for key, default in STEP_DEFAULTS.items():
            if d[key] == default:
                d.pop(key)
        if self.graph == LEGACY_GRAPH:
            d.pop("graph")
            d["version"] = PROTOCOL_VERSION
        else:
            d["version"] = GRAPH_VERSION
        return d

    @property
    def hash(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Protocol":
        data = json.loads(text)
        data.setdefault("graph", LEGACY_GRAPH)  # written before the graph was recorded
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_(self, **changes) -> "Protocol":
        return replace(self, **changes)

    def validate(self) -> "Protocol":
        if self.batch_size < 2 or self.score_batch < 2:
            raise ConfigError("batch sizes must be at least 2")
        if self.epochs < 1 or self.score_repeat < 1:
            raise ConfigError("epochs and score_repeat must be at least 1")
        if self.augmentation not in ("crop_flip", "none") or self.schedule != "cosine":
            raise ConfigError("augmentation must be 'crop_flip' or 'none'; schedule must be 'cosine'")
        if self.dataset not in DATASETS:
            raise ConfigError(f"protocol {self.name}: unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        self._validate_data_fields()
        self._validate_step_fields()
        self.network_profile()
        return self

    def _validate_step_fields(self) -> None:
        if self.autocast not in AUTOCAST_MODES:
            raise ConfigError(f"protocol {self.name}: autocast must be one of {', '.join(AUTOCAST_MODES)}, "
                              f"got {self.autocast!r}")
        for key in ("compile", "device_augment"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"protocol {self.name}: {key} must be true or false, got {getattr(self, key)!r}")
        if self.device_augment and self.augmentation == "none":
            raise ConfigError(f"protocol {self.name} has no augmentation to draw (augmentation 'none'): "
                              "leave device_augment off")

    def _validate_data_fields(self) -> None:
        native = get_profile(self.dataset)
        for key in OPTIONAL_FIELDS:
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"protocol {self.name}: {key} must be a whole number or None, got {value!r}")
        if self.test_every is not None and self.test_every < 0:
            raise ConfigError(f"protocol {self.name}: test_every must be 0 (the named budgets only), a number of "
                              f"epochs, or None (every epoch), got {self.test_every}")
        size = self.input_size
        if size is not None and not (4 <= size <= native.image_size and size % 4 == 0):
            raise ConfigError(f"protocol {self.name}: input_size {size} must be a multiple of 4 from 4 to "
                              f"{native.image_size}, the side of the {self.dataset} images (they are only shrunk)")
        if self.train_size is not None and self.train_size < native.num_classes:
            raise ConfigError(f"protocol {self.name}: train_size {self.train_size} is below the "
                              f"{native.num_classes} classes of {self.dataset}")


def _paper(name, dataset, width, lr, epochs):
    return Protocol(name=name, dataset=dataset, width=width, timesteps=5, epochs=epochs, batch_size=64, lr=lr)


PROTOCOLS = {
    "paper-cifar10": _paper("paper-cifar10", "cifar10", 256, 0.2, 300),
    "paper-cifar100": _paper("paper-cifar100", "cifar100", 128, 0.1, 300),
    "paper-tinyimagenet": _paper("paper-tinyimagenet", "tinyimagenet", 128, 0.1, 200),
    # The CPU protocol of the shipped digits tables; why these settings: README "The CPU protocol".
    "digits-cpu": Protocol(name="digits-cpu", dataset="digits", width=8, timesteps=5, epochs=15,
                           batch_size=32, lr=0.1, augmentation="none", bn_stats="per_timestep",
                           classifier_init="fan_in", score_batch=64, score_repeat=2),
    # The CPU protocol of the shipped Fashion-MNIST tables, chosen by the protocol study of issue 13
    # (benchmarks/fmnist_study.py; README "The CPU protocol for Fashion-MNIST").
    # test_every=0: the 10,000-image test split at the half-way and last epochs only (validation, as
    # large, after every epoch); every epoch would add about a quarter to a run.
    "fmnist-cpu": Protocol(name="fmnist-cpu", dataset="fashion-mnist", width=16, timesteps=5, epochs=6,
                           batch_size=32, lr=0.1, augmentation="none", bn_stats="per_timestep",
                           classifier_init="fan_in", input_size=8, train_size=5000, score_batch=64,
                           score_repeat=2, test_every=0),
}


def get_protocol(name: str, **overrides) -> Protocol:
    """A named protocol, optionally with fields overridden (epochs=3 for a quick run, ...)."""
    if name not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name].with_(**{k: v for k, v in overrides.items() if v is not None}).validate()


DEFAULT_PROTOCOLS = {"digits": "digits-cpu", "cifar10": "paper-cifar10", "cifar100": "paper-cifar100",
                     "tinyimagenet": "paper-tinyimagenet", "fashion-mnist": "fmnist-cpu"}


def default_protocol(dataset: str) -> str:
    """The protocol name used for a dataset when none is given; DatasetError for an unknown dataset."""
    if dataset not in DEFAULT_PROTOCOLS:
        from .errors import DatasetError
        raise DatasetError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return DEFAULT_PROTOCOLS[dataset]


def differs_only_in_graph(a: Protocol, b: Protocol) -> bool:
    """Whether two protocols define the same training and scoring except for the network graph of
    backward cells (what a table may hold when its scores were re-made under another graph and its
    training runs were kept: see TABLE_FORMAT.md, train_protocol_json)."""
    strip = [p.identity() for p in (a, b)]
    for d in strip:
        d.pop("graph", None)
        d.pop("version", None)
    return strip[0] == strip[1]
