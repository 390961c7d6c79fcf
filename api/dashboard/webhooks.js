// The webhooks panel: create a webhook (its signing secret is shown once, with a copy button),
// list and delete the user's webhooks, and see the recent deliveries of one.
import { $, api, escapeHtml, onSession } from "./common.js";

const EVENTS = ["operation.completed", "operation.failed", "operation.cancelled"];
let openHook = null;

function showError(err) {
  $("wh-error").textContent = err ? err.message : "";
}

async function refreshHooks() {
  const { webhooks } = await api("GET", "/api/v2/webhooks");
  $("webhooks").innerHTML = webhooks.length === 0
    ? '<tr><td colspan="4" class="muted">No webhooks yet.</td></tr>'
    : webhooks.map((w) => `
      <tr data-webhook="${escapeHtml(w.id)}">
        <td>${escapeHtml(w.url)}</td>
        <td>${w.events.map((e) => `<span class="status">${escapeHtml(e)}</span>`).join(" ")}</td>
        <td class="muted">${escapeHtml(new Date(w.created_at).toLocaleString())}</td>
        <td style="white-space:nowrap">
          <button type="button" class="secondary" data-deliveries="${
      escapeHtml(w.id)
    }">Deliveries</button>
          <button type="button" class="danger" data-delete="${escapeHtml(w.id)}">Delete</button>
        </td>
      </tr>`).join("");
  if (openHook && !webhooks.some((w) => w.id === openHook.id)) closeDeliveries();
}

async function createHook(event) {
  event.preventDefault();
  showError(null);
  const events = EVENTS.filter((e) => $(`wh-ev-${e.split(".")[1]}`).checked);
  try {
    const hook = await api("POST", "/api/v2/webhooks", { url: $("wh-url").value.trim(), events });
    $("wh-secret-value").textContent = hook.secret;
    $("wh-copy").textContent = "Copy";
    $("wh-secret").classList.remove("hidden");
    $("wh-url").value = "";
    await refreshHooks();
  } catch (err) {
    showError(err);
  }
}

async function copySecret() {
  const secret = $("wh-secret-value").textContent;
  try {
    await navigator.clipboard.writeText(secret);
    $("wh-copy").textContent = "Copied";
  } catch {
    // No clipboard access: select the text so the user can copy it by hand.
    const range = document.createRange();
    range.selectNodeContents($("wh-secret-value"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    $("wh-copy").textContent = "Press Ctrl+C";
  }
}

function hideSecret() {
  $("wh-secret-value").textContent = "";
  $("wh-secret").classList.add("hidden");
}

async function showDeliveries(id) {
  const url = $("webhooks").querySelector(`tr[data-webhook="${CSS.escape(id)}"] td`)?.textContent;
  openHook = { id, url };
  $("wh-deliveries-title").textContent = url ?? id;
  $("wh-deliveries").classList.remove("hidden");
  await refreshDeliveries();
}

function closeDeliveries() {
  openHook = null;
  $("wh-deliveries").classList.add("hidden");
  $("wh-delivery-rows").innerHTML = "";
}

async function refreshDeliveries() {
  if (!openHook) return;
  const { deliveries } = await api("GET", `/api/v2/webhooks/${openHook.id}/deliveries`);
  $("wh-delivery-rows").innerHTML = deliveries.length === 0
    ? '<tr><td colspan="6" class="muted">No deliveries yet.</td></tr>'
    : deliveries.map((d) => `
      <tr data-delivery="${escapeHtml(d.id)}" data-status="${escapeHtml(d.status)}">
        <td>${escapeHtml(d.event)}<div class="muted">${escapeHtml(d.operation_id)}</div></td>
        <td><span class="status ${d.status === "succeeded" ? "completed" : escapeHtml(d.status)}">${
      escapeHtml(d.status)
    }</span></td>
        <td>${d.attempts}</td>
        <td>${d.response_status ?? ""}</td>
        <td class="error">${escapeHtml(d.last_error ?? "")}</td>
        <td class="muted">${
      escapeHtml(new Date(d.completed_at ?? d.last_attempt_at ?? d.created_at).toLocaleString())
    }</td>
      </tr>`).join("");
}

async function onTableClick(event) {
  const button = event.target.closest("button");
  if (!button) return;
  showError(null);
  try {
    if (button.dataset.deliveries) await showDeliveries(button.dataset.deliveries);
    if (button.dataset.delete) {
      await api("DELETE", `/api/v2/webhooks/${button.dataset.delete}`);
      await refreshHooks();
    }
  } catch (err) {
    showError(err);
  }
}

$("webhook-form").addEventListener("submit", createHook);
$("wh-copy").addEventListener("click", copySecret);
$("wh-secret-done").addEventListener("click", hideSecret);
$("webhooks").addEventListener("click", onTableClick);
$("wh-refresh").addEventListener("click", () => refreshDeliveries().catch(showError));
$("wh-close").addEventListener("click", closeDeliveries);

onSession({
  start: () => refreshHooks().catch(showError),
  end() {
    hideSecret();
    closeDeliveries();
    $("webhooks").innerHTML = "";
    showError(null);
  },
});
