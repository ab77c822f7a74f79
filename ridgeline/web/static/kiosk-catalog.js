// The kiosk page's model: the store's catalog as the kiosk API gives it (every page of
// GET /api/v1/catalog), kept current by the store stream's change events, and the cart with
// its Idempotency-Key. No DOM here.

import { idempotencyKey } from "./api.js";

export const CATEGORY_NAMES = {
  flower: "Flower",
  pre_roll: "Pre-rolls",
  vape: "Vapes",
  concentrate: "Concentrates",
  edible: "Edibles",
  beverage: "Beverages",
  tincture: "Tinctures",
  topical: "Topicals",
  capsule: "Capsules",
  accessory: "Accessories",
  other: "Other",
};

export function categoryName(category) {
  return CATEGORY_NAMES[category] || category;
}

export function money(cents, currency = "USD") {
  return new Intl.NumberFormat("en-US", { style: "currency", currency }).format(cents / 100);
}

export function lowestPrice(product) {
  const prices = (product.variants || []).map((variant) => variant.price_cents);
  return prices.length ? Math.min(...prices) : null;
}

export class Catalog {
  constructor() {
    this.products = new Map(); // id -> kiosk view
    this.order = []; // ids in the API's order (featured first)
    this.cursor = null; // meta.catalog.position.cursor of the first page
    this.status = null; // meta.catalog: {last_synced_at, stale, ...}
  }

  // Every page of the catalog; the position is the first page's (read before the products).
  async load(api) {
    const products = new Map();
    const order = [];
    let cursor = null;
    let position = null;
    let status = null;
    do {
      const query = new URLSearchParams({ limit: "200" });
      if (cursor) query.set("cursor", cursor);
      const page = await api.get(`/api/v1/catalog?${query}`);
      if (position === null) {
        position = page.meta.catalog.position.cursor;
        status = page.meta.catalog;
      }
      for (const product of page.data) {
        products.set(product.id, product);
        order.push(product.id);
      }
      cursor = page.meta.next_cursor;
    } while (cursor);
    this.products = products;
    this.order = order;
    this.cursor = position;
    this.status = status;
  }

  // Applies one store stream message; returns what changed ({kind, id}) or null.
  apply(message) {
    const data = message.data || {};
    switch (message.type) {
      case "product.created":
      case "product.updated": {
        if (!data.id) return null;
        const known = this.products.has(data.id);
        this.products.set(data.id, data);
        if (!known) this.order.push(data.id);
        return { kind: known ? "updated" : "created", id: data.id };
      }
      case "product.deactivated":
        if (!data.id || !this.products.has(data.id)) return null;
        this.products.delete(data.id);
        this.order = this.order.filter((id) => id !== data.id);
        return { kind: "removed", id: data.id };
      case "inventory.changed": {
        const product = this.products.get(data.product_id);
        if (!product) return null;
        const variants = product.variants.map((variant) =>
          variant.id === data.variant_id
            ? { ...variant, quantity_available: data.quantity_available }
            : variant,
        );
        this.products.set(product.id, {
          ...product,
          variants,
          in_stock: variants.some((variant) => variant.quantity_available > 0),
        });
        return { kind: "updated", id: product.id };
      }
      case "catalog.resync":
        return { kind: "resync", id: null };
      default:
        return null;
    }
  }

  // Catches up from the cursor with GET /catalog/changes; false when a reload is needed (410).
  async catchUp(api) {
    if (!this.cursor) return false;
    const changed = [];
    for (;;) {
      let page;
      try {
        page = await api.get(`/api/v1/catalog/changes?since=${encodeURIComponent(this.cursor)}`);
      } catch (error) {
        if (error.status === 410) return false;
        throw error;
      }
      for (const change of page.data) {
        const result = this.apply(change);
        if (result && result.kind === "resync") return false;
        if (result) changed.push(result);
      }
      this.cursor = page.meta.cursor;
      if (!page.meta.has_more) return changed;
    }
  }

