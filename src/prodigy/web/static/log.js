// One agent log, rendered from the entries views/agent_log.py reads out of the CLI's stream-json events.
"use strict";

const LABELS = { init: "started", text: "agent", tool_use: "tool call", tool_result: "tool result",
  retry: "API retry", result: "result", error: "error", raw: "output" };

document.addEventListener("DOMContentLoaded", async () => {
  const jobId = decodeURIComponent(location.pathname.split("/")[2] || "");
  const params = new URLSearchParams(location.search);
  const item = params.get("item") || "";
  const attempt = params.get("attempt");
  setText("log-item", attempt ? `${item}, attempt ${attempt}` : item);
  document.getElementById("back").href = `/job/${encodeURIComponent(jobId)}`;
  const query = `item=${encodeURIComponent(item)}` + (attempt ? `&attempt=${encodeURIComponent(attempt)}` : "");
  const box = document.getElementById("log-entries");
  let log;
  try {
    log = await getJSON(`/api/job/${encodeURIComponent(jobId)}/log?${query}`);
  } catch (error) {
    box.replaceChildren(el("p", { class: "empty", text: error.message }));
    return;
  }
  setText("log-result", log.is_error === null ? "none (killed, or still running)" : log.is_error ? "error" : "success");
  setText("log-model", log.model);
  setText("log-turns", log.turns);
  setText("log-duration", log.duration_ms === null ? null : fmtSeconds(log.duration_ms / 1000));
  setText("log-cost", log.cost_usd === null ? null : `$${log.cost_usd.toFixed(4)}`);
  const skipped = log.skipped_bytes ? ` (showing the end: the first ${log.skipped_bytes} bytes are not shown)` : "";
  setText("log-path", `${log.path} · ${log.size} bytes${skipped}`);
  if (!log.entries.length) { box.replaceChildren(el("p", { class: "empty", text: "The log is empty." })); return; }
  box.replaceChildren(...log.entries.map((e) => el("div", { class: `entry ${e.kind}${e.is_error ? " is-error" : ""}` },
    el("div", { class: "k", text: [LABELS[e.kind] || e.kind, e.title].filter(Boolean).join(" · ") }),
    el("pre", { text: e.text }))));
});
