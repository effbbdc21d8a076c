// The discovery pages' charts, drawn by Chart.js from the numbers the page embeds (the same
// numbers its tables show). No network request: the page is the data.
(function () {
  "use strict";
  const { palette, draw } = window.vidcurateCharts;
  const data = window.vidcurateCharts.data("discovery-data");
  if (!data) {
    return;
  }
  const blue = palette[0];
  const grey = palette[6];

  if (data.histogram) {
    draw("chart-relevance", {
      type: "bar",
      data: {
        labels: data.histogram.labels,
        datasets: [{ label: "mappings", data: data.histogram.counts, backgroundColor: blue }],
      },
      options: {
        maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: {
          x: { title: { display: true, text: "relevance score" } },
          y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "mappings" } },
        },
      },
    });
  }
  if (data.coverage && data.coverage.labels.length) {
    draw("chart-coverage", {
      type: "bar",
      data: {
        labels: data.coverage.labels,
        datasets: [
          { label: "words with clips", data: data.coverage.covered, backgroundColor: blue },
          { label: "words without", data: data.coverage.missing, backgroundColor: grey },
        ],
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } },
      },
    });
  }
})();
