"""Build what the original (Rust) prodigy leaves in PRODIGY_HOME, the way its own tests build it.

The standard-session shapes are those of `create_test_checkpoint_with_worktree` and `create_test_worktree` in
iepathos/prodigy tests/cli_integration/test_utils.rs (a real `git worktree add -b prodigy-{id}` under
worktrees/{repo}/{id}, the WorkflowCheckpoint, the UnifiedSession). The MapReduce shapes follow its structs:
EventRecord lines (events/event_logger.rs, event_types.rs), DeadLetteredItem (dlq.rs), MapReduceJobState
(state.rs). Only tests write these files; prodigy itself never does.
"""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from support import git

NOW = datetime(2025, 11, 12, 19, 1, 30, 123456, tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def create_test_worktree(home: Path, project_root: Path, worktree_name: str) -> Path:
    """test_utils.rs::create_test_worktree: worktrees/{repo_name}/{name} on a new branch prodigy-{name}."""
    path = home / "worktrees" / project_root.name / worktree_name
    path.parent.mkdir(parents=True, exist_ok=True)
    git(project_root, "worktree", "add", "-q", "-b", f"prodigy-{worktree_name}", str(path))
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "user.name", "Test User")
    return path


def checkpoint_json(workflow_id: str, executed: int, total: int, variables: dict[str, Any], *,
                    status: str = "Interrupted", workflow_path: str | None = "test-resume-workflow.yaml",
                    workflow_name: str = "test-resume-workflow") -> dict[str, Any]:
    now = rfc3339(NOW)
    data: dict[str, Any] = {
        "workflow_id": workflow_id,
        "execution_state": {"current_step_index": executed, "total_steps": total, "status": status,
                            "start_time": now, "last_checkpoint": now, "current_iteration": None,
                            "total_iterations": None},
        "completed_steps": [{"step_index": i, "command": f"shell: echo 'Command {i + 1}'", "success": True,
                             "output": f"Command {i + 1} output", "captured_variables": {},
                             "duration": {"secs": 1, "nanos": 0}, "completed_at": now, "retry_state": None}
                            for i in range(executed)],
        "variable_state": variables, "mapreduce_state": None, "timestamp": now, "version": 1,
        "workflow_hash": "test-hash-12345", "total_steps": total, "workflow_name": workflow_name,
    }
    if workflow_path is not None:
        data["workflow_path"] = workflow_path
    return data


def session_json(session_id: str, *, status: str = "Paused", executed: int = 0, total: int = 0,
                 session_type: str = "Workflow", workflow_name: str = "test-resume-workflow",
                 mapreduce_data: dict[str, Any] | None = None, workflow_data: bool = True) -> dict[str, Any]:
    now = rfc3339(NOW)
    return {
        "id": session_id, "session_type": session_type, "status": status, "started_at": now, "updated_at": now,
        "completed_at": now if status == "Completed" else None, "metadata": {}, "checkpoints": [], "timings": {},
        "error": None,
        "workflow_data": {"workflow_id": session_id, "workflow_name": workflow_name, "current_step": executed,
                          "total_steps": total, "completed_steps": list(range(executed)), "variables": {},
                          "iterations_completed": 0, "files_changed": 0, "worktree_name": session_id}
        if workflow_data else None,
        "mapreduce_data": mapreduce_data,
    }


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))  # serde_json::to_string_pretty
    return path


def write_session(home: Path, data: dict[str, Any]) -> Path:
    return write_json(home / "sessions" / f"{data['id']}.json", data)


def write_checkpoint(home: Path, session_id: str, data: dict[str, Any]) -> Path:
    return write_json(home / "state" / session_id / "checkpoints" / f"{data['workflow_id']}.checkpoint.json", data)


def create_test_checkpoint_with_worktree(home: Path, project_root: Path, workflow_id: str, executed: int,
                                         total: int, variables: dict[str, Any], **checkpoint: Any) -> Path:
    """test_utils.rs::create_test_checkpoint_with_worktree: worktree, checkpoint, Paused UnifiedSession."""
    worktree = create_test_worktree(home, project_root, workflow_id)
    write_checkpoint(home, workflow_id, checkpoint_json(workflow_id, executed, total, variables, **checkpoint))
    write_session(home, session_json(workflow_id, executed=executed, total=total))
    return worktree


# ---------------------------------------------------------------- MapReduce


