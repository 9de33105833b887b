// The admin UI's router: #/<page>[/<id>] → that page's module draws into <main>.
import { clear, h } from "./dom.js";

const PAGES = {
  overview: () => import("./overview.js"),
  keys: () => import("./keys.js"),
  logs: () => import("./logs.js"),
  models: () => import("./models.js"),
  teams: () => import("./teams.js"),
};

let shown = 0; // the newest navigation; a slower, older page never draws over it

async function route() {
  const [name, ...rest] = (location.hash.replace(/^#\/?/, "") || "overview").split("/");
  const page = PAGES[name] ? name : "overview";
  const param = rest.length ? decodeURIComponent(rest.join("/")) : null;
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const main = document.getElementById("main");
  const ticket = ++shown;
  const module = await PAGES[page]();
  if (ticket !== shown) return;
  const view = h("div", { class: "view" });
  try {
    await module.render(view, param, () => ticket === shown);
  } catch (err) {
    view.append(h("p", { class: "error", role: "alert" }, err.message || String(err)));
  }
  if (ticket !== shown) return;
  clear(main).append(view);
  document.title = `${page[0].toUpperCase()}${page.slice(1)} · tokenway admin`;
}

window.addEventListener("hashchange", route);
route();
