"""Deployment.predict from Python threads: each caller gets its own rows back, and its torch thread count is kept.

predict runs the batch on the calling thread when it is the only call in
flight and wakes waiting callers one at a time (the GIL baton); these tests
check the answers and the caller's state, not the speed.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time

import numpy as np
import pytest
import torch

import mlship

THREADS = 16
CALLS_PER_THREAD = 40
FEATURES = 8


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(FEATURES, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)).eval()


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    """One distinct row per (thread, call)."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((THREADS * CALLS_PER_THREAD, FEATURES)).astype(np.float32)


@pytest.fixture(scope="module")
def expected(net, rows) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(rows)).numpy()


@pytest.fixture(scope="module")
def dep(net):
    model = mlship.load(net, example_inputs=torch.zeros(1, FEATURES))
    with mlship.deploy(model, port=0, http=False, max_batch_size=16, intra_op_threads=1) as d:
        yield d


def test_sixteen_threads_each_get_the_answer_for_their_own_row(dep, rows, expected):
    start = threading.Barrier(THREADS)

    def caller(t: int) -> list[tuple[int, np.ndarray]]:
        start.wait(timeout=30)
        got = []
        for i in range(CALLS_PER_THREAD):
            r = t * CALLS_PER_THREAD + i
            got.append((r, dep.predict(rows[r : r + 1], timeout=30)))
        return got

    pool = concurrent.futures.ThreadPoolExecutor(THREADS)
    try:
        futures = [pool.submit(caller, t) for t in range(THREADS)]
        results = [f.result(timeout=120) for f in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    answered = 0
    for got in results:
        for r, out in got:
            assert out.shape == (1, 4)
            np.testing.assert_allclose(out, expected[r : r + 1], rtol=1e-5, atol=1e-5, err_msg=f"row {r}")
            answered += 1
    assert answered == THREADS * CALLS_PER_THREAD


def test_predict_keeps_the_calling_threads_torch_thread_count(dep, rows, expected):
    seen: dict[str, object] = {}

    def caller() -> None:
        try:
            torch.set_num_threads(2)
            seen["before"] = torch.get_num_threads()
            out = dep.predict(rows[:3], timeout=30)
            seen["after"] = torch.get_num_threads()
            out_again = dep.predict(torch.from_numpy(rows[3:5]), timeout=30)
            seen["after_again"] = torch.get_num_threads()
            seen["outputs"] = (out, out_again.numpy())
        except BaseException as error:  # reported by the test thread below
            seen["error"] = error

    thread = threading.Thread(target=caller)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "predict did not return"
    assert "error" not in seen, seen.get("error")
    assert seen["before"] == 2
    # The deployment runs with intra_op_threads=1, on this thread when it is
    # the only caller; the caller's own setting must come back.
    assert seen["after"] == 2
    assert seen["after_again"] == 2
    out, out_again = seen["outputs"]
    np.testing.assert_allclose(out, expected[:3], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out_again, expected[3:5], rtol=1e-5, atol=1e-5)


def test_one_thread_predicting_in_a_loop_gets_each_answer(dep, rows, expected):
    for r in range(200):
        n = 1 + r % 3
        start = r % (len(rows) - n)
        out = dep.predict(rows[start : start + n], timeout=30)
        assert out.shape == (n, 4)
        np.testing.assert_allclose(out, expected[start : start + n], rtol=1e-5, atol=1e-5, err_msg=f"call {r}")


def _policies_seen(dep, rows, threads: int = 4, calls: int = 300, start_policy: int = os.SCHED_OTHER):
    """Each thread's scheduling policies while calling predict in a loop, and its policy
    after one more call made after a pause."""
    start = threading.Barrier(threads)

    def caller(t: int) -> tuple[set[int], int]:
        os.sched_setscheduler(0, start_policy, os.sched_param(0))
        start.wait(timeout=30)
        seen = set()
        for i in range(calls):
            dep.predict(rows[i % len(rows) : i % len(rows) + 1], timeout=30)
            seen.add(os.sched_getscheduler(0))  # pid 0: this thread
        start.wait(timeout=30)
        time.sleep(0.05)  # far longer than the 200 us that counts as a loop
        dep.predict(rows[:1], timeout=30)
        return seen, os.sched_getscheduler(0)

    pool = concurrent.futures.ThreadPoolExecutor(threads)
    try:
        return [f.result(timeout=120) for f in [pool.submit(caller, t) for t in range(threads)]]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def test_threads_predicting_in_a_loop_run_under_sched_batch_until_they_pause(dep, rows):
    assert dep.settings["sched_batch_callers"] is True
    results = _policies_seen(dep, rows)
    # Some calls find another in flight and wait for their answer: those threads go to
    # SCHED_BATCH while they loop, and every thread is back under SCHED_OTHER after the pause.
    assert any(os.SCHED_BATCH in seen for seen, _ in results), results
    assert all(seen <= {os.SCHED_OTHER, os.SCHED_BATCH} for seen, _ in results), results
    assert [after for _, after in results] == [os.SCHED_OTHER] * len(results)


def test_a_policy_the_caller_chose_is_left_alone(dep, rows):
    results = _policies_seen(dep, rows, threads=2, calls=100, start_policy=os.SCHED_IDLE)
    assert results == [({os.SCHED_IDLE}, os.SCHED_IDLE)] * 2


def test_sched_batch_callers_false_never_touches_the_callers(net, rows):
    model = mlship.load(net, example_inputs=torch.zeros(1, FEATURES))
    with mlship.deploy(model, http=False, sched_batch_callers=False) as d:
        assert d.settings["sched_batch_callers"] is False
        results = _policies_seen(d, rows)
    assert results == [({os.SCHED_OTHER}, os.SCHED_OTHER)] * len(results)
