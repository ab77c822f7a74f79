// The console's shell: sign-in, the signed-in operator, one /cable connection, and a router
// from the location's hash to a view module (console-<view>.js). Each view module exports
// `render(root, ctx)` and may return a function that tears it down (unsubscribes) when the
// operator leaves it.
//
// ctx: {api, cable, me, params, navigate(hash), announce(text), can(role), fmt}
//   api      - Api (api.js) signed in as the operator
//   cable    - Cable (cable.js), connected with the operator's token
//   me       - GET /api/v1/auth/me's data (id, email, name, role, organization_id, store_ids)
//   params   - the route's parameters ({store_id} for #/stores/<id>[/catalog|/kiosks])
//   can(r)   - whether the operator's role is at least r ("viewer" < "store_manager" <
//              "org_admin" < "platform_admin"): views render no button the API would refuse
//   fmt      - {time(iso), ago(iso)} in the reader's time zone

import { Api, ApiError } from "./api.js";
import { Cable } from "./cable.js";
import { clearErrors, formValues, showError } from "./forms.js";

const RANK = { viewer: 0, store_manager: 1, org_admin: 2, platform_admin: 3 };
const ROUTES = [
  [/^#?\/?$/, "fleet", () => ({})],
  [/^#\/alerts\/?$/, "alerts", () => ({})],
  [/^#\/alerts\/rules\/?$/, "rules", () => ({})],
  [/^#\/operators\/?$/, "operators", () => ({})],
  [/^#\/audit\/?$/, "audit", () => ({})],
  [/^#\/status-page\/?$/, "statuspage", () => ({})],
  [/^#\/system\/?$/, "system", () => ({})],
  [/^#\/stores\/([0-9a-f-]{36})\/?$/, "store", (m) => ({ store_id: m[1] })],
  [/^#\/stores\/([0-9a-f-]{36})\/catalog\/?$/, "catalog", (m) => ({ store_id: m[1] })],
  [/^#\/stores\/([0-9a-f-]{36})\/kiosks\/?$/, "kiosks", (m) => ({ store_id: m[1] })],
];

const root = document.getElementById("console");
const modules = JSON.parse(root.dataset.modules || "{}");
const view = document.getElementById("view");
const announcer = document.getElementById("announcer");
let teardown = null;
let cable = null;
let me = null;

const api = Api.forOperator({ onSignedOut: () => showSignIn() });

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
export const fmt = {
  time(iso) {
    return iso ? timeFormat.format(new Date(iso)) : "never";
  },
  ago(iso) {
    if (!iso) return "never";
    const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 60) return `${Math.max(seconds, 0)} s ago`;
    if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} d ago`;
  },
};

function announce(text) {
  announcer.textContent = "";
  window.setTimeout(() => {
    announcer.textContent = text;
  }, 50);
}

function can(role) {
  return me !== null && RANK[me.role] >= RANK[role];
}

function showSignIn() {
  if (teardown) teardown();
  teardown = null;
  if (cable) cable.close();
  cable = null;
  me = null;
  document.getElementById("app").hidden = true;
  document.getElementById("account").hidden = true;
  document.getElementById("sign-in-view").hidden = false;
  document.getElementById("email").focus();
}

async function showApp() {
  me = (await api.get("/api/v1/auth/me")).data;
  document.getElementById("sign-in-view").hidden = true;
  document.getElementById("app").hidden = false;
  document.getElementById("account").hidden = false;
  document.getElementById("account-who").textContent = `${me.name || me.email} (${me.role.replace("_", " ")})`;
  // Links to views the operator's role cannot use are not shown at all.
  for (const link of document.querySelectorAll("[data-role]")) link.hidden = !can(link.dataset.role);
  const liveState = document.getElementById("live-state");
  cable = new Cable(() => api.token(), {
    onState: (state) => {
      liveState.textContent = `Live updates: ${state}`;
    },
  });
  cable.connect();
  await route();
}

// The latest route(): a view that finishes rendering after a newer one began is torn down.
let routing = 0;

async function route() {
  if (!me) return;
  const mine = ++routing;
  const hash = window.location.hash || "#/";
  let found = null;
  for (const [pattern, name, params] of ROUTES) {
    const match = hash.match(pattern);
    if (match) {
      found = { name, params: params(match) };
      break;
    }
  }
  if (teardown) teardown();
  teardown = null;
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (found && link.dataset.nav === found.name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  view.replaceChildren();
  if (!found || !modules[found.name]) {
    const heading = document.createElement("h1");
    heading.textContent = "Not found";
    const text = document.createElement("p");
    text.textContent = "No console page answers at this address.";
    view.append(heading, text);
    return;
  }
  // Each route renders into its own container: a render that ends after the operator moved on
  // is torn down and its container removed, so it can never write over the newer view.
  const container = document.createElement("div");
  container.className = "view";
  view.append(container);
  view.setAttribute("aria-busy", "true");
  try {
    const module = await import(modules[found.name]);
    const ctx = {
      api,
      cable,
      me,
      params: found.params,
      navigate: (target) => {
        window.location.hash = target;
      },
      announce,
      can,
      fmt,
    };
    const ended = (await module.render(container, ctx)) || null;
    if (mine !== routing) {
      if (ended) ended();
      container.remove();
      return;
    }
    teardown = ended;
  } catch (error) {
    if (mine !== routing) {
      container.remove();
      return;
    }
    const notice = document.createElement("p");
    notice.className = "notice bad";
    notice.setAttribute("role", "alert");
    notice.textContent =
      error instanceof ApiError ? `${error.message} (${error.code})` : "This page failed to load.";
    container.append(notice);
  } finally {
    if (mine === routing) view.setAttribute("aria-busy", "false");
  }
  if (mine !== routing) return;
  const heading = view.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

document.getElementById("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const { email, password } = formValues(form);
    await api.signIn(email || "", password || "");
    form.reset();
    await showApp();
  } catch (error) {
    showError(form, error);
  } finally {
    button.disabled = false;
  }
});

document.getElementById("sign-out").addEventListener("click", () => api.signOut());
window.addEventListener("hashchange", () => route());

if (api.signedIn()) {
  showApp().catch(() => showSignIn());
} else {
  showSignIn();
}
