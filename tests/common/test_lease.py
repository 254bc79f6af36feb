"""One lease owner format for zero-db's Tarantool lease and zero-id's, and its liveness test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from zeroos.common.lease import Owner, pid_namespace


def test_owner_round_trip_and_the_older_three_part_form() -> None:
    mine = Owner.mine()
    assert (mine.host, mine.pid, mine.pidns) == (socket.gethostname(), os.getpid(), pid_namespace())
    assert Owner.parse(str(mine)) == mine  # the pid namespace holds colons: it comes last
    old = Owner.parse("db1:42:abc", pidns="pid:[1]")
    assert old == Owner("db1", 42, "abc", "pid:[1]")
    assert Owner.parse("garbage").pid is None
    assert old.describe() == "pid 42 on host db1"
    assert Owner.parse("h:x:t").describe() == "pid ? on host h"
    assert Owner.mine().token != mine.token


def test_a_dead_process_of_this_host_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=60)
    here = Owner.mine()
    dead = Owner(here.host, child.pid, "t", here.pidns)
    assert dead.gone()
    assert not here.gone()  # this very process
    assert not Owner(here.host, 1, "t", here.pidns).gone()  # init runs
    # another host, or another pid namespace of this host's name: only the expiry tells
    assert not Owner("elsewhere.example", child.pid, "t", here.pidns).gone()
    assert not Owner(here.host, child.pid, "t", "pid:[0]").gone()
    assert not Owner(here.host, None, "t", here.pidns).gone()
