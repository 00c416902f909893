"""The work: archiving pages and feeds, the worker pool, the schedule, the daemon."""
