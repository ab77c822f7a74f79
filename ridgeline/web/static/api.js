// The JSON API as the pages use it: our envelope unwrapped, errors as ApiError, and an
// operator's access and refresh tokens kept for this browser tab only (sessionStorage).
// A kiosk page authenticates with its key instead and never refreshes.

const SESSION_KEY = "ridgeline.session";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details || {};
  }

  // [{loc: [...], message}] for validation errors; [] otherwise.
  get fields() {
    return Array.isArray(this.details.fields) ? this.details.fields : [];
  }
}

export class SessionStore {
  load() {
    try {
      const raw = window.sessionStorage.getItem(SESSION_KEY);
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  }

  save(tokens) {
    window.sessionStorage.setItem(
      SESSION_KEY,
      JSON.stringify({
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        access_token_expires_at: tokens.access_token_expires_at,
      }),
    );
  }

  clear() {
    window.sessionStorage.removeItem(SESSION_KEY);
  }
}

export class Api {
  // credential: {kind: "operator", store: SessionStore} or {kind: "kiosk", key}.
  constructor(credential, { onSignedOut = () => {} } = {}) {
    this.credential = credential;
    this.onSignedOut = onSignedOut;
    this.refreshing = null;
  }

  static forOperator(options) {
    return new Api({ kind: "operator", store: new SessionStore() }, options);
  }

  static forKiosk(key, options) {
    return new Api({ kind: "kiosk", key }, options);
  }

  // The bearer credential /cable takes as a subprotocol (never in a URL).
  token() {
    if (this.credential.kind === "kiosk") return this.credential.key;
    const session = this.credential.store.load();
    return session ? session.access_token : null;
  }

  signedIn() {
    return this.token() !== null;
  }

  async signIn(email, password) {
    const tokens = await this.call("POST", "/api/v1/auth/token", {
      body: { email, password },
      anonymous: true,
    });
    this.credential.store.save(tokens.data);
    return tokens.data;
  }

  async signOut() {
    const session = this.credential.store.load();
    this.credential.store.clear();
    if (session) {
      try {
        await this.call("POST", "/api/v1/auth/revoke", {
          body: { refresh_token: session.refresh_token },
          anonymous: true,
        });
      } catch {
        // Signed out here either way; the refresh token expires on its own.
      }
    }
    this.onSignedOut();
  }

  async get(path, options = {}) {
    return this.call("GET", path, options);
  }

  async post(path, body, options = {}) {
    return this.call("POST", path, { ...options, body });
  }

  async put(path, body, options = {}) {
    return this.call("PUT", path, { ...options, body });
  }

  async patch(path, body, options = {}) {
    return this.call("PATCH", path, { ...options, body });
  }

  async delete(path, options = {}) {
    return this.call("DELETE", path, options);
  }

  // The whole body ({status, data, meta}); `null` for 204. Throws ApiError.
  async call(method, path, { body, headers = {}, anonymous = false, retried = false } = {}) {
    const sent = { Accept: "application/json", ...headers };
    if (body !== undefined) sent["Content-Type"] = "application/json";
    const token = anonymous ? null : this.token();
    if (token) sent.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: sent,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (error) {
      throw new ApiError(0, "NETWORK_ERROR", "The server could not be reached.", {
        cause: String(error),
      });
    }
    if (response.status === 204) return null;
    let parsed = null;
    try {
      parsed = await response.json();
    } catch {
      parsed = null;
    }
    if (response.ok) return parsed;
    const error = parsed && parsed.error ? parsed.error : {};
    const failure = new ApiError(
      response.status,
      error.code || `HTTP_${response.status}`,
      error.message || response.statusText || "The request failed.",
      error.details,
    );
    if (
      response.status === 401 &&
      !anonymous &&
      !retried &&
      this.credential.kind === "operator" &&
      (await this.refresh())
    ) {
      return this.call(method, path, { body, headers, anonymous, retried: true });
    }
    if (response.status === 401 && !anonymous && this.credential.kind === "operator") {
      this.credential.store.clear();
      this.onSignedOut();
    }
    throw failure;
  }

  // One refresh at a time, whatever the number of requests that found the token expired.
  async refresh() {
    if (!this.refreshing) {
      this.refreshing = this.refreshOnce().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  async refreshOnce() {
    const session = this.credential.store.load();
    if (!session) return false;
    try {
      const tokens = await this.call("POST", "/api/v1/auth/refresh", {
        body: { refresh_token: session.refresh_token },
        anonymous: true,
      });
      this.credential.store.save(tokens.data);
      return true;
    } catch {
      return false;
    }
  }
}

// A new Idempotency-Key for one order (kept by the caller until the order is placed).
export function idempotencyKey() {
  return crypto.randomUUID();
}
