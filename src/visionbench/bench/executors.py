"""Where a suite's jobs run: in this process, in a pool of local processes, or as tasks on a Ray
cluster (`bench --executor ray`). One interface, `execute(pending, opts, bar, overall)`, yields
(label, progress line, succeeded, phase seconds) per job as it finishes. Every job seeds itself
and fixes its thread count, so where a job ran and in which order jobs finished change only the
times, never the numbers.

Ray: each pending job is one task asking for the resources it needs (one GPU on cuda, else its
threads' CPUs). A task whose worker process dies (killed, out of memory, a lost node) is retried
up to RAY_RETRIES times, and the retry continues from the job's last per-epoch checkpoint: the
task writes a token of its own into the run's status.json first, so a later attempt knows an
earlier one ran, and the locks the dead attempt left are taken over (runs.executor_task). The
run folders must be on a file system every node sees at the same path; Ray carries only the
job's options and its result line. Ray is imported only here, and only for `--executor ray`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import Terminated, VisionbenchError
from ..runs import RunDir, executor_task

if TYPE_CHECKING:
    from ..config import TrainConfig
    from .jobs import SuiteOptions

EXECUTORS = ("local", "ray")
RAY_EXTRA = "--executor ray needs the ray extra: pip install 'visionbench[ray]'"
# attempts after the first for a task whose worker process died (Ray's max_retries)
RAY_RETRIES = 2
# a local Ray instance's object store: the jobs pass only options and a result line through it
LOCAL_OBJECT_STORE_BYTES = 128 * 2**20
# seconds a Ctrl-C waits for cancelled jobs to record "interrupted" and release their locks
CANCEL_WAIT_SECONDS = 15.0

Done = tuple[str, str, bool, dict]  # label, progress line, succeeded, phase seconds


def check_executor(executor: str, address: str | None) -> None:
    """Fail before any job: an unknown executor, --address without Ray, Ray not installed."""
    if executor not in EXECUTORS:
        raise VisionbenchError(f"--executor takes {' or '.join(EXECUTORS)}, got '{executor}'")
    if address is not None and executor != "ray":
        raise VisionbenchError("--address is the Ray cluster to join: use it with --executor ray")
    if executor == "ray":
        import_ray()


def import_ray():
    try:
        import ray
    except ImportError:
        raise VisionbenchError(RAY_EXTRA) from None
    return ray


def execute(pending: list[tuple[str, TrainConfig]], opts: SuiteOptions, bar, overall):
    """Run the pending (label, config) jobs; yield each one's Done as it finishes."""
    if opts.executor == "ray":
        return _ray(pending, opts, bar, overall)
    return _local(pending, opts, bar, overall)


# this machine ----------------------------------------------------------------------------------
def _local(pending, opts: SuiteOptions, bar, overall) -> Iterator[Done]:
    """In this process, or in `workers` processes of one thread each (the order of completion
    varies; the results do not)."""
    from .jobs import run_job

    workers = opts.workers or 1
    if workers <= 1 or len(pending) <= 1:
        for label, cfg in pending:
            bar.update(overall, description=label)
            yield (label, *run_job(cfg, opts.device, opts.profile, opts.quick))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: this process has torch's OpenMP pool, which a forked child cannot use
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
        futures = {
            pool.submit(run_job, cfg, opts.device, opts.profile, opts.quick): label
            for label, cfg in pending
        }
        bar.update(overall, description=f"{workers} jobs at a time")
        try:
            for future in as_completed(futures):
                yield (futures[future], *future.result())
        except BaseException:
            procs = list((getattr(pool, "_processes", None) or {}).values())  # no public handle
            pool.shutdown(wait=False, cancel_futures=True)  # (it forgets the processes)
            _interrupt_workers(procs)
            raise


def _interrupt_workers(workers: list, grace: float = 30.0) -> None:
    """Interrupt the running jobs (SIGINT: each records "interrupted", keeps its checkpoint and
    frees its folder), then kill any worker still alive after `grace` seconds. Without this the
    pool's exit waits for the running jobs to finish: a SIGTERMed suite went on for 20 minutes."""
    for proc in workers:
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    for proc in workers:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()


