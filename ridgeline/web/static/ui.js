// What the console's views show alike: values in words, badges, times, money, facts and tables,
// the API's errors as a sentence, and every page of a list endpoint.

import { ApiError } from "./api.js";
import { el } from "./dom.js";

// "store_manager" -> "store manager"; null and undefined -> "".
export function words(value) {
  return value === null || value === undefined ? "" : String(value).replaceAll("_", " ");
}

// A state as a badge (web.css colours it by its class); the text defaults to the state in words.
export function badge(state, text) {
  return el("span", { class: `badge ${state}`, text: text || words(state) });
}

// A badge for a state the API sent, with the state in `data-state` too (for tests and styles):
// only [a-z_] of it is kept, so it is safe as a class and an attribute.
export function stateBadge(state, text) {
  const safe = String(state || "unknown").replace(/[^a-z_]/g, "");
  return el("span", {
    class: `badge ${safe}`,
    "data-state": safe,
    text: words(text || state || "unknown"),
  });
}

// A timestamp as "5 min ago" (or the time itself, `exact`), the full time on hover; "never"
// when there is none.
export function when(fmt, iso, { exact = false } = {}) {
  if (!iso) return el("span", { class: "muted", text: "never" });
  const text = exact ? fmt.time(iso) : fmt.ago(iso);
  return el("time", { datetime: iso, title: fmt.time(iso), text });
}

export function messageOf(error) {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  return "Something went wrong.";
}

export function money(cents, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}

// 0.125 -> "12.5 %"; none -> "n/a".
export function percent(rate) {
  return rate === null || rate === undefined ? "n/a" : `${Math.round(rate * 1000) / 10} %`;
}

// <option>s for `values` (shown by `label`, in words unless told), `selected` chosen; `any`
// adds a first option with the empty value and that text, chosen when nothing else is.
export function options(values, selected, { any, label = words } = {}) {
  const list = values.map((value) =>
    el("option", { value, text: label(value), selected: value === selected }),
  );
  if (!any) return list;
  return [el("option", { value: "", text: any, selected: !selected }), ...list];
}

// A section with its h2 title (`<id>-title`) and the rest.
export function section(id, title, ...rest) {
  return el(
    "section",
    { id, "aria-labelledby": `${id}-title` },
    el("h2", { id: `${id}-title`, text: title }),
    ...rest,
  );
}

// [term, value] pairs as a definition list; a falsy pair is left out (a fact that may not apply).
export function facts(pairs) {
  return el(
    "dl",
    { class: "facts" },
    pairs
      .filter(Boolean)
      .flatMap(([term, value]) => [
        el("dt", { text: term }),
        el("dd", {}, value instanceof Node ? value : String(value ?? "")),
      ]),
  );
}

// A scrollable table with a caption for screen readers; with `emptyText`, no rows give that
// sentence instead of an empty table.
export function dataTable(caption, headings, rows, emptyText) {
  if (emptyText !== undefined && !rows.length) return el("p", { class: "muted", text: emptyText });
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      {},
      el("caption", { class: "visually-hidden", text: caption }),
      el("thead", {}, el("tr", {}, headings.map((text) => el("th", { scope: "col", text })))),
      el("tbody", {}, rows),
    ),
  );
}

// Every item of a list endpoint, 200 a request, following the cursor to the end.
export async function everyPage(api, path) {
  let items = [];
  let cursor = null;
  do {
    const params = new URLSearchParams({ limit: "200" });
    if (cursor) params.set("cursor", cursor);
    const body = await api.get(`${path}${path.includes("?") ? "&" : "?"}${params}`);
    items = items.concat(body.data);
    cursor = body.meta.next_cursor;
  } while (cursor);
  return items;
}
