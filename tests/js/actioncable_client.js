// A kiosk front end written against Rails' own client, `@rails/actioncable`, run in Node.
//
//   node actioncable_client.js --url=ws://host:port/cable?token=rk_live_... --store-id=<uuid>
//
// Reports (one JSON object per line): {"event":"connected","protocol":...} once StoreChannel is
// confirmed, {"event":"received","message":...} for each broadcast, {"event":"disconnected"},
// {"event":"rejected"}.
import WebSocket from "ws";
import { adapters, createConsumer } from "@rails/actioncable";

import { option, report } from "./report.js";

// The client is written for browsers. What it touches in Node, and the least that stands in:
// - WebSocket: read from `adapters.WebSocket`, which the package captures from the global
//   `WebSocket` when it is loaded (Node 20 has none); `ws` speaks the same API (including the
//   enumerable CONNECTING/OPEN/... constants its getState() walks).
// - addEventListener/removeEventListener: ConnectionMonitor.start()/stop() call the global ones
//   for "visibilitychange"; a headless process never changes visibility, so they do nothing.
// - document: only read to resolve a relative URL or a <meta> config tag; an absolute ws:// URL
//   and an explicit createConsumer(url) never reach it, so there is no `document` shim.
adapters.WebSocket = WebSocket;
globalThis.addEventListener ??= () => {};
globalThis.removeEventListener ??= () => {};

const consumer = createConsumer(option("url"));
consumer.subscriptions.create(
  { channel: "StoreChannel", store_id: option("store-id") },
  {
    connected() {
      report("connected", { protocol: consumer.connection.getProtocol() });
    },
    disconnected() {
      report("disconnected");
    },
    rejected() {
      report("rejected");
    },
    received(message) {
      report("received", { message });
    },
  },
);
