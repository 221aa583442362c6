// The job page: a snapshot by server-sent events on every change, the item table and the DLQ fetched
// again (at most about once a second) when the snapshot says something changed.
"use strict";

const jobId = decodeURIComponent(location.pathname.split("/")[2] || "");
const api = `/api/job/${encodeURIComponent(jobId)}`;
let lastSeq = null, lastDlq = null, current = null, openItem = null;

function render(data) {
  const s = data.snapshot, c = s.counts;
  current = s;
  document.title = `prodigy · ${c.total === null ? s.phase : `${c.finished}/${c.total}`} · ${s.workflow}`;
  setText("job-id", s.job_id);
  const state = s.live ? "running" : (s.status === "running" && s.ended ? "gone" : s.status);
  const status = document.getElementById("status");
  status.textContent = state === "gone" ? "not running (process gone)" : state;
  status.className = `badge ${state}`;
  setText("phase", s.phase);
  setText("workflow", `${s.workflow} · ${s.session_id}`);
  for (const key of ["finished", "succeeded", "failed", "dlq", "running", "pending"]) setText(`count-${key}`, c[key]);
  setText("count-total", c.total === null ? "?" : c.total);
  const total = c.total || 0;
  const pct = (n) => (total ? `${(100 * n) / total}%` : "0%");
  document.getElementById("bar-ok").style.width = pct(c.succeeded);
  document.getElementById("bar-bad").style.width = pct(c.failed);
  document.getElementById("bar-run").style.width = pct(c.running);
  setText("rate", s.rate_per_minute === null ? "–" : `${s.rate_per_minute}/min`);
  setText("eta", s.eta_seconds === null ? "–" : fmtSeconds(s.eta_seconds));
  setText("elapsed", fmtSeconds(s.elapsed_seconds));
  setText("cost", s.cost_usd === null ? "none recorded" : fmtCost(s.cost_usd) + costNote(s.agents));
  setText("setup", steps(s.setup));
  setText("reduce", steps(s.reduce));
  setText("runs", s.runs);
  setText("retried", c.retried);
  setText("started", fmtTime(s.started_at));
  const notes = [];
  if (s.error) notes.push(`Error: ${s.error}`);
  if (!s.live && c.running) notes.push(`${c.running} item(s) were in flight when the run stopped; a resume runs them again.`);
  notes.push(...s.warnings);
  setText("note", notes.join(" "));
  document.getElementById("next-row").hidden = !s.next_command || s.next_command === s.resume_command;
  setText("next-cmd", s.next_command || "");
  document.getElementById("resume-row").hidden = !s.resume_command;
  setText("resume-cmd", s.resume_command || "");
  setText("resume-label", s.live ? "If it stops, resume with:" : "Resume with:");
  setText("watch-cmd", `prodigy progress ${s.job_id}`);
  chart(data.timeline, s);
  slowest(s.slowest_running);
  document.body.dataset.seq = s.seq;
  document.body.dataset.ended = s.ended;
  if (s.seq !== lastSeq) {
    lastSeq = s.seq;
    loadItems();
    if (openItem) loadDetail(openItem);
    if (c.dlq !== lastDlq || c.dlq) loadDlq();
    lastDlq = c.dlq;
  }
}

function costNote(agents) {
  const done = agents && agents.completed_items;
  if (!done || !done.items || done.average_cost_usd === null) return "";
  return ` (${fmtCost(done.average_cost_usd)} per completed item)`;
}

function steps(phase) {
  if (!phase.total) return phase.done ? `${phase.done} done` : "none";
  return `${phase.done}/${phase.total}`;
}

