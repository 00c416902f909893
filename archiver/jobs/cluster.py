"""Distributed mode (``broker_url`` set): fetch-and-extract jobs run on `archiver worker`
processes anywhere, through Dramatiq over Redis; the archive keeps one writer.

The only module that imports Dramatiq (and redis-py, which Dramatiq's Redis broker is built on).

- The writer (the daemon, or a command such as `archiver fetch`) leases each due row
  (``lease_until``), sends a *spec* of the job to the ``queue``, and saves the results that come
  back on its results queue with the very ``save`` of single-process mode, recording each job's
  idempotency key in the same transaction (``cluster_results``), then acknowledges the message.
- A worker rebuilds the job from its spec over its own hardened Fetcher and extraction pool,
  runs its ``work`` (every SSRF, size, deadline and robots.txt rule applies where the request
  leaves from) and sends the work back as JSON (``archiver.jobs.wire``).
- Politeness holds for the whole cluster: ``ClusterGate`` replaces the worker fetcher's per-process
  gate with Dramatiq's Redis rate-limiter backend, and a job whose host has no free slot is sent
  again with a delay instead of waiting on a thread.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import BrokerConnectionError
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

from archiver.content.urls import redact_url
from archiver.jobs.runner import job_key
from archiver.jobs.wire import WireError, from_wire, job_from_spec, job_spec, to_wire
from archiver.net.fetcher import Fetcher, HostDeferred
from archiver.net.robots import RobotsPolicy
from archiver.settings import Config, ConfigError
from archiver.store.db import iso, parse_iso, transaction

log = logging.getLogger(__name__)

NAMESPACE = "archiver"
WORK_ACTOR = "archiver_job"
RESULT_ACTOR = "archiver_result"
WORKER_SEEN = 60          # seconds a worker's heartbeat counts as "seen"
HEARTBEAT_EVERY = 15.0
EPOCH_KEY = f"{NAMESPACE}:epoch"  # gone when Redis restarts empty: what was queued is lost
BUSY_RETRY = 0.1          # seconds before a job whose host has no free connection is tried again
# A result is delivered again only while its message is unacknowledged (minutes after a writer
# dies): a day of keys is plenty, and keeps the table to one day of results.
KEPT_KEYS = timedelta(days=1)
PRUNE_EVERY = 3600.0
BROKER_ERRORS = (BrokerConnectionError, redis.RedisError)


class ClusterError(ConfigError):
    """The broker cannot be reached or used; the message says which and why (a configuration
    problem as far as the commands are concerned: they report it in one line)."""


def connect(config: Config) -> RedisBroker:
    """A broker on ``broker_url`` with the job and result actors declared (they must be the same
    on every process: the name, queue and limits of a job are part of the protocol)."""
    try:
        broker = RedisBroker(url=config.broker_url, namespace=NAMESPACE)
    except ValueError as exc:
        raise ClusterError(f"broker_url: {exc}") from None
    # A job may wait for its host's turn, fetch (redirects and robots.txt included) and extract.
    limit_ms = int((3 * config.deadline + config.extract_timeout + 60) * 1000)
    dramatiq.actor(_run_job, broker=broker, actor_name=WORK_ACTOR, queue_name=config.queue,
                   max_retries=3, min_backoff=1000, time_limit=limit_ms)
    dramatiq.actor(_never_run, broker=broker, actor_name=RESULT_ACTOR, queue_name=config.results_queue)
    return broker


def _never_run(*_: Any) -> None:
    """Results are read by the writer (``ClusterRunner``), never by a Dramatiq worker."""
    raise RuntimeError("results are consumed by the writer")


# -- politeness across the cluster ---------------------------------------------------------------

class ClusterGate:
    """``HostGate``'s contract (``slot``, ``ready_in``, ``defer``) over Redis, so that every
    request of every worker counts: at most ``per_host`` in flight to a host, starts at least
    ``delay`` apart, and a host's Retry-After honoured by all.

    The ``per_host`` connections are that many Dramatiq ConcurrentRateLimiters of limit 1 (a
    distributed mutex each, as Dramatiq's documentation suggests) rather than one limiter of
    limit ``per_host``: each mutex expires on its own, so a slot held by a worker killed mid-request
    comes back after ``hold`` seconds even while other requests keep the host busy. A start is a
    token set with the rate-limiter backend's atomic add-if-absent, living ``delay``."""

    def __init__(self, backend: RedisBackend, per_host: int, delay: float, hold: float):
        self.backend = backend
        self.per_host = max(1, per_host)
        self.delay_ms = int(delay * 1000)
        self.hold_ms = int(hold * 1000)

    def _key(self, host: str, what: str) -> str:
        return f"{NAMESPACE}:host:{host}:{what}"

    def _left(self, host: str, what: str) -> float:
        return max(0, self.backend.client.pttl(self._key(host, what))) / 1000

    def _mutexes(self, host: str) -> list[ConcurrentRateLimiter]:
        return [ConcurrentRateLimiter(self.backend, self._key(host, f"busy{n}"), limit=1, ttl=self.hold_ms)
                for n in range(self.per_host)]

    def defer(self, host: str, seconds: float) -> None:
        if seconds > self._left(host, "defer"):
            self.backend.client.set(self._key(host, "defer"), 1, px=max(1, int(seconds * 1000)))

    def ready_in(self, host: str, patience: float = math.inf) -> float:
        """Seconds until ``host`` takes another request from this cluster (0: now); a
        Retry-After longer than ``patience`` counts as now (the request fails at once)."""
        deferred = self._left(host, "defer")
        if deferred > patience:
            return 0.0
        held = self.backend.client.mget([m.key for m in self._mutexes(host)])
        busy = all(value is not None and int(value) >= 1 for value in held)
        return max(deferred, self._left(host, "start"), BUSY_RETRY if busy else 0.0)

    @contextmanager
    def slot(self, host: str, max_wait: float) -> Iterator[None]:
        """A turn at ``host``, waited for up to ``max_wait`` seconds (HostDeferred after that)."""
        give_up = time.monotonic() + max_wait
        while True:
            deferred = self._left(host, "defer")
            if deferred > max_wait:
                raise HostDeferred(f"{host} asked to wait {deferred:.0f}s", time.monotonic() + deferred)
            if not deferred:
                with ExitStack() as held:
                    for mutex in self._mutexes(host):
                        if held.enter_context(mutex.acquire(raise_on_failure=False)):
                            if self._start(host):
                                yield
                                return
                            break  # a free connection, but too soon after the last start
            wait = max(self.ready_in(host, max_wait), 0.01)
            if time.monotonic() + wait > give_up:
                raise HostDeferred(f"{host} had no free turn within {max_wait:.0f}s", time.monotonic() + wait)
            time.sleep(wait)

    def _start(self, host: str) -> bool:
        return self.delay_ms <= 0 or self.backend.add(self._key(host, "start"), 1, ttl=self.delay_ms)


# -- the worker ----------------------------------------------------------------------------------

class WorkerContext:
    """What a job's ``work`` reaches on a worker: the config, a fetcher whose politeness is the
    cluster's, the extraction pool and the robots.txt policy. No database."""

    def __init__(self, config: Config, broker: RedisBroker, threads: int = 0):
        from archiver.jobs.workers import WorkerPool

        self.config = config
        self.broker = broker
        self.fetcher = Fetcher(config, in_flight=threads)  # each thread may be fetching
        self.gate = ClusterGate(RedisBackend(client=broker.client), config.per_host_connections,
                                config.per_host_delay, hold=config.deadline + 10)
        self.fetcher.gate = self.gate  # type: ignore[assignment]  # same contract as HostGate
        self.pool = WorkerPool(config)
        self.robots_refusal = RobotsPolicy(self.fetcher).refusal if config.obey_robots else None

    def close(self) -> None:
        self.pool.stop()
        self.fetcher.close()
        self.pool.close()


_context: WorkerContext | None = None  # set by serve_worker: one per worker process


def _run_job(message: dict[str, Any]) -> None:
    """The Dramatiq actor: do one job's work and send the result to the writer that asked."""
    context = _context
    if context is None:
        raise RuntimeError("no worker context in this process")
    spec = message["spec"]
    job = job_from_spec(context, spec)
    wait = context.gate.ready_in(job.host, context.config.deadline)
    if wait > 0:  # the host's turn is not now: come back then, leaving the thread to others
        context.broker.get_actor(WORK_ACTOR).send_with_options(args=(message,), delay=int(wait * 1000) + 1)
        return
    started = time.monotonic()
    try:
        result: dict[str, Any] = {"work": to_wire(job.work())}
    except Exception as exc:  # a bug in one job is that job's failure, recorded by the writer
        log.exception("job %s failed unexpectedly", spec.get("url"))
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result.update(spec=spec, key=message["key"], worker=worker_name(),
                  seconds=round(time.monotonic() - started, 3))
    reply = dramatiq.Message(queue_name=message["reply_to"], actor_name=RESULT_ACTOR, args=(result,),
                             kwargs={}, options={})
    context.broker.enqueue(reply)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def serve_worker(config: Config, threads: int, stop: threading.Event) -> None:
    """Run one worker process until ``stop`` is set: Dramatiq's worker threads on ``queue``, and
    a heartbeat that `archiver status` counts."""
    global _context
    broker = connect(config)
    ping(broker)
    _context = WorkerContext(config, broker, threads)
    worker = dramatiq.Worker(broker, queues={config.queue}, worker_threads=threads, worker_timeout=50)
    worker.start()
    log.info("worker %s: %s threads on queue %r of %s", worker_name(), threads, config.queue,
             redact_url(config.broker_url))
    try:
        while not stop.wait(HEARTBEAT_EVERY if _beat(broker) else 1.0):
            pass
    finally:
        worker.stop(timeout=int(config.deadline * 1000))
        _context.close()
        _context = None


def _beat(broker: RedisBroker) -> bool:
    try:
        broker.client.set(f"{NAMESPACE}:worker:{worker_name()}", iso(datetime.now(timezone.utc)), ex=WORKER_SEEN)
        return True
    except redis.RedisError as exc:
        log.warning("cannot reach the broker: %s", exc)
        return False


def ping(broker: RedisBroker) -> None:
    try:
        broker.client.ping()
    except redis.RedisError as exc:
        raise ClusterError(f"cannot reach the broker: {exc}") from None


# -- the writer ----------------------------------------------------------------------------------

class ClusterRunner:
    """``Runner``'s contract over the cluster: ``run`` sends jobs to the workers and yields the
    outcomes of the results it saves, on the calling thread (the archive's one writer).

    As the Runner does for its threads, it keeps jobs host by host and lets only a few per host
    out at once (twice ``per_host_connections``), sending hosts round-robin: the queue then holds
    a mix of hosts, and a worker seldom takes a job whose host has no free turn (such a job is
    put back with a delay). A job's row is leased when its job goes out.

    The daemon (``writer``) reads the shared results queue, so that results of jobs sent before a
    restart are saved too; any other command (`archiver fetch`) reads a queue of its own."""

    # Share of a daemon tick spent saving results: the workers do the waiting on the network, so
    # the writer may spend most of it writing (the rest goes to the heartbeat and upkeep).
    tick_share = 0.75

    def __init__(self, session: Any, writer: bool = False):
        self.session = session
        self.db = session.db
        self.config = session.config
        self.broker = connect(self.config)
        ping(self.broker)
        self.writer = writer
        self.reply_to = self.config.results_queue if writer else f"{self.config.results_queue}.{uuid.uuid4().hex[:12]}"
        self.broker.declare_queue(self.reply_to)
        self._pruned = -math.inf
        self.per_host = 2 * max(1, self.config.per_host_connections)
        self._consumer: Any = None
        self._waiting: OrderedDict[str, deque[tuple[str, Any]]] = OrderedDict()
        self._out: dict[str, tuple[Any, float]] = {}   # key -> job, monotonic time its lease ends
        self._busy: Counter[str] = Counter()             # jobs out, by host
        self._keys: dict[tuple[str, str], str] = {}      # job_key -> key: skips work already here
        self._epoch: bytes | None = None
        self._troubled = True  # look at the broker's epoch before sending (and after any error)

    @property
    def in_flight(self) -> int:
        self._expire()
        return len(self._out) + sum(len(q) for q in self._waiting.values())

    def run(self, jobs: Iterable[Any], stop: threading.Event | None = None,
            until: float = math.inf, linger: bool = True) -> Iterator[Any]:
        """Send ``jobs`` (skipping any already here) and yield outcomes as results are saved,
        until none of ours is left (and, for the daemon, no result is waiting) or the monotonic
        time ``until`` has come. The daemon tops its jobs up to ``tick_batch``, no further: due
        rows beyond that stay due for a later tick, so the queue never grows faster than the
        workers empty it. Follow-ups (a feed's new entries) all join, as in single-process mode."""
        jobs = list(jobs)
        if self.writer and time.monotonic() - self._pruned > PRUNE_EVERY:
            forget_old_keys(self.db, self.session.now())
            self._pruned = time.monotonic()
        self._troubled |= self.writer  # the daemon looks once a tick
        self._recover()
        if self.writer:
            jobs = jobs[:max(0, self.config.tick_batch - self.in_flight)]
        self._queue(jobs)
        self._dispatch()
        while True:
            self._expire()
            self._recover()
            stopping = stop is not None and stop.is_set()
            left = until - time.monotonic()
            busy = bool(self._out or self._waiting)
            if left <= 0 or (stopping and not linger) or not (busy or self.writer):
                return
            message = self._next(min(left, 0.5) if busy else min(left, 0.05))
            if message is None:
                if not busy:
                    return
                continue
            saved = self._save(message)
            if saved is not None:
                yield saved

    def close(self) -> None:
        """Forget a private results queue; the daemon's stays for the next run."""
        try:
            if not self.writer:
                self.broker.flush(self.reply_to)
            self.broker.client.close()
        except BROKER_ERRORS as exc:
            log.debug("closing the broker connection: %s", exc)

    # -- sending -------------------------------------------------------------------------------
    def _queue(self, jobs: Iterable[Any]) -> None:
        for job in jobs:
            if job_key(job) not in self._keys:
                key = self._keys[job_key(job)] = uuid.uuid4().hex
                self._waiting.setdefault(job.host, deque()).append((key, job))

    def _dispatch(self) -> None:
        """Send waiting jobs, hosts round-robin, while their hosts have room; lease their rows."""
        chosen: list[tuple[str, Any]] = []
        progress = True
        while progress:
            progress = False
            for host in list(self._waiting):
                if self._busy[host] + sum(1 for _, j in chosen if j.host == host) >= self.per_host:
                    continue
                chosen.append(self._waiting[host].popleft())
                if not self._waiting[host]:
                    del self._waiting[host]
                progress = True
        if chosen:
            self._send(chosen)

    def _send(self, chosen: list[tuple[str, Any]]) -> None:
        until = iso(self.session.now() + timedelta(seconds=self.config.job_lease))
        with transaction(self.db):
            for _, job in chosen:
                table, column, value = _row_of(job)
                self.db.execute(f"UPDATE {table} SET lease_until = ? WHERE {column} = ?", [until, value])
        actor = self.broker.get_actor(WORK_ACTOR)
        ends = time.monotonic() + self.config.job_lease
        unsent = []
        for key, job in chosen:
            try:
                actor.send({"key": key, "reply_to": self.reply_to, "spec": job_spec(job)})
            except BROKER_ERRORS as exc:
                log.warning("cannot send %s to the workers: %s", job.url, exc)
                unsent.append(job)
                self._troubled = True
                continue
            self._out[key] = (job, ends)
            self._busy[job.host] += 1
        if unsent:  # due again at the next tick, rather than when the lease ends
            self._release(unsent)

    def _release(self, jobs: list[Any]) -> None:
        with transaction(self.db):
            for job in jobs:
                self._keys.pop(job_key(job), None)
                table, column, value = _row_of(job)
                self.db.execute(f"UPDATE {table} SET lease_until = NULL WHERE {column} = ?", [value])

    def _expire(self) -> None:
        """Forget jobs whose lease has ended: lost with their worker or with the broker, they
        are due again and the next tick sends them anew."""
        now = time.monotonic()
        for key in [k for k, (_, ends) in self._out.items() if ends <= now]:
            self._forget(key)

    def _recover(self) -> None:
        """After a broker error (and at each tick): if Redis lost everything meanwhile
        (restarted without persistence), which an epoch mark kept there tells, send every job
        out again now rather than when its lease ends."""
        if not self._troubled:
            return
        try:
            self.broker.client.set(EPOCH_KEY, uuid.uuid4().hex, nx=True)
            epoch = self.broker.client.get(EPOCH_KEY)
        except BROKER_ERRORS:
            return
        if self._epoch is not None and epoch != self._epoch and self._out:
            lost = [self._forget(key) for key in list(self._out)]
            log.warning("the broker lost %s jobs (restarted?): sending them again", len(lost))
            self._queue(lost)
            self._dispatch()
        self._epoch, self._troubled = epoch, False

    def _forget(self, key: str) -> Any:
        job, _ = self._out.pop(key)
        self._busy[job.host] -= 1
        self._keys.pop(job_key(job), None)
        return job

    # -- receiving -----------------------------------------------------------------------------
    def _next(self, timeout: float) -> Any:
        """The next result message, or None after about ``timeout`` seconds without one."""
        try:
            if self._consumer is None:
                self._consumer = self.broker.consume(self.reply_to, prefetch=64, timeout=50)
            give_up = time.monotonic() + timeout
            while time.monotonic() < give_up:
                message = next(self._consumer)
                if message is not None:
                    return message
        except BROKER_ERRORS as exc:
            log.warning("cannot read results from the broker: %s", exc)
            self._consumer, self._troubled = None, True
            time.sleep(min(timeout, 1.0))
        return None

    def _save(self, message: Any) -> Any:
        """Save one result once (its key recorded in the same transaction), then acknowledge it.
        A result that cannot be read or saved is logged and dropped: its row stays leased and is
        due again when the lease ends."""
        outcome, follow_ups = None, []
        try:
            result = message.args[0]
            key = str(result["key"])
            job = self._forget(key) if key in self._out else job_from_spec(self.session, result["spec"])
            work = _work_of(result, self.config.max_body_bytes)
            with transaction(self.db):
                if not self.db.execute("SELECT 1 FROM cluster_results WHERE key = ?", [key]).fetchone():
                    outcome, follow_ups = job.save(self.db, work)
                    self.db.execute("INSERT INTO cluster_results (key, saved_at) VALUES (?, ?)",
                                    [key, iso(self.session.now())])
                    table, column, value = _row_of(job)
                    self.db.execute(f"UPDATE {table} SET lease_until = NULL WHERE {column} = ?", [value])
        except (WireError, KeyError, TypeError, ValueError) as exc:
            log.error("dropped a result that cannot be read: %s", exc)
        self._ack(message)
        self._queue(follow_ups)
        self._dispatch()
        return outcome

    def _ack(self, message: Any) -> None:
        try:
            self._consumer.ack(message)
        except BROKER_ERRORS as exc:  # it comes back, and its key says it is saved already
            log.warning("cannot acknowledge a result: %s", exc)
            self._consumer, self._troubled = None, True


def _work_of(result: dict[str, Any], max_bytes: int) -> Any:
    """The job's work from a result, or the exception that stands for its failure."""
    if "error" in result:
        return RuntimeError(str(result["error"]))
    return from_wire(result["work"], max_bytes)


def _row_of(job: Any) -> tuple[str, str, Any]:
    """The row that a job's lease goes on: (table, key column, value)."""
    feed = getattr(job, "feed", None)
    if hasattr(job, "canonical"):
        return "pages", "url", job.canonical
    if feed and feed.get("id") is not None:
        return "feeds", "id", feed["id"]
    return "feeds", "url", job.url


def forget_old_keys(db: Any, now: datetime) -> None:
    """Drop idempotency keys older than any redelivery could be."""
    with transaction(db):
        db.execute("DELETE FROM cluster_results WHERE saved_at < ?", [iso(now - KEPT_KEYS)])


# -- status --------------------------------------------------------------------------------------

def status_lines(config: Config, db: Any, now: datetime) -> list[str]:
    """Queue depth, workers seen in the last minute and the oldest job in flight."""
    lines = []
    try:
        broker = connect(config)
        depth = broker.do_qsize(config.queue)
        workers = sum(1 for _ in broker.client.scan_iter(match=f"{NAMESPACE}:worker:*", count=500))
        results = broker.do_qsize(config.results_queue)
        lines.append(f"cluster: {depth} jobs queued, {results} results waiting, "
                     f"{workers} workers seen in the last {WORKER_SEEN}s ({redact_url(config.broker_url)})")
    except (ClusterError, *BROKER_ERRORS) as exc:
        lines.append(f"cluster: cannot reach the broker at {redact_url(config.broker_url)}: {exc}")
    try:
        oldest = db.execute("SELECT min(lease_until) FROM (SELECT lease_until FROM feeds WHERE lease_until > ? "
                            "UNION ALL SELECT lease_until FROM pages WHERE lease_until > ?)",
                            [iso(now), iso(now)]).fetchone()[0]
    except sqlite3.OperationalError:  # an archive no daemon of this version has opened yet
        oldest = None
    if oldest:
        sent = parse_iso(oldest) - timedelta(seconds=config.job_lease)
        lines.append(f"oldest job in flight: sent {max(0.0, (now - sent).total_seconds()):.0f}s ago")
    else:
        lines.append("oldest job in flight: none")
    return lines
