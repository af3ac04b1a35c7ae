import json
from pathlib import Path

import pytest

from tests.sample_configs import CONFIGS, REPO, SMOL
from yolo_smol.config import (
    ConfigError,
    DownsampleConfig,
    ModelConfig,
    ResidualBlockConfig,
    builtin_config_names,
    load_config,
)


def test_smol_loads_with_the_documented_values():
    config = load_config(REPO / "configs" / "smol.json")
    assert config.num_classes == 10 and config.image_size == 32
    assert config.anchors == ((0.15, 0.73), (0.1, 0.46))
    assert config.backbone_layers[0] == DownsampleConfig(3, 16)
    assert config.backbone_layers[3] == ResidualBlockConfig(num_blocks=4, channels=32)
    assert config.strides == (8, 4) and config.grid_sizes == (4, 8)
    assert config.anchors_per_head == (((0.15, 0.73),), ((0.1, 0.46),))


def test_builtin_name_is_the_same_config_as_the_checkout_file():
    assert "smol" in builtin_config_names()
    assert load_config("smol") == load_config(REPO / "configs" / "smol.json")
    packaged = json.loads((REPO / "yolo_smol" / "configs" / "smol.json").read_text())
    assert packaged == SMOL


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_round_trip_gives_the_same_json(name, tmp_path):
    config = load_config(CONFIGS[name])
    assert config.to_dict() == CONFIGS[name]
    config.save(tmp_path / "c.json")
    assert load_config(tmp_path / "c.json") == config
    assert json.loads((tmp_path / "c.json").read_text()) == CONFIGS[name]


def test_config_is_frozen():
    config = load_config("smol")
    assert isinstance(config, ModelConfig)
    with pytest.raises(AttributeError):
        config.image_size = 64


def test_replace_validates():
    assert load_config("smol").replace(image_size=64).image_size == 64
    with pytest.raises(ConfigError, match="image_size: 36 is not divisible"):
        load_config("smol").replace(image_size=36)


def _error(raw) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(raw)
    return str(info.value)


def test_missing_key(smol_dict):
    del smol_dict["anchors"]
    assert "anchors: missing" in _error(smol_dict)


def test_unknown_key_suggests_the_closest(smol_dict):
    smol_dict["num_class"] = smol_dict.pop("num_classes")
    message = _error(smol_dict)
    assert "num_class: unknown key" in message and "did you mean 'num_classes'" in message


def test_unknown_layer_key_suggests_the_closest(smol_dict):
    smol_dict["backbone_layers"][1]["chanels"] = smol_dict["backbone_layers"][1].pop("channels")
    message = _error(smol_dict)
    assert "backbone_layers[1].chanels: unknown key" in message
    assert "did you mean 'channels'" in message


@pytest.mark.parametrize("field, value, expected", [
    ("num_classes", "10", 'num_classes: "10" must be a whole number'),
    ("num_classes", 0, "num_classes: 0 must be at least 1"),
    ("image_size", 32.0, "image_size: 32.0 must be a whole number"),
    ("num_detection_layers", True, "num_detection_layers: true must be a whole number"),
    ("backbone_layers", {}, "backbone_layers: must be a non-empty list"),
    ("anchors", [], "anchors: must be a non-empty list"),
])
def test_wrong_types(smol_dict, field, value, expected):
    smol_dict[field] = value
    assert expected in _error(smol_dict)


def test_wrong_type_inside_a_layer(smol_dict):
    smol_dict["backbone_layers"][2]["out_channels"] = "32"
    assert 'backbone_layers[2].out_channels: "32" must be a whole number' in _error(smol_dict)


def test_unknown_layer_type(smol_dict):
    smol_dict["backbone_layers"][1]["type"] = "ResidualBlok"
    message = _error(smol_dict)
    assert "backbone_layers[1].type: unknown layer type 'ResidualBlok'" in message
    assert "did you mean 'ResidualBlock'" in message


def test_first_layer_must_be_downsample(smol_dict):
    smol_dict["backbone_layers"].insert(0, {"type": "ResidualBlock", "num_blocks": 1,
                                            "channels": 4})
    assert "backbone_layers[0].type: 'ResidualBlock' must be 'Downsample'" in _error(smol_dict)


def test_first_layer_reads_rgb(smol_dict):
    smol_dict["backbone_layers"][0]["in_channels"] = 1
    assert "backbone_layers[0].in_channels: 1 must be 3" in _error(smol_dict)


def test_channel_mismatch_names_both_layers(smol_dict):
    smol_dict["backbone_layers"][3]["channels"] = 48
    assert ("backbone_layers[3].channels: 48 does not match the 32 output channels of "
            "backbone_layers[2]") in _error(smol_dict)


def test_downsample_channel_mismatch(smol_dict):
    smol_dict["backbone_layers"][4]["in_channels"] = 16
    assert ("backbone_layers[4].in_channels: 16 does not match the 32 output channels of "
            "backbone_layers[3]") in _error(smol_dict)


def test_odd_residual_channels(smol_dict):
    smol_dict["backbone_layers"][1]["channels"] = 15
    assert "backbone_layers[1].channels: 15 must be even" in _error(smol_dict)


def test_anchor_count(smol_dict):
    smol_dict["anchors"].append([0.05, 0.2])
    message = _error(smol_dict)
    assert "anchors: has 3 anchors" in message and "needs 2" in message


