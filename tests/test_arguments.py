"""What the command line's flags accept, and the one flag per setting."""

import argparse

import pytest

from yolo_smol import arguments


@pytest.mark.parametrize(("parse", "text", "value"), [
    (arguments.size, "64", 64), (arguments.size, "128x64", (128, 64)),
    (arguments.size, "128,64", (128, 64)), (arguments.boolean, "off", False),
    (arguments.boolean, "True", True), (arguments.probability, "0.25", 0.25),
    (arguments.scales, "0.875,1,1.125", (0.875, 1.0, 1.125)), (arguments.end_gap, "none", None),
    (arguments.positive_int, "3", 3), (arguments.seed, "0", 0),
])
def test_what_each_flag_accepts(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize(("parse", "text", "message"), [
    (arguments.size, "1x2x3", "is not a size"), (arguments.boolean, "maybe", "not true or false"),
    (arguments.probability, "nan", "must lie between 0 and 1"),
    (arguments.probability, "high", "is not a number"),
    (arguments.scales, "1,0", "each scale must be a number above 0"),
    (arguments.positive_int, "0", "must be at least 1"), (arguments.seed, "-1", "from 0 to"),
    (arguments.whole, "1.5", "is not a whole number"),
])
def test_what_each_flag_refuses_in_one_line(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)


def test_each_setting_is_a_flag_whose_help_says_its_default_once(capsys):
    from yolo_smol.training.settings import TrainConfig

    parser = argparse.ArgumentParser()
    arguments.add_setting_flags(parser, TrainConfig)
    assert vars(parser.parse_args([])) == {}  # only the flags typed reach the settings
    assert parser.parse_args(["--train_scales", "1,1.25"]).train_scales == (1.0, 1.25)
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    words = " ".join(capsys.readouterr().out.split())
    assert "test images (default: all) --" in words
    assert "(default: all) (default: None)" not in words  # said once, in words
    assert "images per optimizer step (default: 256)" in words
