// A browser client of `/cable` (ActionCable's JSON protocol): one socket, channels subscribed
// by identifier, the credential as a subprotocol (never in the URL), reconnection with backoff
// and resubscription, and a dead connection noticed after 6 s without a ping.

const PROTOCOL = "actioncable-v1-json";
const STALE_MS = 6000;

export class Cable {
  constructor(tokenSource, { onState = () => {} } = {}) {
    this.tokenSource = tokenSource;
    this.onState = onState;
    this.subscriptions = new Map(); // identifier -> {handlers, confirmed}
    this.socket = null;
    this.attempt = 0;
    this.lastSeen = 0;
    this.closed = false;
    this.watchdog = null;
    this.state = "connecting";
  }

  connect() {
    this.closed = false;
    const token = this.tokenSource();
    if (!token) {
      this.setState("unauthorized");
      return;
    }
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    this.setState("connecting");
    const socket = new WebSocket(`${scheme}://${window.location.host}/cable`, [PROTOCOL, token]);
    this.socket = socket;
    socket.onmessage = (event) => this.receive(event);
    socket.onclose = () => this.dropped(socket);
    socket.onerror = () => socket.close();
    this.lastSeen = Date.now();
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastSeen > STALE_MS && this.socket === socket) socket.close();
    }, 1000);
  }

  close() {
    this.closed = true;
    clearInterval(this.watchdog);
    if (this.socket) this.socket.close();
  }

  // handler(message, identifier); returns a function that unsubscribes. Several handlers of
  // one identifier share its one subscription (the server ignores a duplicate subscribe): it is
  // made for the first and ended with the last.
  subscribe(channel, params, handler) {
    const identifier = JSON.stringify({ channel, ...params });
    let subscription = this.subscriptions.get(identifier);
    if (!subscription) {
      subscription = { handlers: new Set(), confirmed: false };
      this.subscriptions.set(identifier, subscription);
      this.send({ command: "subscribe", identifier });
    }
    const entry = { handler };
    subscription.handlers.add(entry);
    return () => {
      const current = this.subscriptions.get(identifier);
      if (!current || !current.handlers.delete(entry) || current.handlers.size) return;
      this.subscriptions.delete(identifier);
      this.send({ command: "unsubscribe", identifier });
    };
  }

  perform(channel, params, action, data = {}) {
    const identifier = JSON.stringify({ channel, ...params });
    this.send({ command: "message", identifier, data: JSON.stringify({ action, ...data }) });
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
    }
  }

  setState(state) {
    if (this.state !== state) {
      this.state = state;
      this.onState(state);
    }
  }

  receive(event) {
    this.lastSeen = Date.now();
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    switch (frame.type) {
      case "welcome":
        this.attempt = 0;
        this.setState("connected");
        for (const identifier of this.subscriptions.keys()) {
          this.send({ command: "subscribe", identifier });
        }
        return;
      case "ping":
        return;
      case "confirm_subscription": {
        const found = this.subscriptions.get(frame.identifier);
        if (found) found.confirmed = true;
        return;
      }
      case "reject_subscription":
        this.subscriptions.delete(frame.identifier);
        return;
      case "disconnect":
        if (frame.reconnect === false) {
          this.closed = true;
          this.setState(frame.reason === "unauthorized" ? "unauthorized" : "closed");
        }
        return;
      default:
        if (frame.identifier && frame.message !== undefined) {
          const found = this.subscriptions.get(frame.identifier);
          if (found) {
            for (const entry of [...found.handlers]) entry.handler(frame.message, frame.identifier);
          }
        }
    }
  }

  dropped(socket) {
    if (this.socket !== socket) return;
    this.socket = null;
    for (const subscription of this.subscriptions.values()) subscription.confirmed = false;
    if (this.closed) {
      clearInterval(this.watchdog);
      return;
    }
    this.setState("reconnecting");
    // Full jitter, capped at 30 s: a fleet of pages never reconnects in step.
    const ceiling = Math.min(30000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    setTimeout(() => {
      if (!this.closed) this.connect();
    }, Math.random() * ceiling);
  }
}
