"""The job runtime shared by backups and restores: the abstract running row
(runtime.models.RunningRow), claiming and finishing a run (runtime.jobs.Run), the
heartbeat thread, pre/post hooks, and the reaper that knows every running model by
registry (runtime.reaper). It sits above storage (hooks read header secrets) and below
backups; it imports neither backups nor restores."""
