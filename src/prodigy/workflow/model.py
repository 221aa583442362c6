"""The workflow model: frozen dataclasses produced by workflow.load. One step model for every phase."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STEP_KINDS = ("shell", "claude", "write_file", "foreach", "analyze")
CAPTURE_FORMATS = ("string", "json", "number", "lines", "boolean")


@dataclass(frozen=True)
class WriteFile:
    path: str
    content: str
    format: str = "text"  # text | json | yaml
    create_dirs: bool = False
    mode: str | None = None


@dataclass(frozen=True)
class CaptureStreams:
    """capture_streams: what a capture keeps. stderr: True adds stderr to the captured text."""

    stdout: bool = True
    stderr: bool = False
    exit_code: bool = True
    success: bool = True
    duration: bool = True


@dataclass(frozen=True)
class StepRetry:
    """Step-level retry_config (book/src/retry-configuration): run the command again before it counts as
    failed. on_failure handlers run only after the last attempt."""

    attempts: int = 3
    backoff: str = "exponential"  # fixed | linear | exponential | fibonacci | custom
    initial_delay: float = 1.0
    max_delay: float = 30.0
    increment: float | None = None  # linear
    base: float = 2.0  # exponential
    delays: tuple[float, ...] = ()  # custom
    jitter: bool = False
    jitter_factor: float = 0.3
    retry_on: tuple[str, ...] = ()  # network | timeout | server_error | rate_limit | a regex
    retry_budget: float | None = None
    on_exhausted: str = "stop"  # stop | continue | fallback
    fallback: str | None = None  # the fallback command (shell)


@dataclass(frozen=True)
class Foreach:
    items: tuple[str, ...] | None  # a literal list, or None when `command` lists them
    command: str | None
    do: tuple[Step, ...]
    parallel: int = 1
    continue_on_error: bool = False
    max_items: int | None = None


@dataclass(frozen=True)
class OnIncomplete:
    steps: tuple[Step, ...]
    max_attempts: int = 2
    fail_workflow: bool = True
    commit_required: bool = False
    prompt: str | None = None


@dataclass(frozen=True)
class Validation:
    steps: tuple[Step, ...]
    result_file: str | None = None
    threshold: float = 100.0
    timeout: float | None = None
    on_incomplete: OnIncomplete | None = None
    expected_schema: str | None = None


@dataclass(frozen=True)
class Analyze:
    max_cache_age: float | None = None  # seconds a saved analysis stays fresh
    force_refresh: bool = False
    save: bool = True
    format: str = "summary"  # summary | json | markdown


@dataclass(frozen=True)
class Handler:
    """on_failure: steps to run when the step fails, then optionally retry the step."""

    steps: tuple[Step, ...]
    max_attempts: int = 1  # total attempts of the original step, the first one included
    fail_workflow: bool | None = None  # None: fail only when a handler itself fails


@dataclass(frozen=True)
class AgentOptions:
    """A claude step's options for the agent CLI (passed through as --model, --max-turns, ...)."""

    model: str | None = None
    max_turns: int | None = None
    max_budget_usd: float | None = None
    allowed_tools: tuple[str, ...] = ()
    resume: bool | None = None  # resume_agent: continue an interrupted conversation (None: the workflow's choice)


@dataclass(frozen=True)
class AgentPolicy:
    """Workflow-level agent settings: the cost cap and how long to wait out an API outage."""

    max_cost_usd: float | None = None  # stop dispatching (resumably) once the job's recorded cost reaches this
    retry_pause: float = 30.0  # the first pause of the pool after a transient failure; doubles, up to 5 min
    outage_limit: float = 1800.0  # stop (resumably) when transient failures go on this long
    resume: bool = True  # resume_agent


@dataclass(frozen=True)
class Step:
    kind: str  # one of STEP_KINDS
    command: str = ""  # the shell script or the claude prompt
    write_file: WriteFile | None = None
    name: str | None = None
    timeout: float | None = None
    capture_output: bool | str = False
    capture: str | None = None
    capture_format: str = "string"
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str | None = None
    on_failure: Handler | None = None
    on_success: tuple[Step, ...] = ()
    on_exit_code: tuple[tuple[int, tuple[Step, ...]], ...] = ()
    commit_required: bool = False
    when: str | None = None
    clear_env: bool = False  # run with only PATH/HOME/locale, PRODIGY_* and the step's own env
    id: str | None = None  # ${<id>.output}, ${<id>.exit_code} ... and ${<id>.<output>} for outputs
    outputs: tuple[tuple[str, str], ...] = ()  # (name, file_pattern)
    allow_failure: bool = False  # a failure is recorded but does not stop the workflow
    capture_streams: CaptureStreams | None = None
    description: str | None = None
    output_file: str | None = None
    retry: StepRetry | None = None
    validate: Validation | None = None
    analysis: Analyze | None = None  # refresh the codebase analysis before the step
    foreach: Foreach | None = None
    analyze: Analyze | None = None
    line: int | None = None
    agent: AgentOptions | None = None  # claude steps: model, max_turns, max_budget_usd, allowed_tools

    def describe(self) -> str:
        if self.name:
            return self.name
        if self.kind == "write_file" and self.write_file:
            return f"write_file: {self.write_file.path}"
        if self.kind == "foreach" and self.foreach:
            what = self.foreach.command or f"{len(self.foreach.items or ())} items"
            return f"foreach: {what if len(what) <= 60 else what[:57] + '...'}"
        if self.kind == "analyze":
            return "analyze"
        first = self.command.strip().splitlines()[0] if self.command.strip() else ""
        text = first if len(first) <= 70 else first[:67] + "..."
        more = " ..." if len(self.command.strip().splitlines()) > 1 and len(first) <= 70 else ""
        return f"{self.kind}: {text}{more}"


