"""Consult's bodies take JSON integers as JSON Schema does (2.0 is 2) and nothing else."""

import pytest
from pydantic import ValidationError

from services.consult.bodies import RulesIn

OPTIONS = [{"id": "a", "label": "A"}, {"id": "b", "label": "B"}, {"id": "c", "label": "C"}]


def test_an_integer_written_with_a_point_zero_is_that_integer():
    rules = RulesIn.model_validate({"kind": "multiple", "options": OPTIONS, "max_choices": 2.0})
    assert rules.max_choices == 2 and type(rules.max_choices) is int


@pytest.mark.parametrize("value", ["2", True, 2.5])
def test_strings_booleans_and_fractions_are_refused_naming_the_field(value):
    with pytest.raises(ValidationError) as refused:
        RulesIn.model_validate({"kind": "multiple", "options": OPTIONS, "max_choices": value})
    assert refused.value.errors()[0]["loc"] == ("max_choices",)
