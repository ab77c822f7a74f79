// A store's own fields as form rows, for adding a store (the fleet) and editing one (the store
// view's settings): its name, its time zone (an IANA name, offered from the browser's list) and
// its currency (an ISO 4217 code). The API judges them: its errors show beside each field.

import { el } from "./dom.js";
import { field } from "./forms.js";

function timeZones() {
  const zones =
    typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return zones.includes("UTC") ? zones : ["UTC", ...zones];
}

// The rows (ids `<prefix>-name`, ...; names `name`, `timezone`, `currency`), filled from `store`.
export function storeFields(prefix, store = {}) {
  const zones = el(
    "datalist",
    { id: `${prefix}-timezones` },
    timeZones().map((zone) => el("option", { value: zone })),
  );
  return [
    field(
      `${prefix}-name`,
      "Name",
      el("input", { name: "name", type: "text", maxlength: "200", value: store.name || "" }),
    ),
    field(
      `${prefix}-timezone`,
      "Time zone",
      el("input", {
        name: "timezone",
        type: "text",
        maxlength: "64",
        autocomplete: "off",
        list: `${prefix}-timezones`,
        value: store.timezone || "UTC",
      }),
      "An IANA name, such as America/Denver.",
    ),
    zones,
    field(
      `${prefix}-currency`,
      "Currency",
      el("input", {
        name: "currency",
        type: "text",
        maxlength: "3",
        autocomplete: "off",
        value: store.currency || "USD",
      }),
      "Its ISO 4217 code, such as USD or CAD.",
    ),
  ];
}
