// The kiosk page (/kiosk#key=...): a shopper browses the store's catalog, lifts a product by
// its RFID tag, fills a cart and orders, live over /cable. The kiosk key comes in the address's
// fragment (never sent to a server), is kept in sessionStorage for this tab only and taken out
// of the address bar at once.

import { Api, ApiError } from "./api.js";
import { Cable } from "./cable.js";
import { clearErrors, showError } from "./forms.js";
import { Cart, Catalog, categoryName, lowestPrice, money } from "./kiosk-catalog.js";
import { el } from "./dom.js";

const STORAGE_KEY = "ridgeline.kiosk";
const PAGE_SIZE = 60;
const HEARTBEAT_MS = 30000;
const ORDER_RANK = {
  received: 0,
  queued: 1,
  submitted: 2,
  accepted: 3,
  ready: 4,
  completed: 5,
  rejected: 6,
  failed: 6,
  cancelled: 6,
};
const ORDER_TEXT = {
  received: "Received: sending it to the store.",
  queued: "Queued: the store's system is away; your order waits and is sent when it is back.",
  submitted: "Sent to the store.",
  accepted: "Accepted by the store: we are preparing it.",
  ready: "Ready: please collect it at the counter.",
  completed: "Completed. Thank you!",
  rejected: "The store could not take this order.",
  failed: "The order could not reach the store.",
  cancelled: "Cancelled.",
};
const FINAL = new Set(["completed", "rejected", "failed", "cancelled"]);
const CANCELLABLE = new Set(["received", "queued", "submitted", "accepted"]);
const STATE_TEXT = {
  degraded: "The store's system is slow right now; prices and stock may lag a little.",
  error: "The store's system is not answering; prices and stock may be out of date.",
  offline: "The store's system is offline; prices and stock may be out of date.",
  unconfigured: "This store is not set up for ordering yet.",
};

const $ = (id) => document.getElementById(id);

// The key: from the fragment (then out of the address bar), else from this tab's storage.
function takeKey() {
  const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  const fromFragment = fragment.get("key");
  if (fragment.has("key")) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  if (fromFragment) {
    window.sessionStorage.setItem(STORAGE_KEY, fromFragment.trim());
    return fromFragment.trim();
  }
  return window.sessionStorage.getItem(STORAGE_KEY);
}

class KioskPage {
  constructor() {
    this.api = null;
    this.cable = null;
    this.catalog = new Catalog();
    this.cart = new Cart();
    this.currency = "USD";
    this.filters = { category: null, search: "" };
    this.shown = PAGE_SIZE;
    this.detailId = null;
    this.kiosk = null;
    this.storeStatus = null;
    this.order = null;
    this.unsubscribeOrder = null;
    this.connectedOnce = false;
    this.heartbeat = null;
    this.messageTimer = null;
    this.placing = false;
  }

