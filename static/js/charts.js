/* Draw every plotly figure of the page: <div data-chart="ID"> with its figure in <script id="ID" type="application/json">. */
(function () {
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var fig = JSON.parse(document.getElementById(el.dataset.chart).textContent);
    Plotly.newPlot(el, fig.data, fig.layout, { displaylogo: false, responsive: true }).then(function () {
      el.dataset.drawn = "yes";
    });
  });
})();
