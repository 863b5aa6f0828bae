"""fastcopy: copy.deepcopy, copy.copy and copy.replace in C, with the
standard library's exact semantics.

>>> import fastcopy
>>> fastcopy.deepcopy({"a": [1, 2]})
{'a': [1, 2]}
"""

from copy import Error

import sys as _sys

from ._fastcopy import (
    MAX_DEPTH,
    Template,
    copy,
    deepcopy,
    deepcopy_dict_c,
    deepcopy_list_c,
    deepcopy_tuple_c,
)
from ._patch import is_patched, patch, patch_mode, patched, unpatch


def replicate(obj, n):
    """Return a list of ``n`` deep copies of ``obj`` (as it is now).

    ``Template(obj).replicate(n)``: the object graph is described once and
    every copy is rebuilt from that description.
    """
    return Template(obj).replicate(n)


if _sys.version_info >= (3, 13):
    from ._fastcopy import replace
else:  # the 3.13 __replace__ protocol, offered on older versions too
    from ._replace_compat import replace

__all__ = [
    "Error",
    "Template",
    "copy",
    "deepcopy",
    "deepcopy_dict_c",
    "deepcopy_list_c",
    "deepcopy_tuple_c",
    "is_patched",
    "patch",
    "patch_mode",
    "patched",
    "replace",
    "replicate",
    "unpatch",
]
__version__ = "0.1.0"
