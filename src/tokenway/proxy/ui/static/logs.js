// Logs: spend rows, newest first, with filters; a row's details (never what was said).
import { get } from "./api.js";
import { add, count, field, h, money, table, when } from "./dom.js";

const filters = { key: "", team_id: "", model: "", status: "", start_date: "", end_date: "" };
let page = 1;

export async function render(view, param) {
  if (param) return renderRow(view, param);
  const data = await get("/logs", { ...filters, page, size: 50 });
  const form = h("form", { class: "toolbar", "aria-label": "Filters" },
    field("Key (hash or secret)", h("input", { name: "key", value: filters.key })),
    field("Team", h("input", { name: "team_id", value: filters.team_id })),
    field("Model", h("input", { name: "model", value: filters.model })),
    field("Status", h("select", { name: "status" },
      [["", "any"], ["success", "success"], ["failure", "failure"]].map(([v, l]) => h("option", { value: v, selected: filters.status === v }, l)))),
    field("From (UTC)", h("input", { name: "start_date", type: "date", value: filters.start_date })),
    field("To (UTC)", h("input", { name: "end_date", type: "date", value: filters.end_date })),
    h("button", { type: "submit", class: "primary" }, "Filter"),
    h("button", { type: "reset" }, "Clear"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    for (const name of Object.keys(filters)) filters[name] = form.elements[name].value.trim();
    page = 1;
    reload();
  });
  form.addEventListener("reset", (e) => {
    e.preventDefault();
    for (const name of Object.keys(filters)) filters[name] = "";
    page = 1;
    reload();
  });
  add(view, 
    h("h1", {}, "Logs"),
    form,
    table([
      { label: "Time", cell: (r) => when(r.startTime) },
      { label: "Model", cell: (r) => r.model },
      { label: "Key", cls: "wide", cell: (r) => h("code", {}, r.api_key ? r.api_key.slice(0, 10) + "…" : "master") },
      { label: "Team", cls: "wide", cell: (r) => r.team_id || "–" },
      { label: "Status", cell: (r) => status(r) },
      { label: "Tokens", cls: "num", cell: (r) => count(r.total_tokens) },
      { label: "Spend", cls: "num", cell: (r) => money(r.spend) },
      { label: "Latency", cls: "num wide", cell: (r) => Math.round(r.latency_ms) + " ms" },
    ], data.rows, {
      empty: Object.values(filters).some(Boolean) ? "No request matches these filters." : "No requests logged yet.",
      onRow: (r) => { location.hash = "#/logs/" + encodeURIComponent(r.request_id); },
    }),
    h("div", { class: "pager" },
      h("button", { type: "button", disabled: page <= 1, onclick: () => { page -= 1; reload(); } }, "Newer"),
      `Page ${data.page}`,
      h("button", { type: "button", disabled: !data.more, onclick: () => { page += 1; reload(); } }, "Older")),
  );
}

function status(r) {
  const ok = r.status === "success";
  return h("span", { class: "badge " + (ok ? "ok" : "bad") }, ok ? String(r.http_status) : `${r.http_status} ${r.error_code || ""}`.trim());
}

async function renderRow(view, requestId) {
  const data = await get("/logs", { request_id: requestId, size: 1 });
  const row = data.rows[0];
  add(view, h("p", {}, h("a", { href: "#/logs" }, "← All logs")), h("h1", {}, "Request"));
  if (!row) {
    add(view, h("p", { class: "empty card" }, "No request has this id (its row may not be written yet: rows are stored within a few seconds)."));
    return;
  }
  const items = [
    ["Request id", row.request_id], ["Time", when(row.startTime)], ["Model", row.model], ["Deployment", row.model_id],
    ["Key (hash)", row.api_key || "master key"], ["Team", row.team_id], ["User", row.user],
    ["Status", status(row)], ["Prompt tokens", count(row.prompt_tokens)], ["Completion tokens", count(row.completion_tokens)],
    ["Tokens estimated", row.usage_estimated ? "yes (the upstream sent no usage)" : "no"],
    ["Spend", money(row.spend)], ["Latency", `${row.latency_ms.toFixed(1)} ms`], ["Stream", row.stream ? "yes" : "no"],
  ];
  add(view, h("section", { class: "card" },
    h("dl", { class: "details", id: "log-details" }, items.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "–")]))),
    row.api_key ? h("p", {}, h("a", { href: "#/keys/" + encodeURIComponent(row.api_key) }, "This key's page")) : null);
}

function reload() {
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}
