"""Run a command as a child process and measure it: wall time, CPU of its main process and of its
whole process tree, and memory of the tree while it runs (Linux only: it reads /proc).

    usage = run_child(["archiver", "fetch", "-i", "urls.txt"], env=env, cwd=tmp, output=log)
    print(usage.wall, usage.tree_cpu, usage.peak_rss_sum_mb)

How the numbers are obtained:

- wall: from just before the start until the main process has exited (its teardown included);
  ``lines`` has each line of output with the time it arrived;
- main_cpu: ``os.wait4`` on the main process: its own user+system time (plus that of any child it
  reaped itself);
- tree_cpu: the delta of ``getrusage(RUSAGE_CHILDREN)`` once every descendant has exited. This
  process makes itself a child subreaper, so that descendants orphaned by their parent (a
  multiprocessing forkserver outlives the main process by a moment) are reparented to it and
  reaped here, and their CPU is counted too;
- memory and roles: a thread samples every descendant's /proc files every ``sample_every``
  seconds: the largest sum of VmRSS (counts pages shared by forked workers once per process, so
  it overstates) and which process held what at that moment, the largest sum of Pss (shared
  pages split fairly; sampled less often as it costs more), each process's VmHWM (the kernel's
  own peak, exact between samples) and its CPU as last seen. ``main_maxrss_mb`` (``wait4``) and
  ``children_maxrss_mb`` (``RUSAGE_CHILDREN``, over every child reaped so far) are the kernel's
  ``ru_maxrss``, which Linux carries across fork and execve: a child of this (large) process
  starts with this process's peak, so both overstate; VmHWM, which execve resets, is the one to
  trust;
- other_cpu: CPU the whole machine spent (/proc/stat, all cores) during the run, less the child's
  tree and this process (the servers, the sampler). Other work on the machine competes for the
  same cores, so a run with much of it is not a clean measurement.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import resource
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Mapping, Sequence

PR_SET_CHILD_SUBREAPER = 36
TICKS = os.sysconf("SC_CLK_TCK")


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants; False where that fails."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def descendants(pid: int) -> dict[int, int]:
    """Every living descendant of ``pid`` and its parent, from /proc/<pid>/task/*/children."""
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                children = Path(f"/proc/{parent}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found[child] = parent
                todo.append(child)
    return found


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # guest time is already inside user and nice
    return busy / TICKS


def _status_kb(pid: int, *names: str) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return values
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in names:
            values[key] = int(rest.split()[0])
    return values


def current_rss_mb(pid: int | None = None) -> float:
    """VmRSS of a process (this one by default), in MB."""
    return _status_kb(pid or os.getpid(), "VmRSS").get("VmRSS", 0) / 1024


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _role(pid: int, parent: int, roles: dict[int, str], root: int) -> str:
    """main, forkserver, worker, resource tracker or child: what a descendant is to us."""
    if parent == root:
        return roles.get(pid) or ("main" if not roles else "child")
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        command = b""
    if not command:
        # Gone since it was listed, or exiting (its command line goes with its memory): what it
        # was is what it had been seen as, not what its last moment shows.
        return roles.get(pid) or "child"
    if b"resource_tracker" in command:
        return "resource tracker"
    if b"forkserver" in command:
        return "worker" if roles.get(parent) == "forkserver" else "forkserver"
    return "worker" if roles.get(parent) in ("forkserver", "main") else "child"


@dataclass
class ProcessSeen:
    role: str
    hwm_kb: int = 0
    cpu: float = 0.0  # as last seen: a process's CPU in its final moments is missed


class TreeSampler(threading.Thread):
    """Samples this process's descendants until stopped."""

    def __init__(self, sample_every: float = 0.1, pss_every: int = 5):
        super().__init__(daemon=True)
        self.sample_every = sample_every
        self.pss_every = pss_every
        self.peak_rss_sum_kb = 0
        self.peak_breakdown: list[tuple[str, int]] = []  # (role, RSS kB) of each process at the peak
        self.peak_pss_sum_kb = 0
        self.max_processes = 0
        self.seen: dict[int, ProcessSeen] = {}
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        root = os.getpid()
        while not self._stop_event.is_set():
            self.sample(root)
            self._stop_event.wait(self.sample_every)

    def sample(self, root: int) -> None:
        tree = descendants(root)
        # Roles are worked out again at every sample, parents before their children: a process
        # seen between its fork and its exec still had its parent's command line. (One orphaned
        # to us keeps the role it had.)
        roles = {pid: seen.role for pid, seen in self.seen.items()}
        breakdown = []
        for pid, parent in tree.items():
            role = roles[pid] = _role(pid, parent, roles, root)
            seen = self.seen.get(pid)
            if seen is None:
                seen = self.seen[pid] = ProcessSeen(role)
            seen.role = role
            values = _status_kb(pid, "VmRSS", "VmHWM")
            seen.hwm_kb = max(seen.hwm_kb, values.get("VmHWM", 0))
            seen.cpu = _cpu_seconds(pid) or seen.cpu
            breakdown.append((seen.role, values.get("VmRSS", 0)))
        if sum(kb for _, kb in breakdown) > self.peak_rss_sum_kb:
            self.peak_rss_sum_kb = sum(kb for _, kb in breakdown)
            self.peak_breakdown = sorted(breakdown)
        if self.samples % self.pss_every == 0:
            self.peak_pss_sum_kb = max(self.peak_pss_sum_kb, sum(_pss_kb(pid) for pid in tree))
        self.max_processes = max(self.max_processes, len(tree))
        self.samples += 1

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


@dataclass(frozen=True)
class ChildRun:
    """What one measured child run took."""

    argv: tuple[str, ...]
    returncode: int
    wall: float
    main_cpu: float
    tree_cpu: float
    tree_user: float
    tree_system: float
    main_maxrss_mb: float
    children_maxrss_mb: float
    peak_rss_sum_mb: float
    peak_breakdown: tuple[tuple[str, int], ...]
    peak_pss_sum_mb: float
    processes: tuple[ProcessSeen, ...]
    max_processes: int
    unreaped: int  # descendants still alive when we stopped waiting (their CPU is missing)
    own_cpu: float  # this process (servers, sampler) during the run
    other_cpu: float  # the rest of the machine during the run
    lines: tuple[tuple[float, str], ...]  # (seconds since the start, line) of stdout and stderr

    @property
    def other_cores(self) -> float:
        """Cores other processes kept busy, on average, during the run."""
        return self.other_cpu / self.wall if self.wall else 0.0

    @property
    def worker_cpu(self) -> float:
        """CPU of every process but the main one (forkserver, workers, resource tracker)."""
        return max(0.0, self.tree_cpu - self.main_cpu)

    @property
    def max_process_hwm_mb(self) -> float:
        return max((p.hwm_kb for p in self.processes), default=0) / 1024

    def by_role(self) -> str:
        """e.g. "main 1.90 s / 75 MB, forkserver 0.61 s / 45 MB, 2 x worker 2.1 s / 95 MB" (CPU as
        last sampled, peak RSS per process)."""
        parts = []
        for role in ("main", "forkserver", "worker", "resource tracker", "child"):
            group = [p for p in self.processes if p.role == role]
            if group:
                count = f"{len(group)} x " if len(group) > 1 else ""
                cpu = "+".join(f"{p.cpu:.2f}" for p in group)
                hwm = max(p.hwm_kb for p in group) / 1024
                parts.append(f"{count}{role} {cpu} s CPU, up to {hwm:.0f} MB")
        return "; ".join(parts)

    def peak_composition(self) -> str:
        return " + ".join(f"{role} {kb / 1024:.0f}" for role, kb in self.peak_breakdown) + " MB"


def _reap_orphans(timeout: float) -> int:
    """Reap every descendant reparented to us, waiting up to ``timeout``; how many remain."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid == 0:
            if time.monotonic() > deadline:
                return len(descendants(os.getpid()))
            time.sleep(0.01)


def _copy_lines(source: IO[bytes], output: IO[bytes], started: float,
                stamps: list[tuple[float, str]]) -> None:
    for line in source:
        stamps.append((time.perf_counter() - started, line.decode("utf-8", "replace").rstrip("\n")))
        output.write(line)


def run_child(argv: Sequence[str], env: Mapping[str, str], cwd: str | Path, output: IO[bytes],
              sample_every: float | None = 0.1) -> ChildRun:
    """Run ``argv`` to completion with stdout and stderr copied to ``output``; measure it.

    With ``sample_every=None`` nothing samples the process tree while it runs (no memory figures,
    no CPU by process, only the totals the kernel gives at the end): sampling it every 0.1 s
    costs the run about a tenth of its wall time on two cores, which a timed run should not pay.

    No other child of this process may be running meanwhile (orphans are reaped with
    ``waitpid(-1)``)."""
    become_subreaper()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler = TreeSampler(sample_every or 0.1)
    machine0, own0 = machine_busy_seconds(), time.process_time()
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    sampler.seen[proc.pid] = ProcessSeen("main")
    if sample_every is not None:
        sampler.start()
    lines: list[tuple[float, str]] = []
    assert proc.stdout is not None
    copier = threading.Thread(target=_copy_lines, args=(proc.stdout, output, started, lines), daemon=True)
    copier.start()
    _, status, main_usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    unreaped = _reap_orphans(timeout=15.0)
    copier.join(timeout=5.0)  # the pipe ends once every process holding it has exited
    if sample_every is not None:
        sampler.stop()
    machine = machine_busy_seconds() - machine0
    bench_cpu = time.process_time() - own0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    main_cpu = main_usage.ru_utime + main_usage.ru_stime
    sampler.seen[proc.pid].cpu = main_cpu  # exact, where the sampler's is a last look
    return ChildRun(
        argv=tuple(argv), returncode=proc.returncode, wall=wall, main_cpu=main_cpu,
        tree_cpu=user + system, tree_user=user, tree_system=system,
        main_maxrss_mb=main_usage.ru_maxrss / 1024, children_maxrss_mb=after.ru_maxrss / 1024,
        peak_rss_sum_mb=sampler.peak_rss_sum_kb / 1024, peak_breakdown=tuple(sampler.peak_breakdown),
        peak_pss_sum_mb=sampler.peak_pss_sum_kb / 1024, processes=tuple(sampler.seen.values()),
        max_processes=sampler.max_processes, unreaped=unreaped, own_cpu=bench_cpu,
        other_cpu=max(0.0, machine - user - system - bench_cpu), lines=tuple(lines),
    )


# -- the archiver as the child -----------------------------------------------------------------

def row_counts(db: Path, queries: Mapping[str, str]) -> dict[str, int]:
    """What the archive holds after a run: each label with the single number its query gives."""
    with sqlite3.connect(db) as conn:
        return {label: conn.execute(sql).fetchone()[0] for label, sql in queries.items()}


def archiver_command() -> list[str]:
    """The archiver CLI of the venv this benchmark runs in, its modules compiled to bytecode as an
    installed package's are (an editable install under PYTHONDONTWRITEBYTECODE would otherwise
    compile every module from source at every start)."""
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "archiver"), quiet=1)
    script = Path(sys.executable).parent / "archiver"
    return [str(script)] if script.exists() else [sys.executable, "-m", "archiver"]


def variant_env(variant: str) -> dict[str, str]:
    """Environment for a variant like ``per_host_delay=0,max_connections=40``: a lowercase name
    is an archiver setting (ARCHIVER_<NAME>), an uppercase one a plain environment variable
    (e.g. ``MALLOC_ARENA_MAX=2``); ``default`` is no change."""
    env: dict[str, str] = {}
    for part in variant.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            if name in ("", "default"):
                continue
            raise ValueError(f"not NAME=VALUE: {part!r}")
        env[name if name.isupper() else "ARCHIVER_" + name.upper()] = value
    return env


def archiver_env(db: Path, variant: str) -> dict[str, str]:
    """This environment without ARCHIVER_* variables, plus the database, the loopback networks
    the fetcher may reach, and the variant's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    env.update(ARCHIVER_DB=str(db), ARCHIVER_ALLOW_NETWORKS="127.0.0.0/16")
    env["PYTHONUNBUFFERED"] = "1"  # each output line arrives when written, so its time means something
    env.update(variant_env(variant))
    return env


def archiver_settings(env: Mapping[str, str], cwd: str | Path) -> dict[str, dict[str, Any]]:
    """The effective settings under ``env`` (`archiver config --json`): name -> value, source."""
    out = subprocess.run(archiver_command() + ["config", "--json"], env=dict(env), cwd=cwd,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def network_floor(requests_per_host: int, hosts: int, latency: float,
                  settings: Mapping[str, Mapping[str, Any]]) -> float:
    """Least wall time the network side can take under these settings, for ``requests_per_host``
    requests to each of ``hosts`` hosts that each answer after ``latency``: starts to one host
    spaced by per_host_delay, at most per_host_connections to one host and max_connections in
    all at once."""
    def value(name: str) -> float:
        return float(settings[name]["value"])

    host_floor = max((requests_per_host - 1) * value("per_host_delay") + latency,
                     math.ceil(requests_per_host / value("per_host_connections")) * latency)
    total_floor = math.ceil(requests_per_host * hosts / value("max_connections")) * latency
    return max(host_floor, total_floor)
