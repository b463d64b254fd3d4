"""Many flights at once on Ray: ``perpetual batch JOBS --out DIR`` and :func:`run`.

    >>> from perpetual import batch
    >>> jobs = batch.load_jobs("jobs.jsonl")  # doctest: +SKIP
    >>> results = batch.run(jobs, "runs/")  # a local Ray in this process  # doctest: +SKIP
    >>> [r.status for r in results]  # doctest: +SKIP
    ['done', 'done', 'failed']

Ray is an optional dependency (``pip install 'perpetual[batch]'``), imported only when a batch
runs. See docs/batch.md for running on a cluster.
"""

from perpetual.batch.jobs import Job, load_jobs, plan_job
from perpetual.batch.runner import INSTALL_HINT, FlightWorker, JobResult, run

__all__ = ["Job", "load_jobs", "plan_job", "run", "JobResult", "FlightWorker", "INSTALL_HINT"]
