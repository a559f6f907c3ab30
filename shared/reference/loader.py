"""Load and validate the reference data files in ``deploy/config`` at start-up.

The YAML is composed into nodes, not just parsed, so that every value keeps its line number:
a problem is reported as ``path/to/file.yaml:LINE: field.path: reason``. All problems found
in one load are collected; the raised :class:`ReferenceDataError` describes the first one and
lists every one in ``problems``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.nodes import Node as YamlNode

from .models import (
    SLUG_PATTERN,
    Category,
    Department,
    Group,
    Level,
    LocalizedName,
    Location,
    Node,
)
from .tree import Tree

CONFIG_DIR_ENV = "LINLI_CONFIG_DIR"
TREE_FILE = "tree.yaml"
DEPARTMENTS_FILE = "departments.yaml"
CATEGORIES_FILE = "categories.yaml"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_MAX_LISTED = 50
M = TypeVar("M", bound=BaseModel)


def default_config_dir() -> Path:
    """``$LINLI_CONFIG_DIR`` if set, else ``<repo>/deploy/config``."""
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "deploy" / "config"


# -- errors -------------------------------------------------------------------------------------
class ReferenceDataError(Exception):
    """Invalid reference data: ``file:line: field: reason``.

    ``file``, ``line`` (1-based; None when not about a line), ``field`` (a path such as
    ``categories[3].attributes[0].values``; empty for the whole file) and ``reason`` describe
    the first problem; ``problems`` holds every problem found, the first included.
    """

    def __init__(
        self,
        file: str | Path,
        line: int | None,
        field: str,
        reason: str,
        problems: tuple[ReferenceDataError, ...] = (),
    ) -> None:
        self.file = str(file)
        self.line = line
        self.field = field
        self.reason = reason
        self.problems: tuple[ReferenceDataError, ...] = problems or (self,)
        message = self.location
        if len(self.problems) > 1:
            shown = "\n".join(f"  {p.location}" for p in self.problems[:_MAX_LISTED])
            more = len(self.problems) - _MAX_LISTED
            tail = f"\n  ... and {more} more" if more > 0 else ""
            message += f"\n{len(self.problems)} problems in reference data:\n{shown}{tail}"
        super().__init__(message)

    @property
    def location(self) -> str:
        """The one-line form ``file:line: field: reason``."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


class _Problems:
    """Collects problems across files; ``raise_if_any`` raises them as one error."""

    def __init__(self) -> None:
        self.items: list[ReferenceDataError] = []

    def add(self, file: Path, line: int | None, field: str, reason: str) -> None:
        self.items.append(ReferenceDataError(file, line, field, reason))

    def raise_if_any(self) -> None:
        if self.items:
            first = self.items[0]
            raise ReferenceDataError(
                first.file, first.line, first.field, first.reason, tuple(self.items)
            )


# -- YAML with line numbers ---------------------------------------------------------------------
class _Map(dict):
    """A YAML mapping that remembers its line and the line of every key (1-based)."""

    __slots__ = ("key_lines", "line")


class _Seq(list):
    """A YAML sequence that remembers its line and the line of every item (1-based)."""

    __slots__ = ("item_lines", "line")


