"""The config boundary: defaults, every error with its exact line and field, overrides, paths, round trips."""

# No `from __future__ import annotations`: parameters_model reads the stand-in classes' annotations at run time.
import re
from pathlib import Path
from typing import Annotated

import pydantic
import pytest
import yaml
from pydantic import AfterValidator

from nncli.config import (
    Config,
    ConfigError,
    config_differences,
    config_error,
    config_from_dict,
    load_config,
    parse_config,
    resolve,
)
from nncli.config.typed import Registries
from nncli.config.yamlio import read_yaml
from nncli.registry import Configurable, Registry

# Line numbers below refer to this text.
BASE = """\
name: demo
data:
  train: train.csv
  target: label
layers:
  - {type: dense, units: 16, activation: relu}
  - {type: dropout, rate: 0.1}
  - {type: dense, units: 1, activation: sigmoid}
optimizer: {type: sgd, lr: 0.1, momentum: 0.9}
training:
  epochs: 5
  batch_size: 8
  early_stopping: {patience: 2}
"""


def parse(text: str = BASE, **kwargs) -> Config:
    return parse_config(text, source="config.yaml", base_dir=Path("/project"), **kwargs)


def error_of(text: str, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, **kwargs)
    return str(caught.value)


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# --- defaults ---------------------------------------------------------------------------------------------


def test_defaults_are_filled_in():
    config = parse("data: {train: train.csv, target: label}\nlayers:\n  - {type: dense, units: 1}\n")
    assert config.name == "config"  # parse_config without a file: no stem to take
    assert (config.seed, config.dtype, config.task) == (0, "float32", "regression")
    assert config.data.train == Path("/project/train.csv")
    assert (config.data.valid, config.data.delimiter, config.data.missing, config.data.test) == (0.2, "auto",
                                                                                                 "error", None)
    assert (config.data.features, config.data.categorical, config.data.scale) == ("all", "auto", "standard")
    assert config.layer_specs() == [{"type": "dense", "name": "dense_0", "inputs": ["input"], "units": 1,
                                     "activation": "linear", "init": None, "use_bias": True}]
    assert config.layers[0].units == 1 and config.optimizer.lr == 0.001  # typed sections: attributes
    assert config.loss.to_dict() == {"type": "mse"}
    assert config.metrics == ["mae"]
    assert config.optimizer.to_dict() == {"type": "adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8,
                                "weight_decay": 0.0, "amsgrad": False}
    assert config.schedule.to_dict() == {"type": "constant"}
    assert (config.regularization.l1, config.regularization.l2) == (0.0, 0.0)
    training = config.training
    assert (training.epochs, training.batch_size, training.shuffle, training.early_stopping,
            training.clip_norm) == (100, 32, True, None, None)


def test_resolved_layers_losses_and_early_stopping():
    config = parse()
    assert [layer.name for layer in config.layers] == ["dense_0", "dropout_1", "dense_2"]
    assert [layer.inputs for layer in config.layers] == [["input"], ["dense_0"], ["dropout_1"]]
    assert config.task == "classification"
    assert config.loss.type == "binary_crossentropy"
    assert config.metrics == ["accuracy"]
    assert config.optimizer.nesterov is False and config.optimizer.lr == 0.1
    assert config.training.early_stopping.model_dump() == {"monitor": "val_loss", "patience": 2,
                                                           "restore_best": True, "min_delta": 0.0}


def test_softmax_output_infers_categorical_crossentropy():
    config = parse(edit("units: 1, activation: sigmoid", "units: 3, activation: softmax"))
    assert (config.loss.type, config.task) == ("categorical_crossentropy", "classification")


def test_name_defaults_to_the_file_stem(tmp_path):
    path = tmp_path / "moons.yaml"
    path.write_text(edit("name: demo\n", ""))
    assert load_config(path).name == "moons"


def test_config_is_frozen():
    config = parse()
    with pytest.raises(pydantic.ValidationError):
        config.seed = 3
    with pytest.raises(pydantic.ValidationError):
        config.training.epochs = 3


