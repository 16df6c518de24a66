"""Python Celery 5.2's side of bench/redis-peers.ts, run by Debian's /usr/bin/python3 with BENCH_REDIS set.

The worker's app: `python3 -m celery -A celery_peer worker` runs the no-op task `bench.noop` and
prints "ready" on stdout once it consumes.
The client: `python3 celery_peer.py enqueue N` sends N tasks through one producer and prints
{"ms": send time}; `python3 celery_peer.py latency S` times S idle send -> AsyncResult.get() round
trips (after one untimed warm-up that opens the connections) and prints {"ms": [...]}.
"""

import json
import os
import sys
import time

from celery import Celery
from celery.signals import worker_ready

app = Celery("celery_peer", broker=os.environ["BENCH_REDIS"], backend=os.environ["BENCH_REDIS"])
app.conf.task_default_queue = "celery-bench"


@app.task(name="bench.noop")
def noop(i):
    return i


@worker_ready.connect
def announce_ready(**_):
    # To the real stdout: the worker redirects sys.stdout to its logger.
    print("ready", file=sys.__stdout__, flush=True)


def enqueue(count):
    t0 = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for i in range(count):
            noop.apply_async((i,), producer=producer)
    return {"ms": (time.perf_counter() - t0) * 1000}


def latency(samples):
    noop.delay(-1).get(timeout=10)
    times = []
    for i in range(samples):
        t0 = time.perf_counter()
        noop.delay(i).get(timeout=10)
        times.append((time.perf_counter() - t0) * 1000)
    return {"ms": times}


if __name__ == "__main__":
    command, count = sys.argv[1], int(sys.argv[2])
    print(json.dumps({"enqueue": enqueue, "latency": latency}[command](count)))
