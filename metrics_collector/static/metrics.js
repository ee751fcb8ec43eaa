// The metrics page: pick a metric, period, project and label filter (kept in the
// URL), see its avg/count and percentile charts, the dashboard summary, top
// metrics and Web Vitals; everything refreshes on its own until paused.
"use strict";

(() => {
  const { h, api, stateBox, plural } = UI;
  const { fmt } = Charts;

  const PERIODS = [
    ["15m", "Last 15 minutes", 900], ["1h", "Last hour", 3600], ["6h", "Last 6 hours", 21600],
    ["24h", "Last 24 hours", 86400], ["7d", "Last 7 days", 604800], ["30d", "Last 30 days", 2592000],
  ];
  const DEFAULT_PERIOD = "24h";
  const DEFAULT_REFRESH = 30;
  const PAUSE_STORE = "monlight.metrics_collector.auto_refresh_paused";
  const COLORS = {
    avg: "#3451b2", count: "#8a9bc4", p50: "#21794a", p95: "#d97b00", p99: "#c2255c",
    lcp: "#3451b2", inp: "#2b7f9e", cls: "#8a4fc9",
  };
  // Thresholds ({lcp: {good, poor}, ...}) come from the server (stats.VITALS), so the
  // page rates values exactly as the API does; names and formats are the page's own.
  const THRESHOLDS = JSON.parse(document.documentElement.dataset.vitals || "{}");
  const VITALS = [
    { key: "lcp", name: "LCP", title: "Largest Contentful Paint", format: ms },
    { key: "inp", name: "INP", title: "Interaction to Next Paint", format: ms },
    { key: "cls", name: "CLS", title: "Cumulative Layout Shift", format: score },
  ].map((vital) => ({ ...vital, ...THRESHOLDS[vital.key] }));
  const RATINGS = [
    ["good", "Good"], ["needs-improvement", "Needs improvement"], ["poor", "Poor"],
  ];
  const RATING_TEXT = Object.fromEntries(RATINGS);

  function ms(value) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "—";
    return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
  }

  function score(value) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "—";
    return value.toFixed(value < 1 ? 3 : 2);
  }

  function rate(vital, value) {
    if (value === null || value === undefined) return null;
    if (value <= vital.good) return "good";
    return value > vital.poor ? "poor" : "needs-improvement";
  }

  const periodSeconds = (period) => (PERIODS.find(([p]) => p === period) || PERIODS[3])[2];

  /** `a:1, b:2` as pairs, for showing the active filter (the API has validated it). */
  function labelPairs(text) {
    return text.split(",").map((part) => part.trim()).filter(Boolean).map((part) => {
      const at = part.indexOf(":");
      return at < 0 ? [part, ""] : [part.slice(0, at).trim(), part.slice(at + 1).trim()];
    });
  }

  // ---- state kept in the URL ----------------------------------------------------

  function readState() {
    const q = new URLSearchParams(location.search);
    const period = q.get("period");
    const refresh = Number.parseInt(q.get("refresh") || "", 10);
    return {
      metric: q.get("metric") || "",
      period: PERIODS.some(([p]) => p === period) ? period : DEFAULT_PERIOD,
      project: q.get("project") || "",
      labels: q.get("labels") || "",
      refresh: refresh >= 1 && refresh <= 3600 ? refresh : DEFAULT_REFRESH,
      refreshInUrl: q.has("refresh"),
    };
  }

  function writeState() {
    const q = new URLSearchParams();
    if (state.metric) q.set("metric", state.metric);
    if (state.period !== DEFAULT_PERIOD) q.set("period", state.period);
    if (state.project) q.set("project", state.project);
    if (state.labels) q.set("labels", state.labels);
    if (state.refreshInUrl) q.set("refresh", String(state.refresh));
    const query = q.toString();
    history.replaceState(null, "", query ? `?${query}` : location.pathname);
  }

  let state = readState();
  let view = null;
  let names = []; // [{name, type}] of the chosen project (at most the server's page)
  let namesTotal = 0; // how many there are in all (matching the filter)
  let seriesChart = null;
  let pctChart = null;
  let sparks = []; // the Web Vitals trend lines, rebuilt with their tiles
  let dashSeq = 0;
  let seriesSeq = 0;
  let timer = 0;

  const typeOf = (name) => (names.find((m) => m.name === name) || {}).type || "";

  // ---- building the page --------------------------------------------------------

  function field(label, control, extraClass = "") {
    return h("div", { class: `field ${extraClass}` },
      h("label", { for: control.id, class: "field-label", text: label }), control);
  }

  function statCard(id, label) {
    return h("div", { class: "stat" },
      h("div", { class: "stat-label", text: label }),
      h("div", { class: "stat-value", id, text: "—" }));
  }

  function buildPage() {
    const metric = h("select", { id: "f-metric", name: "metric" });
    // Thousands of names do not fit a list: the server sends at most 1,000 and
    // says how many there are; typing here asks it for the matching ones.
    const metricFilter = h("input", {
      type: "search", id: "f-metric-filter", placeholder: "Filter metrics…", autocomplete: "off",
      spellcheck: "false", "aria-label": "Filter the metric list",
    });
    const metricCount = h("span", { class: "muted field-hint", id: "metric-count" });
    const periods = h("div", { class: "segmented", role: "group", "aria-label": "Period" },
      PERIODS.map(([value, title]) => h("button", {
        type: "button", class: "seg", title, text: value, dataset: { period: value },
        "aria-pressed": value === state.period ? "true" : "false",
      })));
    const project = h("select", { id: "f-project", name: "project" },
      h("option", { value: "", text: "All projects" }));
    // Shown only when there are more projects than one list answer holds.
    const projectFilter = h("input", {
      type: "search", id: "f-project-filter", placeholder: "Filter projects…", autocomplete: "off",
      spellcheck: "false", "aria-label": "Filter the project list", hidden: true,
    });
    const labels = h("input", {
      type: "search", id: "f-labels", name: "labels", placeholder: "key:value, key2:value2",
      autocomplete: "off", spellcheck: "false", "aria-describedby": "labels-error",
    });
    labels.value = state.labels;
    const labelsError = h("p", { class: "field-error", id: "labels-error", role: "alert", hidden: true });
    const toolbar = h("form", { class: "toolbar card", id: "filters", role: "search" },
      h("div", { class: "field field-metric" },
        h("label", { for: "f-metric", class: "field-label", text: "Metric" }),
        h("div", { class: "metric-picker" }, metricFilter, metric), metricCount),
      h("div", { class: "field" }, h("span", { class: "field-label", text: "Period" }), periods),
      h("div", { class: "field field-project" },
        h("label", { for: "f-project", class: "field-label", text: "Project" }),
        h("div", { class: "metric-picker" }, projectFilter, project)),
      h("div", { class: "field field-labels" },
        h("label", { for: "f-labels", class: "field-label", text: "Labels" }),
        labels, labelsError));

    const updated = h("span", { class: "updated muted", id: "updated", "aria-live": "polite" });
    const pause = h("button", { type: "button", class: "btn", id: "auto-refresh" });
    const refresh = h("button", { type: "button", class: "btn", id: "refresh", text: "Refresh" });

    const chartTitle = h("h2", { id: "chart-title" });
    const typeBadge = h("span", { class: "badge type-badge", id: "metric-type", hidden: true });
    const chips = h("span", { class: "chips", id: "label-chips" });
    const resolution = h("span", { class: "muted resolution", id: "resolution" });
    const seriesBody = h("div", { class: "chart", id: "series-chart" });
    const seriesState = h("div", { class: "chart-state", id: "series-state", hidden: true });
    const seriesCard = h("section", { class: "card chart-card", id: "series-card" },
      h("div", { class: "card-head" }, chartTitle, typeBadge, chips, resolution),
      seriesState, seriesBody);
    const pctBody = h("div", { class: "chart", id: "pct-chart" });
    const pctCard = h("section", { class: "card chart-card", id: "pct-card", hidden: true },
      h("div", { class: "card-head" }, h("h2", { text: "Percentiles" }),
        h("span", { class: "muted", text: "p50 · p95 · p99 per bucket" })),
      pctBody);

    const topBody = h("div", { id: "top-metrics" });
    const topCard = h("aside", { class: "card top-card" },
      h("div", { class: "card-head" }, h("h2", { text: "Top metrics" }),
        h("span", { class: "muted", id: "top-note" })),
      topBody);
    const vitals = h("section", { class: "card vitals", id: "web-vitals", hidden: true });
    const dashError = h("div", { id: "dashboard-error" });
    const rejected = h("p", { class: "alert alert-warn", id: "rejected", role: "status", hidden: true });

    UI.mount(
      h("div", { class: "page-head" }, h("h1", { text: "Metrics" }),
        h("div", { class: "head-actions" }, updated, pause, refresh)),
      toolbar,
      dashError,
      rejected,
      h("div", { class: "stat-row", id: "summary" },
        statCard("s-datapoints", "Datapoints"), statCard("s-distinct", "Distinct metrics"),
        statCard("s-points", "Selected metric · points"),
        statCard("s-avg", "Selected metric · average")),
      h("div", { class: "layout" }, h("div", { class: "charts" }, seriesCard, pctCard), topCard),
      vitals);

    toolbar.addEventListener("submit", (event) => { event.preventDefault(); applyLabels(); });
    labels.addEventListener("change", applyLabels);
    labels.addEventListener("search", applyLabels); // the field's clear button
    metric.addEventListener("change", () => selectMetric(metric.value));
    let projectTimer = 0;
    projectFilter.addEventListener("input", () => {
      clearTimeout(projectTimer);
      projectTimer = setTimeout(refreshProjects, 250);
    });
    let filterTimer = 0;
    metricFilter.addEventListener("input", () => {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(refreshNames, 250);
    });
    project.addEventListener("change", () => {
      state = { ...state, project: project.value };
      refreshAll();
    });
    periods.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-period]");
      if (!button || button.dataset.period === state.period) return;
      state = { ...state, period: button.dataset.period };
      for (const b of periods.querySelectorAll("button")) {
        b.setAttribute("aria-pressed", b === button ? "true" : "false");
      }
      refreshAll();
    });
    refresh.addEventListener("click", () => refreshAll());
    pause.addEventListener("click", () => setPaused(!paused()));

    return {
      metric, metricFilter, metricCount, project, projectFilter, labels, labelsError, updated, pause, chartTitle, typeBadge, chips,
      resolution, seriesCard, seriesBody, seriesState, pctCard, pctBody, topBody,
      topNote: topCard.querySelector("#top-note"), vitals, dashError, rejected,
    };
  }

  // ---- auto-refresh -------------------------------------------------------------

  /** False while the key prompt (or a page-wide error) has replaced the page. */
  const onPage = () => Boolean(view && view.metric.isConnected);

  function paused() {
    try { return localStorage.getItem(PAUSE_STORE) === "1"; } catch { return false; }
  }

  function setPaused(value) {
    try {
      if (value) localStorage.setItem(PAUSE_STORE, "1"); else localStorage.removeItem(PAUSE_STORE);
    } catch { /* stays as it is for this page */ }
    syncPause();
    if (!value) refreshAll();
  }

  function syncPause() {
    const isPaused = paused();
    view.pause.textContent = isPaused ? "▶ Resume auto-refresh" : "❚❚ Pause auto-refresh";
    view.pause.setAttribute("aria-pressed", isPaused ? "true" : "false");
    view.pause.title = isPaused ? "Auto-refresh is paused"
      : `Refreshing every ${plural(state.refresh, "second")}`;
    clearInterval(timer);
    if (!isPaused) {
      timer = setInterval(() => {
        if (!document.hidden && onPage()) refreshAll({ quiet: true });
      }, state.refresh * 1000);
    }
  }

  function markUpdated() {
    const now = new Date();
    const time = now.toLocaleTimeString("en-US", { hour12: false });
    view.updated.textContent = `Updated ${time}`;
    view.updated.title = now.toISOString();
  }

  // ---- loading ------------------------------------------------------------------

  /** Everything: metric names, projects, dashboard, then the chosen metric's series. */
  async function refreshAll({ quiet = false } = {}) {
    writeState();
    const mine = ++dashSeq;
    const params = { project: state.project };
    try {
      const [namesData, projectsData, dashboard, health] = await Promise.all([
        api("api/metrics/names", { params: namesParams() }),
        api("api/projects", { params: { search: view.projectFilter.value.trim() } }),
        api("api/dashboard", { params: { ...params, period: state.period } }),
        api("health").catch(() => null), // only for the refused-batches note
      ]);
      if (mine !== dashSeq) return;
      view.dashError.replaceChildren();
      names = namesData.metrics || [];
      namesTotal = namesData.total ?? names.length;
      fillProjects(projectsData);
      if (!state.metric) { // none chosen yet: the busiest (a chosen one stays, even if absent)
        const top = (dashboard.top_metrics || [])[0];
        state = { ...state, metric: top ? top.name : (names[0] || {}).name || "" };
      }
      fillMetrics();
      renderDashboard(dashboard);
      renderRejected(health);
      markUpdated();
    } catch (err) {
      if (mine !== dashSeq) return;
      if (err instanceof UI.AuthError) { UI.handleError(err); return; }
      UI.handleError(err, { where: view.dashError, retry: () => refreshAll(),
        title: "Could not load the dashboard" });
      if (quiet) return;
    }
    await loadSeries();
  }

  async function loadSeries() {
    writeState();
    const mine = ++seriesSeq;
    const metric = state.metric;
    renderHeader();
    if (!metric) {
      showSeriesState(names.length
        ? stateBox("empty", "Pick a metric", "Choose one above or in Top metrics.")
        : stateBox("empty", "No metrics yet",
          "Send points with POST /api/metrics; they show up here within seconds."));
      return;
    }
    let data;
    try {
      data = await api("api/metrics", {
        params: {
          name: metric, period: state.period, resolution: "auto",
          project: state.project, labels: state.labels,
        },
      });
    } catch (err) {
      if (mine !== seriesSeq) return;
      if (err instanceof UI.AuthError) { UI.handleError(err); return; }
      if (err instanceof UI.ApiError && err.status === 400 && state.labels) {
        showLabelsError(err.detail);
        showSeriesState(stateBox("error", "Fix the label filter",
          "The filter above was rejected, so nothing is shown."));
      } else {
        showSeriesState(null);
        UI.handleError(err, { where: view.seriesState, retry: loadSeries,
          title: "Could not load this metric" });
        view.seriesState.hidden = false;
        view.seriesBody.hidden = true;
      }
      view.pctCard.hidden = true;
      setMetricStats(null);
      return;
    }
    if (mine !== seriesSeq) return;
    showLabelsError("");
    renderSeries(data);
  }

  function selectMetric(name) {
    state = { ...state, metric: name };
    view.metric.value = name;
    highlightTop();
    loadSeries();
  }

  function applyLabels() {
    const value = view.labels.value.trim();
    if (value === state.labels) return;
    state = { ...state, labels: value };
    loadSeries();
  }

  function showLabelsError(message) {
    view.labelsError.textContent = message;
    view.labelsError.hidden = !message;
    if (message) view.labels.setAttribute("aria-invalid", "true");
    else view.labels.removeAttribute("aria-invalid");
  }

  function showSeriesState(box) {
    view.seriesState.replaceChildren(...(box ? [box] : []));
    view.seriesState.hidden = !box;
    view.seriesBody.hidden = Boolean(box);
    if (box) view.pctCard.hidden = true;
  }

  // ---- rendering ----------------------------------------------------------------

  const namesParams = () => ({ project: state.project, search: view.metricFilter.value.trim() });

  /** Only the metric list, for the filter as typed. */
  async function refreshNames() {
    const mine = ++namesSeq;
    try {
      const data = await api("api/metrics/names", { params: namesParams() });
      if (mine !== namesSeq) return;
      names = data.metrics || [];
      namesTotal = data.total ?? names.length;
      fillMetrics();
    } catch (err) {
      UI.handleError(err, { where: view.dashError, retry: refreshNames,
        title: "Could not load the metric list" });
    }
  }
  let namesSeq = 0;

  function fillMetrics() {
    const select = view.metric;
    const listed = names.some((m) => m.name === state.metric) || !state.metric
      ? names : [...names, { name: state.metric, type: "" }];
    select.replaceChildren(...(listed.length ? [] : [h("option", { value: "", text: "No metrics" })]),
      ...listed.map((m) => h("option", {
        value: m.name, text: m.type ? `${m.name} · ${m.type}` : m.name, dataset: { type: m.type },
      })));
    select.value = state.metric;
    const filtered = view.metricFilter.value.trim() !== "";
    view.metricCount.textContent = namesTotal > names.length
      ? `${names.length.toLocaleString("en-US")} of ${namesTotal.toLocaleString("en-US")}`
        + (filtered ? " matching: type more to narrow" : ": type to filter")
      : filtered ? `${namesTotal.toLocaleString("en-US")} matching` : "";
  }

  /** Only the project list, for the filter as typed. */
  async function refreshProjects() {
    try {
      const search = view.projectFilter.value.trim();
      fillProjects(await api("api/projects", { params: { search } }));
    } catch (err) {
      UI.handleError(err, { where: view.dashError, retry: refreshProjects,
        title: "Could not load the project list" });
    }
  }

  function fillProjects(data) {
    const projects = data.projects || [];
    const total = data.total ?? projects.length;
    if (total > projects.length) view.projectFilter.hidden = false;
    const select = view.project;
    const chosen = state.project;
    const list = chosen && !projects.includes(chosen) ? [...projects, chosen] : projects;
    select.replaceChildren(h("option", { value: "", text: "All projects" }),
      ...list.map((name) => h("option", { value: name, text: name })));
    select.value = chosen;
  }

  function renderHeader() {
    const type = typeOf(state.metric);
    view.chartTitle.textContent = state.metric || "Metric";
    view.typeBadge.textContent = type;
    view.typeBadge.className = `badge type-badge type-${type}`;
    view.typeBadge.hidden = !type;
    view.chips.replaceChildren(...labelPairs(state.labels).map(([key, value]) => h("span", {
      class: "chip", title: `${key}:${value}`,
    }, h("span", { class: "chip-key", text: key }), h("span", { class: "chip-value", text: value }))));
  }

  function renderSeries(data) {
    const step = data.resolution === "hour" ? 3600 : 60;
    const rows = data.data || [];
    const grid = Charts.grid(rows, { step, periodSeconds: periodSeconds(state.period) });
    view.resolution.textContent = `per ${data.resolution === "hour" ? "hour" : "minute"}`;
    showSeriesState(null);

    if (!seriesChart || seriesChart.step !== step) {
      if (seriesChart) seriesChart.destroy();
      seriesChart = new Charts.TimeChart(view.seriesBody, {
        step, height: 260,
        series: [
          { key: "avg", label: "avg", color: COLORS.avg },
          { key: "count", label: "count", color: COLORS.count, scale: "right", bars: true },
        ],
        extra: (i) => {
          const row = seriesChart.rows[i];
          return row ? [["min", fmt(row.min)], ["max", fmt(row.max)], ["sum", fmt(row.sum)]] : [];
        },
      });
    }
    seriesChart.rows = grid.rows;
    seriesChart.update(grid.xs, [grid.column("avg"), grid.column("count")]);

    const histogram = typeOf(state.metric) === "histogram"
      || rows.some((row) => row.p50 !== null && row.p50 !== undefined);
    view.pctCard.hidden = !histogram;
    if (histogram) {
      if (!pctChart || pctChart.step !== step) {
        if (pctChart) pctChart.destroy();
        pctChart = new Charts.TimeChart(view.pctBody, {
          step, height: 220,
          series: ["p50", "p95", "p99"].map((p) => ({ key: p, label: p, color: COLORS[p] })),
        });
      }
      pctChart.update(grid.xs, [grid.column("p50"), grid.column("p95"), grid.column("p99")]);
    }

    let count = 0;
    let sum = 0;
    for (const row of rows) { count += row.count || 0; sum += row.sum || 0; }
    setMetricStats(count ? { count, avg: sum / count } : { count: 0, avg: null });
  }

  function setMetricStats(stats) {
    document.getElementById("s-points").textContent = stats ? stats.count.toLocaleString("en-US") : "—";
    document.getElementById("s-avg").textContent = stats ? fmt(stats.avg) : "—";
  }

  /** Batches the collector refused are data a sender lost: say so where people look. */
  function renderRejected(health) {
    const n = (health && health.rejected_batches_24h) || 0;
    view.rejected.hidden = n === 0;
    view.rejected.textContent = n === 0 ? ""
      : `${n.toLocaleString("en-US")} batch${n === 1 ? " was" : "es were"} refused in the last 24 h`
        + " (too many points, bad values or too many series): their points are not here."
        + " The collector's log names the sender and the reason.";
  }

  function renderDashboard(dashboard) {
    const summary = dashboard.summary || {};
    document.getElementById("s-datapoints").textContent =
      (summary.total_datapoints ?? 0).toLocaleString("en-US");
    document.getElementById("s-distinct").textContent =
      (summary.distinct_metrics ?? 0).toLocaleString("en-US");
    renderTop(dashboard.top_metrics || []);
    renderVitals(dashboard.web_vitals || null);
  }

  function renderTop(top) {
    view.topNote.textContent = top.length ? "by points" : "";
    if (!top.length) {
      view.topBody.replaceChildren(h("p", { class: "muted empty-note", text: "No points in this period." }));
      return;
    }
    const rows = top.map((m) => h("tr", {
      class: "top-row", tabindex: "0", dataset: { metric: m.name },
      title: `Show ${m.name}`,
      on: {
        click: () => selectMetric(m.name),
        keydown: (event) => {
          if (event.key === "Enter" || event.key === " ") { event.preventDefault(); selectMetric(m.name); }
        },
      },
    },
    h("td", { class: "c-name" }, h("span", { class: "top-name", title: m.name }, breakable(m.name)),
      h("span", { class: `badge type-badge type-${m.type}`, text: m.type })),
    h("td", { class: "num", text: (m.count ?? 0).toLocaleString("en-US") }),
    h("td", { class: "num", text: fmt(m.total) })));
    view.topBody.replaceChildren(h("table", { class: "top-table" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col", text: "Metric" }), h("th", { scope: "col", class: "num", text: "Points" }),
        h("th", { scope: "col", class: "num", text: "Total" }))),
      h("tbody", {}, rows)));
    highlightTop();
  }

  /** A metric name as text that may wrap after `_`, `.`, `:` or `-` (not mid-word). */
  function breakable(name) {
    return name.split(/(?<=[_.:-])/).flatMap((part, i) => (i ? [h("wbr"), part] : [part]));
  }

  function highlightTop() {
    for (const row of view.topBody.querySelectorAll(".top-row")) {
      const selected = row.dataset.metric === state.metric;
      row.classList.toggle("is-selected", selected);
      if (selected) row.setAttribute("aria-current", "true"); else row.removeAttribute("aria-current");
    }
  }

  // ---- Web Vitals ---------------------------------------------------------------

  function renderVitals(vitals) {
    view.vitals.hidden = !vitals;
    if (!vitals) {
      dropSparks();
      view.vitals.replaceChildren();
      return;
    }
    const summary = vitals.summary || {};
    const pages = vitals.by_page || [];
    const views = pages.reduce((n, p) => n + (p.page_views || 0), 0);
    const step = periodSeconds(state.period) <= 3600 ? 60 : 3600; // as the API buckets them
    const grid = Charts.grid(vitals.timeseries || [], { step, periodSeconds: periodSeconds(state.period) });
    dropSparks();
    view.vitals.replaceChildren(
      h("div", { class: "card-head" }, h("h2", { text: "Web Vitals" }),
        h("span", { class: "muted", id: "vitals-note", text: `Real users' browsers · averages${
          views ? ` · ${plural(views, "page view")}` : ""}` })),
      h("div", { class: "vitals-grid", id: "vitals-tiles" },
        VITALS.map((v) => vitalTile(v, summary[v.key], grid))),
      pages.length ? pageTable(pages) : null);
  }

  function dropSparks() {
    for (const spark of sparks) spark.destroy();
    sparks = [];
  }

  function vitalTile(vital, s, grid) {
    const head = h("div", { class: "vital-head" },
      h("span", { class: "vital-name", text: vital.name }),
      h("span", { class: "vital-title", text: vital.title }));
    if (!s || !s.count) {
      return h("div", { class: "vital vital-none", dataset: { vital: vital.key } }, head,
        h("p", { class: "muted", text: "No samples in this period." }));
    }
    const rating = RATING_TEXT[s.rating] ? s.rating : rate(vital, s.avg);
    return h("div", { class: `vital vital-${rating}`, dataset: { vital: vital.key, rating } },
      head,
      h("div", { class: "vital-main" },
        h("span", { class: "vital-value", text: vital.format(s.avg) }),
        h("span", { class: `rating rating-${rating}`, text: RATING_TEXT[rating] || rating })),
      distribution(s.distribution),
      sparkline(vital, grid),
      h("p", { class: "vital-foot", text: `${plural(s.count, "sample")} · good ≤ ${
        vital.format(vital.good)}, poor > ${vital.format(vital.poor)}` }));
  }

  /** The vital's average per bucket over the period, against its thresholds. */
  function sparkline(vital, grid) {
    const box = h("div", { class: "spark", dataset: { vital: vital.key } });
    const per = grid.xs.length > 1 && grid.xs[1] - grid.xs[0] >= 3600 ? "hour" : "minute";
    const spark = new Charts.Sparkline(box, {
      color: COLORS[vital.key],
      label: `${vital.name} average per ${per}; dashed lines: good and poor thresholds`,
      thresholds: [
        { value: vital.good, color: "#1f8a4c99" }, { value: vital.poor, color: "#c9243f99" },
      ],
    });
    sparks.push(spark);
    // Drawn once the tile is on the page (uPlot measures its container).
    requestAnimationFrame(() => spark.update(grid.xs, grid.column(vital.key)));
    return box;
  }

  function distribution(shares) {
    if (!shares) return null;
    const bar = h("div", { class: "dist-bar", role: "img" });
    const legend = h("div", { class: "dist-legend" });
    const parts = [];
    for (const [key, text] of RATINGS) {
      const share = Number(shares[key]) || 0;
      const pct = `${Math.round(share * 100)}%`;
      parts.push(`${pct} ${text.toLowerCase()}`);
      if (share > 0) {
        const seg = h("span", { class: `dist-seg rating-bg-${key}`, title: `${text}: ${pct}` });
        seg.style.width = `${share * 100}%`; // CSSOM: allowed by the page's CSP
        bar.append(seg);
      }
      legend.append(h("span", { class: `dist-item dist-${key}`, dataset: { rating: key } },
        h("span", { class: `dot rating-bg-${key}` }), h("span", { text: `${pct} ${text}` })));
    }
    bar.setAttribute("aria-label", parts.join(", "));
    return h("div", { class: "dist" }, bar, legend);
  }

  function pageTable(pages) {
    const cell = (vital, value) => {
      const rating = rate(vital, value);
      return h("td", { class: `num vital-cell${rating ? ` rating-text-${rating}` : ""}`,
        title: rating ? RATING_TEXT[rating] : null, text: vital.format(value) });
    };
    return h("div", { class: "table-wrap" }, h("table", { class: "pages-table", id: "vitals-pages" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Page" }),
        VITALS.map((v) => h("th", { scope: "col", class: "num", text: v.name })),
        h("th", { scope: "col", class: "num", text: "Page views" }))),
      h("tbody", {}, pages.map((p) => h("tr", { class: "page-row" },
        h("td", { class: "c-page" }, h("span", { class: "page-path", text: p.page, title: p.page })),
        VITALS.map((v) => cell(v, p[v.key])),
        h("td", { class: "num", text: (p.page_views ?? 0).toLocaleString("en-US") }))))));
  }

  // ---- start --------------------------------------------------------------------

  UI.start(async () => {
    state = readState();
    if (seriesChart) seriesChart.destroy();
    if (pctChart) pctChart.destroy();
    dropSparks();
    seriesChart = pctChart = null;
    view = buildPage();
    syncPause();
    await refreshAll();
  }, { errorTitle: "Could not load metrics" });

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && onPage() && !paused()) {
      refreshAll({ quiet: true });
    }
  });
})();