def event(kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
    """One EventRecord line: {id, timestamp, correlation_id, event: {event_type, ...}, metadata}."""
    return {"id": str(uuid.uuid4()), "timestamp": rfc3339(at), "correlation_id": "corr-1",
            "event": {"event_type": kind, **fields}, "metadata": {"host": "localhost", "pid": 4242}}


def map_events(job_id: str, total: int, *, completed: list[int], failed: list[int] = (), started: list[int] = (),
               input_file: str = "items.json") -> list[dict[str, Any]]:
    """job_started, then agent_started + agent_completed|agent_failed per item, in item order; `started`
    items have a start and nothing after it (running when the original stopped)."""
    at = NOW
    lines = [event("job_started", at, job_id=job_id, total_items=total, timestamp=rfc3339(at),
                   config={"input": input_file, "json_path": "$[*]", "max_parallel": 2, "agent_timeout_secs": None,
                           "continue_on_failure": False, "batch_size": None, "enable_checkpoints": True,
                           "max_items": None, "offset": None})]
    for index in sorted({*completed, *failed, *started}):
        at += timedelta(seconds=1)
        agent = f"{job_id}_agent_{index}"
        lines.append(event("agent_started", at, job_id=job_id, agent_id=agent, item_id=f"item_{index}",
                           worktree=f"mapreduce-agent-{index}", attempt=1))
        if index in completed:
            lines.append(event("agent_completed", at + timedelta(milliseconds=500), job_id=job_id, agent_id=agent,
                               duration={"secs": 2, "nanos": 0}, commits=[], json_log_location=None))
        elif index in failed:
            lines.append(event("agent_failed", at + timedelta(milliseconds=500), job_id=job_id, agent_id=agent,
                               error="Command failed with exit code 3", retry_eligible=False))
    return lines


def write_events(home: Path, repo: str, job_id: str, lines: list[dict[str, Any]], *, rotate_after: int | None = None,
                 gzip_rotated: bool = True) -> list[Path]:
    """events/{repo}/{job_id}/events-{ts}.jsonl; with rotate_after, the first lines go to the rotated file
    events-{ts}.{ts2}.jsonl.gz (gzipped, or renamed only, as the original's rotation really did)."""
    folder = home / "events" / repo / job_id
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / "events-20251112_190130.jsonl"
    text = [json.dumps(line) + "\n" for line in lines]
    written = []
    if rotate_after is not None:
        rotated = folder / "events-20251112_190130.20251112_191500.jsonl.gz"
        body = "".join(text[:rotate_after]).encode()
        rotated.write_bytes(gzip.compress(body) if gzip_rotated else body)
        written.append(rotated)
        text = text[rotate_after:]
    base.write_text("".join(text))
    return [*written, base]


def dlq_item(home: Path, repo: str, job_id: str, index: int, data: Any, *, error: str = "Command failed",
             exit_code: int = 3, attempts: int = 1) -> Path:
    """dlq/{repo}/{job_id}/mapreduce/dlq/{job_id}/items/item_N.json: a DeadLetteredItem."""
    at = rfc3339(NOW + timedelta(seconds=index + 1))
    history = [{"attempt_number": n + 1, "timestamp": at, "error_type": {"CommandFailed": {"exit_code": exit_code}},
                "error_message": error, "error_context": None, "stack_trace": None,
                "agent_id": f"agent-item_{index}", "step_failed": "agent_execution", "duration_ms": 1500,
                "json_log_location": None} for n in range(attempts)]
    item = {"item_id": f"item_{index}", "item_data": data, "first_attempt": at, "last_attempt": at,
            "failure_count": attempts, "failure_history": history, "error_signature": "0123456789abcdef",
            "worktree_artifacts": None, "reprocess_eligible": False, "manual_review_required": False}
    return write_json(home / "dlq" / repo / job_id / "mapreduce" / "dlq" / job_id / "items" / f"item_{index}.json",
                      item)


def job_state(home: Path, repo: str, job_id: str, work_items: list[Any], *, succeeded: list[int],
              failed: list[int] = (), running: list[int] = (), version: int = 7, parent_worktree: str | None = None,
              variables: dict[str, Any] | None = None) -> Path:
    """state/{repo}/mapreduce/jobs/{job_id}/checkpoint-v{N}.json (MapReduceJobState) + metadata.json."""
    results = {}
    for index in [*succeeded, *failed, *running]:
        status: Any = "Success" if index in succeeded else ("Running" if index in running else {"Failed": "exit 3"})
        results[f"item_{index}"] = {"item_id": f"item_{index}", "status": status,
                                    "output": f"out {index}" if index in succeeded else None, "commits": [],
                                    "files_modified": [], "duration": {"secs": 1, "nanos": 0},
                                    "error": None if index in succeeded else "exit 3", "worktree_path": None,
                                    "branch_name": None, "worktree_session_id": None, "json_log_location": None,
                                    "cleanup_status": None}
    done = [f"item_{i}" for i in [*succeeded, *failed]]
    state = {
        "job_id": job_id, "config": {"input": "items.json", "json_path": "$[*]", "max_parallel": 10,
                                     "agent_timeout_secs": None, "continue_on_failure": False, "batch_size": None,
                                     "enable_checkpoints": True, "max_items": None, "offset": None},
        "started_at": rfc3339(NOW), "updated_at": rfc3339(NOW), "work_items": work_items, "agent_results": results,
        "completed_agents": done,
        "failed_agents": {f"item_{i}": {"item_id": f"item_{i}", "attempts": 2, "last_error": "exit 3",
                                        "last_attempt": rfc3339(NOW), "worktree_info": None} for i in failed},
        "pending_items": [f"item_{i}" for i in range(len(work_items)) if f"item_{i}" not in done],
        "checkpoint_version": version, "checkpoint_format_version": 1, "parent_worktree": parent_worktree,
        "reduce_phase_state": None, "total_items": len(work_items), "successful_count": len(succeeded),
        "failed_count": len(failed), "is_complete": False, "agent_template": [], "reduce_commands": None,
        "variables": variables or {}, "setup_output": None, "setup_completed": True, "item_retry_counts": {},
    }
    folder = home / "state" / repo / "mapreduce" / "jobs" / job_id
    path = write_json(folder / f"checkpoint-v{version}.json", state)
    write_json(folder / "metadata.json", {"path": str(path), "version": version, "created_at": rfc3339(NOW),
                                          "size_bytes": path.stat().st_size})
    return path


def snapshot(home: Path, skip: tuple[str, ...] = ("legacy",)) -> dict[str, bytes]:
    """Every file the original wrote (not ours), with its bytes: to prove nothing of it changed."""
    ours = ("legacy/", "resume_locks/", "logs/")
    found = {}
    for path in sorted(home.rglob("*")):
        rel = path.relative_to(home).as_posix()
        if path.is_file() and not rel.startswith(ours) and "/.git" not in rel and not rel.startswith("worktrees/"):
            found[rel] = path.read_bytes()
    return found
