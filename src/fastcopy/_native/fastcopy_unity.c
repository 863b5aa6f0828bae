/* fastcopy_unity.c -- the whole extension as one translation unit, for
 * building fastcopy into CPython itself with a Modules/Setup.local line:
 *
 *     _fastcopy fastcopy_unity.c
 *
 * (copy src/fastcopy/_native/ into Modules/, see docs/design.md).  The
 * regular setup.py build compiles the files separately and skips this one.
 */
#include "memo.c"
#include "known.c"
#include "reduce.c"
#include "deepcopy.c"
#include "shallow.c"
#include "dispatch.c"
#include "patch.c"
#include "template.c"
#include "floor.c"
#include "module.c"
