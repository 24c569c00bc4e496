from __future__ import annotations

from phxpy.params import parse_params


def test_plain_and_nested_params() -> None:
    assert parse_params("user_token=abc&ids[0]=1&vsn=2.0.0") == {
        "user_token": "abc",
        "ids": {"0": "1"},
        "vsn": "2.0.0",
    }
    assert parse_params("user[id]=1&user[name]=x%20y") == {"user": {"id": "1", "name": "x y"}}


def test_last_value_wins_for_repeated_keys() -> None:
    assert parse_params("token=USR&vsn=2.0.0&token=T1")["token"] == "T1"


def test_list_brackets_and_empty_segments() -> None:
    assert parse_params("ids[]=a&ids[]=b&&x=") == {"ids": ["a", "b"], "x": ""}


def test_conflicting_shapes_do_not_crash() -> None:
    assert parse_params("a=1&a[b]=2") == {"a": {"b": "2"}}
    assert parse_params("a[b]=2&a=1") == {"a": "1"}
    assert parse_params("a[=1&[x]=2") == {"a[": "1", "[x]": "2"}