def _worker_init() -> None:
    """A worker dies with the suite (Linux): a killed suite leaves no job writing behind it.
    SIGINT interrupts its job even when the suite was started with SIGINT ignored (a background
    job of a script), so `_interrupt_workers` can stop it cleanly."""
    import ctypes

    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# Ray -------------------------------------------------------------------------------------------
def _ray(pending, opts: SuiteOptions, bar, overall) -> Iterator[Done]:
    if not pending:
        return
    ray = import_ray()
    started = _connect(ray, opts)
    waiting: list = []
    sigterm = _SigtermSeen()
    try:
        _check_workers(ray, opts)
        device = _task_device(opts.device)
        gpu = device == "cuda" or (device == "auto" and ray.cluster_resources().get("GPU", 0) > 0)
        errors = ray.exceptions
        lost = (errors.WorkerCrashedError, errors.OutOfMemoryError, errors.NodeDiedError)
        job = ray.remote(_ray_job)
        refs = {}
        for label, cfg in pending:
            cfg = dataclasses.replace(cfg, device=device)
            need = {"num_gpus": 1, "num_cpus": 1} if gpu else {"num_cpus": cfg.threads or 1}
            token = uuid.uuid4().hex
            ref = job.options(**need, max_retries=RAY_RETRIES, name=f"visionbench {label}").remote(
                cfg, device, opts.profile, opts.quick, token
            )
            refs[ref] = (label, cfg, token)
        where = opts.address or f"a local Ray instance of {opts.workers} CPUs"
        bar.update(overall, description=f"{len(refs)} Ray tasks on {where}")
        waiting = list(refs)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            for ref in ready:
                label, cfg, token = refs[ref]
                try:
                    yield (label, *ray.get(ref))
                except ray.exceptions.RayError as e:  # e.g. every attempt's worker died
                    died = isinstance(e, lost)
                    why = f"its Ray worker died {RAY_RETRIES + 1} times" if died else "Ray failed"
                    why += f": {_first_line(e)}"
                    _record_failure(cfg, token, why)
                    yield label, f"[red]failed[/red]: {why}", False, {}
    except BaseException:
        # Ctrl-C: each running job records "interrupted" and releases its locks (a plain cancel
        # raises KeyboardInterrupt in the task); the rest never start
        for ref in waiting:
            ray.cancel(ref, force=False)
        with contextlib.suppress(Exception):
            ray.wait(waiting, num_returns=len(waiting), timeout=CANCEL_WAIT_SECONDS)
        if sigterm.seen:  # ray.wait turns any exception a signal handler raises into Ctrl-C's
            raise Terminated("terminated by SIGTERM") from None
        raise
    finally:
        sigterm.restore()
        if started:
            ray.shutdown()


class _SigtermSeen:
    """Notes a SIGTERM that the CLI's handler turns into errors.Terminated, so a wait inside
    Ray, which reports it as a KeyboardInterrupt, still ends the suite as terminated (143)."""

    def __init__(self) -> None:
        self.seen = False
        self.previous = None
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):  # the default (the process ends) or ignored: left alone
            return

        def handler(signum, frame):
            self.seen = True
            previous(signum, frame)

        self.previous = previous
        signal.signal(signal.SIGTERM, handler)

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
            self.previous = None


