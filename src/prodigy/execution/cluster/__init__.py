"""Map items on a cluster: the parts of the Dask executor (execution/mapreduce/dask_executor.py, an ItemExecutor).

On the coordinator:
    connection.py  connect to the scheduler (or start a LocalCluster), check the workers, subscribe, close
    listener.py    the thread that journals each command's start before it may run, follows workers joining and
                   leaving, and watches the scheduler connection (reconnect, or stop resumably)
Both sides:
    protocol.py    the messages and the task's argument and result (frozen dataclasses)
    envelope.py    what a worker gets of the environment: the workflow's env, only the secrets a step names
    fitness.py     can this worker run this attempt? (check files the coordinator wrote, tools)
    faults.py      outcomes for the cluster's own failures (a worker died, an unfit worker, a lost scheduler)
    hosts.py       is a worker's host this machine?
On a worker:
    worker.py      the task: checks, the start gate, a watchdog, and (--repo-transfer git) the item's own
                   checkout, its commits and logs sent back in the result

Nothing here writes prodigy state: workers return outcomes; the coordinator journals them."""
