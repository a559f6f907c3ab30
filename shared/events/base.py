"""The base of every event payload, and the field types payloads share."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def json_integer(value: object) -> object:
    """JSON has one number type: 100.0 is the integer 100 (as JSON Schema's ``integer``
    says); a fraction, a string or a boolean stays what it is and is refused."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


# beside a strict int: takes 100.0 as 100, refuses "100", true and 1.5
INTEGRAL = BeforeValidator(json_integer)

IssueId = Annotated[str, Field(pattern=r"^iss_[0-9a-z]{10,40}$", description="Issue id.")]
ResidentRef = Annotated[
    str,
    Field(
        pattern=r"^res_[0-9a-z]{16,40}$",
        description="Pseudonymous resident reference; never a contact detail.",
    ),
]
NodeId = Annotated[
    str, Field(min_length=1, max_length=200, description="A node of the district tree.")
]
Priority = Literal["low", "normal", "high", "urgent"]
Language = Literal["zh-CN", "en"]


class EventPayload(BaseModel):
    """Base of every payload: immutable, unknown fields ignored for forward compatibility."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    subject_field: ClassVar[str]

    def subject(self) -> str:
        return str(getattr(self, self.subject_field))
