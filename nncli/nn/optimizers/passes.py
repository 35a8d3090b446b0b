"""The numpy engine: a rule of `nncli.nn.optimizers.rules` as a plan of whole-array passes.

`plan` runs the rule's loop body once on stand-ins for whole arrays, which record every operation; each
operation then becomes one numpy call with `out=`, writing in place where an operand is not needed any more,
into the parameter or a state array when the result is its new value, else into a work array. A step
allocates nothing, and makes as many passes over the parameters as the rule has operations.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

_INPUTS = ("param", "grad")
Place = tuple[str, Any]  # ("array", name), ("work", index) or ("number", (name, negated))
_FUNCTIONS = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
              "negative": np.negative, "sqrt": np.sqrt, "maximum": np.maximum, "copyto": np.copyto}


@dataclass(frozen=True)
class Plan:
    """The passes of one rule for one setting of its flags: `run(param, grad, state, work, numbers)` updates
    `param` and the `state` arrays in place, with `work` holding at least `work_arrays` arrays like `param`.
    It is generated as Python (`source`), so that it costs no more than the same calls written by hand."""

    source: str
    work_arrays: int
    run: Callable[[np.ndarray, np.ndarray, dict[str, np.ndarray], list[np.ndarray], dict[str, float]], None]


_plans: dict[tuple, Plan] = {}  # by rule, state arrays and flags


def plan(rule: Callable, states: tuple[str, ...], flags: dict[str, bool]) -> Plan:
    """The passes of `rule` for an optimizer keeping the state arrays `states`, with these flags; planned
    once per setting."""
    key = (rule, states, tuple(flags.items()))
    found = _plans.get(key)
    if found is None:
        found = _plans[key] = _Placement(_recorded(rule, states, flags)).plan()
    return found


def array_parameters(rule: Callable) -> tuple[str, ...]:
    """The names of the rule's array parameters (`param`, `grad`, then the state arrays), in order."""
    return tuple(name for name, parameter in inspect.signature(rule).parameters.items()
                 if parameter.annotation is np.ndarray)


# --- recording the rule -----------------------------------------------------------------------------------

class _Number:
    """A float argument of the rule, or its negation."""

    def __init__(self, name: str, negated: bool = False):
        self.name, self.negated = name, negated

    def __neg__(self) -> _Number:
        return _Number(self.name, not self.negated)

    def _arithmetic(self, other):
        if isinstance(other, _Value):
            return NotImplemented  # the value's reflected operator records it
        raise TypeError("a rule leaves arithmetic between its numbers to the optimizer (in Python floats)")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _arithmetic

    def __bool__(self):
        raise TypeError(f"a rule branches on its flags, not on the number {self.name!r}")


class _Value:
    """The whole-array value of an element expression: node `node` of the recording."""

    def __init__(self, recording: _Recording, node: int):
        self.recording, self.node = recording, node

    def _record(self, name: str, *operands: object) -> _Value:
        return self.recording.operation(name, operands)

    def __add__(self, other): return self._record("add", self, other)
    def __radd__(self, other): return self._record("add", other, self)
    def __sub__(self, other): return self._record("subtract", self, other)
    def __rsub__(self, other): return self._record("subtract", other, self)
    def __mul__(self, other): return self._record("multiply", self, other)
    def __rmul__(self, other): return self._record("multiply", other, self)
    def __truediv__(self, other): return self._record("divide", self, other)
    def __rtruediv__(self, other): return self._record("divide", other, self)
    def __neg__(self): return self._record("negative", self)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs or ufunc.__name__ not in ("sqrt", "maximum"):
            raise TypeError(f"a rule may call np.sqrt and np.maximum, not {ufunc.__name__}.{method}")
        return self.recording.operation(ufunc.__name__, inputs)

    def __bool__(self):
        raise TypeError("a rule branches on its flags, not on array values")


class _Elements:
    """A stand-in for one of the rule's arrays: one loop iteration, reading and writing the whole array."""

    shape = (1,)

    def __init__(self, recording: _Recording, name: str, kept: bool):
        self.recording, self.name, self.kept = recording, name, kept

    def __getitem__(self, index: int) -> _Value:
        return self.recording.read(self._checked())

    def __setitem__(self, index: int, value: _Value) -> None:
        if self.name == "grad" or not isinstance(value, _Value):
            raise TypeError(f"a rule writes array values into the parameter or its state, not into {self.name!r}")
        self.recording.written[self._checked()] = value.node

    def _checked(self) -> str:
        if not self.kept:
            raise TypeError(f"the rule uses the state {self.name!r}, which this configuration does not keep")
        return self.name


