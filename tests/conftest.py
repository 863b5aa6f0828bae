"""Shared pytest configuration.

``impl`` (module-level object and session fixture) is the implementation
under test: ``fastcopy`` by default, or a separate instance of the stdlib
``copy`` module when ``FASTCOPY_TEST_IMPL=stdlib`` (see ``_impl.py``).
The oracle is always the running interpreter's ``copy`` module.

Hypothesis profiles (``FASTCOPY_HYPOTHESIS_PROFILE``): ``fastcopy`` (default,
200 examples), ``fastcopy-quick`` (30), ``fastcopy-thorough`` (2,000).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from _impl import IMPL_NAME, IMPORT_ERROR, impl  # noqa: E402

try:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "fastcopy",
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    settings.register_profile(
        "fastcopy-thorough",
        max_examples=2000,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    settings.register_profile(
        "fastcopy-quick",
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    settings.load_profile(os.environ.get("FASTCOPY_HYPOTHESIS_PROFILE", "fastcopy"))
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass


def pytest_report_header(config: pytest.Config) -> str:
    return f"fastcopy tests: implementation under test = {IMPL_NAME}"


def pytest_sessionstart(session: pytest.Session) -> None:
    if IMPORT_ERROR is not None:
        pytest.exit(
            f"cannot import fastcopy ({IMPORT_ERROR!r}); build it with `pip install -e .`, "
            "or run FASTCOPY_TEST_IMPL=stdlib to check the test suite against the stdlib",
            returncode=3,
        )


@pytest.fixture(name="impl", scope="session")
def impl_fixture() -> Any:
    """The implementation under test."""
    return impl


@pytest.fixture(autouse=True)
def _stdlib_tables_restored() -> Any:
    """Every test leaves copy's and copyreg's dispatch tables, the type sets
    of 3.14+ (copy._atomic_types & co.) and copy.deepcopy as it found them.
    One entry left behind would make every later test run with fastcopy's
    fast paths off (an entry in copy._deepcopy_dispatch turns off the atom
    shortcuts), so a fault of those paths would go unseen: the depth tests
    once hid a crash that way."""
    import _tables

    before = _tables.snapshot()
    yield
    changed = _tables.differences(before, _tables.snapshot())
    assert not changed, f"the test left {'; '.join(changed)}"
