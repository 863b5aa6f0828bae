"""The start-up switch: ``FASTCOPY_PATCH=1`` makes a fresh interpreter call
``fastcopy.patch()`` through ``fastcopy-autopatch.pth``, which the package
installs at the root of site-packages (``pip install .`` and
``pip install -e .``); without it (unset, empty or ``0``) nothing from
fastcopy is imported at start-up.

Every case runs in a fresh ``sys.executable``, the interpreter fastcopy is
installed in (nox: ``pip install .[test]``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest

from _impl import IS_STDLIB

pytestmark = pytest.mark.skipif(
    IS_STDLIB, reason="FASTCOPY_PATCH is fastcopy's feature; the stdlib stand-in has none"
)

PTH_NAME = "fastcopy-autopatch.pth"
# the top-level module the .pth imports
HOOK = "_fastcopy_autopatch"
ENV_VAR = "FASTCOPY_PATCH"
TIMEOUT = 120
# The stdlib's copy.deepcopy raises RecursionError at about 500 nested lists;
# fastcopy copies this many.
DEPTH = 10_000

# Copy a list nested DEPTH deep with copy.deepcopy; print the copy's depth,
# or the name of the exception raised.
DEEP_COPY_PROBE = f"""
x = []
for _ in range({DEPTH}):
    x = [x]
try:
    y = copy.deepcopy(x)
except RecursionError as exc:
    print(type(exc).__name__)
else:
    depth = 0
    while y:
        assert y is not x and len(y) == 1
        y, x = y[0], x[0]
        depth += 1
    print(depth)
"""

# What a fresh interpreter reports: was fastcopy imported during start-up,
# is copy patched, and how copy.deepcopy copes with deep nesting.
CHILD = (
    "import sys\n"
    "at_start_up = 'fastcopy' in sys.modules\n"
    "import copy, fastcopy\n"
    "print(at_start_up)\n"
    "print(fastcopy.is_patched())\n"
) + DEEP_COPY_PROBE


def run_python(
    code: str, value: str | None, cwd: Path, pythonpath: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with FASTCOPY_PATCH=value (None:
    unset), and PYTHONPATH=pythonpath if given."""
    env = dict(os.environ)
    env.pop(ENV_VAR, None)
    if value is not None:
        env[ENV_VAR] = value
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    if env.get("PYTHONPATH"):  # the child runs elsewhere: keep it importing what we import
        entries = env["PYTHONPATH"].split(os.pathsep)
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(e) if e else e for e in entries)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        cwd=cwd,  # not the checkout: `-c` puts the working directory on sys.path
    )


