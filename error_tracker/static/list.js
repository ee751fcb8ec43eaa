// The list page: filters and pagination kept in the URL, one API call per change.
"use strict";

(() => {
  const { h, api, timeEl, stateBox } = UI;
  const PAGE_SIZE = 50;
  const MESSAGE_CHARS = 160;

  /** The filters as the URL has them (so reload, back and shared links keep them). */
  function readState() {
    const q = new URLSearchParams(location.search);
    const count = (value, fallback) => {
      const n = Number.parseInt(value ?? "", 10);
      return Number.isFinite(n) && n >= 0 ? n : fallback;
    };
    const oneOf = (value, allowed, fallback) => (allowed.includes(value) ? value : fallback);
    return {
      project: q.get("project") || "",
      resolved: oneOf(q.get("resolved"), ["false", "regressed", "true", "all"], "false"),
      source: oneOf(q.get("source"), ["browser", "server"], ""),
      search: q.get("search") || "",
      offset: count(q.get("offset"), 0),
      limit: Math.min(count(q.get("limit"), PAGE_SIZE) || PAGE_SIZE, 200),
    };
  }

  function writeState(state) {
    const q = new URLSearchParams();
    if (state.project) q.set("project", state.project);
    if (state.resolved !== "false") q.set("resolved", state.resolved);
    if (state.source) q.set("source", state.source);
    if (state.search) q.set("search", state.search);
    if (state.offset) q.set("offset", String(state.offset));
    if (state.limit !== PAGE_SIZE) q.set("limit", String(state.limit));
    const query = q.toString();
    history.replaceState(null, "", query ? `?${query}` : location.pathname);
    UI.rememberListUrl();
  }

  const filtered = (s) => Boolean(s.project || s.search || s.source || s.resolved !== "false");

  let state = readState();
  let sequence = 0; // only the newest request may render
  let view = null;

  function select(id, label, options, value) {
    return h("select", { id, name: id, "aria-label": label },
      options.map(([v, text]) => h("option", { value: v, text, selected: v === value })));
  }

  function buildPage() {
    const search = h("input", {
      type: "search", id: "f-search", name: "search", placeholder: "Search type or message…",
      "aria-label": "Search type or message", autocomplete: "off", spellcheck: "false",
    });
    search.value = state.search;
    const project = select("f-project", "Project", [["", "All projects"]], "");
    if (state.project) {
      project.append(h("option", { value: state.project, text: state.project }));
      project.value = state.project;
    }
    const resolved = select("f-resolved", "Status",
      [["false", "Unresolved"], ["regressed", "Regressed"], ["true", "Resolved"],
        ["all", "Any status"]], state.resolved);
    const source = select("f-source", "Source",
      [["", "All sources"], ["server", "Server"], ["browser", "Browser"]], state.source);
    const refresh = h("button", { type: "button", class: "btn", id: "refresh", text: "Refresh" });
    const form = h("form", { class: "filters", role: "search" },
      h("div", { class: "filter-search" }, search), project, resolved, source, refresh);

    const summary = h("p", { class: "summary", id: "summary", "aria-live": "polite" });
    const prev = h("button", { type: "button", class: "btn", id: "prev", text: "‹ Prev" });
    const next = h("button", { type: "button", class: "btn", id: "next", text: "Next ›" });
    const results = h("div", { class: "results", id: "results" });

    UI.mount(
      h("div", { class: "page-head" }, h("h1", { text: "Errors" }),
        h("a", { class: "btn btn-quiet", id: "sdk-link", href: `${UI.ROOT}sdks`,
          text: "Sentry SDKs" }), form),
      h("div", { class: "results-bar" }, summary, h("div", { class: "pager" }, prev, next)),
      results);

    const changed = (name, value) => {
      state = { ...state, [name]: value, offset: 0 };
      reload();
    };
    let debounce = 0;
    search.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => changed("search", search.value.trim()), 300);
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearTimeout(debounce);
      changed("search", search.value.trim());
    });
    project.addEventListener("change", () => changed("project", project.value));
    resolved.addEventListener("change", () => changed("resolved", resolved.value));
    source.addEventListener("change", () => changed("source", source.value));
    refresh.addEventListener("click", () => reload());
    prev.addEventListener("click", () => goTo(state.offset - state.limit));
    next.addEventListener("click", () => goTo(state.offset + state.limit));
    return { search, project, resolved, source, summary, prev, next, results };
  }

  function goTo(offset) {
    state = { ...state, offset: Math.max(0, offset) };
    reload().then(() => view && view.results.scrollIntoView({ block: "nearest" }));
  }

  function fillProjects(projects) {
    const select = view.project;
    const chosen = state.project;
    select.replaceChildren(h("option", { value: "", text: "All projects" }));
    const names = chosen && !projects.includes(chosen) ? [...projects, chosen] : projects;
    for (const name of names) select.append(h("option", { value: name, text: name }));
    select.value = chosen;
  }

  async function load() {
    const mine = ++sequence;
    writeState(state);
    view.results.setAttribute("aria-busy", "true");
    view.results.classList.add("is-loading");
    if (!view.results.firstChild) view.results.append(stateBox("loading", "Loading errors…"));
    const data = await api("api/errors", {
      params: {
        project: state.project,
        // "Regressed" is an unresolved group that came back: its own status filter.
        resolved: state.resolved === "regressed" ? "false" : state.resolved,
        status: state.resolved === "regressed" ? "regressed" : "",
        source: state.source,
        search: state.search, limit: state.limit, offset: state.offset,
      },
    });
    if (mine !== sequence) return;
    view.results.removeAttribute("aria-busy");
    view.results.classList.remove("is-loading");
    if (data.errors.length === 0 && data.total > 0 && state.offset > 0) {
      // The page emptied (e.g. errors were resolved meanwhile): show the last one.
      state = { ...state, offset: Math.floor((data.total - 1) / state.limit) * state.limit };
      await load();
      return;
    }
    render(data);
  }

  /** `load` for event handlers: failures show in the results area. */
  function reload() {
    return load().catch((err) => {
      if (!view) return;
      view.results.classList.remove("is-loading");
      view.results.removeAttribute("aria-busy");
      UI.handleError(err, { where: view.results, retry: reload });
    });
  }

  function render(data) {
    const { errors, total, offset } = data;
    const first = errors.length ? offset + 1 : 0;
    const last = offset + errors.length;
    view.summary.textContent = total
      ? `Showing ${first.toLocaleString("en-US")}–${last.toLocaleString("en-US")} `
        + `of ${total.toLocaleString("en-US")}`
      : "";
    view.prev.disabled = offset <= 0;
    view.next.disabled = last >= total;
    view.prev.parentElement.hidden = total <= state.limit && offset === 0;

    if (!errors.length) {
      view.results.replaceChildren(filtered(state)
        ? stateBox("empty", "No errors match these filters", "Try another search or status.",
          h("button", { type: "button", class: "btn", text: "Clear filters",
            on: { click: clearFilters } }))
        : stateBox("clear", "No errors — all clear",
          "Nothing unresolved. New errors appear here as soon as they are reported."));
      return;
    }
    view.results.replaceChildren(h("table", { class: "error-table" },
      h("thead", {}, h("tr", {},
        ["Type", "Message", "Project", "Count", "Last 24 h", "First seen", "Last seen", "Source",
          "Status"]
          .map((name, i) => h("th", { scope: "col", class: i === 3 ? "num" : null, text: name })))),
      h("tbody", {}, errors.map(row))));
  }

  function clearFilters() {
    state = { ...state, project: "", resolved: "false", source: "", search: "", offset: 0 };
    view.search.value = "";
    view.project.value = "";
    view.resolved.value = "false";
    view.source.value = "";
    reload();
  }

  function shorten(message) {
    const line = message.split("\n", 1)[0];
    return line.length > MESSAGE_CHARS ? `${line.slice(0, MESSAGE_CHARS - 1)}…` : line;
  }

  const SVG = "http://www.w3.org/2000/svg";

  /**
   * Reports per hour over the last 24 hours as bars, oldest left, the current
   * hour right: a storm shows in the list before anyone opens the error.
   */
  function sparkline(hourly) {
    const counts = Array.isArray(hourly) && hourly.length ? hourly : new Array(24).fill(0);
    const total = counts.reduce((a, b) => a + b, 0);
    const peak = Math.max(...counts);
    const svg = document.createElementNS(SVG, "svg");
    const width = counts.length * 4;
    svg.setAttribute("viewBox", `0 0 ${width} 20`);
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", "20");
    svg.setAttribute("class", "sparkline");
    svg.setAttribute("role", "img");
    const label = total
      ? `${UI.plural(total, "report")} in the last 24 hours, at most ${peak.toLocaleString("en-US")} in an hour`
      : "No reports in the last 24 hours";
    svg.setAttribute("aria-label", label);
    const title = document.createElementNS(SVG, "title");
    title.textContent = label;
    svg.append(title);
    counts.forEach((count, i) => {
      const bar = document.createElementNS(SVG, "rect");
      // Square-root scale: one big hour does not flatten the rest to nothing.
      const height = count ? Math.max(2, Math.round(18 * Math.sqrt(count / peak))) : 1;
      bar.setAttribute("x", String(i * 4));
      bar.setAttribute("y", String(20 - height));
      bar.setAttribute("width", "3");
      bar.setAttribute("height", String(height));
      bar.setAttribute("class", count ? "bar" : "bar bar-empty");
      svg.append(bar);
    });
    return svg;
  }

  function row(error) {
    const href = UI.errorUrl(error.id);
    const open = (event) => {
      if (event.target.closest("a")) return; // the link navigates by itself
      if (event.ctrlKey || event.metaKey) window.open(href, "_blank", "noopener");
      else location.href = href;
    };
    return h("tr", { class: "error-row", dataset: { id: String(error.id) }, on: { click: open } },
      h("td", { class: "c-type", "data-label": "Type" },
        h("a", { href, class: "type-link", title: error.exception_type, text: error.exception_type })),
      h("td", { class: "c-message", "data-label": "Message", title: error.message.slice(0, 2000) },
        error.message
          ? h("span", { class: "message-text", text: shorten(error.message) })
          : h("span", { class: "muted", text: "(no message)" }),
        // Where in the app it was raised: the frame a person opens first.
        error.culprit
          ? h("code", { class: "culprit", title: error.culprit, text: error.culprit }) : null),
      h("td", { class: "c-project", "data-label": "Project" },
        h("span", { class: "project", text: error.project })),
      h("td", { class: "c-count num", "data-label": "Count", text: error.count.toLocaleString("en-US") }),
      h("td", { class: "c-activity", "data-label": "Last 24 h" }, sparkline(error.hourly)),
      h("td", { class: "c-first", "data-label": "First seen" }, timeEl(error.first_seen)),
      h("td", { class: "c-last", "data-label": "Last seen" }, timeEl(error.last_seen)),
      h("td", { class: "c-source", "data-label": "Source" }, UI.sourceBadge(error.source)),
      h("td", { class: "c-status", "data-label": "Status" }, UI.statusBadge(error.resolved, error.regressed_at)));
  }

  UI.start(async () => {
    state = readState();
    view = buildPage();
    api("api/projects").then((data) => fillProjects(data.projects)).catch(() => {});
    await load();
  }, { errorTitle: "Could not load errors" });
})();
