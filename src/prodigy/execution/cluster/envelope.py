"""What a worker gets of the run's environment: never the coordinator's own environment, only what the workflow
and prodigy set (its env:, env_files, profile, --args values, PRODIGY_*), and of the secrets only those a step
of the agent template names. On the worker, commands run with the worker's own environment (its HOME, PATH,
credentials) with these values on top."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prodigy.execution.cluster.hosts import is_local_host, worker_host
from prodigy.execution.context import Masker

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PLAIN_SCHEMES = ("tcp://", "ws://")


@dataclass(frozen=True)
class Envelope:
    env: dict[str, str]  # set on top of the worker's environment
    variables: dict[str, Any]  # the item's interpolation variables, without the secrets held back
    sent: tuple[str, ...]  # names of the secrets that go to workers
    held_back: tuple[str, ...]  # secrets no step of the template names: they stay here
    masker: Masker  # for the secrets that go (the coordinator masks what comes back with all of them)
    uses_claude: bool = False


def build(process_env: Mapping[str, str], variables: Mapping[str, Any], *, declared: frozenset[str],
          secrets: frozenset[str], steps: tuple[Any, ...], coordinator_env: Mapping[str, str] | None = None
          ) -> Envelope:
    base = os.environ if coordinator_env is None else coordinator_env
    words, kinds = _mentions(steps)
    held_back = tuple(sorted(name for name in secrets if name not in words))
    env = {key: value for key, value in process_env.items()
           if (key in declared or base.get(key) != value) and key not in held_back}
    sent = tuple(sorted(name for name in secrets if name in env))
    kept = {key: value for key, value in variables.items() if key not in held_back}
    kept["env"] = env  # the worker puts its own environment under these values
    return Envelope(env=env, variables=kept, sent=sent, held_back=held_back,
                    masker=Masker([env[name] for name in sent]), uses_claude="claude" in kinds)


def uses_claude(steps: tuple[Any, ...]) -> bool:
    return "claude" in _mentions(steps)[1]


def _mentions(steps: tuple[Any, ...]) -> tuple[set[str], set[str]]:
    """Every word in the template's text (commands, prompts, env values, handlers ...) and every step kind."""
    words: set[str] = set()
    kinds: set[str] = set()
    for text, kind in _walk(steps):
        if kind is not None:
            kinds.add(kind)
        if text:
            words.update(_NAME.findall(text))
    return words, kinds


def _walk(value: Any) -> Iterator[tuple[str | None, str | None]]:
    if isinstance(value, str):
        yield value, None
    elif isinstance(value, (tuple, list)):
        for part in value:
            yield from _walk(part)
    elif isinstance(value, dict):
        for key, part in value.items():
            yield from _walk(key)
            yield from _walk(part)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = getattr(value, "kind", None)
        if isinstance(kind, str):
            yield None, kind
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name))


def plain_text_warning(scheduler: str | None, worker_addresses: list[str], sent: tuple[str, ...]) -> str | None:
    """Secrets about to cross a network unencrypted: say so (TLS is how to run across machines with secrets)."""
    if not sent or not scheduler or not scheduler.startswith(PLAIN_SCHEMES):
        return None
    hosts = sorted({worker_host(a) for a in [scheduler, *worker_addresses]} - {""})
    remote = [host for host in hosts if not is_local_host(host)]
    if not remote:
        return None
    return (f"The secret(s) {', '.join(sent)} go to Dask workers unencrypted over {scheduler.split('://')[0]}:// "
            f"(through {', '.join(remote)}); run the scheduler and workers with tls:// and Dask's TLS settings to "
            "encrypt them (docs/dask.md, Secrets and TLS).")
