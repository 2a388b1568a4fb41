"""The method file: which steps, with which settings, turn indicator values into an index.

Read from YAML and checked against a schema, so an unknown key or a bad value is a clear
error naming the key, not a silent default. Method names are looked up in registries
(`tasks.engine.normalise.NORMALISERS`, `tasks.engine.weight.WEIGHTERS`,
`tasks.engine.aggregate.AGGREGATORS`, `tasks.engine.choices.REGISTRIES`), never evaluated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tasks.engine.aggregate import AGGREGATORS
from tasks.engine.choices import REGISTRIES, Choice, checked_choices, with_parameter
from tasks.engine.normalise import NORMALISERS
from tasks.engine.weight import WEIGHTERS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Denominate(_Strict):
    """Divide indicators by the denominator column the framework names (its `denominator`)."""

    enabled: bool = True
    scale: float = Field(default=1.0, gt=0)


class Impute(_Strict):
    """Fill missing values; never changes a value that is present."""

    method: Literal[
        "none", "mean", "median", "group_mean", "group_median", "constant", "latest", "interpolate"
    ] = "none"
    group: str | None = None  # grouping column of the unit table, for group_mean / group_median
    value: float | None = None  # for constant
    # latest / interpolate: how many periods back a value may come from, or how long a gap may
    # be filled (COINr's impute_panel max_time); None: no limit
    max_time: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _reach_of_panel_methods(self) -> Impute:
        """`max_time` means something to the panel methods only: elsewhere it is a mistake."""
        if self.max_time is not None and self.method not in ("latest", "interpolate"):
            raise ValueError(f"impute.max_time applies to latest and interpolate, not {self.method!r}")
        return self


class Screen(_Strict):
    """Drop units whose share of available indicators is below `min_availability`."""

    min_availability: float = Field(default=2 / 3, ge=0.0, le=1.0)
    # Screen on the units' own data, right after denominating, or, as COINr's ASEM example
    # does, after imputing.
    after: Literal["denominate", "impute"] = "denominate"
    include: list[str] = []
    exclude: list[str] = []


class Treat(_Strict):
    """Outlier treatment, COINr's default: winsorise while |skew| and kurtosis are too high."""

    method: Literal["none", "winsorise"] = "none"
    skew_max: float = Field(default=2.0, gt=0)
    kurtosis_max: float = Field(default=3.5, gt=0)
    max_points: int = Field(default=5, ge=0)
    fallback: Literal["log", "none"] = "log"
    overrides: dict[str, Literal["none", "winsorise", "log"]] = {}


class Normalise(_Strict):
    """The default normalisation and its options (`tasks.engine.normalise` gives the formulas)."""

    method: str = "minmax"
    range: tuple[float, float] = (0.0, 100.0)
    ties: Literal["min", "average", "max", "dense"] = "min"  # rank, percentile(_share); COINr's min
    goalpost_cap: Literal["both", "none", "low", "high"] = "both"  # COINr's trunc2posts = TRUE
    target_cap: bool = False  # dist_target: COINr's cap_max = FALSE, past the target above `high`
    # Panel data: one scale over every period (COINr's purse `global = TRUE`), comparable over
    # time, or each period on its own.
    panel: Literal["pooled", "period"] = "pooled"

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] >= value[1]:
            raise ValueError("range must be [low, high] with low < high")
        return value


class Weight(_Strict):
    method: str = "framework"  # a name of `WEIGHTERS`


class Aggregate(_Strict):
    """Means level by level (`tasks.engine.aggregate` gives the formulas and the report)."""

    method: str = "arithmetic"
    # A node is missing for a unit when the weight share of its present children is below this.
    min_share: float = Field(default=0.5, ge=0.0, le=1.0)
    by_level: dict[int, str] = {}  # level -> method, overrides `method` for that level
    by_node: dict[str, str] = {}  # node code -> method, overrides the level's method
    power: float = 1.0  # exponent of the generalised (power) mean
    offset: float | None = None  # added before geometric/harmonic means so zeros do not fail
    # A child a geometric/harmonic mean cannot take: stop the run, or leave that unit's node missing.
    nonpositive: Literal["error", "missing"] = "error"


class UncertainChoice(_Strict):
    """One uncertain choice of the method (see `tasks.engine.choices.Choice`)."""

    name: str
    kind: Literal["weight_noise", "alternatives", "parameter"]
    noise: float = Field(default=0.0, ge=0.0, lt=1.0)
    alternatives: list[str | bool | int | float | None] = []
    path: str = ""  # parameter: the method-file key it varies, e.g. aggregate.min_share

    def choice(self) -> Choice:
        return Choice(self.name, self.kind, self.noise, tuple(self.alternatives), self.path)


