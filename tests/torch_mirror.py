"""nncli's dense gelu networks mirrored in torch for the parity tests: the same starting weights, the same
forward pass."""


def torch_parameters(torch, model):
    """The model's weights and biases as torch leaves, and the optimizer's list of them (w0, b0, w1, b1, ...)."""
    weights = [torch.tensor(layer.params["weight"].copy(), requires_grad=True) for layer in model.layers]
    biases = [torch.tensor(layer.params["bias"].copy(), requires_grad=True) for layer in model.layers]
    return weights, biases, [p for pair in zip(weights, biases, strict=True) for p in pair]


def forward(torch, h, weights, biases):
    """Dense layers with gelu between them; the last layer's output as logits."""
    for index, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = h @ w + b
        if index < len(weights) - 1:
            h = torch.nn.functional.gelu(h)
    return h
