// Teams and users: lists, creation, a team's members and keys, deletion.
import { get, post } from "./api.js";
import { add, count, field, h, money, table, toast } from "./dom.js";
import { LIMITS, confirmDialog, inputs, values } from "./forms.js";

export async function render(view, param) {
  if (param) return renderTeam(view, param);
  const [teams, users] = await Promise.all([get("/team/list"), get("/user/list", { page_size: 100 })]);
  const teamForm = h("form", { class: "edit", "aria-label": "Create a team" },
    inputs([["team_alias", "Alias", "text", "e.g. research"], ["models", "Models (comma-separated)", "text", "all models"], ...LIMITS]),
    h("div", { class: "field" }, h("button", { type: "submit", class: "primary" }, "Create team")));
  teamForm.addEventListener("submit", (e) => submit(e, teamForm, "/team/new", "Team created"));
  const userForm = h("form", { class: "edit", "aria-label": "Create a user" },
    inputs([["user_id", "User id", "text", "e.g. ana"], ["user_email", "Email", "email", ""], ["team_id", "Team id", "text", ""], ...LIMITS]),
    h("div", { class: "field" }, h("button", { type: "submit", class: "primary" }, "Create user")));
  userForm.addEventListener("submit", (e) => submit(e, userForm, "/user/new", "User created"));
  add(view, 
    h("h1", {}, "Teams and users"),
    h("section", { class: "card" }, h("h2", {}, "Teams"),
      h("details", {}, h("summary", {}, "Create a team"), teamForm),
      table([
        { label: "Team", cell: (t) => t.team_alias || t.team_id },
        { label: "Id", cls: "wide", cell: (t) => h("code", {}, t.team_id) },
        { label: "Members", cls: "num", cell: (t) => count(t.members_with_roles.length) },
        { label: "Spend", cls: "num", cell: (t) => money(t.spend) },
        { label: "Budget", cls: "num", cell: (t) => money(t.max_budget) },
        { label: "State", cell: (t) => h("span", { class: "badge " + (t.blocked ? "bad" : "ok") }, t.blocked ? "blocked" : "active") },
      ], teams, { empty: "No teams yet.", onRow: (t) => { location.hash = "#/teams/" + encodeURIComponent(t.team_id); } })),
    h("section", { class: "card" }, h("h2", {}, "Users"),
      h("details", {}, h("summary", {}, "Create a user"), userForm),
      table([
        { label: "User", cell: (u) => u.user_id },
        { label: "Email", cls: "wide", cell: (u) => u.user_email || "–" },
        { label: "Team", cell: (u) => u.team_id || "–" },
        { label: "Spend", cls: "num", cell: (u) => money(u.spend) },
        { label: "Budget", cls: "num", cell: (u) => money(u.max_budget) },
      ], users.users, { empty: "No users yet." }),
      users.total > users.users.length ? h("p", { class: "hint" }, `Showing ${users.users.length} of ${count(users.total)} users.`) : null),
  );
}

async function submit(event, form, path, done) {
  event.preventDefault();
  try {
    await post(path, values(form));
    toast(done);
    reload();
  } catch (err) {
    form.querySelector(".error")?.remove();
    form.prepend(h("p", { class: "error", role: "alert" }, err.message));
  }
}

async function renderTeam(view, teamId) {
  const data = await get("/team/info", { team_id: teamId });
  const team = data.team_info;
  const member = h("form", { class: "toolbar", "aria-label": "Add a member" },
    field("User id", h("input", { name: "user_id", required: true })),
    field("Role", h("select", { name: "role" }, h("option", { value: "user" }, "user"), h("option", { value: "admin" }, "admin"))),
    h("button", { type: "submit" }, "Add member"));
  member.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await post("/team/member_add", { team_id: teamId, member: { user_id: member.elements.user_id.value.trim(), role: member.elements.role.value } });
      toast("Member added");
      reload();
    } catch (err) { toast(err.message); }
  });
  add(view, 
    h("p", {}, h("a", { href: "#/teams" }, "← Teams and users")),
    h("h1", {}, `Team ${team.team_alias || team.team_id}`),
    h("div", { class: "stats" },
      h("div", { class: "stat" }, h("div", { class: "label" }, "Spend"), h("div", { class: "value" }, money(team.spend))),
      h("div", { class: "stat" }, h("div", { class: "label" }, "Budget"), h("div", { class: "value" }, money(team.max_budget))),
      h("div", { class: "stat" }, h("div", { class: "label" }, "Keys"), h("div", { class: "value" }, count(data.keys.length)))),
    h("section", { class: "card" }, h("h2", {}, "Members"), member, table([
      { label: "User", cell: (m) => m.user_id },
      { label: "Role", cell: (m) => m.role },
      { label: "", cell: (m) => h("button", { type: "button", class: "danger", onclick: async () => {
        try { await post("/team/member_delete", { team_id: teamId, user_id: m.user_id }); reload(); } catch (err) { toast(err.message); }
      } }, "Remove") },
    ], team.members_with_roles, { empty: "No members yet." })),
    h("section", { class: "card" }, h("h2", {}, "Keys"), table([
      { label: "Alias", cell: (k) => h("a", { href: "#/keys/" + encodeURIComponent(k.token) }, k.key_alias || k.key_name) },
      { label: "Spend", cls: "num", cell: (k) => money(k.spend) },
      { label: "State", cell: (k) => k.blocked ? "blocked" : "active" },
    ], data.keys, { empty: "This team has no keys." })),
    h("section", { class: "card" }, h("button", { type: "button", class: "danger", onclick: async () => {
      if (!(await confirmDialog(`Delete team ${team.team_alias || team.team_id} and its ${data.keys.length} key(s)?`, "Delete"))) return;
      try { await post("/team/delete", { team_ids: [teamId] }); location.hash = "#/teams"; } catch (err) { toast(err.message); }
    } }, "Delete team")),
  );
}

function reload() {
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}
