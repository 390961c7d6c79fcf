// The open collection's management: settings (name, sync mode and interval), reindex (model,
// precision, chunking), sources (listed, removed, and added through a form per type with a
// preview first) and the history of its sync runs. `collections.js` shows the collection and
// emits `detail-shown`; this module fills in the rest.
import {
  $,
  api,
  confirmAction,
  emit,
  escapeHtml,
  formatBytes,
  formatDuration,
  on,
  onSession,
  sourceLocation,
  splitList,
  state,
} from "./common.js";

let models = null;

onSession({ end: () => (models = null) });

on("detail-shown", ({ collection, opening }) => {
  if (opening) fillForms(collection);
  renderSources(collection);
  loadSyncRuns(collection.id);
});

function fillForms(c) {
  $("settings-status").textContent = "";
  $("reindex-status").textContent = "";
  $("s-name").value = c.name;
  $("s-sync").value = c.sync_mode;
  $("s-interval").value = c.sync_interval_minutes;
  $("r-size").value = c.chunk_size;
  $("r-overlap").value = c.chunk_overlap;
  $("r-precision").value = "";
  $("source-form").reset();
  showSourceType();
  loadModels(c);
}

async function loadModels(c) {
  try {
    models ??= (await api("GET", "/api/v2/models")).models;
  } catch {
    models = null;
  }
  const names = new Set((models ?? []).map((m) => m.name));
  names.add(c.embedding_model);
  $("r-model").innerHTML = [...names].sort().map((name) => {
    const m = models?.find((x) => x.name === name);
    const facts = m ? ` (${m.dimension} dims, chunks up to ${m.max_chunk_tokens})` : "";
    return `<option value="${escapeHtml(name)}"${name === c.embedding_model ? " selected" : ""}>${
      escapeHtml(name + facts)
    }${name === c.embedding_model ? " · current" : ""}</option>`;
  }).join("");
}

// --- settings and reindex -------------------------------------------------------------------------

async function saveSettings(event) {
  event.preventDefault();
  const id = state.detail;
  $("settings-status").textContent = "";
  try {
    const c = await api("PATCH", `/api/v2/collections/${id}`, {
      name: $("s-name").value.trim(),
      sync_mode: $("s-sync").value,
      sync_interval_minutes: Number($("s-interval").value),
    });
    state.collections.set(c.id, c);
    $("settings-status").textContent = "Settings saved.";
    emit("collections-changed");
  } catch (err) {
    $("settings-status").textContent = err.message;
  }
}

async function reindex(event) {
  event.preventDefault();
  const id = state.detail;
  const c = state.collections.get(id);
  $("reindex-status").textContent = "";
  const body = {
    embedding_model: $("r-model").value,
    chunk_size: Number($("r-size").value),
    chunk_overlap: Number($("r-overlap").value),
  };
  if ($("r-precision").value) body.embedding_precision = $("r-precision").value;
  try {
    const res = await api("POST", `/api/v2/collections/${id}/reindex`, body);
    emit("operation", res.operation);
    $("reindex-status").textContent = `Reindexing ${c?.name ?? ""} with ${body.embedding_model}.`;
    emit("collections-changed");
  } catch (err) {
    $("reindex-status").textContent = err.message;
  }
}

// --- sources ---------------------------------------------------------------------------------------

function renderSources(c) {
  $("sources").innerHTML = c.sources.map((s) => {
    const globs = [
      s.include?.length ? `include ${s.include.join(", ")}` : "",
      s.exclude?.length ? `exclude ${s.exclude.join(", ")}` : "",
    ].filter(Boolean).join(" · ");
    const extra = s.type === "git"
      ? ` <span class="muted">${escapeHtml(s.ref ?? "default branch")}</span>`
      : s.type === "web"
      ? ` <span class="muted">${s.max_pages} pages, depth ${s.max_depth}</span>`
      : "";
    return `
    <tr data-source="${s.id}">
      <td>${escapeHtml(s.type)}</td>
      <td>${escapeHtml(sourceLocation(s))}${extra}</td>
      <td class="muted">${escapeHtml(globs)}</td>
      <td><button type="button" class="danger" data-remove-source="${s.id}"
        aria-label="Remove source ${escapeHtml(sourceLocation(s))}">Remove</button></td>
    </tr>`;
  }).join("") || `<tr><td colspan="4" class="muted">No source yet.</td></tr>`;
}

function showSourceType() {
  const type = $("src-type").value;
  for (const fs of document.querySelectorAll("#source-form fieldset[data-source-type]")) {
    fs.classList.toggle("hidden", fs.dataset.sourceType !== type);
  }
  clearPreview();
}

function clearPreview() {
  $("source-preview").innerHTML = "";
  $("src-add").classList.add("hidden");
}