def test_switches_and_empty_sections():
    config = parse(BASE.replace("early_stopping: {patience: 2}", "early_stopping: true") + "regularization:\n")
    assert config.training.early_stopping.patience == 10
    assert config.regularization.l2 == 0.0
    assert parse(BASE.replace("{patience: 2}", "false")).training.early_stopping is None


# --- YAML reading -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [("1e-3", 0.001), ("1E5", 100000.0), ("-2e-4", -0.0002),
                                         ("1.5e3", 1500.0), ("0.1", 0.1), ("7", 7), ("1_000", 1000)])
def test_numbers(text, value):
    data, _ = read_yaml(f"x: {text}\n", "t.yaml")
    assert data["x"] == value and type(data["x"]) is type(value)


def test_exponent_floats_validate_as_numbers():
    config = parse(BASE + "regularization: {l2: 1e-4, l1: 1E-5}\n")
    assert (config.regularization.l2, config.regularization.l1) == (1e-4, 1e-5)


def test_dates_stay_strings():
    assert parse(edit("name: demo", "name: 2024-01-01")).name == "2024-01-01"


def test_duplicate_keys_name_both_lines():
    assert error_of(BASE + "seed: 1\nseed: 2\n") == (
        "config.yaml:15: seed: duplicate key 'seed': given on line 14 and line 15")
    assert error_of(edit("units: 16,", "units: 16, units: 8,")) == (
        "config.yaml:6: layers[0].units: duplicate key 'units': given on line 6 and line 6")


def test_python_tags_are_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    text = BASE + f"seed: !!python/object/apply:os.system ['touch {marker}']\n"
    assert error_of(text) == ("config.yaml:14: seed: tag !!python/object/apply:os.system is not allowed: a config "
                              "holds only plain values, lists and mappings")
    with pytest.raises(ConfigError):
        parse(BASE, overrides=[f"seed=!!python/object/apply:os.system ['touch {marker}']"])
    with pytest.raises(ConfigError, match=re.escape("tag !!python/name:os.system")):
        parse("!!python/name:os.system\n")
    assert not marker.exists()


def test_syntax_errors_give_line_and_column():
    assert error_of(BASE + "seed: [1, 2\n") == (
        "config.yaml:15:1: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence started "
        "on line 14)")
    assert error_of("a: 1\n b: 2\n") == "config.yaml:2:3: mapping values are not allowed here"


@pytest.mark.parametrize("text, message", [
    ("", "config.yaml: a config must be a mapping of keys to values, such as `layers: [...]`; this one is empty"),
    ("- 1\n", "config.yaml:1: a config must be a mapping of keys to values, such as `layers: [...]`; "
              "this one is [1]"),
    ("a: \x00\n", "config.yaml:1: unacceptable character #x0000: special characters are not allowed"),
    ("a: &x [*x]\n", "config.yaml:1: a[0]: an alias refers to a list or mapping that contains it"),
    ("a: !!int abc\n", "config.yaml:1: a: cannot read 'abc' as !!int"),
])
def test_unreadable_documents(text, message):
    assert error_of(text) == message


def test_anchors_and_merge_keys():
    text = edit("  - {type: dense, units: 1, activation: sigmoid}",
                "  - {<<: *hidden, units: 1, activation: sigmoid}",
                edit("  - {type: dense, units: 16", "  - &hidden {type: dense, units: 16"))
    assert parse(text).layers[2].units == 1
    bad = edit("units: 1,", "units: 0,", text)
    assert error_of(bad) == "config.yaml:8: layers[2].units: must be a positive integer, got 0"


# --- errors: exact line and field -------------------------------------------------------------------------