  categories() {
    const counts = new Map();
    for (const id of this.order) {
      const category = this.products.get(id).category;
      counts.set(category, (counts.get(category) || 0) + 1);
    }
    const known = Object.keys(CATEGORY_NAMES);
    return [...counts.entries()].sort(
      ([a], [b]) => (known.indexOf(a) + 1 || 99) - (known.indexOf(b) + 1 || 99),
    );
  }

  // The products a shopper's filters keep, in the API's order (the search is the API's `q`:
  // name, brand or any tag, case-insensitive).
  filtered({ category = null, search = "" } = {}) {
    const needle = search.trim().toLocaleLowerCase();
    const kept = [];
    for (const id of this.order) {
      const product = this.products.get(id);
      if (category && product.category !== category) continue;
      if (needle) {
        const haystack = [product.name, product.brand, ...(product.tags || [])]
          .join("\n")
          .toLocaleLowerCase();
        if (!haystack.includes(needle)) continue;
      }
      kept.push(product);
    }
    return kept;
  }
}

// The cart, and the Idempotency-Key of the order it becomes: one key per cart content, kept
// (for retries after a network error) until the order is placed or the cart changes.
export class Cart {
  constructor() {
    // {product_id, variant_id, name, variant_label, price_cents, quantity, available}, where
    // `available` is the stock last known (the catalog's, or an OUT_OF_STOCK refusal's).
    this.lines = [];
    this.key = null;
    this.keyBody = null;
  }

  get count() {
    return this.lines.reduce((sum, line) => sum + line.quantity, 0);
  }

  get subtotal() {
    return this.lines.reduce((sum, line) => sum + line.quantity * line.price_cents, 0);
  }

  find(variantId) {
    return this.lines.find((line) => line.variant_id === variantId);
  }

  add(product, variant, quantity = 1) {
    const line = this.find(variant.id);
    if (line) line.quantity = Math.min(20, line.quantity + quantity);
    else
      this.lines.push({
        product_id: product.id,
        variant_id: variant.id,
        name: product.name,
        variant_label: variant.label,
        price_cents: variant.price_cents,
        quantity,
        available: variant.quantity_available,
      });
  }

  // The lines asking for more than the store has (as last known): {line, available}.
  short() {
    return this.lines
      .filter((line) => typeof line.available === "number" && line.quantity > line.available)
      .map((line) => ({ line, available: Math.max(line.available, 0) }));
  }

  setQuantity(variantId, quantity) {
    if (quantity <= 0) this.remove(variantId);
    else {
      const line = this.find(variantId);
      if (line) line.quantity = Math.min(20, quantity);
    }
  }

  remove(variantId) {
    this.lines = this.lines.filter((line) => line.variant_id !== variantId);
  }

  clear() {
    this.lines = [];
    this.forgetKey();
  }

  forgetKey() {
    this.key = null;
    this.keyBody = null;
  }

  // The cart's lines kept in step with a product's new view: prices and stock follow (the
  // shopper sees them before ordering); returns the lines whose price changed.
  follow(product) {
    const changed = [];
    for (const line of this.lines) {
      if (line.product_id !== product.id) continue;
      const variant = product.variants.find((v) => v.id === line.variant_id);
      if (variant && variant.price_cents !== line.price_cents) {
        changed.push({ line, from: line.price_cents, to: variant.price_cents });
        line.price_cents = variant.price_cents;
      }
      if (variant) {
        line.variant_label = variant.label;
        line.available = variant.quantity_available;
      }
      line.name = product.name;
    }
    return changed;
  }

  body(customerName) {
    const body = {
      items: this.lines.map((line) => ({
        product_id: line.product_id,
        variant_id: line.variant_id,
        quantity: line.quantity,
        expected_unit_price_cents: line.price_cents,
      })),
    };
    if (customerName) body.customer_name = customerName;
    return body;
  }

  // The key for this body: the same while the cart is unchanged, a new one otherwise.
  keyFor(body) {
    const text = JSON.stringify(body);
    if (this.key === null || this.keyBody !== text) {
      this.key = idempotencyKey();
      this.keyBody = text;
    }
    return this.key;
  }
}
