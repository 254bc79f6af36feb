"""zero-db's client protocol written once, without I/O: what each command sends and how its reply
is read, shared by the blocking :class:`~.sync.Client` and the asyncio :class:`~.aio.AsyncClient`.

A command is one of three kinds of steps, declared once on :class:`Commands`:

- :func:`call`: one request, one reply (most commands). Its method builds the request and a
  reader turns the reply into the result; this is the hot path, so no generator is made.
- :func:`dialog`: a generator that yields requests, is sent each reply (or has the error thrown
  into it) and returns the result: several requests (MGET batches, the chain's proofs), or a
  reply read with the client's state (WAIT's timeout, SELECT).
- :func:`stream`: a generator like a dialog that also yields :class:`Batch`\\ es of items, which
  the method hands out as an iterator (sync) or async iterator.

Each driver class sets :attr:`Commands.io` and turns every step into a real method of its kind
when it is defined (:meth:`Commands.__init_subclass__`); a driver only knows how to send a
request and read its reply (``_execute``) and how to run steps (``sync.py``, ``aio.py``). The
type checker sees the steps through :class:`Op`'s ``__get__``: a blocking method on a client
whose ``io`` is ``"blocking"``, a coroutine method on one whose ``io`` is ``"asyncio"`` or
``"trio"``.

The connection handshake (admin password, then the namespace) is steps too: :func:`auth_steps`,
:func:`select_steps`, run on one connection by the drivers' connect hooks.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import (
    Any,
    ClassVar,
    Concatenate,
    Final,
    Generic,
    Literal,
    ParamSpec,
    Protocol,
    Self,
    TypeAlias,
    TypeVar,
    overload,
)
from urllib.parse import unquote, urlsplit

from ..chain.signing import SignedHead, public_key_from_bytes
from ..chain.trust import Trust, parse_head
from ..errors import KeyNotFound, NoMoreData, ZdbError, ZdbResponseError
from .replies import (
    Command,
    HistoryEntry,
    Key,
    NamespaceInfo,
    ScanEntry,
    Value,
    bytes_or_none,
    encode_key,
    encode_value,
    int_or_none,
    integer,
    is_one,
    is_pong,
    nothing,
    parse_history,
    parse_info,
    parse_leaves,
    parse_names,
    parse_scan,
    parse_time,
    raw,
    secure_proof,
    seq_id,
    setting,
    text,
    yes_no_or_none,
)

P = ParamSpec("P")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

DEFAULT_PORT: Final = 9900
DEFAULT_TIMEOUT: Final = 5.0
DEFAULT_MAX_CONNECTIONS: Final = 50
MGET_BATCH: Final = 1000  # 0-db takes at most 1024 arguments, the command name included
PIPELINE_BATCH: Final = 1000  # commands sent before their replies are read
WAIT_DEFAULT_MS: Final = 5000
DEFAULT_NAMESPACE: Final = "default"


# -- what the steps ask a driver for ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Request:
    """A request that is more than a command: a longer read, or only entering the namespace."""

    command: Command | None  # None: no command, only the client's namespace entered
    read_timeout: float | None = None  # seconds to wait for this reply, instead of the timeout


ENTER: Final = Request(None)
"""Enter the client's namespace on a pooled connection, sending nothing else."""


@dataclass(frozen=True, slots=True)
class Pipelined:
    """Commands sent together on one connection, then their replies read in order: one
    round trip for all (zero-db answers commands in the order they came)."""

    commands: tuple[Command, ...]


class Batch(Generic[T]):
    """Items a stream hands out before its next request."""

    __slots__ = ("items",)

    def __init__(self, items: list[T]) -> None:
        self.items = items


