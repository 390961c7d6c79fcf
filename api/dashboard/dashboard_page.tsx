/**
 * The dashboard at `/`: the page is rendered here with hono/jsx; `dashboard.js` (served beside it,
 * no build step, no framework) logs in, lists collections, documents and operations, follows
 * operations live over the WebSocket (resuming after a reconnect) and searches.
 */
import type { FC } from "hono/jsx";

/**
 * The panels' scripts (files beside this one), loaded before `dashboard.js` so that each has
 * subscribed to the session (`onSession` in `common.js`) before it starts. A panel adds its file
 * name here and its `<section>` below.
 */
const PANEL_SCRIPTS: string[] = [
  "api_keys.js",
  "collection_manage.js",
  "document_viewer.js",
  "webhooks.js",
];

const STYLE = `
:root{--fg:#1d2330;--muted:#6b7385;--line:#dde2ea;--bg:#f6f7fb;--accent:#2458b3;--ok:#2f7d4a;--bad:#b3242f;--warn:#8a5a00}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;align-items:center;gap:1rem;padding:.7rem 1.2rem;background:#fff;border-bottom:1px solid var(--line)}
header h1{font-size:1.1rem;margin:0}header .spacer{flex:1}main{max-width:1100px;margin:1rem auto;padding:0 1rem}
section.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:1rem;margin-bottom:1rem}
h2{font-size:1rem;margin:0 0 .7rem}label{display:block;font-size:.85rem;color:var(--muted);margin:.4rem 0 .15rem}
input,select{font:inherit;padding:.35rem .5rem;border:1px solid var(--line);border-radius:5px;width:100%}
button{font:inherit;padding:.35rem .8rem;border:1px solid var(--accent);background:var(--accent);color:#fff;border-radius:5px;cursor:pointer}
button.secondary{background:#fff;color:var(--accent)}button.danger{border-color:var(--bad);background:#fff;color:var(--bad)}
button:disabled{opacity:.5;cursor:default}.row{display:flex;gap:.6rem;align-items:end;flex-wrap:wrap}.row>*{flex:1;min-width:140px}
table{width:100%;border-collapse:collapse;font-size:.9rem}th,td{text-align:left;padding:.35rem .4rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}.status{font-size:.8rem;padding:.05rem .45rem;border-radius:9px;background:#eef1f7;white-space:nowrap}
.status.completed,.status.ready{background:#e3f3e8;color:var(--ok)}.status.failed,.status.error{background:#f9e3e5;color:var(--bad)}
.status.processing,.status.pending{background:#e6eefb;color:var(--accent)}.status.cancelled,.status.skipped,.status.deleting{background:#f6efe0;color:var(--warn)}
.bar{height:10px;background:#e9ecf3;border-radius:5px;overflow:hidden;min-width:120px}.bar>div{height:100%;background:var(--accent);transition:width .3s}
.muted{color:var(--muted)}.error{color:var(--bad)}.hidden{display:none}mark{background:#ffe58a;padding:0 1px}
.result{border-top:1px solid var(--line);padding:.5rem 0}.result .text{white-space:pre-wrap;font-size:.9rem}
.tabs button{margin-right:.3rem}a{color:var(--accent);cursor:pointer}
:focus-visible{outline:3px solid #f0a500;outline-offset:2px}
h3{font-size:.95rem;margin:1rem 0 .4rem}.scroll{overflow-x:auto;max-width:100%}
td,.result,#doc-meta{overflow-wrap:anywhere}
button.link{background:none;border:0;padding:0;color:var(--accent);text-decoration:underline;text-align:left}
fieldset{border:1px solid var(--line);border-radius:6px;margin:.5rem 0;padding:.3rem .6rem .6rem;min-width:0}
legend{font-size:.85rem;color:var(--muted)}label.check{display:inline-flex;gap:.25rem;align-items:center;margin-right:.7rem;color:var(--fg)}
label.check input{width:auto}.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:1rem}
dialog{width:min(900px,calc(100vw - 1.5rem));max-height:85vh;border:1px solid var(--line);border-radius:8px;padding:1rem}
dialog::backdrop{background:rgba(20,25,35,.45)}.dialog-head{display:flex;gap:.6rem;align-items:start;justify-content:space-between}
.dialog-head h2{overflow-wrap:anywhere}.chunk{border-left:4px solid var(--line);margin:.5rem 0;padding:.2rem .6rem;white-space:pre-wrap;overflow-wrap:anywhere}
.chunk .chunk-label{display:block;font-size:.75rem;color:var(--muted);white-space:normal}.chunk:nth-child(even){border-left-color:#b9c3d6}
.chunk.hit{border-left-color:#f0a500;background:#fffaf0}.eta{display:block;font-size:.8rem}
button{white-space:nowrap}
@media (max-width:600px){header{flex-wrap:wrap;gap:.4rem}main{padding:0 .5rem}.row>*{min-width:100%}
main table thead{display:none}main table tr{display:block;border-bottom:1px solid var(--line);padding:.4rem 0}
main table td{display:block;border:0;padding:.15rem 0}main table td:empty{display:none}
main table td[data-label]::before{content:attr(data-label);display:inline-block;min-width:6.5rem;color:var(--muted);font-size:.8rem}}
`;

