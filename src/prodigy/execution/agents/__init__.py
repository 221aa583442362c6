"""The agent CLI contract (Claude Code), behind the `claude:` step kind.

    invocation  argv (--flag=value, `--` before the prompt, long prompts on stdin), env, the preflight
    stream      the stream-json read one line at a time: init, api_retry, assistant errors, the result
    masking     the agent log, masked before anything reaches the disk
    failures    success or failure from the result event; the failure's kind (transient, fatal, agent)
    usage       cost, tokens, turns, model, durations, conversation id; the compact journal form
    run         one call: all of the above, returning a CommandOutcome
    policy      what the runners do about a failure kind: pause the pool, stop resumably, the cost cap

Step kinds call `run.run_agent`; the runners see only outcomes (with `failure_kind`) and consult `policy`.
"""
