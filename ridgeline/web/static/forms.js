// Forms that show the API's own error messages: next to the field at fault (from
// `details.fields[].loc`), or in the form's alert region when no field is named; the console's
// form parts (labelled fields, checkboxes, a form card, a two-click Delete) and how a form is sent.

import { el } from "./dom.js";

export function clearErrors(form) {
  for (const node of form.querySelectorAll("[data-field-error]")) node.remove();
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    const described = (input.getAttribute("aria-describedby") || "")
      .split(" ")
      .filter((id) => id && !id.endsWith("-error"));
    if (described.length) input.setAttribute("aria-describedby", described.join(" "));
    else input.removeAttribute("aria-describedby");
  }
  const region = form.querySelector("[data-form-error]");
  if (region) region.textContent = "";
}

function fieldFor(form, loc) {
  // The deepest name the form has: ["body", "config", "api_key"] -> "config.api_key", "api_key".
  const parts = (loc || []).filter((part) => part !== "body" && part !== "query");
  for (let start = 0; start < parts.length; start += 1) {
    const name = parts.slice(start).join(".");
    const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (input) return input;
  }
  return null;
}

export function showError(form, error) {
  clearErrors(form);
  const unplaced = [];
  let fields = error && Array.isArray(error.fields) ? error.fields : [];
  // A conflict names its one field in `details.field` (docs/errors.md): shown beside it too.
  const named = error && error.details ? error.details.field : null;
  if (!fields.length && typeof named === "string") {
    fields = [{ loc: ["body", named], message: error.message }];
  }
  for (const field of fields) {
    const input = fieldFor(form, field.loc);
    if (!input) {
      unplaced.push(field.message);
      continue;
    }
    const id = `${input.id || input.name}-error`;
    const message = document.createElement("p");
    message.className = "field-error";
    message.id = id;
    message.dataset.fieldError = "";
    message.textContent = field.message;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute(
      "aria-describedby",
      [input.getAttribute("aria-describedby"), id].filter(Boolean).join(" "),
    );
    input.insertAdjacentElement("afterend", message);
  }
  const region = form.querySelector("[data-form-error]");
  if (region) {
    const summary = fields.length && !unplaced.length ? "Check the fields marked below." : "";
    region.textContent = [error.message, ...unplaced, summary].filter(Boolean).join(" ");
  }
  const first = form.querySelector("[aria-invalid='true']");
  if (first) first.focus();
}

// The form's named values as an object ("a.b" names nest; empty strings left out unless
// `keepEmpty`; number inputs give numbers, checkboxes booleans).
export function formValues(form, { keepEmpty = false } = {}) {
  const values = {};
  for (const input of form.elements) {
    if (!input.name || input.disabled) continue;
    let value;
    if (input.type === "checkbox") value = input.checked;
    else if (input.type === "number") value = input.value === "" ? "" : Number(input.value);
    else value = input.value;
    if (value === "" && !keepEmpty) continue;
    const path = input.name.split(".");
    let target = values;
    for (const part of path.slice(0, -1)) target = target[part] ??= {};
    target[path[path.length - 1]] = value;
  }
  return values;
}

// A labelled row for `input` (given `id`), with an optional hint it is described by.
export function field(id, text, input, hint) {
  input.id = id;
  const row = el("div", { class: "row" }, el("label", { for: id, text }), input);
  if (hint) {
    const hintId = `${id}-hint`;
    row.append(el("p", { class: "muted small", id: hintId, text: hint }));
    input.setAttribute("aria-describedby", hintId);
  }
  return row;
}

// A checkbox (given `id`) inside its label, the label's text after it.
export function checkboxField(id, text, input) {
  input.id = id;
  return el("div", { class: "row" }, el("label", { for: id }, input, ` ${text}`));
}

// A form card (`id`) with its h3 title and the region for errors no field is named in;
// `form.result` is a status line the caller places (see succeeded()).
export function formCard(id, title) {
  const form = el(
    "form",
    { id, class: "card console-form", novalidate: true, "aria-labelledby": `${id}-title` },
    el("h3", { id: `${id}-title`, text: title }),
    el("p", { class: "form-error", "data-form-error": "", role: "alert" }),
  );
  form.result = el("p", { class: "step-result", role: "status" });
  return form;
}

// Says in `form.result` that the form did its work.
export function succeeded(form, text) {
  form.result.textContent = text;
  form.result.className = "step-result ok";
}

// Sends a form: its errors cleared, its submit button disabled until `send()` is done, and a
// failure shown on the form (beside the field at fault), or given to `onError` instead.
export async function submitting(form, send, { onError } = {}) {
  clearErrors(form);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await send();
  } catch (error) {
    if (onError) onError(error);
    else showError(form, error);
  } finally {
    button.disabled = false;
  }
}

// A Date as a datetime-local input's value, in the reader's zone.
export function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

// A Delete (or `verb`) button that acts on its second click (no dialog to miss): the first
// turns it into "Confirm delete" (its accessible name too, so a screen reader hears the change);
// `remove()` does the work, and a failure goes to `fail` and re-enables it.
export function deleteButton(action, name, fail, remove, { verb = "Delete" } = {}) {
  const button = el("button", {
    type: "button",
    class: "danger",
    "data-action": action,
    text: verb,
    "aria-label": `${verb} ${name}`,
  });
  button.addEventListener("click", async () => {
    if (button.dataset.armed === undefined) {
      button.dataset.armed = "";
      button.textContent = `Confirm ${verb.toLowerCase()}`;
      button.setAttribute("aria-label", `Confirm ${verb.toLowerCase()} ${name}`);
      return;
    }
    button.disabled = true;
    try {
      await remove();
    } catch (error) {
      fail(error);
      button.disabled = false;
    }
  });
  return button;
}
