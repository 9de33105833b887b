// Keys: search and pages; create (secret shown once); a key's page with its usage,
// edits, block/unblock, regenerate and delete.
import { get, post } from "./api.js";
import { barChart } from "./chart.js";
import { add, copy, count, field, h, money, table, toast, when } from "./dom.js";
import { LIMITS, confirmDialog, inputs, secretBox, values } from "./forms.js";

const state = { search: "", page: 1, secret: null };

export async function render(view, param) {
  if (param) return renderKey(view, param);
  const data = await get("/keys", { search: state.search, page: state.page, size: 20 });
  const search = h("input", { type: "search", id: "key-search", value: state.search, placeholder: "alias, user, team…" });
  const searchForm = h("form", { class: "toolbar", role: "search" }, field("Search keys", search), h("button", { type: "submit" }, "Search"));
  searchForm.addEventListener("submit", (e) => { e.preventDefault(); state.search = search.value.trim(); state.page = 1; reload(); });
  const secret = state.secret;
  state.secret = null;
  add(view, 
    h("h1", {}, "Keys"),
    secret ? secretBox(`Key “${secret.alias}” created`, secret.key, copy) : null,
    createForm(),
    searchForm,
    table([
      { label: "Alias", cell: (k) => k.key_alias || "–" },
      { label: "Key", cell: (k) => h("code", {}, k.key_name) },
      { label: "Team", cls: "wide", cell: (k) => k.team_id || "–" },
      { label: "Spend", cls: "num", cell: (k) => money(k.spend) },
      { label: "Budget", cls: "num wide", cell: (k) => money(k.max_budget) },
      { label: "Expires", cls: "wide", cell: (k) => when(k.expires) },
      { label: "State", cell: (k) => badge(k) },
    ], data.keys, {
      empty: state.search ? "No key matches this search." : "No keys yet: create one above.",
      onRow: (k) => { location.hash = "#/keys/" + encodeURIComponent(k.token); },
    }),
    pager(data),
  );
}

function badge(k) {
  if (k.blocked) return h("span", { class: "badge bad" }, "blocked");
  if (k.expires && new Date(k.expires) < new Date()) return h("span", { class: "badge warn" }, "expired");
  return h("span", { class: "badge ok" }, "active");
}

function pager(data) {
  const go = (page) => { state.page = page; reload(); };
  return h("div", { class: "pager" },
    h("button", { type: "button", disabled: data.page <= 1, onclick: () => go(data.page - 1) }, "Previous"),
    `Page ${data.page} of ${data.pages} · ${count(data.total)} keys`,
    h("button", { type: "button", disabled: data.page >= data.pages, onclick: () => go(data.page + 1) }, "Next"));
}

function createForm() {
  const form = h("form", { class: "edit card", "aria-label": "Create a key" },
    inputs([["key_alias", "Alias", "text", "e.g. billing-service"], ["models", "Models (comma-separated)", "text", "all models"], ["team_id", "Team id", "text", ""], ["duration", "Expires after", "text", "e.g. 30d; never if empty"], ...LIMITS]),
    h("div", { class: "field" }, h("button", { type: "submit", class: "primary" }, "Create key")));
  const details = h("details", {}, h("summary", {}, "Create a key"), form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const created = await post("/key/generate", values(form));
      state.secret = { key: created.key, alias: created.key_alias || created.key_name };
      state.search = "";
      state.page = 1;
      reload();
    } catch (err) {
      showError(form, err);
    }
  });
  return details;
}

