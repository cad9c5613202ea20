"""Worker processes of a sharded run (one per device, pages sharded by :func:`manganinja.batch.shard`).

- :func:`stop_with_launcher`: a worker started by ``torchrun`` / ``accelerate launch`` (or by
  :func:`launch`) exits when its launcher dies. Those launchers start workers with
  ``subprocess.Popen(..., start_new_session=True)`` from the launcher process itself, so a
  ``SIGKILL`` of the launcher would leave them running (no signal reaches a new session); the
  worker watches its parent process id instead.
- :func:`launch`: runs the workers under torchrun's launcher (the one ``accelerate launch
  --multi_gpu`` uses) in this process and turns the outcome into an exit code and one line.
  Under a plain ``accelerate launch``/``torchrun``, a worker that exits 1 makes the launcher print
  its own ``ChildFailedError`` traceback, which no worker can prevent; :func:`launch` has the
  workers write a report (:func:`write_report`) and exit 0, and sums the reports.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Mapping, Sequence

log = logging.getLogger(__name__)

#: Set by :func:`launch` for its workers: the folder where each writes ``rank-<r>.json``.
REPORT_ENV = "MANGANINJA_WORKER_REPORTS"


def launched_worker() -> bool:
    """Whether this process was started by torchrun / accelerate launch / :func:`launch`."""
    return "LOCAL_RANK" in os.environ and "TORCHELASTIC_RUN_ID" in os.environ


def shard_of_worker() -> tuple[int, int]:
    """(index, count) of this process among the launched workers (torchrun's ``RANK`` and
    ``WORLD_SIZE``), or (0, 1) outside a launcher. For engines that need no torch process group
    (the flat engine); the model engine takes the same values from accelerate's ``PartialState``."""
    if not launched_worker():
        return 0, 1
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def stop_with_launcher(poll_s: float = 0.5) -> threading.Thread | None:
    """In a launched worker, start a daemon thread that ends this process (exit code 1, one line
    on stderr) as soon as its parent, the launcher, is gone. Does nothing (returns None) in a
    process not started by a launcher. A page being written when that happens leaves only a
    temporary file, removed by the next run (:func:`manganinja.images.remove_stale_temporaries`).
    """
    if not launched_worker():
        return None
    launcher = os.getppid()

    def watch() -> None:
        while os.getppid() == launcher:
            time.sleep(poll_s)
        rank = os.environ.get("RANK", "?")
        sys.stderr.write(f"[process {rank}] the launcher (pid {launcher}) is gone; stopping\n")
        sys.stderr.flush()
        os._exit(1)

    thread = threading.Thread(target=watch, name="manganinja-launcher-watch", daemon=True)
    thread.start()
    return thread


def write_report(counts: Mapping[str, int]) -> bool:
    """Under :func:`launch`, write this worker's page counts (``done``, ``skipped``, ``failed``)
    for the launcher and return True; elsewhere return False (nothing written)."""
    folder = os.environ.get(REPORT_ENV)
    if not folder:
        return False
    from manganinja.images import write_bytes_atomic

    rank = int(os.environ.get("RANK", "0"))
    write_bytes_atomic(json.dumps(dict(counts)).encode(), Path(folder) / f"rank-{rank}.json")
    return True


def launch(argv: Sequence[str], processes: int) -> tuple[int, str]:
    """Run ``python -m manganinja *argv`` as ``processes`` workers on this machine (torchrun
    ``--standalone``, no restarts) and wait for all of them.

    Returns ``(exit_code, summary)``: 0 when every page was written or skipped, 1 when a page
    failed or a worker did not finish; ``summary`` is one line (pages written, skipped and failed
    over all workers, or which worker stopped and how). A worker that stopped with exit code
    ``n > 0`` (2: a user error it printed) gives ``n``; one killed by a signal gives 1; a signal
    to this launcher (Ctrl-C) stops the workers and gives ``128 + signal``.
    """
    import torch.distributed.run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    with tempfile.TemporaryDirectory(prefix="manganinja-workers-") as reports:
        args = torchrun.parse_args(
            ["--standalone", "--nnodes", "1", "--nproc-per-node", str(processes), "--max-restarts", "0",
             "-m", "manganinja", *argv]
        )
        elastic = logging.getLogger("torch.distributed.elastic")
        level = elastic.level
        elastic.setLevel(logging.CRITICAL)  # its per-worker records; the summary says what matters
        os.environ[REPORT_ENV] = reports
        try:
            torchrun.run(args)
        except ChildFailedError as exc:
            rank, failure = exc.get_first_failure()
            how = f"signal {failure.signal_name()}" if failure.exitcode < 0 else f"exit code {failure.exitcode}"
            code = failure.exitcode if failure.exitcode > 0 else 1
            return code, f"worker {rank} stopped with {how} before finishing its pages"
        except SignalException as exc:  # Ctrl-C or a kill of this launcher: the workers were stopped
            return 128 + int(exc.sigval), f"stopped by {exc.sigval.name}; finished pages are kept, a rerun does the rest"
        finally:
            os.environ.pop(REPORT_ENV, None)
            elastic.setLevel(level)
        counts = {"done": 0, "skipped": 0, "failed": 0}
        for rank in range(processes):
            path = Path(reports) / f"rank-{rank}.json"
            if not path.exists():
                return 1, f"worker {rank} finished without a report"
            for key, value in json.loads(path.read_text()).items():
                counts[key] = counts.get(key, 0) + int(value)
    summary = f"{counts['done']} written, {counts['skipped']} skipped, {counts['failed']} failed ({processes} processes)"
    return (1 if counts["failed"] else 0), summary
