// The detail page: one error group, its traceback and its newest occurrences.
"use strict";

(() => {
  const { h, api, timeEl, stateBox } = UI;
  const errorId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
  const errorPath = `api/errors/${encodeURIComponent(errorId)}`;

  const backLink = () => h("a", { class: "back", href: UI.listUrl(), text: "← All errors" });

  async function load() {
    UI.mount(backLink(), stateBox("loading", "Loading error…"));
    let error;
    try {
      error = await api(errorPath);
    } catch (err) {
      if (err instanceof UI.ApiError && err.status === 404) {
        showNotFound();
        return;
      }
      throw err;
    }
    render(error);
  }

  function showNotFound() {
    document.title = "Error not found · Monlight Error Tracker";
    UI.mount(backLink(), stateBox("empty", "Error not found",
      `There is no error “${errorId}”. It may have been resolved and removed by retention.`,
      h("a", { class: "btn", href: UI.listUrl(), text: "Back to the list" })));
  }

  function fact(label, ...value) {
    return h("div", { class: "fact" }, h("dt", { text: label }), h("dd", {}, value));
  }

  function render(error) {
    document.title = `${error.exception_type} · Monlight Error Tracker`;
    const status = h("span", { id: "status" }, UI.statusBadge(error.resolved, error.regressed_at));
    const actions = h("div", { class: "actions", id: "actions" });
    showActions(error, actions, status);

    const occurrences = error.occurrences || [];
    UI.mount(
      backLink(),
      h("section", { class: "card detail-head", "aria-labelledby": "error-type" },
        h("div", { class: "title-row" },
          h("h1", { class: "error-type", id: "error-type", text: error.exception_type }),
          UI.sourceBadge(error.source), status),
        h("p", { class: "error-message", id: "error-message" },
          error.message || h("span", { class: "muted", text: "(no message)" })),
        error.culprit
          ? h("p", { class: "culprit-line" }, "Raised in ",
            h("code", { class: "culprit", id: "culprit", text: error.culprit }))
          : null,
        h("div", { class: "head-foot" },
          h("dl", { class: "facts" },
            fact("Project", h("span", { class: "project", text: error.project })),
            fact("Events", h("span", { id: "count", text: error.count.toLocaleString("en-US") })),
            fact("First seen", timeEl(error.first_seen)),
            fact("Last seen", timeEl(error.last_seen)),
            fact("Fingerprint", h("code", { class: "fingerprint", title: error.fingerprint,
              text: (error.fingerprint || "").slice(0, 12) }))),
          actions)),
      h("section", { class: "card", "aria-labelledby": "tb-title" },
        h("h2", { id: "tb-title", text: "Traceback" }),
        tracebackBlock(error.traceback, "traceback", error.exception_type,
          error.traceback_frames)),
      h("section", { class: "occurrences", "aria-labelledby": "occ-title" },
        h("h2", { id: "occ-title" }, "Occurrences ",
          h("span", { class: "muted count-note", text: occurrences.length < error.count
            ? `latest ${occurrences.length} of ${error.count.toLocaleString("en-US")}`
            : UI.plural(occurrences.length, "event") })),
        occurrences.length
          ? occurrences.map((o) => occurrence(o, error.traceback))
          : h("p", { class: "muted", text: "No occurrences are kept for this error." })));
    showCulprit(document.getElementById("traceback"));
  }

  function showActions(error, actions, status) {
    if (error.resolved) {
      actions.replaceChildren(resolvedNote(error.resolved_at));
      return;
    }
    const button = h("button", { type: "button", class: "btn btn-primary", id: "resolve",
      text: "Mark as resolved" });
    const problem = h("p", { class: "alert alert-error", role: "alert", hidden: true });
    button.addEventListener("click", async () => {
      button.disabled = true;
      button.textContent = "Resolving…";
      problem.hidden = true;
      try {
        await api(`${errorPath}/resolve`, { method: "POST" });
      } catch (err) {
        if (err instanceof UI.AuthError) { UI.handleError(err); return; }
        button.disabled = false;
        button.textContent = "Mark as resolved";
        problem.textContent = `Could not resolve: ${err.message}`;
        problem.hidden = false;
        return;
      }
      status.replaceChildren(UI.statusBadge(true));
      actions.replaceChildren(resolvedNote(new Date().toISOString().replace(/\.\d+Z$/, "Z")));
    });
    actions.replaceChildren(button, problem);
  }

  function resolvedNote(resolvedAt) {
    return h("p", { class: "resolved-note", id: "resolved-note" },
      h("span", { class: "check", "aria-hidden": "true", text: "✓" }), "Resolved ",
      timeEl(resolvedAt),
      h("span", { class: "muted", text: " · reopens if it happens again" }));
  }

  /** `starlette`, `@sentry/browser`: the package a library frame's line names, if any. */
  function packageOf(line) {
    const m = /(?:site|dist)-packages[\\/]([^\\/"]+)|node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(line);
    return m ? (m[1] || m[2]).replace(/\.py$/, "") : null;
  }

  /**
   * Monospace traceback. With `frames` (the detail API's `traceback_frames`), the
   * app's frames are highlighted, the culprit marked, and each run of library
   * frames folded behind one line that names their packages: a FastAPI error
   * opens on its own frame, not on sixty lines of framework.
   */
  function tracebackBlock(text, id, exceptionType, frames) {
    if (!text) return h("p", { class: "muted", text: "No traceback was sent." });
    const lines = text.split("\n");
    let n = lines.length;
    while (n > 0 && !lines[n - 1].trim()) n--;
    const head = exceptionType ? `${exceptionType}:` : null;
    const isError = (line, i) => i === n - 1 || (head !== null && line.startsWith(head));
    const line = (i, frameLine) => {
      const text = lines[i];
      const isFrame = frameLine ?? /^\s*(File "|at |\S*@\S+:\d+)/.test(text);
      const cls = isFrame ? "tb-frame" : isError(text, i) ? "tb-error" : null;
      return h("div", { class: cls ? `tb-line ${cls}` : "tb-line", text: text || " " });
    };
    const spans = (frames || []).filter((f) => f.start < n);
    const frameLines = (f) => {
      const out = [];
      for (let i = f.start; i < Math.min(f.end, n); i++) out.push(line(i, i === f.start));
      return out;
    };
    const out = [];
    let i = 0;
    let k = 0;
    while (i < n) {
      const f = spans[k];
      if (!f || i < f.start) {
        out.push(line(i));
        i++;
        continue;
      }
      if (f.in_app) {
        out.push(h("div", { class: f.culprit ? "tb-app tb-culprit" : "tb-app",
          id: f.culprit && id ? `${id}-culprit` : null }, frameLines(f)));
        i = Math.max(f.end, i + 1);
        k++;
        continue;
      }
      const run = [f];  // library frames next to each other fold together
      while (spans[k + run.length] && !spans[k + run.length].in_app
        && spans[k + run.length].start === run[run.length - 1].end) run.push(spans[k + run.length]);
      const packages = [...new Set(run.map((r) => packageOf(lines[r.start])).filter(Boolean))];
      const label = `${UI.plural(run.length, "library frame")}`
        + (packages.length ? ` · ${packages.slice(0, 4).join(", ")}${packages.length > 4 ? ", …" : ""}` : "");
      out.push(h("details", { class: "tb-lib" }, h("summary", { text: label }),
        run.map(frameLines)));
      i = Math.max(run[run.length - 1].end, i + 1);
      k += run.length;
    }
    return h("div", { class: "traceback", id, role: "region", "aria-label": "Traceback" },
      h("code", {}, out));
  }

  /** Scrolls the traceback box (not the page) so the culprit frame shows. */
  function showCulprit(box) {
    const culprit = box && box.querySelector(".tb-culprit");
    if (!culprit) return;
    const bottom = culprit.offsetTop + culprit.offsetHeight;
    if (bottom > box.scrollTop + box.clientHeight) {
      box.scrollTop = Math.max(0, culprit.offsetTop - box.clientHeight / 3);
    }
  }

  function occurrence(o, mainTraceback) {
    return h("article", { class: "card occurrence" },
      h("header", { class: "occ-head" },
        o.request_method ? h("span", { class: "badge method", text: o.request_method }) : null,
        o.request_url
          ? h("span", { class: "occ-url", title: o.request_url, text: o.request_url })
          : h("span", { class: "muted", text: "no request URL" }),
        h("span", { class: "occ-time" }, timeEl(o.timestamp))),
      h("p", { class: "occ-meta" }, "User ",
        o.user_id ? h("span", { class: "mono", text: o.user_id }) : "anonymous",
        " · at ", h("span", { class: "mono", text: o.timestamp })),
      h("div", { class: "kv-grid" },
        kvSection("Request headers", o.request_headers),
        kvSection("Extra", o.extra)),
      o.traceback && o.traceback !== mainTraceback
        ? h("details", { class: "occ-tb" }, h("summary", { text: "Traceback of this occurrence" }),
          tracebackBlock(o.traceback, null, null))
        : null);
  }

  const display = (value) => (typeof value === "string" ? value : JSON.stringify(value));

  /** Key/value pairs as a table; anything that is not an object is shown as it is. */
  function kvSection(title, value) {
    let body;
    const isObject = value && typeof value === "object" && !Array.isArray(value);
    if (value === null || value === undefined || (isObject && !Object.keys(value).length)) {
      body = h("p", { class: "muted", text: "None" });
    } else if (isObject) {
      body = h("table", { class: "kv" }, h("tbody", {}, Object.entries(value).map(([k, v]) =>
        h("tr", {}, h("th", { scope: "row", text: k }), h("td", { text: display(v) })))));
    } else {
      body = h("pre", { class: "kv-raw", text: display(value) });
    }
    return h("div", { class: "kv-section" }, h("h3", { text: title }), body);
  }

  UI.start(load, { errorTitle: "Could not load errors" });
})();
