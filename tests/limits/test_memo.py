"""``Memo``: made once per value, found by identity after the first lookup."""

from __future__ import annotations

from tokenway.limits.memo import Memo
from tokenway.limits.window import Quota


def counting() -> tuple[Memo[tuple[Quota, ...], str], list[object]]:
    made: list[object] = []

    def make(key: tuple[Quota, ...]) -> str:
        made.append(key)
        return ",".join(q.name for q in key)

    return Memo(make), made


def test_an_equal_set_is_not_made_again() -> None:
    memo, made = counting()
    first = (Quota("key:a", "key 'a'", rpm=1),)
    again = (Quota("key:a", "key 'a'", rpm=1),)  # a rebuilt context: equal, not the same
    assert memo.get(first) == memo.get(first) == memo.get(again) == "key:a"
    assert made == [first]
    other = (Quota("key:a", "key 'a'", rpm=2),)  # a changed limit is another set
    assert memo.get(other) == "key:a" and made == [first, other]


def test_a_list_is_looked_up_as_its_tuple() -> None:
    memo, made = counting()
    quotas = [Quota("key:b", "key 'b'", tpm=5)]
    assert memo.get(quotas) == memo.get(tuple(quotas)) == "key:b"
    assert len(made) == 1


def test_the_memo_starts_afresh_at_its_limit() -> None:
    made: list[int] = []
    memo: Memo[int, int] = Memo(lambda n: made.append(n) or n * 2, limit=3)
    for n in range(5):
        assert memo.get(n) == n * 2
    assert made == [0, 1, 2, 3, 4]
    assert memo.get(4) == 8 and made == [0, 1, 2, 3, 4]  # kept since the fresh start
    assert memo.get(0) == 0 and made == [0, 1, 2, 3, 4, 0]  # dropped at the limit
