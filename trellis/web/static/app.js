// Trellis web viewer: the few behaviours that need a script (every page works without it otherwise).
(function () {
  "use strict";

  // A link to a step not yet loaded (#step-4000 on a long timeline): ask the server to start there.
  function reachStep() {
    var m = /^#step-(\d+)$/.exec(window.location.hash);
    if (!m || document.getElementById("step-" + m[1])) return;
    var timeline = document.getElementById("timeline");
    if (!timeline) return;
    var url = new URL(window.location.href);
    if (url.searchParams.get("start") === m[1]) return;
    url.searchParams.set("start", m[1]);
    window.location.replace(url.toString());
  }

  // The SQL console's chart: data from the page's JSON block (never from inline script).
  function drawChart() {
    var block = document.getElementById("chart-data");
    var canvas = document.getElementById("chart");
    if (!block || !canvas || typeof Chart === "undefined") return;
    var spec = JSON.parse(block.textContent);
    var colors = ["#0969da", "#1a7f37", "#cf222e", "#8250df", "#9a6700", "#57606a"];
    var datasets = spec.series.map(function (s, i) {
      return { label: s.name, data: spec.kind === "time"
                 ? s.values.map(function (v, j) { return { x: spec.labels[j], y: v }; })
                 : s.values,
               borderColor: colors[i % colors.length], backgroundColor: colors[i % colors.length] + "99" };
    });
    var options = { animation: false, responsive: true, maintainAspectRatio: false,
                    plugins: { legend: { display: datasets.length > 1 } } };
    if (spec.kind === "time") {
      options.scales = { x: { type: "linear", title: { display: true, text: spec.x },
                              ticks: { callback: function (v) { return new Date(v).toISOString().slice(0, 16).replace("T", " "); } } } };
    }
    var chart = new Chart(canvas, { type: spec.kind === "time" ? "line" : "bar",
                                    data: { labels: spec.kind === "time" ? undefined : spec.labels, datasets: datasets },
                                    options: options });
    canvas.dataset.drawn = String(chart.data.datasets.length);
  }

  // Fold or unfold every long observation at once.
  function toggles() {
    document.querySelectorAll("[data-fold-all]").forEach(function (button) {
      button.addEventListener("click", function () {
        var open = button.dataset.foldAll === "open";
        document.querySelectorAll("details.obs").forEach(function (d) { d.open = open; });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { reachStep(); drawChart(); toggles(); });
  window.addEventListener("hashchange", reachStep);
})();
