"""`clifkit fuzz --cluster ADDRESS`: a campaign's batches on a Dask distributed cluster.

Each batch is `campaign.run_batch(config, indices)`, submitted to the scheduler at ADDRESS
(``tcp://host:8786``, or a `distributed.Client`-compatible object in tests). Results come back
in submission order, so numbering, reproducers and statistics are those of a local run.
Workers need clifkit (and cranelift-py, and emulation for emulated targets) installed; each
worker process keeps its harness and native workers across batches (`campaign._RUNNERS`).
Install with ``pip install 'clifkit[cluster]'``; docs/fuzzing.md shows how to start a scheduler
and workers on several machines.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import CancelledError
from typing import Iterator

from .campaign import BatchResult, CampaignConfig, run_batch


class ClusterUnavailable(Exception):
    pass


class ClusterLost(Exception):
    """The scheduler went away mid-campaign: the batches still out went with it."""


def _result(future, address) -> BatchResult:
    try:
        return future.result()
    except (CancelledError, OSError) as e:  # (Dask cancels every future when the scheduler is lost)
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ClusterLost(f"--cluster {address}: the Dask scheduler was lost mid-campaign: {why}") from None


def cluster_batches(address, cfg: CampaignConfig, chunks: Iterator[list[int]]) -> Iterator[BatchResult]:
    try:
        from distributed import Client
    except ImportError:
        raise ClusterUnavailable("--cluster needs Dask distributed: pip install 'clifkit[cluster]'") from None
    try:
        client = address if isinstance(address, Client) else Client(address)
    except (OSError, ValueError, TypeError) as e:
        # A malformed address (ValueError) or no scheduler answering there (OSError, after Dask's
        # connect timeout): the campaign cannot run at all, which is a usage error, not a crash.
        raise ClusterUnavailable(f"--cluster {address}: cannot reach a Dask scheduler: {e}") from None
    owned = client is not address
    try:
        workers = max(1, sum(client.nthreads().values()))
        pending: deque = deque()
        for chunk in chunks:
            # pure=False: the same chunk twice (it never is) would still run twice.
            pending.append(client.submit(run_batch, cfg, chunk, pure=False))
            while len(pending) >= 2 * workers:
                yield _result(pending.popleft(), address)
        while pending:
            yield _result(pending.popleft(), address)
    finally:
        if owned:
            client.close()
