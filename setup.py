"""Build script for the fastcopy C extension.

Environment switches (all off by default):

FASTCOPY_DEBUG=1     compile with C asserts and the memo table's internal
                     consistency checks turned on (-O0 -g, no NDEBUG).
FASTCOPY_SANITIZE=1  compile with AddressSanitizer and UndefinedBehaviorSanitizer.
FASTCOPY_WERROR=1    turn every compiler warning into an error.

Besides the package, the build installs ``fastcopy-autopatch.pth`` at the root
of site-packages (see ``build_py`` below): the run-time switch FASTCOPY_PATCH=1.
"""

import glob
import os

from setuptools import Extension, setup
from setuptools.command.build_py import build_py as _build_py


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

# One `import` line that site.py runs at every interpreter start-up: it imports
# _fastcopy_autopatch (which calls fastcopy.patch()) only when FASTCOPY_PATCH
# is set to anything but "" or "0"; otherwise nothing from fastcopy is loaded.
PTH_SOURCE = "src/fastcopy-autopatch.pth"
PTH_NAME = os.path.basename(PTH_SOURCE)


class build_py(_build_py):
    """build_py that also puts ``fastcopy-autopatch.pth`` at the root of
    site-packages, for a wheel (``pip install .``) and for a PEP 660
    editable wheel (``pip install -e .``).

    * Wheel: the file is copied to the root of ``build_lib``, which is the root
      of the wheel, i.e. of site-packages once installed.
    * Editable wheel: setuptools runs build_py with ``editable_mode`` set, and
      ``build_lib`` is then a scratch directory that is not installed. What
      the editable wheel installs besides its own ``__editable__`` files is the
      unpacked wheel directory, which setuptools makes the ``install``
      command's ``install_lib`` (it is where it puts every non-editable file),
      so the .pth is copied there and lands in site-packages, in RECORD.
    The .pth is also in the sdist (``get_source_files``).
    """

    def run(self) -> None:
        super().run()
        dest_dir = self._pth_dir()
        if dest_dir is not None:
            self.copy_file(PTH_SOURCE, os.path.join(dest_dir, PTH_NAME), preserve_mode=False)

    def _pth_dir(self):
        if not self.editable_mode:
            return self.build_lib
        wheel_dir = self.get_finalized_command("install").install_lib
        # Only ever write into the unpacked editable wheel (it already holds
        # our .dist-info), never into a live site-packages.
        if wheel_dir and glob.glob(os.path.join(glob.escape(wheel_dir), "fastcopy-*.dist-info")):
            return wheel_dir
        self.warn(f"editable install: {PTH_NAME} not installed, FASTCOPY_PATCH=1 has no effect")
        return None

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if not self.editable_mode:
            outputs.append(os.path.join(self.build_lib, PTH_NAME))
        return outputs

    def get_source_files(self):
        return super().get_source_files() + [PTH_SOURCE]


setup(
    cmdclass={"build_py": build_py},
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
