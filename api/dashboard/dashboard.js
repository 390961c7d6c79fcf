// The dashboard's client: plain JavaScript, no build step. Talks to the REST API with the token
// from /api/auth/login (kept in localStorage) and follows operations over /ws/operations.
const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "semantik.token";
const TERMINAL = new Set(["completed", "failed", "cancelled"]);

const state = {
  token: localStorage.getItem(TOKEN_KEY),
  user: null,
  collections: new Map(),
  operations: new Map(),
  detail: null,
  socket: null,
  reconnectDelay: 1000,
  reconnectTimer: null,
};

function escapeHtml(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) =>
    ({
      "&": "&amp;",
      "<": "&lt;",
      ">": "&gt;",
      '"': "&quot;",
      "'": "&#39;",
    })[c]);
}

async function api(method, path, body) {
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
    logout();
  }
  if (!res.ok) {
    const err = new Error(data?.error?.message ?? `Request failed (${res.status})`);
    err.status = res.status;
    throw err;
  }
  return data;
}

// --- authentication --------------------------------------------------------------------------

async function login(event) {
  event?.preventDefault();
  $("auth-error").textContent = "";
  const username = $("username").value.trim();
  const password = $("password").value;
  try {
    const t = await api("POST", "/api/auth/login", { username, password });
    state.token = t.access_token;
    localStorage.setItem(TOKEN_KEY, state.token);
    await start();
  } catch (err) {
    $("auth-error").textContent = err.message;
  }
}

async function register() {
  $("auth-error").textContent = "";
  const username = $("username").value.trim();
  const password = $("password").value;
  try {
    await api("POST", "/api/auth/register", { username, password });
    await login();
  } catch (err) {
    $("auth-error").textContent = err.message;
  }
}

function logout() {
  state.token = null;
  state.user = null;
  localStorage.removeItem(TOKEN_KEY);
  if (state.socket) {
    state.socket.onclose = null;
    state.socket.close(1000);
    state.socket = null;
  }
  clearTimeout(state.reconnectTimer);
  $("app").classList.add("hidden");
  $("auth").classList.remove("hidden");
  $("logout").classList.add("hidden");
  $("whoami").textContent = "";
  $("live-state").textContent = "";
}

async function start() {
  try {
    state.user = await api("GET", "/api/auth/me");
  } catch {
    logout();
    return;
  }
  $("auth").classList.add("hidden");
  $("app").classList.remove("hidden");
  $("logout").classList.remove("hidden");
  $("whoami").textContent = state.user.username;
  await Promise.all([loadCollections(), loadOperations()]);
  connect();
}

// --- collections and documents ------------------------------------------------------------------

async function loadCollections() {
  const page = await api("GET", "/api/v2/collections?limit=100");
  state.collections = new Map(page.collections.map((c) => [c.id, c]));
  renderCollections();
  if (state.detail && state.collections.has(state.detail)) await loadDocuments(state.detail);
  else if (state.detail) closeDetail();
}

function renderCollections() {
  const rows = [...state.collections.values()].map((c) => `
    <tr data-collection="${c.id}">
      <td><a data-open="${c.id}">${escapeHtml(c.name)}</a>
        <div class="muted">${escapeHtml(c.sources.map((s) => s.path).join(", "))}</div></td>
      <td><span class="status ${c.status}">${c.status}</span></td>
      <td>${c.document_count}</td>
      <td>${c.chunk_count}</td>
      <td class="muted">${escapeHtml(c.embedding_model)}</td>
      <td><button type="button" class="secondary" data-open="${c.id}">Open</button></td>
    </tr>`);
  $("collections").innerHTML = rows.join("") ||
    `<tr><td colspan="6" class="muted">No collection yet.</td></tr>`;
}

async function createCollection(event) {
  event.preventDefault();
  $("create-error").textContent = "";
  const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
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
    const include = list($("c-include").value);
    const exclude = list($("c-exclude").value);
    if (include.length) body.source.include = include;
    if (exclude.length) body.source.exclude = exclude;
  }
  try {
    const res = await api("POST", "/api/v2/collections", body);
    state.collections.set(res.collection.id, res.collection);
    if (res.operation) upsertOperation(res.operation);
    renderCollections();
    $("create-form").reset();
  } catch (err) {
    $("create-error").textContent = err.message;
  }
}

async function openDetail(id) {
  state.detail = id;
  $("detail").classList.remove("hidden");
  await loadDocuments(id);
}

function closeDetail() {
  state.detail = null;
  $("detail").classList.add("hidden");
}

async function loadDocuments(id) {
  const c = state.collections.get(id);
  $("detail-title").textContent = c ? `${c.name} (${c.status})` : "";
  try {
    const page = await api("GET", `/api/v2/collections/${id}/documents?limit=100`);
    $("documents").innerHTML = page.documents.map((d) => `
      <tr>
        <td>${escapeHtml(d.uri)}</td>
        <td><span class="status ${d.status}">${d.status}</span></td>
        <td>${d.chunk_count}</td>
        <td class="muted">${escapeHtml(d.error ?? "")}</td>
      </tr>`).join("") || `<tr><td colspan="4" class="muted">No document yet.</td></tr>`;
  } catch (err) {
    $("documents").innerHTML = `<tr><td colspan="4" class="error">${
      escapeHtml(err.message)
    }</td></tr>`;
  }
}

async function collectionAction(kind) {
  const id = state.detail;
  if (!id) return;
  try {
    const res = kind === "sync"
      ? await api("POST", `/api/v2/collections/${id}/sync`)
      : await api("DELETE", `/api/v2/collections/${id}`);
    upsertOperation(res.operation);
    await loadCollections();
  } catch (err) {
    $("detail-title").textContent = `${state.collections.get(id)?.name ?? ""}: ${err.message}`;
  }
}

