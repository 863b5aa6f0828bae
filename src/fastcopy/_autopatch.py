"""Start-up hook behind ``FASTCOPY_PATCH=1``: importing this module calls
:func:`fastcopy.patch` (``FASTCOPY_PATCH=dispatch``: ``patch(mode="dispatch")``).

It is imported by ``fastcopy-autopatch.pth``, which the package installs at
the root of site-packages (see ``build_py`` in ``setup.py``). That ``.pth``
line runs in every interpreter that starts with this site-packages; it
imports this module only when ``FASTCOPY_PATCH`` is set to anything but
``""`` or ``"0"``, so without the switch nothing from fastcopy is imported
at start-up.

A failure never stops the interpreter from starting: ``copy`` stays as it
is and one line on stderr says why.
"""


def _autopatch() -> None:
    try:
        import os

        import fastcopy

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
                    "fastcopy: FASTCOPY_PATCH is set but fastcopy.patch() failed, "
                    f"copy is not patched ({reason})\n"
                )
        except Exception:  # noqa: BLE001 - a broken stderr must not stop start-up either
            pass


_autopatch()