export const DashboardPage: FC<{ allowRegistration: boolean }> = ({ allowRegistration }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>Semantik</title>
      <link rel="icon" href="data:," />
      <style dangerouslySetInnerHTML={{ __html: STYLE }} />
    </head>
    <body data-allow-registration={allowRegistration ? "true" : "false"}>
      <header>
        <h1>Semantik</h1>
        <span class="muted" id="live-state"></span>
        <span class="spacer"></span>
        <span id="whoami" class="muted"></span>
        <button id="logout" class="secondary hidden" type="button">Log out</button>
      </header>
      <main>
        <section class="card" id="auth">
          <h2>Log in</h2>
          <form id="login-form" class="row">
            <div>
              <label for="username">Username</label>
              <input id="username" name="username" autocomplete="username" required />
            </div>
            <div>
              <label for="password">Password</label>
              <input
                id="password"
                name="password"
                type="password"
                autocomplete="current-password"
                required
              />
            </div>
            <div style="flex:0">
              <button type="submit" id="login">Log in</button>
            </div>
            {allowRegistration
              ? (
                <div style="flex:0">
                  <button type="button" class="secondary" id="register">Register</button>
                </div>
              )
              : null}
          </form>
          <p id="auth-error" class="error"></p>
        </section>

        <div id="app" class="hidden">
          <section class="card">
            <h2>Search</h2>
            <form id="search-form" class="row">
              <div style="flex:4">
                <label for="search-query">Query</label>
                <input
                  id="search-query"
                  placeholder="Ask your documents…"
                  maxlength={1000}
                  required
                />
              </div>
              <div style="flex:1;min-width:140px">
                <label for="search-collection">Collection</label>
                <select id="search-collection">
                  <option value="">All on the default model</option>
                </select>
              </div>
              <div style="flex:0;min-width:110px">
                <label for="search-mode">Retrieval</label>
                <select id="search-mode">
                  <option value="hybrid" selected>hybrid</option>
                  <option value="dense">meaning</option>
                  <option value="lexical">exact terms</option>
                </select>
              </div>
              <div style="flex:0;min-width:80px">
                <label for="search-k">Results</label>
                <input id="search-k" type="number" min="1" max="100" value="10" />
              </div>
              <div style="flex:0">
                <button type="submit">Search</button>
              </div>
            </form>
            <p id="search-error" class="error"></p>
            <div id="search-results"></div>
          </section>

          <section class="card">
            <h2 id="create-title">New collection</h2>
            <form id="create-form" aria-labelledby="create-title">
              <div class="row">
                <div>
                  <label for="c-name">Name</label>
                  <input id="c-name" required maxlength={128} />
                </div>
                <div style="flex:2">
                  <label for="c-path">Directory (absolute path inside DOCUMENT_ROOTS)</label>
                  <input id="c-path" placeholder="/srv/docs" />
                </div>
              </div>
              <div class="row">
                <div>
                  <label for="c-include">Include globs (comma-separated)</label>
                  <input id="c-include" placeholder="**/*.md, **/*.pdf" />
                </div>
                <div>
                  <label for="c-exclude">Exclude globs</label>
                  <input id="c-exclude" placeholder="drafts/**" />
                </div>
              </div>
              <div class="row">
                <div>
                  <label for="c-size">Chunk size (tokens)</label>
                  <input id="c-size" type="number" min="16" value="200" />
                </div>
                <div>
                  <label for="c-overlap">Chunk overlap</label>
                  <input id="c-overlap" type="number" min="0" value="40" />
                </div>
                <div>
                  <label for="c-sync">Sync</label>
                  <select id="c-sync">
                    <option value="one_time">One time</option>
                    <option value="continuous">Continuous</option>
                  </select>
                </div>
                <div>
                  <label for="c-interval">Every (minutes)</label>
                  <input id="c-interval" type="number" min="1" value="60" />
                </div>
                <div style="flex:0">
                  <button type="submit" id="create">Create</button>
                </div>
              </div>
            </form>
            <p id="create-error" class="error"></p>
          </section>

          <section class="card">
            <h2>Collections</h2>
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Status</th>
                    <th>Documents</th>
                    <th>Chunks</th>
                    <th>Model</th>
                    <th></th>
                  </tr>
                </thead>
                <tbody id="collections"></tbody>
              </table>
            </div>
          </section>

          <section class="card hidden" id="detail" aria-labelledby="detail-title">
            <h2 id="detail-title"></h2>
            <p id="detail-summary" class="muted"></p>
            <div class="tabs">
              <button type="button" class="secondary" id="detail-sync">Sync now</button>
              <button type="button" class="secondary" id="detail-pause">Pause sync</button>
              <button type="button" class="danger" id="detail-delete">Delete collection</button>
              <button type="button" class="secondary" id="detail-close">Close</button>
            </div>
            <p id="detail-error" class="error" role="alert"></p>

            <div class="grid2">
              <form id="settings-form" aria-labelledby="settings-title">
                <h3 id="settings-title">Settings</h3>
                <label for="s-name">Collection name</label>
                <input id="s-name" required maxlength={128} />
                <label for="s-sync">Sync mode</label>
                <select id="s-sync">
                  <option value="one_time">One time</option>
                  <option value="continuous">Continuous</option>
                </select>
                <label for="s-interval">Sync interval (minutes)</label>
                <input id="s-interval" type="number" min="1" max="525600" required />
                <p>
                  <button type="submit">Save settings</button>
                </p>
                <p id="settings-status" class="muted" role="status"></p>
              </form>

              <form id="reindex-form" aria-labelledby="reindex-title">
                <h3 id="reindex-title">Reindex</h3>
                <label for="r-model">Embedding model</label>
                <select id="r-model"></select>
                <label for="r-precision">Precision</label>
                <select id="r-precision">
                  <option value="">Keep (or the model's default)</option>
                  <option value="fp32">fp32</option>
                  <option value="fp16">fp16</option>
                  <option value="int8">int8</option>
                </select>
                <div class="row">
                  <div>
                    <label for="r-size">Chunk size (tokens)</label>
                    <input id="r-size" type="number" min="16" max="8192" required />
                  </div>
                  <div>
                    <label for="r-overlap">Chunk overlap (tokens)</label>
                    <input id="r-overlap" type="number" min="0" max="8191" required />
                  </div>
                </div>
                <p class="muted">
                  Chunking and the model change only by reindexing every document.
                </p>
                <p>
                  <button type="submit">Reindex collection</button>
                </p>
                <p id="reindex-status" class="muted" role="status"></p>
              </form>
            </div>

            <h3>Sources</h3>
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th>Type</th>
                    <th>Location</th>
                    <th>Include / exclude</th>
                    <th></th>
                  </tr>
                </thead>
                <tbody id="sources"></tbody>
              </table>
            </div>

            <form id="source-form" aria-labelledby="source-title">
              <h3 id="source-title">Add a source</h3>
              <label for="src-type">Source type</label>
              <select id="src-type">
                <option value="directory">Directory</option>
                <option value="git">Git repository</option>
                <option value="web">Web site</option>
              </select>
              <fieldset data-source-type="directory">
                <legend>Directory</legend>
                <label for="src-dir-path">Directory path</label>
                <input id="src-dir-path" placeholder="/srv/docs" />
              </fieldset>
              <fieldset data-source-type="git" class="hidden">
                <legend>Git repository</legend>
                <label for="src-git-url">Repository URL</label>
                <input id="src-git-url" placeholder="https://example.com/team/repo.git" />
                <div class="row">
                  <div>
                    <label for="src-git-ref">Branch, tag or commit</label>
                    <input id="src-git-ref" placeholder="default branch" />
                  </div>
                  <div>
                    <label for="src-git-token">Access token</label>
                    <input id="src-git-token" type="password" autocomplete="off" />
                  </div>
                </div>
              </fieldset>
              <fieldset data-source-type="web" class="hidden">
                <legend>Web site</legend>
                <label for="src-web-url">Start URL</label>
                <input id="src-web-url" placeholder="https://example.com/docs/" />
                <div class="row">
                  <div>
                    <label for="src-web-pages">Max pages</label>
                    <input id="src-web-pages" type="number" min="1" max="100000" />
                  </div>
                  <div>
                    <label for="src-web-depth">Max depth</label>
                    <input id="src-web-depth" type="number" min="0" max="100" />
                  </div>
                </div>
              </fieldset>
              <div class="row">
                <div>
                  <label for="src-include">Include globs (comma-separated)</label>
                  <input id="src-include" placeholder="**/*.md" />
                </div>
                <div>
                  <label for="src-exclude">Exclude globs (comma-separated)</label>
                  <input id="src-exclude" placeholder="drafts/**" />
                </div>
              </div>
              <p>
                <button type="submit" class="secondary">Preview source</button>
                <button type="button" id="src-add" class="hidden">Add source</button>
              </p>
              <div id="source-preview" role="status"></div>
            </form>

            <h3>Sync runs</h3>
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th>Started</th>
                    <th>Trigger</th>
                    <th>Status</th>
                    <th>Added</th>
                    <th>Modified</th>
                    <th>Deleted</th>
                    <th>Failed</th>
                    <th>Duration</th>
                  </tr>
                </thead>
                <tbody id="sync-runs"></tbody>
              </table>
            </div>

            <h3>Documents</h3>
            <div class="tabs">
              <button type="button" class="secondary" id="retry-failed">
                Retry failed documents
              </button>
            </div>
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th>Document</th>
                    <th>Status</th>
                    <th>Chunks</th>
                    <th>Reason</th>
                    <th></th>
                  </tr>
                </thead>
                <tbody id="documents"></tbody>
              </table>
            </div>
          </section>

          <section class="card">
            <h2>Operations</h2>
            <form id="op-filters" aria-label="Operation filters">
              <div class="row">
                <fieldset>
                  <legend>Status</legend>
                  {["pending", "processing", "completed", "failed", "cancelled"].map((s) => (
                    <label class="check" key={s}>
                      <input type="checkbox" name="op-status" value={s} /> {s}
                    </label>
                  ))}
                </fieldset>
                <div>
                  <label for="op-type">Type</label>
                  <select id="op-type">
                    <option value="">Any type</option>
                    {["index", "append", "remove_source", "sync", "reindex", "delete"].map((t) => (
                      <option key={t} value={t}>{t}</option>
                    ))}
                  </select>
                  <label for="op-after">Created after</label>
                  <input id="op-after" type="datetime-local" />
                  <label for="op-before">Created before</label>
                  <input id="op-before" type="datetime-local" />
                </div>
              </div>
              <p>
                <button type="submit" class="secondary">Apply filters</button>
                <button type="button" class="secondary" id="op-clear">Clear filters</button>
                <button type="button" class="danger" id="op-bulk-cancel">
                  Cancel matching operations
                </button>
              </p>
              <p id="op-status" class="muted" role="status"></p>
            </form>
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th>Operation</th>
                    <th>Status</th>
                    <th style="width:30%">Progress</th>
                    <th>Message</th>
                    <th></th>
                  </tr>
                </thead>
                <tbody id="operations"></tbody>
              </table>
            </div>
          </section>

          <section class="card" id="api-keys">
            <h2>API keys</h2>
            <p class="muted">
              For scripts and MCP clients: send as{" "}
              <code>Authorization: Bearer sk_sem_…</code>. Read keys list, search and read; write
              keys also create and change.
            </p>
            <form id="ak-form" class="row">
              <div style="flex:3">
                <label for="ak-name">Name</label>
                <input id="ak-name" name="name" maxLength={100} required />
              </div>
              <div>
                <label for="ak-expires">Expires in days (optional)</label>
                <input id="ak-expires" name="expires_in_days" type="number" min="1" max="3650" />
              </div>
              <div>
                <label>
                  <input id="ak-scope-write" type="checkbox" style="width:auto" /> write scope
                </label>
              </div>
              <div>
                <button id="ak-create" type="submit">Create key</button>
              </div>
            </form>
            <div id="ak-new" class="hidden" style="margin-top:.7rem">
              <p>Copy this key now: it is not shown again.</p>
              <div class="row">
                <code id="ak-new-key" style="flex:4;word-break:break-all"></code>
                <button id="ak-copy" type="button" class="secondary">Copy</button>
                <button id="ak-dismiss" type="button" class="secondary">Done</button>
              </div>
            </div>
            <p id="ak-error" class="error"></p>
            <table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Scopes</th>
                  <th>Key</th>
                  <th>Created</th>
                  <th>Last used</th>
                  <th></th>
                </tr>
              </thead>
              <tbody id="ak-list"></tbody>
            </table>
          </section>

          <section class="card" id="webhooks-panel">
            <h2>Webhooks</h2>
            <form id="webhook-form" class="row">
              <div style="flex:3">
                <label for="wh-url">URL</label>
                <input
                  id="wh-url"
                  type="url"
                  placeholder="https://example.com/hooks/semantik"
                  required
                />
              </div>
              <div>
                <label>Events</label>
                <label style="display:inline">
                  <input id="wh-ev-completed" type="checkbox" style="width:auto" checked />{" "}
                  completed
                </label>{" "}
                <label style="display:inline">
                  <input id="wh-ev-failed" type="checkbox" style="width:auto" checked /> failed
                </label>{" "}
                <label style="display:inline">
                  <input id="wh-ev-cancelled" type="checkbox" style="width:auto" /> cancelled
                </label>
              </div>
              <div style="flex:0">
                <button type="submit" id="wh-create">Add webhook</button>
              </div>
            </form>
            <p id="wh-error" class="error" role="alert"></p>
            <div id="wh-secret" class="hidden">
              <p>
                Signing secret (shown only now; it verifies <code>X-Semantik-Signature</code>):
              </p>
              <div class="row">
                <code id="wh-secret-value" style="flex:3;word-break:break-all"></code>
                <button type="button" class="secondary" id="wh-copy" style="flex:0">Copy</button>
                <button type="button" class="secondary" id="wh-secret-done" style="flex:0">
                  Done
                </button>
              </div>
            </div>
            <table>
              <thead>
                <tr>
                  <th>URL</th>
                  <th>Events</th>
                  <th>Created</th>
                  <th></th>
                </tr>
              </thead>
              <tbody id="webhooks"></tbody>
            </table>
            <div id="wh-deliveries" class="hidden">
              <h2 style="margin-top:1rem">
                Deliveries of <span id="wh-deliveries-title"></span>{" "}
                <button type="button" class="secondary" id="wh-refresh">Refresh</button>{" "}
                <button type="button" class="secondary" id="wh-close">Close</button>
              </h2>
              <table>
                <thead>
                  <tr>
                    <th>Event</th>
                    <th>Status</th>
                    <th>Attempts</th>
                    <th>Response</th>
                    <th>Last error</th>
                    <th>When</th>
                  </tr>
                </thead>
                <tbody id="wh-delivery-rows"></tbody>
              </table>
            </div>
          </section>
        </div>

        <dialog id="doc-viewer" aria-labelledby="doc-title">
          <div class="dialog-head">
            <h2 id="doc-title">Document</h2>
            <button type="button" class="secondary" id="doc-close">Close</button>
          </div>
          <p id="doc-meta" class="muted"></p>
          <div id="doc-body"></div>
        </dialog>

        <dialog id="confirm-dialog" aria-labelledby="confirm-message">
          <form method="dialog">
            <p id="confirm-message"></p>
            <p>
              <button type="submit" value="no" id="confirm-no" class="secondary">Keep</button>
              <button type="submit" value="yes" id="confirm-yes" class="danger">Confirm</button>
            </p>
          </form>
        </dialog>
      </main>
      {PANEL_SCRIPTS.map((name) => (
        <script key={name} src={`/assets/${name}`} type="module"></script>
      ))}
      <script src="/assets/dashboard.js" type="module"></script>
    </body>
  </html>
);
