// Draws the overview charts from the JSON embedded next to them; re-draws after htmx refreshes.
// No inline script anywhere: the Content-Security-Policy only allows scripts from /static.
(function () {
  "use strict";

  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569", "#ea580c"];
  const SENTIMENT_COLORS = { negative: "#dc2626", neutral: "#94a3b8", positive: "#16a34a", unclassified: "#e2e8f0" };
  const charts = [];

  function volumeConfig(data) {
    return {
      type: "line",
      data: {
        labels: data.labels,
        datasets: data.series.map((s, i) => ({
          label: s.label, data: s.data, borderColor: PALETTE[i % PALETTE.length],
          backgroundColor: PALETTE[i % PALETTE.length], tension: 0.25, pointRadius: 0, borderWidth: 2,
        })),
      },
      options: {
        maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { ticks: { maxTicksLimit: 12 } } },
      },
    };
  }

  function sentimentConfig(data) {
    return {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map((s) => ({ label: s.label, data: s.data, backgroundColor: SENTIMENT_COLORS[s.label] || "#64748b" })),
      },
      options: {
        maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
        scales: { x: { stacked: true, ticks: { maxTicksLimit: 8 } }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      },
    };
  }

  function shareConfig(data) {
    return {
      type: "doughnut",
      data: { labels: data.labels, datasets: [{ data: data.data, backgroundColor: data.labels.map((_, i) => PALETTE[i % PALETTE.length]) }] },
      options: { maintainAspectRatio: false, plugins: { legend: { position: "right" } } },
    };
  }

  const BUILDERS = { volume: volumeConfig, sentiment: sentimentConfig, share: shareConfig };

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
      charts.push(new Chart(canvas, build(data[canvas.dataset.chart])));
    });
  }

  function start() {
    if (typeof Chart !== "undefined") Chart.defaults.animation = false; // refreshes every 30 s; no flicker
    draw(document); // htmx may have announced the first load before this script listened
    if (typeof htmx !== "undefined") htmx.onLoad(draw);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
