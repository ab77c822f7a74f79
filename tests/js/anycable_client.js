// A kiosk front end written against `@anycable/web` with the reliable protocol
// (actioncable-v1-ext-json: session restore by sid, history by stream offsets), run in Node.
//
//   node anycable_client.js --url=ws://host:port/cable?token=rk_live_... --store-id=<uuid> \
//       [--session-recovery=off]
//
// Reports (one JSON object per line):
//   {"event":"connect","reconnect":bool,"restored":bool}  the cable is (re)connected
//   {"event":"disconnect","reason":...}                   the cable lost its connection
//   {"event":"subscribed","reconnect":bool,"restored":bool}  StoreChannel confirmed or restored
//   {"event":"message","message":...,"meta":{"stream","epoch","offset"}}
//   {"event":"info","type":"history_received"|"history_not_found"|...}
import WebSocket from "ws";
import { createCable } from "@anycable/web";

import { option, report } from "./report.js";

// No globals to shim: the client takes its WebSocket class as an option, and @anycable/web only
// touches `document`/`window` (page visibility, <meta> config) behind `typeof` checks.
const cable = createCable(option("url"), {
  websocketImplementation: WebSocket,
  protocol: "actioncable-v1-ext-json",
  protocolOptions: { disableSessionRecovery: option("session-recovery", "on") === "off" },
  // Reconnect at once: these tests are about what arrives after a reconnect, not about the
  // default back-off (3 s and more), which would only make them slow.
  reconnectStrategy: () => 100,
  // The web logger writes `info` and `debug` to stdout, which is our report channel.
  logLevel: "warn",
});

cable.on("connect", ({ reconnect, restored }) => report("connect", { reconnect, restored }));
cable.on("disconnect", (error) => report("disconnect", { reason: error && error.reason }));
cable.on("close", (error) => report("close", { reason: error && error.reason }));

const channel = cable.subscribeTo("StoreChannel", { store_id: option("store-id") });
channel.on("connect", ({ reconnect, restored }) => report("subscribed", { reconnect, restored }));
channel.on("message", (message, meta) => report("message", { message, meta: meta ?? null }));
channel.on("info", ({ type }) => report("info", { type }));
