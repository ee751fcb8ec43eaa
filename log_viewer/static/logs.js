// The logs page: search (FTS5), container, level and time range kept in the URL, the
// volume histogram of the results, the entries newest first (JSON lines as fields),
// and a live tail that adds new entries as they arrive over SSE.
"use strict";

(() => {
  const { h, api, stateBox } = UI;
  const PAGE_SIZE = 100;
  const LIVE_MAX = 500; // entries kept on the page while tailing
  const LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
  const RANGES = [["15m", 900], ["1h", 3600], ["6h", 21600], ["24h", 86400], ["7d", 604800],
    ["all", 0]];

  const entries = (n) => `${n.toLocaleString("en-US")} ${n === 1 ? "entry" : "entries"}`;

  /** Local time as `2026-12-02 14:05:09`: sortable, unambiguous, one width. */
  const stamp = (time) => time.toLocaleString("sv-SE", { hour12: false });

  function readState() {
    const q = new URLSearchParams(location.search);
    const offset = Number.parseInt(q.get("offset") || "0", 10);
    const range = q.get("range");
    const level = (q.get("level") || "").toUpperCase();
    return {
      search: q.get("q") || "",
      container: q.get("container") || "",
      level: LEVELS.includes(level) ? level : "",
      range: RANGES.some(([r]) => r === range) ? range : "24h",
      offset: Number.isFinite(offset) && offset > 0 ? offset : 0,
    };
  }

  function writeState() {
    const q = new URLSearchParams();
    if (state.search) q.set("q", state.search);
    if (state.container) q.set("container", state.container);
    if (state.level) q.set("level", state.level);
    if (state.range !== "24h") q.set("range", state.range);
    if (state.offset) q.set("offset", String(state.offset));
    const query = q.toString();
    history.replaceState(null, "", query ? `?${query}` : location.pathname);
  }

  let state = readState();
  let view = null;
  let sequence = 0;
  let live = null; // the EventSource while tailing

  function since() {
    const seconds = (RANGES.find(([r]) => r === state.range) || RANGES[3])[1];
    return seconds ? new Date(Date.now() - seconds * 1000).toISOString() : "";
  }

  const filters = () => ({
    q: state.search, container: state.container, level: state.level, since: since(),
  });

  function buildPage() {
    const search = h("input", {
      type: "search", id: "f-search", placeholder: 'Search: words, "a phrase", a OR b, NOT c, pre*',
      "aria-label": "Search", autocomplete: "off", spellcheck: "false",
    });
    search.value = state.search;
    const container = h("select", { id: "f-container", "aria-label": "Container" },
      h("option", { value: "", text: "All containers" }));
    const level = h("select", { id: "f-level", "aria-label": "Level" },
      h("option", { value: "", text: "All levels" }),
      LEVELS.map((l) => h("option", { value: l, text: l })));
    level.value = state.level;
    const range = h("select", { id: "f-range", "aria-label": "Time range" },
      RANGES.map(([r]) => h("option", { value: r, text: r === "all" ? "All time" : `Last ${r}` })));
    range.value = state.range;
    const liveButton = h("button", {
      type: "button", class: "btn", id: "live", "aria-pressed": "false", text: "▶ Live tail",
    });
    const refresh = h("button", { type: "button", class: "btn", id: "refresh", text: "Refresh" });
    const form = h("form", { class: "toolbar card", role: "search" },
      search, container, level, range, liveButton, refresh);
    const searchError = h("p", { class: "field-error", id: "search-error", role: "alert", hidden: true });
    const histogram = h("div", { class: "histogram", id: "histogram", role: "img" });
    const axis = h("div", { class: "hist-axis", id: "hist-axis" });
    const summary = h("p", { class: "summary muted", id: "summary", "aria-live": "polite" });
    const prev = h("button", { type: "button", class: "btn", id: "prev", text: "‹ Newer" });
    const next = h("button", { type: "button", class: "btn", id: "next", text: "Older ›" });
    const list = h("ol", { class: "log-list", id: "logs" });
    const results = h("div", { id: "results" }, list);

    UI.mount(h("div", { class: "page-head" }, h("h1", { text: "Logs" })), form, searchError,
      histogram, axis,
      h("div", { class: "results-bar" }, summary, h("div", { class: "pager" }, prev, next)),
      results);

    const changed = (patch) => {
      state = { ...state, ...patch, offset: 0 };
      load();
    };
    form.addEventListener("submit", (event) => { event.preventDefault(); changed({ search: search.value.trim() }); });
    search.addEventListener("search", () => changed({ search: search.value.trim() }));
    container.addEventListener("change", () => changed({ container: container.value }));
    level.addEventListener("change", () => changed({ level: level.value }));
    range.addEventListener("change", () => changed({ range: range.value }));
    refresh.addEventListener("click", () => load());
    prev.addEventListener("click", () => { state = { ...state, offset: Math.max(0, state.offset - PAGE_SIZE) }; load(); });
    next.addEventListener("click", () => { state = { ...state, offset: state.offset + PAGE_SIZE }; load(); });
    liveButton.addEventListener("click", () => (live ? stopLive() : startLive()));
    return { search, container, level, range, liveButton, searchError, histogram, axis, summary, prev, next, list, results };
  }

  // ---- loading ------------------------------------------------------------------

  async function load() {
    writeState();
    const mine = ++sequence;
    const params = filters();
    try {
      const [logs, hist, containers] = await Promise.all([
        api("api/logs", { params: { ...params, limit: PAGE_SIZE, offset: state.offset } }),
        api("api/logs/histogram", { params }),
        api("api/logs/containers"),
      ]);
      if (mine !== sequence) return;
      showSearchError("");
      fillContainers(containers.containers || []);
      renderHistogram(hist);
      renderLogs(logs);
    } catch (err) {
      if (mine !== sequence) return;
      if (err instanceof UI.ApiError && err.status === 400) {
        showSearchError(err.detail);
        view.list.replaceChildren();
        view.summary.textContent = "";
        return;
      }
      UI.handleError(err, { where: view.results, retry: load, title: "Could not load logs" });
    }
  }

  function showSearchError(message) {
    view.searchError.textContent = message;
    view.searchError.hidden = !message;
    if (message) view.search.setAttribute("aria-invalid", "true");
    else view.search.removeAttribute("aria-invalid");
  }

  function fillContainers(containers) {
    const select = view.container;
    const names = containers.map((c) => c.name);
    if (state.container && !names.includes(state.container)) names.push(state.container);
    select.replaceChildren(h("option", { value: "", text: "All containers" }),
      names.map((name) => h("option", { value: name, text: name })));
    select.value = state.container;
  }

  function renderHistogram(hist) {
    const buckets = hist.buckets || [];
    const top = Math.max(1, ...buckets.map((b) => b.total));
    view.histogram.replaceChildren(...buckets.map((b) => {
      const errors = (b.counts.ERROR || 0) + (b.counts.CRITICAL || 0);
      const warnings = b.counts.WARNING || 0;
      const bar = h("span", {
        class: "hist-bar", title: `${b.start}: ${entries(b.total)}`
          + (errors ? `, ${errors} errors` : ""), dataset: { total: b.total },
      });
      for (const [n, kind] of [[b.total - errors - warnings, "other"], [warnings, "warning"], [errors, "error"]]) {
        if (!n) continue;
        const seg = h("span", { class: `hist-seg seg-${kind}` });
        seg.style.height = `${(n / top) * 60}px`; // CSSOM: allowed by the page's CSP
        bar.append(seg);
      }
      return bar;
    }));
    const total = buckets.reduce((n, b) => n + b.total, 0);
    view.histogram.setAttribute("aria-label", `Log volume: ${entries(total)} in ${buckets.length} buckets`);
    const label = (b) => (b ? stamp(new Date(b.start)) : "");
    view.axis.replaceChildren(h("span", { text: label(buckets[0]) }),
      h("span", { text: label(buckets[buckets.length - 1]) }));
  }

  function renderLogs(body) {
    const logs = body.logs || [];
    const total = body.total ?? logs.length;
    view.summary.textContent = total
      ? `${(state.offset + 1).toLocaleString("en-US")}–${(state.offset + logs.length).toLocaleString("en-US")} of ${entries(total)}`
      : "";
    view.prev.disabled = state.offset === 0;
    view.next.disabled = state.offset + logs.length >= total;
    if (!logs.length) {
      view.list.replaceChildren(h("li", {}, stateBox("empty", "No log entries",
        state.search || state.container || state.level ? "Nothing matches these filters."
          : "Entries appear here as the containers under LOG_SOURCES write them.")));
      return;
    }
    view.list.replaceChildren(...logs.map((entry) => row(entry)));
  }

  /** A JSON log line shown as its fields; anything else as text (never as markup). */
  function message(text) {
    if (text.startsWith("{") && text.endsWith("}")) {
      try {
        const data = JSON.parse(text);
        if (data && typeof data === "object" && !Array.isArray(data)) {
          return h("dl", { class: "fields" }, Object.entries(data).flatMap(([k, v]) => [
            h("dt", { text: k }),
            h("dd", { text: typeof v === "string" ? v : JSON.stringify(v) }),
          ]));
        }
      } catch { /* not JSON after all */ }
    }
    return h("pre", { class: "log-message", text });
  }

  function row(entry, fresh = false) {
    const time = new Date(entry.timestamp);
    return h("li", { class: `log-row${fresh ? " is-new" : ""}`, dataset: { id: entry.id, level: entry.level } },
      h("time", { class: "log-time", datetime: entry.timestamp, title: entry.timestamp,
        text: Number.isNaN(time.getTime()) ? entry.timestamp : stamp(time) }),
      h("span", { class: "log-container", title: entry.container, text: entry.container }),
      h("span", {}, h("span", { class: `level level-${entry.level}`, text: entry.level })),
      message(entry.message));
  }

  // ---- live tail ----------------------------------------------------------------

  function startLive() {
    const url = new URL(`${UI.ROOT}api/logs/tail`, location.href);
    if (state.container) url.searchParams.set("container", state.container);
    if (state.level) url.searchParams.set("level", state.level);
    url.searchParams.set("api_key", UI.currentKey());
    live = new EventSource(url);
    live.addEventListener("log", (event) => {
      const entry = JSON.parse(event.data);
      if (view.list.querySelector(".state-box")) view.list.replaceChildren();
      view.list.prepend(row(entry, true));
      while (view.list.children.length > LIVE_MAX) view.list.lastElementChild.remove();
    });
    live.addEventListener("close", () => stopLive());
    live.onerror = () => {
      if (live && live.readyState === EventSource.CLOSED) stopLive();
    };
    view.liveButton.textContent = "❚❚ Stop live tail";
    view.liveButton.setAttribute("aria-pressed", "true");
    view.liveButton.classList.add("live-on");
  }

  function stopLive() {
    if (live) live.close();
    live = null;
    view.liveButton.textContent = "▶ Live tail";
    view.liveButton.setAttribute("aria-pressed", "false");
    view.liveButton.classList.remove("live-on");
  }

  UI.start(async () => {
    state = readState();
    stopLiveQuietly();
    view = buildPage();
    await load();
  }, { errorTitle: "Could not load logs" });

  function stopLiveQuietly() {
    if (live) live.close();
    live = null;
  }
})();
