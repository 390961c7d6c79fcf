/**
 * The dashboard at `/`: the page is rendered here with hono/jsx; `dashboard.js` (served beside it,
 * no build step, no framework) logs in, lists collections, documents and operations, follows
 * operations live over the WebSocket (resuming after a reconnect) and searches.
 */
import type { FC } from "hono/jsx";

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
                <input
                  id="search-query"
                  placeholder="Ask your documents…"
                  maxlength={1000}
                  required
                />
              </div>
              <div style="flex:0;min-width:80px">
                <input id="search-k" type="number" min="1" max="100" value="10" title="results" />
              </div>
              <div style="flex:0">
                <button type="submit">Search</button>
              </div>
            </form>
            <p id="search-error" class="error"></p>
            <div id="search-results"></div>
          </section>

          <section class="card">
            <h2>New collection</h2>
            <form id="create-form">
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
          </section>

          <section class="card hidden" id="detail">
            <h2 id="detail-title"></h2>
            <div class="tabs">
              <button type="button" class="secondary" id="detail-sync">Sync now</button>
              <button type="button" class="danger" id="detail-delete">Delete collection</button>
              <button type="button" class="secondary" id="detail-close">Close</button>
            </div>
            <h2 style="margin-top:1rem">Documents</h2>
            <table>
              <thead>
                <tr>
                  <th>Document</th>
                  <th>Status</th>
                  <th>Chunks</th>
                  <th>Reason</th>
                </tr>
              </thead>
              <tbody id="documents"></tbody>
            </table>
          </section>

          <section class="card">
            <h2>Operations</h2>
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
          </section>
        </div>
      </main>
      <script src="/assets/dashboard.js" type="module"></script>
    </body>
  </html>
);
