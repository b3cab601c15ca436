"""Each training setting is declared once; the CLI options and checks come from it."""

import dataclasses
import re

import pytest
from click.testing import CliRunner

from tagger.apps.cli import main
from tagger.errors import TaggerError
from tagger.settings import SECTIONS, SPECS, TrainConfig


def test_every_setting_is_a_train_option_in_its_section():
    result = CliRunner().invoke(main, ["train", "--help"])
    assert result.exit_code == 0
    text = result.output
    titles = [kind.__doc__.split(":")[0] + ":" for kind in SECTIONS.values()]
    positions = [text.index(f"\n{title}\n") for title in titles]
    assert positions == sorted(positions)
    for spec in SPECS.values():
        flag = spec.flag.split("/")[0] if spec.flag else f"--{spec.name.replace('_', '-')}"
        where = re.search(rf"\n  {re.escape(flag)}\s", text).start()  # its own line
        section = list(SECTIONS).index(spec.section)
        assert positions[section] < where, spec.name
        assert section + 1 == len(positions) or where < positions[section + 1], spec.name


def test_settings_are_unique_across_sections_and_all_have_help():
    names = [f.name for kind in SECTIONS.values() for f in dataclasses.fields(kind)]
    assert sorted(names) == sorted(SPECS) and len(set(names)) == len(names)
    assert all(spec.help.endswith(".") for spec in SPECS.values())


@pytest.mark.parametrize("name", [n for n, s in SPECS.items() if s.low is not None])
def test_the_cli_and_the_library_reject_the_same_values(name):
    spec = SPECS[name]
    bad = spec.low if spec.low_open else spec.low - (1 if spec.base is int else 0.5)
    result = CliRunner().invoke(main, ["train", "--dataset", "x", "-o", "m",
                                       f"--{name.replace('_', '-')}", str(spec.base(bad))])
    assert result.exit_code == 2 and "Invalid value" in result.output
    with pytest.raises(TaggerError, match=f"training setting {name} must be"):
        TrainConfig.from_flat(**{name: spec.base(bad)})


def test_sections_round_trip_and_flat_names():
    config = TrainConfig.from_flat(units=7, chars=False, epochs=2)
    assert (config.network.units, config.features.chars, config.optimization.epochs) == \
        (7, False, 2)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.flat()["units"] == 7 and config.replace(units=8).network.units == 8
    with pytest.raises(TaggerError, match="unknown settings section 'nets'"):
        TrainConfig.from_dict({"nets": {}})


def test_char_lstm_needs_an_even_size():
    with pytest.raises(TaggerError, match="char_filters must be even with char_model lstm"):
        TrainConfig.from_flat(char_model="lstm", char_filters=25)
    assert TrainConfig.from_flat(char_model="lstm", char_filters=50).network.char_filters == 50
