"""YAML documents: every problem names the file, line, field, value and fix."""

import pytest

from gpusteward.core.documents import load_document, parse_duration
from gpusteward.core.errors import InputError
from gpusteward.core.model import Frozen


class Inner(Frozen):
    replicas: int
    name: str


class Outer(Frozen):
    title: str
    items: tuple[Inner, ...]


def test_unknown_field_names_its_line_and_the_allowed_fields() -> None:
    text = "title: x\nitems:\n  - replicas: 1\n    name: a\n    replica: 2\n"
    with pytest.raises(InputError) as e:
        load_document(text, "f.yaml", Outer)
    msg = str(e.value)
    assert "f.yaml:5: items[0].replica = 2: unknown field" in msg
    assert "Allowed here: name, replicas" in msg


def test_wrong_type_names_value_and_line() -> None:
    text = "title: x\nitems:\n  - replicas: lots\n    name: a\n"
    with pytest.raises(InputError, match=r"f.yaml:3: items\[0\].replicas = 'lots'"):
        load_document(text, "f.yaml", Outer)


def test_missing_field_says_what_to_add() -> None:
    with pytest.raises(
        InputError, match=r"f.yaml:1: items: required field is missing. Fix: add 'items"
    ):
        load_document("title: x\n", "f.yaml", Outer)


def test_broken_yaml_names_the_line() -> None:
    with pytest.raises(InputError, match=r"f.yaml:2: not valid YAML"):
        load_document("title: x\n  items: 1\nz: 2\n", "f.yaml", Outer)


def test_a_list_at_top_level_is_rejected_with_a_fix() -> None:
    with pytest.raises(InputError, match="expected a mapping"):
        load_document("- 1\n- 2\n", "f.yaml", Outer)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("6h", 21600), ("14d", 1209600)]
)
def test_durations_parse_with_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-5m", "0"])
def test_bad_durations_explain_the_format(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
