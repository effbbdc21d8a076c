// A set's page: its mix against the target and its quality scores, drawn by Chart.js from
// the numbers the page embeds (the same its tables show). No network request.
(function () {
  "use strict";
  const { colour, draw } = window.vidcurateCharts;
  const data = window.vidcurateCharts.data("set-data");
  if (!data) {
    return;
  }

  draw("chart-mix", {
    type: "bar",
    data: {
      labels: data.categories,
      datasets: [
        { label: "in the set (%)", data: data.percentages, backgroundColor: colour(0) },
        { label: "target (%)", data: data.targets, backgroundColor: colour(6) },
      ],
    },
    options: {
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, suggestedMax: 100, ticks: { callback: (v) => v + " %" } } },
    },
  });
  const scores = Array.from({ length: 10 }, (_, i) => String(i + 1));
  draw("chart-quality", {
    type: "bar",
    data: {
      labels: scores,
      datasets: data.quality.map(([name, counts], i) => ({
        label: name,
        data: counts,
        backgroundColor: colour(i),
      })),
    },
    options: {
      maintainAspectRatio: false,
      scales: {
        x: { stacked: true, title: { display: true, text: "quality score" } },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "images" } },
      },
    },
  });
})();