@pytest.mark.parametrize("old, new, message", [
    ("units: 16", "units: -3", "config.yaml:6: layers[0].units: must be a positive integer, got -3"),
    ("lr: 0.1", "lr: abc", "config.yaml:9: optimizer.lr: must be a non-negative number, got 'abc'"),
    ("lr: 0.1", "lrr: 0.1", "config.yaml:9: optimizer.lrr: unknown key 'lrr'; did you mean 'lr'? valid: lr, "
                            "momentum, dampening, weight_decay, nesterov, type"),
    ("lr: 0.1", "lr: .nan", "config.yaml:9: optimizer.lr: must be finite, got nan"),
    ("rate: 0.1", "rate: 1.5", "config.yaml:7: layers[1].rate: must be a number in [0, 1), got 1.5"),
    ("epochs: 5", "epochs: -1", "config.yaml:11: training.epochs: must be a non-negative integer, got -1"),
    ("epochs: 5", "epochs: 1e2", "config.yaml:11: training.epochs: must be a non-negative integer, got 100.0"),
    ("batch_size: 8", "batch_size: 0", "config.yaml:12: training.batch_size: must be a positive integer, got 0"),
    ("batch_size: 8", "batch_sise: 8", "config.yaml:12: training.batch_sise: unknown key 'batch_sise'; did you "
                                       "mean 'batch_size'? valid: epochs, batch_size, shuffle, early_stopping, "
                                       "clip_norm, class_weight"),
    ("{patience: 2}", "{patience: two}",
     "config.yaml:13: training.early_stopping.patience: must be a non-negative integer, got 'two'"),
    ("  epochs: 5\n", "  shuffle: maybe\n", "config.yaml:11: training.shuffle: must be true or false, got 'maybe'"),
    ("name: demo", "dtype: float16",
     "config.yaml:1: dtype: must be one of: float32, float64, got 'float16'"),
    ("name: demo", "name: a/b", "config.yaml:1: name: must be a name usable as a directory name (no '/' or '\\'), "
                                "got 'a/b'"),
    ("name: demo", "epochs: 3", "config.yaml:1: epochs: unknown key 'epochs'; did you mean 'training.epochs'? "
                                "valid: name, seed, dtype, task, data, layers, loss, metrics, optimizer, schedule, "
                                "regularization, training"),
    ("  target: label\n", "", "config.yaml:2: data.target: required"),
    ("train: train.csv", "train: 3", "config.yaml:3: data.train: must be a CSV file path, got 3"),
    ("  target: label\n", "  target: label\n  valid: 1.5\n",
     "config.yaml:5: data.valid: must be a fraction in (0, 1), a CSV file path or null, got 1.5"),
    ("  target: label\n", "  target: label\n  delimiter: ab\n",
     "config.yaml:5: data.delimiter: must be auto or a single ASCII character (a tab is \"\\t\", quoted), got 'ab'"),
    ("  target: label\n", "  target: label\n  missing: fill\n",
     "config.yaml:5: data.missing: must be one of: error, drop, impute, got 'fill'"),
    ("target: label", "target: [a, b]",
     "config.yaml:4: data.target: a list of targets is only for regression; a classifier predicts one target "
     "column"),
    ("  target: label\n", "  target: label\n  features: [x, label]\n",
     "config.yaml:5: data.features: lists the target 'label': features are the model's inputs, the target is "
     "what it predicts"),
    ("  target: label\n", "  target: label\n  categorical: [a, a]\n",
     "config.yaml:5: data.categorical: lists 'a' more than once"),
    ("type: dropout", "type: dropuot", "config.yaml:7: layers[1].type: unknown layer type 'dropuot'; did you mean "
                                       "'dropout'? valid: add, batchnorm, concat, dense, dropout, embedding"),
    ("activation: relu", "activation: relux",
     "config.yaml:6: layers[0].activation: unknown activation 'relux'; did you mean 'relu'? valid: elu, gelu, "
     "leaky_relu, linear, relu, sigmoid, silu, softmax, softplus, tanh"),
    ("activation: relu", "activation: 3", "config.yaml:6: layers[0].activation: must be a string or a mapping, "
                                          "got 3"),
    ("{type: dense, units: 16, activation: relu}", "{units: 16}", "config.yaml:6: layers[0].type: required"),
    ("{type: dense, units: 16, activation: relu}", "dense",
     "config.yaml:6: layers[0]: must be a mapping with a type, such as {type: dense, units: 8}, got 'dense'"),
    ("type: sgd", "type: sgdd", "config.yaml:9: optimizer.type: unknown optimizer 'sgdd'; did you mean 'sgd'? "
                                "valid: adagrad, adam, adamw, rmsprop, sgd"),
    ("{type: sgd, lr: 0.1, momentum: 0.9}", "{lr: 0.1}", "config.yaml:9: optimizer.type: required"),
    ("{type: sgd, lr: 0.1, momentum: 0.9}", "3",
     "config.yaml:9: optimizer: must be an optimizer name or a mapping with a type, got 3"),
    ("name: demo", "loss: msee", "config.yaml:1: loss: unknown loss 'msee'; did you mean 'mse'? valid: "
                                 "binary_crossentropy, categorical_crossentropy, huber, mae, mse"),
    ("name: demo", "loss: {type: huber, delta: 0}",
     "config.yaml:1: loss.delta: must be a positive number, got 0"),
    ("name: demo", "loss: categorical_crossentropy",
     "config.yaml:1: loss: 'categorical_crossentropy' needs a softmax output layer, but the last layer "
     "(dense_2) has activation 'sigmoid'"),
    ("name: demo", "task: regression",
     "config.yaml:1: task: regression does not fit the loss 'binary_crossentropy', which is for classification; "
     "it was inferred from the last layer's activation: set `loss:` or change it"),
    ("name: demo", "task: regression\nloss: binary_crossentropy",
     "config.yaml:1: task: regression does not fit the loss 'binary_crossentropy', which is for classification"),
    ("name: demo", "schedule: {type: step, gamma: 2}",
     "config.yaml:1: schedule.gamma: must be a number in (0, 1], got 2"),
    ("name: demo", "metrics: [accuracy, mae]",
     "config.yaml:1: metrics[1]: 'mae' is a regression metric but the task is classification; valid: accuracy, "
     "auc, f1, precision, recall"),
    ("name: demo", "metrics: [acuracy]", "config.yaml:1: metrics[0]: unknown metric 'acuracy'; did you mean "
                                         "'accuracy'? valid: accuracy, auc, f1, mae, mse, precision, r2, recall, "
                                         "rmse"),
    ("name: demo", "metrics: [f1, f1]", "config.yaml:1: metrics[1]: 'f1' is listed twice"),
    ("{patience: 2}", "{monitor: val_f1}",
     "config.yaml:13: training.early_stopping.monitor: unknown monitor 'val_f1'; did you mean 'val_loss'? "
     "valid: loss, accuracy, val_loss, val_accuracy"),
    ("  target: label\n", "  target: label\n  valid: null\n",
     "config.yaml:14: training.early_stopping.monitor: 'val_loss' needs validation data, but data.valid is null; "
     "monitor 'loss' or set data.valid"),
    ("layers:\n", "layers: []\nx:\n", "config.yaml:5: layers: must be a non-empty list of layers, got []"),
])
def test_error_messages(old, new, message):
    assert error_of(edit(old, new)) == message