@dataclass(frozen=True)
class EnvVar:
    value: str
    secret: bool = False
    command: str | None = None  # dynamic: the value is this command's output, computed once per run
    condition: str | None = None  # conditional: when_true if the expression holds, else when_false
    when_true: str = ""
    when_false: str = ""


@dataclass(frozen=True)
class CaptureSpec:
    """A setup capture_outputs entry: a variable taken from one setup command's output."""

    command_index: int
    source: str = "stdout"  # stdout | stderr | both | combined
    json_path: str | None = None
    pattern: str | None = None
    default: str | None = None
    multiline: str = "preserve"  # preserve | join | first_line | last_line | array
    max_size: int | None = None  # bytes of the source text kept (its start), like the original


@dataclass(frozen=True)
class SetupPhase:
    steps: tuple[Step, ...]
    timeout: float | None = None
    captures: tuple[tuple[str, CaptureSpec], ...] = ()


@dataclass(frozen=True)
class MapPhase:
    input: str
    agent_template: tuple[Step, ...]
    json_path: str | None = None
    filter: str | None = None
    sort_by: str | None = None
    offset: int = 0
    max_items: int | None = None
    distinct: str | None = None
    max_parallel: int | str = 10  # a number, or "${VAR}" resolved at run time
    agent_timeout_secs: float | str | None = None


@dataclass(frozen=True)
class ErrorPolicy:
    on_item_failure: str = "dlq"  # dlq | skip | stop
    max_failures: int | None = None
    failure_threshold: float | None = None  # 0.0-1.0 of processed items
    retry_attempts: int = 1  # attempts per item before it counts as failed
    retry_backoff: float = 0.0  # seconds before the first retry; doubles each retry
    error_collection: str = "aggregate"  # aggregate | immediate | batched: when item failures are reported
    error_batch: int = 0  # batched: report every this many failures


@dataclass(frozen=True)
class MergePhase:
    steps: tuple[Step, ...]
    timeout: float | None = None


@dataclass(frozen=True)
class Workflow:
    path: Path
    sha256: str
    name: str
    mode: str  # standard | mapreduce
    env: tuple[tuple[str, EnvVar], ...] = ()
    steps: tuple[Step, ...] = ()  # standard
    setup: SetupPhase | None = None
    map: MapPhase | None = None
    reduce: tuple[Step, ...] = ()
    merge: MergePhase | None = None
    error_policy: ErrorPolicy = field(default_factory=ErrorPolicy)
    profiles: tuple[tuple[str, tuple[tuple[str, EnvVar], ...]], ...] = ()
    env_files: tuple[str, ...] = ()
    agents: AgentPolicy = field(default_factory=AgentPolicy)
    # Composition (workflow/compose.py): parameter values (variables), sub-workflows run in order before the
    # steps, and the resolved form a session keeps (so a resume runs what started).
    parameters: tuple[tuple[str, Any], ...] = ()
    subworkflows: tuple[SubWorkflow, ...] = ()
    composition: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def is_mapreduce(self) -> bool:
        return self.mode == "mapreduce"

    def env_dict(self) -> dict[str, EnvVar]:
        return dict(self.env)

    def phase_steps(self) -> dict[str, tuple[Step, ...]]:
        if not self.is_mapreduce:
            return {"steps": self.steps}
        return {
            "setup": self.setup.steps if self.setup else (),
            "map": self.map.agent_template if self.map else (),
            "reduce": self.reduce,
        }

    def uses_claude(self) -> bool:
        return any(_step_uses_claude(s) for steps in self.phase_steps().values() for s in steps) or bool(
            self.merge and any(_step_uses_claude(s) for s in self.merge.steps)
        ) or any(sub.workflow.uses_claude() for sub in self.subworkflows)


@dataclass(frozen=True)
class SubWorkflow:
    """A `workflows:` entry: a composed workflow run as its own session, in order."""

    name: str
    workflow: Workflow
    continue_on_error: bool = False
    working_dir: str | None = None
    inputs: tuple[tuple[str, str], ...] = ()  # name -> ${...} text, rendered when the sub-workflow starts
    outputs: tuple[str, ...] = ()  # variables of the sub-workflow handed to the ones after it as ${name.var}


def nested_steps(step: Step) -> list[Step]:
    """Every step a step can run besides its own command: handlers, validation, a foreach body."""
    nested: list[Step] = list(step.on_success)
    if step.on_failure:
        nested.extend(step.on_failure.steps)
    for _code, steps in step.on_exit_code:
        nested.extend(steps)
    if step.validate:
        nested.extend(step.validate.steps)
        if step.validate.on_incomplete:
            nested.extend(step.validate.on_incomplete.steps)
    if step.foreach:
        nested.extend(step.foreach.do)
    return nested


def _step_uses_claude(step: Step) -> bool:
    if step.kind == "claude":
        return True
    return any(_step_uses_claude(s) for s in nested_steps(step))


def step_fingerprint(steps: tuple[Step, ...]) -> str:
    """A stable text of a phase's steps, to tell which phases changed between two workflow versions."""
    return repr(tuple((s.kind, s.command, s.write_file, s.on_failure, s.on_success, s.on_exit_code, s.foreach,
                       s.validate) for s in steps))
