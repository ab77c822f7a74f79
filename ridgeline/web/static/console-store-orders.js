// The store view's orders: the latest 20 with their status and total, each one's timeline on
// request, and Retry on a failed one (store managers and up).

import { el } from "./dom.js";
import { dataTable, messageOf, money, section, stateBadge, words } from "./ui.js";

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
        ["Placed", "Reference", "Status", "Total", "Why", "Timeline", ""],
        orders.map((order) => {
          const timeline = el("details", {}, el("summary", { text: "Show" }));
          timeline.addEventListener("toggle", async () => {
            if (!timeline.open || timeline.dataset.loaded) return;
            timeline.dataset.loaded = "1";
            try {
              const detail = (await api.get(`${base}/orders/${order.id}`)).data;
              timeline.append(
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
            el("td", { text: money(order.subtotal_cents, order.currency) }),
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