def test_plateau_schedule_monitor_needs_validation_data():
    text = edit("  target: label\n", "  target: label\n  valid: null\n") + "schedule: plateau\n"
    text = text.replace("  early_stopping: {patience: 2}\n", "")
    assert error_of(text) == ("config.yaml:14: schedule.monitor: 'val_loss' needs validation data, but data.valid "
                              "is null; monitor 'loss' or set data.valid")


def test_missing_required_top_level_keys():
    assert error_of("data: {train: a.csv, target: y}\n") == "config.yaml: layers: required"
    # data is needed to train from files, which is where it is checked (fit_arrays takes arrays instead)
    assert parse("layers: [{type: dense, units: 1}]\n").data is None


def test_the_error_reported_is_the_first_in_the_file():
    text = edit("lr: 0.1", "lr: -1", edit("units: 16", "units: 0", edit("epochs: 5", "epochs: x")))
    assert error_of(text).startswith("config.yaml:6: layers[0].units:")
    text = edit("name: demo", "seed: -1", edit("units: 16", "units: 0"))
    assert error_of(text).startswith("config.yaml:1: seed:")


def test_errors_are_one_line():
    message = error_of(edit("name: demo", 'name: "a\\nb"'))
    assert "\n" not in message and message.startswith("config.yaml:1: name:")


