"""The queue's place picker: rendered once per scope, language and chosen place, and never
one scope's places shown to another."""

from __future__ import annotations

import httpx
import pytest

from services.web.backends import Backends
from services.web.cases_http import PlacePicker
from services.web.pages import Pages
from shared.reference import load_reference
from shared.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def pages() -> Pages:
    reference = load_reference(Settings().config_dir)
    return Pages(None, Backends(httpx.AsyncClient(), {}), reference, secure_cookie=False)  # type: ignore[arg-type]


def test_the_picker_lists_the_scope_and_marks_the_chosen_place(pages: Pages):
    picker = PlacePicker(pages)
    street, community = "sz.tongjiang", "sz.tongjiang.niuerqiao"
    html = picker.options(street, "zh-CN", community)
    ids = [n.id for n in pages.places_within(street)]
    assert html.count("<option ") == len(ids) and f'value="{community}" selected>' in html
    assert html.count(" selected") == 1
    assert picker.options(street, "zh-CN", community) is html  # kept, not rendered again
    english = picker.options(street, "en", "")
    assert " selected" not in english and english != html
    other = picker.options(community, "zh-CN", "")
    assert 'value="sz.tongjiang.haitang' not in other  # a community sees only its subtree
    assert picker.options(street, "zh-CN", "<script>") is picker.options(street, "zh-CN", "")


def test_the_picker_keeps_a_bounded_number(pages: Pages):
    picker = PlacePicker(pages, kept=2)
    first = picker.options("sz.tongjiang", "zh-CN", "")
    picker.options("sz.tongjiang", "en", "")
    picker.options("sz", "zh-CN", "")
    assert len(picker._html) == 2
    assert picker.options("sz.tongjiang", "zh-CN", "") is not first  # dropped, drawn again
