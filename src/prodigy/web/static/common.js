// Helpers shared by the pages. Every value from the server is put into the page as text (textContent),
// never as HTML, so nothing a command printed can run as script.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setText(id, value) {
  const node = document.getElementById(id);
  if (node) node.textContent = value === null || value === undefined ? "–" : String(value);
}

function fmtSeconds(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

function fmtCost(usd) {
  if (usd === null || usd === undefined) return "–";
  if (usd === 0) return "$0.00";
  return usd >= 0.1 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(4)}`;
}

function fmtTime(iso) {
  if (!iso) return "–";
  const when = new Date(iso);
  return isNaN(when) ? iso : when.toLocaleString();
}

async function getJSON(path) {
  const response = await fetch(path, { cache: "no-store", credentials: "same-origin" });
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

// Run fn at most once per `wait` ms; a call during the wait runs once after it (so the last change is shown).
function throttle(fn, wait) {
  let timer = null, again = false;
  const run = async () => {
    again = false;
    try { await fn(); } finally {
      timer = setTimeout(() => { timer = null; if (again) schedule(); }, wait);
    }
  };
  const schedule = () => { if (timer) { again = true; } else { timer = -1; run(); } };
  return schedule;
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    const area = el("textarea", {}, text);
    area.style.position = "fixed";  // through the CSSOM: the page's CSP refuses style attributes
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  const before = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = before; }, 1200);
}

function badge(text, kind) {
  return el("span", { class: `badge ${kind || text}`, text });
}
