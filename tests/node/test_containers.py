"""Containers from flists, driven through PyPI's 0-core-client (as root: crun, FUSE, veths).

The flist is built here from Debian's busybox-static (zeroos.flist.create into a dir store),
once per session. Every test checks that what it made is gone: mounts, veths, network
namespaces, processes.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from zeroos.core0.client import Client

from zeroos.flist.create import create as create_flist
from zeroos.testing import free_port
from zeroos.testing.runtime import busybox_rootfs

from .conftest import Node

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

WAIT = 90  # seconds a client waits for a result (the machine is loaded)


@pytest.fixture(scope="session")
def busybox_flist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An flist of busybox-static's tree, its blocks in a dir store (built once per session)."""
    root = tmp_path_factory.mktemp("busybox-flist")
    tree = busybox_rootfs(root / "tree")
    (tree / "etc" / "motd").write_text("hello from the flist\n")
    out = root / "busybox.fl"
    create_flist(tree, out, [f"dir://{root / 'blocks'}"])
    return out


@pytest.fixture
def network_flags() -> list[str]:
    """A bridge and network of this test's own (tests of other engineers run beside)."""
    tag = secrets.token_hex(3)
    return [
        "--bridge",
        f"zt{tag}",
        "--bridge-cidr",
        f"10.{int(tag[:2], 16)}.{int(tag[2:4], 16)}.1/24",
    ]


@pytest.fixture
def container_node(
    start_node: Callable[..., Node], network_flags: list[str]
) -> Iterator[Callable[..., Node]]:
    """Start --dev nodes on a bridge of their own; containers a failed test left are terminated."""
    nodes: list[Node] = []

    def start(*flags: str) -> Node:
        nodes.append(start_node("--dev", *network_flags, *flags))
        return nodes[-1]

    yield start
    for node in nodes:
        if node.child.proc is None:
            continue
        client = node.client()
        for n in client.container.list():
            client.raw("corex.terminate", {"container": int(n)}).get(WAIT)


def leftovers(node: Node, wait: float = 15.0) -> list[str]:
    """What of the node's containers is still on the machine: mounts, state, veths, netns,
    processes (of their cgroups, or naming the node's folder); the containers are those its log
    says it created (other tests' containers may run beside).

    Asked again until nothing is left or ``wait`` seconds pass: a container's dead init is no
    child of the node, and the machine's init (which reaps it) may take a moment.
    """
    deadline = time.monotonic() + wait
    while True:
        found = _leftovers(node)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _leftovers(node: Node) -> list[str]:
    data = node.data
    # the node's mount service, and the flists it keeps served idle: they go with the node
    service = data / "mounts" / "flists"
    found = [
        line
        for line in Path("/proc/mounts").read_text().splitlines()
        if str(data) in line and not line.startswith(f"zos-flists {service} ")
    ]
    state = data / "containers"
    found += [f"state {p}" for p in state.iterdir()] if state.exists() else []
    cids = re.findall(
        r"event=container_created id=\d+ cid=(\w+)", (node.root / "node.log").read_text()
    )
    assert cids, "the node's log names no container it created"
    for cid in cids:
        if Path(f"/sys/class/net/zv{cid[-10:]}").exists():
            found.append(f"link zv{cid[-10:]}")
        if Path(f"/var/run/netns/zos-{cid}").exists():
            found.append(f"netns zos-{cid}")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            groups = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        ours = any(f"/zos/{cid}" in groups for cid in cids)
        if ours or (str(data).encode() in cmd and b"zeroos.cli\0node" not in cmd):
            found.append(f"process {pid} {cmd[:120]!r}")
    return found


def spare_networks(node: Node) -> list[str]:
    """The cids of the networks the node made ahead for its next container (its log names
    them) that no container took and whose namespace or veth is still on the machine."""
    said = (node.root / "node.log").read_text()
    taken = set(re.findall(r"event=container_created id=\d+ cid=(\w+)", said))
    return [
        cid
        for cid in re.findall(r"event=network_spare_made cid=(\w+)", said)
        if cid not in taken
        and (
            Path(f"/sys/class/net/zv{cid[-10:]}").exists()
            or Path(f"/var/run/netns/zos-{cid}").exists()
        )
    ]


def wait_spare(node: Node) -> str:
    """The cid of the network the node makes ahead after a start with a network, once made."""
    deadline = time.monotonic() + WAIT
    while not (made := spare_networks(node)):
        assert time.monotonic() < deadline, "no network made ahead for the next container"
        time.sleep(0.05)
    [cid] = made
    return cid


def service_pids(node: Node) -> list[int]:
    """The pids of the node's flist mount service (zos node mount-service on its folder)."""
    mountpoint = str(node.data / "mounts" / "flists").encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"mount-service" in argv and mountpoint in argv:
            found.append(int(pid))
    return found


