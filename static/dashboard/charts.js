/* Balance over time: a uPlot chart per currency (tabs when there are several), drawn in the
   user's time zone, amounts with the currency's own decimals. */
(function () {
  "use strict";
  // The page's own money format (wallets.money.format_money, sent as ``s.format``), so the axis,
  // the tooltip and the balance cards read alike: "KWD4.144", "$1,234.50", "¥500".
  function formatter(spec) {
    var scale = Math.pow(10, spec.decimals);
    return {
      format: function (v) {
        var minor = Math.round(Math.abs(v) * scale);
        var whole = Math.floor(minor / scale);
        var text = String(whole).replace(/\B(?=(\d{3})+(?!\d))/g, spec.group);
        if (spec.decimals) {
          text += spec.decimal + String(minor - whole * scale).padStart(spec.decimals, "0");
        }
        return (v < 0 && minor ? "-" : "") + spec.prefix + text + spec.suffix;
      },
    };
  }
  // The y axis is as wide as its longest label (measured in the axis font), so no label is cut.
  function axisSize(box) {
    return function (u, values, axisIdx, cycleNum) {
      var axis = u.axes[axisIdx];
      if (cycleNum > 1 && axis._size) { return axis._size; }
      var longest = 0;
      u.ctx.font = axis.font[0];
      (values || []).forEach(function (text) { longest = Math.max(longest, u.ctx.measureText(text).width); });
      var size = Math.ceil(longest / (window.devicePixelRatio || 1) + axis.ticks.size + axis.gap + 8);
      box.dataset.yAxisSize = String(size);
      return size;
    };
  }
  // Shared with the analytics page (static/dashboard/analytics.js).
  window.walletCharts = { formatter: formatter, axisSize: axisSize };

  var holder = document.getElementById("charts");
  var source = document.getElementById("chart-data");
  if (!holder || !source || !window.uPlot) { return; }
  var series = JSON.parse(source.textContent);
  var zone = holder.dataset.timeZone || undefined;
  var HEIGHT = 220;
  var charts = {};

  function width() { return Math.max(240, holder.clientWidth); }

  function draw(s, box) {
    var money = formatter(s.format);
    var opts = {
      width: width(), height: HEIGHT,
      tzDate: function (ts) { return zone ? uPlot.tzDate(new Date(ts * 1e3), zone) : new Date(ts * 1e3); },
      cursor: { drag: { x: true, y: false } },
      scales: {
        // At least an hour wide, so a fresh history does not show sub-second ticks.
        x: { time: true, range: function (u, min, max) { return max - min < 3600 ? [max - 3600, max + 60] : [min, max]; } },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.15 : 1]; } },
      },
      axes: [
        { stroke: "#5d6878", grid: { stroke: "#eef0f4" }, ticks: { stroke: "#e1e5eb" } },
        { stroke: "#5d6878", grid: { stroke: "#eef0f4" }, ticks: { stroke: "#e1e5eb" }, size: axisSize(box),
          values: function (u, vals) {
            var labels = vals.map(function (v) { return money.format(v); });
            box.dataset.yLabels = JSON.stringify(labels);  // what the axis shows, for tests and tools
            return labels;
          } },
      ],
      series: [
        { value: "{YYYY}-{MM}-{DD} {HH}:{mm}" },
        { label: s.currency + " balance", stroke: "#2f5bea", width: 2, fill: "rgba(47,91,234,0.08)",
          paths: uPlot.paths.stepped({ align: 1 }), points: { show: s.t.length < 60, size: 5 },
          value: function (u, v) { return v == null ? "\u2014" : money.format(v); } },
      ],
    };
    return new uPlot(opts, [s.t, s.v], box);
  }

  var tabs = null;
  if (series.length > 1) {
    tabs = document.createElement("div");
    tabs.className = "chart-tabs";
    tabs.setAttribute("role", "tablist");
    tabs.setAttribute("aria-label", "Chart currency");
    holder.appendChild(tabs);
  }
  // Start on the currency the adjustment form preselects (the wallet used last), else the first.
  var preferredSelect = document.getElementById("adj_currency");
  var preferred = preferredSelect ? preferredSelect.value : null;
  var first = series.some(function (s) { return s.currency === preferred; }) ? preferred : series[0].currency;

  series.forEach(function (s) {
    var box = document.createElement("figure");
    box.className = "chart";
    box.id = "chart-" + s.currency;
    box.setAttribute("aria-label", s.currency + " balance over time");
    holder.appendChild(box);
    if (tabs) {
      var tab = document.createElement("button");
      tab.type = "button";
      tab.className = "chart-tab";
      tab.textContent = s.currency;
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-controls", box.id);
      tab.setAttribute("aria-selected", s.currency === first ? "true" : "false");
      tab.addEventListener("click", function () { show(s.currency); });
      tabs.appendChild(tab);
      box.setAttribute("role", "tabpanel");
      box.hidden = s.currency !== first;
    }
    if (s.currency === first || !tabs) { charts[s.currency] = draw(s, box); }
    box._series = s;
  });

  function show(currency) {
    holder.querySelectorAll(".chart").forEach(function (box) {
      var active = box._series.currency === currency;
      box.hidden = !active;
      if (active) {
        if (!charts[currency]) { charts[currency] = draw(box._series, box); }
        else { charts[currency].setSize({ width: width(), height: HEIGHT }); }
      }
    });
    holder.querySelectorAll(".chart-tab").forEach(function (tab) {
      tab.setAttribute("aria-selected", tab.textContent === currency ? "true" : "false");
    });
  }

  var pending = null;
  window.addEventListener("resize", function () {
    if (pending) { window.cancelAnimationFrame(pending); }
    pending = window.requestAnimationFrame(function () {
      Object.keys(charts).forEach(function (c) { charts[c].setSize({ width: width(), height: HEIGHT }); });
    });
  });
})();
