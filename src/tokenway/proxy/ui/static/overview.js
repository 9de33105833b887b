// Overview: totals, requests/tokens/spend over time, rankings and budget burn.
import { get } from "./api.js";
import { barChart, meter } from "./chart.js";
import { add, count, h, money, percent, table, when } from "./dom.js";

const RANGES = [["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]];
let chosen = "24h";

export async function render(view, _param, current) {
  const data = await get("/overview", { range: chosen });
  const select = h("select", { id: "range", "aria-label": "Time range" },
    RANGES.map(([v, label]) => h("option", { value: v, selected: v === chosen }, label)));
  select.addEventListener("change", () => {
    chosen = select.value;
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  });
  const width = data.bucket === "hour" ? 3600 : 86400;
  const t = data.totals;
  const chart = (title, value, format, bad) =>
    h("section", { class: "card" }, h("h2", {}, title),
      barChart({ title, series: data.series, start: data.start, end: data.end, width, value, bad, format }));
  add(view, 
    h("div", { class: "toolbar" }, h("h1", {}, "Overview"),
      h("span", { class: "hint" }, `As of ${when(new Date(data.as_of * 1000).toISOString())} (recomputed every ${data.refresh_seconds} s)`),
      select),
    h("div", { class: "stats" },
      stat("Requests", count(t.requests)),
      stat("Tokens", count(t.tokens)),
      stat("Spend", money(t.cost)),
      stat("Error rate", percent(t.error_rate))),
    t.requests ? null : h("p", { class: "empty card" }, "No requests in this period yet. Send one (see the home page's snippets) and it shows here."),
    h("div", { class: "grid" },
      chart(`Requests per ${data.bucket} (errors in red)`, (p) => p.requests, count, (p) => p.errors),
      chart(`Tokens per ${data.bucket}`, (p) => p.tokens, count),
      chart(`Spend per ${data.bucket}`, (p) => p.cost, money)),
    h("div", { class: "grid" },
      ranking("By model", data.by_model, "Model", (r) => r.group),
      ranking("Top spenders (keys)", data.by_key, "Key", (r) => r.name || (r.group ? short(r.group) : "no virtual key")),
      ranking("By team", data.by_team, "Team", (r) => r.group || "no team")),
    h("section", { class: "card" }, h("h2", {}, "Budget burn"),
      table([
        { label: "Budget of", cell: (b) => `${b.kind} ${b.name}` },
        { label: "Spend", cls: "num", cell: (b) => money(b.spend) },
        { label: "Budget", cls: "num", cell: (b) => money(b.max_budget) },
        { label: "Used", cell: (b) => h("div", {}, meter(b.used), percent(b.used)) },
      ], data.budgets, { empty: "No key or team has a budget." })),
  );
}

function stat(label, value) {
  return h("div", { class: "stat" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
}

function short(hash) {
  return hash ? hash.slice(0, 10) + "…" : "–";
}

function ranking(title, rows, label, name) {
  return h("section", { class: "card" }, h("h2", {}, title), table([
    { label, cell: name },
    { label: "Requests", cls: "num", cell: (r) => count(r.requests) },
    { label: "Spend", cls: "num", cell: (r) => money(r.cost) },
    { label: "Errors", cls: "num", cell: (r) => percent(r.error_rate) },
  ], rows, { empty: "No requests in this period." }));
}
