"""The Ray executor (not available yet: --executor ray is refused with exit 2)."""

from __future__ import annotations

from nncli.errors import NncliError


def require_ray() -> None:
    raise NncliError("--executor ray is not available in this version; use --executor local")


def run_ray(*args: object) -> bool:
    raise AssertionError("require_ray refuses the ray executor first")
