// What both Error Tracker pages add to the shared UI (shared/static/ui.js): the
// source and status badges, and links between the list and an error.
"use strict";

(() => {
  const { h, ROOT } = UI;
  const LIST_URL_STORE = "monlight.error_tracker.list_url";

  const sourceBadge = (source) => h("span", {
    class: `badge badge-${source === "browser" ? "browser" : "server"}`,
    text: source === "browser" ? "Browser" : "Server",
  });

  /** Resolved, Unresolved, or Regressed: unresolved again after it had been resolved. */
  const statusBadge = (resolved, regressedAt) => {
    const regressed = !resolved && Boolean(regressedAt);
    return h("span", {
      class: `badge status ${resolved ? "status-resolved" : regressed ? "status-regressed" : "status-open"}`,
      text: resolved ? "Resolved" : regressed ? "Regressed" : "Unresolved",
      title: regressed ? `Resolved before; came back ${regressedAt}` : null,
    });
  };

  function errorUrl(id) { return `${ROOT}errors/${encodeURIComponent(id)}`; }

  /** Keep the list's filters, so "All errors" on a detail page returns to them. */
  function rememberListUrl() {
    try { sessionStorage.setItem(LIST_URL_STORE, location.search); } catch { /* optional */ }
  }

  function listUrl() {
    let search = "";
    try { search = sessionStorage.getItem(LIST_URL_STORE) || ""; } catch { /* optional */ }
    return ROOT + search;
  }

  Object.assign(UI, { sourceBadge, statusBadge, errorUrl, rememberListUrl, listUrl });
})();