class Run:
    """Steps being run: a driver sends what :meth:`advance` gives, and feeds it the outcome.

    The same for every driver and every kind of steps (a dialog, a stream, the handshake):
    a reply is sent into the steps, an error thrown into them (they may catch it), a stream's
    batches are queued for :meth:`take`, and what the steps return is kept in ``result``.
    """

    __slots__ = ("_steps", "items", "result")

    def __init__(self, steps: Generator[Any, Any, Any]) -> None:
        self._steps = steps
        self.items: list[Any] = []  # a stream's items the driver has not handed out yet
        self.result: Any = None

    def advance(self, reply: Any = None, error: BaseException | None = None) -> Any:
        """The next request to send, or None once the steps are done."""
        steps = self._steps
        try:
            out = steps.send(reply) if error is None else steps.throw(error)
            while isinstance(out, Batch):
                self.items += out.items
                out = next(steps)
        except StopIteration as done:
            self.result = done.value
            return None
        return out

    def take(self) -> list[Any]:
        """The items queued since the last take."""
        items, self.items = self.items, []
        return items


Send: TypeAlias = Command | Request | Pipelined
Exchange: TypeAlias = Generator[Send, Any, T]
"""A dialog's steps: requests yielded one at a time, each reply sent back in; then the result."""
Flow: TypeAlias = Generator[Send | Batch[T], Any, None]
"""A stream's steps: requests, and batches of items to hand out."""


# -- the three kinds of steps, typed by the driver that runs them -----------------------------
class Blocking(Protocol):
    """A driver whose methods block (``io = "blocking"``)."""

    io: ClassVar[Literal["blocking"]]


class Awaiting(Protocol):
    """A driver whose methods are awaited (``io = "asyncio"`` or ``"trio"``)."""

    @property
    def io(self) -> Literal["asyncio", "trio"]: ...


class Declared:
    """A command as written in :class:`Commands`; each driver class makes a method of it."""

    __slots__ = ("define",)

    def __init__(self, define: Callable[..., Any]) -> None:
        self.define = define  # the function written in Commands: name, signature, docstring

    def returns(self, io: str) -> Any:
        """The annotation of what the driver's method returns (awaited, for asyncio)."""
        annotation = str(inspect.signature(self.define).return_annotation)
        return annotation.partition("[")[2][:-1]  # Exchange[T] -> T

    def dress(self, method: Callable[..., Any], owner: type[Commands]) -> Callable[..., Any]:
        """``method`` of the driver class ``owner``, named and documented as the definition."""
        define = self.define
        method.__module__ = owner.__module__
        method.__name__ = define.__name__
        method.__qualname__ = f"{owner.__name__}.{define.__name__}"
        method.__doc__ = define.__doc__
        signature = inspect.signature(define).replace(return_annotation=self.returns(owner.io))
        method.__signature__ = signature  # type: ignore[attr-defined]
        return method

    def unbound(self, obj: object, owner: type[Any]) -> Any:
        """What the declaration is outside a driver: itself on the class, an error otherwise."""
        if obj is None:
            return self
        raise TypeError(f"{owner.__name__} is not a zero-db client driver: it sets no io")


class Op(Declared, Generic[P, T_co]):
    """A command whose method returns its result: blocking, or a coroutine."""

    __slots__ = ()

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: Blocking, owner: type[Any]) -> Callable[P, T_co]: ...
    @overload
    def __get__(
        self, obj: Awaiting, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T_co]]: ...
    def __get__(self, obj: object, owner: type[Any]) -> Any:
        return self.unbound(obj, owner)


class Call(Op[P, T_co]):
    """One request, one reply: the request's builder and the reply's reader."""

    __slots__ = ("read",)

    def __init__(self, build: Callable[..., Command], read: Callable[[Any], T_co]) -> None:
        super().__init__(build)
        self.read = read

    def returns(self, io: str) -> Any:
        return inspect.signature(self.read).return_annotation


class Dialog(Op[P, T_co]):
    """Steps that yield requests, are sent the replies, and return the result."""

    __slots__ = ()


