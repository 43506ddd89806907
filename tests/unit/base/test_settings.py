"""env_number and env_flag: every numeric and on/off setting read from the environment fails the same clear way."""
import pytest

from skucore.base.settings import env_flag, env_number


def test_unset_or_blank_gives_the_default():
    assert env_number("SKUSTUDIO_X", 30, env={}) == 30
    assert env_number("SKUSTUDIO_X", 30, env={"SKUSTUDIO_X": "  "}) == 30


def test_a_value_is_read_as_its_kind():
    assert env_number("SKUSTUDIO_X", 30, env={"SKUSTUDIO_X": " 5 "}) == 5
    assert env_number("SKUSTUDIO_X", 1.5, kind=float, env={"SKUSTUDIO_X": "0.25"}) == 0.25


@pytest.mark.parametrize("raw,message", [("5s", "must be a whole number, got '5s'"), ("2.5", "must be a whole number"),
                                         ("-1", "must be 0 or more, got '-1'")])
def test_a_bad_value_names_the_setting_and_quotes_it(raw, message):
    with pytest.raises(ValueError, match="SKUSTUDIO_X " + message):
        env_number("SKUSTUDIO_X", 30, env={"SKUSTUDIO_X": raw})


def test_a_minimum_is_enforced():
    with pytest.raises(ValueError, match="SKUSTUDIO_X must be 1 or more, got '0'"):
        env_number("SKUSTUDIO_X", 30, minimum=1, env={"SKUSTUDIO_X": "0"})
    with pytest.raises(ValueError, match="must be a number, got 'fast'"):
        env_number("SKUSTUDIO_X", 1.0, kind=float, env={"SKUSTUDIO_X": "fast"})


@pytest.mark.parametrize("raw,expected", [("", True), ("1", True), (" ON ", True), ("no", False), ("False", False)])
def test_a_flag_reads_the_usual_spellings_and_defaults_when_blank(raw, expected):
    assert env_flag("SKUSTUDIO_Y", True, env={"SKUSTUDIO_Y": raw}) is expected


def test_a_flag_that_is_neither_on_nor_off_names_the_setting():
    with pytest.raises(ValueError, match="SKUSTUDIO_Y must be 1 or 0 .*got 'maybe'"):
        env_flag("SKUSTUDIO_Y", False, env={"SKUSTUDIO_Y": "maybe"})
