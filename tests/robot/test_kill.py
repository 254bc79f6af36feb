"""kill -9 in the middle of a burst of 1,000 tasks: every task the robot acknowledged is back."""

from __future__ import annotations

import threading
import time

import httpx

from .conftest import RobotServer

SERVICES = 10  # 100 tasks each: below the 200 finished tasks a task list keeps
TASKS = 1000
KILL_AFTER = 300  # acknowledged tasks before the kill


def test_kill_9_during_a_burst_keeps_every_acknowledged_task(robot_server: RobotServer) -> None:
    with robot_server.http() as http:
        guids = [
            http.post("/services", json={"template": "counter", "name": f"b{i}"}).json()["guid"]
            for i in range(SERVICES)
        ]
    acknowledged: list[tuple[str, str]] = []
    lock = threading.Lock()
    enough = threading.Event()
    url = robot_server.url

    def burst(worker: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            for n in range(worker, TASKS, 8):
                guid = guids[n % SERVICES]
                try:
                    answer = client.post(f"/services/{guid}/task_list", json={"action_name": "add"})
                except httpx.TransportError:
                    return  # the robot is gone: this task was never acknowledged
                assert answer.status_code == 201, answer.text
                with lock:
                    acknowledged.append((guid, answer.json()["guid"]))
                    if len(acknowledged) >= KILL_AFTER:
                        enough.set()

    threads = [threading.Thread(target=burst, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    assert enough.wait(120), f"only {len(acknowledged)} tasks acknowledged in 120 s"
    robot_server.kill()  # requests are still in flight
    for thread in threads:
        thread.join(60)
    assert KILL_AFTER <= len(acknowledged) < TASKS, len(acknowledged)
    robot_server.start()
    with robot_server.http() as http:
        kept = {
            task["guid"]
            for guid in guids
            for task in http.get(f"/services/{guid}/task_list").json()
        }
        lost = [task for _, task in acknowledged if task not in kept]
        assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged tasks lost"
        deadline = time.monotonic() + 120  # and the robot runs what was pending
        while any(
            http.get(f"/services/{guid}/task_list", params={"state": "new"}).json()
            for guid in guids
        ):
            assert time.monotonic() < deadline, "pending tasks did not run after the restart"
            time.sleep(0.1)