// --- operations ---------------------------------------------------------------------------------

async function loadOperations() {
  const page = await api("GET", "/api/v2/operations?limit=25");
  for (const op of page.operations) state.operations.set(op.id, op);
  renderOperations();
}

function upsertOperation(op) {
  const prev = state.operations.get(op.id);
  state.operations.set(op.id, { ...prev, ...op });
  renderOperations();
}

function renderOperations() {
  const ops = [...state.operations.values()]
    .sort((a, b) => String(b.created_at ?? "").localeCompare(String(a.created_at ?? "")))
    .slice(0, 25);
  $("operations").innerHTML = ops.map((op) => {
    const name = state.collections.get(op.collection_id)?.name ?? op.collection_id.slice(0, 8);
    const active = !TERMINAL.has(op.status);
    const text = op.error_message
      ? `<span class="error">${escapeHtml(op.error_message)}</span>`
      : escapeHtml(op.message);
    return `
    <tr data-operation="${op.id}" data-status="${op.status}">
      <td>${escapeHtml(op.type)} <span class="muted">${escapeHtml(name)}</span></td>
      <td><span class="status ${op.status}">${op.status}</span></td>
      <td><div class="bar" role="progressbar" aria-valuenow="${op.progress}" aria-valuemin="0"
        aria-valuemax="100"><div style="width:${op.progress}%"></div></div>
        <span class="muted">${op.progress}%</span></td>
      <td>${text}</td>
      <td>${
      active
        ? `<button type="button" class="danger" data-cancel="${op.id}">Cancel</button>`
        : op.status === "failed" || op.status === "cancelled"
        ? `<button type="button" class="secondary" data-retry="${op.id}">Retry</button>`
        : ""
    }</td>
    </tr>`;
  }).join("") || `<tr><td colspan="5" class="muted">No operation yet.</td></tr>`;
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

// --- live progress ------------------------------------------------------------------------------

function connect() {
  if (!state.token || state.socket) return;
  const url = new URL("/ws/operations", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url, [`access_token.${state.token}`]);
  state.socket = socket;
  $("live-state").textContent = "connecting…";
  socket.onopen = () => {
    state.reconnectDelay = 1000;
    $("live-state").textContent = "live";
    // Whatever finished while we were away: the socket only sends snapshots of active ones.
    loadOperations().catch(() => {});
    loadCollections().catch(() => {});
  };
  socket.onmessage = (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!frame.operation_id) return;
    upsertOperation({
      id: frame.operation_id,
      collection_id: frame.collection_id,
      type: frame.operation_type,
      status: frame.status,
      progress: frame.progress,
      message: frame.message,
      error_message: frame.error_message,
      metadata: frame.metadata,
    });
    if (TERMINAL.has(frame.status) || frame.type === "OPERATION_SNAPSHOT") {
      loadCollections().catch(() => {});
    }
  };
  socket.onclose = (event) => {
    state.socket = null;
    if (!state.token) return;
    if (event.code === 4001) {
      logout();
      return;
    }
    $("live-state").textContent = "reconnecting…";
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(connect, state.reconnectDelay);
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, 15000);
  };
}

// --- search -------------------------------------------------------------------------------------

const STOP_WORDS = new Set(
  (
    "a an and are as at be by can do does for from has how in is it of on or that the to was " +
    "were what when where which who why with"
  ).split(" "),
);

function highlight(text, query) {
  const words = [...new Set(query.toLowerCase().match(/[\p{L}\p{N}]{2,}/gu) ?? [])]
    .filter((w) => !STOP_WORDS.has(w))
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  if (words.length === 0) return escapeHtml(text);
  // A word matches at the start of a word of the text ("plant" marks "plants", not "implant").
  const parts = String(text).split(new RegExp(`(?<![\\p{L}\\p{N}])(${words.join("|")})`, "giu"));
  return parts.map((p, i) => (i % 2 === 1 ? `<mark>${escapeHtml(p)}</mark>` : escapeHtml(p))).join(
    "",
  );
}

async function search(event) {
  event.preventDefault();
  $("search-error").textContent = "";
  const query = $("search-query").value.trim();
  if (!query) return;
  try {
    const res = await api("POST", "/api/v2/search", {
      query,
      k: Number($("search-k").value) || 10,
    });
    $("search-results").innerHTML = res.results.map((r) => `
      <div class="result">
        <div><b>${escapeHtml(r.uri)}</b> <span class="muted">score ${
      r.score.toFixed(3)
    } · chunk ${r.chunk_index}
          · ${escapeHtml(state.collections.get(r.collection_id)?.name ?? "")}</span></div>
        <div class="text">${highlight(r.text, query)}</div>
      </div>`).join("") || `<p class="muted">No result (${res.took_ms} ms).</p>`;
  } catch (err) {
    $("search-error").textContent = err.message;
  }
}

// --- wiring -------------------------------------------------------------------------------------

$("login-form").addEventListener("submit", login);
$("register")?.addEventListener("click", register);
$("logout").addEventListener("click", logout);
$("create-form").addEventListener("submit", createCollection);
$("search-form").addEventListener("submit", search);
$("detail-close").addEventListener("click", closeDetail);
$("detail-sync").addEventListener("click", () => collectionAction("sync"));
$("detail-delete").addEventListener("click", () => collectionAction("delete"));
document.addEventListener("click", (event) => {
  const t = event.target.closest("[data-open],[data-cancel],[data-retry]");
  if (!t) return;
  if (t.dataset.open) openDetail(t.dataset.open);
  else if (t.dataset.cancel) operationAction("cancel", t.dataset.cancel);
  else if (t.dataset.retry) operationAction("retry", t.dataset.retry);
});

if (state.token) start();
