// The metrics page: pick a metric, period, project and label filter (kept in the
// URL), see its charts (avg/count, or the per-bucket total of a counter; p50/p95/
// p99 of a histogram), a breakdown by one label ("which route is slow"), the
// dashboard summary, top metrics and Web Vitals; values carry the unit their
// name implies; everything refreshes on its own until paused.
"use strict";

(() => {
  const { h, api, stateBox, plural } = UI;
  const { fmt, fmtUnit, unitOf } = Charts;

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
  /** Label keys a breakdown prefers, in order, when the operator has not chosen one. */
  const BREAKDOWN_KEYS = ["endpoint", "route", "path", "handler", "url", "page", "status"];
  const OTHER = "__other__";

  /** The smallest period that holds data since `since` (with some air), at most the default:
   * a new install's first minutes fill the chart instead of a sliver at its right edge. */
  function fittingPeriod(since, now = Date.now()) {
    const span = (now - Date.parse(since)) / 1000;
    if (!Number.isFinite(span)) return DEFAULT_PERIOD;
    const limit = periodSeconds(DEFAULT_PERIOD);
    const fit = PERIODS.find(([, , seconds]) => seconds >= span * 1.1 && seconds <= limit);
    return fit ? fit[0] : DEFAULT_PERIOD;
  }

  /** The filter as pairs: `a:1, b:2`, or its JSON form `{"a": "1,2"}` (the API validates). */
  function labelPairs(text) {
    if (text.trim().startsWith("{")) {
      try {
        const parsed = JSON.parse(text);
        if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
          return Object.entries(parsed).map(([k, v]) => [k, String(v)]);
        }
      } catch { /* shown as typed; the API says what is wrong */ }
      return [[text, ""]];
    }
    return text.split(",").map((part) => part.trim()).filter(Boolean).map((part) => {
      const at = part.indexOf(":");
      return at < 0 ? [part, ""] : [part.slice(0, at).trim(), part.slice(at + 1).trim()];
    });
  }

  /** Pairs back to a filter: `k:v, k2:v2` when every pair can be written so, else JSON. */
  function labelText(pairs) {
    const plain = pairs.every(([k, v]) => k && !/[,:]/.test(k) && !v.includes(",")
      && k === k.trim() && v === v.trim() && !k.startsWith("{"));
    if (plain) return pairs.map(([k, v]) => `${k}:${v}`).join(", ");
    return JSON.stringify(Object.fromEntries(pairs));
  }

  // ---- state kept in the URL ----------------------------------------------------

  function readState() {
    const q = new URLSearchParams(location.search);
    const period = q.get("period");
    const refresh = Number.parseInt(q.get("refresh") || "", 10);
    const known = PERIODS.some(([p]) => p === period);
    return {
      metric: q.get("metric") || "",
      period: known ? period : DEFAULT_PERIOD,
      // Until the operator picks a period, the page fits it to the data (fittingPeriod).
      periodAuto: !known,
      project: q.get("project") || "",
      labels: q.get("labels") || "",
      by: q.get("by") || "",
      refresh: refresh >= 1 && refresh <= 3600 ? refresh : DEFAULT_REFRESH,
      refreshInUrl: q.has("refresh"),
    };
  }

  function writeState() {
    const q = new URLSearchParams();
    if (state.metric) q.set("metric", state.metric);
    if (!state.periodAuto) q.set("period", state.period);
    if (state.project) q.set("project", state.project);
    if (state.labels) q.set("labels", state.labels);
    if (state.by) q.set("by", state.by);
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
  let labelKeys = []; // [{key, values: [{value, count}], distinct}] of the chosen metric
  let breakdown = null; // {key, rows, seconds} as last loaded
  let sort = null; // {col, desc} of the breakdown table, once the operator sorts it
  let dataSince = null; // the oldest minute with data in the period (the dashboard says)

  const typeOf = (name) => (names.find((m) => m.name === name) || {}).type || "";

  // ---- building the page --------------------------------------------------------

  function field(label, control, extraClass = "") {
    return h("div", { class: `field ${extraClass}` },
      h("label", { for: control.id, class: "field-label", text: label }), control);
  }

  function statCard(id, label) {
    return h("div", { class: "stat" },
      h("div", { class: "stat-label", id: `${id}-label`, text: label }),
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
    const labelsWarning = h("p", { class: "field-warning", id: "labels-warning", role: "status", hidden: true });
    // Pickers fed by /api/metrics/labels: the keys this metric has, then their values.
    const labelKey = h("select", { id: "f-label-key", "aria-label": "Label to filter by" });
    const labelValue = h("select", { id: "f-label-value", "aria-label": "Value to filter by", hidden: true });
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
        labels, h("div", { class: "label-picker" }, labelKey, labelValue), labelsError,
        labelsWarning));

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
    const approx = h("span", {
      class: "badge approx-badge", id: "approx-note", hidden: true, text: "≈ approximate",
      title: "Some buckets hold data aggregated before exact merging existed: their"
        + " percentiles are averages of per-minute percentiles and can understate the tail.",
    });
    const pctCard = h("section", { class: "card chart-card", id: "pct-card", hidden: true },
      h("div", { class: "card-head" }, h("h2", { text: "Percentiles" }),
        h("span", { class: "muted", text: "p50 · p95 · p99 per bucket" }), approx),
      pctBody);
    const breakdownKey = h("select", { id: "f-breakdown", "aria-label": "Label to break down by" });
    const breakdownBody = h("div", { id: "breakdown-body" });
    const breakdownCard = h("section", { class: "card breakdown-card", id: "breakdown", hidden: true },
      h("div", { class: "card-head" }, h("h2", {}, h("label", { for: "f-breakdown", text: "Breakdown by" })),
        breakdownKey, h("span", { class: "muted", id: "breakdown-note" })),
      breakdownBody);

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
      h("div", { class: "layout" },
        h("div", { class: "charts" }, seriesCard, pctCard, breakdownCard), topCard),
      vitals);

    toolbar.addEventListener("submit", (event) => { event.preventDefault(); applyLabels(); });
    labels.addEventListener("change", applyLabels);
    labels.addEventListener("search", applyLabels); // the field's clear button
    metric.addEventListener("change", () => selectMetric(metric.value));
    labelKey.addEventListener("change", () => fillLabelValues(labelKey.value));
    labelValue.addEventListener("change", () => {
      if (labelKey.value && labelValue.value !== "") setFilterPair(labelKey.value, labelValue.value);
    });
    breakdownKey.addEventListener("change", () => {
      state = { ...state, by: breakdownKey.value };
      sort = null;
      writeState();
      loadBreakdown(seriesSeq);
    });
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
      if (!button || (button.dataset.period === state.period && !state.periodAuto)) return;
      state = { ...state, period: button.dataset.period, periodAuto: false };
      for (const b of periods.querySelectorAll("button")) {
        b.setAttribute("aria-pressed", b === button ? "true" : "false");
      }
      refreshAll();
    });
    refresh.addEventListener("click", () => refreshAll());
    pause.addEventListener("click", () => setPaused(!paused()));

    return {
      metric, metricFilter, metricCount, project, projectFilter, labels, labelsError,
      labelsWarning, labelKey, labelValue, updated, pause, chartTitle, typeBadge, chips,
      resolution, seriesCard, seriesBody, seriesState, pctCard, pctBody, approx, topBody,
      topNote: topCard.querySelector("#top-note"), vitals, dashError, rejected, periods,
      breakdownCard, breakdownKey, breakdownBody,
      breakdownNote: breakdownCard.querySelector("#breakdown-note"),
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
      if (state.periodAuto && dashboard.data_since) {
        const fitted = fittingPeriod(dashboard.data_since);
        if (fitted !== state.period) { // ask again for the fitted period (once: it is stable)
          state = { ...state, period: fitted };
          syncPeriodButtons();
          return refreshAll({ quiet });
        }
      }
      dataSince = dashboard.data_since || null;
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

  function syncPeriodButtons() {
    for (const b of view.periods.querySelectorAll("button")) {
      b.setAttribute("aria-pressed", b.dataset.period === state.period ? "true" : "false");
    }
  }

  async function loadSeries() {
    writeState();
    const mine = ++seriesSeq;
    const metric = state.metric;
    renderHeader();
    if (!metric) {
      view.breakdownCard.hidden = true;
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
    await loadLabels(mine);
  }

  // ---- labels: pickers and the breakdown ----------------------------------------

  /** The metric's label keys and frequent values, then the breakdown by one of them. */
  async function loadLabels(mine) {
    try {
      const data = await api("api/metrics/labels", {
        params: { name: state.metric, project: state.project, period: state.period },
      });
      if (mine !== seriesSeq) return;
      labelKeys = data.labels || [];
    } catch (err) {
      if (mine !== seriesSeq) return;
      if (err instanceof UI.AuthError) { UI.handleError(err); return; }
      labelKeys = [];
    }
    fillLabelKeys();
    warnUnknownKeys();
    await loadBreakdown(mine);
  }

  function fillLabelKeys() {
    const select = view.labelKey;
    select.replaceChildren(
      h("option", { value: "", text: labelKeys.length ? "Filter by label…" : "No labels" }),
      ...labelKeys.map((k) => h("option", { value: k.key, text: k.key })));
    select.disabled = !labelKeys.length;
    select.value = "";
    view.labelValue.hidden = true;
  }

  function fillLabelValues(key) {
    const entry = labelKeys.find((k) => k.key === key);
    view.labelValue.hidden = !entry;
    if (!entry) return;
    const more = entry.distinct > entry.values.length
      ? [h("option", { disabled: true, text: `… ${entry.distinct - entry.values.length} more (type them above)` })]
      : [];
    view.labelValue.replaceChildren(h("option", { value: "", text: `${key} = …` }),
      ...entry.values.map((v) => h("option", {
        value: v.value, text: `${v.value === "" ? "(empty)" : v.value} · ${fmt(v.count)}`,
      })), ...more);
    view.labelValue.value = "";
    view.labelValue.focus();
  }

  /** A key in the filter that no series of the metric has: say so, rather than an empty chart. */
  function warnUnknownKeys() {
    const known = new Set(labelKeys.map((k) => k.key));
    const unknown = state.labels
      ? labelPairs(state.labels).map(([k]) => k).filter((k) => k && !known.has(k)) : [];
    view.labelsWarning.hidden = !unknown.length;
    view.labelsWarning.textContent = unknown.length
      ? `No series of ${state.metric} has the label ${unknown.map((k) => `“${k}”`).join(", ")}`
        + ` in this period${known.size ? `; its labels are ${[...known].join(", ")}` : ""}.`
      : "";
  }

  /** Filter on key = value (replacing any other value of that key) and reload. */
  function setFilterPair(key, value) {
    const pairs = labelPairs(state.labels).filter(([k]) => k !== key);
    pairs.push([key, value]);
    setFilter(labelText(pairs));
  }

  function removeFilterPair(key) {
    setFilter(labelText(labelPairs(state.labels).filter(([k]) => k !== key)));
  }

  function setFilter(text) {
    view.labels.value = text;
    state = { ...state, labels: text };
    loadSeries();
  }

  function chosenBreakdownKey() {
    const keys = labelKeys.map((k) => k.key);
    if (state.by && keys.includes(state.by)) return state.by;
    const preferred = BREAKDOWN_KEYS.find((k) => keys.includes(k));
    if (preferred) return preferred;
    const varied = labelKeys.find((k) => k.distinct > 1);
    return varied ? varied.key : keys[0] || "";
  }

  async function loadBreakdown(mine) {
    const key = chosenBreakdownKey();
    view.breakdownKey.replaceChildren(...labelKeys.map((k) => h("option", { value: k.key, text: k.key })));
    view.breakdownKey.value = key;
    view.breakdownCard.hidden = !key;
    if (!key) { breakdown = null; return; }
    let data;
    try {
      // Only the per-value totals are shown (exact for the period whatever the
      // resolution): hourly buckets keep the answer small for long periods.
      data = await api("api/metrics", {
        params: {
          name: state.metric, period: state.period,
          resolution: periodSeconds(state.period) > 3600 ? "hour" : "minute",
          project: state.project, labels: state.labels, group_by: key,
        },
      });
    } catch (err) {
      if (mine !== seriesSeq) return;
      if (err instanceof UI.AuthError) { UI.handleError(err); return; }
      view.breakdownBody.replaceChildren();
      UI.handleError(err, { where: view.breakdownBody, retry: () => loadBreakdown(seriesSeq),
        title: "Could not load the breakdown" });
      return;
    }
    if (mine !== seriesSeq) return;
    // Rates are over the time the data covers (a new install has minutes, not the
    // period): from the oldest minute with data, as the dashboard reports it.
    const since = Date.parse(dataSince || "");
    const covered = Number.isFinite(since) ? Date.now() / 1000 - since + 30 : Infinity;
    breakdown = {
      key,
      seconds: Math.max(60, Math.min(periodSeconds(state.period), covered)),
      rows: (data.series || []).map((s) => ({ value: s.labels[key], total: s.total })),
    };
    renderBreakdown();
  }

  const rate3 = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 3 });

  /** Events per second, or per minute when that reads better (0.0083/s is 0.5/min). */
  function rateText(perSecond) {
    if (!Number.isFinite(perSecond)) return "—";
    if (perSecond === 0) return "0";
    if (perSecond >= 1000) return `${fmt(perSecond)}/s`;
    return perSecond >= 1 ? `${rate3.format(perSecond)}/s` : `${rate3.format(perSecond * 60)}/min`;
  }

  /** The breakdown's columns for the metric's type: a counter's total, a histogram's tail. */
  function breakdownColumns() {
    const kind = typeOf(state.metric);
    const unit = unitOf(state.metric);
    const seconds = breakdown.seconds;
    const inUnit = (v) => fmtUnit(v, unit);
    const count = (r) => r.total.count;
    if (kind === "counter") {
      return [
        { id: "total", title: "Total", get: (r) => r.total.sum, show: fmt },
        { id: "rate", title: "Rate", get: (r) => r.total.sum / seconds, show: rateText },
        { id: "count", title: "Points", get: count, show: fmt },
      ];
    }
    const cols = [
      { id: "count", title: "Count", get: count, show: fmt },
      { id: "rate", title: "Rate", get: (r) => r.total.count / seconds, show: rateText },
      { id: "avg", title: "Avg", get: (r) => r.total.avg, show: inUnit },
    ];
    if (kind === "histogram" || breakdown.rows.some((r) => r.total.p95 !== null)) {
      cols.push({ id: "p95", title: "p95", get: (r) => r.total.p95, show: inUnit, tail: true },
        { id: "p99", title: "p99", get: (r) => r.total.p99, show: inUnit, tail: true });
    } else {
      cols.push({ id: "max", title: "Max", get: (r) => r.total.max, show: inUnit });
    }
    return cols;
  }

  function renderBreakdown() {
    if (!breakdown) return;
    const cols = breakdownColumns();
    const { key, rows } = breakdown;
    const fallback = cols.find((c) => c.id === "p95") || cols[0];
    const by = (sort && cols.find((c) => c.id === sort.col)) || fallback;
    const desc = sort ? sort.desc : true;
    const value = (r) => { const v = by.get(r); return Number.isFinite(v) ? v : -Infinity; };
    const ordered = [...rows].sort((a, b) => (desc ? value(b) - value(a) : value(a) - value(b))
      || String(a.value).localeCompare(String(b.value)));
    view.breakdownNote.textContent = `${plural(rows.length, "value")} · ${
      rows.length >= 51 ? "the 50 busiest, the rest as “other” · " : ""}click one to filter`;
    const head = h("tr", {}, h("th", { scope: "col", text: key }), cols.map((c) => h("th", {
      scope: "col", class: "num", "aria-sort": c === by ? (desc ? "descending" : "ascending") : "none",
    }, h("button", {
      type: "button", class: "sort", dataset: { col: c.id },
      title: `Sort by ${c.title}`, text: `${c.title}${c === by ? (desc ? " ▾" : " ▴") : ""}`,
      on: { click: () => { sort = { col: c.id, desc: c === by ? !desc : true }; renderBreakdown(); } },
    }))));
    const body = ordered.map((r) => {
      const real = r.value !== null && r.value !== undefined && r.value !== OTHER;
      const text = r.value === OTHER ? "Other values" : real ? String(r.value) : "(no label)";
      const pick = () => setFilterPair(key, String(r.value));
      return h("tr", {
        class: `breakdown-row${real ? " is-pickable" : ""}`, dataset: { value: real ? String(r.value) : "" },
        tabindex: real ? "0" : null, title: real ? `Filter on ${key}:${r.value}` : null,
        on: real ? {
          click: pick,
          keydown: (event) => {
            if (event.key === "Enter" || event.key === " ") { event.preventDefault(); pick(); }
          },
        } : {},
      }, h("td", { class: "c-value" }, h("span", { class: "value-text", text: text, title: text })),
      cols.map((c) => h("td", {
        class: "num", dataset: { col: c.id },
        text: `${c.tail && r.total.approximate ? "≈ " : ""}${c.show(c.get(r))}`,
      })));
    });
    view.breakdownBody.replaceChildren(h("div", { class: "table-wrap" },
      h("table", { class: "breakdown-table", id: "breakdown-table" },
        h("thead", {}, head), h("tbody", {}, body))));
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
    }, h("span", { class: "chip-key", text: key }), h("span", { class: "chip-value", text: value }),
    h("button", {
      type: "button", class: "chip-remove", "aria-label": `Remove the filter on ${key}`, text: "×",
      on: { click: () => removeFilterPair(key) },
    }))));
  }

  function renderSeries(data) {
    const step = data.resolution === "hour" ? 3600 : 60;
    const rows = data.data || [];
    const grid = Charts.grid(rows, { step, periodSeconds: periodSeconds(state.period) });
    const per = data.resolution === "hour" ? "hour" : "minute";
    view.resolution.textContent = `per ${per}`;
    showSeriesState(null);
    const kind = typeOf(state.metric);
    const unit = unitOf(state.metric);
    const inUnit = (value, s) => (s && s.scale === "right" ? fmt(value) : fmtUnit(value, unit));
    // A counter's points are increments: their sum per bucket is what happened (a rate);
    // their average is the client's flush size, which says nothing.
    const counter = kind === "counter";
    const shape = `${step}:${counter}:${unit}`;

    if (!seriesChart || seriesChart.shape !== shape) {
      if (seriesChart) seriesChart.destroy();
      seriesChart = new Charts.TimeChart(view.seriesBody, {
        step, height: 260, unit, format: inUnit,
        series: counter
          ? [{ key: "sum", label: `total per ${per}`, color: COLORS.avg, bars: true }]
          : [
            { key: "avg", label: "avg", color: COLORS.avg },
            { key: "count", label: "count", color: COLORS.count, scale: "right", bars: true },
          ],
        extra: (i) => {
          const row = seriesChart.rows[i];
          if (!row) return [];
          return counter ? [["points", fmt(row.count)]]
            : [["min", inUnit(row.min)], ["max", inUnit(row.max)]];
        },
      });
      seriesChart.shape = shape;
    }
    seriesChart.rows = grid.rows;
    seriesChart.update(grid.xs, counter ? [grid.column("sum")]
      : [grid.column("avg"), grid.column("count")]);

    const histogram = typeOf(state.metric) === "histogram"
      || rows.some((row) => row.p50 !== null && row.p50 !== undefined);
    view.pctCard.hidden = !histogram;
    view.approx.hidden = !rows.some((row) => row.approximate);
    if (histogram) {
      if (!pctChart || pctChart.shape !== `${step}:${unit}`) {
        if (pctChart) pctChart.destroy();
        pctChart = new Charts.TimeChart(view.pctBody, {
          step, height: 220, unit, format: (value) => fmtUnit(value, unit),
          series: ["p50", "p95", "p99"].map((p) => ({ key: p, label: p, color: COLORS[p] })),
        });
        pctChart.shape = `${step}:${unit}`;
      }
      pctChart.update(grid.xs, [grid.column("p50"), grid.column("p95"), grid.column("p99")]);
    }

    let count = 0;
    let sum = 0;
    for (const row of rows) { count += row.count || 0; sum += row.sum || 0; }
    setMetricStats(count ? { count, sum, avg: sum / count } : { count: 0, sum: 0, avg: null });
  }

  function setMetricStats(stats) {
    const counter = typeOf(state.metric) === "counter";
    document.getElementById("s-points").textContent = stats ? stats.count.toLocaleString("en-US") : "—";
    document.getElementById("s-avg-label").textContent =
      `Selected metric · ${counter ? "total" : "average"}`;
    document.getElementById("s-avg").textContent = !stats ? "—"
      : counter ? fmt(stats.sum) : fmtUnit(stats.avg, unitOf(state.metric));
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
    h("td", { class: "num top-figure", text: topFigure(m) })));
    view.topBody.replaceChildren(h("table", { class: "top-table" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col", text: "Metric" }), h("th", { scope: "col", class: "num", text: "Points" }),
        h("th", {
          scope: "col", class: "num", text: "Value",
          title: "Counters: their total · histograms: p95 over the period · gauges: average",
        }))),
      h("tbody", {}, rows)));
    highlightTop();
  }

  /** What says most about a metric at a glance: a counter's total, a histogram's p95. */
  function topFigure(m) {
    const unit = unitOf(m.name);
    if (m.type === "counter") return `Σ ${fmt(m.total)}`;
    if (m.type === "histogram" && m.p95 !== null && m.p95 !== undefined) {
      return `p95 ${fmtUnit(m.p95, unit)}`;
    }
    const avg = m.avg ?? (m.count ? m.total / m.count : null);
    return `avg ${fmtUnit(avg, unit)}`;
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
        h("span", { class: "muted", id: "vitals-note", text: `Real users' browsers · 75th percentile${
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
    // Rated by the 75th percentile, as Google's Core Web Vitals assessment rates a page
    // (the API's rating follows it); the average is kept for reference.
    const p75 = s.p75 !== null && s.p75 !== undefined;
    const headline = p75 ? s.p75 : s.avg;
    const rating = RATING_TEXT[s.rating] ? s.rating : rate(vital, headline);
    return h("div", { class: `vital vital-${rating}`, dataset: { vital: vital.key, rating } },
      head,
      h("div", { class: "vital-main" },
        h("span", { class: "vital-stat", text: p75 ? "p75" : "avg" }),
        h("span", {
          class: "vital-value", text: `${s.approximate ? "≈ " : ""}${vital.format(headline)}`,
          title: s.approximate ? "Part of this period predates percentile sketches" : null,
        }),
        h("span", { class: `rating rating-${rating}`, text: RATING_TEXT[rating] || rating })),
      distribution(s.distribution),
      sparkline(vital, grid),
      h("p", { class: "vital-foot", text: `${plural(s.count, "sample")}${
        p75 ? ` · avg ${vital.format(s.avg)}` : ""} · good ≤ ${
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
