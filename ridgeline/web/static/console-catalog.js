// The console's catalog view (#/stores/<id>/catalog): the store's products (searched, filtered,
// paged) with a product's detail and its enrichment form (store managers and up), beside the
// store's RFID tags (console-catalog-tags.js) and its sync state and field mapping
// (console-catalog-mapping.js). Buttons and forms show only for a role the API lets act; forms
// show the API's own errors beside the field.
// Live: a `store.status` of this store on OpsChannel re-reads the sync state (a sync ran).

import { CATEGORIES, syncSection } from "./console-catalog-mapping.js";
import { rfidSection } from "./console-catalog-tags.js";
import { el } from "./dom.js";
import {
  checkboxField,
  clearErrors,
  field,
  formCard,
  showError,
  submitting,
  succeeded,
} from "./forms.js";
import {
  dataTable,
  facts,
  messageOf,
  money,
  options,
  section,
  stateBadge,
  when,
  words,
} from "./ui.js";

const STRAIN_TYPES = ["indica", "sativa", "hybrid", "cbd", "none"];
const PAGE_SIZE = 50;

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
  let alive = true;
  let products = [];
  let productCursor = null;
  let productGeneration = 0;
  let selectedId = null;
  let detailTags = [];
  const isAlive = () => alive;
  const at = (iso) => when(fmt, iso, { exact: true });

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
    return total > 0 ? `${total} available` : stateBadge("failed", "out of stock");
  }

  function visibility(product) {
    if (!product.is_active) return stateBadge("offline", "inactive in the POS");
    if (product.enrichment.hidden) return stateBadge("paused", "hidden");
    return stateBadge("ready", "shown");
  }

  // --- skeleton ---------------------------------------------------------------------------
  const notice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const search = el("input", { name: "q", type: "search", maxlength: 100 });
  const category = el(
    "select",
    { name: "category" },
    options(CATEGORIES, "", { any: "Any category" }),
  );
  const strain = el(
    "select",
    { name: "strain_type" },
    options(STRAIN_TYPES, "", { any: "Any strain" }),
  );
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
  const rfid = rfidSection({
    api,
    ctx,
    base,
    isAlive,
    catalog: {
      products: () => products,
      selectedId: () => selectedId,
      selectProduct: (productId, options) => selectProduct(productId, options),
      fail: (error) => fail(error),
    },
  });
  const sync = syncSection({ api, ctx, base, isAlive });

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
    rfid.section,
    sync.section,
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
          ? [el("div", { text: flags.join(", ") || "edited" }), at(enrichment.updated_at)]
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
    sync.showCategories(seen);
    rfid.fillProductChoices();
    if (rfid.hasTags()) rfid.render(); // the products of the tags may be known now
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
    rfid.pick(productId);
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
          el("td", {}, at(v.inventory_updated_at)),
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
            ["Changed in the POS", at(product.pos_updated_at)],
            ["Synced", at(product.synced_at)],
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
            ["Changed", at(enrichment.updated_at)],
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
    const form = formCard("enrichment-form", `Enrichment of ${product.name}`);
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
      checkboxField("enrichment-hidden", "Hidden from kiosks", hiddenBox),
      checkboxField("enrichment-featured", "Featured", featured),
      field(
        "enrichment-sort-order",
        "Sort order",
        sortOrder,
        "Kiosks list featured products first, then by this number (lowest first). Empty: 0.",
      ),
      el("button", { type: "submit", "data-action": "save-enrichment", text: "Save enrichment" }),
      form.result,
    );

    async function save() {
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
      const saved = (await api.patch(`${base}/products/${product.id}/enrichment`, body)).data;
      replaceProduct(saved);
      if (!alive || selectedId !== saved.id) return;
      showDetail(saved, detailTags);
      const again = detail.querySelector("#enrichment-form");
      succeeded(again, "Enrichment saved.");
      again.querySelector("button[type=submit]").focus();
      ctx.announce(`Enrichment of ${saved.name} saved`);
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      form.result.textContent = "";
      submitting(form, save, {
        onError: (error) => showListError(form, error, { images: "Image", tags: "Tag" }),
      });
    });
    return form;
  }

  await Promise.all([loadProducts(), rfid.load(), sync.load()]);
  sync.showForms();
  rfid.fillProductChoices();

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
          sync.load().catch(fail);
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