class _Recording:
    """The operations of one pass through a rule's loop body, as nodes: an array's value on entry
    (`("read", name)`) or an operation (`(function name, operands)`, an operand a node or a `_Number`)."""

    def __init__(self, rule_name: str) -> None:
        self.rule_name = rule_name
        self.nodes: list[tuple[str, tuple]] = []
        self.written: dict[str, int] = {}  # array name -> node of its new value
        self.entry: dict[str, int] = {}  # array name -> node of its value on entry

    def read(self, name: str) -> _Value:
        if name in self.written:
            return _Value(self, self.written[name])
        if name not in self.entry:
            self.entry[name] = self._add("read", (name,))
        return _Value(self, self.entry[name])

    def operation(self, name: str, operands: tuple) -> _Value:
        for operand in operands:
            if not isinstance(operand, (_Value, _Number)) or (isinstance(operand, _Value) and operand.recording
                                                              is not self):
                raise TypeError(f"a rule combines array values and its numbers, not {operand!r}")
        return _Value(self, self._add(name, tuple(op.node if isinstance(op, _Value) else op for op in operands)))

    def _add(self, name: str, operands: tuple) -> int:
        self.nodes.append((name, operands))
        return len(self.nodes) - 1


def _recorded(rule: Callable, states: tuple[str, ...], flags: dict[str, bool]) -> _Recording:
    recording = _Recording(rule.__name__)
    arrays = array_parameters(rule)
    stand_ins = {name: _Elements(recording, name, name in _INPUTS + states) for name in arrays}
    numbers = {name: _Number(name) for name in inspect.signature(rule).parameters
               if name not in arrays and name not in flags}
    rule(**stand_ins, **flags, **numbers)
    if "param" not in recording.written:
        raise TypeError(f"rule {rule.__name__} does not write the parameter")
    return recording


# --- placing the values -----------------------------------------------------------------------------------

def _variable(place: Place) -> str:
    """The name of a place in the generated code."""
    kind, key = place
    if kind == "number":
        return f"minus_{key[0]}" if key[1] else key[0]
    return f"work{key}" if kind == "work" else key


_NEVER = 1 << 62  # the last use of a new value: the end of the step


class _Placement:
    """Where each recorded value is computed: `("array", name)`, `("work", k)`, or `("number", key)`."""

    def __init__(self, recording: _Recording):
        self.recording = recording
        self.last_use = [-1] * len(recording.nodes)
        for index, (_, operands) in enumerate(recording.nodes):
            for operand in operands:
                if isinstance(operand, int):
                    self.last_use[operand] = index
        self.new_value_of: dict[int, list[str]] = {}
        for name, node in recording.written.items():
            self.new_value_of.setdefault(node, []).append(name)
            self.last_use[node] = _NEVER
        self.location: dict[int, Place] = {node: ("array", name) for name, node in recording.entry.items()}
        self.holder = {location: node for node, location in self.location.items()}
        self.writable = {("array", name) for name in recording.written}
        self.work_arrays = 0
        self.numbers: list[tuple[str, bool]] = []  # (name, negated), as the passes use them

    def plan(self) -> Plan:
        """The passes, each writing one operation's value where `_place` put it, then the copies of new
        values computed elsewhere than in their own array."""
        passes = [f"{name}({', '.join(map(self._source, operands))}, out={self._place(index)})"
                  for index, (name, operands) in enumerate(self.recording.nodes) if name != "read"]
        copies = {name: self.location[node] for name, node in self.recording.written.items()
                  if self.location[node] != ("array", name)}
        if {("array", name) for name in copies} & set(copies.values()):
            raise NotImplementedError("a rule whose new values must be swapped between arrays")
        passes += [f"copyto({name}, {_variable(place)})" for name, place in copies.items()]
        states = [name for name in {**self.recording.entry, **self.recording.written} if name not in _INPUTS]
        lines = ([f"{name} = state[{name!r}]" for name in states]
                 + [f"work{k} = work[{k}]" for k in range(self.work_arrays)]
                 + [f"{_variable(('number', key))} = {'-' if key[1] else ''}numbers[{key[0]!r}]"
                    for key in dict.fromkeys(self.numbers)] + passes)
        source = "def run(param, grad, state, work, numbers):\n" + "".join(f"    {line}\n" for line in lines)
        namespace: dict[str, Any] = dict(_FUNCTIONS)
        exec(compile(source, f"<numpy passes of {self.recording.rule_name}>", "exec"), namespace)
        return Plan(source, self.work_arrays, namespace["run"])

    def _source(self, operand: int | _Number) -> str:
        if isinstance(operand, int):
            return _variable(self.location[operand])
        self.numbers.append((operand.name, operand.negated))
        return _variable(("number", (operand.name, operand.negated)))

    def _place(self, node: int) -> str:
        """Its own array for a new value, else an operand's place it is the last use of (in place), else a
        work array free by then (a new one if none is)."""
        own: list[Place] = [("array", name) for name in self.new_value_of.get(node, [])]
        operands = [self.location[operand] for operand in self.recording.nodes[node][1] if isinstance(operand, int)]
        candidates = own or [place for place in operands if place in self.writable or place[0] == "work"]
        work: list[Place] = [("work", k) for k in range(self.work_arrays)]
        place = next((place for place in candidates + work if self._free(place, node)), None)
        if place is None:
            place = ("work", self.work_arrays)
            self.work_arrays += 1
        self.location[node] = place
        self.holder[place] = node
        return _variable(place)

    def _free(self, place: Place, node: int) -> bool:
        held = self.holder.get(place)
        return held is None or self.last_use[held] <= node
