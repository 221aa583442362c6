// One agent log, as views/agent_log.readable renders it for `prodigy logs` too: the agent's text, its tool
// calls and their results, API retries and the final result, with the log's summary on top.
"use strict";

const LABELS = { init: "started", text: "agent", user: "prompt", tool: "tool call", tool_result: "tool result",
  tool_error: "tool error", retry: "API retry", result: "result", error: "error", raw: "output" };

document.addEventListener("DOMContentLoaded", async () => {
  const jobId = decodeURIComponent(location.pathname.split("/")[2] || "");
  const params = new URLSearchParams(location.search);
  const item = params.get("item") || "";
  const n = params.get("n");
  setText("log-item", n !== null ? `${item}, log ${Number(n) + 1}` : `${item} (its latest log)`);
  document.getElementById("back").href = `/job/${encodeURIComponent(jobId)}`;
  const query = `item=${encodeURIComponent(item)}` + (n !== null ? `&n=${encodeURIComponent(n)}` : "");
  const box = document.getElementById("log-entries");
  let log;
  try {
    log = await getJSON(`/api/job/${encodeURIComponent(jobId)}/log?${query}`);
  } catch (error) {
    box.replaceChildren(el("p", { class: "empty", text: error.message }));
    return;
  }
  const s = log.summary;
  setText("log-result", s.is_error === null ? "none (killed, or still running)" : s.is_error ? `error (${s.status})` : s.status);
  setText("log-model", s.model);
  setText("log-turns", s.turns);
  setText("log-duration", s.duration_ms === null ? null : fmtSeconds(s.duration_ms / 1000));
  setText("log-cost", s.cost_usd === null ? null : `$${s.cost_usd.toFixed(4)}`);
  const cut = log.cut ? ` (its last ${log.lines.length} lines are shown)` : "";
  setText("log-path", `${log.path} · ${log.size} bytes${cut}`);
  if (!log.lines.length) { box.replaceChildren(el("p", { class: "empty", text: "The log is empty." })); return; }
  box.replaceChildren(...log.lines.map((line) => el("div", { class: `entry ${line.kind}` },
    el("div", { class: "k", text: LABELS[line.kind] || line.kind }),
    el("pre", { text: line.text }))));
});