def _site_dirs() -> list[Path]:
    """The directories whose .pth files this interpreter processes at start-up."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    paths = sysconfig.get_paths()
    dirs += [paths["purelib"], paths["platlib"]]
    return list(dict.fromkeys(Path(d).resolve() for d in dirs))


@pytest.fixture(name="install_dir", scope="module")
def install_dir_fixture() -> Path:
    """The site-packages directory the imported fastcopy is installed in.

    A wheel install has the package itself there; an editable install
    (``pip install -e .``) has only its .dist-info there, which records the
    source tree the package is imported from. A source tree that was never
    installed (e.g. ``PYTHONPATH=src``) has no site-packages: skip.
    """
    import fastcopy

    package = Path(fastcopy.__file__).resolve().parent
    site_dirs = _site_dirs()
    if package.parent in site_dirs:
        return package.parent
    try:
        dist = importlib.metadata.distribution("fastcopy")
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
        if direct_url.get("dir_info", {}).get("editable"):
            project = Path(url2pathname(urlparse(direct_url["url"]).path)).resolve()
            where = Path(str(dist.locate_file(""))).resolve()
            if project in package.parents and where in site_dirs:
                return where
    pytest.skip(
        f"fastcopy is imported from a source tree ({package}), not from an installation "
        f"in this interpreter's site-packages, so there is no {PTH_NAME} to run at start-up; "
        "install it (pip install . or pip install -e .) to test FASTCOPY_PATCH"
    )


def test_pth_file_installed(install_dir: Path) -> None:
    pth = install_dir / PTH_NAME
    found = sorted(p.name for p in install_dir.glob("*.pth"))
    assert pth.is_file(), f"{PTH_NAME} is not in {install_dir} (its .pth files: {found})"
    lines = [line for line in pth.read_text().splitlines() if line.strip()]
    # site.py executes a line only if it starts with "import"; one line, so
    # nothing after a failure is silently skipped.
    assert len(lines) == 1, lines
    assert lines[0].startswith("import "), lines[0]
    assert ENV_VAR in lines[0] and f"__import__('{HOOK}')" in lines[0], lines[0]
    # In the installation's RECORD, so `pip uninstall fastcopy` removes it.
    files = importlib.metadata.distribution("fastcopy").files or []
    assert PTH_NAME in {str(f) for f in files}
    # The module the line imports is installed too (beside the .pth in a
    # wheel install, in the source tree of an editable one), and is importable
    # without importing fastcopy.
    spec = importlib.util.find_spec(HOOK)
    assert spec is not None and spec.origin is not None
    if (install_dir / "fastcopy" / "__init__.py").is_file():
        assert Path(spec.origin).resolve() == (install_dir / f"{HOOK}.py").resolve()
        assert f"{HOOK}.py" in {str(f) for f in files}


def test_switch_on_patches_at_start_up(install_dir: Path, tmp_path: Path) -> None:
    proc = run_python(CHILD, "1", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "fastcopy:" not in proc.stderr, proc.stderr  # no warning from the hook
    at_start_up, patched, deep = proc.stdout.split()
    assert at_start_up == "True", f"{install_dir / PTH_NAME} did not import fastcopy at start-up"
    assert patched == "True"
    # copy.deepcopy runs fastcopy: the stdlib would raise RecursionError here.
    assert deep == str(DEPTH)


def test_switch_on_imports_only_what_it_needs(install_dir: Path, tmp_path: Path) -> None:
    """The switch runs in every interpreter that starts: it must not import
    modules a plain start does not have.  threading at start-up fails
    CPython's own tests (test_threading.test_import_from_another_thread,
    test_import's subinterpreter checks); typing, contextlib and dataclasses
    took 9-23 ms of start-up (`python -X importtime`)."""
    code = (
        "import sys\n"
        "print(sorted(m for m in ('threading', 'typing', 'contextlib', 'dataclasses', "
        "'datetime', 'inspect') if m in sys.modules))\n"
        "import fastcopy\n"
        "print(fastcopy.is_patched())\n"
    )
    proc = run_python(code, "1", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.split("\n")[:2] == ["[]", "True"], proc.stdout


def test_switch_dispatch_selects_the_report_mode(install_dir: Path, tmp_path: Path) -> None:
    code = "import fastcopy; print(fastcopy.patch_mode())"
    proc = run_python(code, "dispatch", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["dispatch"]


@pytest.mark.parametrize("value", [None, "", "0"], ids=["unset", "empty", "zero"])
def test_switch_off_imports_nothing(value: str | None, tmp_path: Path) -> None:
    # The exact check a user would run: nothing from fastcopy at start-up.
    proc = run_python(f"import sys; print('fastcopy' in sys.modules, '{HOOK}' in sys.modules)",
                      value, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]

    proc = run_python(CHILD, value, tmp_path)
    assert proc.returncode == 0, proc.stderr
    # After an explicit import: not patched, copy.deepcopy is the stdlib's.
    assert proc.stdout.split() == ["False", "False", "RecursionError"]


def test_patch_failure_is_one_line_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing patch() must not stop the interpreter from starting."""
    import fastcopy

    before = fastcopy.is_patched()

    def failing_patch(*args: object, **kwargs: object) -> None:
        raise RuntimeError("cannot patch\nfor a reason on two lines")

    monkeypatch.setattr(fastcopy, "patch", failing_patch)
    # What the .pth does, importing the module, but into a fresh module object
    # (sys.modules untouched, whether or not this process imported it already).
    spec = importlib.util.find_spec(HOOK)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), repr(err)
    assert err.startswith("fastcopy: ") and ENV_VAR in err
    assert "RuntimeError: cannot patch for a reason on two lines" in err
    assert fastcopy.is_patched() == before


def test_switch_on_with_fastcopy_unimportable_is_one_line_warning(
    install_dir: Path, tmp_path: Path
) -> None:
    """When ``import fastcopy`` itself fails at start-up (here a package of
    that name ahead of it on PYTHONPATH raises, as an extension module this
    interpreter cannot load would), the interpreter starts with copy
    unpatched and one line on stderr, not site.py's traceback for the .pth
    line."""
    shadow = tmp_path / "shadow" / "fastcopy"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ImportError('this fastcopy cannot be loaded\\nfor a reason on two lines')\n"
    )
    code = (
        "import sys\n"
        f"print('fastcopy' in sys.modules, '{HOOK}' in sys.modules)\n"
        "import copy\n"
    ) + DEEP_COPY_PROBE
    env_path = os.pathsep.join(filter(None, [str(shadow.parent), os.environ.get("PYTHONPATH")]))
    proc = run_python(code, "1", tmp_path, pythonpath=env_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.endswith("\n"), proc.stderr
    assert proc.stderr.startswith(f"fastcopy: {ENV_VAR} is set but import fastcopy failed"), proc.stderr
    assert "ImportError: this fastcopy cannot be loaded for a reason on two lines" in proc.stderr
    # the hook ran; fastcopy is not imported; copy.deepcopy is the stdlib's
    assert proc.stdout.split() == ["False", "True", "RecursionError"], proc.stdout