def stop_leaves_nothing(node: Node) -> None:
    """The node stops with no container left: its mount service and its mount go with it."""
    assert service_pids(node), "no mount service ran"
    assert node.child.stop() == 0, (node.root / "node.log").read_text()
    assert service_pids(node) == []
    assert spare_networks(node) == []  # the network made ahead goes with the node
    assert str(node.data) not in Path("/proc/mounts").read_text()


def _result(client: Client, command: str, args: dict[str, object]) -> object:
    return client.raw(command, args).get(WAIT)


def create(client: Client, flist: Path, **kwargs: object) -> int:
    result = client.raw("corex.create", {"root": str(flist), **kwargs}).get(WAIT)
    assert result.state == "SUCCESS", result.data
    return int(json.loads(result.data))


def run_inside(client: Client, container: int, script: str) -> tuple[int, str, str]:
    job = client.container.client(container).system(f"sh -c '{script}'")
    result = job.get(WAIT)
    return result.code, result.stdout, result.stderr


@pytest.mark.parametrize("runtime", ["crun", "runc"])
def test_container_from_an_flist_runs_commands_inside(
    container_node: Callable[..., Node], busybox_flist: Path, tmp_path: Path, runtime: str
) -> None:
    node = container_node("--runtime", runtime)
    client = node.client()
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "from-host").write_text("host file\n")
    n = create(
        client,
        busybox_flist,
        hostname="boxy",
        env={"GREETING": "hi"},
        mount={str(shared): "/shared"},
    )
    code, out, err = run_inside(
        client, n, "hostname; echo $GREETING; cat /etc/motd /shared/from-host; echo $$; touch /new"
    )
    assert code == 0, err
    lines = out.split("\n")
    assert lines[:4] == ["boxy", "hi", "hello from the flist", "host file"]
    assert lines[4] != "1"
    assert int(lines[4]) < 100
    # the writable layer took /new; the flist under it did not change
    assert (node.data / "containers" / str(n) / "rw" / "upper" / "new").exists()
    listed = client.container.list()
    assert listed[str(n)]["container"]["arguments"]["hostname"] == "boxy"
    # the next start takes the network made ahead: its namespace, veth and address
    spare = wait_spare(node)
    second = create(client, busybox_flist)
    state = json.loads((node.data / "containers" / str(second) / "state.json").read_text())
    assert state["cid"] == spare
    code, out, err = run_inside(client, second, "ip -4 -o addr show eth0")
    assert code == 0, err
    assert f"inet {state['ip']}/" in out
    client.container.terminate(second)
    # streamed output, as 0-core streams a job's
    seen: list[str] = []
    job = client.container.client(n).system("sh -c 'echo one; echo two'", stream=True)
    job.stream(lambda level, line, flags: seen.append(line))
    assert seen[:2] == ["one", "two"]
    client.container.terminate(n)
    assert client.container.list() == {}
    assert leftovers(node) == []
    stop_leaves_nothing(node)


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the host\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def host_http() -> Iterator[Callable[[str], int]]:
    """An HTTP server on the host, started on the address asked (the bridge's)."""
    servers: list[http.server.HTTPServer] = []

    def start(address: str) -> int:
        server = http.server.HTTPServer((address, 0), _Hello)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _get(port: int, deadline: float) -> bytes:
    """One line from 127.0.0.1:port, trying until ``deadline`` (the listener inside starts)."""
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"ping\n")
                got = sock.recv(100)
                if got:
                    return got
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answered on port {port}")
        time.sleep(0.1)