# --- the layer graph --------------------------------------------------------------------------------------

GRAPH = """\
data: {train: a.csv, target: y}
layers:
  - {type: dense, units: 4, name: left}
  - {type: dense, units: 4, name: right, inputs: [input]}
  - {type: concat, inputs: [left, right]}
  - {type: dense, units: 1}
"""


def test_named_layers_and_merges():
    config = parse(GRAPH)
    assert [(layer.name, layer.inputs) for layer in config.layers] == [
        ("left", ["input"]), ("right", ["input"]), ("concat_2", ["left", "right"]), ("dense_3", ["concat_2"])]


@pytest.mark.parametrize("old, new, message", [
    ("inputs: [left, right]", "inputs: [left, rigth]",
     "config.yaml:5: layers[2].inputs[1]: 'rigth' is not 'input' (the data) or the name of an earlier layer; did "
     "you mean 'right'? valid: input, left, right"),
    ("inputs: [input]", "inputs: [concat_2]",
     "config.yaml:4: layers[1].inputs[0]: 'concat_2' is not 'input' (the data) or the name of an earlier layer; "
     "valid: input, left"),
    ("inputs: [left, right]", "inputs: [left]",
     "config.yaml:5: layers[2].inputs: a concat layer joins several inputs: list at least 2 in `inputs`, got "
     "[left]"),
    ("{type: concat, inputs: [left, right]}", "{type: add}",
     "config.yaml:5: layers[2]: an add layer joins several inputs: list at least 2 in `inputs`, got [right]"),
    ("inputs: [input]", "inputs: [input, left]",
     "config.yaml:4: layers[1].inputs: a dense layer takes exactly one input, got [input, left]"),
    ("inputs: [left, right]", "inputs: [right, right]",
     "config.yaml:3: layers[0]: the output of 'left' is not used by any later layer; only the last layer can be "
     "the model's output"),
    ("name: right", "name: left",
     "config.yaml:4: layers[1].name: 'left' is already the name of layers[0]; layer names must be unique"),
    ("name: left", "name: input",
     "config.yaml:3: layers[0].name: 'input' is reserved for the data; choose another name"),
    ("inputs: [input]", "inputs: 3", "config.yaml:4: layers[1].inputs: must be a list of layer names, got 3"),
])
def test_graph_errors(old, new, message):
    assert error_of(edit(old, new, GRAPH)) == message


def test_inputs_may_be_a_single_name():
    assert parse(edit("inputs: [input]", "inputs: input", GRAPH)).layers[1].inputs == ["input"]


# --- overrides --------------------------------------------------------------------------------------------


def test_overrides_set_values_list_items_and_new_keys():
    config = parse(overrides=["optimizer.lr=0.01", "layers.0.units=32", "training.early_stopping.min_delta=1e-3",
                              "regularization.l2=1e-4", "metrics=[accuracy, f1]", "training.epochs=3",
                              "training.epochs=7"])
    assert config.optimizer.lr == 0.01 and config.layers[0].units == 32
    assert config.training.early_stopping.min_delta == 0.001 and config.regularization.l2 == 1e-4
    assert config.metrics == ["accuracy", "f1"] and config.training.epochs == 7


def test_override_into_a_bare_name_and_an_absent_section():
    config = parse(edit("{type: sgd, lr: 0.1, momentum: 0.9}", "rmsprop"), overrides=["optimizer.alpha=0.9",
                                                                                      "schedule.type=cosine"])
    assert config.optimizer.type == "rmsprop" and config.optimizer.alpha == 0.9
    assert config.schedule.to_dict() == {"type": "cosine", "min_lr": 0.0}


