import pytest

from services.dispatch.domain import OwnerRule, RoutingError, RoutingTable, route
from services.dispatch.rule_files import RoutingConfigError, load_routing
from shared.reference import load_reference
from shared.settings import Settings

pytestmark = pytest.mark.unit
PATH = (
    ("sz", "district"),
    ("sz.tongjiang", "street"),
    ("sz.tongjiang.niuerqiao", "community"),
    ("sz.tongjiang.niuerqiao.hongqi", "compound"),
)


def _route(table, category="streetlight-out", group="lighting"):
    return route(
        category=category,
        group=group,
        category_department="urban-mgmt",
        node_path=PATH,
        table=table,
    )


def test_the_category_department_owns_by_default():
    table = RoutingTable((OwnerRule(department="category"),))
    assignment = _route(table)
    assert (assignment.owner_kind, assignment.owner_code) == ("department", "urban-mgmt")


def test_first_matching_rule_wins_and_offices_are_found_up_the_tree():
    table = RoutingTable(
        (
            OwnerRule(groups=frozenset({"mediation"}), office_level="community"),
            OwnerRule(department="category"),
        )
    )
    assignment = _route(table, "neighbour-noise", "mediation")
    assert (assignment.owner_kind, assignment.owner_code) == ("office", "sz.tongjiang.niuerqiao")


def test_an_office_level_missing_above_the_place_is_an_error():
    table = RoutingTable((OwnerRule(office_level="compound"),))
    with pytest.raises(RoutingError):
        route(
            category="c",
            group="g",
            category_department="d",
            node_path=PATH[:2],
            table=table,
        )


def test_the_shipped_routing_table_loads_and_routes_every_category():
    ref = load_reference()
    table = load_routing(Settings().config_dir / "routing.yaml", set(ref.departments))
    for category in ref.categories.values():
        assignment = _route(table, category.code, category.group)
        assert assignment.owner_code


def test_routing_errors_name_the_rule(tmp_path):
    bad = tmp_path / "routing.yaml"
    bad.write_text("rules:\n  - owner: {department: nobody}\n")
    with pytest.raises(RoutingConfigError, match=r"rules\[0\].owner.department"):
        load_routing(bad, {"urban-mgmt"})
