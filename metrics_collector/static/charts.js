// Time-series charts on uPlot with a legend of our own: it shows the values under
// the cursor, or the latest values when the cursor is elsewhere, and is built from
// text nodes like everything else on the page.
"use strict";

const Charts = (() => {
  const { h } = UI;
  const AXIS = "#5d6878";
  const GRID = "#eceff3";
  const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", '
    + '"DejaVu Sans", Arial, sans-serif';

  const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumSignificantDigits: 3 });
  const plain = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 4 });
  const whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

  /** A number as people read it: 0.0123, 12.35, 1,234, 123K, 4.5M; "—" for none.
   * Past the largest suffix (999T) and below 0.0001 it is an exponent (1.00e300,
   * 2.50e-300): a value of 1e300 would otherwise print 300 digits. */
  function fmt(value) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "—";
    const size = Math.abs(value);
    if (size >= 1e15 || (size > 0 && size < 1e-4)) return value.toExponential(2).replace("e+", "e");
    if (size >= 100000) return compact.format(value);
    if (size >= 1000) return whole.format(value);
    return plain.format(value);
  }

  /** Axis ticks: like fmt, but short and never "—". */
  const tickValues = (u, splits) => splits.map((v) => (v === null ? "" : fmt(v)));

  // ---- units ---------------------------------------------------------------------
  // Read from the metric's name, as Prometheus names them: `*_seconds` and `*_ms`
  // are durations (shown as µs/ms/s/min/h), `*_bytes` sizes (B/KB/MB/GB/TB, 1000-based).

  const three = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 3 });
  const DURATIONS = [[3600000, "h"], [60000, "min"], [1000, "s"], [1, "ms"], [0.001, "µs"]];
  const SIZES = [[1e15, "PB"], [1e12, "TB"], [1e9, "GB"], [1e6, "MB"], [1e3, "KB"], [1, "B"]];

  /** "s", "ms", "B" or "" (a plain number). */
  function unitOf(name) {
    if (/(_seconds|_secs)$/.test(name || "")) return "s";
    if (/(_ms|_milliseconds)$/.test(name || "")) return "ms";
    if (/_bytes$/.test(name || "")) return "B";
    return "";
  }

  /** A value in its unit, scaled to read at a glance: 0.0234 s → "23.4 ms". */
  function fmtUnit(value, unit) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "—";
    const steps = unit === "s" || unit === "ms" ? DURATIONS : unit === "B" ? SIZES : null;
    if (!steps) return fmt(value);
    const base = unit === "s" ? value * 1000 : value; // durations in ms
    const size = Math.abs(base);
    if (size === 0) return `0 ${unit === "B" ? "B" : "ms"}`;
    if (size >= 1e18 || (size < 1e-4 && unit !== "B")) return `${fmt(value)} ${unit}`;
    const [factor, name] = steps.find(([f]) => size >= f) || steps[steps.length - 1];
    return `${three.format(base / factor)} ${name}`;
  }

  const timeOf = (seconds) => new Date(seconds * 1000);

  /** Time ticks in 24-hour local time; a date instead at midnight or for day-sized steps. */
  function timeTicks(u, splits, axisIdx, space, incr) {
    return splits.map((seconds) => {
      const t = timeOf(seconds);
      const day = t.toLocaleDateString("en-US", { month: "short", day: "numeric" });
      if (incr >= 86400 || (t.getHours() === 0 && t.getMinutes() === 0)) return day;
      return `${two(t.getHours())}:${two(t.getMinutes())}`;
    });
  }
  const two = (n) => String(n).padStart(2, "0");

  /** "14:05" today, "Nov 21 14:05" on other days (local time, like the axes). */
  function fmtTime(seconds, step) {
    const t = timeOf(seconds);
    const hm = `${two(t.getHours())}:${two(t.getMinutes())}`;
    const now = new Date();
    const sameDay = t.toDateString() === now.toDateString();
    const day = t.toLocaleDateString("en-US", { month: "short", day: "numeric" });
    if (step >= 3600) return `${day} ${hm}`;
    return sameDay ? hm : `${day} ${hm}`;
  }

  /**
   * Rows of the API (`bucket` ISO times, oldest first) laid on a regular grid of
   * `step` seconds covering the whole period up to now, with nulls where no
   * bucket has data, so gaps show as gaps and the x axis is the chosen period.
   */
  function grid(rows, { step, periodSeconds, now = Date.now() }) {
    const last = Math.floor(now / 1000 / step) * step;
    let first = last - Math.max(1, Math.ceil(periodSeconds / step) - 1) * step;
    const byTime = new Map();
    let end = last;
    for (const row of rows) {
      const t = Math.floor(Date.parse(row.bucket) / 1000);
      if (!Number.isFinite(t)) continue;
      byTime.set(t, row);
      if (t < first) first = t - ((t - first) % step + step) % step;
      if (t > end) end = t;
    }
    const xs = [];
    const picked = [];
    for (let t = first; t <= end; t += step) {
      xs.push(t);
      picked.push(byTime.get(t) || null);
    }
    const column = (field) => picked.map((row) => (row && row[field] !== undefined ? row[field] : null));
    return { xs, rows: picked, column };
  }

  /** Indices of points with no neighbour: a line cannot show them, a dot can. */
  function isolated(values) {
    const out = [];
    for (let i = 0; i < values.length; i++) {
      if (values[i] === null) continue;
      const before = i === 0 || values[i - 1] === null;
      const after = i === values.length - 1 || values[i + 1] === null;
      if (before && after) out.push(i);
    }
    return out;
  }

  /**
   * A chart in `container`: `series` = [{key, label, color, scale ("y", or "right"
   * for a second axis from 0 on the right), bars?}], `format` for legend values. `update(xs, columns)` redraws with new data; the legend (a
   * sibling element built here) follows the cursor.
   */
  class TimeChart {
    constructor(container, {
      series, height = 240, step = 60, sync = "metrics", extra = null, format = fmt, unit = "",
    }) {
      this.container = container;
      this.series = series;
      this.step = step;
      this.extra = extra; // (index) => [[label, text]...] extra legend facts, e.g. min/max
      this.format = format; // (value, series) => text
      this.unit = unit; // of the left axis ("s", "ms", "B" or "")
      this.legend = h("div", { class: "chart-legend", "aria-live": "off" });
      this.plotEl = h("div", { class: "chart-plot" });
      this.empty = h("div", { class: "chart-empty", hidden: true },
        h("span", { text: "No data in this period" }));
      container.replaceChildren(this.legend, h("div", { class: "chart-area" }, this.plotEl, this.empty));
      this.height = height;
      this.sync = sync;
      this.plot = null;
      this.data = null;
      this.resizer = new ResizeObserver(() => this.resize());
      this.resizer.observe(container);
    }

    options(width) {
      const hasRight = this.series.some((s) => s.scale === "right");
      const scales = { x: { time: true }, y: { auto: true, range: (u, lo, hi) => niceRange(lo, hi) } };
      if (hasRight) scales.right = { auto: true, range: (u, lo, hi) => [0, hi > 0 ? hi * 1.15 : 1] };
      const axes = [
        {
          stroke: AXIS, font: FONT, values: timeTicks, grid: { stroke: GRID, width: 1 },
          ticks: { stroke: GRID },
        },
        {
          scale: "y", stroke: AXIS, font: FONT, size: this.unit ? 64 : 56,
          values: this.unit
            ? (u, splits) => splits.map((v) => (v === null ? "" : fmtUnit(v, this.unit)))
            : tickValues,
          grid: { stroke: GRID, width: 1 }, ticks: { show: false },
        },
      ];
      if (hasRight) {
        axes.push({
          scale: "right", side: 1, stroke: AXIS, font: FONT, size: 52, values: tickValues,
          grid: { show: false }, ticks: { show: false },
        });
      }
      const bars = uPlot.paths.bars({ size: [0.7, 24], gap: 1 });
      return {
        width, height: this.height, padding: [10, hasRight ? 6 : 24, 0, 4],
        legend: { show: false },
        cursor: { sync: { key: this.sync }, points: { size: 7 }, drag: { x: false, y: false } },
        scales, axes,
        series: [
          {},
          ...this.series.map((s) => ({
            label: s.label, scale: s.scale || "y", stroke: s.color, width: s.bars ? 0 : 2,
            fill: s.bars ? `${s.color}55` : undefined,
            paths: s.bars ? bars : undefined,
            points: s.bars ? { show: false }
              : { filter: (u, si, show) => (show ? null : isolated(u.data[si])), size: 5, fill: s.color },
            spanGaps: false,
          })),
        ],
        hooks: { setCursor: [(u) => this.renderLegend(u.cursor.idx)] },
      };
    }

    update(xs, columns) {
      this.data = [xs, ...columns];
      const hasData = columns.some((col) => col.some((v) => v !== null));
      this.empty.hidden = hasData;
      this.container.classList.toggle("is-empty", !hasData);
      if (!this.plot) {
        this.plot = new uPlot(this.options(this.width()), this.data, this.plotEl);
      } else {
        this.plot.setData(this.data);
      }
      this.renderLegend(this.plot.cursor.idx);
    }

    width() { return Math.max(280, Math.floor(this.container.clientWidth)); }

    resize() {
      if (this.plot && this.plot.width !== this.width()) {
        this.plot.setSize({ width: this.width(), height: this.height });
      }
    }

    /** The values at `idx` (the cursor) or, with no cursor, at the latest bucket with data. */
    renderLegend(idx) {
      if (!this.data) return;
      const [xs, ...cols] = this.data;
      let at = idx;
      const hovering = at !== null && at !== undefined && at >= 0;
      if (!hovering) {
        at = -1;
        for (let i = xs.length - 1; i >= 0 && at < 0; i--) {
          if (cols.some((col) => col[i] !== null)) at = i;
        }
      }
      const when = at >= 0
        ? `${hovering ? "" : "Latest · "}${fmtTime(xs[at], this.step)}`
        : "No data";
      const items = this.series.map((s, i) => {
        const swatch = h("span", { class: `legend-swatch${s.bars ? " is-bar" : ""}` });
        swatch.style.background = s.color; // CSSOM: allowed by the page's CSP
        return h("span", { class: "legend-item", dataset: { series: s.key } },
          swatch,
          h("span", { class: "legend-label", text: s.label }),
          h("span", { class: "legend-value", text: at >= 0 ? this.format(cols[i][at], s) : "—" }));
      });
      const extras = at >= 0 && this.extra ? this.extra(at) : [];
      this.legend.replaceChildren();
      UI.append(this.legend, [
        h("span", { class: "legend-time", text: when }),
        items,
        extras.map(([label, value]) => h("span", { class: "legend-item legend-extra" },
          h("span", { class: "legend-label", text: label }),
          h("span", { class: "legend-value", text: value }))),
      ]);
      this.legend.classList.toggle("is-hovering", hovering);
    }

    destroy() {
      this.resizer.disconnect();
      if (this.plot) this.plot.destroy();
      this.plot = null;
    }
  }

  /**
   * A small trend line without axes (a Web Vital over the period), with its
   * good / poor thresholds as dashed lines so the trend reads against them.
   */
  class Sparkline {
    constructor(container, { color, thresholds = [], height = 54, label = "" }) {
      this.container = container;
      this.color = color;
      this.thresholds = thresholds; // [{value, color}]
      this.height = height;
      this.plotEl = h("div", { class: "spark-plot", role: "img", "aria-label": label, title: label });
      container.replaceChildren(this.plotEl);
      this.plot = null;
      this.resizer = new ResizeObserver(() => {
        if (this.plot && this.plot.width !== this.width()) {
          this.plot.setSize({ width: this.width(), height: this.height });
        }
      });
      this.resizer.observe(container);
    }

    width() { return Math.max(120, Math.floor(this.container.clientWidth)); }

    options() {
      const top = Math.max(0, ...this.thresholds.map((t) => t.value));
      return {
        width: this.width(), height: this.height, padding: [4, 4, 4, 4],
        legend: { show: false }, cursor: { show: false }, select: { show: false },
        scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(hi || 0, top) * 1.08] } },
        axes: [{ show: false }, { show: false }],
        series: [{}, {
          stroke: this.color, width: 2, fill: `${this.color}1f`, spanGaps: true,
          points: { show: (u) => u.data[0].length < 40, size: 4, fill: this.color },
        }],
        hooks: { draw: [(u) => this.drawThresholds(u)] },
      };
    }

    drawThresholds(u) {
      const { ctx, bbox } = u;
      ctx.save();
      ctx.lineWidth = Math.max(1, devicePixelRatio);
      ctx.setLineDash([4 * devicePixelRatio, 4 * devicePixelRatio]);
      for (const { value, color } of this.thresholds) {
        const y = Math.round(u.valToPos(value, "y", true)) + 0.5;
        ctx.strokeStyle = color;
        ctx.beginPath();
        ctx.moveTo(bbox.left, y);
        ctx.lineTo(bbox.left + bbox.width, y);
        ctx.stroke();
      }
      ctx.restore();
    }

    update(xs, ys) {
      if (this.gone) return; // replaced before it was first drawn
      const data = [xs, ys];
      if (!this.plot) this.plot = new uPlot(this.options(), data, this.plotEl);
      else this.plot.setData(data);
    }

    destroy() {
      this.gone = true;
      this.resizer.disconnect();
      if (this.plot) this.plot.destroy();
      this.plot = null;
    }
  }

  /** A y range with some air that includes 0 for positive data close to it. */
  function niceRange(lo, hi) {
    if (lo === null || hi === null) return [0, 1];
    if (lo === hi) return lo === 0 ? [0, 1] : [Math.min(0, lo * 0.9), hi * 1.1];
    const pad = (hi - lo) * 0.1;
    const bottom = lo >= 0 && lo - pad < (hi - lo) ? 0 : lo - pad;
    return [bottom, hi + pad];
  }

  return { TimeChart, Sparkline, grid, fmt, fmtTime, fmtUnit, unitOf, isolated };
})();
