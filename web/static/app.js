// Draws the overview charts from the JSON embedded next to them and re-draws after htmx refreshes;
// a click on any point opens the mentions it counts. Keeps the view picker in the URL.
// No inline script anywhere: the Content-Security-Policy only allows scripts from /static.
(function () {
  "use strict";

  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569", "#ea580c"];
  const SENTIMENT_COLORS = { negative: "#dc2626", neutral: "#94a3b8", positive: "#16a34a", unclassified: "#e2e8f0" };
  const charts = [];

  function narrow() { return window.matchMedia("(max-width: 600px)").matches; }

  // Shared by every chart: fills its box, legend below (a side legend eats a phone's width),
  // few enough ticks that labels never overlap at 390 px.
  function baseOptions(data, extra) {
    const small = narrow();
    const options = {
      responsive: true, maintainAspectRatio: false,
      interaction: { mode: "nearest", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12, padding: small ? 8 : 12 } } },
      scales: {
        x: { ticks: { maxTicksLimit: small ? 4 : 10, maxRotation: 0, autoSkip: true } },
        y: { beginAtZero: true, ticks: { precision: 0, maxTicksLimit: small ? 5 : 8 } },
      },
      onClick: (event, elements, chart) => drill(data, chart, elements),
      onHover: (event, elements) => { event.native.target.style.cursor = elements.length ? "pointer" : "default"; },
    };
    return merge(options, extra || {});
  }

  function merge(target, source) {
    Object.keys(source).forEach((key) => {
      const value = source[key];
      if (value && typeof value === "object" && !Array.isArray(value) && typeof target[key] === "object") merge(target[key], value);
      else target[key] = value;
    });
    return target;
  }

  // The mentions behind a point: its brand, its bucket clipped to the window, its sentiment if any.
  function drill(data, chart, elements) {
    if (!elements.length) return;
    const point = elements[0];
    const dataset = chart.data.datasets[point.datasetIndex];
    const bounds = data.bounds[point.index];
    if (!bounds) return;
    const params = new URLSearchParams();
    if (dataset.brand) params.set("brand", dataset.brand);
    if (dataset.sentiment) params.set("sentiment", dataset.sentiment);
    params.set("since", bounds[0]);
    params.set("until", bounds[1]);
    window.location.assign("/mentions?" + params.toString());
  }

  function lines(data, key, options, fill) {
    return {
      type: "line",
      data: {
        labels: data.labels,
        datasets: data[key].map((s, i) => ({
          label: s.label, brand: s.brand, data: s.data, borderColor: PALETTE[i % PALETTE.length],
          backgroundColor: fill ? PALETTE[i % PALETTE.length] + "99" : PALETTE[i % PALETTE.length],
          tension: 0.25, pointRadius: data.labels.length > 60 ? 0 : 2, pointHitRadius: 8, borderWidth: 2,
          fill: fill ? (i === 0 ? "origin" : "-1") : false, spanGaps: true,
        })),
      },
      options: baseOptions(data, options),
    };
  }

  const BUILDERS = {
    volume: (data) => lines(data, "volume", { interaction: { mode: "index" } }, false),
    net: (data) => lines(data, "net", { scales: { y: { beginAtZero: false, min: -100, max: 100 } } }, false),
    share: (data) => lines(data, "share", { scales: { y: { stacked: true, min: 0, max: 100 } } }, true),
    sentiment: (data) => ({
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.sentiment.map((s) => ({
          label: s.label, brand: s.brand, sentiment: s.sentiment, data: s.data,
          backgroundColor: SENTIMENT_COLORS[s.label] || "#64748b",
        })),
      },
      options: baseOptions(data, { scales: { x: { stacked: true }, y: { stacked: true } } }),
    }),
  };

  function draw(root) {
    if (typeof Chart === "undefined") return;
    // Charts whose canvas an htmx swap removed would otherwise leak.
    for (let i = charts.length - 1; i >= 0; i--) {
      if (!charts[i].canvas.isConnected) { charts[i].destroy(); charts.splice(i, 1); }
    }
    const scope = root.querySelector ? root : document;
    const holder = scope.querySelector("script.chart-data");
    if (!holder) return;
    const data = JSON.parse(holder.textContent);
    scope.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      const build = BUILDERS[canvas.dataset.chart];
      if (!build || Chart.getChart(canvas) || !data[canvas.dataset.chart]) return;
      charts.push(new Chart(canvas, build(data)));
    });
  }

  // The view picker: a preset range, the brand or a compared brand applies at once; typing a
  // date switches to "custom" and waits for Apply.
  function wirePicker(root) {
    const scope = root.querySelector ? root : document;
    scope.querySelectorAll("form[data-autosubmit]").forEach((form) => {
      if (form.dataset.wired) return;
      form.dataset.wired = "1";
      form.addEventListener("change", (event) => {
        const target = event.target;
        if (target.type === "datetime-local") {
          const custom = form.querySelector('input[name="range"][value="custom"]');
          if (custom) custom.checked = true;
          return;
        }
        if (target.name === "range" && target.value === "custom") return;
        form.requestSubmit();
      });
      form.addEventListener("submit", () => {
        // Presets ignore since/until: leave them out so the URL stays short and shareable.
        const range = form.querySelector('input[name="range"]:checked');
        if (range && range.value !== "custom") form.querySelectorAll('input[type="datetime-local"]').forEach((i) => { i.disabled = true; });
      });
    });
  }

  function onLoad(root) { draw(root); wirePicker(root); }

  function start() {
    if (typeof Chart !== "undefined") Chart.defaults.animation = false; // refreshes every minute; no flicker
    onLoad(document); // htmx may have announced the first load before this script listened
    if (typeof htmx !== "undefined") htmx.onLoad(onLoad);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
