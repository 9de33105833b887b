// Building DOM nodes without innerHTML: every value a server or a user wrote is text.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function money(value) {
  if (value === null || value === undefined) return "–";
  const abs = Math.abs(value);
  const digits = abs === 0 ? 2 : abs < 0.01 ? 6 : abs < 1 ? 4 : 2;
  return "$" + value.toFixed(digits);
}

export function count(value) {
  return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US");
}

export function percent(value) {
  return (100 * (value || 0)).toFixed(1) + "%";
}

export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return isNaN(date) ? String(iso) : date.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function table(columns, rows, { empty = "Nothing here yet.", onRow = null } = {}) {
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.cls || null, scope: "col" }, c.label)));
  const body = rows.map((row) => {
    const attrs = onRow ? { class: "clickable", tabindex: "0" } : {};
    const tr = h("tr", attrs, columns.map((c) => h("td", { class: c.cls || null }, c.cell(row))));
    if (onRow) {
      tr.addEventListener("click", () => onRow(row));
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter") onRow(row); });
    }
    return tr;
  });
  if (!rows.length) {
    body.push(h("tr", {}, h("td", { class: "empty", colspan: String(columns.length) }, empty)));
  }
  return h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), h("tbody", {}, body)));
}

export function field(label, input) {
  const id = input.id || "f-" + Math.random().toString(36).slice(2, 9);
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

export function toast(text) {
  const el = document.getElementById("toast");
  if (!el) return;
  el.textContent = text;
  setTimeout(() => { if (el.textContent === text) el.textContent = ""; }, 3000);
}

export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied");
  } catch {
    toast("Copy failed: select the text and copy it by hand");
  }
}

// Append children to a node, skipping null/false (a section shown only sometimes).
export function add(el, ...children) {
  return append(el, children);
}