@pytest.mark.parametrize("anchor", [[0.0, 0.5], [0.2, 1.5], [12, 40], [-0.1, 0.3]])
def test_anchor_outside_unit_interval(smol_dict, anchor):
    smol_dict["anchors"][1] = anchor
    assert "anchors[1]:" in _error(smol_dict) and "must lie in (0, 1]" in _error(smol_dict)


def test_anchor_not_a_pair(smol_dict):
    smol_dict["anchors"][0] = [0.15]
    assert "anchors[0]: [0.15] must be a pair of numbers" in _error(smol_dict)


def test_more_heads_than_downsamples(smol_dict):
    smol_dict["num_detection_layers"] = 4
    smol_dict["anchors"] = [[0.2, 0.5]] * 4
    assert "num_detection_layers: 4 is more than the 3 Downsample layers" in _error(smol_dict)


def test_image_size_not_divisible_by_stride(smol_dict):
    smol_dict["image_size"] = 30
    message = _error(smol_dict)
    assert "image_size: 30 is not divisible by the backbone's total stride 8" in message
    assert "such as 24 or 32" in message


def test_not_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"num_classes": 10,\n "image_size" 32}')
    message = _error(path)
    assert str(path) in message and "not valid JSON" in message
    assert "line 2, column 15" in message


def test_not_an_object(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    assert "must be a JSON object, not list" in _error(path)


def test_missing_file_lists_builtin_names():
    message = _error("no/such/config.json")
    assert "no such config file" in message and "smol" in message


def test_file_errors_name_the_file(tmp_path, smol_dict):
    smol_dict["backbone_layers"][3]["channels"] = 48
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(smol_dict))
    assert _error(path).startswith(f"{path}: backbone_layers[3].channels")


def test_image_size_may_be_width_and_height():
    config = load_config("smol").replace(image_size=[128, 64])
    assert config.image_size == (128, 64) and config.input_size == (128, 64)
    assert load_config(config.to_dict()) == config
    assert json.loads(config.to_json())["image_size"] == [128, 64]
    assert load_config("smol").replace(image_size=[64, 64]).image_size == 64  # a square
    with pytest.raises(ConfigError, match="image_size: 100 is not divisible"):
        load_config("smol").replace(image_size=[100, 64])
    with pytest.raises(ConfigError, match=r"must be one number \(a square\) or \[width, h"):
        load_config("smol").replace(image_size=[128, 64, 3])
    with pytest.raises(ValueError, match="use grid_shapes"):
        config.grid_sizes  # noqa: B018


def test_the_repositorys_configs_are_the_packages_own():
    """One source: configs/*.json are links to the built-in configs shipped in the package."""
    import yolo_smol

    package_configs = Path(yolo_smol.__file__).parent / "configs"
    for path in (REPO / "configs").glob("*.json"):
        assert path.resolve() == (package_configs / path.name).resolve(), path
    assert {path.stem for path in (REPO / "configs").glob("*.json")} == set(
        builtin_config_names())


@pytest.mark.parametrize(("where", "value", "expected"), [
    (("image_size",), 100000, "image_size: 100000 is more than the 2,048"),
    (("backbone_layers", 0, "out_channels"), 10**6,
     "backbone_layers[0].out_channels: 1000000 is more than the 4,096"),
    (("num_classes",), 10**20, "num_classes: 100000000000000000000 is more than the 1,000"),
    (("backbone_layers", 1, "num_blocks"), 10**5,
     "backbone_layers[1].num_blocks: 100000 is more than the 64"),
])
def test_sizes_beyond_any_small_detector_are_refused_before_building(smol_dict, where, value,
                                                                      expected):
    target = smol_dict
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    with pytest.raises(ConfigError, match="use a smaller value") as error:
        load_config(smol_dict)
    assert expected in str(error.value)


def test_fields_within_bounds_that_make_a_huge_backbone_together_are_refused(smol_dict):
    smol_dict["backbone_layers"] = [
        {"type": "Downsample", "in_channels": 3, "out_channels": 4096},
        {"type": "ResidualBlock", "num_blocks": 64, "channels": 4096},
        {"type": "Downsample", "in_channels": 4096, "out_channels": 4096},
        {"type": "Downsample", "in_channels": 4096, "out_channels": 4096}]
    with pytest.raises(ConfigError, match=r"backbone_layers: about 5,\d{3},\d{3},\d{3} weights"):
        load_config(smol_dict)


def test_a_deeply_nested_file_is_refused_without_a_recursion_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match="deep.json: nested too deeply"):
        load_config(path)


def test_a_latin1_file_is_refused_as_not_utf8(tmp_path, smol_dict):
    path = tmp_path / "latin.json"
    text = json.dumps({**smol_dict, "num_classes": 10})
    path.write_bytes(text.replace('"num_classes"', '"num_classes" ', 1).encode()
                     .replace(b"{", b'{"caf\xe9": 1, ', 1))
    with pytest.raises(ConfigError, match="latin.json: not UTF-8 text .* save the config as UTF-8"):
        load_config(path)


def test_a_key_given_twice_is_refused_not_silently_overwritten(tmp_path, smol_dict):
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(smol_dict)[:-1] + ', "num_classes": 5}')
    with pytest.raises(ConfigError, match="twice.json: num_classes: given twice"):
        load_config(path)