def test_port_forward_bridge_and_readoption(
    container_node: Callable[..., Node],
    busybox_flist: Path,
    network_flags: list[str],
    host_http: Callable[[str], int],
) -> None:
    node = container_node()
    client = node.client()
    port = free_port()
    n = create(client, busybox_flist, port={str(port): 7000})
    client.container.client(n).system("sh -c 'while :; do echo pong | nc -l -p 7000; done'")
    assert _get(port, time.monotonic() + 30) == b"pong\n"
    # a second forward of that port is refused with one line, the node keeps serving
    again = client.raw("corex.create", {"root": str(busybox_flist), "port": {str(port): 1}})
    bad = again.get(WAIT)
    assert bad.state == "ERROR"
    assert f"host port {port} is forwarded already" in bad.data
    # the container reaches the host on its bridge
    gateway = network_flags[-1].split("/")[0]
    web = host_http(gateway)
    code, out, err = run_inside(client, n, f"wget -q -O- http://{gateway}:{web}/")
    assert (code, out) == (0, "hello from the host\n"), err
    # portforward-add/remove
    extra = free_port()
    ok = client.raw(
        "corex.portforward-add", {"container": n, "host_port": str(extra), "container_port": 7000}
    ).get(WAIT)
    assert ok.state == "SUCCESS", ok.data
    assert _get(extra, time.monotonic() + 30) == b"pong\n"
    gone = client.raw(
        "corex.portforward-remove", {"container": n, "host_port": extra, "container_port": 7000}
    ).get(WAIT)
    assert gone.state == "SUCCESS", gone.data
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", extra), timeout=5).close()

    # kill -9 of the node core: the container keeps running; a new node adopts it
    served_by = service_pids(node)
    assert len(served_by) == 1, served_by
    spare = wait_spare(node)
    node.child.kill()
    state = json.loads((node.data / "containers" / str(n) / "state.json").read_text())
    runtime = ["crun", "--root", str(node.data / "runtime" / "crun")]
    assert (
        b"running"
        in subprocess.run(
            [*runtime, "state", state["cid"]], capture_output=True, check=True, timeout=30
        ).stdout
    )
    node.child.start(timeout=60)
    client = node.client()
    listed = client.container.list()
    assert str(n) in listed
    assert listed[str(n)]["container"]["status"] == "running"
    assert _get(port, time.monotonic() + 30) == b"pong\n"  # its forward opened again
    mine = f"{node.data}/containers/{n}/"
    table = Path("/proc/mounts").read_text().splitlines()
    overlays = [m for m in table if mine in m]
    assert len(overlays) == 1, overlays  # its root: mounted once, not twice
    service = [m for m in table if f" {node.data}/mounts/flists " in m]
    assert len(service) == 1, service  # the mount service kept, not started again
    assert service_pids(node) == served_by  # ...and its process the same one
    # the network the killed node made ahead: removed by the new one
    assert not Path(f"/var/run/netns/zos-{spare}").exists()
    assert not Path(f"/sys/class/net/zv{spare[-10:]}").exists()
    assert run_inside(client, n, "cat /etc/motd")[:2] == (0, "hello from the flist\n")
    client.container.terminate(n)
    assert leftovers(node) == []


def test_a_killed_mount_service_is_replaced(
    container_node: Callable[..., Node], busybox_flist: Path
) -> None:
    node = container_node()
    client = node.client()
    old = create(client, busybox_flist, nics=[])
    [service] = service_pids(node)
    os.kill(service, signal.SIGKILL)
    node.child.kill()
    node.child.start(timeout=60)
    client = node.client()
    assert "event=mount_service_replaced" in (node.root / "node.log").read_text()
    assert len(service_pids(node)) == 1
    assert service_pids(node) != [service]
    # the old container is still known (and terminated below); a new one runs from the flist
    assert str(old) in client.container.list()
    new = create(client, busybox_flist, nics=[])
    assert run_inside(client, new, "cat /etc/motd")[:2] == (0, "hello from the flist\n")
    for n in (old, new):
        client.container.terminate(n)
    assert leftovers(node) == []
    stop_leaves_nothing(node)


def test_twenty_containers_started_at_once(
    container_node: Callable[..., Node], busybox_flist: Path
) -> None:
    node = container_node()
    client = node.client()
    count = 20
    jobs = [client.raw("corex.create", {"root": str(busybox_flist)}) for _ in range(count)]
    results = [job.get(WAIT) for job in jobs]
    assert [r.state for r in results] == ["SUCCESS"] * count, [r.data for r in results]
    made = sorted(int(json.loads(r.data)) for r in results)
    assert len(set(made)) == count
    # each runs commands of its own, all asked at once: its hostname, its own address
    script = "sh -c 'hostname; ip -4 -o addr show eth0'"
    inside = {n: client.container.client(n).system(script) for n in made}
    seen = {}
    for n, job in inside.items():
        result = job.get(WAIT)
        assert result.code == 0, result.stderr
        said = result.stdout.split()
        seen[n] = [said[0], said[said.index("inet") + 1]]
    assert {n: said[0] for n, said in seen.items()} == {n: f"container{n}" for n in made}
    assert len({said[1] for said in seen.values()}) == count  # an address each
    ends = [client.raw("corex.terminate", {"container": n}) for n in made]
    assert [e.get(WAIT).state for e in ends] == ["SUCCESS"] * count
    assert client.container.list() == {}
    assert leftovers(node) == []


