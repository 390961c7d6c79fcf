// The dashboard's client: plain JavaScript, no build step. Talks to the REST API with the token
// from /api/auth/login (kept in localStorage) and follows operations over /ws/operations. This
// module logs in and out and keeps the live connection; the panels are their own modules:
// collections.js, operations.js and search.js (imported here), and those in PANEL_SCRIPTS.
import {
  $,
  api,
  onSession,
  sessionEnded,
  sessionStarted,
  state,
  TERMINAL,
  TOKEN_KEY,
} from "./common.js";
import { loadCollections } from "./collections.js";
import { loadOperations, upsertOperation } from "./operations.js";
import "./search.js";

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
  sessionEnded();
}

onSession({ end: endSession });

function endSession() {
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
  await Promise.all([loadCollections(), loadOperations(), sessionStarted()]);
  connect();
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
    }, { live: true });
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

// --- wiring -------------------------------------------------------------------------------------

$("login-form").addEventListener("submit", login);
$("register")?.addEventListener("click", register);
$("logout").addEventListener("click", logout);

if (state.token) start();
