"""Generating a table: what a build is (spec), where its jobs run (executors, one Executor base), and
the driver that runs them and writes the table. The journal that records the jobs is
snnbench.journal (its names are re-exported here, where they used to live)."""
from .spec import BuildSpec, spec_from_table
from .executors import (Executor, InProcessExecutor, PR_SET_PDEATHSIG, ProcessPoolExecutor, RayExecutor,
    WorkerStopping, dataset_fingerprint, execute_job, execute_ray_job, make_executor)
from .driver import (Build, BuildSummary, WriteCost, build_table, check_output, extended_spec, rewrite_table,
    write_table_from_journal)
from ..journal import (HEARTBEAT_S, JOURNAL_FORMAT, JOURNAL_SUFFIX, JOURNAL_VERSION, STALE_AFTER_S, Job, Journal,
                       journal_error, read_done_jobs, snapshot_journal)
from ..testing import JOB_LOG_ENV, KILL_ONCE_ENV
