"""Reference data shared by intake and dispatch: the organisation tree 区-街-社-院-楼, the
departments and the category catalogue, loaded from ``deploy/config/*.yaml`` at start-up.

>>> ref = load_reference()  # $LINLI_CONFIG_DIR or <repo>/deploy/config
>>> ref.tree.find_by_name("红旗小区").id
'sz.tongjiang.niuerqiao.hongqi'
"""

from .loader import (
    CATEGORIES_FILE,
    CONFIG_DIR_ENV,
    DEPARTMENTS_FILE,
    TREE_FILE,
    Reference,
    ReferenceDataError,
    default_config_dir,
    load_categories,
    load_departments,
    load_reference,
    load_tree,
)
from .models import (
    LEVELS,
    LIST_DATATYPES,
    AttributeValue,
    Category,
    CategoryAttribute,
    CategoryKind,
    Datatype,
    Department,
    DepartmentKind,
    Group,
    Keywords,
    Level,
    LocalizedName,
    LocalizedText,
    Location,
    Node,
    Open311Type,
    Priority,
)
from .tree import Tree, haversine_km

__all__ = [
    "CATEGORIES_FILE",
    "CONFIG_DIR_ENV",
    "DEPARTMENTS_FILE",
    "LEVELS",
    "LIST_DATATYPES",
    "TREE_FILE",
    "AttributeValue",
    "Category",
    "CategoryAttribute",
    "CategoryKind",
    "Datatype",
    "Department",
    "DepartmentKind",
    "Group",
    "Keywords",
    "Level",
    "LocalizedName",
    "LocalizedText",
    "Location",
    "Node",
    "Open311Type",
    "Priority",
    "Reference",
    "ReferenceDataError",
    "Tree",
    "default_config_dir",
    "haversine_km",
    "load_categories",
    "load_departments",
    "load_reference",
    "load_tree",
]
