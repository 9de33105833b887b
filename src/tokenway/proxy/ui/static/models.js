// Models: each alias, its deployments and their live state; a test call.
import { get, post } from "./api.js";
import { add, count, h, percent, table, when } from "./dom.js";

export async function render(view) {
  const data = await get("/models");
  add(view, h("h1", {}, "Models"));
  if (!data.models.length) add(view, h("p", { class: "empty card" }, "No models are configured (model_list in the config)."));
  for (const group of data.models) {
    const result = h("p", { class: "hint", role: "status", "aria-live": "polite" });
    const button = h("button", { type: "button", class: "primary" }, "Test call");
    button.addEventListener("click", async () => {
      button.disabled = true;
      result.textContent = "Calling…";
      try {
        const r = await post("/models/test", { model: group.alias });
        result.textContent = r.status === 200
          ? `200 in ${r.latency_ms} ms: “${r.content}”`
          : `${r.status} in ${r.latency_ms} ms: ${r.error}`;
      } catch (err) {
        result.textContent = err.message;
      } finally {
        button.disabled = false;
      }
    });
    const hour = group.last_hour;
    add(view, h("section", { class: "card" },
      h("div", { class: "toolbar" }, h("h2", {}, group.alias), button),
      h("p", { class: "hint" }, hour
        ? `Last hour: ${count(hour.requests)} requests, ${percent(hour.error_rate)} errors`
        : "No requests in the last hour."),
      table([
        { label: "Deployment", cell: (d) => h("code", {}, d.id) },
        { label: "Model", cls: "wide", cell: (d) => d.model },
        { label: "API base", cls: "wide", cell: (d) => d.api_base },
        { label: "State", cell: (d) => h("span", { class: "badge " + (d.cooldown_until ? "warn" : "ok") }, d.cooldown_until ? `cooling down until ${when(new Date(d.cooldown_until * 1000).toISOString())}` : "available") },
        { label: "Latency", cls: "num", cell: (d) => d.latency_ms ? `${d.latency_ms} ms` : "–" },
        { label: "In flight", cls: "num", cell: (d) => count(d.in_flight) },
        { label: "Recent failures", cls: "num", cell: (d) => count(d.recent_failures) },
      ], group.deployments),
      result));
  }
}
