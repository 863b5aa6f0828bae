"""Standard-library types copied from knowledge of the type (known.c):
Decimal, Fraction, re.Pattern and enum members (their __deepcopy__ returns
self), date/datetime/time/timedelta and UUID (rebuilt without Python code).
Every case is compared with the running stdlib."""

from __future__ import annotations

import copy
import copyreg
import datetime as dt
import decimal
import enum
import fractions
import re
import sys
import uuid
from typing import Any

import pytest

from _impl import impl
from classes import Color, Perm
from isomorphism import assert_same_copy, memo_shape




class Level(enum.IntEnum):
    LOW = 1


UTC = dt.timezone.utc
PLUS1 = dt.timezone(dt.timedelta(hours=1), "CET")

SAMPLES: list[Any] = [
    decimal.Decimal("12.50"),
    decimal.Decimal("NaN"),
    fractions.Fraction(3, 7),
    re.compile(r"a+b"),
    Color.RED,
    Perm.R | Perm.W,
    Level.LOW,
    dt.date(2024, 2, 29),
    dt.datetime(2024, 1, 2, 3, 4, 5, 6),
    dt.datetime(2024, 11, 3, 1, 30, fold=1),
    dt.datetime(2024, 1, 2, tzinfo=UTC),
    dt.datetime(2024, 1, 2, tzinfo=PLUS1),
    dt.time(23, 59, 59, 999999),
    dt.time(1, 30, fold=1),
    dt.time(12, tzinfo=UTC),
    dt.time(12, tzinfo=PLUS1),
    dt.timedelta(days=-3, seconds=5, microseconds=7),
    uuid.UUID(int=12345, version=4),
    uuid.UUID("12345678-1234-5678-1234-567812345678", is_safe=uuid.SafeUUID.safe),
]


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: f"{type(v).__name__}:{v!r}"[:60])
def test_alone_and_shared(value: Any) -> None:
    for make in (lambda: value, lambda: [value, value, {"k": value}], lambda: (value, [value])):
        x = make()
        assert_same_copy(x, copy.deepcopy(x), impl.deepcopy(x))


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: f"{type(v).__name__}:{v!r}"[:60])
def test_with_a_caller_memo(value: Any) -> None:
    x = [value, {"v": value}]
    me: dict = {}
    ma: dict = {}
    ye = copy.deepcopy(x, me)
    ya = impl.deepcopy(x, ma)
    assert_same_copy(x, ye, ya, memos=(me, ma))
    assert memo_shape(ma) == memo_shape(me)


def test_typed_records() -> None:
    x = [
        {"id": uuid.UUID(int=i), "at": dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i),
         "due": dt.date(2024, 1, 1 + i % 28), "amount": decimal.Decimal(i) / 100, "status": Color.GREEN}
        for i in range(50)
    ]
    y = impl.deepcopy(x)
    assert_same_copy(x, copy.deepcopy(x), y)
    assert y[3]["at"].tzinfo is UTC
    assert y[3]["id"].is_safe is x[3]["id"].is_safe


class DecimalSub(decimal.Decimal):
    pass


class FractionSub(fractions.Fraction):
    pass


class DateSub(dt.date):
    pass


class UUIDSub(uuid.UUID):
    pass


@pytest.mark.parametrize(
    "value",
    [DecimalSub("1.5"), FractionSub(1, 2), DateSub(2024, 1, 1), UUIDSub(int=5)],
    ids=lambda v: type(v).__name__,
)
def test_subclasses_take_the_stdlib_path(value: Any) -> None:
    x = [value, value]
    assert_same_copy(x, copy.deepcopy(x), impl.deepcopy(x))


def test_enum_with_its_own_deepcopy() -> None:
    calls = []

    class Tracked(enum.Enum):
        A = 1

        def __deepcopy__(self, memo: Any) -> Any:
            calls.append(1)
            return self

    x = [Tracked.A]
    n = len(calls)
    impl.deepcopy(x)
    assert len(calls) == n + 1


def test_enum_member_shadowing_deepcopy() -> None:
    class Shadowed(enum.Enum):
        A = 1

    object.__setattr__(Shadowed.A, "__deepcopy__", lambda memo: "instance hook")
    try:
        assert copy.deepcopy([Shadowed.A]) == impl.deepcopy([Shadowed.A])
    finally:
        object.__delattr__(Shadowed.A, "__deepcopy__")
    assert impl.deepcopy([Shadowed.A])[0] is Shadowed.A


def test_copyreg_reducer_for_date_is_honoured() -> None:
    x = [dt.date(2024, 1, 1)]
    impl.deepcopy(x)            # warm the per-type cache

    def reduce_date(d: dt.date) -> Any:
        return (dt.date, (1999, 12, 31))

    copyreg.pickle(dt.date, reduce_date)
    try:
        assert impl.deepcopy(x) == copy.deepcopy(x) == [dt.date(1999, 12, 31)]
    finally:
        del copyreg.dispatch_table[dt.date]
    assert impl.deepcopy(x) == x


def test_uuid_class_patched_after_first_copy() -> None:
    u = uuid.UUID(int=99)
    impl.deepcopy([u])
    original = uuid.UUID.__setstate__

    def patched(self: uuid.UUID, state: dict) -> None:
        object.__setattr__(self, "int", 7)
        object.__setattr__(self, "is_safe", uuid.SafeUUID.unknown)

    uuid.UUID.__setstate__ = patched  # type: ignore[method-assign]
    try:
        assert impl.deepcopy([u])[0].int == copy.deepcopy([u])[0].int == 7
    finally:
        uuid.UUID.__setstate__ = original  # type: ignore[method-assign]
    assert impl.deepcopy([u])[0].int == 99


def test_uuid_with_odd_is_safe_value() -> None:
    u = uuid.UUID(int=3)
    object.__setattr__(u, "is_safe", 0)     # not a SafeUUID member
    try:
        e = copy.deepcopy([u])
    except Exception as exc:  # noqa: BLE001
        with pytest.raises(type(exc)):
            impl.deepcopy([u])
        return
    assert_same_copy([u], e, impl.deepcopy([u]))


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Enum.__deepcopy__ exists from 3.11; 3.10 reduces members")
def test_enum_members_are_not_memoized() -> None:
    memo: dict = {}
    impl.deepcopy([Color.RED], memo)
    me: dict = {}
    copy.deepcopy([Color.RED], me)
    assert memo_shape(memo) == memo_shape(me)
