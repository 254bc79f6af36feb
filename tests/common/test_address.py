"""One HOST:PORT parser: every form the parts accept, and one error for the rest."""

from __future__ import annotations

import pytest

from zeroos.common.address import Address, AddressError, format_hostport, parse_address


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("127.0.0.1:9900", {}, Address("127.0.0.1", 9900)),
        ("  localhost:1 ", {}, Address("localhost", 1)),
        ("[::1]:9900", {}, Address("::1", 9900)),
        ("[fe80::1%eth0]:7", {}, Address("fe80::1%eth0", 7)),
        (":9900", {}, Address("127.0.0.1", 9900)),
        ("9900", {"default_host": "0.0.0.0"}, Address("0.0.0.0", 9900)),
        ("db.example", {"default_port": 9900}, Address("db.example", 9900)),
        ("[::1]", {"default_port": 9900}, Address("::1", 9900)),
        ("::1", {"default_port": 9900}, Address("::1", 9900)),
        ("host:0", {"min_port": 0}, Address("host", 0)),
        ("unix:/run/zdb.sock", {"unix": True}, Address("", 0, "/run/zdb.sock")),
        ("/run/zdb.sock", {"unix": True}, Address("", 0, "/run/zdb.sock")),
    ],
)
def test_parses(text: str, options: dict[str, object], expected: Address) -> None:
    assert parse_address(text, **options) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("", {}),
        ("localhost", {}),
        ("host:", {}),
        ("host:65536", {}),
        ("host:0", {}),
        ("host:-1", {}),
        ("host:port", {}),
        ("bad host:1", {}),
        ("[::1:9900", {}),
        ("[::1]9900", {}),
        ("[nothex]:1", {}),
        ("::1", {}),
        ("/run/zdb.sock", {}),
        ("unix:/run/zdb.sock", {}),
    ],
)
def test_refuses_with_one_error(text: str, options: dict[str, object]) -> None:
    with pytest.raises(AddressError, match=r"is not host:port \(e\.g\. 127\.0\.0\.1:9900\)"):
        parse_address(text, **options)  # type: ignore[arg-type]


def test_an_address_writes_back_as_it_reads() -> None:
    for text in ("127.0.0.1:9900", "[::1]:9900", "unix:/tmp/s"):
        assert str(parse_address(text, unix=True)) == text
    assert format_hostport("::1", 1) == "[::1]:1"
    assert format_hostport("h", 1) == "h:1"
