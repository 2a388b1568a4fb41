"""The method file: which normalisation, aggregation and ranking produce an edition.

Read from YAML and checked against a schema, so an unknown key or a bad value is a clear
error naming the key, not a silent default. Method names are looked up in registries
(`tasks.normalise.NORMALISERS`, `tasks.aggregate.AGGREGATORS`), never evaluated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Normalise(_Strict):
    method: str = "minmax"
    range: tuple[float, float] = (0.0, 100.0)

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] >= value[1]:
            raise ValueError("range must be [low, high] with low < high")
        return value


class Aggregate(_Strict):
    method: str = "arithmetic"
    min_share: float = Field(default=0.5, ge=0.0, le=1.0)


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
    normalise: Normalise = Normalise()
    aggregate: Aggregate = Aggregate()
    rank: Rank = Rank()
    results: Results = Results()
    trade: Trade = Trade()


class MethodError(ValueError):
    """The method file does not match the schema; lists every bad key."""


def read_method(path: Path) -> Method:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Method.model_validate(document)
    except yaml.YAMLError as exc:
        raise MethodError(f"{path}: not valid YAML ({exc})") from exc
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()]
        raise MethodError(f"{path}: " + "; ".join(lines)) from exc
