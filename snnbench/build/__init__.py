"""Generating a table: what a build is (spec), where its jobs run (executors), and the driver that runs them."""
from .driver import (Build, BuildSpec, BuildSummary, HEARTBEAT_S, InProcessExecutor, JOB_LOG_ENV,
    JOURNAL_FORMAT, JOURNAL_SUFFIX, JOURNAL_VERSION, Job, Journal, KILL_ONCE_ENV, PR_SET_PDEATHSIG,
    ProcessPoolExecutor, RayExecutor, STALE_AFTER_S, WorkerStopping, WriteCost, build_table, check_output,
    dataset_fingerprint, execute_job, execute_ray_job, extended_spec, journal_error, make_executor,
    read_done_jobs, snapshot_journal, spec_from_table, write_table_from_journal)
