// The rounds page's chart: each task's test macro F1, round by round, drawn by Chart.js
// from the numbers the page embeds (its table shows them too). No network request.
(function () {
  "use strict";
  const { palette, draw } = window.vidcurateCharts;
  const data = window.vidcurateCharts.data("rounds-data");
  if (!data) {
    return;
  }
  const shapes = ["circle", "rect", "triangle", "rectRot", "star", "crossRot"];
  draw("chart-rounds", {
    type: "line",
    data: {
      labels: data.rounds.map((n) => "round " + n),
      datasets: Object.entries(data.tasks).map(([task, values], i) => ({
        label: task,
        data: values,
        borderColor: palette[i % palette.length],
        backgroundColor: palette[i % palette.length],
        pointStyle: shapes[i % shapes.length], // told apart without colour
        pointRadius: 5,
        spanGaps: true,
      })),
    },
    options: {
      maintainAspectRatio: false,
      scales: {
        x: { offset: true }, // one round is drawn in the middle, not on the edge
        y: { min: 0, max: 1, title: { display: true, text: "test macro F1" } },
      },
      plugins: {
        legend: { labels: { usePointStyle: true } },
        tooltip: { callbacks: { label: (c) => c.dataset.label + ": " + Number(c.parsed.y).toFixed(3) } },
      },
    },
  });
})();
