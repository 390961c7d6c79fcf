/**
 * `/docs`: the API reference rendered on the server from the OpenAPI document, with no script or
 * stylesheet from elsewhere (the page must work offline and behind strict proxies).
 */

type Json = Record<string, unknown>;

const esc = (s: unknown) =>
  String(s).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll(
    '"',
    "&quot;",
  );

function resolveRef(doc: Json, schema: unknown): unknown {
  if (schema && typeof schema === "object" && "$ref" in schema) {
    const name = String((schema as Json).$ref).split("/").pop()!;
    return ((doc.components as Json)?.schemas as Json)?.[name] ?? schema;
  }
  return schema;
}

function schemaText(doc: Json, schema: unknown, depth = 0): string {
  const s = resolveRef(doc, schema) as Json | undefined;
  if (!s || depth > 4) return "…";
  if (s.type === "object" && s.properties) {
    const req = new Set((s.required as string[]) ?? []);
    const inner = Object.entries(s.properties as Json).map(([k, v]) =>
      `${"  ".repeat(depth + 1)}${k}${req.has(k) ? "" : "?"}: ${schemaText(doc, v, depth + 1)}`
    );
    return `{\n${inner.join(",\n")}\n${"  ".repeat(depth)}}`;
  }
  if (s.type === "array") return `${schemaText(doc, s.items, depth)}[]`;
  if (s.enum) return (s.enum as unknown[]).map((e) => JSON.stringify(e)).join(" | ");
  if (s.anyOf) return (s.anyOf as unknown[]).map((x) => schemaText(doc, x, depth)).join(" | ");
  const t = Array.isArray(s.type) ? (s.type as string[]).join(" | ") : String(s.type ?? "any");
  return s.format ? `${t} (${s.format})` : t;
}

export function renderDocsPage(doc: Json): string {
  const info = doc.info as Json;
  const sections: string[] = [];
  for (const [path, ops] of Object.entries((doc.paths as Json) ?? {})) {
    for (const [method, op] of Object.entries(ops as Json)) {
      const o = op as Json;
      const params = ((o.parameters as Json[]) ?? []).map((p) =>
        `<li><code>${esc(p.name)}</code> (${esc(p.in)}${p.required ? ", required" : ""}): ${
          esc(schemaText(doc, p.schema))
        }</li>`
      ).join("");
      const body = ((o.requestBody as Json)?.content as Json)?.["application/json"] as Json;
      const responses = Object.entries((o.responses as Json) ?? {}).map(([code, r]) => {
        const schema = (((r as Json).content as Json)?.["application/json"] as Json)?.schema;
        return `<li><b>${esc(code)}</b> ${esc((r as Json).description ?? "")}${
          schema && !code.startsWith("4") && !code.startsWith("5")
            ? `<pre>${esc(schemaText(doc, schema))}</pre>`
            : ""
        }</li>`;
      }).join("");
      sections.push(`<section id="${esc(method + path)}">
<h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code>${
        o.security ? ' <span class="lock">token</span>' : ""
      }</h3>
${params ? `<h4>Parameters</h4><ul>${params}</ul>` : ""}
${body ? `<h4>Body</h4><pre>${esc(schemaText(doc, body.schema))}</pre>` : ""}
<h4>Responses</h4><ul>${responses}</ul></section>`);
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info?.title)} — reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1d2330}
pre{background:#f4f6fa;padding:.6rem;border-radius:6px;overflow:auto;font-size:13px}
section{border-top:1px solid #dde2ea;padding:.5rem 0}
.m{display:inline-block;min-width:4.5em;text-align:center;border-radius:4px;color:#fff;font-size:12px;padding:2px 6px}
.get{background:#2f7d4a}.post{background:#2458b3}.patch{background:#8a5a00}.delete{background:#b3242f}
.lock{font-size:12px;color:#6b7385}
</style></head><body>
<h1>${esc(info?.title)}</h1><p>${esc(info?.description ?? "")}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. Send the token from
<code>POST /api/auth/login</code> as <code>Authorization: Bearer &lt;token&gt;</code>.</p>
${sections.join("\n")}
</body></html>`;
}