  start() {
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitKey();
    });
    $("kiosk-forget").addEventListener("click", () => this.forget());
    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.filters.search = $("search").value;
      this.shown = PAGE_SIZE;
      this.renderProducts();
    });
    $("search").addEventListener("input", () => {
      if ($("search").value === "" && this.filters.search !== "") {
        this.filters.search = "";
        this.renderProducts();
      }
    });
    $("more-products").addEventListener("click", () => {
      this.shown += PAGE_SIZE;
      this.renderProducts();
    });
    $("rfid-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.lift();
    });
    $("order-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.placeOrder();
    });
    $("cancel-order").addEventListener("click", () => this.cancelOrder());
    $("new-order").addEventListener("click", () => this.newOrder());
    $("kiosk-message-close").addEventListener("click", () => this.hideMessage());
    const key = takeKey();
    if (key) this.open(key);
    else this.showKeyForm();
  }

  showKeyForm(message = "") {
    $("shop").hidden = true;
    $("kiosk-account").hidden = true;
    $("key-view").hidden = false;
    const form = $("key-form");
    clearErrors(form);
    if (message) form.querySelector("[data-form-error]").textContent = message;
  }

  async submitKey() {
    const form = $("key-form");
    const key = $("kiosk-key").value.trim();
    if (!key) {
      showError(form, {
        message: "Paste the kiosk's key.",
        fields: [{ loc: ["key"], message: "A kiosk key is required." }],
      });
      return;
    }
    window.sessionStorage.setItem(STORAGE_KEY, key);
    $("kiosk-key").value = "";
    await this.open(key);
  }

  forget() {
    window.sessionStorage.removeItem(STORAGE_KEY);
    this.stopLive();
    this.api = null;
    this.catalog = new Catalog();
    this.cart = new Cart();
    this.order = null;
    this.showKeyForm("The kiosk key was forgotten in this tab.");
  }

  stopLive() {
    clearInterval(this.heartbeat);
    if (this.cable) this.cable.close();
    this.cable = null;
    this.unsubscribeOrder = null;
  }

  async open(key) {
    this.api = Api.forKiosk(key);
    try {
      const me = await this.api.get("/api/v1/kiosks/me");
      this.kiosk = me.data;
    } catch (error) {
      window.sessionStorage.removeItem(STORAGE_KEY);
      this.api = null;
      const message =
        error instanceof ApiError && error.status === 401
          ? "That key was not accepted: it is unknown, expired or revoked."
          : `The kiosk could not be opened: ${error.message}`;
      this.showKeyForm(message);
      return;
    }
    $("key-view").hidden = true;
    $("shop").hidden = false;
    $("kiosk-account").hidden = false;
    const store = this.kiosk.store || {};
    const storeName = this.kiosk.store_name || store.name;
    $("store-name").textContent = storeName || "Our menu";
    document.title = storeName ? `${storeName}: Ridgeline kiosk` : "Ridgeline kiosk";
    $("kiosk-name").textContent = `Kiosk: ${this.kiosk.name}`;
    this.renderCart();
    await Promise.all([this.reloadCatalog(), this.loadStoreStatus()]);
    this.goLive();
  }

  // The catalog

  async reloadCatalog() {
    $("catalog-state").textContent = "Loading the menu…";
    try {
      await this.catalog.load(this.api);
    } catch (error) {
      $("catalog-state").textContent = `The menu could not be loaded: ${error.message}`;
      return;
    }
    for (const product of this.catalog.products.values()) this.followInCart(product);
    this.renderCategories();
    this.renderProducts();
    this.renderDetail();
  }

  renderCategories() {
    const list = $("categories");
    const choices = [[null, this.catalog.order.length], ...this.catalog.categories()];
    if (this.filters.category && !choices.some(([c]) => c === this.filters.category)) {
      this.filters.category = null;
    }
    list.replaceChildren(
      ...choices.map(([category, count]) => {
        const button = el(
          "button",
          {
            type: "button",
            className: "secondary",
            "aria-pressed": String(this.filters.category === category),
            dataset: { category: category || "" },
          },
          `${category ? categoryName(category) : "All"} (${count})`,
        );
        button.addEventListener("click", () => {
          this.filters.category = category;
          this.shown = PAGE_SIZE;
          this.renderCategories();
          this.renderProducts();
        });
        return el("li", {}, button);
      }),
    );
  }

  renderProducts() {
    const products = this.catalog.filtered(this.filters);
    const list = $("products");
    list.replaceChildren(...products.slice(0, this.shown).map((p) => this.productCard(p)));
    $("more-products").hidden = products.length <= this.shown;
    const what = [
      this.filters.category ? categoryName(this.filters.category) : "All products",
      this.filters.search.trim() ? `matching “${this.filters.search.trim()}”` : "",
    ]
      .filter(Boolean)
      .join(" ");
    const stale = this.catalog.status && this.catalog.status.stale;
    $("catalog-state").textContent =
      `${what}: ${products.length} ${products.length === 1 ? "product" : "products"}.` +
      (stale ? " Prices and stock may be out of date." : "");
  }

  productCard(product) {
    const price = lowestPrice(product);
    const several = product.variants.length > 1;
    const button = el(
      "button",
      { type: "button", className: "kiosk-product", "aria-label": null },
      el("span", { className: "kiosk-thumb", "aria-hidden": "true", text: product.name[0] || "?" }),
      el("span", { className: "kiosk-product-name", text: product.name }),
      el("span", { className: "muted", text: `${product.brand} · ${categoryName(product.category)}` }),
      el(
        "span",
        { className: "kiosk-price", dataset: { role: "price" } },
        price === null ? "No price" : `${several ? "from " : ""}${money(price, this.currency)}`,
      ),
      el(
        "span",
        { className: product.in_stock ? "kiosk-stock" : "kiosk-stock out", dataset: { role: "stock" } },
        product.in_stock ? "In stock" : "Out of stock",
      ),
    );
    button.addEventListener("click", () => this.showDetail(product.id, { focus: true }));
    return el("li", { dataset: { productId: product.id } }, button);
  }

  showDetail(productId, { focus = false } = {}) {
    this.detailId = productId;
    this.renderDetail();
    if (focus) $("detail").focus();
  }

  renderDetail() {
    const section = $("detail");
    const product = this.detailId ? this.catalog.products.get(this.detailId) : null;
    if (!this.detailId) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    section.dataset.productId = this.detailId;
    if (!product) {
      $("detail-title").textContent = "No longer available";
      $("detail-body").replaceChildren(
        el("p", { className: "muted", text: "This product was just taken off the menu." }),
      );
      return;
    }
    $("detail-title").textContent = product.name;
    const facts = el("dl", { className: "facts" });
    const fact = (term, value) => {
      if (value) facts.append(el("dt", { text: term }), el("dd", { text: value }));
    };
    fact("Brand", product.brand);
    fact("Category", categoryName(product.category));
    if (product.strain_type && product.strain_type !== "none") fact("Strain", product.strain_type);
    const potency = (p) => (p ? `${p.value}${p.unit === "percent" ? "%" : " mg"}` : null);
    fact("THC", potency(product.thc));
    fact("CBD", potency(product.cbd));
    if (product.is_medical_only) fact("Note", "Medical patients only");
    const variants = el("ul", { className: "kiosk-variants" });
    for (const variant of product.variants) {
      const out = variant.quantity_available <= 0;
      const add = el(
        "button",
        {
          type: "button",
          disabled: out || product.is_medical_only,
          "aria-label": `Add ${variant.label} of ${product.name} to the cart`,
        },
        "Add to cart",
      );
      add.addEventListener("click", () => {
        this.cart.add(product, variant);
        this.renderCart(`Added ${variant.label} of ${product.name}.`);
      });
      variants.append(
        el(
          "li",
          { dataset: { variantId: variant.id } },
          el("span", { className: "kiosk-variant-label", text: variant.label }),
          el("span", {
            className: "kiosk-price",
            dataset: { role: "price" },
            text: money(variant.price_cents, this.currency),
          }),
          el("span", {
            className: out ? "kiosk-stock out" : "kiosk-stock",
            dataset: { role: "stock" },
            text: out ? "Out of stock" : `${variant.quantity_available} in stock`,
          }),
          add,
        ),
      );
    }
    const body = [
      el("div", { className: "kiosk-photo", "aria-hidden": "true", text: product.name[0] || "?" }),
      product.description ? el("p", { text: product.description }) : null,
      facts,
      el("h3", { text: "Sizes and prices" }),
      product.variants.length ? variants : el("p", { className: "muted", text: "Not for sale here." }),
      product.tags && product.tags.length
        ? el("p", { className: "muted", text: `Tags: ${product.tags.join(", ")}` })
        : null,
    ];
    $("detail-body").replaceChildren(...body.filter(Boolean));
  }

  async lift() {
    const form = $("rfid-form");
    clearErrors(form);
    const tag = $("rfid-tag").value.trim();
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(tag)) {
      showError(form, {
        message: "",
        fields: [
          { loc: ["tag"], message: "An RFID tag is 1 to 128 letters, digits, or . _ : -" },
        ],
      });
      return;
    }
    try {
      const found = await this.api.get(`/api/v1/catalog/rfid/${encodeURIComponent(tag)}`);
      const product = found.data;
      if (!this.catalog.products.has(product.id)) this.catalog.order.push(product.id);
      this.catalog.products.set(product.id, product);
      this.showDetail(product.id, { focus: true });
    } catch (error) {
      if (error.status === 404) {
        showError(form, { message: `No product on the menu has the tag ${tag}.`, fields: [] });
      } else showError(form, error);
    }
  }

  // Live: the store stream, the kiosk's own stream, and the order's

  goLive() {
    this.stopLive();
    this.connectedOnce = false;
    const key = this.api.token();
    this.cable = new Cable(() => key, { onState: (state) => this.cableState(state) });
    this.cable.subscribe("StoreChannel", { store_id: this.kiosk.store_id }, (message) =>
      this.storeMessage(message),
    );
    this.cable.subscribe("KioskChannel", {}, (message) => this.kioskMessage(message));
    if (this.order && !FINAL.has(this.order.status)) this.followOrder(this.order.id);
    this.cable.connect();
    this.heartbeat = setInterval(() => this.sendHeartbeat(), HEARTBEAT_MS);
  }

  sendHeartbeat() {
    if (this.cable && this.cable.state === "connected") {
      this.cable.perform("KioskChannel", {}, "heartbeat", {
        app_version: "kiosk-page",
        health: { cart_lines: this.cart.lines.length },
      });
    }
  }

  async cableState(state) {
    const text = {
      connecting: "Live updates: connecting",
      connected: "Live updates: on",
      reconnecting: "Live updates: reconnecting",
      unauthorized: "Live updates: key refused",
      closed: "Live updates: off",
    };
    $("kiosk-live").textContent = text[state] || `Live updates: ${state}`;
    if (state === "unauthorized") {
      window.sessionStorage.removeItem(STORAGE_KEY);
      this.stopLive();
      this.showKeyForm("The kiosk key is no longer accepted. Paste a new one.");
      return;
    }
    if (state !== "connected") return;
    this.sendHeartbeat();
    if (!this.connectedOnce) {
      this.connectedOnce = true;
      // Whatever changed between the first load and the subscription.
      await this.catchUp();
      return;
    }
    // Back after a drop: whatever was missed meanwhile, then the store's state and the order.
    await Promise.all([this.catchUp(), this.loadStoreStatus(), this.refreshOrder()]);
  }

  async catchUp() {
    let changed;
    try {
      changed = await this.catalog.catchUp(this.api);
    } catch {
      return;
    }
    if (changed === false) await this.reloadCatalog();
    else if (changed.length) this.catalogChanged(changed);
  }

  storeMessage(message) {
    if (!message || !message.type) return;
    if (message.type === "store.status") {
      this.showStoreStatus(message.data);
      return;
    }
    if (message.type === "order.status") {
      if (this.order && message.data && message.data.order_id === this.order.id) {
        this.orderStatus(message.data);
      }
      return;
    }
    const result = this.catalog.apply(message);
    if (!result) return;
    if (result.kind === "resync") this.reloadCatalog();
    else this.catalogChanged([result]);
  }

  catalogChanged(changes) {
    const priceNotes = [];
    for (const change of changes) {
      const product = this.catalog.products.get(change.id);
      if (product) priceNotes.push(...this.followInCart(product));
    }
    this.renderCategories();
    this.renderProducts();
    if (this.detailId && changes.some((change) => change.id === this.detailId)) this.renderDetail();
    if (priceNotes.length) this.renderCart(priceNotes.join(" "));
  }

  followInCart(product) {
    return this.cart.follow(product).map(
      ({ line, to }) =>
        `The price of ${line.name} (${line.variant_label}) is now ${money(to, this.currency)}.`,
    );
  }

  kioskMessage(message) {
    if (!message || message.type !== "kiosk.command" || !message.data) return;
    const command = message.data;
    if (command.command === "reload") {
      this.reloadCatalog();
      this.loadStoreStatus();
    } else if (command.command === "show_message" && command.message) {
      this.showMessage(command.message, command.duration_s || 300);
    }
  }

  showMessage(text, durationS) {
    clearTimeout(this.messageTimer);
    $("kiosk-message-text").textContent = text;
    $("kiosk-message").hidden = false;
    this.messageTimer = setTimeout(() => this.hideMessage(), durationS * 1000);
  }

  hideMessage() {
    clearTimeout(this.messageTimer);
    $("kiosk-message").hidden = true;
  }

  // The store's state

  async loadStoreStatus() {
    try {
      const found = await this.api.get("/api/v1/kiosks/me/store-status");
      this.showStoreStatus(found.data);
    } catch {
      // The banner keeps what it said; the stream brings the next state.
    }
  }

  showStoreStatus(status) {
    if (!status) return;
    this.storeStatus = status;
    if (status.store_name) {
      $("store-name").textContent = status.store_name;
      document.title = `${status.store_name}: Ridgeline kiosk`;
    }
    if (status.currency) this.currency = status.currency;
    const notes = [];
    if (STATE_TEXT[status.state]) notes.push(STATE_TEXT[status.state]);
    if (status.ordering === "paused") {
      notes.push("Ordering is paused at this store for now; you can still browse.");
    } else if (status.ordering === "queued") {
      notes.push("Orders are taken and sent to the store as soon as its system is back.");
    }
    if (!STATE_TEXT[status.state] && status.catalog && status.catalog.stale) {
      notes.push("Prices and stock may be out of date.");
    }
    const banner = $("store-banner");
    banner.textContent = notes.join(" ");
    banner.hidden = notes.length === 0;
    banner.dataset.state = status.state;
    banner.dataset.ordering = status.ordering;
    banner.classList.toggle("bad", ["error", "offline"].includes(status.state));
    this.renderCart();
  }

  // The cart and the order

  renderCart(announcement = "") {
    const lines = $("cart-lines");
    const short = new Map(this.cart.short().map(({ line, available }) => [line, available]));
    lines.replaceChildren(
      ...this.cart.lines.map((line) => {
        const label = `${line.name} (${line.variant_label})`;
        const minus = el(
          "button",
          { type: "button", className: "secondary", "aria-label": `One less ${label}` },
          "−",
        );
        const plus = el(
          "button",
          {
            type: "button",
            className: "secondary",
            "aria-label": `One more ${label}`,
            disabled: line.quantity >= 20,
          },
          "+",
        );
        const remove = el(
          "button",
          { type: "button", className: "secondary", "aria-label": `Remove ${label}` },
          "Remove",
        );
        minus.addEventListener("click", () => {
          const quantity = line.quantity - 1;
          this.cart.setQuantity(line.variant_id, quantity);
          this.renderCart(quantity > 0 ? `${label}: ${quantity}.` : `Removed ${label}.`);
        });
        plus.addEventListener("click", () => {
          this.cart.setQuantity(line.variant_id, line.quantity + 1);
          this.renderCart(`${label}: ${line.quantity}.`);
        });
        remove.addEventListener("click", () => {
          this.cart.remove(line.variant_id);
          this.renderCart(`Removed ${label}.`);
        });
        const shortage = short.get(line);
        return el(
          "li",
          {
            dataset: {
              variantId: line.variant_id,
              stock: shortage === undefined ? "ok" : shortage > 0 ? "short" : "out",
            },
          },
          el("span", { className: "kiosk-line-name", text: label }),
          el("span", {
            className: "kiosk-line-price",
            dataset: { role: "price" },
            text: `${line.quantity} × ${money(line.price_cents, this.currency)}`,
          }),
          shortage === undefined
            ? null
            : el("span", {
                className: "kiosk-stock out",
                dataset: { role: "stock" },
                text: shortage > 0 ? `Only ${shortage} left` : "Out of stock",
              }),
          el("span", { className: "kiosk-line-controls" }, minus, plus, remove),
        );
      }),
    );
    const empty = this.cart.lines.length === 0;
    $("cart-empty").hidden = !empty;
    const subtotal = $("cart-subtotal");
    subtotal.hidden = empty;
    subtotal.textContent = `Subtotal: ${money(this.cart.subtotal, this.currency)} (${
      this.cart.count
    } ${this.cart.count === 1 ? "item" : "items"})`;
    this.refreshTotals();
    const ordering = this.storeStatus ? this.storeStatus.ordering : "live";
    $("order-form").hidden = empty;
    $("place-order").disabled = this.placing || ordering === "paused";
    $("place-order").textContent =
      ordering === "paused" ? "Ordering is paused" : this.placing ? "Placing…" : "Place order";
    if (announcement) this.announceCart(announcement);
  }

  // The cart's taxes and total as the server computes them (POST /api/v1/cart/check): the
  // figures an order placed now keeps. Asked again only when the lines changed.
  async refreshTotals() {
    const total = $("cart-total");
    const items = this.cart.body("").items;
    const asked = JSON.stringify(items);
    if (asked === this.totalsFor) return;
    this.totalsFor = asked;
    if (items.length === 0) {
      total.hidden = true;
      return;
    }
    let check;
    try {
      check = (await this.api.post("/api/v1/cart/check", { items })).data;
    } catch {
      // Shown again at the next change; the order still answers any problem itself.
      if (this.totalsFor === asked) {
        this.totalsFor = "";
        total.hidden = true;
      }
      return;
    }
    if (this.totalsFor !== asked) return; // the cart changed while it was asked
    const { tax_cents: tax, total_cents: sum, currency } = check.totals;
    total.textContent = `Taxes: ${money(tax, currency)} · Total: ${money(sum, currency)}`;
    total.hidden = false;
  }

  announceCart(text) {
    let note = $("cart-note");
    if (!note) {
      note = el("p", { id: "cart-note", className: "kiosk-note" });
      $("cart").prepend(note);
    }
    note.textContent = text;
  }

  async placeOrder() {
    if (this.placing || this.cart.lines.length === 0) return;
    const form = $("order-form");
    clearErrors(form);
    const name = $("customer-name").value.trim();
    const body = this.cart.body(name);
    const key = this.cart.keyFor(body);
    this.placing = true;
    this.renderCart();
    try {
      const placed = await this.api.post("/api/v1/orders", body, {
        headers: { "Idempotency-Key": key },
      });
      this.cart.clear();
      $("customer-name").value = "";
      this.startOrder(placed.data);
    } catch (error) {
      this.orderFailed(form, error);
    } finally {
      this.placing = false;
      this.renderCart();
    }
  }

  orderFailed(form, error) {
    const retryable =
      error.status === 0 ||
      error.status >= 500 ||
      error.code === "IDEMPOTENCY_KEY_IN_USE" ||
      error.code === "DATABASE_BUSY";
    // The same cart is sent again with the same key after a network error; anything the
    // server decided (a price, the stock) needs a changed cart and so a new key.
    if (!retryable) this.cart.forgetKey();
    const details = error.details || {};
    const lineOf = (index) => this.cart.lines[index];
    // The products the refusal names are read afresh, so the menu agrees with the cart even
    // when the live update is late or the stream is away.
    const refresh = [];
    let message = error.message;
    switch (error.code) {
      case "NETWORK_ERROR":
        message = "The order could not reach the server. Try again: it will not be placed twice.";
        break;
      case "PRICE_CHANGED": {
        const notes = [];
        for (const item of details.items || []) {
          if (!item.changed) continue;
          const line = this.cart.find(item.variant_id);
          if (line) {
            line.price_cents = item.unit_price_cents;
            notes.push(`${line.name} is now ${money(item.unit_price_cents, this.currency)}`);
          }
          refresh.push(item.product_id);
        }
        message = `Prices changed: ${notes.join("; ") || "see your cart"}. Check the cart and place the order again.`;
        break;
      }
      case "OUT_OF_STOCK": {
        const line = this.cart.find(details.variant_id) || lineOf(details.index);
        if (line && typeof details.available === "number") line.available = details.available;
        if (details.product_id) refresh.push(details.product_id);
        const name = line ? `${line.name} (${line.variant_label})` : "An item";
        message =
          details.available > 0
            ? `Only ${details.available} of ${name} left. Lower the quantity and try again.`
            : `${name} is out of stock. Remove it and try again.`;
        break;
      }
      case "PRODUCT_UNAVAILABLE": {
        const line = lineOf(details.index);
        message = `${line ? line.name : "An item"} is no longer available. Remove it and try again.`;
        break;
      }
      case "STORE_PAUSED":
        message = "The store is not taking orders right now.";
        break;
      case "MEDICAL_ORDER_REQUIRED":
        message = "An item is for medical patients only: ask the staff to order it.";
        break;
      case "ORDER_LIMIT_EXCEEDED":
        message = `The order is over a limit (${details.limit}: at most ${details.max}).`;
        break;
      default:
        break;
    }
    showError(form, { message, fields: [] });
    this.renderCart();
    if (refresh.length) this.refreshProducts(refresh);
  }

  async refreshProducts(ids) {
    const changes = [];
    for (const id of new Set(ids)) {
      try {
        const found = await this.api.get(`/api/v1/catalog/products/${encodeURIComponent(id)}`);
        if (!this.catalog.products.has(id)) this.catalog.order.push(id);
        this.catalog.products.set(id, found.data);
        changes.push({ kind: "updated", id });
      } catch {
        // The stream, or the catch-up after a reconnection, brings it.
      }
    }
    if (changes.length) this.catalogChanged(changes);
  }

  startOrder(order) {
    this.order = { id: order.id, reference: order.reference, status: null, data: order };
    if (order.currency) this.currency = order.currency;
    $("order").hidden = false;
    this.orderStatus({ status: order.status, reason: order.failure_reason }, order);
    this.followOrder(order.id);
    // The stream may have moved on before the subscription: read it once more.
    this.refreshOrder();
    $("order").focus();
  }

  followOrder(orderId) {
    if (!this.cable) return;
    if (this.unsubscribeOrder) this.unsubscribeOrder();
    this.unsubscribeOrder = this.cable.subscribe("OrderChannel", { order_id: orderId }, (message) => {
      if (message && message.type === "order.status" && message.data) this.orderStatus(message.data);
    });
  }

  async refreshOrder() {
    if (!this.order) return;
    try {
      const found = await this.api.get(`/api/v1/orders/${this.order.id}`);
      this.orderStatus({ status: found.data.status, reason: found.data.failure_reason }, found.data);
    } catch {
      // The stream brings the next status.
    }
  }

  orderStatus(data, order = null) {
    if (!this.order || !data.status) return;
    const current = this.order.status;
    if (current && (ORDER_RANK[data.status] ?? 0) < (ORDER_RANK[current] ?? 0)) return;
    if (current === data.status && !order) return;
    this.order.status = data.status;
    if (order) this.order.data = order;
    const reference = this.order.reference;
    const children = [
      el("p", {}, "Order ", el("strong", { text: reference })),
      el(
        "p",
        { className: "kiosk-order-state" },
        el("span", {
          className: `badge ${data.status}`,
          dataset: { role: "order-status" },
          text: data.status[0].toUpperCase() + data.status.slice(1),
        }),
        " ",
        ORDER_TEXT[data.status] || "",
      ),
    ];
    const reason = data.reason || (this.order.data && this.order.data.failure_reason);
    if (reason && ["queued", "rejected", "failed"].includes(data.status)) {
      children.push(el("p", { className: "muted", text: reason }));
    }
    const total = this.order.data;
    if (total && total.subtotal_cents !== undefined) {
      children.push(
        el("p", { text: `Subtotal: ${money(total.subtotal_cents, total.currency || this.currency)}` }),
      );
    }
    $("order").dataset.status = data.status;
    $("order-status").replaceChildren(...children);
    $("cancel-order").hidden = !CANCELLABLE.has(data.status);
    $("new-order").hidden = !FINAL.has(data.status) && data.status !== "ready";
    if (FINAL.has(data.status) && this.unsubscribeOrder) {
      this.unsubscribeOrder();
      this.unsubscribeOrder = null;
    }
  }

  async cancelOrder() {
    if (!this.order) return;
    $("cancel-order").disabled = true;
    try {
      const found = await this.api.post(`/api/v1/orders/${this.order.id}/cancel`);
      this.orderStatus({ status: found.data.status, reason: found.data.failure_reason }, found.data);
    } catch (error) {
      $("order-status").append(el("p", { className: "form-error", text: error.message }));
    } finally {
      $("cancel-order").disabled = false;
    }
  }

  newOrder() {
    if (this.unsubscribeOrder) this.unsubscribeOrder();
    this.unsubscribeOrder = null;
    this.order = null;
    $("order").hidden = true;
    $("order-status").replaceChildren();
    $("search").focus();
  }
}

new KioskPage().start();