def test_bad_containers_are_one_error_each(
    container_node: Callable[..., Node], busybox_flist: Path, tmp_path: Path
) -> None:
    node = container_node()
    client = node.client()
    corrupt = tmp_path / "corrupt.fl"
    corrupt.write_bytes(b"this is no flist" * 100)
    cases = {
        "no such file": {"root": str(tmp_path / "missing.fl")},
        "is not a usable flist": {"root": str(corrupt)},
        "exited at once": {"root": str(busybox_flist), "init": ["/bin/sh", "-c", "exit 3"]},
        "argument 'root'": {"root": 42},
        "argument 'port": {"root": str(busybox_flist), "port": {"x": "y"}},
        "no such folder on the host": {"root": str(busybox_flist), "mount": {"/nope/x": "/x"}},
        "not supported here": {"root": str(busybox_flist), "nics": [{"type": "zerotier"}]},
    }
    for said, args in cases.items():
        result = client.raw("corex.create", args).get(WAIT)
        assert result.state == "ERROR", (said, result.data)
        assert said in result.data, (said, result.data)
        assert "\n" not in result.data.strip()
    # a process that exits later: dispatch says the container stopped, terminate still cleans
    n = create(client, busybox_flist, init=["/bin/sh", "-c", "sleep 2; echo bye; exit 0"])
    inner = {"command": "core.system", "arguments": {"name": "true", "args": []}}
    deadline = time.monotonic() + WAIT
    while True:
        said = client.raw("corex.dispatch", {"container": n, "command": inner}).get(WAIT)
        if said.state == "ERROR":
            break
        assert time.monotonic() < deadline, "the container's process never stopped"
        time.sleep(0.2)
    assert said.data == f"container {n} is not running (its process exited): bye"
    client.container.terminate(n)
    bad = client.raw("corex.terminate", {"container": 999}).get(WAIT)
    assert bad.state == "ERROR"
    assert "no container 999" in bad.data
    assert client.ping() == "PONG"
    assert client.container.list() == {}
    assert leftovers(node) == []


def test_bridges_with_nat(start_node: Callable[..., Node]) -> None:
    node = start_node("--dev")
    client = node.client()
    name = f"zb{secrets.token_hex(3)}"
    client.bridge.create(name, network="static", nat=True, settings={"cidr": "10.251.7.1/24"})
    try:
        assert name in client.bridge.list()
        said = subprocess.run(
            ["ip", "-br", "addr", "show", name], capture_output=True, check=True, timeout=30
        ).stdout.decode()
        assert "10.251.7.1/24" in said
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, timeout=30)
        assert f"zos_nat_{name}" in tables.stdout.decode()
        again = client.raw(
            "bridge.create",
            {"name": name, "hwaddr": None, "network": {"mode": None, "nat": False, "settings": {}}},
        ).get(WAIT)
        assert again.state == "ERROR"
        assert "exists already" in again.data
    finally:
        client.bridge.delete(name)
    assert name not in client.bridge.list()
    assert not Path(f"/sys/class/net/{name}").exists()
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, timeout=30)
    assert f"zos_nat_{name}" not in tables.stdout.decode()


def test_cpu_and_memory_limits_where_the_machine_has_cgroups(
    container_node: Callable[..., Node], busybox_flist: Path
) -> None:
    node = container_node()
    client = node.client()
    n = create(client, busybox_flist, memory=64, cpu=0.5, nics=[])
    info = client.json("corex.get", {"container": n})["container"]
    cid = json.loads((node.data / "containers" / str(n) / "state.json").read_text())["cid"]
    v1 = Path("/sys/fs/cgroup/memory") / "zos" / cid
    if info["limits"] != "applied":  # a machine without the controllers says why
        assert "cgroup" in info["limits"]
        pytest.skip(f"no cgroup limits here: {info['limits']}")
    assert v1.is_dir(), "limits said applied, but no cgroup of the container"
    assert int((v1 / "memory.limit_in_bytes").read_text()) == 64 * 1024 * 1024
    cpu = Path("/sys/fs/cgroup/cpu") / "zos" / cid
    assert int((cpu / "cpu.cfs_quota_us").read_text()) == 50_000
    code, out, _ = run_inside(client, n, "ls /sys/class/net")
    assert (code, out.split()) == (0, ["lo"])  # nics none: a network namespace with lo only
    client.container.terminate(n)
    assert not v1.exists()
    assert leftovers(node) == []


def test_a_node_killed_with_no_container_leaves_no_mount_service(
    container_node: Callable[..., Node],
) -> None:
    node = container_node()
    deadline = time.monotonic() + WAIT
    while not service_pids(node):  # started in the background as the node starts
        assert time.monotonic() < deadline, "no mount service started"
        time.sleep(0.1)
    node.child.kill()  # nothing stops it: it sees no node holding it, no root on it, and goes
    while service_pids(node) or str(node.data) in Path("/proc/mounts").read_text():
        assert time.monotonic() < deadline, "the mount service outlived its node"
        time.sleep(0.1)