def _connect(ray, opts: SuiteOptions) -> bool:
    """Join the cluster at opts.address, or start a local instance of opts.workers CPUs; True
    when this call connected (and so disconnects at the end). A process where Ray is already
    initialised (a notebook, a test) keeps its own."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    # ray.init replaces the SIGTERM handler with a plain exit; the CLI's own (errors.Terminated,
    # handled like Ctrl-C: jobs cancelled and recorded "interrupted", exit 143) is put back
    main = threading.current_thread() is threading.main_thread()
    on_sigterm = signal.getsignal(signal.SIGTERM) if main else None
    try:
        if opts.address:
            ray.init(address=opts.address, **quiet)
        else:
            # Ray's notice that it enabled token authentication (it stays enabled) is not ours
            notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
            level = notice.level
            notice.setLevel(logging.ERROR)
            try:
                ray.init(
                    address="local",  # a new instance here, even where RAY_ADDRESS names one
                    num_cpus=opts.workers or 1,
                    include_dashboard=False,
                    object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                    **quiet,
                )
            finally:
                notice.setLevel(level)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {opts.address}" if opts.address else "a local Ray instance"
        raise VisionbenchError(f"cannot start or join {where}: {_first_line(e)}") from None
    finally:
        if on_sigterm is not None:
            signal.signal(signal.SIGTERM, on_sigterm)
    return True


def _where() -> tuple[str, str]:
    """What a Ray worker imports: visionbench's version and folder."""
    from .._version import __version__

    return __version__, str(Path(__file__).resolve().parents[1])


def _check_workers(ray, opts: SuiteOptions) -> None:
    """The workers must run this code: the same version (a cluster), the same folder (a local
    instance, where a stale install would otherwise win over this checkout)."""
    theirs = ray.get(ray.remote(_where).options(num_cpus=0).remote())
    ours = _where()
    same = theirs == ours if not opts.address else theirs[0] == ours[0]
    if not same:
        raise VisionbenchError(
            f"Ray workers import visionbench {theirs[0]} from {theirs[1]}, this process "
            f"{ours[0]} from {ours[1]}: install the same visionbench on every node (or start "
            "Ray with the same PYTHONPATH)"
        )


def _task_device(device: str) -> str:
    """Ray gives each GPU task one GPU of its own (CUDA_VISIBLE_DEVICES): 'cuda:1' is 'cuda'."""
    return "cuda" if device.startswith("cuda") else device


def _ray_job(cfg: TrainConfig, device: str, profile: bool, quick: bool, token: str):
    """One job as a Ray task (run_job's result); a retry continues from the checkpoint."""
    from .jobs import run_job

    # ray.cancel interrupts a running task as a SIGINT would; a worker of a Ray started from a
    # process that ignores SIGINT (a background job of a script) inherits that, and a cancelled
    # job would run on and be killed at shutdown instead of recording "interrupted"
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    run = RunDir(Path(cfg.run_dir))
    try:
        with executor_task(token):
            cfg, attempt = _attempt(run, cfg, token)
            line, ok, seconds = run_job(cfg, device, profile, quick)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # e.g. a live process of someone else holds the run folder
        why = str(e) if isinstance(e, VisionbenchError) else f"{type(e).__name__}: {e}"
        return f"[red]failed[/red]: {why}", False, {}
    if attempt > 1:
        line += f" [yellow](attempt {attempt}: an earlier worker died)[/yellow]"
    return line, ok, seconds


def _attempt(run: RunDir, cfg: TrainConfig, token: str) -> tuple[TrainConfig, int]:
    """Which attempt of its task this is, written into status.json; a retry resumes from the
    checkpoint the earlier attempt left (or starts over when it left none)."""
    with run.lock():
        try:
            status = run.status()
        except VisionbenchError:  # damaged: replaced
            status = {}
        before = status.get("attempt") if status.get("submission") == token else None
        attempt = before + 1 if isinstance(before, int) else 1
        if attempt > 1:
            resume = (run.checkpoint / "state.pt").exists()
            cfg = dataclasses.replace(cfg, resume=resume, force=not resume)
        run.write_json(run.status_file, {**status, "submission": token, "attempt": attempt})
    return cfg, attempt


def _record_failure(cfg: TrainConfig, token: str, why: str) -> None:
    """A job whose every attempt died is marked failed (unless a live process holds it)."""
    run = RunDir(Path(cfg.run_dir))
    with contextlib.suppress(VisionbenchError), executor_task(token), run.lock():
        run.set_status("failed", error=why)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]
