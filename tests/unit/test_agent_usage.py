"""Agent economics: the compact journal form, sums, and how they read."""

from __future__ import annotations

from prodigy.execution.agents.usage import (
    AgentUsage,
    UsageLedger,
    describe_totals,
    fmt_cost,
    fmt_tokens,
    total,
)
from prodigy.state.spend import add_spend, difference, readable, totals

ONE = AgentUsage(cost_usd=0.0123, input_tokens=100, output_tokens=25, cache_read_tokens=1000,
                 cache_write_tokens=200, turns=2, model="claude-opus-5-5", duration_ms=1500, duration_api_ms=1200,
                 session_id="s1")


def test_the_compact_record_round_trips_and_leaves_defaults_out() -> None:
    record = ONE.to_record()
    assert record == {"usd": 0.0123, "in": 100, "out": 25, "cr": 1000, "cw": 200, "turns": 2,
                      "model": "claude-opus-5-5", "ms": 1500, "api_ms": 1200, "sid": "s1"}
    assert AgentUsage.from_record(record) == ONE
    assert AgentUsage(cost_usd=0.0).to_record() == {"usd": 0.0}  # a recorded zero is not an unknown
    assert AgentUsage(partial=True, input_tokens=5).to_record() == {"in": 5, "partial": True}
    assert AgentUsage.from_record({"usd": 1, "future_key": 3}) == AgentUsage(cost_usd=1)
    assert AgentUsage.from_record("junk") is None


def test_sums_keep_the_last_conversation_and_every_model() -> None:
    other = AgentUsage(cost_usd=0.5, input_tokens=1, turns=1, model="claude-haiku-9", session_id="s2")
    both = ONE + other
    assert (both.cost_usd, both.input_tokens, both.turns, both.calls) == (0.5123, 101, 3, 2)
    assert both.model == "claude-opus-5-5,claude-haiku-9" and both.session_id == "s2"
    assert (AgentUsage(cost_usd=None, partial=True) + ONE).cost_usd == 0.0123
    assert total([None, ONE, None, other]) == both and total([]) is None
    ledger = UsageLedger()
    ledger.add(ONE)
    ledger.add(None)
    ledger.add(other)
    assert ledger.total() == both


def test_running_totals_of_compact_records() -> None:
    into: dict = {}
    add_spend(into, ONE.to_record())
    add_spend(into, (ONE + ONE).to_record())
    add_spend(into, None)
    add_spend(into, {"usd": True, "in": "x"})  # junk counts as a call and nothing else
    assert into == {"usd": 0.0369, "in": 300, "out": 75, "cr": 3000, "cw": 600, "turns": 6, "ms": 4500,
                    "api_ms": 3600, "calls": 4}
    assert totals([ONE.to_record()]) == {**{k: v for k, v in ONE.to_record().items() if k not in ("model", "sid")},
                                         "calls": 1}
    assert difference(into, {"usd": 0.0123, "calls": 1, "in": 100}) == {
        "usd": 0.0246, "in": 200, "out": 75, "cr": 3000, "cw": 600, "turns": 6, "ms": 4500, "api_ms": 3600,
        "calls": 3}
    assert difference({"usd": 0.0, "calls": 1}, {}) == {"usd": 0.0, "calls": 1}
    assert difference(into, into) == {}
    assert readable({"usd": 1.5, "in": 3, "sid": "x"}) == {"cost_usd": 1.5, "input_tokens": 3, "session_id": "x",
                                                             "calls": 1}


def test_how_costs_and_tokens_read() -> None:
    assert [fmt_cost(v) for v in (None, 0, 0.000188, 0.0123, 0.75, 0.995, 4.1234)] == [
        "$?", "$0.00", "$0.0002", "$0.0123", "$0.75", "$0.99", "$4.12"]
    assert [fmt_tokens(v) for v in (None, 999, 1200, 2_500_000)] == ["0", "999", "1.2k", "2.50M"]
    assert describe_totals({"usd": 4.12, "calls": 18, "in": 1_200_000, "out": 40_100, "cr": 900_000, "turns": 1}) == (
        "$4.12 over 18 agent calls, 1.20M tokens in / 40.1k out (cache 900.0k read), 1 turn")
    assert describe_totals({}) is None
