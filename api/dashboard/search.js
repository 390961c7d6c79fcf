// Search: the query form, results with the query's words marked, and a button on each result that
// opens its document in the viewer (`document_viewer.js`) at the hit.
import { $, api, escapeHtml, on, state } from "./common.js";
import { latestAnswer } from "./latest_answer.js";

const STOP_WORDS = new Set(
  (
    "a an and are as at be by can do does for from has how in is it of on or that the to was " +
    "were what when where which who why with"
  ).split(" "),
);

/** Marks the query's words in `text` (where the server gave no spans). */
export function highlight(text, query) {
  const words = [...new Set(String(query).toLowerCase().match(/[\p{L}\p{N}]{2,}/gu) ?? [])]
    .filter((w) => !STOP_WORDS.has(w))
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  if (words.length === 0) return escapeHtml(text);
  // A word matches at the start of a word of the text ("plant" marks "plants", not "implant").
  const parts = String(text).split(new RegExp(`(?<![\\p{L}\\p{N}])(${words.join("|")})`, "giu"));
  return parts.map((p, i) => (i % 2 === 1 ? `<mark>${escapeHtml(p)}</mark>` : escapeHtml(p))).join(
    "",
  );
}

/** Marks the server's `[start, end)` spans of the query's terms in `text`. */
export function markSpans(text, spans) {
  let out = "", at = 0;
  for (const [start, end] of spans) {
    out += escapeHtml(text.slice(at, start)) + `<mark>${escapeHtml(text.slice(start, end))}</mark>`;
    at = end;
  }
  return out + escapeHtml(text.slice(at));
}

/** The last search's results, so that the viewer can mark the hit it was opened from. */
export const lastResults = [];

const searchAnswers = latestAnswer();

async function search(event) {
  event.preventDefault();
  $("search-error").textContent = "";
  const query = $("search-query").value.trim();
  if (!query) return;
  // Only the last search asked for is shown: an earlier one answered later is dropped.
  const ticket = searchAnswers.take();
  try {
    const body = { query, k: Number($("search-k").value) || 10, mode: $("search-mode").value };
    // Without a choice the API searches the collections on the default model.
    if ($("search-collection").value) body.collection_ids = [$("search-collection").value];
    const res = await api("POST", "/api/v2/search", body);
    if (!searchAnswers.latest(ticket)) return;
    lastResults.length = 0;
    lastResults.push(...res.results.map((r) => ({ ...r, query })));
    $("search-results").innerHTML = res.results.map((r, i) => `
      <div class="result">
        <div><b>${escapeHtml(r.uri)}</b> <span class="muted">score ${
      r.score.toFixed(3)
    } · chunk ${r.chunk_index}${r.page == null ? "" : ` · page ${r.page}`}
          · ${escapeHtml(state.collections.get(r.collection_id)?.name ?? "")}</span>
          <button type="button" class="secondary" data-view-result="${i}"
            aria-label="View ${escapeHtml(r.uri.split("/").pop())} at chunk ${r.chunk_index}"
          >View in document</button></div>
        <div class="text">${
      r.highlights?.length ? markSpans(r.text, r.highlights) : highlight(r.text, query)
    }</div>
      </div>`).join("") || `<p class="muted">No result (${res.took_ms} ms).</p>`;
  } catch (err) {
    if (searchAnswers.latest(ticket)) $("search-error").textContent = err.message;
  }
}

/** The collection choice follows the list (one that went away falls back to all). */
on("collections-loaded", () => {
  const select = $("search-collection");
  const chosen = select.value;
  select.innerHTML = `<option value="">All on the default model</option>` +
    [...state.collections.values()].map((c) =>
      `<option value="${c.id}">${escapeHtml(c.name)} (${escapeHtml(c.embedding_model)})</option>`
    ).join("");
  select.value = state.collections.has(chosen) ? chosen : "";
});

$("search-form").addEventListener("submit", search);