function chart(timeline, s) {
  const svg = document.getElementById("chart");
  const W = 640, H = 190, L = 40, R = 10, T = 10, B = 24;
  const points = timeline.points;
  const total = Math.max(timeline.total || 0, 1);
  const end = Math.max(s.elapsed_seconds || 0, points.length ? points[points.length - 1][0] : 0, 1);
  const x = (t) => L + ((W - L - R) * t) / end;
  const y = (n) => H - B - ((H - T - B) * n) / total;
  const line = (pick) => {
    let path = `M${x(0)},${y(0)}`, last = 0;
    for (const p of points) { path += ` L${x(p[0])},${y(last)} L${x(p[0])},${y(pick(p))}`; last = pick(p); }
    return path + ` L${x(end)},${y(last)}`;
  };
  const ns = "http://www.w3.org/2000/svg";
  const make = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  svg.replaceChildren(
    make("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }),
    make("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
    make("text", { x: L - 6, y: y(total) + 4, "text-anchor": "end" }, String(timeline.total ?? "?")),
    make("text", { x: L - 6, y: H - B + 4, "text-anchor": "end" }, "0"),
    make("text", { x: L, y: H - 6 }, "0s"),
    make("text", { x: W - R, y: H - 6, "text-anchor": "end" }, fmtSeconds(end)),
    ...timeline.runs.slice(1).map((t) => make("line", { class: "resume", x1: x(t), y1: T, x2: x(t), y2: H - B })),
    make("path", { class: "finished", d: line((p) => p[1] + p[2]) }),
    make("path", { class: "failed", d: line((p) => p[2]) }),
  );
}

function slowest(items) {
  const list = document.getElementById("slowest");
  if (!items.length) { list.replaceChildren(el("li", { class: "empty", text: "Nothing running." })); return; }
  list.replaceChildren(...items.map((i) => el("li", {},
    el("a", { href: "#", onclick: (e) => { e.preventDefault(); loadDetail(i.item_id); } }, i.item_id),
    ` attempt ${i.attempt}, ${current && current.live ? "running for" : "in flight at the stop,"} ${fmtSeconds(i.seconds)}`,
    i.worker ? ` on ${i.worker}` : "")));
}

function logLink(itemId, n, label) {
  const query = `item=${encodeURIComponent(itemId)}` + (n !== null && n !== undefined ? `&n=${n}` : "");
  return el("a", { href: `/job/${encodeURIComponent(jobId)}/log?${query}`, target: "_blank", rel: "noopener" }, label || "log");
}

const loadItems = throttle(async () => {
  const status = document.getElementById("filter-status").value;
  const q = document.getElementById("filter-q").value;
  const data = await getJSON(`${api}/items?status=${encodeURIComponent(status)}&q=${encodeURIComponent(q)}`)
    .catch((e) => ({ rows: [], matched: 0, total: 0, error: e.message }));
  const body = document.getElementById("items-body");
  body.replaceChildren(...data.rows.map((r) => el("tr", { "data-item": r.item_id, "data-status": r.status,
      class: r.item_id === openItem ? "selected" : null },
    el("td", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); loadDetail(r.item_id); } }, r.item_id)),
    el("td", {}, badge(r.status)),
    el("td", { text: r.attempts }),
    el("td", { text: r.running_seconds !== null ? `${fmtSeconds(r.running_seconds)} so far` : fmtSeconds(r.duration) }),
    el("td", { text: r.worker || (r.attempts ? "local" : "") }),
    el("td", { text: r.cost_usd === null ? "" : fmtCost(r.cost_usd) }),
    el("td", { class: "err", text: r.error || "" }),
    el("td", {}, r.logs || r.log_path ? logLink(r.item_id, null, r.logs > 1 ? `log (${r.logs})` : "log") : ""))));
  if (data.error) body.replaceChildren(el("tr", {}, el("td", { colspan: 8, class: "empty", text: data.error })));
  const shown = data.rows.length < data.matched ? `${data.rows.length} shown of ${data.matched} matching` : `${data.matched} matching`;
  setText("items-count", `(${shown}, ${data.total} in the job)`);
}, 700);