/** The `Source` the form describes, exactly as `POST /collections/{id}/sources` takes it. */
export function sourceFromForm() {
  const type = $("src-type").value;
  const include = splitList($("src-include").value);
  const exclude = splitList($("src-exclude").value);
  const source = { type };
  if (type === "directory") {
    source.path = $("src-dir-path").value.trim();
  } else if (type === "git") {
    source.url = $("src-git-url").value.trim();
    const ref = $("src-git-ref").value.trim();
    if (ref) source.ref = ref;
  } else {
    source.url = $("src-web-url").value.trim();
    const pages = $("src-web-pages").value, depth = $("src-web-depth").value;
    if (pages !== "") source.max_pages = Number(pages);
    if (depth !== "") source.max_depth = Number(depth);
  }
  if (include.length) source.include = include;
  if (exclude.length) source.exclude = exclude;
  if (type === "git" && $("src-git-token").value) source.token = $("src-git-token").value;
  return source;
}

async function previewSource(event) {
  event.preventDefault();
  clearPreview();
  const source = sourceFromForm();
  if (!(source.path ?? source.url)) {
    $("source-preview").innerHTML = `<p class="error">Say where the source is first.</p>`;
    return;
  }
  $("source-preview").innerHTML = `<p class="muted">Looking at the source…</p>`;
  try {
    const p = await api("POST", "/api/v2/sources/preview", { source });
    const exts = Object.entries(p.by_extension ?? {}).map(([ext, v]) => {
      const n = typeof v === "number" ? v : v.files ?? v.count;
      return `${escapeHtml(ext || "(none)")}: ${n}`;
    }).join(", ");
    const skipped = (p.skipped ?? []).slice(0, 20).map((s) =>
      `<li>${escapeHtml(s.uri)}: ${escapeHtml(s.reason)}</li>`
    ).join("");
    $("source-preview").innerHTML = `
      <p><b>Preview:</b> ${p.files} file${p.files === 1 ? "" : "s"}, ${formatBytes(p.bytes)}${
      exts ? ` (${exts})` : ""
    }.</p>
      ${
      p.skipped?.length
        ? `<p class="muted">${p.skipped.length} skipped:</p><ul class="muted">${skipped}</ul>`
        : ""
    }`;
    $("src-add").classList.remove("hidden");
  } catch (err) {
    $("source-preview").innerHTML = `<p class="error">${escapeHtml(err.message)}</p>`;
    // The preview is advice: the user may still add the source (the API checks it again and
    // says what is wrong, and the indexing run reports what it finds).
    $("src-add").classList.remove("hidden");
  }
}

async function addSource() {
  const id = state.detail;
  try {
    const res = await api("POST", `/api/v2/collections/${id}/sources`, sourceFromForm());
    emit("operation", res.operation);
    $("source-form").reset();
    showSourceType();
    $("source-preview").innerHTML = `<p>Adding ${escapeHtml(sourceLocation(res.source))}.</p>`;
    emit("collections-changed");
  } catch (err) {
    $("source-preview").innerHTML = `<p class="error">${escapeHtml(err.message)}</p>`;
  }
}

async function removeSource(sourceId) {
  const id = state.detail;
  const source = state.collections.get(id)?.sources.find((s) => s.id === sourceId);
  if (!source) return;
  const ok = await confirmAction(
    `Remove the source ${sourceLocation(source)} and its documents from the collection?`,
    { confirmLabel: "Remove source" },
  );
  if (!ok) return;
  $("detail-error").textContent = "";
  try {
    const res = await api("DELETE", `/api/v2/collections/${id}/sources/${sourceId}`);
    emit("operation", res.operation);
    emit("collections-changed");
  } catch (err) {
    $("detail-error").textContent = err.message;
  }
}

// --- sync runs -------------------------------------------------------------------------------------

async function loadSyncRuns(id) {
  try {
    const page = await api("GET", `/api/v2/collections/${id}/sync/runs?limit=20`);
    if (state.detail !== id) return;
    $("sync-runs").innerHTML = page.runs.map((r) => {
      const started = r.started_at ?? r.created_at;
      const duration = r.duration_seconds ?? r.duration;
      return `
      <tr>
        <td>${started ? escapeHtml(new Date(started).toLocaleString()) : ""}</td>
        <td>${escapeHtml(r.trigger)}</td>
        <td><span class="status ${escapeHtml(r.status)}">${escapeHtml(r.status)}</span></td>
        <td>${r.added ?? ""}</td>
        <td>${r.modified ?? ""}</td>
        <td>${r.deleted ?? ""}</td>
        <td>${r.failed ?? ""}</td>
        <td>${duration == null ? "" : escapeHtml(formatDuration(duration))}</td>
      </tr>`;
    }).join("") || `<tr><td colspan="8" class="muted">No sync run yet.</td></tr>`;
  } catch (err) {
    $("sync-runs").innerHTML = `<tr><td colspan="8" class="error">${
      escapeHtml(err.message)
    }</td></tr>`;
  }
}

$("settings-form").addEventListener("submit", saveSettings);
$("reindex-form").addEventListener("submit", reindex);
$("src-type").addEventListener("change", showSourceType);
$("source-form").addEventListener("input", (event) => {
  if (event.target.id !== "src-type") clearPreview();
});
$("source-form").addEventListener("submit", previewSource);
$("src-add").addEventListener("click", addSource);
document.addEventListener("click", (event) => {
  const t = event.target.closest("[data-remove-source]");
  if (t) removeSource(t.dataset.removeSource);
});
