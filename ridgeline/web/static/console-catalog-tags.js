// The catalog view's RFID tags: the store's tags with the product each points at (100 a
// request, "Load more tags" pages on); store managers point a tag at a product (`PUT
// .../rfid-tags/{tag}`, the tag's alphabet checked before sending) and remove one (two clicks).

import { el } from "./dom.js";
import { deleteButton, field, formCard, showError, submitting, succeeded } from "./forms.js";
import { dataTable, messageOf, section, when } from "./ui.js";

// The API's TAG_PATTERN and TAG_MAX (catalog/schemas.py): not dots only, which no browser
// keeps in an address.
const TAG_PATTERN = /^[A-Za-z0-9._:-]*[A-Za-z0-9_:-][A-Za-z0-9._:-]*$/;
const TAG_MAX = 128;
const TAG_ALPHABET =
  "Use 1 to 128 letters, digits, dots, underscores, colons or hyphens (not dots alone).";

// The section and what the products part calls: `load()`, `render()` (the products' names may
// be known now), `fillProductChoices()` and `pick(productId)` (the product chosen in the form).
// catalog: {products(), selectedId(), selectProduct(id, {focus}), fail(error)} of the view.
export function rfidSection({ api, ctx, base, isAlive, catalog }) {
  const canManage = ctx.can("store_manager");
  let tags = [];
  let tagCursor = null;
  const tagList = el("div", { id: "rfid-list" });
  const moreTags = el("button", {
    type: "button",
    class: "secondary",
    text: "Load more tags",
    hidden: true,
  });
  const tagResult = el("p", { class: "step-result", role: "status", "data-result": "rfid" });
  const tagFormHome = el("div");
  const at = (iso) => when(ctx.fmt, iso, { exact: true });

  function productName(productId) {
    const found = catalog.products().find((p) => p.id === productId);
    if (found) return found.name;
    return null;
  }

  // After a tag changed: the tags, and the product on show if it is the tag's.
  async function reread(productId) {
    await load();
    if (catalog.selectedId() === productId) {
      await catalog.selectProduct(productId, { focus: false });
    }
  }

  function removeButton(tag) {
    const fail = (error) => {
      tagResult.textContent = `Remove ${tag.tag}: ${messageOf(error)}`;
      tagResult.className = "step-result bad";
    };
    return deleteButton(
      "remove-tag",
      `tag ${tag.tag}`,
      fail,
      async () => {
        await api.delete(`${base}/rfid-tags/${encodeURIComponent(tag.tag)}`);
        tagResult.textContent = `Tag ${tag.tag} removed.`;
        tagResult.className = "step-result ok";
        ctx.announce(`Tag ${tag.tag} removed`);
        await reread(tag.product_id);
      },
      { verb: "Remove" },
    );
  }

  function render() {
    if (!tags.length) {
      tagList.replaceChildren(el("p", { class: "muted", text: "No RFID tag in this store." }));
    } else {
      const headings = ["Tag", "Product", "Assigned", "Changed"];
      if (canManage) headings.push("Actions");
      tagList.replaceChildren(
        dataTable(
          "RFID tags and the products they point at",
          headings,
          tags.map((tag) => {
            const name = productName(tag.product_id);
            const show = el("button", {
              type: "button",
              class: "secondary",
              "aria-controls": "product-detail",
              text: name || "Show the product",
              "aria-label": name ? null : `Show the product of tag ${tag.tag}`,
            });
            show.addEventListener("click", () =>
              catalog.selectProduct(tag.product_id).catch(catalog.fail),
            );
            return el(
              "tr",
              { "data-tag": tag.tag },
              el("td", {}, el("code", { text: tag.tag })),
              el("td", {}, show),
              el("td", {}, at(tag.created_at)),
              el("td", {}, at(tag.updated_at)),
              canManage ? el("td", {}, removeButton(tag)) : null,
            );
          }),
        ),
      );
    }
    moreTags.hidden = !tagCursor;
  }

  async function load() {
    const body = await api.get(`${base}/rfid-tags?limit=100`);
    if (!isAlive()) return;
    tags = body.data;
    tagCursor = body.meta.next_cursor;
    render();
  }

  moreTags.addEventListener("click", async () => {
    moreTags.disabled = true;
    try {
      const cursor = encodeURIComponent(tagCursor);
      const body = await api.get(`${base}/rfid-tags?limit=100&cursor=${cursor}`);
      tags = tags.concat(body.data);
      tagCursor = body.meta.next_cursor;
      render();
    } catch (error) {
      catalog.fail(error);
    } finally {
      moreTags.disabled = false;
    }
  });

  function productSelect() {
    return tagFormHome.querySelector("select[name=product_id]");
  }

  function fillProductChoices() {
    const select = productSelect();
    if (!select) return;
    const current = select.value || catalog.selectedId();
    select.replaceChildren(
      el("option", { value: "", text: "Choose a product" }),
      ...catalog
        .products()
        .map((p) => el("option", { value: p.id, text: p.name, selected: p.id === current })),
    );
  }

  function pick(productId) {
    const select = productSelect();
    if (select && select.querySelector(`option[value="${productId}"]`)) select.value = productId;
  }

  function tagForm() {
    const form = formCard("rfid-form", "Point a tag at a product");
    const tagInput = el("input", { name: "tag", type: "text", maxlength: 128 });
    const product = el("select", { name: "product_id" });
    form.append(
      field(
        "rfid-tag",
        "Tag",
        tagInput,
        "The tag's id (EPC hex or the vendor's id): letters, digits, . _ : and -. A tag that " +
          "exists already is pointed at the new product.",
      ),
      field(
        "rfid-product",
        "Product",
        product,
        "The products found above; search there to find another.",
      ),
      el("button", { type: "submit", "data-action": "assign-tag", text: "Assign tag" }),
      form.result,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      form.result.textContent = "";
      submitting(form, async () => {
        const tag = tagInput.value.trim();
        const problems = [];
        if (!TAG_PATTERN.test(tag) || tag.length > TAG_MAX) {
          problems.push({
            loc: ["tag"],
            message: tag ? TAG_ALPHABET : "Enter the tag's id.",
          });
        }
        if (!product.value) problems.push({ loc: ["product_id"], message: "Choose a product." });
        if (problems.length) {
          showError(form, { message: "The tag was not assigned.", fields: problems });
          return;
        }
        const saved = (
          await api.put(`${base}/rfid-tags/${encodeURIComponent(tag)}`, {
            product_id: product.value,
          })
        ).data;
        const name = productName(saved.product_id) || saved.product_id;
        succeeded(form, `Tag ${saved.tag} points at ${name}.`);
        ctx.announce(`Tag ${saved.tag} points at ${name}`);
        tagInput.value = "";
        await reread(saved.product_id);
      });
    });
    return form;
  }

  if (canManage) {
    tagFormHome.append(tagForm());
  } else {
    tagFormHome.append(
      el("p", {
        class: "muted",
        text: "Store managers edit the enrichment and assign RFID tags.",
      }),
    );
  }

  return {
    section: section("catalog-rfid", "RFID tags", tagList, moreTags, tagResult, tagFormHome),
    hasTags: () => tags.length > 0,
    load,
    render,
    fillProductChoices,
    pick,
  };
}
