// The document viewer: a modal dialog with a document's text cut into its chunks (each boundary
// shown with the chunk's number, character range and page), opened from the documents list or
// from a search result, whose chunk is then marked, its hit highlighted and scrolled to.
// Escape or "Close" closes it and focus returns to the button that opened it.
import { $, api, escapeHtml, onSession } from "./common.js";
import { latestAnswer } from "./latest_answer.js";
import { highlight, lastResults, markSpans } from "./search.js";

let opener = null;
/** The document opened last is the one shown: an earlier one's text answered later is dropped. */
const viewerAnswers = latestAnswer();

async function openViewer({ collectionId, documentId, hit }) {
  opener = document.activeElement;
  const dialog = $("doc-viewer");
  $("doc-title").textContent = "Loading…";
  $("doc-meta").textContent = "";
  $("doc-body").innerHTML = "";
  if (!dialog.open) dialog.showModal();
  const ticket = viewerAnswers.take();
  try {
    const content = await api(
      "GET",
      `/api/v2/collections/${collectionId}/documents/${documentId}/content`,
    );
    if (!viewerAnswers.latest(ticket)) return;
    render(content, hit);
  } catch (err) {
    if (!viewerAnswers.latest(ticket)) return;
    $("doc-title").textContent = "Document";
    $("doc-body").innerHTML = `<p class="error" role="alert">${escapeHtml(err.message)}</p>`;
  }
}

function render({ document: doc, text, text_source: from, chunks }, hit) {
  $("doc-title").textContent = doc.uri.split("/").pop() || doc.uri;
  $("doc-meta").textContent = `${doc.uri} · ${chunks.length} chunk${
    chunks.length === 1 ? "" : "s"
  }${hit ? ` · search hit in chunk ${hit.chunk_index}` : ""}${
    from === "chunks" ? " · the file changed since: text rebuilt from the indexed chunks" : ""
  }`;
  $("doc-body").innerHTML = chunks.map((c) => {
    const slice = text.slice(c.start, c.end);
    const isHit = hit && c.index === hit.chunk_index;
    let body = escapeHtml(slice);
    if (isHit) {
      body = slice === hit.text && hit.highlights?.length
        ? markSpans(slice, hit.highlights)
        : highlight(slice, hit.query);
    }
    return `<div class="chunk${isHit ? " hit" : ""}" data-chunk="${c.index}"${
      isHit ? ' tabindex="-1" aria-label="Search hit, chunk ' + c.index + '"' : ""
    }><span class="chunk-label">Chunk ${c.index} · characters ${c.start}–${c.end}${
      c.page == null ? "" : ` · page ${c.page}`
    }${isHit ? " · search hit" : ""}</span>${body}</div>`;
  }).join("") || `<p class="muted">${escapeHtml(text) || "This document has no text."}</p>`;
  const target = $("doc-body").querySelector(".chunk.hit");
  if (target) {
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
  }
}

$("doc-close").addEventListener("click", () => $("doc-viewer").close());
onSession({ end: () => $("doc-viewer").open && $("doc-viewer").close() });
$("doc-viewer").addEventListener("close", () => {
  opener?.focus?.();
  opener = null;
});
document.addEventListener("click", (event) => {
  const t = event.target.closest("[data-view-document],[data-view-result]");
  if (!t) return;
  if (t.dataset.viewResult !== undefined) {
    const r = lastResults[Number(t.dataset.viewResult)];
    if (r) openViewer({ collectionId: r.collection_id, documentId: r.document_id, hit: r });
  } else {
    openViewer({ collectionId: t.dataset.viewCollection, documentId: t.dataset.viewDocument });
  }
});
