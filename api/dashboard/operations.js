// The operations panel: the list (filtered by status, type and creation time), live progress with
// counts and ETA, cancel and retry one, and cancel every active operation the filters match.
import {
  $,
  api,
  confirmAction,
  escapeHtml,
  formatDuration,
  on,
  onSession,
  state,
  TERMINAL,
} from "./common.js";
import { latestAnswer } from "./latest_answer.js";
import { mergeOperation } from "./operation_state.js";

/** The filters as the API takes them: `{status?, type?, created_after?, created_before?}`. */
export function currentFilters() {
  const filters = {};
  const statuses = [...document.querySelectorAll('input[name="op-status"]:checked')].map((i) =>
    i.value
  );
  if (statuses.length) filters.status = statuses.join(",");
  if ($("op-type").value) filters.type = $("op-type").value;
  const after = $("op-after").value, before = $("op-before").value;
  if (after) filters.created_after = new Date(after).toISOString();
  if (before) filters.created_before = new Date(before).toISOString();
  return filters;
}

function matches(op, f) {
  if (f.status && !f.status.split(",").includes(op.status)) return false;
  if (f.type && !f.type.split(",").includes(op.type)) return false;
  const created = op.created_at ? Date.parse(op.created_at) : NaN;
  if (f.created_after && !(created >= Date.parse(f.created_after))) return false;
  if (f.created_before && !(created < Date.parse(f.created_before))) return false;
  return true;
}

const listAnswers = latestAnswer();

export async function loadOperations() {
  const query = new URLSearchParams({ limit: "25", ...currentFilters() });
  const ticket = listAnswers.take();
  const page = await api("GET", `/api/v2/operations?${query}`);
  // A list for other filters, or read before a later one, arriving last is not shown.
  if (!listAnswers.fresh(ticket)) return;
  const ops = state.operations;
  for (const op of page.operations) {
    ops.set(op.id, mergeOperation(ops.get(op.id), op, { live: false }));
  }
  renderOperations();
}

/**
 * Shows what arrived of an operation: `live` for a frame from the socket, otherwise a REST answer
 * (which never takes a finished operation back to active: `mergeOperation`).
 */
export function upsertOperation(op, { live = false } = {}) {
  state.operations.set(op.id, mergeOperation(state.operations.get(op.id), op, { live }));
  renderOperations();
}

on("operation", (op) => upsertOperation(op));
// The next user sees only their own operations.
onSession({
  end: () => {
    state.operations = new Map();
    $("op-filters").reset();
    renderOperations();
  },
});

/** Counts, the document at hand, speed and the time left, from a progress event's metadata. */
function progressDetails(op) {
  const m = op.metadata ?? {};
  const n = (key) => (Number.isFinite(m[key]) ? m[key] : null);
  const parts = [];
  const done = n("documents_done") ?? n("documents_processed");
  if (done !== null) {
    const total = n("documents_total");
    parts.push(`${done}${total !== null ? ` of ${total}` : ""} documents`);
  }
  if (n("documents_failed")) parts.push(`${m.documents_failed} failed`);
  if (n("documents_skipped")) parts.push(`${m.documents_skipped} skipped`);
  if (n("chunks_created") !== null) parts.push(`${m.chunks_created} chunks`);
  if (!TERMINAL.has(op.status) && n("chunks_per_second")) {
    parts.push(`${m.chunks_per_second.toFixed(1)} chunks/s`);
  }
  const eta = !TERMINAL.has(op.status) && Number.isFinite(m.eta_seconds)
    ? `<span class="eta" data-eta>ETA ${formatDuration(m.eta_seconds)}</span>`
    : "";
  const current = !TERMINAL.has(op.status) && m.current_document
    ? `<span class="muted">${escapeHtml(m.current_document)}</span>`
    : "";
  return `${eta}${
    parts.length ? `<span class="muted">${escapeHtml(parts.join(" · "))}</span> ` : ""
  }${current}`;
}

export function renderOperations() {
  const filters = currentFilters();
  const ops = [...state.operations.values()]
    .filter((op) => matches(op, filters))
    .sort((a, b) => String(b.created_at ?? "").localeCompare(String(a.created_at ?? "")))
    .slice(0, 25);
  $("operations").innerHTML = ops.map((op) => {
    const name = state.collections.get(op.collection_id)?.name ??
      String(op.collection_id ?? "").slice(0, 8);
    const active = !TERMINAL.has(op.status);
    const text = op.error_message
      ? `<span class="error">${escapeHtml(op.error_message)}</span>`
      : escapeHtml(op.message);
    const label = `${op.type} ${name}`;
    return `
    <tr data-operation="${op.id}" data-status="${op.status}" data-type="${escapeHtml(op.type)}">
      <td>${escapeHtml(op.type)} <span class="muted">${escapeHtml(name)}</span></td>
      <td><span class="status ${op.status}">${op.status}</span></td>
      <td><div class="bar" role="progressbar" aria-label="${escapeHtml(label)} progress"
        aria-valuenow="${op.progress}" aria-valuemin="0" aria-valuemax="100">
        <div style="width:${op.progress}%"></div></div>
        <span class="muted">${op.progress}%</span> ${progressDetails(op)}</td>
      <td>${text}</td>
      <td>${
      active
        ? `<button type="button" class="danger" data-cancel="${op.id}"
            aria-label="Cancel ${escapeHtml(label)}">Cancel</button>`
        : op.status === "failed" || op.status === "cancelled"
        ? `<button type="button" class="secondary" data-retry="${op.id}"
            aria-label="Retry ${escapeHtml(label)}">Retry</button>`
        : ""
    }</td>
    </tr>`;
  }).join("") || `<tr><td colspan="5" class="muted">No operation.</td></tr>`;
}

async function operationAction(kind, id) {
  try {
    if (kind === "cancel") upsertOperation(await api("DELETE", `/api/v2/operations/${id}`));
    else upsertOperation((await api("POST", `/api/v2/operations/${id}/retry`)).operation);
  } catch (err) {
    const op = state.operations.get(id);
    if (op) upsertOperation({ ...op, message: err.message });
  }
}

async function applyFilters(event) {
  event?.preventDefault();
  $("op-status").textContent = "";
  // What the server returns for these filters replaces what was shown.
  state.operations = new Map();
  try {
    await loadOperations();
  } catch (err) {
    $("op-status").textContent = err.message;
  }
}

async function bulkCancel() {
  const filters = currentFilters();
  const what = Object.keys(filters).length
    ? "every active operation matching the filters"
    : "every active operation";
  if (!await confirmAction(`Cancel ${what}?`, { confirmLabel: "Cancel operations" })) return;
  try {
    const res = await api("POST", "/api/v2/operations/cancel", filters);
    $("op-status").textContent = `Cancelled ${res.cancelled} operation${
      res.cancelled === 1 ? "" : "s"
    }.`;
    await loadOperations();
  } catch (err) {
    $("op-status").textContent = err.message;
  }
}

$("op-filters").addEventListener("submit", applyFilters);
$("op-clear").addEventListener("click", () => {
  $("op-filters").reset();
  applyFilters();
});
$("op-bulk-cancel").addEventListener("click", bulkCancel);
document.addEventListener("click", (event) => {
  const t = event.target.closest("[data-cancel],[data-retry]");
  if (!t) return;
  if (t.dataset.cancel) operationAction("cancel", t.dataset.cancel);
  else operationAction("retry", t.dataset.retry);
});
