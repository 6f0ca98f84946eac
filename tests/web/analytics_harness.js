// Runs web/static/app.js against stand-ins for the DOM and Chart.js, then reports what it built:
// each chart's config and the URL a click on a given point opens. Used by test_analytics_js.py.
"use strict";
const fs = require("fs");
const [appPath, dataPath, narrow, clicksJson] = process.argv.slice(2);
const data = fs.readFileSync(dataPath, "utf8");
const opened = [];
const built = {};
const canvases = ["volume", "net", "share", "sentiment"].map((name) => ({ dataset: { chart: name }, isConnected: true }));
global.window = {
  matchMedia: () => ({ matches: narrow === "1" }),
  location: { assign: (url) => opened.push(url) },
};
global.document = {
  readyState: "complete",
  querySelector: (selector) => (selector === "script.chart-data" ? { textContent: data } : null),
  querySelectorAll: (selector) => (selector === "canvas[data-chart]" ? canvases : []),
};
global.Chart = function (canvas, config) {
  this.canvas = canvas;
  this.data = config.data;
  built[canvas.dataset.chart] = config;
};
global.Chart.defaults = {};
global.Chart.getChart = () => undefined;
require(appPath);
const clicks = JSON.parse(clicksJson);
for (const [name, datasetIndex, index] of clicks) {
  const config = built[name];
  config.options.onClick({}, [{ datasetIndex, index }], { data: config.data });
}
const summary = {};
for (const [name, config] of Object.entries(built)) {
  summary[name] = {
    type: config.type,
    legend: config.options.plugins.legend.position,
    responsive: config.options.responsive,
    maintainAspectRatio: config.options.maintainAspectRatio,
    xTicks: config.options.scales.x.ticks.maxTicksLimit,
    yStacked: Boolean(config.options.scales.y.stacked),
    fills: config.data.datasets.map((d) => d.fill),
  };
}
process.stdout.write(JSON.stringify({ charts: summary, opened }));
