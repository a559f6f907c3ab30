"""Reference data models: the organisation tree's nodes, departments and the category catalogue.

All models are frozen. Field names are snake_case; the YAML files and JSON use the aliases
(``zh-CN``), and both spellings are accepted on input.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, field_validator

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
"""Codes and node-id segments: lower-case ascii letters and digits, single hyphens between."""

Slug = Annotated[str, Field(pattern=SLUG_PATTERN, max_length=64)]
Text = Annotated[str, Field(min_length=1)]

_CONFIG = ConfigDict(
    frozen=True,
    extra="forbid",
    validate_by_alias=True,
    validate_by_name=True,
    serialize_by_alias=True,
)


class Level(StrEnum):
    """The five levels of the tree 区-街-社-院-楼, from the root down."""

    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    COMPOUND = "compound"
    BUILDING = "building"

    @property
    def rank(self) -> int:
        """0 for district .. 4 for building."""
        return LEVELS.index(self)

    @property
    def child(self) -> Level | None:
        """The level of this level's children (None for buildings)."""
        rank = self.rank
        return LEVELS[rank + 1] if rank + 1 < len(LEVELS) else None


LEVELS: tuple[Level, ...] = tuple(Level)

Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
LIST_DATATYPES: frozenset[str] = frozenset({"singlevaluelist", "multivaluelist"})
CategoryKind = Literal["problem", "service", "mediation"]
Priority = Literal["low", "normal", "high", "urgent"]
Open311Type = Literal["realtime", "batch", "blackbox"]
DepartmentKind = Literal["department", "office"]


class LocalizedName(BaseModel):
    """A text in Simplified Chinese and English (``{zh-CN: ..., en: ...}`` in the files)."""

    model_config = _CONFIG

    zh_CN: Text = Field(alias="zh-CN")
    en: Text

    def get(self, lang: str = "zh-CN") -> str:
        """The text in ``lang`` (``zh-CN``/``zh``/``en``); Chinese for anything else."""
        return self.en if lang.lower().startswith("en") else self.zh_CN

    def __str__(self) -> str:
        return self.zh_CN


LocalizedText = LocalizedName


class Keywords(BaseModel):
    """Search keywords per language."""

    model_config = _CONFIG

    zh_CN: tuple[Text, ...] = Field(alias="zh-CN")
    en: tuple[Text, ...]


class Location(BaseModel):
    """WGS-84 coordinates in degrees."""

    model_config = _CONFIG

    lat: float = Field(ge=-90, le=90, strict=True)
    lon: float = Field(ge=-180, le=180, strict=True)


class Node(BaseModel):
    """A place in the tree. ``ancestors`` are the ids from the root down to the parent."""

    model_config = _CONFIG

    id: str
    level: Level
    name: LocalizedName
    parent_id: str | None = None
    ancestors: tuple[str, ...] = ()
    address: str | None = None
    location: Location | None = None
    has_property_company: bool | None = None
    aliases: tuple[str, ...] = ()

    @property
    def depth(self) -> int:
        return len(self.ancestors)


class Department(BaseModel):
    """A functional department or office that receives tasks on ``dept.<code>.tasks``."""

    model_config = _CONFIG

    code: Slug
    kind: DepartmentKind = "department"
    name: LocalizedName
    description: LocalizedText

    @property
    def topic(self) -> str:
        """The Kafka topic that carries this department's tasks."""
        return f"dept.{self.code}.tasks"


class Group(BaseModel):
    """A group of categories (the article's six problem groups, services, mediation)."""

    model_config = _CONFIG

    code: Slug
    name: LocalizedName


class AttributeValue(BaseModel):
    """One choice of a list attribute."""

    model_config = _CONFIG

    key: Text
    name: LocalizedName


class CategoryAttribute(BaseModel):
    """An extra question asked when reporting (an Open311 service definition attribute)."""

    model_config = _CONFIG

    code: Slug
    datatype: Datatype
    required: StrictBool = False
    description: LocalizedText
    values: tuple[AttributeValue, ...] = Field(default=(), validate_default=True)

    @field_validator("values")
    @classmethod
    def _values_match_datatype(
        cls, values: tuple[AttributeValue, ...], info: ValidationInfo
    ) -> tuple[AttributeValue, ...]:
        datatype = info.data.get("datatype")
        if datatype is None:  # datatype itself is invalid; reported there
            return values
        if datatype in LIST_DATATYPES and not values:
            raise ValueError(f"datatype {datatype} needs a non-empty list of values")
        if datatype not in LIST_DATATYPES and values:
            raise ValueError(f"datatype {datatype} takes no values (only list datatypes do)")
        keys = [v.key for v in values]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"duplicate value keys: {', '.join(duplicates)}")
        return values

    @property
    def is_list(self) -> bool:
        return self.datatype in LIST_DATATYPES


class Category(BaseModel):
    """A problem type, service item or mediation type, owned by one department."""

    model_config = _CONFIG

    code: Slug
    name: LocalizedName
    group: Slug
    kind: CategoryKind
    department: Slug
    default_priority: Priority = "normal"
    open311_type: Open311Type = "realtime"
    anonymous_allowed: StrictBool = False
    keywords: Keywords
    notice: LocalizedText | None = None
    attributes: tuple[CategoryAttribute, ...] = ()

    @field_validator("attributes")
    @classmethod
    def _unique_attribute_codes(
        cls, attributes: tuple[CategoryAttribute, ...]
    ) -> tuple[CategoryAttribute, ...]:
        codes = [a.code for a in attributes]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise ValueError(f"duplicate attribute codes: {', '.join(duplicates)}")
        return attributes

    def attribute(self, code: str) -> CategoryAttribute | None:
        return next((a for a in self.attributes if a.code == code), None)
