// Every session, newest first, updated by server-sent events when a session record changes.
"use strict";

let latest = null;

function render(data) {
  latest = data;
  const wanted = document.getElementById("filter-status").value;
  const rows = data.rows.filter((r) => !wanted || r.status === wanted);
  setText("sessions-count", `(${rows.length} shown of ${data.total})`);
  const body = document.getElementById("sessions-body");
  if (!rows.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 8, class: "empty", text: "No sessions." })));
  } else {
    body.replaceChildren(...rows.map((r) => {
      const p = r.progress || {};
      const progress = p.total ? `${p.done ?? 0}/${p.total}` + (p.dlq ? ` (${p.dlq} in the DLQ)` : "") : "";
      const action = r.job_id
        ? el("a", { href: `/job/${encodeURIComponent(r.job_id)}` }, "watch")
        : el("span", { class: "muted mono", text: r.resumable ? `prodigy resume ${r.id}` : `prodigy sessions show ${r.id}` });
      return el("tr", { "data-session": r.id },
        el("td", { class: "mono", text: r.id }), el("td", { text: r.workflow }), el("td", { text: r.kind }),
        el("td", {}, badge(r.status)), el("td", { text: r.phase || "" }), el("td", { text: progress }),
        el("td", { text: fmtTime(r.created_at) }), el("td", {}, action));
    }));
  }
  setText("sessions-note", data.warnings.join(" "));
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("filter-status").addEventListener("change", () => latest && render(latest));
  const conn = document.getElementById("conn");
  const source = new EventSource("/api/sessions/stream");
  source.addEventListener("sessions", (event) => render(JSON.parse(event.data)));
  source.onopen = () => { conn.textContent = "live"; conn.className = "badge live"; };
  source.onerror = () => { conn.textContent = "reconnecting"; conn.className = "badge off"; };
});
