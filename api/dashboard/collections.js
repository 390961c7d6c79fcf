// Collections: the list, the new-collection form, and the open collection's header actions
// (sync, pause/resume, delete) and documents (view, retry one, retry every failed one). The rest
// of the open collection (settings, reindex, sources, sync runs) is `collection_manage.js`.
import {
  $,
  api,
  confirmAction,
  emit,
  escapeHtml,
  on,
  onSession,
  sourceLocation,
  splitList,
  state,
} from "./common.js";
import { latestAnswer } from "./latest_answer.js";
import { upsertOperation } from "./operations.js";

const collectionAnswers = latestAnswer();
const documentAnswers = latestAnswer();

export async function loadCollections() {
  const ticket = collectionAnswers.take();
  const page = await api("GET", "/api/v2/collections?limit=100");
  // Reloaded on every finished operation: an older list arriving last would undo a newer one.
  if (!collectionAnswers.fresh(ticket)) return;
  state.collections = new Map(page.collections.map((c) => [c.id, c]));
  renderCollections();
  emit("collections-loaded");
  if (state.detail && state.collections.has(state.detail)) await refreshDetail(state.detail);
  else if (state.detail) closeDetail();
}

on("collections-changed", () => loadCollections().catch(() => {}));

// The next user starts with no collection open.
onSession({
  end: () => {
    state.detail = null;
    $("detail").classList.add("hidden");
  },
});

function renderCollections() {
  const rows = [...state.collections.values()].map((c) => `
    <tr data-collection="${c.id}">
      <td><button type="button" class="link" data-open="${c.id}">${escapeHtml(c.name)}</button>
        <div class="muted">${escapeHtml(c.sources.map(sourceLocation).join(", "))}</div></td>
      <td><span class="status ${c.status}">${c.status}</span>${
    c.sync_paused ? ' <span class="status cancelled">sync paused</span>' : ""
  }</td>
      <td>${c.document_count}</td>
      <td>${c.chunk_count}</td>
      <td class="muted">${escapeHtml(c.embedding_model)}</td>
      <td><button type="button" class="secondary" data-open="${c.id}"
        aria-label="Open ${escapeHtml(c.name)}">Open</button></td>
    </tr>`);
  $("collections").innerHTML = rows.join("") ||
    `<tr><td colspan="6" class="muted">No collection yet.</td></tr>`;
}

async function createCollection(event) {
  event.preventDefault();
  $("create-error").textContent = "";
  const body = {
    name: $("c-name").value.trim(),
    chunk_size: Number($("c-size").value),
    chunk_overlap: Number($("c-overlap").value),
    sync_mode: $("c-sync").value,
    sync_interval_minutes: Number($("c-interval").value),
  };
  const path = $("c-path").value.trim();
  if (path) {
    body.source = { type: "directory", path };
    const include = splitList($("c-include").value);
    const exclude = splitList($("c-exclude").value);
    if (include.length) body.source.include = include;
    if (exclude.length) body.source.exclude = exclude;
  }
  try {
    const res = await api("POST", "/api/v2/collections", body);
    state.collections.set(res.collection.id, res.collection);
    if (res.operation) upsertOperation(res.operation);
    renderCollections();
    emit("collections-loaded");
    $("create-form").reset();
  } catch (err) {
    $("create-error").textContent = err.message;
  }
}

export async function openDetail(id) {
  const opening = state.detail !== id;
  state.detail = id;
  $("detail").classList.remove("hidden");
  $("detail-error").textContent = "";
  await refreshDetail(id, { opening });
  if (opening) {
    $("detail-title").setAttribute("tabindex", "-1");
    $("detail-title").focus();
  }
}

export function closeDetail() {
  const id = state.detail;
  state.detail = null;
  $("detail").classList.add("hidden");
  if (id) document.querySelector(`#collections [data-open="${id}"]`)?.focus();
}

