// The console's catalog view (#/stores/<id>/catalog): the store's products (searched, filtered,
// paged) with a product's detail and its enrichment form, the store's RFID tags with a form to
// point one at a product, and the store's sync state with its schedule and field-mapping
// overrides. Buttons and forms show only for a role the API lets act (enrichment and tags: store
// managers; sync state: org admins); forms show the API's own errors beside the field.
// Live: a `store.status` of this store on OpsChannel re-reads the sync state (a sync ran).

import { ApiError } from "./api.js";
import { clearErrors, deleteButton, field, showError } from "./forms.js";
import { el } from "./dom.js";

const CATEGORIES = [
  "flower",
  "pre_roll",
  "vape",
  "concentrate",
  "edible",
  "beverage",
  "tincture",
  "topical",
  "capsule",
  "accessory",
  "other",
];
const STRAIN_TYPES = ["indica", "sativa", "hybrid", "cbd", "none"];
const PAGE_SIZE = 50;
// The API's TAG_PATTERN and TAG_MAX (catalog/schemas.py): not dots only, which no browser
// keeps in an address.
const TAG_PATTERN = /^[A-Za-z0-9._:-]*[A-Za-z0-9_:-][A-Za-z0-9._:-]*$/;
const TAG_MAX = 128;
const SCHEDULE_FIELDS = [
  ["catalog_interval_s", "Catalog sync interval (s)", 60, 86400],
  ["inventory_interval_s", "Inventory sync interval (s)", 30, 86400],
  ["stale_after_s", "Catalog stale after (s)", 60, 7 * 86400],
];
const MAPPINGS = {
  category: { title: "Category overrides", from: "POS category", to: "Canonical category" },
  brand: { title: "Brand overrides", from: "Brand from the POS", to: "Brand shown" },
};

function words(value) {
  return value === null || value === undefined ? "" : String(value).replaceAll("_", " ");
}

function badge(state, text) {
  return el("span", { class: `badge ${state}`, "data-state": state, text: text || words(state) });
}

function messageOf(error) {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  return "Something went wrong.";
}

function options(values, selected, any) {
  const list = values.map((value) =>
    el("option", { value, text: words(value), selected: value === selected }),
  );
  return any ? [el("option", { value: "", text: any }), ...list] : list;
}

function section(id, title, ...rest) {
  return el(
    "section",
    { id, "aria-labelledby": `${id}-title` },
    el("h2", { id: `${id}-title`, text: title }),
    ...rest,
  );
}

function facts(pairs) {
  return el(
    "dl",
    { class: "facts" },
    pairs.flatMap(([term, value]) => [
      el("dt", { text: term }),
      el("dd", {}, value instanceof Node ? value : String(value ?? "")),
    ]),
  );
}