class _File:
    """One YAML file being loaded: its path, composed data and the problem collector."""

    def __init__(self, path: Path, problems: _Problems) -> None:
        self.path = path
        self.problems = problems
        self._constructor = SafeConstructor()

    def read(self) -> Any:
        """The file's data as _Map/_Seq/scalars, or None after reporting a problem."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.problems.add(self.path, None, "", "file not found")
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.add(self.path, None, "", f"cannot read file: {exc}")
            return None
        try:
            root = yaml.compose(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            reason = " ".join(str(p) for p in (exc.context, exc.problem) if p)
            self.problems.add(self.path, line, "", f"invalid YAML: {reason}")
            return None
        except yaml.YAMLError as exc:
            self.problems.add(self.path, None, "", f"invalid YAML: {exc}")
            return None
        if root is None:
            self.problems.add(self.path, 1, "", "the file is empty")
            return None
        try:
            return self._convert(root, ())
        except _Abort:
            return None

    def _convert(self, node: YamlNode, path: tuple[str | int, ...]) -> Any:
        line = node.start_mark.line + 1
        if isinstance(node, ScalarNode):
            if node.tag == _STR_TAG:
                return node.value
            try:
                return self._constructor.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                self.problems.add(self.path, line, _render(path), f"invalid value: {exc}")
                raise _Abort from exc
        if isinstance(node, SequenceNode):
            seq = _Seq()
            seq.line = line
            seq.item_lines = []
            for index, item in enumerate(node.value):
                seq.append(self._convert(item, (*path, index)))
                seq.item_lines.append(item.start_mark.line + 1)
            return seq
        if isinstance(node, MappingNode):
            mapping = _Map()
            mapping.line = line
            mapping.key_lines = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                key = self._convert(key_node, path)
                if not isinstance(key, str):
                    self.problems.add(
                        self.path, key_line, _render(path), f"keys must be text, got {key!r}"
                    )
                    raise _Abort
                if key in mapping:
                    self.problems.add(
                        self.path,
                        key_line,
                        _render((*path, key)),
                        f"duplicate key (first at line {mapping.key_lines[key]})",
                    )
                    continue
                mapping[key] = self._convert(value_node, (*path, key))
                mapping.key_lines[key] = key_line
            return mapping
        raise _Abort  # pragma: no cover - compose yields only the three node kinds

    # -- reporting helpers ------------------------------------------------------------------
    def add(self, data: Any, path: tuple[str | int, ...], field: str | int, reason: str) -> None:
        """Report ``reason`` about key or index ``field`` of ``data`` (found at ``path``)."""
        self.problems.add(self.path, _line_of(data, field), _render((*path, field)), reason)

    def add_at(self, data: Any, path: tuple[str | int, ...], reason: str) -> None:
        """Report ``reason`` about ``data`` itself (found at ``path``)."""
        self.problems.add(self.path, getattr(data, "line", None), _render(path), reason)

    def validate(self, model: type[M], data: Any, path: tuple[str | int, ...]) -> M | None:
        """``model`` validated from ``data``, or None after reporting every error."""
        if not isinstance(data, dict):
            self.add_at(data, path, f"expected a mapping, got {_describe(data)}")
            return None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            found = []
            for error in exc.errors(include_url=False, include_context=False):
                line, complete = _walk(data, error["loc"])
                found.append((line or 0, _render((*path, *error["loc"])), error, complete))
            for line, field, error, complete in sorted(found, key=lambda f: f[0]):
                self.problems.add(self.path, line or None, field, _reason(error, complete))
            return None


class _Abort(Exception):
    """The file cannot be converted further; the problem has been recorded."""


def _walk(data: Any, loc: tuple[str | int, ...]) -> tuple[int | None, bool]:
    """The line of the deepest part of ``loc`` present in ``data``, and whether all was."""
    line = getattr(data, "line", None)
    current = data
    for part in loc:
        if isinstance(current, _Map) and part in current:
            line, current = current.key_lines[part], current[part]
        elif isinstance(current, _Seq) and isinstance(part, int) and 0 <= part < len(current):
            line, current = current.item_lines[part], current[part]
        else:
            return line, False
    return line, True


def _line_of(data: Any, field: str | int) -> int | None:
    line, _ = _walk(data, (field,))
    return line


def _render(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"text {value!r}"
    return f"{type(value).__name__} {value!r}"


def _reason(error: Any, found: bool) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if found and kind not in {"value_error", "assertion_error"}:
        message += f" (got {_describe(error['input'])})"
    return message


# -- file schemas -------------------------------------------------------------------------------
class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _TreeFile(_Spec):
    version: Literal[1]
    nodes: list[Any]


class _NodeSpec(_Spec):
    id: str
    level: Level
    name: LocalizedName
    aliases: list[str] = []
    address: str | None = Field(default=None, min_length=1)
    location: Location | None = None
    has_property_company: StrictBool | None = None
    buildings: StrictInt | None = Field(default=None, ge=0, le=999)
    children: list[Any] = []


class _DepartmentsFile(_Spec):
    version: Literal[1]
    departments: list[Any]


class _CategoriesFile(_Spec):
    version: Literal[1]
    groups: list[Any]
    categories: list[Any]


_SEGMENT = re.compile(SLUG_PATTERN)


# -- tree ---------------------------------------------------------------------------------------
class _TreeBuilder:
    def __init__(self, file: _File) -> None:
        self.file = file
        self.nodes: list[Node] = []
        self.lines: dict[str, int | None] = {}

    def build(self, data: Any) -> None:
        spec = self.file.validate(_TreeFile, data, ())
        if spec is None:
            return
        roots = data["nodes"]
        if not roots:
            self.file.add(data, (), "nodes", "the tree needs one root node (the district)")
            return
        if len(roots) > 1:
            self.file.add(
                roots,
                ("nodes",),
                1,
                f"exactly one root node (the district) is allowed, found {len(roots)}",
            )
        self.node(roots[0], ("nodes", 0), None)

    def node(self, data: Any, path: tuple[str | int, ...], parent: Node | None) -> None:
        spec = self.file.validate(_NodeSpec, data, path)
        if spec is None:
            return
        id_ok = self._id_ok(spec, data, path, parent)
        if not (self._level_ok(spec, data, path, parent) and id_ok):
            return
        ancestors = () if parent is None else (*parent.ancestors, parent.id)
        node = Node(
            id=spec.id,
            level=spec.level,
            name=spec.name,
            parent_id=None if parent is None else parent.id,
            ancestors=ancestors,
            address=spec.address,
            location=spec.location,
            has_property_company=spec.has_property_company,
            aliases=tuple(spec.aliases),
        )
        self.nodes.append(node)
        self.lines[node.id] = _line_of(data, "id")
        if spec.buildings:
            self.expand_buildings(node, data, path, spec.buildings)
        children = data.get("children", [])
        for index, child in enumerate(children):
            self.node(child, (*path, "children", index), node)

    def _id_ok(self, spec: _NodeSpec, data: Any, path: tuple, parent: Node | None) -> bool:
        """The id is a dotted path of slugs under its parent's, and not taken (each mistake
        is recorded)."""
        file = self.file
        ok = True
        segments = spec.id.split(".")
        if not all(_SEGMENT.match(s) for s in segments):
            file.add(data, path, "id", f"{spec.id!r} is not a dotted path of slugs [a-z0-9-]")
            ok = False
        elif parent is None and len(segments) != 1:
            file.add(data, path, "id", f"the root id {spec.id!r} must be a single slug")
            ok = False
        elif parent is not None and (
            not spec.id.startswith(parent.id + ".") or len(segments) != parent.depth + 2
        ):
            file.add(
                data,
                path,
                "id",
                f"{spec.id!r} must be its parent's id {parent.id!r} plus '.' and one slug",
            )
            ok = False
        if spec.id in self.lines:
            first = self.lines[spec.id]
            file.add(data, path, "id", f"duplicate id {spec.id!r} (first at line {first})")
            ok = False
        return ok

    def _level_ok(self, spec: _NodeSpec, data: Any, path: tuple, parent: Node | None) -> bool:
        """The level is the parent's child level, with that level's fields (each mistake is
        recorded)."""
        file = self.file
        expected = Level.DISTRICT if parent is None else parent.level.child
        if spec.level is not expected:
            # (the level-specific checks would only repeat this mistake)
            where = "the root" if parent is None else f"a child of {parent.level} {parent.id!r}"
            file.add(data, path, "level", f"{where} must be a {expected}, not a {spec.level}")
            return False
        ok = True
        if spec.level is Level.COMPOUND:
            for field in ("address", "location", "has_property_company"):
                if getattr(spec, field) is None:
                    file.add(data, path, field, "required for a compound")
                    ok = False
            return ok
        if spec.buildings is not None:
            file.add(data, path, "buildings", "only compounds take `buildings: N`")
            ok = False
        if spec.has_property_company is not None and spec.level is not Level.BUILDING:
            reason = "only compounds and buildings have a property company"
            file.add(data, path, "has_property_company", reason)
            ok = False
        if spec.level is Level.BUILDING and spec.children:
            file.add(data, path, "children", "a building cannot have children")
            ok = False
        return ok

    def expand_buildings(self, compound: Node, data: Any, path: tuple, count: int) -> None:
        line = _line_of(data, "buildings")
        width = max(2, len(str(count)))
        ancestors = (*compound.ancestors, compound.id)
        for number in range(1, count + 1):
            node_id = f"{compound.id}.b{number:0{width}d}"
            if node_id in self.lines:
                self.file.add(data, path, "buildings", f"duplicate id {node_id!r}")
                continue
            zh = f"{number}号楼"
            self.nodes.append(
                Node(
                    id=node_id,
                    level=Level.BUILDING,
                    name=LocalizedName(zh_CN=zh, en=f"Building {number}"),
                    parent_id=compound.id,
                    ancestors=ancestors,
                    address=f"{compound.address}{zh}" if compound.address else None,
                    location=compound.location,
                    has_property_company=compound.has_property_company,
                )
            )
            self.lines[node_id] = line


def _load_tree(path: Path, problems: _Problems) -> Tree | None:
    file = _File(path, problems)
    data = file.read()
    if data is None:
        return None
    before = len(problems.items)
    builder = _TreeBuilder(file)
    builder.build(data)
    if len(problems.items) > before or not builder.nodes:
        return None
    return Tree(builder.nodes)


# -- departments and categories -----------------------------------------------------------------
def _load_items(
    file: _File, data: Any, key: str, model: type[M]
) -> dict[str, tuple[M, tuple[str, int], Any]]:
    """The entries of list ``key`` validated as ``model``, keyed by code, with their path
    and raw mapping; duplicates are reported and left out."""
    out: dict[str, tuple[M, tuple[str, int], Any]] = {}
    for index, item in enumerate(data[key]):
        path = (key, index)
        entry = file.validate(model, item, path)
        if entry is None:
            continue
        code = entry.code  # type: ignore[attr-defined]
        if code in out:
            first = _line_of(out[code][2], "code")
            file.add(item, path, "code", f"duplicate code {code!r} (first at line {first})")
            continue
        out[code] = (entry, path, item)
    return out


def _load_departments(path: Path, problems: _Problems) -> dict[str, Department] | None:
    file = _File(path, problems)
    data = file.read()
    if data is None or file.validate(_DepartmentsFile, data, ()) is None:
        return None
    before = len(problems.items)
    departments = _load_items(file, data, "departments", Department)
    if len(problems.items) > before:
        return None
    return {code: entry for code, (entry, _, _) in departments.items()}


def _load_categories(
    path: Path, problems: _Problems, departments: Mapping[str, Department] | None
) -> tuple[dict[str, Group], dict[str, Category]] | None:
    """Groups and categories; with ``departments`` None (they failed) that check is skipped."""
    file = _File(path, problems)
    data = file.read()
    if data is None or file.validate(_CategoriesFile, data, ()) is None:
        return None
    before = len(problems.items)
    groups = _load_items(file, data, "groups", Group)
    categories = _load_items(file, data, "categories", Category)
    for category, item_path, item in categories.values():
        if category.group not in groups:
            file.add(item, item_path, "group", f"unknown group {category.group!r}")
        if departments is not None and category.department not in departments:
            reason = f"unknown department {category.department!r} (not in {DEPARTMENTS_FILE})"
            file.add(item, item_path, "department", reason)
    if len(problems.items) > before:
        return None
    return (
        {code: entry for code, (entry, _, _) in groups.items()},
        {code: entry for code, (entry, _, _) in categories.items()},
    )


# -- public API ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Reference:
    """All reference data: the tree, the category catalogue and the departments."""

    tree: Tree
    categories: dict[str, Category]
    groups: dict[str, Group]
    departments: dict[str, Department]
    config_dir: Path

    def categories_in_group(self, group: str) -> tuple[Category, ...]:
        return tuple(c for c in self.categories.values() if c.group == group)

    def department_of(self, category: str) -> Department:
        """The department that owns a category. KeyError for an unknown category."""
        return self.departments[self.categories[category].department]


def load_tree(path: str | Path) -> Tree:
    """Load and validate one tree file. Raises :class:`ReferenceDataError`."""
    problems = _Problems()
    tree = _load_tree(Path(path), problems)
    problems.raise_if_any()
    assert tree is not None
    return tree


def load_departments(path: str | Path) -> dict[str, Department]:
    """Load and validate one departments file. Raises :class:`ReferenceDataError`."""
    problems = _Problems()
    departments = _load_departments(Path(path), problems)
    problems.raise_if_any()
    assert departments is not None
    return departments


def load_categories(
    path: str | Path, departments: Mapping[str, Department]
) -> tuple[dict[str, Group], dict[str, Category]]:
    """Load one categories file, checked against ``departments``: (groups, categories)."""
    problems = _Problems()
    loaded = _load_categories(Path(path), problems, departments)
    problems.raise_if_any()
    assert loaded is not None
    return loaded


def load_reference(config_dir: str | Path | None = None) -> Reference:
    """Load ``tree.yaml``, ``departments.yaml`` and ``categories.yaml`` from ``config_dir``.

    ``config_dir`` defaults to ``$LINLI_CONFIG_DIR``, else ``<repo>/deploy/config``. Every
    file is checked before anything is raised, so one :class:`ReferenceDataError` lists all
    the problems (``.problems``) and its message starts with the first.
    """
    directory = Path(config_dir) if config_dir is not None else default_config_dir()
    problems = _Problems()
    tree = _load_tree(directory / TREE_FILE, problems)
    departments = _load_departments(directory / DEPARTMENTS_FILE, problems)
    catalogue = _load_categories(directory / CATEGORIES_FILE, problems, departments)
    problems.raise_if_any()
    assert tree is not None and departments is not None and catalogue is not None
    groups, categories = catalogue
    return Reference(
        tree=tree,
        categories=categories,
        groups=groups,
        departments=departments,
        config_dir=directory,
    )
