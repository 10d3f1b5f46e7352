// `GET /api/docs`: a readable reference of the JSON API, rendered on the server from the same
// route list and schemas as the OpenAPI document (no CDN, no script).

import { escapeHtml, SERVER_ID } from "../http/response.ts";
import { type ApiRoute, PATH_PARAMS } from "./_route.ts";
import type { Schema } from "./schemas.ts";

const e = escapeHtml;

/** A schema's type in words: `string`, `Mount[]`, `"read" | "full"`. */
function typeName(s: Schema): string {
  if (typeof s.$ref === "string") {
    const name = s.$ref.split("/").pop()!;
    return `<a href="#schema-${e(name)}">${e(name)}</a>`;
  }
  if (Array.isArray(s.enum)) return s.enum.map((v) => e(JSON.stringify(v))).join(" | ");
  if ("const" in s) return e(JSON.stringify(s.const));
  if (s.type === "array") return `${typeName(s.items as Schema)}[]`;
  if (s.type === "object") return "object";
  return e(String(s.type ?? "any"));
}

function fieldsTable(schema: Schema): string {
  const props = (schema.properties ?? {}) as Record<string, Schema>;
  const required = new Set((schema.required ?? []) as string[]);
  const rows = Object.entries(props).map(([name, p]) =>
    `<tr><td><code>${e(name)}</code>${required.has(name) ? "" : " <small>optional</small>"}</td>` +
    `<td>${typeName(p)}</td><td>${e(String(p.description ?? ""))}` +
    (p.type === "object" ? fieldsTable(p) : "") + `</td></tr>`
  ).join("");
  return `<table><tr><th>field</th><th>type</th><th></th></tr>${rows}</table>`;
}

function routeBlock(r: ApiRoute): string {
  const params = [...r.path.matchAll(/\{(\w+)\}/g)].map(([, n]) =>
    `<li><code>{${e(n)}}</code>: ${e(PATH_PARAMS[n]?.description ?? n)}</li>`
  );
  for (const [n, q] of Object.entries(r.query ?? {})) {
    params.push(`<li><code>?${e(n)}</code>: ${e(q.description)}</li>`);
  }
  return `<section class="api-route"><h3><span class="method">${r.method}</span> ` +
    `<code>/api/v1${e(r.path)}</code></h3><p>${e(r.summary)}${
      r.superOnly ? " <strong>Super admins only.</strong>" : ""
    }</p>` +
    (params.length ? `<ul>${params.join("")}</ul>` : "") +
    (r.body ? `<p>Body: <a href="#schema-${e(r.body)}">${e(r.body)}</a></p>` : "") +
    `<p>Answer: ${r.status ?? 200} ${
      r.produces
        ? `<code>${e(r.produces)}</code>`
        : r.response
        ? `<a href="#schema-${e(r.response)}">${e(r.response)}</a>`
        : "(no content)"
    }</p></section>`;
}

/** The whole page. */
export function apiDocsPage(routes: readonly ApiRoute[], schemas: Record<string, Schema>): string {
  const tags = [...new Set(routes.map((r) => r.tag))];
  const sections = tags.map((tag) =>
    `<h2 id="tag-${e(tag)}">${e(tag)}</h2>` +
    routes.filter((r) => r.tag === tag).map(routeBlock).join("")
  ).join("");
  const components = Object.entries(schemas).map(([name, s]) =>
    `<h3 id="schema-${e(name)}">${e(name)}</h3>${fieldsTable(s)}`
  ).join("");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>TinyIce API reference</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main class="api-docs"><h1>TinyIce API reference</h1>
<p>${e(SERVER_ID)}. The machine-readable document is
<a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI 3.1).</p>
<p>Authenticate with <code>Authorization: Bearer &lt;token&gt;</code> (make tokens in the
dashboard's Security section or with <code>POST /api/v1/tokens</code>), with a web user's Basic
credentials, or with the dashboard's session cookie plus the <code>X-CSRF-Token</code> header on
writes. A token acts as its owner; a read-only token may only read. Errors are
<code>{"error":{"code","message"}}</code> with the HTTP status.</p>
<pre>curl -H "Authorization: Bearer $TOKEN" http://localhost:8000/api/v1/mounts</pre>
<nav><ul>${tags.map((t) => `<li><a href="#tag-${e(t)}">${e(t)}</a></li>`).join("")}</ul></nav>
${sections}<h2>Schemas</h2>${components}</main></body></html>`;
}
