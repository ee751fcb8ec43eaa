// What every Monlight web UI shares: the API key (prompt, localStorage, 401 → ask
// again), API calls, DOM building and relative times. A page describes itself on
// <html>: data-root (relative path to the service root), data-service (its name, as
// shown to people), data-key-store (the localStorage name of its key) and
// data-key-var / data-stack-key-env (its key's variable, alone and in compose).
// Everything that came from users is put on the page as text (textContent /
// createTextNode), never as markup.
"use strict";

const UI = (() => {
  const DOC = document.documentElement.dataset;
  const ROOT = DOC.root || "./";
  const SERVICE = DOC.service || "service";
  const KEY_VAR = DOC.keyVar || "API_KEY";
  const STACK_KEY_ENV = DOC.stackKeyEnv || "";
  const KEY_STORE = DOC.keyStore || "monlight.api_key";

  // ---- DOM -----------------------------------------------------------------

  /** Build an element. `props`: class, text, on{event: fn}, dataset, or any attribute. */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") el.className = value;
      else if (name === "text") el.textContent = String(value);
      else if (name === "on") {
        for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
      } else if (name === "dataset") Object.assign(el.dataset, value);
      else if (value === true) el.setAttribute(name, "");
      else el.setAttribute(name, String(value));
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  /** Replace the page body (the part under the top bar). */
  function mount(...children) {
    const app = document.getElementById("app");
    app.replaceChildren();
    append(app, children);
    return app;
  }

  /** A page-level message: loading, empty, not found, failure. */
  function stateBox(kind, title, detail, ...actions) {
    return h("div", { class: `state-box state-${kind}`, role: kind === "error" ? "alert" : null },
      h("p", { class: "state-title", text: title }),
      detail ? h("p", { class: "state-detail", text: detail }) : null,
      actions.length ? h("div", { class: "state-actions" }, actions) : null);
  }

  // ---- time ----------------------------------------------------------------

  function relativeTime(iso, now = Date.now()) {
    const then = Date.parse(iso);
    if (Number.isNaN(then)) return iso || "—";
    const seconds = Math.round((now - then) / 1000);
    if (seconds < 45) return "just now";
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return `${minutes} min ago`;
    const hours = Math.round(minutes / 60);
    if (hours < 24) return `${hours} h ago`;
    const days = Math.round(hours / 24);
    if (days < 30) return days === 1 ? "yesterday" : `${days} days ago`;
    return iso.slice(0, 10);
  }

  /** A <time> showing "5 min ago", with the exact ISO time as its tooltip. */
  function timeEl(iso) {
    if (!iso) return h("span", { class: "muted", text: "—" });
    return h("time", { datetime: iso, title: iso, class: "rel-time", text: relativeTime(iso) });
  }

  // Keep "5 min ago" true while the page stays open.
  setInterval(() => {
    for (const el of document.querySelectorAll("time.rel-time")) {
      el.textContent = relativeTime(el.getAttribute("datetime"));
    }
  }, 30000);

  // ---- the API key -----------------------------------------------------------

  let memoryKey = "";

  function getKey() {
    try { return localStorage.getItem(KEY_STORE) || ""; } catch { return ""; }
  }

  function setKey(key) {
    try { localStorage.setItem(KEY_STORE, key); } catch { /* private mode: key lives in memory */ }
    memoryKey = key;
    syncKeyButton();
  }

  function clearKey() {
    try { localStorage.removeItem(KEY_STORE); } catch { /* nothing stored */ }
    memoryKey = "";
    syncKeyButton();
  }

  const currentKey = () => getKey() || memoryKey;

  function syncKeyButton() {
    const button = document.getElementById("forget-key");
    if (button) button.hidden = !currentKey();
  }

  /** Ask for the key; `onSaved` runs once one was entered. */
  function promptForKey(message, onSaved) {
    document.title = `API key · Monlight ${SERVICE}`;
    const input = h("input", {
      type: "password", id: "api-key", name: "api-key", autocomplete: "off",
      spellcheck: "false", required: true, placeholder: "API key",
    });
    const form = h("form", { class: "key-card", id: "key-form" },
      h("h1", { text: "Enter your API key" }),
      h("p", { class: "muted", text:
        `The ${SERVICE}'s ${KEY_VAR}. It is kept in this browser only and sent with `
        + "each request as X-API-Key." }),
      h("p", { class: "muted key-where", id: "key-where" },
        "Where to find it: ", h("code", { text: "make run" }),
        " prints it at start and keeps it in ", h("code", { text: "data/dev-keys.env" }),
        " (", h("code", { text: "MONLIGHT_API_KEY" }), ")",
        STACK_KEY_ENV ? ["; with Docker it is ", h("code", { text: STACK_KEY_ENV }),
          " in ", h("code", { text: "deploy/secrets.env" })] : null,
        "."),
      message ? h("p", { class: "alert alert-error", role: "alert", id: "key-error", text: message })
        : null,
      h("label", { for: "api-key", class: "sr-only", text: "API key" }),
      h("div", { class: "key-row" }, input,
        h("button", { type: "submit", class: "btn btn-primary", text: "Save key" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      setKey(key);
      onSaved();
    });
    mount(form);
    input.focus();
  }

  // ---- API calls -------------------------------------------------------------

  class AuthError extends Error {}

  /** A failed call: `detail` is the API's own message, `message` adds the status. */
  class ApiError extends Error {
    constructor(status, detail) {
      super(status ? `${detail} (HTTP ${status})` : detail);
      this.status = status;
      this.detail = detail;
    }
  }

  function apiUrl(path, params) {
    const url = new URL(ROOT + path.replace(/^\//, ""), location.href);
    for (const [name, value] of Object.entries(params || {})) {
      if (value !== "" && value !== null && value !== undefined) url.searchParams.set(name, value);
    }
    return url;
  }

  /** Call the API with the stored key. A 401 forgets the key and throws AuthError. */
  async function api(path, { method = "GET", params, json } = {}) {
    const key = currentKey();
    if (!key) throw new AuthError("");
    const headers = { "X-API-Key": key, Accept: "application/json" };
    if (json !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(apiUrl(path, params), {
        method, cache: "no-store", headers,
        body: json === undefined ? undefined : JSON.stringify(json),
      });
    } catch {
      throw new ApiError(0, `Could not reach the ${SERVICE}. Is it running?`);
    }
    if (response.status === 401) {
      clearKey();
      throw new AuthError("That API key was rejected (401 Invalid API key). Enter the right key.");
    }
    let body = null;
    try { body = await response.json(); } catch { /* not JSON: use the status below */ }
    if (!response.ok) {
      const detail = body && typeof body.detail === "string" ? body.detail : response.statusText;
      throw new ApiError(response.status, detail || "Request failed");
    }
    return body;
  }

  let runPage = () => location.reload();
  let failureTitle = "Could not load";

  /**
   * Run a page: ask for the key first if there is none, and again whenever the
   * API rejects it; show any other failure with a Retry button.
   */
  function start(load, { errorTitle = "Could not load" } = {}) {
    failureTitle = errorTitle;
    runPage = () => {
      if (!currentKey()) { promptForKey("", runPage); return; }
      syncKeyButton();
      Promise.resolve().then(load).catch((err) => handleError(err));
    };
    const button = document.getElementById("forget-key");
    if (button) {
      button.addEventListener("click", () => {
        clearKey();
        promptForKey("Key forgotten. Enter a key to continue.", runPage);
      });
    }
    runPage();
  }

  /**
   * Show a failure: a rejected key brings the prompt back; anything else is shown
   * in `where` (default: the whole page) with a Retry button.
   */
  function handleError(err, { where = null, retry = null, title = null } = {}) {
    if (err instanceof AuthError) { promptForKey(err.message, runPage); return; }
    console.error(err);
    const box = stateBox("error", title || failureTitle, err.message || String(err),
      h("button", { type: "button", class: "btn", text: "Retry",
        on: { click: () => (retry || runPage)() } }));
    if (where) where.replaceChildren(box); else mount(box);
  }

  function plural(n, word) { return `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`; }

  return {
    ROOT, SERVICE, h, append, mount, stateBox, relativeTime, timeEl, api, start, handleError,
    AuthError, ApiError, plural, syncKeyButton, currentKey,
  };
})();
