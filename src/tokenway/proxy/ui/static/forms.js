// The limit fields keys, teams and users share, read into a management request's body.
import { field, h } from "./dom.js";

export const LIMITS = [
  ["max_budget", "Max budget ($)", "number", "e.g. 10"],
  ["budget_duration", "Budget period", "text", "e.g. 30d"],
  ["rpm_limit", "Requests / minute", "number", ""],
  ["tpm_limit", "Tokens / minute", "number", ""],
  ["max_parallel_requests", "Parallel requests", "number", ""],
];

export function inputs(specs, record = {}) {
  return specs.map(([name, label, type, placeholder]) => {
    let value = record[name];
    if (Array.isArray(value)) value = value.join(", ");
    const input = h("input", { name, type, placeholder, value: value ?? "", step: type === "number" ? "any" : null, min: type === "number" ? "0" : null });
    return field(label, input);
  });
}

// Only the fields given (an empty one means "no limit" when editing, is left out when creating).
export function values(form, { clearing = false } = {}) {
  const body = {};
  for (const input of form.querySelectorAll("input[name]")) {
    const raw = input.value.trim();
    if (input.name === "models") {
      if (raw || clearing) body.models = raw ? raw.split(",").map((m) => m.trim()).filter(Boolean) : [];
    } else if (raw === "") {
      if (clearing && input.dataset.clearable !== "no") body[input.name] = null;
    } else if (input.type === "number") {
      body[input.name] = Number(raw);
    } else {
      body[input.name] = raw;
    }
  }
  return body;
}

export function secretBox(title, secret, copyFn) {
  return h("div", { class: "secret", role: "alert" },
    h("h2", {}, title),
    h("p", {}, "Copy it now: it is shown only once and is stored only as a hash."),
    h("code", { id: "new-secret" }, secret), " ",
    h("button", { type: "button", onclick: () => copyFn(secret) }, "Copy"));
}

export function confirmDialog(message, action) {
  const dialog = h("dialog", { "aria-label": "Confirm" },
    h("p", {}, message),
    h("form", { method: "dialog", class: "actions" },
      h("button", { value: "cancel", autofocus: true }, "Cancel"),
      h("button", { value: "ok", class: "danger" }, action)));
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => { resolve(dialog.returnValue === "ok"); dialog.remove(); });
    dialog.showModal();
  });
}
