/* Analytics charts (uPlot): per currency, money in and out per period (bars) and the balance held at
   each period's end (a line). Periods are the user's days (as the tables' rows); money in the page's own format and y axes as
   wide as their longest label (window.walletCharts, from charts.js). The tables under the charts
   hold the same numbers, so nothing here is needed to read them. */
(function () {
  "use strict";
  var source = document.getElementById("analytics-data");
  if (!source || !window.uPlot || !window.walletCharts) { return; }
  var data = {};
  JSON.parse(source.textContent).forEach(function (s) { data[s.currency] = s; });
  var HEIGHT = 220;
  var charts = [];

  // The x axis is the periods themselves (0 … n-1), labelled as the table's rows; whole steps only.
  function axes(money, box, labels) {
    return [
      { stroke: "#5d6878", grid: { show: false }, ticks: { stroke: "#e1e5eb" }, space: 64,
        incrs: [1, 2, 3, 5, 7, 10, 14, 15, 20, 30, 50, 60, 90, 100, 180, 365],
        values: function (u, splits) {
          return splits.map(function (i) { return Number.isInteger(i) && labels[i] !== undefined ? labels[i] : ""; });
        } },
      { stroke: "#5d6878", grid: { stroke: "#eef0f4" }, ticks: { stroke: "#e1e5eb" },
        size: window.walletCharts.axisSize(box),
        values: function (u, vals) {
          var labels = vals.map(function (v) { return money.format(v); });
          box.dataset.yLabels = JSON.stringify(labels);  // what the axis shows, for tests and tools
          return labels;
        } },
    ];
  }
  function draw(figure) {
    var s = data[figure.dataset.currency];
    var box = figure.querySelector(".chart-canvas");
    if (!s || !box || !s.labels.length) { return; }
    var money = window.walletCharts.formatter(s.format);
    var value = function (u, v) { return v == null ? "\u2014" : money.format(v); };
    var flows = figure.dataset.chart === "flows";
    var series = flows ? [
      {},
      { label: "In", stroke: "#1f8a4c", fill: "rgba(31,138,76,0.55)", value: value,
        paths: uPlot.paths.bars({ size: [0.35, 48], align: -1 }), points: { show: false } },
      { label: "Out", stroke: "#c2410c", fill: "rgba(194,65,12,0.55)", value: value,
        paths: uPlot.paths.bars({ size: [0.35, 48], align: 1 }), points: { show: false } },
    ] : [
      {},
      { label: "Balance", stroke: "#2f5bea", width: 2, fill: "rgba(47,91,234,0.08)", value: value,
        points: { show: s.labels.length < 60, size: 5 } },
    ];
    var opts = {
      width: Math.max(240, box.clientWidth), height: HEIGHT,
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: false, range: function () { return [-0.5, s.labels.length - 0.5]; } },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.15 : 1]; } },
      },
      axes: axes(money, box, s.labels),
      series: series,
    };
    series[0] = { label: "Period", value: function (u, i) { return i == null ? "\u2014" : s.labels[i]; } };
    var x = s.labels.map(function (_, i) { return i; });
    var values = flows ? [x, s.credits, s.debits] : [x, s.balance];
    var chart = new uPlot(opts, values, box);
    box.dataset.drawn = "1";
    charts.push({ chart: chart, box: box });
  }
  document.querySelectorAll("figure[data-chart]").forEach(draw);

  var pending = null;
  window.addEventListener("resize", function () {
    if (pending) { window.cancelAnimationFrame(pending); }
    pending = window.requestAnimationFrame(function () {
      charts.forEach(function (c) { c.chart.setSize({ width: Math.max(240, c.box.clientWidth), height: HEIGHT }); });
    });
  });
})();