@pytest.mark.parametrize("override, message", [
    ("optimizer.lr=abc", "--set optimizer.lr=abc: optimizer.lr: must be a non-negative number, got 'abc'"),
    ("training.early_stopping.patience=-3",
     "--set training.early_stopping.patience=-3: training.early_stopping.patience: must be a non-negative "
     "integer, got -3"),
    ("training.early_stopping.monitor=val_f1",
     "--set training.early_stopping.monitor=val_f1: training.early_stopping.monitor: unknown monitor 'val_f1'; "
     "did you mean 'val_loss'? valid: loss, accuracy, val_loss, val_accuracy"),
    ("layers.5.units=3", "--set layers.5.units=3: layers has 3 items: index 5 is out of range"),
    ("layers.first.units=3", "--set layers.first.units=3: layers is a list: expected an item index, got 'first'"),
    ("optimizer.lr.x=1", "--set optimizer.lr.x=1: optimizer.lr is 0.1, not a mapping or list: cannot set 'x' in it"),
    ("epochs", "--set: expected KEY=VALUE, such as optimizer.lr=0.01, got 'epochs'"),
    ("training..epochs=3", "--set training..epochs=3: the key 'training..epochs' is not a dotted path such as "
                           "training.epochs"),
    ("seed=[1", "--set seed=[1: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence)"),
    ("seed=", "--set seed=: seed: must be a non-negative integer, got null"),
    ("lrr=1", "--set lrr=1: lrr: unknown key 'lrr'"),
])
def test_bad_overrides(override, message):
    found = error_of(BASE, overrides=[override])
    assert found == message or found.startswith(message + "; valid: name, seed, dtype")


def test_override_errors_come_before_file_errors():
    text = edit("units: 16", "units: 0")
    assert error_of(text, overrides=["seed=-1"]).startswith("--set seed=-1: seed:")


def test_file_values_next_to_an_override_keep_their_lines():
    text = edit("momentum: 0.9", "momentum: -1")
    assert error_of(text, overrides=["optimizer.lr=0.5"]) == (
        "config.yaml:9: optimizer.momentum: must be a non-negative number, got -1")


# --- files and paths --------------------------------------------------------------------------------------


def test_paths_are_resolved_against_the_config_directory(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "run.yaml"
    path.write_text(edit("  target: label\n", "  target: label\n  valid: valid.csv\n  test: ../data/test.csv\n"))
    monkeypatch.chdir(tmp_path)
    config = load_config("configs/run.yaml")
    assert config.data.train == tmp_path / "configs" / "train.csv"
    assert config.data.valid == tmp_path / "configs" / "valid.csv"
    assert config.data.test == tmp_path / "data" / "test.csv"
    assert all(p.is_absolute() for p in (config.data.train, config.data.valid, config.data.test))
    absolute = parse(edit("train: train.csv", f"train: {tmp_path / 'elsewhere.csv'}"))
    assert absolute.data.train == tmp_path / "elsewhere.csv"


def test_errors_name_the_file_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_text(edit("units: 16", "units: -3"))
    with pytest.raises(ConfigError) as caught:
        load_config("bad.yaml")
    assert str(caught.value) == "bad.yaml:6: layers[0].units: must be a positive integer, got -3"
    assert (caught.value.file, caught.value.line, caught.value.field) == ("bad.yaml", 6, "layers[0].units")


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match=re.escape("missing.yaml: config file not found")):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00 junk")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(tmp_path / "binary.yaml")


# --- round trips, later errors, differences ---------------------------------------------------------------


def test_to_yaml_round_trip(tmp_path):
    config = parse(GRAPH + "schedule: {type: step, step_size: 3}\nmetrics: [mse, r2]\n", overrides=["seed=7"])
    text = config.to_yaml()
    assert parse_config(text) == config
    assert yaml.safe_load(text) == config.to_dict()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "resolved.yaml").write_text(text)
    assert load_config(tmp_path / "other" / "resolved.yaml") == config  # absolute paths, explicit name


