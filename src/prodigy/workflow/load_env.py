"""The loader's `env:`, `secrets:` and `profiles:` blocks: NAME -> EnvVar, with secret, dynamic
(command) and conditional values."""

from __future__ import annotations

from typing import Any

from prodigy.workflow import model as m
from prodigy.workflow.load_common import _IDENT, _Ctx, _join, _kind
from prodigy.workflow.yamlsrc import line_of


def _env_block(value: Any, ctx: _Ctx, where: str, line: int | None) -> tuple[tuple[str, m.EnvVar], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        ctx.error(line, where, f"expected a mapping of NAME: value, got {_kind(value)}")
        return ()
    result: list[tuple[str, m.EnvVar]] = []
    for key, raw in value.items():
        key_line = line_of(value, key)
        if where.startswith("profiles") and key == "description":
            continue
        if not isinstance(key, str) or not _IDENT.match(key):
            ctx.error(key_line, _join(where, key), "an environment variable name must match [A-Za-z_][A-Za-z0-9_]*")
            continue
        env_var = _env_value(raw, ctx, _join(where, key), key_line)
        if env_var is not None:
            result.append((key, env_var))
    return tuple(result)


def _env_value(raw: Any, ctx: _Ctx, where: str, line: int | None) -> m.EnvVar | None:
    if isinstance(raw, bool):
        return m.EnvVar("true" if raw else "false")
    if isinstance(raw, (str, int, float)):
        return m.EnvVar(str(raw))
    if raw is None:
        return m.EnvVar("")
    if isinstance(raw, dict):
        if "secret" in raw or ("value" in raw and len(raw) <= 2):
            extra = set(raw) - {"secret", "value"}
            if extra:
                ctx.error(line, where, f"unknown key(s) {sorted(extra)} in a secret value; use {{secret: true, value: ...}}")
                return None
            value = raw.get("value", "")
            return m.EnvVar("" if value is None else str(value), secret=bool(raw.get("secret", False)))
        if "command" in raw:
            extra = set(raw) - {"command", "cache", "secret"}
            if extra or not isinstance(raw["command"], str):
                ctx.error(line, where, "a dynamic env value is {command: \"...\", cache: true}")
                return None
            return m.EnvVar("", secret=bool(raw.get("secret", False)), command=raw["command"])
        if "condition" in raw:
            extra = set(raw) - {"condition", "when_true", "when_false", "secret"}
            if extra or not isinstance(raw["condition"], str):
                ctx.error(line, where, "a conditional env value is {condition, when_true, when_false}")
                return None
            from prodigy.workflow import expr

            try:
                expr.parse(raw["condition"], kind="condition")
            except expr.ExprError as exc:
                ctx.error(line, f"{where}.condition", str(exc))
                return None
            return m.EnvVar("", secret=bool(raw.get("secret", False)), condition=raw["condition"],
                            when_true=str(raw.get("when_true", "")), when_false=str(raw.get("when_false", "")))
    ctx.error(line, where, f"expected a string value, got {_kind(raw)}")
    return None


def _secrets_block(value: Any, ctx: _Ctx, line: int | None) -> tuple[tuple[str, m.EnvVar], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        ctx.error(line, "secrets", f"expected a mapping of NAME: value, got {_kind(value)}")
        return ()
    result = []
    for key, raw in value.items():
        key_line = line_of(value, key)
        if isinstance(raw, dict):
            if raw.get("provider", "env") != "env" or "key" not in raw:
                ctx.error(key_line, f"secrets.{key}", "only {provider: env, key: NAME} secret providers are supported")
                continue
            raw = "${env:" + str(raw["key"]) + "}"
        if not isinstance(raw, (str, int, float)):
            ctx.error(key_line, f"secrets.{key}", f"expected a string, got {_kind(raw)}")
            continue
        result.append((str(key), m.EnvVar(str(raw), secret=True)))
    return tuple(result)


def _profiles(value: Any, ctx: _Ctx, line: int | None) -> tuple[tuple[str, tuple[tuple[str, m.EnvVar], ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        ctx.error(line, "profiles", "expected a mapping of profile name to env values")
        return ()
    return tuple(
        (str(name), _env_block(body, ctx, f"profiles.{name}", line_of(value, name)))
        for name, body in value.items()
    )
