"""Constraints on hyperparameters, declared once as annotated types.

Registered classes annotate their constructor keywords with these; the config schema validates against
them (`nncli.registry.parameters_model`), so a bad value fails at the boundary with the field's name.
Numbers are strict: a string where a number belongs is an error, never coerced; NaN and inf are refused.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool

PositiveInt = Annotated[int, Field(strict=True, gt=0)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]
Float = Annotated[float, Field(strict=True, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
# [0, 1): dropout rates, momentum-like coefficients, Adam's betas
UnitRate = Annotated[float, Field(strict=True, ge=0, lt=1, allow_inf_nan=False)]
# (0, 1]: a multiplicative factor that must shrink or keep a value
Fraction = Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)]
Bool = StrictBool
# [0, 1]: SGD's dampening
UnitInterval = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
# a non-empty name, such as the metric a schedule monitors
Name = Annotated[str, Field(strict=True, min_length=1)]
