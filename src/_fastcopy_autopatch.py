"""Start-up hook behind ``FASTCOPY_PATCH=1``: importing this module imports
fastcopy and calls :func:`fastcopy.patch` (``FASTCOPY_PATCH=dispatch``:
``patch(mode="dispatch")``).

It is imported by ``fastcopy-autopatch.pth``, which the package installs at
the root of site-packages (see ``build_py`` in ``setup.py``). That ``.pth``
line runs in every interpreter that starts with this site-packages; it
imports this module only when ``FASTCOPY_PATCH`` is set to anything but
``""`` or ``"0"``, so without the switch nothing from fastcopy is imported
at start-up.

It is a top-level module, not part of the ``fastcopy`` package, so that
importing it cannot fail: were it ``fastcopy._autopatch``, the import of
the package itself (an extension module this interpreter cannot load, say)
would fail inside site.py, which prints a traceback for the ``.pth`` line.
Here every failure, of the import or of ``patch()``, leaves ``copy`` as it
is and writes one line on stderr, and the interpreter starts.
"""


def _autopatch() -> None:
    step = "import fastcopy"
    try:
        import os

        import fastcopy

        step = "fastcopy.patch()"
        # FASTCOPY_PATCH=dispatch selects the design report's integration
        # (for benchmarking it); any other non-empty, non-"0" value patches
        # the functions.
        value = os.environ.get("FASTCOPY_PATCH", "").strip().lower()
        fastcopy.patch("dispatch" if value == "dispatch" else "function")
    except Exception as exc:  # noqa: BLE001 - start-up must go on, whatever went wrong
        import sys

        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        try:
            if sys.stderr is not None:
                sys.stderr.write(
                    f"fastcopy: FASTCOPY_PATCH is set but {step} failed, "
                    f"copy is not patched ({reason})\n"
                )
        except Exception:  # noqa: BLE001 - a broken stderr must not stop start-up either
            pass


_autopatch()
