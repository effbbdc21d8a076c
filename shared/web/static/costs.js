// The costs page's charts, drawn by Chart.js from the numbers the page embeds (the same
// numbers its tables show). No network request: the page is the data.
(function () {
  "use strict";
  const { colour, usd, draw } = window.vidcurateCharts;
  const data = window.vidcurateCharts.data("costs-data");
  if (!data) {
    return;
  }

  const days = data.per_day.map((d) => d.day);
  draw("chart-days", {
    type: "bar",
    data: {
      labels: days,
      datasets: Object.entries(data.per_day_by_model).map(([model, values], i) => ({
        label: model,
        data: values,
        backgroundColor: colour(i),
      })),
    },
    options: {
      maintainAspectRatio: false,
      scales: { x: { stacked: true }, y: { stacked: true, ticks: { callback: usd } } },
      plugins: { tooltip: { callbacks: { label: (c) => c.dataset.label + ": " + usd(c.parsed.y) } } },
    },
  });
  draw("chart-tokens", {
    type: "bar",
    data: {
      labels: days,
      datasets: [
        { label: "input tokens", data: data.per_day.map((d) => d.input_tokens), backgroundColor: colour(0) },
        { label: "output tokens", data: data.per_day.map((d) => d.output_tokens), backgroundColor: colour(3) },
      ],
    },
    options: { maintainAspectRatio: false, scales: { x: { stacked: true }, y: { stacked: true } } },
  });
  for (const [id, key] of [["chart-models", "by_model"], ["chart-kinds", "by_kind"], ["chart-runs", "by_run"]]) {
    const rows = Object.entries(data[key]).slice(0, 15);
    draw(id, {
      type: "bar",
      data: {
        labels: rows.map(([name]) => name),
        datasets: [{ label: "spend (USD)", data: rows.map(([, row]) => row.cost_usd), backgroundColor: rows.map((_, i) => colour(i)) }],
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: { x: { ticks: { callback: usd } } },
      },
    });
  }
  const minutes = data.rates.minutes.map((m) => m.slice(11));
  const rateSets = [];
  data.rates.models.forEach((m, i) => {
    rateSets.push({ label: m.model, data: m.calls, borderColor: colour(i), backgroundColor: colour(i), pointRadius: 0, tension: 0.2 });
    rateSets.push({
      label: m.model + " limit",
      data: minutes.map(() => m.limit),
      borderColor: colour(i),
      borderDash: [6, 4],
      pointRadius: 0,
      borderWidth: 1,
    });
  });
  draw("chart-rates", {
    type: "line",
    data: { labels: minutes, datasets: rateSets },
    options: { maintainAspectRatio: false, scales: { y: { beginAtZero: true, title: { display: true, text: "requests per minute" } } } },
  });
})();