async function renderKey(view, hash) {
  const data = await get("/key/usage", { key: hash });
  const key = data.key;
  const secret = state.secret;
  state.secret = null;
  const act = async (path, done) => {
    try {
      const answer = await post(path, { key: key.token });
      done(answer);
    } catch (err) {
      toast(err.message);
    }
  };
  const edit = h("form", { class: "edit", "aria-label": "Edit the key" },
    inputs([["key_alias", "Alias", "text", ""], ["models", "Models (comma-separated; empty: all)", "text", ""], ["duration", "New expiry from now", "text", "e.g. 30d"], ...LIMITS], key),
    h("div", { class: "field" }, h("button", { type: "submit", class: "primary" }, "Save changes")));
  edit.querySelector('input[name="duration"]').dataset.clearable = "no";
  edit.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await post("/key/update", { key: key.token, ...values(edit, { clearing: true }) });
      toast("Saved");
      reload();
    } catch (err) {
      showError(edit, err);
    }
  });
  const width = 86400;
  add(view, 
    h("p", {}, h("a", { href: "#/keys" }, "← All keys")),
    h("h1", {}, `Key ${key.key_alias || key.key_name}`),
    secret ? secretBox("New secret", secret.key, copy) : null,
    h("div", { class: "actions card" },
      badge(key),
      key.blocked
        ? h("button", { type: "button", id: "unblock", onclick: () => act("/key/unblock", () => { toast("Unblocked"); reload(); }) }, "Unblock")
        : h("button", { type: "button", id: "block", class: "danger", onclick: () => act("/key/block", () => { toast("Blocked"); reload(); }) }, "Block"),
      h("button", { type: "button", id: "regenerate", onclick: async () => {
        if (!(await confirmDialog("Regenerate this key? The old secret stops working at once.", "Regenerate"))) return;
        act("/key/regenerate", (answer) => { state.secret = { key: answer.key }; location.hash = "#/keys/" + encodeURIComponent(answer.token); });
      } }, "Regenerate"),
      h("button", { type: "button", id: "delete", class: "danger", onclick: async () => {
        if (!(await confirmDialog(`Delete key ${key.key_alias || key.key_name}? Clients using it are refused from now on.`, "Delete"))) return;
        try {
          await post("/key/delete", { keys: [key.token] });
          toast("Deleted");
          location.hash = "#/keys";
        } catch (err) { toast(err.message); }
      } }, "Delete")),
    h("div", { class: "stats" },
      h("div", { class: "stat" }, h("div", { class: "label" }, "Spend (total)"), h("div", { class: "value", id: "key-spend" }, money(key.spend))),
      h("div", { class: "stat" }, h("div", { class: "label" }, "Requests (30 days)"), h("div", { class: "value", id: "key-requests" }, count(data.totals.requests))),
      h("div", { class: "stat" }, h("div", { class: "label" }, "Tokens (30 days)"), h("div", { class: "value" }, count(data.totals.tokens))),
      h("div", { class: "stat" }, h("div", { class: "label" }, "Budget"), h("div", { class: "value" }, money(key.max_budget)))),
    h("div", { class: "grid" },
      h("section", { class: "card" }, h("h2", {}, "Spend per day"), barChart({ title: "Spend per day", series: data.series, start: data.start, end: data.end, width, value: (p) => p.cost, format: money })),
      h("section", { class: "card" }, h("h2", {}, "Requests per day"), barChart({ title: "Requests per day", series: data.series, start: data.start, end: data.end, width, value: (p) => p.requests, bad: (p) => p.errors, format: count }))),
    h("section", { class: "card" }, h("h2", {}, "Details"), h("dl", { class: "details" },
      ...[["Hash", key.token], ["Display name", key.key_name], ["Team", key.team_id], ["User", key.user_id], ["Models", (key.models || []).join(", ") || "all"], ["Budget period", key.budget_duration], ["Expires", when(key.expires)], ["Created", when(key.created_at)]]
        .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "–")]))),
    h("section", { class: "card" }, h("h2", {}, "Edit"), edit),
    h("section", { class: "card" }, h("h2", {}, "Recent requests"), table([
      { label: "Time", cell: (r) => h("a", { href: "#/logs/" + encodeURIComponent(r.request_id) }, when(r.startTime)) },
      { label: "Model", cell: (r) => r.model },
      { label: "Status", cell: (r) => h("span", { class: "badge " + (r.status === "success" ? "ok" : "bad") }, r.http_status) },
      { label: "Tokens", cls: "num", cell: (r) => count(r.total_tokens) },
      { label: "Spend", cls: "num", cell: (r) => money(r.spend) },
    ], data.recent, { empty: "No requests with this key yet." })),
  );
}

function showError(form, err) {
  form.querySelector(".error")?.remove();
  form.prepend(h("p", { class: "error", role: "alert" }, err.message));
}

function reload() {
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}