const loadDlq = throttle(async () => {
  const data = await getJSON(`${api}/dlq`).catch((e) => ({ items: [], count: 0, error: e.message }));
  setText("dlq-count", `(${data.count})`);
  document.getElementById("dlq-retry-row").hidden = !data.retry_command;
  setText("dlq-retry", data.retry_command || "");
  const body = document.getElementById("dlq-body");
  if (data.error) { body.replaceChildren(el("p", { class: "empty", text: data.error })); return; }
  if (!data.items.length) { body.replaceChildren(el("p", { class: "empty", text: "Empty." })); return; }
  body.replaceChildren(...data.items.map((item) => el("div", { class: "dlq-item", "data-item": item.item_id },
    el("a", { href: "#", onclick: (e) => { e.preventDefault(); loadDetail(item.item_id); } }, el("b", {}, item.item_id)),
    " ", badge(item.status), ` ${item.attempts} attempt(s) (click the id for its attempts and agent logs)`,
    el("pre", { class: "mono", text: JSON.stringify(item.data) }),
    ...item.failures.map((f) => el("div", {},
      el("span", { class: "muted", text: `attempt ${f.attempt} · ${f.status} · exit ${f.exit_code ?? "–"} · ${fmtTime(f.time)} ` }),
      f.log_path ? logLink(item.item_id, null, "agent log") : "",
      el("pre", { class: "err", text: [f.error, f.stderr_tail].filter(Boolean).join("\n") }))))));
}, 1000);

async function loadDetail(itemId) {
  openItem = itemId;
  const section = document.getElementById("detail");
  section.hidden = false;
  setText("detail-id", itemId);
  const data = await getJSON(`${api}/items/${encodeURIComponent(itemId)}`).catch((e) => ({ error: e.message }));
  const body = document.getElementById("detail-body");
  if (data.error) { body.replaceChildren(el("p", { class: "empty", text: data.error })); return; }
  const r = data.row;
  body.replaceChildren(
    el("p", {}, badge(r.status), ` ${r.attempts} attempt(s); started ${fmtTime(r.started_at)}`,
      r.finished_at ? `; ended ${fmtTime(r.finished_at)}` : ""),
    el("pre", { class: "mono", text: JSON.stringify(data.data, null, 2) }),
    ...(data.attempts.length ? data.attempts : []).map((a) => el("div", { class: "dlq-item" },
      el("b", { text: `attempt ${a.attempt}` }), " ", badge(a.status),
      ` exit ${a.exit_code ?? "–"} · ${fmtSeconds(a.duration)} · ${a.worker || "local"} · ${fmtTime(a.finished_at)}`,
      a.agent ? ` · agent ${fmtCost(a.agent.cost_usd)}, ${a.agent.turns ?? "?"} turn(s), ${a.agent.model || "model ?"} ` : " ",
      a.error ? el("pre", { class: "err", text: a.error }) : "",
      a.stderr_tail ? el("pre", { text: `stderr:\n${a.stderr_tail}` }) : "",
      a.stdout_tail ? el("pre", { text: `output:\n${a.stdout_tail}` }) : "")),
    data.attempts.length ? "" : el("p", { class: "empty", text: "No attempt has ended yet." }),
    data.logs.length ? el("p", {}, "Agent logs: ", ...data.logs.flatMap((log, i) => [i ? ", " : "",
      logLink(r.item_id, log.n, `${log.name} (${log.size} bytes)`)])) : "");
  loadItems();
}

function connect() {
  const conn = document.getElementById("conn");
  const source = new EventSource(`${api}/stream`);
  source.addEventListener("snapshot", (event) => render(JSON.parse(event.data)));
  source.onopen = () => { conn.textContent = "live"; conn.className = "badge live"; };
  source.onerror = () => { conn.textContent = "reconnecting"; conn.className = "badge off"; };
}

document.addEventListener("DOMContentLoaded", () => {
  setText("job-id", jobId);
  document.getElementById("filter-status").addEventListener("change", loadItems);
  let typing = null;
  document.getElementById("filter-q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(loadItems, 250); });
  document.getElementById("copy-resume").addEventListener("click", (e) => copyText(current ? current.resume_command : "", e.target));
  document.getElementById("copy-next").addEventListener("click", (e) => copyText(current ? current.next_command || "" : "", e.target));
  document.getElementById("copy-dlq").addEventListener("click", (e) => copyText(document.getElementById("dlq-retry").textContent, e.target));
  document.getElementById("detail-close").addEventListener("click", () => { openItem = null; document.getElementById("detail").hidden = true; loadItems(); });
  connect();
});