function dataTable(caption, headings, rows) {
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

// A form with a title, the region for errors no field is named in, and a status line.
function formShell(id, title) {
  const form = el(
    "form",
    { id, class: "card console-form", novalidate: true, "aria-labelledby": `${id}-title` },
    el("h3", { id: `${id}-title`, text: title }),
    el("p", { class: "form-error", "data-form-error": "", role: "alert" }),
  );
  form.result = el("p", { class: "step-result", role: "status" });
  return form;
}

function succeeded(form, text) {
  form.result.textContent = text;
  form.result.className = "step-result ok";
}

// showError for forms that edit a list in one field: an error on item n of `images` (loc
// [..., "images", n]) goes beside the `images` field, saying which item.
function showListError(form, error, itemWords) {
  const fields = (error.fields || []).map((entry) => {
    const loc = (entry.loc || []).map(String);
    const at = loc.findIndex((part, i) => i > 0 && /^\d+$/.test(part) && itemWords[loc[i - 1]]);
    if (at < 0) return entry;
    const item = `${itemWords[loc[at - 1]]} ${Number(loc[at]) + 1}`;
    return { loc: loc.slice(0, at), message: `${item}: ${entry.message}` };
  });
  showError(form, { message: error.message || messageOf(error), fields });
}

// A checkbox inside its label, the label's text after it.
function checkbox(id, text, input) {
  input.id = id;
  return el("div", { class: "row" }, el("label", { for: id }, input, ` ${text}`));
}

function money(cents, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}

function potency(value) {
  if (!value) return "none";
  return value.unit === "percent" ? `${value.value} %` : `${value.value} ${value.unit}`;
}

export async function render(root, ctx) {
  const { api, fmt } = ctx;
  const storeId = ctx.params.store_id;
  const base = `/api/v1/stores/${storeId}`;
  const store = (await api.get(base)).data;
  const canManage = ctx.can("store_manager");
  const canAdmin = ctx.can("org_admin");
  let alive = true;
  let products = [];
  let productCursor = null;
  let productGeneration = 0;
  let selectedId = null;
  let detailTags = [];
  let tags = [];
  let tagCursor = null;
  let syncState = null;

  function when(iso) {
    if (!iso) return el("span", { class: "muted", text: "never" });
    return el("time", { datetime: iso, title: fmt.time(iso), text: fmt.time(iso) });
  }

  function price(product) {
    const cents = product.variants.map((v) => v.price_cents);
    if (!cents.length) return "no variant";
    const low = Math.min(...cents);
    const high = Math.max(...cents);
    const text = money(low, store.currency);
    return low === high ? text : `${text} to ${money(high, store.currency)}`;
  }

  function stock(product) {
    const total = product.variants.reduce((sum, v) => sum + v.quantity_available, 0);
    return total > 0 ? `${total} available` : badge("failed", "out of stock");
  }

  function visibility(product) {
    if (!product.is_active) return badge("offline", "inactive in the POS");
    if (product.enrichment.hidden) return badge("paused", "hidden");
    return badge("ready", "shown");
  }

  // --- skeleton ---------------------------------------------------------------------------
  const notice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const search = el("input", { name: "q", type: "search", maxlength: 100 });
  const category = el("select", { name: "category" }, options(CATEGORIES, "", "Any category"));
  const strain = el("select", { name: "strain_type" }, options(STRAIN_TYPES, "", "Any strain"));
  const active = el(
    "select",
    { name: "is_active" },
    el("option", { value: "", text: "Active or not" }),
    el("option", { value: "true", text: "Active in the POS" }),
    el("option", { value: "false", text: "Inactive in the POS" }),
  );
  const hidden = el(
    "select",
    { name: "hidden" },
    el("option", { value: "", text: "Hidden or not" }),
    el("option", { value: "false", text: "Not hidden" }),
    el("option", { value: "true", text: "Hidden by an operator" }),
  );
  const filterForm = el(
    "form",
    { id: "product-filters", class: "toolbar", role: "search", "aria-label": "Find products" },
    field("product-search", "Name or brand", search),
    field("product-category", "Category", category),
    field("product-strain", "Strain type", strain),
    field("product-active", "POS status", active),
    field("product-hidden", "Kiosks", hidden),
    el("button", { type: "submit", text: "Search" }),
    el("p", { class: "form-error", "data-form-error": "", role: "alert" }),
  );
  const productTable = dataTable(
    "Products, in creation order",
    ["Name", "Brand", "Category", "Price", "Stock", "Kiosks", "Enrichment"],
    [],
  );
  productTable.querySelector("table").id = "products";
  const productRows = productTable.querySelector("tbody");
  const productCount = el("p", { id: "product-count", class: "muted", role: "status" });
  const moreProducts = el("button", {
    type: "button",
    class: "secondary",
    text: "Load more products",
    hidden: true,
  });
  const detail = el("div", { id: "product-detail", tabindex: "-1" });
  const tagList = el("div", { id: "rfid-list" });
  const moreTags = el("button", {
    type: "button",
    class: "secondary",
    text: "Load more tags",
    hidden: true,
  });
  const tagResult = el("p", { class: "step-result", role: "status", "data-result": "rfid" });
  const tagFormHome = el("div");
  const syncFacts = el("div", { id: "sync-facts" });
  const syncForms = el("div");
  const categoriesSeen = el("datalist", { id: "pos-categories" });

  root.replaceChildren(
    el("p", {}, el("a", { href: `#/stores/${storeId}`, text: `\u2190 ${store.name}` })),
    el("h1", { id: "catalog-title", text: `Catalog of ${store.name}` }),
    el("p", {
      class: "lead",
      text:
        "The products as the POS sends them, with what operators add for kiosks (the " +
        "enrichment, which syncs never overwrite), the RFID tags shoppers lift, and how the " +
        "store's POS values are mapped.",
    }),
    notice,
    section(
      "catalog-products",
      "Products",
      filterForm,
      productCount,
      productTable,
      moreProducts,
      detail,
    ),
    section("catalog-rfid", "RFID tags", tagList, moreTags, tagResult, tagFormHome),
    section("catalog-sync", "Sync state and field mapping", syncFacts, syncForms, categoriesSeen),
  );

  function fail(error) {
    notice.textContent = messageOf(error);
    notice.hidden = false;
  }

  // --- products ---------------------------------------------------------------------------
  function productsPath(cursor) {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    const q = search.value.trim();
    if (q) params.set("q", q);
    for (const select of [category, strain, active, hidden]) {
      if (select.value) params.set(select.name, select.value);
    }
    if (cursor) params.set("cursor", cursor);
    return `${base}/products?${params}`;
  }

  function productRow(product) {
    const open = el("button", {
      type: "button",
      class: "secondary",
      "aria-controls": "product-detail",
      "aria-pressed": String(product.id === selectedId),
      text: product.name,
    });
    open.addEventListener("click", () => selectProduct(product.id).catch(fail));
    const enrichment = product.enrichment;
    const flags = [
      enrichment.featured ? "featured" : null,
      enrichment.description ? "description" : null,
      enrichment.images.length ? `${enrichment.images.length} image(s)` : null,
      enrichment.tags.length ? `${enrichment.tags.length} tag(s)` : null,
    ].filter(Boolean);
    return el(
      "tr",
      { "data-product-id": product.id },
      el("th", { scope: "row" }, open),
      el("td", { text: product.brand || "none" }),
      el(
        "td",
        {},
        words(product.category),
        product.vendor_category
          ? el("div", { class: "muted small", text: `POS: ${product.vendor_category}` })
          : null,
      ),
      el("td", { text: price(product) }),
      el("td", {}, stock(product)),
      el("td", {}, visibility(product)),
      el(
        "td",
        {},
        enrichment.updated_at
          ? [el("div", { text: flags.join(", ") || "edited" }), when(enrichment.updated_at)]
          : el("span", { class: "muted", text: "none" }),
      ),
    );
  }

  function renderProducts() {
    productRows.replaceChildren(...products.map(productRow));
    const count = `${products.length} product${products.length === 1 ? "" : "s"} shown`;
    productCount.textContent = products.length
      ? `${count}${productCursor ? ", more to load" : ""}.`
      : "No product matches.";
    moreProducts.hidden = !productCursor;
    const seen = [...new Set(products.map((p) => p.vendor_category).filter(Boolean))].sort();
    categoriesSeen.replaceChildren(...seen.map((value) => el("option", { value })));
    fillProductChoices();
    if (tags.length) renderTags(); // the products of the tags may be known now
  }

  async function loadProducts() {
    const mine = ++productGeneration;
    clearErrors(filterForm);
    try {
      const body = await api.get(productsPath(null));
      if (mine !== productGeneration || !alive) return;
      products = body.data;
      productCursor = body.meta.next_cursor;
      renderProducts();
    } catch (error) {
      showError(filterForm, error);
    }
  }

  filterForm.addEventListener("submit", (event) => {
    event.preventDefault();
    loadProducts();
  });
  for (const select of [category, strain, active, hidden]) {
    select.addEventListener("change", () => loadProducts());
  }
  moreProducts.addEventListener("click", async () => {
    moreProducts.disabled = true;
    const mine = ++productGeneration;
    try {
      const body = await api.get(productsPath(productCursor));
      if (mine !== productGeneration) return;
      products = products.concat(body.data);
      productCursor = body.meta.next_cursor;
      renderProducts();
    } catch (error) {
      fail(error);
    } finally {
      moreProducts.disabled = false;
    }
  });

  // A product changed here (its enrichment): its row and its detail show the API's answer.
  function replaceProduct(product) {
    products = products.map((p) => (p.id === product.id ? product : p));
    const row = productRows.querySelector(`tr[data-product-id="${product.id}"]`);
    if (row) row.replaceWith(productRow(product));
  }

  // --- product detail ---------------------------------------------------------------------
  async function selectProduct(productId, { focus = true } = {}) {
    selectedId = productId;
    for (const button of productRows.querySelectorAll("button[aria-pressed]")) {
      const row = button.closest("tr");
      button.setAttribute("aria-pressed", String(row.dataset.productId === productId));
    }
    const [product, productTags] = await Promise.all([
      api.get(`${base}/products/${productId}`).then((body) => body.data),
      api.get(`${base}/rfid-tags?product_id=${productId}&limit=200`).then((body) => body.data),
    ]);
    if (!alive || selectedId !== productId) return;
    showDetail(product, productTags);
    const select = tagFormHome.querySelector("select[name=product_id]");
    if (select && select.querySelector(`option[value="${productId}"]`)) select.value = productId;
    if (focus) detail.focus();
  }

  function showDetail(product, productTags) {
    detailTags = productTags;
    const variants = dataTable(
      `Variants of ${product.name}`,
      ["Variant", "Weight", "Price", "Available", "Stock updated"],
      product.variants.map((v) =>
        el(
          "tr",
          {},
          el("td", { text: v.label }),
          el("td", { text: v.weight_grams === null ? "" : `${v.weight_grams} g` }),
          el("td", { text: money(v.price_cents, store.currency) }),
          el("td", { text: String(v.quantity_available) }),
          el("td", {}, when(v.inventory_updated_at)),
        ),
      ),
    );
    const enrichment = product.enrichment;
    // A link only to a web address: an image URL from the POS is not checked.
    const link = (url) =>
      /^https?:\/\//i.test(url) ? el("a", { href: url, rel: "noreferrer", text: url }) : url;
    const images = (list) =>
      list.length
        ? el("ul", { class: "plain-list" }, list.map((url) => el("li", {}, link(url))))
        : "none";
    detail.replaceChildren(
      el("h3", { id: "product-detail-title", text: product.name }),
      el(
        "div",
        { class: "grid-2" },
        el(
          "div",
          {},
          el("h4", { text: "From the POS" }),
          facts([
            ["POS id", el("code", { text: product.external_id })],
            ["SKU", product.sku || "none"],
            ["Brand", product.brand || "none"],
            ["Category", words(product.category)],
            ["POS category", product.vendor_category || "none"],
            ["Strain type", words(product.strain_type) || "none"],
            ["THC", potency(product.thc)],
            ["CBD", potency(product.cbd)],
            ["Medical only", product.is_medical_only ? "yes" : "no"],
            ["Active in the POS", product.is_active ? "yes" : "no"],
            ["Shown on kiosks", product.visible_to_kiosks ? "yes" : "no"],
            ["Images", images(product.image_urls)],
            ["Tags", product.tags.join(", ") || "none"],
            ["Changed in the POS", when(product.pos_updated_at)],
            ["Synced", when(product.synced_at)],
          ]),
        ),
        el(
          "div",
          {},
          el("h4", { text: "Added by operators" }),
          facts([
            ["Description", enrichment.description || "none"],
            ["Images", images(enrichment.images)],
            ["Tags", enrichment.tags.join(", ") || "none"],
            ["Hidden from kiosks", enrichment.hidden ? "yes" : "no"],
            ["Featured", enrichment.featured ? "yes" : "no"],
            ["Sort order", enrichment.sort_order],
            ["Changed", when(enrichment.updated_at)],
            [
              "RFID tags",
              productTags.length
                ? el(
                    "span",
                    {},
                    productTags.map((t) => [el("code", { text: t.tag }), " "]),
                  )
                : "none",
            ],
          ]),
        ),
      ),
      el("h4", { text: "Variants" }),
      variants,
      ...(canManage ? [enrichmentForm(product)] : []),
    );
  }

  function enrichmentForm(product) {
    const loaded = product.enrichment;
    const form = formShell("enrichment-form", `Enrichment of ${product.name}`);
    const description = el("textarea", { name: "description", rows: 4, maxlength: 5000 });
    description.value = loaded.description || "";
    const images = el("textarea", { name: "images", rows: 3 });
    images.value = loaded.images.join("\n");
    const tagsInput = el("input", { name: "tags", type: "text", value: loaded.tags.join(", ") });
    const hiddenBox = el("input", { name: "hidden", type: "checkbox", checked: loaded.hidden });
    const featured = el("input", { name: "featured", type: "checkbox", checked: loaded.featured });
    const sortOrder = el("input", {
      name: "sort_order",
      type: "number",
      step: "1",
      value: String(loaded.sort_order),
    });
    form.append(
      field("enrichment-description", "Description", description, "Empty: no description."),
      field(
        "enrichment-images",
        "Images",
        images,
        "One http(s) URL a line, up to 20, shown before the POS's images. Empty: none.",
      ),
      field(
        "enrichment-tags",
        "Tags",
        tagsInput,
        "Comma separated, up to 50, added after the POS's tags. Empty: none.",
      ),
      checkbox("enrichment-hidden", "Hidden from kiosks", hiddenBox),
      checkbox("enrichment-featured", "Featured", featured),
      field(
        "enrichment-sort-order",
        "Sort order",
        sortOrder,
        "Kiosks list featured products first, then by this number (lowest first). Empty: 0.",
      ),
      el("button", { type: "submit", "data-action": "save-enrichment", text: "Save enrichment" }),
      form.result,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      form.result.textContent = "";
      const lines = (text, separator) =>
        text
          .split(separator)
          .map((part) => part.trim())
          .filter(Boolean);
      // Only what changed; an emptied field is what the API defines as none.
      const wanted = {
        description: description.value.trim() || null,
        images: lines(images.value, "\n"),
        tags: lines(tagsInput.value, ","),
        hidden: hiddenBox.checked,
        featured: featured.checked,
        sort_order: sortOrder.value.trim() === "" ? 0 : Number(sortOrder.value),
      };
      if (sortOrder.validity.badInput) {
        const fields = [{ loc: ["sort_order"], message: "Enter a whole number." }];
        showError(form, { message: "The enrichment was not saved.", fields });
        return;
      }
      const body = {};
      for (const [name, value] of Object.entries(wanted)) {
        if (JSON.stringify(value) !== JSON.stringify(loaded[name])) body[name] = value;
      }
      if (!Object.keys(body).length) {
        succeeded(form, "Nothing changed.");
        return;
      }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const saved = (await api.patch(`${base}/products/${product.id}/enrichment`, body)).data;
        replaceProduct(saved);
        if (!alive || selectedId !== saved.id) return;
        showDetail(saved, detailTags);
        const again = detail.querySelector("#enrichment-form");
        succeeded(again, "Enrichment saved.");
        again.querySelector("button[type=submit]").focus();
        ctx.announce(`Enrichment of ${saved.name} saved`);
      } catch (error) {
        showListError(form, error, { images: "Image", tags: "Tag" });
        button.disabled = false;
      }
    });
    return form;
  }

  // --- RFID tags --------------------------------------------------------------------------
  function productName(productId) {
    const found = products.find((p) => p.id === productId);
    if (found) return found.name;
    return null;
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
        await loadTags();
        if (selectedId === tag.product_id) await selectProduct(tag.product_id, { focus: false });
      },
      { verb: "Remove" },
    );
  }

  function renderTags() {
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
            show.addEventListener("click", () => selectProduct(tag.product_id).catch(fail));
            return el(
              "tr",
              { "data-tag": tag.tag },
              el("td", {}, el("code", { text: tag.tag })),
              el("td", {}, show),
              el("td", {}, when(tag.created_at)),
              el("td", {}, when(tag.updated_at)),
              canManage ? el("td", {}, removeButton(tag)) : null,
            );
          }),
        ),
      );
    }
    moreTags.hidden = !tagCursor;
  }

  async function loadTags() {
    const body = await api.get(`${base}/rfid-tags?limit=100`);
    if (!alive) return;
    tags = body.data;
    tagCursor = body.meta.next_cursor;
    renderTags();
  }

  moreTags.addEventListener("click", async () => {
    moreTags.disabled = true;
    try {
      const cursor = encodeURIComponent(tagCursor);
      const body = await api.get(`${base}/rfid-tags?limit=100&cursor=${cursor}`);
      tags = tags.concat(body.data);
      tagCursor = body.meta.next_cursor;
      renderTags();
    } catch (error) {
      fail(error);
    } finally {
      moreTags.disabled = false;
    }
  });

  function fillProductChoices() {
    const select = tagFormHome.querySelector("select[name=product_id]");
    if (!select) return;
    const current = select.value || selectedId;
    select.replaceChildren(
      el("option", { value: "", text: "Choose a product" }),
      ...products.map((p) =>
        el("option", { value: p.id, text: p.name, selected: p.id === current }),
      ),
    );
  }

  function tagForm() {
    const form = formShell("rfid-form", "Point a tag at a product");
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
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      form.result.textContent = "";
      const tag = tagInput.value.trim();
      const problems = [];
      if (!TAG_PATTERN.test(tag) || tag.length > TAG_MAX) {
        problems.push({
          loc: ["tag"],
          message: tag
            ? "Use 1 to 128 letters, digits, dots, underscores, colons or hyphens (not dots alone)."
            : "Enter the tag's id.",
        });
      }
      if (!product.value) problems.push({ loc: ["product_id"], message: "Choose a product." });
      if (problems.length) {
        showError(form, { message: "The tag was not assigned.", fields: problems });
        return;
      }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const saved = (
          await api.put(`${base}/rfid-tags/${encodeURIComponent(tag)}`, {
            product_id: product.value,
          })
        ).data;
        const name = productName(saved.product_id) || saved.product_id;
        succeeded(form, `Tag ${saved.tag} points at ${name}.`);
        ctx.announce(`Tag ${saved.tag} points at ${name}`);
        tagInput.value = "";
        await loadTags();
        if (selectedId === saved.product_id) {
          await selectProduct(saved.product_id, { focus: false });
        }
      } catch (error) {
        showError(form, error);
      } finally {
        button.disabled = false;
      }
    });
    return form;
  }

  if (canManage) tagFormHome.append(tagForm());

  // --- sync state and field mapping ---------------------------------------------------------
  function renderSyncFacts() {
    const state = syncState;
    const mapping = state.field_mapping || {};
    const overrides = (kind) => Object.entries(mapping[kind] || {});
    const known = new Set(Object.keys(MAPPINGS));
    const other = Object.keys(mapping).filter((key) => !known.has(key));
    const parts = [
      facts([
        ["Catalog", state.stale ? badge("degraded", "stale") : badge("ready", "fresh")],
        ["Catalog sync every", `${state.catalog_interval_s} s`],
        ["Next catalog sync", when(state.next_catalog_sync_at)],
        ["Inventory sync every", `${state.inventory_interval_s} s`],
        ["Next inventory sync", when(state.next_inventory_sync_at)],
        ["Stale after", `${state.stale_after_s} s without a successful sync`],
        ["Catalog cursor (POS changes read up to)", when(state.catalog_cursor)],
        ["Last full sync", when(state.last_full_sync_at)],
        ["Last successful sync", when(state.last_success_at)],
        ["Failed syncs in a row", state.consecutive_failures],
      ]),
      canAdmin
        ? null
        : el(
            "div",
            {},
            Object.entries(MAPPINGS).map(([kind, spec]) => [
              el("h3", { text: spec.title }),
              overrides(kind).length
                ? dataTable(
                    spec.title,
                    [spec.from, spec.to],
                    overrides(kind).map(([from, to]) =>
                      el("tr", {}, el("td", { text: from }), el("td", { text: words(to) })),
                    ),
                  )
                : el("p", { class: "muted", text: "None: the POS adapter's own mapping applies." }),
            ]),
          ),
      other.length
        ? el("p", {
            class: "notice warn",
            text:
              `The stored mapping also holds ${other.join(", ")}, which syncs refuse; saving ` +
              "the mapping below replaces it with the category and brand overrides only.",
          })
        : null,
    ];
    syncFacts.replaceChildren(...parts.filter(Boolean));
  }

  async function loadSyncState() {
    const state = (await api.get(`${base}/sync-state`)).data;
    if (!alive) return;
    syncState = state;
    renderSyncFacts();
  }

  function scheduleForm() {
    const form = formShell("sync-schedule", "Sync schedule");
    for (const [name, label, min, max] of SCHEDULE_FIELDS) {
      const input = el("input", { name, type: "number", min, max, step: "1" });
      input.value = String(syncState[name]);
      form.append(field(`schedule-${name.replaceAll("_", "-")}`, label, input));
    }
    form.append(
      el("button", { type: "submit", "data-action": "save-schedule", text: "Save schedule" }),
      form.result,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      form.result.textContent = "";
      const body = {};
      const problems = [];
      for (const [name] of SCHEDULE_FIELDS) {
        const input = form.elements.namedItem(name);
        if (input.value === "") {
          problems.push({ loc: [name], message: "Enter a number of seconds." });
        } else if (input.value !== String(syncState[name])) {
          body[name] = Number(input.value);
        }
      }
      if (problems.length) {
        showError(form, { message: "The schedule was not saved.", fields: problems });
        return;
      }
      if (!Object.keys(body).length) {
        succeeded(form, "Nothing changed.");
        return;
      }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        syncState = (await api.put(`${base}/sync-state`, body)).data;
        renderSyncFacts();
        for (const [name] of SCHEDULE_FIELDS) {
          form.elements.namedItem(name).value = String(syncState[name]);
        }
        succeeded(form, "Sync schedule saved.");
        ctx.announce("Sync schedule saved");
      } catch (error) {
        showError(form, error);
      } finally {
        button.disabled = false;
      }
    });
    return form;
  }

  // One table per override kind: rows of POS value -> what it becomes. The API names a bad
  // override by its POS value (field_mapping.category.<value>): its error goes to that row.
  function mappingForm() {
    const form = formShell("field-mapping", "Field mapping");
    form.append(
      el("p", {
        class: "muted",
        text:
          "Overrides by the POS's own value, applied by the next catalog sync. A POS category " +
          "becomes a canonical category; a brand is renamed. Remove a row to drop its override.",
      }),
    );
    const bodies = {};
    let rowCount = 0;

    function addRow(kind, from = "", to = "") {
      const spec = MAPPINGS[kind];
      rowCount += 1;
      const number = rowCount;
      const source = el("input", {
        type: "text",
        name: `${kind}-from-${number}`,
        "aria-label": `${spec.from} (row ${number})`,
        "data-mapping": "from",
        list: kind === "category" ? "pos-categories" : null,
        value: from,
      });
      const target =
        kind === "category"
          ? el(
              "select",
              { "data-mapping": "to" },
              options(CATEGORIES, to, "Choose a category"),
            )
          : el("input", { type: "text", "data-mapping": "to", maxlength: 200, value: to });
      target.name = `${kind}-to-${number}`;
      target.setAttribute("aria-label", `${spec.to} (row ${number})`);
      const remove = el("button", {
        type: "button",
        class: "secondary",
        text: "Remove",
        "aria-label": `Remove ${spec.title.toLowerCase()} row ${number}`,
      });
      const row = el(
        "tr",
        { "data-mapping-row": kind },
        el("td", {}, source),
        el("td", {}, target),
        el("td", {}, remove),
      );
      remove.addEventListener("click", () => {
        row.remove();
        form.querySelector(`[data-add="${kind}"]`).focus();
      });
      bodies[kind].append(row);
      return source;
    }

    for (const [kind, spec] of Object.entries(MAPPINGS)) {
      bodies[kind] = el("tbody");
      const add = el("button", {
        type: "button",
        class: "secondary",
        "data-add": kind,
        text: `Add a ${kind} override`,
      });
      add.addEventListener("click", () => addRow(kind).focus());
      const group = el(
        "fieldset",
        { name: `field_mapping.${kind}`, "data-mapping-kind": kind },
        el("legend", { text: spec.title }),
        el(
          "div",
          { class: "table-wrap" },
          el(
            "table",
            {},
            el("caption", { class: "visually-hidden", text: spec.title }),
            el(
              "thead",
              {},
              el(
                "tr",
                {},
                el("th", { scope: "col", text: spec.from }),
                el("th", { scope: "col", text: spec.to }),
                el("th", { scope: "col", text: "Action" }),
              ),
            ),
            bodies[kind],
          ),
        ),
        add,
      );
      form.append(group);
      for (const [from, to] of Object.entries((syncState.field_mapping || {})[kind] || {})) {
        addRow(kind, from, String(to));
      }
    }
    form.append(
      el("button", { type: "submit", "data-action": "save-mapping", text: "Save field mapping" }),
      form.result,
    );

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      form.result.textContent = "";
      const mapping = {};
      const rowOf = {}; // "kind\nPOS value" -> the name of its row's target
      const problems = [];
      for (const kind of Object.keys(MAPPINGS)) {
        mapping[kind] = {};
        for (const row of bodies[kind].querySelectorAll("tr")) {
          const source = row.querySelector('[data-mapping="from"]');
          const target = row.querySelector('[data-mapping="to"]');
          const from = source.value.trim();
          const to = target.value.trim();
          if (from === "" && to === "") continue; // an empty row is no override
          if (from === "") {
            problems.push({ loc: [source.name], message: "Enter the POS's value." });
          } else if (Object.hasOwn(mapping[kind], from)) {
            problems.push({ loc: [source.name], message: `${from} is overridden twice.` });
          } else if (to === "") {
            problems.push({ loc: [target.name], message: `Say what ${from} becomes.` });
          } else {
            mapping[kind][from] = to;
            rowOf[`${kind}\n${from}`] = target.name;
          }
        }
      }
      if (problems.length) {
        showError(form, { message: "The field mapping was not saved.", fields: problems });
        return;
      }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        syncState = (await api.put(`${base}/sync-state`, { field_mapping: mapping })).data;
        renderSyncFacts();
        succeeded(form, "Field mapping saved. The next catalog sync applies it.");
        ctx.announce("Field mapping saved");
      } catch (error) {
        const fields = (error.fields || []).map((entry) => {
          const loc = (entry.loc || []).map(String);
          const at = loc.indexOf("field_mapping");
          const name = at < 0 ? null : rowOf[`${loc[at + 1]}\n${loc[at + 2]}`];
          return name ? { loc: [name], message: entry.message } : entry;
        });
        showError(form, { message: error.message || messageOf(error), fields });
      } finally {
        button.disabled = false;
      }
    });
    return form;
  }

  await Promise.all([loadProducts(), loadTags(), loadSyncState()]);
  if (canAdmin) {
    syncForms.append(scheduleForm(), mappingForm());
  } else {
    syncForms.append(
      el("p", {
        class: "muted",
        text: "Organization admins change the sync schedule and the field mapping.",
      }),
    );
  }
  if (!canManage) {
    tagFormHome.append(
      el("p", {
        class: "muted",
        text: "Store managers edit the enrichment and assign RFID tags.",
      }),
    );
  }
  fillProductChoices();

  // --- live -------------------------------------------------------------------------------
  // A change of the store's state usually follows a sync: the sync state is read again.
  let unsubscribe = () => {};
  if (ctx.cable && !(ctx.me.store_ids && ctx.me.store_ids.length)) {
    unsubscribe = ctx.cable.subscribe(
      "OpsChannel",
      { organization_id: store.organization_id },
      (message) => {
        if (!alive || !message || !message.data) return;
        if (message.type === "store.status" && message.data.store_id === storeId) {
          loadSyncState().catch(fail);
        }
      },
    );
  }

  return () => {
    alive = false;
    productGeneration += 1;
    unsubscribe();
  };
}
