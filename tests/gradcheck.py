"""Central-difference gradients in float64, shared by every family's gradient checks."""

from __future__ import annotations

import numpy as np

from nncli.gradcheck import numerical_gradient  # the one implementation, also behind `nncli gradcheck`

__all__ = ["assert_gradients_close", "numerical_gradient"]


def assert_gradients_close(analytic: np.ndarray, numeric: np.ndarray, rtol: float = 1e-5,
                           atol: float = 1e-7) -> None:
    """Analytic and numeric gradients agree elementwise."""
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)
