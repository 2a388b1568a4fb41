"""The uncertain choices of a method: what a Monte Carlo replication may set otherwise.

A `Choice` is one input `u` in [0, 1) of the uncertainty analysis (`tasks.engine.sensitivity`
says how it is sampled): `weight_noise` multiplies the relative weights, `alternatives` replaces
the `method` of the step its name names (`STEPS`) by one of the names of that step's registry
(`REGISTRIES`), `parameter` sets any method-file key (`path`, e.g. `aggregate.min_share`) to
one of its alternatives. Kept apart from the analysis, with no heavy imports, so that the method file's
schema can check its choices without loading SALib.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from tasks.engine.aggregate import AGGREGATORS
from tasks.engine.impute import IMPUTERS
from tasks.engine.normalise import NORMALISERS
from tasks.engine.weight import WEIGHTERS

KINDS = ("weight_noise", "alternatives", "parameter")
# Choice name (case-insensitive) -> the section of the method whose `method` the alternatives replace.
STEPS = {
    "normalisation": "normalise",
    "normalization": "normalise",
    "normalise": "normalise",
    "aggregation": "aggregate",
    "aggregate": "aggregate",
    "imputation": "impute",
    "impute": "impute",
    "weighting": "weight",
    "weight": "weight",
}
# Step -> the registry whose names its alternatives may be.
REGISTRIES: dict[str, Mapping[str, object]] = {
    "normalise": NORMALISERS,
    "aggregate": AGGREGATORS,
    "impute": IMPUTERS,
    "weight": WEIGHTERS,
}


@dataclass(frozen=True)
class Choice:
    """One uncertain input of the method (the module docstring says what it replaces)."""

    name: str  # "weights" (weight_noise); "normalisation", "aggregation", "imputation", "weighting"
    kind: str  # "weight_noise", "alternatives" or "parameter"
    noise: float = 0.0  # weight_noise: relative weights x U(1 - noise, 1 + noise)
    alternatives: tuple = ()  # e.g. ("minmax", "zscore"), ("arithmetic", "geometric"); parameter: (0.5, 0.75)
    path: str = ""  # parameter: the method-file key, section.key (e.g. "aggregate.min_share")

    def __post_init__(self) -> None:
        object.__setattr__(self, "alternatives", tuple(self.alternatives))
        if self.kind not in KINDS:
            raise ValueError(f"choice {self.name!r}: kind must be one of {list(KINDS)}, not {self.kind!r}")
        if self.kind == "weight_noise":
            if not 0.0 <= self.noise < 1.0:
                raise ValueError(f"choice {self.name!r}: noise must be in [0, 1), not {self.noise}")
            if self.alternatives:
                raise ValueError(f"choice {self.name!r}: weight_noise takes no alternatives")
        else:
            if not self.alternatives:
                raise ValueError(f"choice {self.name!r}: {self.kind} needs at least one alternative")
            if self.kind == "parameter":
                if len(self.path.split(".")) != 2:
                    raise ValueError(f"choice {self.name!r}: path must be section.key, not {self.path!r}")
            elif self.name.lower() not in STEPS:
                raise ValueError(
                    f"choice {self.name!r}: the name must say which step it replaces, one of {sorted(STEPS)}"
                )

    @property
    def step(self) -> str:
        """The method section whose `method` the alternatives replace, `weight_noise`, or the
        parameter's path."""
        if self.kind == "parameter":
            return self.path
        return "weight_noise" if self.kind == "weight_noise" else STEPS[self.name.lower()]

    def values(self, u: np.ndarray) -> np.ndarray:
        """The sampled value for inputs `u` in [0, 1): `u` itself (weight_noise) or the alternative index."""
        if self.kind == "weight_noise":
            return np.asarray(u, dtype="float64")
        count = len(self.alternatives)
        return np.clip(np.floor(np.asarray(u) * count), 0, count - 1).astype("int64")


def checked_choices(choices: Sequence[Choice]) -> list[Choice]:
    """`choices` as a list, refused when empty or when two name the same choice or step."""
    choices = list(choices)
    if not choices:
        raise ValueError("at least one choice is needed")
    for label, items in (("names", [c.name for c in choices]), ("steps", [c.step for c in choices])):
        repeated = sorted({item for item in items if items.count(item) > 1})
        if repeated:
            raise ValueError(f"choices repeat the {label} {repeated}: one choice per name and per step")
    return choices


def with_parameter(model: BaseModel, path: str, value: object) -> BaseModel:
    """`model` (a method) with the key `section.key` set to `value`, checked by the section's schema."""
    section_name, key = path.split(".")
    section = getattr(model, section_name, None)
    if not isinstance(section, BaseModel) or key not in type(section).model_fields:
        raise ValueError(f"{path!r} is not a key of the method file")
    changed = type(section).model_validate({**section.model_dump(), key: value})
    return model.model_copy(update={section_name: changed})
