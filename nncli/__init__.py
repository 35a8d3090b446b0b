"""nncli: config-driven neural networks for tabular data, on a numpy core."""

__version__ = "0.1.0"
