// The SDK page: a Sentry DSN per project, to paste into any Sentry SDK.
"use strict";

(() => {
  const { h, api, timeEl, stateBox } = UI;

  async function load() {
    const data = await api("api/dsn");
    render(data.dsns || []);
  }

  function copyButton(text) {
    const button = h("button", { type: "button", class: "btn btn-quiet copy", text: "Copy" });
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Select and copy";
      }
    });
    return button;
  }

  function render(dsns) {
    document.title = "SDKs · Monlight Error Tracker";
    const input = h("input", {
      type: "text", id: "dsn-project", name: "project", placeholder: "Project, e.g. shop",
      required: true, maxlength: "100", autocomplete: "off", "aria-label": "Project",
    });
    const problem = h("p", { class: "alert alert-error", role: "alert", id: "dsn-error", hidden: true });
    const form = h("form", { class: "dsn-form", id: "dsn-form" }, input,
      h("button", { type: "submit", class: "btn btn-primary", text: "Make a DSN" }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const project = input.value.trim();
      if (!project) return;
      try {
        await api("api/dsn", { method: "POST", json: { project } });
      } catch (err) {
        if (err instanceof UI.AuthError) { UI.handleError(err); return; }
        problem.textContent = `Could not make a DSN: ${err.message}`;
        problem.hidden = false;
        return;
      }
      await load();
    });
    const active = dsns.filter((d) => d.active);
    UI.mount(
      h("a", { class: "back", href: UI.listUrl(), text: "← All errors" }),
      h("section", { class: "card", "aria-labelledby": "sdk-title" },
        h("h1", { id: "sdk-title", text: "Report from any Sentry SDK" }),
        h("p", { class: "muted", text: "Give a project's DSN to its Sentry SDK (Python, Node, "
          + "Go, Ruby, PHP, Java, .NET…) in place of Sentry's: its errors land here, grouped "
          + "like every other report." }),
        h("pre", { class: "kv-raw" }, 'sentry_sdk.init(dsn="<DSN>")        # Python\n'
          + 'Sentry.init({ dsn: "<DSN>" });      // Node'),
        form, problem),
      active.length
        ? h("section", { class: "card" }, h("table", { class: "kv dsn-table", id: "dsns" },
          h("thead", {}, h("tr", {}, ["Project", "DSN", "Made", ""].map((t) => h("th", { text: t })))),
          h("tbody", {}, active.map((d) => h("tr", { class: "dsn-row" },
            h("td", { class: "project", text: d.project }),
            h("td", {}, h("code", { class: "dsn", text: d.dsn })),
            h("td", {}, timeEl(d.created_at)),
            h("td", {}, copyButton(d.dsn)))))))
        : stateBox("empty", "No DSN yet", "Make one for a project above."));
  }

  UI.start(load, { errorTitle: "Could not load the DSNs" });
})();
