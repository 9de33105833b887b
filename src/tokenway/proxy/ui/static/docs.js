// /docs: the proxy's own OpenAPI document, drawn as a readable reference.
import { h } from "./dom.js";

const root = document.getElementById("docs");

function schemaText(schema, doc, depth = 0) {
  if (!schema) return "";
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    const target = doc.components?.schemas?.[name];
    return depth > 1 || !target ? name : schemaText(target, doc, depth + 1);
  }
  return JSON.stringify(schema, null, 2).slice(0, 4000);
}

function operation(path, method, op, doc) {
  const body = op.requestBody?.content?.["application/json"]?.schema;
  const params = op.parameters || [];
  return h("section", { class: "op card", id: `${method}-${path}` },
    h("h3", {}, h("span", { class: "method" }, method.toUpperCase()), " ", h("code", {}, path)),
    op.summary ? h("p", {}, op.summary) : null,
    op.description ? h("p", { class: "hint" }, op.description) : null,
    params.length ? h("details", {}, h("summary", {}, `Parameters (${params.length})`),
      h("ul", {}, params.map((p) => h("li", {}, h("code", {}, p.name), ` (${p.in}${p.required ? ", required" : ""})`, p.description ? `: ${p.description}` : "")))) : null,
    body ? h("details", {}, h("summary", {}, "Request body"), h("pre", {}, schemaText(body, doc))) : null,
    op.responses ? h("details", {}, h("summary", {}, "Responses"),
      h("ul", {}, Object.entries(op.responses).map(([code, r]) => h("li", {}, h("code", {}, code), " ", r.description || "")))) : null);
}

async function draw() {
  let doc;
  try {
    const response = await fetch("/openapi.json");
    doc = await response.json();
  } catch (err) {
    root.replaceChildren(h("p", { class: "error", role: "alert" }, "Could not load /openapi.json: " + err.message));
    return;
  }
  const sections = [];
  const toc = [];
  for (const [path, methods] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(methods)) {
      if (typeof op !== "object" || !op.responses) continue;
      toc.push(h("li", {}, h("a", { href: `#${method}-${path}` }, `${method.toUpperCase()} ${path}`)));
      sections.push(operation(path, method, op, doc));
    }
  }
  root.replaceChildren(
    h("p", {}, `${doc.info?.title || "API"} ${doc.info?.version || ""}: ${sections.length} operations.`),
    h("details", { open: true }, h("summary", {}, "Contents"), h("ul", { class: "models" }, toc)),
    ...sections);
}

draw();
