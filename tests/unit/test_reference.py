"""Reference data: the shipped files load, the tree answers look-ups, and broken files are
reported as ``file:line: field: reason``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shared.reference import (
    Level,
    Reference,
    ReferenceDataError,
    Tree,
    default_config_dir,
    haversine_km,
    load_categories,
    load_departments,
    load_reference,
    load_tree,
)

pytestmark = pytest.mark.unit

PROBLEM_GROUPS = {
    "utilities",
    "drainage",
    "sanitation",
    "lighting",
    "cabling-facilities",
    "security",
}
HONGQI = "sz.tongjiang.niuerqiao.hongqi"


@pytest.fixture(scope="module")
def ref() -> Reference:
    return load_reference()


@pytest.fixture(scope="module")
def tree(ref: Reference) -> Tree:
    return ref.tree


# -- the shipped files --------------------------------------------------------------------------
def test_default_config_dir_is_repo_deploy_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINLI_CONFIG_DIR", raising=False)
    config = default_config_dir()
    assert config == Path(__file__).resolve().parents[2] / "deploy" / "config"
    assert (config / "tree.yaml").is_file()


def test_tree_counts_match_the_article(tree: Tree) -> None:
    counts = tree.counts()
    assert counts[Level.DISTRICT] == 1
    assert counts[Level.STREET] == 5
    assert counts[Level.COMMUNITY] == 55
    assert counts[Level.COMPOUND] == 181
    assert counts[Level.BUILDING] >= 1000
    assert len(tree) == sum(counts.values())
    assert tree.root.id == "sz"
    assert tree.root.name.zh_CN == "市中区"


def test_article_place_names_are_in_the_tree(tree: Tree) -> None:
    names = {node.name.zh_CN for node in tree}
    for name in [
        "通江街道",
        "海棠街道",
        "牛咡桥社区",
        "茶坊社区",
        "府街社区",
        "柏杨社区",
        "肖坝社区",
        "高墩子社区",
        "县街社区",
        "红旗小区",
        "嘉定小院",
        "莱茵水岸小区",
        "百诺园小区",
    ]:
        assert name in names, name


def test_every_compound_has_address_location_and_property_flag(tree: Tree) -> None:
    for compound in tree.at_level(Level.COMPOUND):
        assert compound.address
        assert compound.location is not None
        assert abs(compound.location.lat - 29.55) < 0.06
        assert abs(compound.location.lon - 103.76) < 0.06
        assert compound.has_property_company is not None
        assert tree.children(compound.id), compound.id


def test_buildings_are_expanded(tree: Tree) -> None:
    buildings = tree.children(HONGQI)
    assert [b.id for b in buildings[:2]] == [f"{HONGQI}.b01", f"{HONGQI}.b02"]
    first = buildings[0]
    assert first.level is Level.BUILDING
    assert (first.name.zh_CN, first.name.en) == ("1号楼", "Building 1")
    assert first.parent_id == HONGQI
    assert first.ancestors == ("sz", "sz.tongjiang", "sz.tongjiang.niuerqiao", HONGQI)
    assert first.has_property_company is tree[HONGQI].has_property_company


def test_catalogue_counts_and_references(ref: Reference) -> None:
    assert len(ref.categories) >= 40
    assert set(ref.groups) >= PROBLEM_GROUPS
    problems = [c for c in ref.categories.values() if c.kind == "problem"]
    assert len(problems) >= 33
    assert {c.group for c in problems} == PROBLEM_GROUPS
    kinds = {c.kind for c in ref.categories.values()}
    assert kinds == {"problem", "service", "mediation"}
    for category in ref.categories.values():
        assert category.department in ref.departments, category.code
        assert category.group in ref.groups, category.code
        assert category.keywords.zh_CN and category.keywords.en, category.code
        for attribute in category.attributes:
            assert bool(attribute.values) == attribute.is_list


def test_catalogue_details(ref: Reference) -> None:
    gas = ref.categories["gas-leak"]
    assert gas.default_priority == "urgent"
    assert gas.notice is not None and "119" in gas.notice.zh_CN
    assert ref.department_of("gas-leak").code == "gas"
    assert ref.categories["business-licence-apply"].kind == "service"
    assert ref.categories["drug-tip"].open311_type == "blackbox"
    assert ref.departments["zhujian"].topic == "dept.zhujian.tasks"
    assert {"zhengfa", "zhujian", "huanwei", "hospital"} <= set(ref.departments)
    assert ref.categories_in_group("lighting")


def test_load_is_fast() -> None:
    best = min(_timed_load() for _ in range(2))
    assert best < 0.5


def _timed_load() -> float:
    start = time.perf_counter()
    load_reference()
    return time.perf_counter() - start


def test_config_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_valid_config(tmp_path)
    monkeypatch.setenv("LINLI_CONFIG_DIR", str(tmp_path))
    ref = load_reference()
    assert ref.config_dir == tmp_path
    assert len(ref.tree) == 1 + 1 + 1 + 1 + 3


# -- tree look-ups ------------------------------------------------------------------------------
def test_subtree_checks(tree: Tree) -> None:
    building = f"{HONGQI}.b01"
    assert tree.is_within(building, "sz")
    assert tree.is_within(building, "sz.tongjiang")
    assert tree.is_within(building, "sz.tongjiang.niuerqiao")
    assert tree.is_within(building, HONGQI)
    assert tree.is_within(HONGQI, HONGQI)
    assert not tree.is_within(building, "sz.haitang")
    assert not tree.is_within("sz.tongjiang", HONGQI)
    assert not tree.is_within("sz.nowhere", "sz")
    assert not tree.is_within(building, "sz.nowhere")
    assert not tree.is_within(f"{HONGQI}.b02", f"{HONGQI}.b01")


def test_children_ancestors_descendants(tree: Tree) -> None:
    streets = tree.children("sz")
    assert len(streets) == 5
    assert streets[0].id == "sz.tongjiang"
    assert [a.id for a in tree.ancestors(f"{HONGQI}.b01")] == [
        "sz",
        "sz.tongjiang",
        "sz.tongjiang.niuerqiao",
        HONGQI,
    ]
    assert tree.ancestors("sz") == ()
    assert tree.parent(HONGQI).id == "sz.tongjiang.niuerqiao"
    tongjiang = tree.descendants("sz.tongjiang")
    assert all(tree.is_within(n.id, "sz.tongjiang") for n in tongjiang)
    assert "sz.tongjiang" not in {n.id for n in tongjiang}
    communities = tree.descendants("sz.tongjiang", level="community")
    assert len(communities) == 11
    assert {n.level for n in communities} == {Level.COMMUNITY}
    assert len(tree.descendants("sz", Level.COMPOUND)) == 181
    assert tree.descendants(f"{HONGQI}.b01") == ()
    assert tree.ancestor_at(f"{HONGQI}.b01", "street").id == "sz.tongjiang"
    assert tree.ancestor_at("sz", "street") is None
    assert tree.get("sz.nowhere") is None
    with pytest.raises(KeyError):
        tree.children("sz.nowhere")
    assert tree.path_name(HONGQI) == "市中区 / 通江街道 / 牛咡桥社区 / 红旗小区"


def test_find_by_name(tree: Tree) -> None:
    assert tree.find_by_name("红旗小区").id == HONGQI
    assert tree.find_by_name(" hongqi compound ").id == HONGQI
    assert tree.find_by_name("嘉定小院").id == "sz.haitang.xianjie.jiading"
    # the former name still resolves, also typed with full-width digits
    assert tree.find_by_name("九龙巷62号").id == "sz.haitang.xianjie.jiading"
    assert tree.find_by_name("九龙巷６２号").id == "sz.haitang.xianjie.jiading"
    assert tree.find_by_name("牛咡桥社区") is None  # a community, not a compound
    assert tree.find_by_name("1号楼") is None
    assert tree.find_by_name("红旗") is None


def test_find_by_name_is_none_when_ambiguous(tmp_path: Path) -> None:
    text = MINI_TREE + _compound("sz.a.c1.y2", "一小区", "Compound 2")
    tree = load_tree(_write(tmp_path / "tree.yaml", text))
    assert tree.find_by_name("一小区") is None
    assert tree.find_by_name("Compound 2").id == "sz.a.c1.y2"


def test_nearest_compound(tree: Tree) -> None:
    hongqi = tree[HONGQI]
    assert hongqi.location is not None
    lat, lon = hongqi.location.lat, hongqi.location.lon
    assert tree.nearest_compound(lat, lon, max_km=0.5).id == HONGQI
    assert tree.nearest_compound(lat + 0.0002, lon - 0.0002, max_km=0.5).id == HONGQI
    assert tree.nearest_compound(30.66, 104.06, max_km=5) is None  # Chengdu
    jiading = tree.nearest_compound(29.5484, 103.7701, max_km=1)
    assert jiading is not None and jiading.name.zh_CN == "嘉定小院"


def test_haversine() -> None:
    assert haversine_km(29.0, 103.76, 30.0, 103.76) == pytest.approx(111.2, abs=0.2)
    assert haversine_km(29.55, 103.76, 29.55, 103.76) == 0


# -- error reporting ----------------------------------------------------------------------------
MINI_TREE = """\
version: 1
nodes:
  - id: sz
    level: district
    name: {zh-CN: 市中区, en: Shizhong District}
    children:
      - id: sz.a
        level: street
        name: {zh-CN: 甲街道, en: Street A}
        children:
          - id: sz.a.c1
            level: community
            name: {zh-CN: 一社区, en: Community 1}
            children:
              - id: sz.a.c1.y1
                level: compound
                name: {zh-CN: 一小区, en: Compound 1}
                address: 某路1号
                location: {lat: 29.55, lon: 103.76}
                has_property_company: true
                buildings: 3
