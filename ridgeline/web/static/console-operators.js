// The console's operators (#/operators, org admins and up): the accounts (paged) with their
// role, stores, state and last sign-in; a form to create one (stores picked by name for store
// managers) and one to edit what PATCH /operators/{id} takes (name, role, stores, active, a new
// password); Delete with two clicks. Only roles the API lets the operator grant are offered
// (platform_admin to platform admins only), and nothing the API refuses about oneself (one's
// own role, deactivating or deleting oneself). Forms show the API's errors beside the field.

import { el } from "./dom.js";
import { checkboxField, deleteButton, field, formCard, submitting } from "./forms.js";
import { badge, everyPage, messageOf, when, words } from "./ui.js";

const PAGE = 100;
const TENANT_ROLES = ["viewer", "store_manager", "org_admin"];
const ROLE_HINTS = {
  viewer: "Reads everything in the organization, changes nothing.",
  store_manager: "Acts on the stores assigned below, and sees only those.",
  org_admin: "Everything in the organization, operators included.",
  platform_admin: "Support staff: every organization.",
};

export async function render(root, ctx) {
  const { api, fmt, me } = ctx;
  const platform = me.role === "platform_admin";
  const grantable = platform ? [...TENANT_ROLES, "platform_admin"] : TENANT_ROLES;
  let operators = [];
  let shown = PAGE;
  let nextCursor = null;
  let generation = 0;
  let alive = true;

  const [stores, organizations] = await Promise.all([
    everyPage(api, "/api/v1/stores"),
    platform ? everyPage(api, "/api/v1/organizations") : Promise.resolve([]),
  ]);
  const storeName = new Map(stores.map((s) => [s.id, s.name]));
  const orgName = new Map(organizations.map((o) => [o.id, o.name]));
  const storesOf = (organizationId) =>
    stores
      .filter((s) => s.organization_id === organizationId)
      .sort((a, b) => a.name.localeCompare(b.name));

  // ---------------------------------------------------------------- list

  const notice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const result = el("p", { class: "step-result", role: "status", "data-result": "operators" });
  const tbody = el("tbody");
  const headings = ["Email", "Name", "Role", "Stores", "State", "Last sign-in", "Actions"];
  if (platform) headings.splice(3, 0, "Organization");
  const table = el(
    "table",
    { id: "operators-table" },
    el("caption", { class: "visually-hidden", text: "Operators" }),
    el("thead", {}, el("tr", {}, ...headings.map((text) => el("th", { scope: "col", text })))),
    tbody,
  );
  const more = el("button", {
    type: "button",
    class: "secondary",
    text: "Load more",
    hidden: true,
  });
  const editHolder = el("div");

  function fail(error) {
    notice.textContent = messageOf(error);
    notice.hidden = false;
  }

  function done(text) {
    result.textContent = text;
    result.className = "step-result ok";
    ctx.announce(text);
  }

  // Platform admins are out of an org admin's reach; nobody deletes themselves.
  const mayEdit = (operator) => platform || operator.role !== "platform_admin";

  function operatorRow(operator) {
    const self = operator.id === me.id;
    const storesCell =
      operator.role === "store_manager"
        ? operator.store_ids.length
          ? operator.store_ids.map((id) => storeName.get(id) || id).join(", ")
          : "none assigned"
        : "all of the organization's";
    const cells = [
      el("td", {}, operator.email, self ? el("span", { class: "muted", text: " (you)" }) : null),
      el("td", { text: operator.name }),
      el("td", { text: words(operator.role) }),
      el("td", { text: operator.role === "platform_admin" ? "every store" : storesCell }),
      el(
        "td",
        {},
        operator.is_active ? badge("ready", "active") : badge("paused", "deactivated"),
      ),
      el("td", {}, when(fmt, operator.last_login_at)),
    ];
    if (platform) {
      const org = operator.organization_id;
      cells.splice(3, 0, el("td", { text: org ? orgName.get(org) || org : "none" }));
    }
    const actions = el("td", { class: "alert-actions" });
    if (mayEdit(operator)) {
      const edit = el("button", {
        type: "button",
        class: "secondary",
        "data-action": "edit-operator",
        text: "Edit",
        "aria-label": `Edit ${operator.email}`,
      });
      edit.addEventListener("click", () => openEditForm(operator));
      actions.append(edit);
      if (!self) {
        const remove = deleteButton("delete-operator", operator.email, fail, async () => {
          await api.delete(`/api/v1/operators/${operator.id}`);
          if (editHolder.dataset.operatorId === operator.id) closeEditForm();
          done(`${operator.email} deleted.`);
          await refreshOperators();
        });
        actions.append(remove);
      }
    }
    return el(
      "tr",
      { "data-operator-id": operator.id, "data-email": operator.email },
      ...cells,
      actions,
    );
  }

  function drawOperators() {
    tbody.replaceChildren(...operators.map(operatorRow));
    more.hidden = !nextCursor;
  }

  function operatorsPath(cursor) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) params.set("cursor", cursor);
    return `/api/v1/operators?${params}`;
  }

  async function refreshOperators() {
    const mine = ++generation;
    let loaded = [];
    let cursor = null;
    do {
      const body = await api.get(operatorsPath(cursor));
      if (mine !== generation || !alive) return;
      loaded = loaded.concat(body.data);
      cursor = body.meta.next_cursor;
    } while (cursor && loaded.length < shown);
    operators = loaded;
    nextCursor = cursor;
    notice.hidden = true;
    drawOperators();
  }

  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      shown = operators.length + PAGE;
      const mine = ++generation;
      const body = await api.get(operatorsPath(nextCursor));
      if (mine !== generation) return;
      operators = operators.concat(body.data);
      nextCursor = body.meta.next_cursor;
      drawOperators();
    } catch (error) {
      fail(error);
    } finally {
      more.disabled = false;
    }
  });

  // ---------------------------------------------------------------- forms

  function roleSelect(prefix, roles, selected) {
    const select = el(
      "select",
      { name: "role" },
      ...roles.map((role) =>
        el("option", { value: role, text: words(role), selected: role === selected }),
      ),
    );
    const row = field(`${prefix}-role`, "Role", select, ROLE_HINTS[selected]);
    select.addEventListener("change", () => {
      row.querySelector(`#${prefix}-role-hint`).textContent = ROLE_HINTS[select.value];
    });
    return row;
  }

  // The stores of `organizationId` by name, for store managers; hidden (and not sent) for
  // every other role.
  function storePicker(prefix, organizationId, chosen) {
    const select = el("select", { name: "store_ids", multiple: true });
    const row = field(
      `${prefix}-stores`,
      "Stores",
      select,
      "The stores this store manager acts on and sees (Ctrl or \u2318 to choose several).",
    );
    function fill(orgId) {
      const list = storesOf(orgId);
      select.size = Math.max(3, Math.min(list.length, 8));
      select.replaceChildren(
        ...list.map((s) => el("option", { value: s.id, text: s.name, selected: chosen.has(s.id) })),
      );
    }
    fill(organizationId);
    return {
      row,
      select,
      fill,
      show(visible) {
        row.hidden = !visible;
        select.disabled = !visible;
      },
      values: () => [...select.selectedOptions].map((o) => o.value),
    };
  }

  function newOperatorForm() {
    const form = formCard("operator-new", "New operator");
    const value = (name) => form.elements.namedItem(name).value;
    const role = roleSelect("operator-new", grantable, "viewer");
    let organization = null;
    if (platform) {
      organization = el(
        "select",
        { name: "organization_id" },
        ...organizations.map((o) => el("option", { value: o.id, text: o.name })),
      );
    }
    const firstOrg = platform ? (organizations[0] || {}).id : me.organization_id;
    const picker = storePicker("operator-new", firstOrg, new Set());
    const orgRow = organization
      ? field("operator-new-organization", "Organization", organization)
      : null;
    const rows = [
      field(
        "operator-new-email",
        "Email",
        el("input", { name: "email", type: "email", autocomplete: "off" }),
      ),
      field(
        "operator-new-name",
        "Name",
        el("input", { name: "name", type: "text", maxlength: "200" }),
      ),
      role,
      orgRow,
      picker.row,
      field(
        "operator-new-password",
        "Password",
        el("input", { name: "password", type: "password", autocomplete: "new-password" }),
        "At least 12 characters; give it to them another way than this console.",
      ),
      el("button", { type: "submit", "data-action": "create-operator", text: "Create operator" }),
    ];
    form.append(...rows.filter(Boolean));
    function follow() {
      picker.show(value("role") === "store_manager");
      if (orgRow) {
        orgRow.hidden = value("role") === "platform_admin";
        organization.disabled = orgRow.hidden;
      }
    }
    form.elements.namedItem("role").addEventListener("change", follow);
    if (organization) {
      organization.addEventListener("change", () => picker.fill(organization.value));
    }
    follow();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(form, async () => {
        const body = {
          email: value("email").trim(),
          name: value("name"),
          role: value("role"),
          password: value("password"),
        };
        if (body.role === "store_manager") body.store_ids = picker.values();
        if (organization && !organization.disabled) {
          body.organization_id = organization.value || null;
        }
        const created = (await api.post("/api/v1/operators", body)).data;
        form.reset();
        // The role's hint and the store picker follow the reset role.
        form.elements.namedItem("role").dispatchEvent(new Event("change"));
        done(`${created.email} created (${words(created.role)}).`);
        await refreshOperators();
      });
    });
    return form;
  }

  // What PATCH /operators/{id} takes; only what changed is sent. One's own role and active
  // state are not offered (the API refuses them), nor swapping platform and tenant roles.
  function openEditForm(operator) {
    const self = operator.id === me.id;
    const form = formCard("operator-edit", `Edit ${operator.email}`);
    const value = (name) => form.elements.namedItem(name).value;
    const roles = operator.role === "platform_admin" ? ["platform_admin"] : TENANT_ROLES;
    const roleRow =
      self || roles.length < 2 ? null : roleSelect("operator-edit", roles, operator.role);
    const chosenStores = new Set(operator.store_ids);
    const picker = storePicker("operator-edit", operator.organization_id, chosenStores);
    const active = self
      ? null
      : el("input", { name: "is_active", type: "checkbox", checked: operator.is_active });
    const cancel = el("button", { type: "button", class: "secondary", text: "Cancel" });
    cancel.addEventListener("click", closeEditForm);
    const rows = [
      field(
        "operator-edit-name",
        "Name",
        el("input", { name: "name", type: "text", maxlength: "200", value: operator.name }),
      ),
      roleRow,
      picker.row,
      active
        ? checkboxField(
            "operator-edit-active",
            "Active (unticked: signed out everywhere and cannot sign in)",
            active,
          )
        : null,
      field(
        "operator-edit-password",
        "New password",
        el("input", { name: "password", type: "password", autocomplete: "new-password" }),
        "Left empty: unchanged. A new one signs them out everywhere.",
      ),
      el(
        "div",
        { class: "toolbar" },
        el("button", { type: "submit", "data-action": "save-operator", text: "Save operator" }),
        cancel,
      ),
    ];
    form.append(...rows.filter(Boolean));
    const currentRole = () => (roleRow ? value("role") : operator.role);
    const follow = () => picker.show(currentRole() === "store_manager");
    if (roleRow) form.elements.namedItem("role").addEventListener("change", follow);
    follow();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(form, async () => {
        const body = {};
        if (value("name") !== operator.name) body.name = value("name");
        if (currentRole() !== operator.role) body.role = currentRole();
        if (active && active.checked !== operator.is_active) body.is_active = active.checked;
        if (value("password") !== "") body.password = value("password");
        if (currentRole() === "store_manager") {
          const wanted = picker.values().sort();
          const had = [...operator.store_ids].sort();
          if (body.role || wanted.join() !== had.join()) body.store_ids = wanted;
        }
        if (!Object.keys(body).length) {
          closeEditForm();
          return;
        }
        const saved = (await api.patch(`/api/v1/operators/${operator.id}`, body)).data;
        closeEditForm();
        done(`${saved.email} saved.`);
        await refreshOperators();
      });
    });
    editHolder.dataset.operatorId = operator.id;
    editHolder.replaceChildren(form);
    form.elements.namedItem("name").focus();
  }

  function closeEditForm() {
    delete editHolder.dataset.operatorId;
    editHolder.replaceChildren();
  }

  // ---------------------------------------------------------------- page

  root.append(
    el("h1", { text: "Operators" }),
    el("p", {
      class: "lead",
      text: "Who signs in to this console and the API, with what role and on which stores.",
    }),
    el(
      "section",
      { id: "operators-list", "aria-labelledby": "operators-list-title" },
      el("h2", { id: "operators-list-title", text: "Accounts" }),
      notice,
      el("div", { class: "table-wrap" }, table),
      more,
      result,
      editHolder,
    ),
    el(
      "section",
      { id: "operators-new", "aria-labelledby": "operators-new-title" },
      el("h2", { id: "operators-new-title", text: "Add an operator" }),
      newOperatorForm(),
    ),
  );
  await refreshOperators();
  return () => {
    alive = false;
    generation += 1;
  };
}
