// Shared by the dashboard's scripts: the element lookup, escaping, the API client and the
// session state. Each panel is its own module (`/assets/<name>.js`, listed in
// `dashboard_page.tsx`) that imports from here and subscribes to the session with `onSession`.
export const $ = (id) => document.getElementById(id);
export const TOKEN_KEY = "semantik.token";
export { TERMINAL } from "./operation_state.js";

export const state = {
  token: localStorage.getItem(TOKEN_KEY),
  user: null,
  collections: new Map(),
  operations: new Map(),
  detail: null,
  socket: null,
  reconnectDelay: 1000,
  reconnectTimer: null,
};

export function escapeHtml(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) =>
    ({
      "&": "&amp;",
      "<": "&lt;",
      ">": "&gt;",
      '"': "&quot;",
      "'": "&#39;",
    })[c]);
}

export async function api(method, path, body) {
  const headers = {};
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => null);
  if (res.status === 401 && state.token && !path.startsWith("/api/auth/")) {
    sessionEnded();
  }
  if (!res.ok) {
    const err = new Error(data?.error?.message ?? `Request failed (${res.status})`);
    err.status = res.status;
    throw err;
  }
  return data;
}

const listeners = { start: [], end: [] };

/**
 * Runs `start` each time a user's session begins (after login or on load with a stored token),
 * and `end` when it ends (logout, or the token refused).
 */
export function onSession({ start, end }) {
  if (start) listeners.start.push(start);
  if (end) listeners.end.push(end);
}

/** Tells every panel that a session began; their `start` hooks run in parallel. */
export async function sessionStarted() {
  await Promise.all(listeners.start.map((fn) => fn(state.user)));
}

/** Tells every panel that the session ended. */
export function sessionEnded() {
  for (const fn of listeners.end) fn();
}

/** Tells the other panels something happened (`on(name, fn)` hears it), without importing them. */
export function emit(name, detail) {
  document.dispatchEvent(new CustomEvent(`semantik:${name}`, { detail }));
}

export function on(name, fn) {
  document.addEventListener(`semantik:${name}`, (event) => fn(event.detail));
}

/** "a, b , c" -> ["a", "b", "c"] (a form's comma-separated globs). */
export function splitList(s) {
  return String(s ?? "").split(",").map((x) => x.trim()).filter(Boolean);
}

/** 75 -> "1 min 15 s"; 3700 -> "1 h 1 min". */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  const m = Math.floor((s % 3600) / 60);
  return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ""}`;
}

/** 1536 -> "1.5 KiB". */
export function formatBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n) || 0, i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Where a source reads from: a directory's path, a repository's or site's URL. */
export function sourceLocation(source) {
  return source.type === "directory" ? source.path : source.url;
}

/**
 * Asks the user to confirm in a modal dialog (Escape or "Keep" says no). Resolves true or false;
 * focus goes back where it was.
 */
export function confirmAction(message, { confirmLabel = "Confirm" } = {}) {
  const dialog = document.getElementById("confirm-dialog");
  if (dialog.open) return Promise.resolve(false);
  const back = document.activeElement;
  dialog.querySelector("#confirm-message").textContent = message;
  dialog.querySelector("#confirm-yes").textContent = confirmLabel;
  dialog.returnValue = "";
  dialog.showModal();
  dialog.querySelector("#confirm-no").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      back?.focus?.();
      resolve(dialog.returnValue === "yes");
    }, { once: true });
  });
}

/**
 * Narrow screens show the rows of every table in `<main>` as cards, each cell under its column's name:
 * every cell is given its header's text as `data-label` whenever rows are rendered.
 */
function labelCells() {
  for (const table of document.querySelectorAll("main table")) {
    const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.cells].forEach((td, i) => {
        if (names[i] && td.colSpan === 1) td.dataset.label = names[i];
      });
    }
  }
}
let labelling = false;
new MutationObserver(() => {
  if (labelling) return;
  labelling = true;
  queueMicrotask(() => {
    labelling = false;
    labelCells();
  });
}).observe(document.documentElement, { childList: true, subtree: true });
