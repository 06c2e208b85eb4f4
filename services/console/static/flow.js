/* The flow page's lag charts (uPlot): drawn from the page's #lag-data block, then refreshed from
   /flow/lag.json at the sampler's interval. Data only: no value from the page is ever run as code. */
(function () {
  "use strict";
  var PALETTE = ["#1f5fbf", "#b42318", "#1d7a3e", "#a15c00", "#6941c6", "#0e7090", "#c11574", "#4e5ba6",
                 "#667085", "#b54708"];
  var charts = {};

  function read() {
    var block = document.getElementById("lag-data");
    return block ? JSON.parse(block.textContent || "null") : null;
  }

  function width(el) {
    return Math.max(320, el.clientWidth - 16);
  }

  function draw(id, data, key, unit) {
    var el = document.getElementById(id);
    if (!el || !data || typeof uPlot === "undefined") {
      return;
    }
    var series = [{}].concat(data.groups.map(function (group, n) {
      return { label: group, stroke: PALETTE[n % PALETTE.length], width: 1.5, spanGaps: false,
               value: function (u, v) { return v == null ? "—" : v.toLocaleString() + unit; } };
    }));
    var rows = [data.times].concat(data[key]);
    var existing = charts[id];
    if (existing && existing.groups === data.groups.join("\n")) {
      existing.plot.setData(rows);
      return;
    }
    if (existing) {
      existing.plot.destroy();
    }
    var opts = { title: el.getAttribute("data-title"), width: width(el), height: 260, series: series,
                 scales: { x: { time: true } }, axes: [{}, { size: 70 }] };
    charts[id] = { plot: new uPlot(opts, rows, el), groups: data.groups.join("\n") };
  }

  function show(data) {
    if (!data || !data.times) {
      return;
    }
    draw("lag-chart", data, "lag", "");
    draw("lag-seconds-chart", data, "lag_seconds", " s");
  }

  function refresh(every) {
    window.setTimeout(function () {
      fetch("/flow/lag.json", { credentials: "same-origin", headers: { accept: "application/json" } })
        .then(function (answer) { return answer.ok ? answer.json() : null; })
        .then(function (data) { show(data); })
        .catch(function () { /* keep the last chart; the next refresh tries again */ })
        .then(function () { refresh(every); });
    }, every);
  }

  var initial = read();
  show(initial);
  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (id) {
      var el = document.getElementById(id);
      charts[id].plot.setSize({ width: width(el), height: 260 });
    });
  });
  if (initial) {
    refresh(Math.max(5, initial.interval_seconds || 15) * 1000);
  }
})();
