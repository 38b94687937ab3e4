// Progressive enhancement of the repository page: follow a running ingest without reloading.
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-job-url");
  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (job) {
        var total = job.progress.total;
        document.getElementById("job-status").textContent = job.status;
        document.getElementById("job-count").textContent = job.progress.done + " / " + (total === null ? "?" : total);
        var bar = document.getElementById("job-progress");
        bar.max = total || 1;
        bar.value = job.progress.done;
        if (job.status === "queued" || job.status === "running") {
          window.setTimeout(poll, 1000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
}());