class Stream(Declared, Generic[P, T_co]):
    """Steps that yield requests and batches of items: the method is an iterator of the items."""

    __slots__ = ()

    def returns(self, io: str) -> Any:
        iterator = "Iterator" if io == "blocking" else "AsyncIterator"
        return f"{iterator}[{super().returns(io)}]"  # Flow[T] -> Iterator[T]

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: Blocking, owner: type[Any]) -> Callable[P, Iterator[T_co]]: ...
    @overload
    def __get__(self, obj: Awaiting, owner: type[Any]) -> Callable[P, AsyncIterator[T_co]]: ...
    def __get__(self, obj: object, owner: type[Any]) -> Any:
        return self.unbound(obj, owner)


def call(
    read: Callable[[Any], T],
) -> Callable[[Callable[Concatenate[Any, P], Command]], Call[P, T]]:
    """Declare a one-request command: the decorated method builds the request, ``read``
    turns the reply into the result."""

    def declare(build: Callable[Concatenate[Any, P], Command]) -> Call[P, T]:
        return Call(build, read)

    return declare


def dialog(steps: Callable[Concatenate[Any, P], Exchange[T]]) -> Dialog[P, T]:
    """Declare a command whose method is a generator of requests (see :data:`Exchange`)."""
    return Dialog(steps)


def stream(steps: Callable[Concatenate[Any, P], Flow[T]]) -> Stream[P, T]:
    """Declare a command whose method is a generator of requests and batches (:data:`Flow`)."""
    return Stream(steps)


# -- connection handshake ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Login:
    """A namespace and its password; a new object each time the client selects one."""

    namespace: str
    password: str | None = None


class Session:
    """What every connection of one client must prove and choose (shared by its pool)."""

    __slots__ = ("admin_password", "login", "secure")

    def __init__(self, admin_password: str | None, login: Login, secure: bool) -> None:
        self.admin_password = admin_password
        self.login = login
        self.secure = secure


Steps: TypeAlias = Generator[Command, Any, None]
"""Commands to send one after the other; each reply is sent back into the generator."""


def auth_steps(session: Session) -> Steps:
    """Become admin when the client has the admin password."""
    password = session.admin_password
    if password is None:
        return
    if session.secure:
        nonce = yield (b"AUTH", b"SECURE", b"CHALLENGE")
        yield (b"AUTH", b"SECURE", secure_proof(text(nonce), password))
    else:
        yield (b"AUTH", password.encode())


def select_steps(login: Login, secure: bool, *, fresh: bool = False) -> Steps:
    """Enter the login's namespace, proving its password when it has one.

    A ``fresh`` connection is already in ``default``: entering it without a password
    costs nothing then.
    """
    if fresh and login.namespace == DEFAULT_NAMESPACE and login.password is None:
        return
    name = login.namespace.encode()
    if login.password is None:
        yield (b"SELECT", name)
    elif secure:
        # AUTH SECURE consumed the last nonce: ask for a fresh one
        nonce = yield (b"AUTH", b"SECURE", b"CHALLENGE")
        yield (b"SELECT", name, b"SECURE", secure_proof(text(nonce), login.password))
    else:
        yield (b"SELECT", name, login.password.encode())


def connect_steps(session: Session) -> Generator[Command, Any, Login]:
    """What a new connection does before its first command; the login it entered."""
    yield from auth_steps(session)
    login = session.login
    yield from select_steps(login, session.secure, fresh=True)
    return login


def enter_steps(login: Login, secure: bool) -> Generator[Command, Any, Login]:
    """Move a connection (in another namespace, or in none known) into the login's."""
    yield from select_steps(login, secure)
    return login


# -- configuration ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Address:
    """Where the server listens: a TCP host and port, or a unix socket path."""

    host: str
    port: int
    unix_socket: str | None

    def __str__(self) -> str:
        return f"unix:{self.unix_socket}" if self.unix_socket else f"{self.host}:{self.port}"


