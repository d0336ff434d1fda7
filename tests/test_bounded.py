"""The bounded tables behind jaxmc's in-process caches."""

import pytest

from jaxmc._bounded import BoundedDict
from jaxmc.spectrum._operator import CheckedSignatures


@pytest.mark.parametrize("limit", [1, 3])
def test_the_oldest_entry_goes_once_the_limit_is_reached(limit):
    d = BoundedDict(limit)
    for i in range(limit + 2):
        d[i] = str(i)
    assert list(d) == list(range(2, limit + 2))
    assert d[limit + 1] == str(limit + 1)
    # reassigning a held key keeps it in place and drops nothing
    d[2] = "again"
    assert list(d) == list(range(2, limit + 2)) and d[2] == "again"


def test_checked_signatures_are_bounded_and_never_hold_none():
    seen = CheckedSignatures(limit=2)
    for key in ("a", "b", None, "c"):
        seen.add(key)
    assert "a" not in seen and "b" in seen and "c" in seen
    assert None not in seen


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError, match=r"BoundedDict: `limit` must be at least 1"):
        BoundedDict(0)
