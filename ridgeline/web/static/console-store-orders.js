// The store view's orders: the latest 20 with their status and total, each one's details on
// request (its figures: taxes, our total beside the POS's, the purchase limits it used; and its
// timeline), and Retry on a failed one (store managers and up).

import { el } from "./dom.js";
import { dataTable, messageOf, money, section, stateBadge, words } from "./ui.js";

// What the order was taken with (docs/compliance.md#order-figures-for-operators); nothing for
// an order taken before taxes were computed.
function orderFigures(detail) {
  if (detail.total_cents === null || detail.total_cents === undefined) return [];
  const cur = detail.currency;
  const rows = [["Subtotal", money(detail.subtotal_cents, cur)]];
  for (const tax of detail.taxes) {
    const rate = tax.basis === "price" ? `${tax.rate} %` : `${tax.rate}\u00a2/${tax.unit}`;
    rows.push([`${tax.name} (${rate})`, money(tax.amount_cents, cur)]);
  }
  rows.push(["Total (shown to the shopper)", money(detail.total_cents, cur)]);
  if (detail.pos_total_cents !== null) {
    rows.push(["POS total", money(detail.pos_total_cents, cur)]);
    const diff = detail.pos_total_difference_cents;
    rows.push(["Difference (POS \u2212 ours)", diff === 0 ? "none" : money(diff, cur)]);
  }
  const parts = [
    el(
      "dl",
      { class: "figures", "data-figures": "taxes" },
      rows.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: value })]),
    ),
  ];
  const limits = detail.limits;
  if (limits) {
    parts.push(
      el(
        "ul",
        { class: "figures", "data-figures": "limits" },
        limits.categories.map((limit) =>
          el("li", {
            text: `${words(limit.category)}: ${limit.used} of ${limit.limit} ${limit.unit} (${words(limit.period)}, ${words(limits.customer_type)})`,
          }),
        ),
      ),
    );
  }
  return parts;
}

// The section and its `refresh()`; `later(fn, ms)` runs fn after ms unless the view was left.
export function storeOrders({ api, ctx, base, isAlive, later }) {
  const { fmt } = ctx;
  const canManage = ctx.can("store_manager");
  const ordersBody = el("div");

  async function refreshOrders() {
    let orders;
    try {
      orders = (await api.get(`${base}/orders?limit=20`)).data;
    } catch (error) {
      ordersBody.replaceChildren(el("p", { class: "notice bad", text: messageOf(error) }));
      return;
    }
    if (!isAlive()) return;
    ordersBody.replaceChildren(
      dataTable(
        "Orders",
        ["Placed", "Reference", "Status", "Total", "Why", "Details", ""],
        orders.map((order) => {
          const timeline = el("details", {}, el("summary", { text: "Show" }));
          timeline.addEventListener("toggle", async () => {
            if (!timeline.open || timeline.dataset.loaded) return;
            timeline.dataset.loaded = "1";
            try {
              const detail = (await api.get(`${base}/orders/${order.id}`)).data;
              timeline.append(
                ...orderFigures(detail),
                el(
                  "ol",
                  { class: "timeline" },
                  detail.transitions.map((t) =>
                    el("li", {
                      text: `${fmt.time(t.at)}: ${words(t.from_status || "new")} \u2192 ${words(t.to_status)} (${t.source})${t.reason ? `, ${t.reason}` : ""}`,
                    }),
                  ),
                ),
              );
            } catch (error) {
              timeline.append(el("p", { class: "notice bad", text: messageOf(error) }));
            }
          });
          const retryCell = el("td");
          if (order.status === "failed" && canManage) {
            const retry = el("button", {
              type: "button",
              class: "secondary",
              text: "Retry",
              "aria-label": `Retry order ${order.reference}`,
            });
            const out = el("span", { role: "status" });
            retry.addEventListener("click", async () => {
              retry.disabled = true;
              try {
                const detail = (await api.post(`${base}/orders/${order.id}/retry`)).data;
                out.textContent = ` Now ${words(detail.status)}.`;
                later(refreshOrders, 2000);
              } catch (error) {
                out.textContent = ` ${messageOf(error)}`;
                retry.disabled = false;
              }
            });
            retryCell.append(retry, out);
          }
          return el(
            "tr",
            { "data-order": order.id },
            el("td", { text: fmt.time(order.created_at) }),
            el("td", { text: order.reference }),
            el("td", {}, stateBadge(order.status)),
            el("td", { text: money(order.total_cents ?? order.subtotal_cents, order.currency) }),
            el("td", { text: order.failure_reason || "" }),
            el("td", {}, timeline),
            retryCell,
          );
        }),
        "No order yet.",
      ),
    );
  }

  return { section: section("store-orders", "Orders", ordersBody), refresh: refreshOrders };
}
