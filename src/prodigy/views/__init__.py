"""Read-side views for the operator commands (sessions, dlq, events, checkpoints).

Every function here computes its answer from the state the runs wrote (session records, the job journal and
its snapshot, the events log) and returns frozen dataclasses; the CLI renders them. The few writes these
commands make (a dlq_purge journal record, a rebuilt snapshot, removed sessions) go through the state
package under the session's execution lock.
"""
