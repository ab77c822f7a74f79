// The System page's organizations (platform admins): every organization with its slug, a form
// to create one (name and slug; the slug never changes), Rename, and Delete (two clicks; the API
// refuses while the organization has stores, and its operators go with it).

import { el } from "./dom.js";
import { deleteButton, field, formCard, submitting } from "./forms.js";
import { dataTable, everyPage, messageOf, section, when } from "./ui.js";

export function systemOrganizations({ api, ctx, isAlive }) {
  const { fmt } = ctx;
  let organizations = [];
  const notice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const result = el("p", {
    class: "step-result",
    role: "status",
    "data-result": "organizations",
  });
  const listBody = el("div", { id: "organizations-list" });
  const editHolder = el("div");

  function fail(error) {
    notice.textContent = messageOf(error);
    notice.hidden = false;
  }

  function done(text) {
    notice.hidden = true;
    result.textContent = text;
    result.className = "step-result ok";
    ctx.announce(text);
  }

  function organizationRow(organization) {
    const rename = el("button", {
      type: "button",
      class: "secondary",
      "data-action": "rename-organization",
      text: "Rename",
      "aria-label": `Rename ${organization.name}`,
    });
    rename.addEventListener("click", () => openRenameForm(organization));
    const remove = deleteButton("delete-organization", organization.name, fail, async () => {
      await api.delete(`/api/v1/organizations/${organization.id}`);
      if (editHolder.dataset.organizationId === organization.id) closeRenameForm();
      done(`${organization.name} deleted, with its operators.`);
      await refresh();
    });
    return el(
      "tr",
      { "data-organization-id": organization.id },
      el("td", { text: organization.name }),
      el("td", {}, el("code", { text: organization.slug })),
      el("td", {}, when(fmt, organization.created_at)),
      el("td", { class: "alert-actions" }, rename, remove),
    );
  }

  function draw() {
    listBody.replaceChildren(
      dataTable(
        "Organizations",
        ["Name", "Slug", "Created", "Actions"],
        organizations.map(organizationRow),
        "No organization yet.",
      ),
    );
  }

  async function refresh() {
    const loaded = await everyPage(api, "/api/v1/organizations");
    if (!isAlive()) return;
    organizations = loaded;
    draw();
  }

  // PATCH /organizations/{id} takes the name only.
  function openRenameForm(organization) {
    const form = formCard("organization-rename", `Rename ${organization.name}`);
    const name = el("input", {
      name: "name",
      type: "text",
      maxlength: "200",
      value: organization.name,
    });
    const cancel = el("button", { type: "button", class: "secondary", text: "Cancel" });
    cancel.addEventListener("click", closeRenameForm);
    form.append(
      field("organization-rename-name", "Name", name, `Its slug stays ${organization.slug}.`),
      el(
        "div",
        { class: "toolbar" },
        el("button", { type: "submit", "data-action": "save-organization", text: "Save name" }),
        cancel,
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(form, async () => {
        const path = `/api/v1/organizations/${organization.id}`;
        const saved = (await api.patch(path, { name: name.value })).data;
        closeRenameForm();
        done(`${organization.name} renamed ${saved.name}.`);
        await refresh();
      });
    });
    editHolder.dataset.organizationId = organization.id;
    editHolder.replaceChildren(form);
    name.focus();
  }

  function closeRenameForm() {
    delete editHolder.dataset.organizationId;
    editHolder.replaceChildren();
  }

  function newOrganizationForm() {
    const form = formCard("organization-new", "Create an organization");
    form.append(
      field(
        "organization-new-name",
        "Name",
        el("input", { name: "name", type: "text", maxlength: "200" }),
      ),
      field(
        "organization-new-slug",
        "Slug",
        el("input", { name: "slug", type: "text", maxlength: "100", autocomplete: "off" }),
        "Lowercase letters, digits and hyphens; it never changes.",
      ),
      el("button", {
        type: "submit",
        "data-action": "create-organization",
        text: "Create organization",
      }),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(form, async () => {
        const body = {
          name: form.elements.namedItem("name").value,
          slug: form.elements.namedItem("slug").value,
        };
        const created = (await api.post("/api/v1/organizations", body)).data;
        form.reset();
        done(`${created.name} created: add its stores from the fleet.`);
        await refresh();
      });
    });
    return form;
  }

  return {
    section: section(
      "system-organizations",
      "Organizations",
      notice,
      listBody,
      result,
      editHolder,
      newOrganizationForm(),
    ),
    refresh,
  };
}