/** The header, the documents and (through `detail-shown`) the other parts of the open one. */
async function refreshDetail(id, { opening = false } = {}) {
  const c = state.collections.get(id);
  if (!c) return;
  $("detail-title").textContent = `${c.name} (${c.status})`;
  $("detail-summary").textContent =
    `${c.document_count} documents · ${c.chunk_count} chunks · ${c.embedding_model}${
      c.embedding_precision ? ` (${c.embedding_precision})` : ""
    } · chunks of ${c.chunk_size} ` +
    `tokens, overlap ${c.chunk_overlap} · sync ${
      c.sync_mode === "continuous" ? `every ${c.sync_interval_minutes} min` : "one time"
    }${c.sync_paused ? " (paused)" : ""}`;
  $("detail-pause").textContent = c.sync_paused ? "Resume sync" : "Pause sync";
  // The last collection's documents must not stay under this one's title while its own load.
  if (opening) $("documents").innerHTML = `<tr><td colspan="5" class="muted">Loading…</td></tr>`;
  emit("detail-shown", { collection: c, opening });
  await loadDocuments(id);
}

async function loadDocuments(id) {
  const ticket = documentAnswers.take();
  try {
    const page = await api("GET", `/api/v2/collections/${id}/documents?limit=100`);
    // Only the open collection's, and not older than what is shown: the user may have opened
    // another collection while this answer travelled, whose own answer has not come yet.
    if (id !== state.detail || !documentAnswers.fresh(ticket)) return;
    $("documents").innerHTML = page.documents.map((d) => {
      const viewable = d.status === "completed";
      const retryable = d.status === "failed";
      const name = escapeHtml(d.uri.split("/").pop() || d.uri);
      return `
      <tr data-document="${d.id}">
        <td>${escapeHtml(d.uri)}</td>
        <td><span class="status ${d.status}">${d.status}</span></td>
        <td>${d.chunk_count}</td>
        <td class="muted">${escapeHtml(d.error ?? "")}</td>
        <td>${
        viewable
          ? `<button type="button" class="secondary" data-view-collection="${id}"
              data-view-document="${d.id}" aria-label="View ${name}">View</button>`
          : ""
      }${
        retryable
          ? ` <button type="button" class="secondary" data-retry-document="${d.id}"
              aria-label="Retry ${name}">Retry</button>`
          : ""
      }</td>
      </tr>`;
    }).join("") || `<tr><td colspan="5" class="muted">No document yet.</td></tr>`;
  } catch (err) {
    if (id !== state.detail || !documentAnswers.fresh(ticket)) return;
    $("documents").innerHTML = `<tr><td colspan="5" class="error">${
      escapeHtml(err.message)
    }</td></tr>`;
  }
}

async function detailAction(run) {
  const id = state.detail;
  if (!id) return;
  $("detail-error").textContent = "";
  try {
    const res = await run(id);
    if (res?.operation) upsertOperation(res.operation);
    await loadCollections();
  } catch (err) {
    $("detail-error").textContent = err.message;
  }
}

async function deleteCollection() {
  const c = state.collections.get(state.detail);
  if (!c) return;
  const ok = await confirmAction(`Delete the collection ${c.name} and everything indexed in it?`, {
    confirmLabel: "Delete collection",
  });
  if (ok) detailAction((id) => api("DELETE", `/api/v2/collections/${id}`));
}

function togglePause() {
  const paused = state.collections.get(state.detail)?.sync_paused;
  detailAction(async (id) => {
    const c = await api("POST", `/api/v2/collections/${id}/sync/${paused ? "resume" : "pause"}`);
    state.collections.set(c.id, c);
  });
}

$("create-form").addEventListener("submit", createCollection);
$("detail-close").addEventListener("click", closeDetail);
$("detail-sync").addEventListener(
  "click",
  () => detailAction((id) => api("POST", `/api/v2/collections/${id}/sync`)),
);
$("detail-pause").addEventListener("click", togglePause);
$("detail-delete").addEventListener("click", deleteCollection);
$("retry-failed").addEventListener(
  "click",
  () => detailAction((id) => api("POST", `/api/v2/collections/${id}/documents/retry-failed`)),
);
document.addEventListener("click", (event) => {
  const t = event.target.closest("[data-open],[data-retry-document]");
  if (!t) return;
  if (t.dataset.open) openDetail(t.dataset.open);
  else {
    const doc = t.dataset.retryDocument;
    detailAction((id) => api("POST", `/api/v2/collections/${id}/documents/${doc}/retry`));
  }
});