def parse_url(url: str) -> dict[str, Any]:
    """Constructor arguments from ``zdb://[:password@]host[:port][/namespace]``."""
    parts = urlsplit(url)
    if parts.scheme != "zdb":
        raise ValueError(f"not a zero-db URL (zdb://[:password@]host:port/namespace): {url!r}")
    if parts.username:
        raise ValueError("zero-db has no user names: write zdb://:password@host:port/namespace")
    kwargs: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or DEFAULT_PORT,
    }
    namespace = unquote(parts.path.lstrip("/"))
    if namespace:
        kwargs["namespace"] = namespace
    if parts.password is not None:
        if not namespace:
            raise ValueError("a password in a zdb:// URL needs a namespace: zdb://:pw@host:port/ns")
        kwargs["password"] = unquote(parts.password)
    return kwargs


def make_trust(address: Address, state: str | None, server_key: bytes | str | None) -> Trust:
    """The chain trust of a client: its state file and the server key it pins."""
    key = bytes.fromhex(server_key) if isinstance(server_key, str) else server_key
    if key is not None:
        public_key_from_bytes(key)
    return Trust(str(address), state, key)


def _function(template: str, define: Callable[..., Any], **names: Any) -> Callable[..., Any]:
    """The function ``template`` defines, with ``define``'s parameters (see ``_call_source``)."""
    params: list[str] = []
    args: list[str] = []
    star = False
    for p in inspect.signature(define).parameters.values():
        text = p.name
        if p.kind is p.VAR_POSITIONAL:
            text, star = f"*{p.name}", True
            args.append(text)
        elif p.kind is p.VAR_KEYWORD:
            text = f"**{p.name}"
            args.append(text)
        elif p.kind is p.KEYWORD_ONLY:
            if not star:
                params.append("*")
                star = True
            args.append(f"{p.name}={p.name}")
        else:
            args.append(p.name)
        if p.default is not p.empty:
            names[f"_default_{p.name}"] = p.default
            text += f"=_default_{p.name}"
        params.append(text)
    source = template.format(params=", ".join(params), args=", ".join(args))
    # our own template over our own parameter names, as dataclasses makes __init__
    exec(source, names)  # noqa: S102
    return names["method"]  # type: ignore[no-any-return]


def _scan(name: bytes, cursor: bytes | None) -> Exchange[tuple[bytes | None, list[ScanEntry]]]:
    command = (name,) if cursor is None else (name, cursor)
    try:
        reply = yield command
    except NoMoreData:
        return cursor, []
    return parse_scan(reply)


def _walk(name: bytes, cursor: bytes | None) -> Flow[ScanEntry]:
    while True:
        after, entries = yield from _scan(name, cursor)
        if not entries and after == cursor:  # No more data (an empty batch may go on)
            return
        cursor = after
        yield Batch(entries)


