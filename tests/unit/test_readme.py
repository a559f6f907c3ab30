import pytest

from services.ops.cli.main import settings_markdown
from shared.settings import REPO_ROOT

pytestmark = pytest.mark.unit


def test_the_readme_configuration_table_is_current():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_markdown() in readme, "paste `linli config --markdown` into README.md"
