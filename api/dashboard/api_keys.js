// The API keys panel (issue 24): create a key (its secret is shown once, with a copy button),
// list the user's keys without secrets, revoke one.
import { $, api, escapeHtml, onSession } from "./common.js";

function fmt(iso) {
  return iso ? new Date(iso).toLocaleString() : "never";
}

async function refresh() {
  const { api_keys } = await api("GET", "/api/v2/api-keys");
  $("ak-list").innerHTML = api_keys.length === 0
    ? '<tr><td colspan="6" class="muted">No API keys yet.</td></tr>'
    : api_keys.map((k) =>
      `<tr data-key-id="${escapeHtml(k.id)}">
        <td>${escapeHtml(k.name)}</td>
        <td>${escapeHtml(k.scopes.join(", "))}</td>
        <td><code>${escapeHtml(k.prefix)}…</code></td>
        <td>${escapeHtml(fmt(k.created_at))}<br><span class="muted">expires ${
        escapeHtml(k.expires_at ? fmt(k.expires_at) : "never")
      }</span></td>
        <td>${escapeHtml(fmt(k.last_used_at))}</td>
        <td><button type="button" class="danger" data-revoke="${
        escapeHtml(k.id)
      }">Revoke</button></td>
      </tr>`
    ).join("");
}

function hideNewKey() {
  $("ak-new").classList.add("hidden");
  $("ak-new-key").textContent = "";
  $("ak-copy").textContent = "Copy";
}

$("ak-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("ak-error").textContent = "";
  const scopes = ["read"];
  if ($("ak-scope-write").checked) scopes.push("write");
  const days = $("ak-expires").value.trim();
  const body = { name: $("ak-name").value.trim(), scopes };
  if (days) body.expires_in_days = Number(days);
  try {
    const created = await api("POST", "/api/v2/api-keys", body);
    $("ak-new-key").textContent = created.key;
    $("ak-new").classList.remove("hidden");
    $("ak-form").reset();
    await refresh();
  } catch (err) {
    $("ak-error").textContent = err.message;
  }
});

$("ak-copy").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText($("ak-new-key").textContent);
    $("ak-copy").textContent = "Copied";
  } catch {
    // No clipboard access: select the key so that the user can copy it by hand.
    const range = document.createRange();
    range.selectNodeContents($("ak-new-key"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    $("ak-copy").textContent = "Select and copy";
  }
});

$("ak-dismiss").addEventListener("click", hideNewKey);

$("ak-list").addEventListener("click", async (e) => {
  const id = e.target.closest("button[data-revoke]")?.dataset.revoke;
  if (!id) return;
  $("ak-error").textContent = "";
  try {
    await api("DELETE", `/api/v2/api-keys/${encodeURIComponent(id)}`);
    await refresh();
  } catch (err) {
    $("ak-error").textContent = err.message;
  }
});

onSession({
  start: () => refresh().catch((err) => ($("ak-error").textContent = err.message)),
  end: () => {
    hideNewKey();
    $("ak-list").innerHTML = "";
  },
});