# -- the client, every command once -----------------------------------------------------------
class Commands:
    """A zero-db client without its I/O: its settings, its namespace and every command's steps.

    :class:`~.sync.Client` and :class:`~.aio.AsyncClient` are this with a driver (a pool of
    connections and ``_execute``); the docstrings below are their methods'.
    """

    io: ClassVar[str]
    """How the driver runs the steps: ``"blocking"``, ``"asyncio"`` or ``"trio"``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        unix_socket: str | None = None,
        namespace: str | None = None,
        password: str | None = None,
        admin_password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        secure: bool = False,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        chain_state: str | None = None,
        server_key: bytes | str | None = None,
    ) -> None:
        if password is not None and namespace is None:
            raise ValueError("password is a namespace's password: give the namespace too")
        self.address = Address(host, port, unix_socket)
        self.timeout = timeout
        self._trust = make_trust(self.address, chain_state, server_key)
        login = Login(namespace or DEFAULT_NAMESPACE, password)
        self._session = Session(admin_password, login, secure)
        self._open(max_connections)

    def _open(self, max_connections: int) -> None:
        """Make the driver's connection pool (no connection is opened before the first call)."""
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give a driver class (one that sets ``io``) a real method for every command."""
        super().__init_subclass__(**kwargs)
        if "io" not in cls.__dict__:
            return  # a subclass of a driver: it inherits the methods (and may override them)
        for name, op in vars(Commands).items():
            if isinstance(op, Declared) and name not in cls.__dict__:
                setattr(cls, name, op.dress(cls._make(op), cls))

    @classmethod
    def _make(cls, op: Declared) -> Callable[..., Any]:
        """The driver's function for one command's steps."""
        if isinstance(op, Call):
            return _function(cls._call_source, op.define, build=op.define, read=op.read)
        if isinstance(op, Dialog):
            return cls._dialog_method(op.define)
        return cls._stream_method(op.define)

    # what a driver class provides: how it runs each kind of steps
    _call_source: ClassVar[str]
    """The source of a one-request method (the hot path, so made with the definition's own
    parameters: no ``*args``/``**kwargs`` to pack and unpack on every call): ``{params}`` and
    ``{args}`` stand for the parameters and the call passing them on to ``build``; ``read``
    turns the reply into the result."""

    @staticmethod
    def _dialog_method(steps: Callable[..., Exchange[Any]]) -> Callable[..., Any]:
        """A method that runs a dialog's steps (:class:`Run`) and returns their result."""
        raise NotImplementedError

    @staticmethod
    def _stream_method(steps: Callable[..., Flow[Any]]) -> Callable[..., Any]:
        """A method that runs a stream's steps: the driver's ``_flow`` over them, an iterator
        (or async iterator) of their batches' items."""

        def stream(self: Any, /, *args: Any, **kwargs: Any) -> Any:
            return self._flow(steps(self, *args, **kwargs))

        return stream

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Self:
        """A client for ``zdb://[:password@]host[:port][/namespace]``; kwargs add or override."""
        return cls(**{**parse_url(url), **kwargs})

    @property
    def namespace(self) -> str:
        """The namespace this client's commands run in."""
        return self._session.login.namespace

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address}, namespace={self.namespace!r})"

    # -- server -----------------------------------------------------------------------------
    @call(is_pong)
    def ping(self) -> Command:
        """Check that the server answers (True), raising ZdbConnectionError when it does not."""
        return (b"PING",)

    @call(parse_time)
    def time(self) -> Command:
        """The server's clock: (unix seconds, microseconds)."""
        return (b"TIME",)

    @call(parse_info)
    def info(self) -> Command:
        """The server's INFO fields (uptime, counters...), numbers as int or float."""
        return (b"INFO",)

    @call(integer)
    def dbsize(self) -> Command:
        """Number of keys in the current namespace."""
        return (b"DBSIZE",)

    @dialog
    def wait(self, command: str = "*", timeout_ms: int = WAIT_DEFAULT_MS) -> Exchange[str | None]:
        """Block until another client runs ``command`` (``*``: any) in this namespace.

        Returns the command's name, or None when ``timeout_ms`` passed first.
        """
        args = (b"WAIT", command.encode(), str(timeout_ms).encode())
        try:
            reply = yield Request(args, timeout_ms / 1000 + self.timeout)
        except ZdbResponseError as exc:
            if str(exc) == "Timeout":
                return None
            raise
        return text(reply)

    # -- keys -------------------------------------------------------------------------------
    @call(bytes_or_none)
    def set(self, key: Key, value: Value) -> Command:
        """Store a value; returns the key, or None when the value was already stored."""
        return (b"SET", encode_key(key), encode_value(value))

    @call(seq_id)
    def insert(self, value: Value) -> Command:
        """Store a value under a new sequential id (namespaces in ``seq`` mode); the id."""
        return (b"SET", b"", encode_value(value))

    @call(bytes_or_none)
    def get(self, key: Key) -> Command:
        """The value of a key, or None when it does not exist."""
        return (b"GET", encode_key(key))

    @dialog
    def mget(self, keys: Iterable[Key]) -> Exchange[list[bytes | None]]:
        """The values of several keys, in order; None for each missing key."""
        encoded = [encode_key(k) for k in keys]
        out: list[bytes | None] = []
        for start in range(0, len(encoded), MGET_BATCH):
            reply = yield (b"MGET", *encoded[start : start + MGET_BATCH])
            out.extend(bytes_or_none(v) for v in reply)
        return out

    @call(nothing)
    def delete(self, key: Key) -> Command:
        """Delete a key; raises KeyNotFound when it does not exist."""
        return (b"DEL", encode_key(key))

    @call(is_one)
    def exists(self, key: Key) -> Command:
        """Whether a key exists."""
        return (b"EXISTS", encode_key(key))

    @dialog
    def exists_many(self, keys: Iterable[Key]) -> Exchange[list[bool]]:
        """Whether each of several keys exists, in order: EXISTS pipelined, so thousands of
        keys cost a few round trips instead of one each."""
        encoded = [encode_key(k) for k in keys]
        out: list[bool] = []
        for start in range(0, len(encoded), PIPELINE_BATCH):
            batch = encoded[start : start + PIPELINE_BATCH]
            replies = yield Pipelined(tuple((b"EXISTS", k) for k in batch))
            out.extend(is_one(r) for r in replies)
        return out

    @call(yes_no_or_none)
    def check(self, key: Key) -> Command:
        """Whether the stored value still matches its checksum; None when the key is missing.

        False covers both a checksum mismatch and a value the server could not read.
        """
        return (b"CHECK", encode_key(key))

    @call(int_or_none)
    def length(self, key: Key) -> Command:
        """The size of a key's value in bytes, or None when it does not exist."""
        return (b"LENGTH", encode_key(key))

    @call(int_or_none)
    def keytime(self, key: Key) -> Command:
        """Unix time (seconds) of a key's last write, or None when it does not exist."""
        return (b"KEYTIME", encode_key(key))

    @call(raw)
    def keycur(self, key: Key) -> Command:
        """An opaque cursor at a key: ``scan(cursor)`` continues after that key."""
        return (b"KEYCUR", encode_key(key))

    # -- walking ----------------------------------------------------------------------------
    @dialog
    def scan(self, cursor: bytes | None = None) -> Exchange[tuple[bytes | None, list[ScanEntry]]]:
        """One batch of keys after ``cursor`` (from the first key without one).

        Returns the cursor of the batch's last key and the batch; the batch is empty and
        the cursor the one given once there is no more data. The server bounds each call's
        walk, so past many overwritten keys a batch can be short or empty with a new cursor.
        """
        return (yield from _scan(b"SCAN", cursor))

    @dialog
    def rscan(self, cursor: bytes | None = None) -> Exchange[tuple[bytes | None, list[ScanEntry]]]:
        """Like :meth:`scan`, walking from the last key backwards."""
        return (yield from _scan(b"RSCAN", cursor))

    @stream
    def scan_iter(self, cursor: bytes | None = None) -> Flow[ScanEntry]:
        """Every key of the namespace (after ``cursor``), oldest write first, batch by batch."""
        return _walk(b"SCAN", cursor)

    @stream
    def rscan_iter(self, cursor: bytes | None = None) -> Flow[ScanEntry]:
        """Every key of the namespace (before ``cursor``), newest write first."""
        return _walk(b"RSCAN", cursor)

    @stream
    def history(self, key: Key, cursor: bytes | None = None) -> Flow[HistoryEntry]:
        """The versions of a key, newest first (from ``cursor``, an older version's cursor).

        Raises KeyNotFound (on the first step) when the key does not exist.
        """
        name = encode_key(key)
        while True:
            command = (b"HISTORY", name) if cursor is None else (b"HISTORY", name, cursor)
            try:
                reply = yield command
            except NoMoreData:
                return
            entry, cursor = parse_history(reply, cursor)
            yield Batch([entry])
            if cursor is None:
                return

    # -- the chain --------------------------------------------------------------------------
    @dialog
    def chain_head(self) -> Exchange[SignedHead]:
        """The namespace's signed head, verified and checked consistent with the last trusted.

        Raises a :class:`VerificationError` subclass naming what failed.
        """
        head = parse_head((yield (b"CHAIN", b"HEAD")))
        self._trust.check_head(head, self.namespace)
        yield from self._link(head)
        return head

    @call(parse_head)
    def chain_head_unchecked(self) -> Command:
        """The namespace's signed head as the server sent it, neither verified nor trusted.

        For callers that check it their own way (``zos zdb verify``, ``anchor``).
        """
        return (b"CHAIN", b"HEAD")

    @call(parse_leaves)
    def chain_leaves(self, index: int, count: int) -> Command:
        """Up to ``count`` raw chain leaves from ``index`` (the server sends at most 1000)."""
        return (b"CHAIN", b"LEAF", b"%d" % index, b"%d" % count)

    def _link(self, head: SignedHead) -> Exchange[None]:
        """Trust ``head`` once it is proven consistent with the last head trusted."""
        trust = self._trust
        old = trust.consistency_needed(head)
        if old is not None:
            reply = yield (b"CHAIN", b"CONSISTENCY", b"%d" % old.size, b"%d" % head.size)
            trust.check_consistency(old, head, reply)
        trust.accept(head)

    @dialog
    def verified_get(self, key: Key) -> Exchange[bytes | None]:
        """GET, proven: the value's hash is in the chain under a signed, consistent head.

        None for a deleted key (proven) or a key the chain never held (absence can't be
        proven by a log). Raises a :class:`VerificationError` subclass naming what failed.
        """
        k = encode_key(key)
        try:
            reply = yield (b"CHAIN", b"PROOF", k)
        except KeyNotFound:
            return None
        value, head = self._trust.check_proof(self.namespace, k, reply)
        yield from self._link(head)
        return value

    # -- namespaces -------------------------------------------------------------------------
    @dialog
    def select(self, namespace: str, password: str | None = None) -> Exchange[None]:
        """Move the whole client (every pooled connection) to another namespace.

        The namespace is entered right away, so a wrong name or password raises here, and
        the client stays where it was.
        """
        session = self._session
        previous, login = session.login, Login(namespace, password)
        session.login = login
        try:
            yield ENTER
        except ZdbError:
            if session.login is login:
                session.login = previous
            raise

    @call(nothing)
    def nsnew(self, namespace: str) -> Command:
        """Create a namespace (admin)."""
        return (b"NSNEW", namespace.encode())

    @call(nothing)
    def nsdel(self, namespace: str) -> Command:
        """Delete a namespace and its data (admin; not the one this client is in)."""
        return (b"NSDEL", namespace.encode())

    @call(parse_names)
    def nslist(self) -> Command:
        """The names of every namespace, ``default`` first."""
        return (b"NSLIST",)

    @dialog
    def nsinfo(self, namespace: str | None = None) -> Exchange[NamespaceInfo]:
        """What the server reports about a namespace (the client's own by default)."""
        name = namespace if namespace is not None else self.namespace
        return NamespaceInfo.parse(text((yield (b"NSINFO", name.encode()))))

    @call(nothing)
    def nsset(self, namespace: str, prop: str, value: str | int | bool) -> Command:
        """Change a namespace setting (admin): password, public, maxsize, worm, mode, lock, freeze.

        Booleans are sent as 1/0; ``password`` ``"*"`` removes the password.
        """
        return (b"NSSET", namespace.encode(), prop.encode(), setting(value))

    @call(nothing)
    def flush(self) -> Command:
        """Delete every key of the current namespace (only a private, password-protected one)."""
        return (b"FLUSH",)


__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_NAMESPACE",
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
    "ENTER",
    "MGET_BATCH",
    "PIPELINE_BATCH",
    "WAIT_DEFAULT_MS",
    "Address",
    "Awaiting",
    "Batch",
    "Blocking",
    "Call",
    "Commands",
    "Declared",
    "Dialog",
    "Exchange",
    "Flow",
    "Login",
    "Op",
    "Pipelined",
    "Request",
    "Run",
    "Send",
    "Session",
    "Steps",
    "Stream",
    "auth_steps",
    "call",
    "connect_steps",
    "dialog",
    "enter_steps",
    "make_trust",
    "parse_url",
    "select_steps",
    "stream",
]
