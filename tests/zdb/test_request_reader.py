"""RequestReader cuts the same commands and refusals out of a stream however it is chunked.

Its framing walk (protocol.frame, in C or Python) runs ahead of hiredis and stops it at a
refused header; these tests hold the pair to one result for one stream.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zeroos.zdb import protocol
from zeroos.zdb.protocol import ProtocolViolation, RequestReader

from .rawsock import encode

Outcome = list[bytes] | tuple[str, bool]


def outcomes(chunks: list[bytes]) -> list[Outcome]:
    """Every command and refusal, in order, until the stream is closed."""
    reader = RequestReader()
    out: list[Outcome] = []
    for chunk in chunks:
        reader.feed(chunk)
        while True:
            try:
                cmd = reader.get()
            except ProtocolViolation as exc:
                out.append((exc.line, exc.close))
                if exc.close:
                    return out
                continue
            if cmd is None:
                break
            out.append(cmd)
    return out


pieces = st.one_of(
    st.lists(st.binary(max_size=12), min_size=1, max_size=4).map(lambda a: encode(*a)),
    st.sampled_from(
        [
            b"*1025\r\n" + b"$1\r\nx\r\n" * 1025,
            b"*2000\r\n" + b"$-1\r\n" * 2000,
            b"*0\r\n",
            b"*2\r\n$3\r\nGET\r\n$-1\r\n",
            b"*2\r\n$3\r\nGET\r\n:1\r\n",
            b"*2147483648\r\n",
            b"PING\r\n",
        ]
    ),
)


@pytest.fixture(params=["c", "python"])
def twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "python":
        monkeypatch.setattr(protocol, "frame", protocol.py_frame)
    elif protocol.frame is protocol.py_frame:
        pytest.skip("the C module is not in use")
    return str(request.param)


# the fixture only chooses the twin: nothing in it needs resetting between examples
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(pieces, min_size=1, max_size=8).map(b"".join), st.data())
def test_any_chunking_gives_the_same_commands_and_refusals(
    twin: str, stream: bytes, data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert outcomes(chunks) == outcomes([stream])


def test_a_refused_header_is_answered_in_order_and_its_arguments_passed_over(twin: str) -> None:
    stream = encode("PING") + b"*1025\r\n" + b"$2\r\nab\r\n" * 1025 + encode("GET", "k")
    assert outcomes([stream]) == [
        [b"PING"],
        ("Too many arguments", False),
        [b"GET", b"k"],
    ]
    # the answer is due as soon as the header is there, before any argument
    assert outcomes([encode("PING"), b"*1025\r\n"]) == [[b"PING"], ("Too many arguments", False)]


@pytest.mark.parametrize(
    ("stream", "line"),
    [
        (b"*2147483648\r\n", "Too many arguments"),
        (b"*2\r\n$3\r\nGET\r\n:1\r\n", "Malformed query string"),
        (b"*1\r\n*1\r\n$1\r\na\r\n", "Malformed query string"),
        (b"PING\r\n", "Malformed request, array expected"),
        (b"*x\r\n", "Bad multi-bulk length"),
        (b"*1\r\n$-5\r\n", "Bad bulk string length"),
        (b"*01\r\n", "Bad multi-bulk length"),
    ],
)
def test_a_broken_stream_is_closed_with_one_line(twin: str, stream: bytes, line: str) -> None:
    assert outcomes([encode("PING") + stream]) == [[b"PING"], (line, True)]
