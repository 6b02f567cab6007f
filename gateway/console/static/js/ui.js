// Shared pieces of every page: headings, error boxes with the request id, tables, pagers, form fields.
import { ApiError } from "./api.js";
import { append, clear, h } from "./dom.js";

export function heading(title, ...actions) {
  return h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, title), h("div", { class: "actions" }, actions));
}

export function errorBox(error) {
  const box = h("div", { class: "error", role: "alert" });
  if (error instanceof ApiError) {
    box.append(h("strong", {}, error.message), " ", h("code", {}, error.code));
    if (error.requestId) box.append(h("div", { class: "request-id" }, "Request id: ", h("code", {}, error.requestId)));
  } else {
    box.append(h("strong", {}, String(error && error.message ? error.message : error)));
  }
  return box;
}

// Replaces a region's content; null children (a pager with one page, an absent part) are skipped.
export function fill(region, ...children) {
  return append(clear(region), children);
}

// A region whose content is replaced by an error or by what a load produced.
export function showError(region, error) {
  clear(region).append(errorBox(error));
}

export function time(value) {
  if (!value) return "—";
  const date = new Date(value);
  return h("time", { datetime: value, title: value }, date.toLocaleString());
}

export function number(value, digits = 2) {
  if (value === undefined || value === null || value === "") return "—";
  return typeof value === "number" ? String(+value.toFixed(digits)) : String(value);
}

export function bytes(value) {
  if (!Number.isFinite(value)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let index = 0;
  while (value >= 1024 && index < units.length - 1) {
    value /= 1024;
    index++;
  }
  return `${+value.toFixed(1)} ${units[index]}`;
}

export function badge(value) {
  const text = value || "unknown";
  return h("span", { class: `badge badge-${text.replace(/[^a-z_-]/gi, "")}` }, text.replace(/_/g, " "));
}

// columns: [{label, cell: row => node|string, class?}]
export function table(caption, columns, rows, empty = "Nothing to show.") {
  if (!rows.length) return h("p", { class: "muted empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label)))),
      h(
        "tbody",
        {},
        rows.map((row) => h("tr", {}, columns.map((c) => h("td", { class: c.class, "data-label": c.label }, c.cell(row))))),
      ),
    ),
  );
}

export function pager(pagination, goTo) {
  if (!pagination || !pagination.totalPages) return null;
  const { page, totalPages, totalItems } = pagination;
  return h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", class: "secondary", disabled: !pagination.hasPrevious, onclick: () => goTo(page - 1) }, "← Previous"),
    h("span", { role: "status" }, `Page ${page} of ${totalPages} · ${totalItems} in all`),
    h("button", { type: "button", class: "secondary", disabled: !pagination.hasNext, onclick: () => goTo(page + 1) }, "Next →"),
  );
}

let fieldSerial = 0;

// A labelled control with a slot for the API's message about it (`name` is the API's field path).
export function field(label, control, name, hint = null) {
  const id = control.id || `f${++fieldSerial}`;
  control.id = id;
  if (name && !control.name) control.name = name;
  const message = h("p", { class: "field-error", id: `${id}-error`, "data-error-for": name || "" });
  control.setAttribute("aria-describedby", `${id}-error`);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? h("p", { class: "hint" }, hint) : null,
    message,
  );
}

export function select(options, value, attributes = {}) {
  return h(
    "select",
    attributes,
    options.map((option) => {
      const [optionValue, text] = Array.isArray(option) ? option : [option, option || "any"];
      return h("option", { value: optionValue, selected: optionValue === value }, text);
    }),
  );
}

// Puts each {field, description} of a VALIDATION_ERROR next to its control; returns the ones with no control.
export function showFieldErrors(form, error) {
  for (const slot of form.querySelectorAll(".field-error")) slot.textContent = "";
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  const unplaced = [];
  for (const { field: name, description } of error instanceof ApiError ? error.fields : []) {
    const slot = closestSlot(form, name);
    if (!slot) {
      unplaced.push(`${name}: ${description}`);
      continue;
    }
    slot.textContent = slot.textContent ? `${slot.textContent}; ${description}` : description;
    const control = slot.parentElement.querySelector("input, select, textarea");
    if (control) control.setAttribute("aria-invalid", "true");
  }
  return unplaced;
}

function closestSlot(form, name) {
  // "conditions[0].threshold" or "condition.threshold" both land on the threshold field.
  const candidates = [name, name.replace(/^conditions\[\d+\]/, "condition"), name.replace(/\[\d+\]$/, "")];
  for (const candidate of candidates) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(candidate)}"]`);
    if (slot) return slot;
  }
  return null;
}

export function busy(button, promise) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  return promise.finally(() => {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  });
}