class Uncertainty(_Strict):
    """Monte Carlo over uncertain choices: rank intervals and Sobol sensitivity indices."""

    replications: int = Field(default=0, ge=0)  # 0 = no uncertainty analysis
    sensitivity_base: int = Field(default=0, ge=0)  # Saltelli base samples; 0 = no Sobol indices
    seed: int = 0
    choices: list[UncertainChoice] = []


class Quality(_Strict):
    """What to do with rows that fail a row-level critical check."""

    # Rows failing row-level checks are quarantined and the rest proceed when their share of
    # the file is at most this; above it the edition stops.
    quarantine_max_share: float = Field(default=0.001, ge=0.0, le=1.0)


class Rank(_Strict):
    ties: Literal["min"] = "min"


class Results(_Strict):
    top_n: int = Field(default=15, gt=0)


class Trade(_Strict):
    import_base_lag: int = Field(default=2, ge=1)


class Method(_Strict):
    name: str
    version: str
    description: str = ""
    denominate: Denominate = Denominate()
    impute: Impute = Impute()
    screen: Screen = Screen()
    treat: Treat = Treat()
    normalise: Normalise = Normalise()
    weight: Weight = Weight()
    aggregate: Aggregate = Aggregate()
    rank: Rank = Rank()
    results: Results = Results()
    trade: Trade = Trade()
    uncertainty: Uncertainty = Uncertainty()
    quality: Quality = Quality()

    @model_validator(mode="after")
    def _known_methods(self) -> Method:
        """Method names must exist in the registries: a typo is an error when the file is read."""
        problems = [
            f"{key} {value!r} is not one of {sorted(registry)}"
            for key, value, registry in (
                ("normalise.method", self.normalise.method, NORMALISERS),
                ("weight.method", self.weight.method, WEIGHTERS),
            )
            if value not in registry
        ]
        named = {"aggregate.method": self.aggregate.method}
        named |= {f"aggregate.by_level.{k}": v for k, v in self.aggregate.by_level.items()}
        named |= {f"aggregate.by_node.{k}": v for k, v in self.aggregate.by_node.items()}
        problems += [
            f"{key} {value!r} is not one of {sorted(AGGREGATORS)}"
            for key, value in named.items()
            if value not in AGGREGATORS
        ]
        problems += _uncertainty_problems(self.uncertainty, self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _uncertainty_problems(settings: Uncertainty, method: Method) -> list[str]:
    """Choices that name no step, repeat one, or offer an alternative the step does not know."""
    try:
        choices = [c.choice() for c in settings.choices]
        if choices:
            checked_choices(choices)
    except ValueError as exc:
        return [f"uncertainty.choices: {exc}"]
    problems = []
    for i, choice in enumerate(choices):
        for alternative in choice.alternatives if choice.kind == "parameter" else ():
            try:
                with_parameter(method, choice.path, alternative)
            except (ValueError, ValidationError) as exc:
                message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
                problems.append(f"uncertainty.choices.{i}: {choice.path} = {alternative!r}: {message}")
    return problems + [
        f"uncertainty.choices.{i}: {choice.name} alternative {alternative!r} "
        f"is not one of {sorted(REGISTRIES[choice.step])}"
        for i, choice in enumerate(choices)
        if choice.kind == "alternatives"
        for alternative in choice.alternatives
        if alternative not in REGISTRIES[choice.step]
    ]


class MethodError(ValueError):
    """The method file does not match the schema; lists every bad key."""


def read_method(path: Path) -> Method:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Method.model_validate(document)
    except FileNotFoundError:
        raise MethodError(f"{path}: no such method file") from None
    except yaml.YAMLError as exc:
        raise MethodError(f"{path}: not valid YAML ({exc})") from exc
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc'])) or 'the file'}: {_plain(e)}" for e in exc.errors()]
        raise MethodError(f"{path}: " + "; ".join(lines)) from exc


def _plain(error: Any) -> str:
    """A schema error in the method file's words, not pydantic's ("Value error, ...")."""
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "extra_forbidden":
        return "not a key the method file has (a typo?)"
    if kind == "missing":
        return "missing: this key is required"
    if kind in ("too_long", "too_short"):
        expected = ctx.get("max_length", ctx.get("min_length"))
        return f"expected {expected} values, got {ctx.get('actual_length')}"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message.replace("Input should be", "should be")