def test_to_yaml_round_trip_with_every_section():
    config = parse(BASE + "regularization: {l1: 1e-5}\nloss: binary_crossentropy\nschedule: plateau\n")
    again = parse_config(config.to_yaml())
    assert again == config and again.to_dict() == config.to_dict()
    assert "layers:\n- {type: dense, name: dense_0, inputs: [input], units: 16" in config.to_yaml()


def test_model_validate_of_to_dict_gives_an_equal_config():
    config = parse(GRAPH)
    assert Config.model_validate(config.to_dict()) == config


def test_config_error_points_at_the_original_line():
    config = parse()
    error = config_error(config, "layers[2].units", "softmax output has 3 units but the data has 2 classes")
    assert str(error) == "config.yaml:8: layers[2].units: softmax output has 3 units but the data has 2 classes"
    assert str(config_error(config, "data.target", "no column 'label'")) == (
        "config.yaml:4: data.target: no column 'label'")
    assert config_error(config, "layers.1.rate", "x").line == 7
    assert config_error(config, "data.categorical", "x").line == 2  # a default: the section's line
    overridden = parse(overrides=["layers.0.units=32"])
    assert str(config_error(overridden, "layers[0].units", "too wide")) == (
        "--set layers.0.units=32: layers[0].units: too wide")


def test_config_differences():
    old = parse()
    new = parse(overrides=["training.epochs=9", "optimizer.lr=0.5", "layers.1.name=drop"])
    assert config_differences(old, new, {"training.epochs"}) == [
        "layers.1.name: 'dropout_1' -> 'drop'", "layers.2.inputs.0: 'dropout_1' -> 'drop'",
        "optimizer.lr: 0.1 -> 0.5"]
    assert config_differences(old, parse(overrides=["training.epochs=9"]), {"training.epochs"}) == []
    assert config_differences(old, old, set()) == []


def test_config_from_dict():
    raw = {"data": {"train": Path("t.csv"), "target": "y"}, "layers": [{"type": "dense", "units": 2}],
           "name": "api"}
    config = config_from_dict(raw, base_dir=Path("/data"))
    assert config.data.train == Path("/data/t.csv") and config.name == "api"
    assert raw["data"]["train"] == Path("t.csv")  # the caller's dict is left alone
    with pytest.raises(ConfigError) as caught:
        config_from_dict({**raw, "seed": -1})
    assert str(caught.value) == "<dict>: seed: must be a non-negative integer, got -1"
    assert config_error(config, "seed", "x").line is None


# --- stand-in registries ----------------------------------------------------------------------------------


def test_stand_in_registries(monkeypatch):
    layers, losses, optimizers, schedules, metrics = (Registry(family) for family in (
        "layer type", "loss", "optimizer", "schedule", "metric"))

    def check(width):
        if width == 99:
            raise RuntimeError("a validator that trips over an odd input")
        return width

    @layers.register("line")
    class Line(Configurable):
        def __init__(self, width: Annotated[int, AfterValidator(check)] = 1):
            self.width = width

    for registry, name in ((losses, "mse"), (optimizers, "adam"), (schedules, "constant"), (metrics, "mae")):
        registry.register(name)(type(name, (Configurable,), {"__init__": lambda self: None, "task": "regression"}))
    stand_ins = Registries(layers, losses, optimizers, schedules, metrics)
    monkeypatch.setattr(resolve, "registries", lambda: stand_ins)
    text = "data: {train: a.csv, target: y}\nlayers: [{type: line, width: 3}]\n"
    raw, where = read_yaml(text, "config.yaml")
    problems = resolve.Problems(where)
    assert resolve.resolve_layers(raw["layers"], layers, problems) == [
        {"type": "line", "name": "line_0", "inputs": ["input"], "width": 3}]
    assert error_of(text.replace("width: 3", "width: 99")).startswith("config.yaml:2: layers[0]: invalid parameters")


def test_a_run_from_files_needs_the_data_section(tmp_path):
    from nncli import api

    (tmp_path / "c.yaml").write_text("layers: [{type: dense, units: 1}]\n")
    with pytest.raises(ConfigError, match=r"c.yaml: data: required: the data section names the training file"):
        api.check(tmp_path / "c.yaml")
