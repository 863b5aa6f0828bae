"""Build script for the fastcopy C extension.

Environment switches (all off by default):

FASTCOPY_DEBUG=1     compile with C asserts and the memo table's internal
                     consistency checks turned on (-O0 -g, no NDEBUG).
FASTCOPY_SANITIZE=1  compile with AddressSanitizer and UndefinedBehaviorSanitizer.
FASTCOPY_WERROR=1    turn every compiler warning into an error.
"""

import glob
import os

from setuptools import Extension, setup


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


sources = sorted(glob.glob("src/fastcopy/_native/*.c"))
# The unity file exists for builds inside CPython (Modules/Setup.local); it
# #includes the other files, so it must not be compiled beside them here.
sources = [s for s in sources if not s.endswith("fastcopy_unity.c")]

extra_compile_args = ["-Wall", "-Wextra", "-std=c11"]
extra_link_args = []
undef_macros = []
define_macros = []

if _flag("FASTCOPY_WERROR"):
    extra_compile_args.append("-Werror")
if _flag("FASTCOPY_DEBUG"):
    extra_compile_args += ["-O0", "-g3"]
    undef_macros.append("NDEBUG")
    define_macros.append(("FASTCOPY_DEBUG", "1"))
if _flag("FASTCOPY_SANITIZE"):
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"]
    extra_compile_args += san + ["-g"]
    extra_link_args += san

setup(
    ext_modules=[
        Extension(
            "fastcopy._fastcopy",
            sources=sources,
            depends=sorted(glob.glob("src/fastcopy/_native/*.h")),
            extra_compile_args=extra_compile_args,
            extra_link_args=extra_link_args,
            undef_macros=undef_macros,
            define_macros=define_macros,
        )
    ]
)
