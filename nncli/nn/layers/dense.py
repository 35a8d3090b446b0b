"""Fully connected layer: y = activation(x @ weight + bias)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator

from nncli.nn.activations import Activation, get_activation
from nncli.nn.layers.base import LAYERS, Layer
from nncli.nn.params import Bool, PositiveInt


def _check_activation(spec: Any) -> str | dict:
    from nncli.nn.activations import ACTIVATIONS
    from nncli.registry import parameters_model, unknown_name_message

    name = spec.get("type") if isinstance(spec, dict) else spec
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(unknown_name_message("activation", name, ACTIVATIONS.names()))
    if isinstance(spec, str):
        return spec
    params = {key: value for key, value in spec.items() if key != "type"}
    return {"type": name, **parameters_model(ACTIVATIONS.get(name))(**params).model_dump()}


def _check_initializer(name: Any) -> str | None:
    from nncli.nn.initializers import INITIALIZERS
    from nncli.registry import unknown_name_message

    if name is not None and name not in INITIALIZERS:
        raise ValueError(unknown_name_message("initializer", name, INITIALIZERS.names()))
    return name


ActivationSpec = Annotated[str | dict, AfterValidator(_check_activation)]
InitializerName = Annotated[str | None, AfterValidator(_check_initializer)]


@LAYERS.register("dense")
class Dense(Layer):
    """`y = activation(x @ weight + bias)`, weight of shape (inputs, units), bias of shape (units,).

    `init` defaults to he_normal for relu-family activations and glorot_uniform otherwise; biases start at 0.
    """

    regularized = ("weight",)

    def __init__(self, units: PositiveInt, activation: ActivationSpec = "linear",
                 init: InitializerName = None, use_bias: Bool = True):
        self.units = units
        self.activation = activation
        self.init = init
        self.use_bias = use_bias
        self.activation_fn = get_activation(activation)
        self.is_linear = self.activation_fn.is_identity

    def _build(self, input_widths: list[int], rng: np.random.Generator) -> int:
        from nncli.nn.initializers import INITIALIZERS, default_initializer

        (fan_in,) = input_widths
        init_name = self.init or default_initializer(self.activation_fn.name)
        initializer = INITIALIZERS.create(init_name)
        self.add_parameter("weight", initializer((fan_in, self.units), rng, self.dtype))
        if self.use_bias:
            self.add_parameter("bias", np.zeros(self.units, dtype=self.dtype))
        self._fan_in = fan_in
        self._forward_rows = self._backward_rows = -1  # batch size the buffers below were fetched for
        return self.units

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        """The layer's output: its pre-activation `z` when the activation is linear (or was detached)."""
        (x,) = inputs
        rows = x.shape[0]
        if rows != self._forward_rows:
            self._z = self.buffer("z", (rows, self.units))
            self._a = self._z if self.is_linear else self.buffer("a", (rows, self.units))
            self._forward_rows = rows
        self.x = x
        z = np.matmul(x, self.params["weight"], out=self._z)
        if self.use_bias:
            z += self.params["bias"]
        self.preactivation = z
        self.output = z if self.is_linear else self.activation_fn.forward(z, out=self._a)
        return self.output

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        """Gradients from d loss / d output, through the activation's derivative."""
        rows = grad_output.shape[0]
        if rows != self._backward_rows:
            self._grad_z = None if self.is_linear else self.buffer("grad_z", (rows, self.units))
            self._grad_x = None if self.skip_input_grad else self.buffer("grad_x", (rows, self._fan_in))
            self._backward_rows = rows
        if self.is_linear:
            grad_z = grad_output
        else:
            grad_z = self.activation_fn.backward(self.preactivation, self.output, grad_output,
                                                 out=self._grad_z)
        np.matmul(self.x.T, grad_z, out=self.grads["weight"])
        if self.use_bias:
            np.add.reduce(grad_z, axis=0, out=self.grads["bias"])
        if self.skip_input_grad:
            return [None]
        return [np.matmul(grad_z, self.params["weight"].T, out=self._grad_x)]

    def detach_activation(self) -> Activation:
        """The activation, handed over after `build` (which chose the initializer by it); outputs `z` from now on."""
        activation = self.activation_fn
        self.activation_fn, self.is_linear = get_activation("linear"), True
        self._forward_rows = self._backward_rows = -1  # the buffers change with `is_linear`
        return activation