"""
COMPOUND_PATH = "nodes[0].children[0].children[0].children"

MINI_DEPARTMENTS = """\
version: 1
departments:
  - code: water
    name: {zh-CN: 自来水公司, en: Water Supply Company}
    description: {zh-CN: 供水, en: Water supply}
  - code: police
    kind: department
    name: {zh-CN: 公安分局, en: Police}
    description: {zh-CN: 治安, en: Public order}
"""

MINI_CATEGORIES = """\
version: 1
groups:
  - code: utilities
    name: {zh-CN: 水电气管网, en: "Water, power and gas"}
categories:
  - code: water-pipe-burst
    name: {zh-CN: 供水管道爆裂, en: Burst water pipe}
    group: utilities
    kind: problem
    department: water
    default_priority: urgent
    open311_type: realtime
    anonymous_allowed: true
    keywords: {zh-CN: [爆管], en: [burst pipe]}
    attributes:
      - code: severity
        datatype: singlevaluelist
        required: true
        description: {zh-CN: 程度, en: Severity}
        values:
          - {key: seeping, name: {zh-CN: 渗漏, en: Seeping}}
"""


def _compound(node_id: str, zh: str, en: str) -> str:
    pad = " " * 14
    return (
        f"{pad}- id: {node_id}\n"
        f"{pad}  level: compound\n"
        f"{pad}  name: {{zh-CN: {zh}, en: {en}}}\n"
        f"{pad}  address: 某路2号\n"
        f"{pad}  location: {{lat: 29.56, lon: 103.77}}\n"
        f"{pad}  has_property_company: false\n"
        f"{pad}  buildings: 2\n"
    )


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _write_valid_config(directory: Path) -> None:
    _write(directory / "tree.yaml", MINI_TREE)
    _write(directory / "departments.yaml", MINI_DEPARTMENTS)
    _write(directory / "categories.yaml", MINI_CATEGORIES)


def _line(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the n-th line containing ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[occurrence - 1]


def _tree_error(tmp_path: Path, text: str) -> tuple[ReferenceDataError, Path]:
    path = _write(tmp_path / "tree.yaml", text)
    with pytest.raises(ReferenceDataError) as info:
        load_tree(path)
    return info.value, path


def _categories_error(tmp_path: Path, text: str) -> tuple[ReferenceDataError, Path]:
    departments = load_departments(_write(tmp_path / "departments.yaml", MINI_DEPARTMENTS))
    path = _write(tmp_path / "categories.yaml", text)
    with pytest.raises(ReferenceDataError) as info:
        load_categories(path, departments)
    return info.value, path


def _assert_error(
    error: ReferenceDataError, path: Path, line: int, field: str, reason: str
) -> None:
    assert error.file == str(path)
    assert error.line == line
    assert error.field == field
    assert reason in error.reason
    assert str(error).startswith(f"{path}:{line}: {field}: ")


def test_mini_files_are_valid(tmp_path: Path) -> None:
    _write_valid_config(tmp_path)
    ref = load_reference(tmp_path)
    assert [n.id for n in ref.tree.descendants("sz", "building")] == [
        "sz.a.c1.y1.b01",
        "sz.a.c1.y1.b02",
        "sz.a.c1.y1.b03",
    ]
    assert ref.departments["water"].kind == "department"  # the default
    assert ref.categories["water-pipe-burst"].attributes[0].values[0].key == "seeping"


def test_duplicate_id(tmp_path: Path) -> None:
    text = MINI_TREE + _compound("sz.a.c1.y1", "二小区", "Compound 2")
    error, path = _tree_error(tmp_path, text)
    line = _line(text, "- id: sz.a.c1.y1", occurrence=2)
    _assert_error(error, path, line, f"{COMPOUND_PATH}[1].id", "duplicate id 'sz.a.c1.y1'")
    assert f"first at line {_line(text, '- id: sz.a.c1.y1')}" in error.reason


def test_duplicate_id_of_a_generated_building(tmp_path: Path) -> None:
    text = MINI_TREE.replace("buildings: 3\n", "buildings: 3\n                children:\n")
    text += (
        "                  - id: sz.a.c1.y1.b02\n"
        "                    level: building\n"
        "                    name: {zh-CN: 二号楼, en: Block 2}\n"
    )
    error, path = _tree_error(tmp_path, text)
    line = _line(text, "- id: sz.a.c1.y1.b02")
    _assert_error(error, path, line, f"{COMPOUND_PATH}[0].children[0].id", "duplicate id")


def test_bad_level_order(tmp_path: Path) -> None:
    # a compound directly under a street: levels may not be skipped
    text = MINI_TREE.replace("level: community", "level: compound")
    error, path = _tree_error(tmp_path, text)
    line = _line(text, "level: compound")
    field = "nodes[0].children[0].children[0].level"
    _assert_error(error, path, line, field, "must be a community, not a compound")


def test_unknown_level(tmp_path: Path) -> None:
    text = MINI_TREE.replace("level: street", "level: town")
    error, path = _tree_error(tmp_path, text)
    _assert_error(error, path, _line(text, "level: town"), "nodes[0].children[0].level", "'street'")


def test_child_id_must_extend_parent_id(tmp_path: Path) -> None:
    text = MINI_TREE.replace("- id: sz.a.c1.y1", "- id: sz.b.c1.y1")
    error, path = _tree_error(tmp_path, text)
    line = _line(text, "- id: sz.b.c1.y1")
    _assert_error(error, path, line, f"{COMPOUND_PATH}[0].id", "parent's id 'sz.a.c1'")


def test_exactly_one_root(tmp_path: Path) -> None:
    text = MINI_TREE + (
        "  - id: other\n    level: district\n    name: {zh-CN: 别区, en: Other District}\n"
    )
    error, path = _tree_error(tmp_path, text)
    _assert_error(error, path, _line(text, "- id: other"), "nodes[1]", "exactly one root")


def test_missing_field_in_tree(tmp_path: Path) -> None:
    text = MINI_TREE.replace("                location: {lat: 29.55, lon: 103.76}\n", "")
    error, path = _tree_error(tmp_path, text)
    line = _line(text, "- id: sz.a.c1.y1")
    field = f"{COMPOUND_PATH}[0].location"
    _assert_error(error, path, line, field, "required for a compound")


def test_missing_localized_name(tmp_path: Path) -> None:
    text = MINI_TREE.replace("{zh-CN: 甲街道, en: Street A}", "{zh-CN: 甲街道}")
    error, path = _tree_error(tmp_path, text)
    line = _line(text, "{zh-CN: 甲街道}")
    _assert_error(error, path, line, "nodes[0].children[0].name.en", "required field")


def test_wrong_types_in_tree(tmp_path: Path) -> None:
    text = MINI_TREE.replace("has_property_company: true", 'has_property_company: "yes"')
    text = text.replace("buildings: 3", "buildings: many")
    text = text.replace("lat: 29.55", "lat: north")
    error, path = _tree_error(tmp_path, text)
    fields = {(p.line, p.field) for p in error.problems}
    assert fields == {
        (_line(text, "has_property_company"), f"{COMPOUND_PATH}[0].has_property_company"),
        (_line(text, "buildings: many"), f"{COMPOUND_PATH}[0].buildings"),
        (_line(text, "lat: north"), f"{COMPOUND_PATH}[0].location.lat"),
    }
    assert all(p.file == str(path) for p in error.problems)
    assert error.line == _line(text, "lat: north")  # problems are in line order
    assert "valid number" in error.reason
    assert f"{path}:{_line(text, 'buildings: many')}: {COMPOUND_PATH}[0].buildings" in str(error)


def test_unknown_field_is_reported(tmp_path: Path) -> None:
    text = MINI_TREE.replace("has_property_company: true", "has_property_compnay: true")
    error, _ = _tree_error(tmp_path, text)
    fields = {(p.line, p.field, p.reason) for p in error.problems}
    assert (
        _line(text, "has_property_compnay"),
        f"{COMPOUND_PATH}[0].has_property_compnay",
        "unknown field",
    ) in fields


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = MINI_TREE.replace("level: street\n", "level: street\n        level: street\n")
    error, path = _tree_error(tmp_path, text)
    line = _line(text, "level: street", occurrence=2)
    _assert_error(error, path, line, "nodes[0].children[0].level", "duplicate key")


def test_yaml_syntax_error(tmp_path: Path) -> None:
    text = MINI_TREE.replace(
        "{zh-CN: 一社区, en: Community 1}", "{zh-CN: 一社区, en: [Community 1}"
    )
    error, path = _tree_error(tmp_path, text)
    assert error.file == str(path)
    assert error.line == _line(text, "[Community 1}")
    assert "invalid YAML" in error.reason


def test_unknown_department(tmp_path: Path) -> None:
    text = MINI_CATEGORIES.replace("department: water", "department: plumbing")
    error, path = _categories_error(tmp_path, text)
    line = _line(text, "department: plumbing")
    _assert_error(error, path, line, "categories[0].department", "unknown department 'plumbing'")


def test_unknown_group(tmp_path: Path) -> None:
    text = MINI_CATEGORIES.replace("group: utilities", "group: weather")
    error, path = _categories_error(tmp_path, text)
    _assert_error(
        error, path, _line(text, "group: weather"), "categories[0].group", "unknown group"
    )


def test_missing_field_in_category(tmp_path: Path) -> None:
    text = MINI_CATEGORIES.replace("    department: water\n", "")
    error, path = _categories_error(tmp_path, text)
    line = _line(text, "- code: water-pipe-burst")
    _assert_error(error, path, line, "categories[0].department", "required field is missing")


def test_wrong_type_in_category(tmp_path: Path) -> None:
    text = MINI_CATEGORIES.replace("anonymous_allowed: true", "anonymous_allowed: sometimes")
    error, path = _categories_error(tmp_path, text)
    line = _line(text, "anonymous_allowed")
    _assert_error(error, path, line, "categories[0].anonymous_allowed", "valid boolean")


def test_list_attribute_needs_values(tmp_path: Path) -> None:
    cut = MINI_CATEGORIES.index("        values:")
    text = MINI_CATEGORIES[:cut]
    error, path = _categories_error(tmp_path, text)
    line = _line(text, "- code: severity")
    _assert_error(error, path, line, "categories[0].attributes[0].values", "non-empty list")


def test_bad_attribute_datatype(tmp_path: Path) -> None:
    text = MINI_CATEGORIES.replace("datatype: singlevaluelist", "datatype: boolean")
    error, path = _categories_error(tmp_path, text)
    line = _line(text, "datatype: boolean")
    _assert_error(error, path, line, "categories[0].attributes[0].datatype", "'string'")


def test_duplicate_department_code(tmp_path: Path) -> None:
    text = MINI_DEPARTMENTS.replace("code: police", "code: water")
    path = _write(tmp_path / "departments.yaml", text)
    with pytest.raises(ReferenceDataError) as info:
        load_departments(path)
    line = _line(text, "code: water", occurrence=2)
    _assert_error(info.value, path, line, "departments[1].code", "duplicate code 'water'")


def test_all_files_are_checked_before_raising(tmp_path: Path) -> None:
    _write_valid_config(tmp_path)
    tree_text = MINI_TREE.replace("level: street", "level: town")
    _write(tmp_path / "tree.yaml", tree_text)
    categories_text = MINI_CATEGORIES.replace("department: water", "department: plumbing")
    _write(tmp_path / "categories.yaml", categories_text)
    with pytest.raises(ReferenceDataError) as info:
        load_reference(tmp_path)
    error = info.value
    assert error.file == str(tmp_path / "tree.yaml")
    assert [(Path(p.file).name, p.line) for p in error.problems] == [
        ("tree.yaml", _line(tree_text, "level: town")),
        ("categories.yaml", _line(categories_text, "department: plumbing")),
    ]
    assert "2 problems" in str(error)


def test_missing_file(tmp_path: Path) -> None:
    _write_valid_config(tmp_path)
    (tmp_path / "departments.yaml").unlink()
    with pytest.raises(ReferenceDataError) as info:
        load_reference(tmp_path)
    assert info.value.file == str(tmp_path / "departments.yaml")
    assert info.value.line is None
    assert "file not found" in str(info.value)
