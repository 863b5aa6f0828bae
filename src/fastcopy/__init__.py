"""fastcopy: copy.deepcopy, copy.copy and copy.replace in C, with the
standard library's exact semantics.

>>> import fastcopy
>>> fastcopy.deepcopy({"a": [1, 2]})
{'a': [1, 2]}
"""

from copy import Error

from ._fastcopy import MAX_DEPTH, copy, deepcopy, replace

__all__ = ["Error", "copy", "deepcopy", "replace"]
__version__ = "0.1.0"
