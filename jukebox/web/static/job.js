// Follows a job on its page: stage, epoch, loss and val_loss and their curve from GET /api/jobs/<id>, until the job
// ends.
(function () {
  const box = document.getElementById("job");
  if (!box) return;
  const live = ["queued", "running"];
  if (!live.includes(box.dataset.status)) return;
  const show = (id, text) => { document.getElementById(id).textContent = text; };
  // The server places the points (jukebox/web/curve.py); the page only moves them.
  function drawCurve(curve) {
    if (!curve) return;
    document.getElementById("curve-figure").hidden = !curve.done;
    document.getElementById("curve-loss").setAttribute("points", curve.loss);
    document.getElementById("curve-val-loss").setAttribute("points", curve.val_loss);
    show("curve-high", curve.high);
    show("curve-low", curve.low);
    show("curve-epochs", curve.epochs);
  }
  async function poll() {
    let job;
    try {
      const response = await fetch(box.dataset.url, {headers: {Accept: "application/json"}});
      job = await response.json();
    } catch (err) {
      setTimeout(poll, 3000);  // the server restarting: try again
      return;
    }
    if (!live.includes(job.status)) {
      window.location.reload();  // the finished page shows the samples, or what went wrong
      return;
    }
    const status = document.getElementById("status");
    status.textContent = job.status;
    status.className = "badge " + job.status;
    show("message", job.message || "");
    document.getElementById("message").className = job.worker_running === false ? "error" : "";
    const notes = document.getElementById("training-notes");
    notes.replaceChildren(...(job.training_notes || []).map((text) => {
      const p = document.createElement("p");
      p.textContent = text;
      return p;
    }));
    const current = job.stages.indexOf(job.stage);
    document.querySelectorAll("#stages li").forEach((li, i) => {
      li.className = current < 0 ? "" : i < current ? "done" : i === current ? "current" : "";
    });
    const p = job.progress || {};
    show("epoch", (p.epoch ?? "–") + " / " + job.epochs);
    show("loss", p.loss ?? "–");
    show("val_loss", p.val_loss ?? "–");
    show("log", (job.log || []).join("\n"));
    // The instruments are named once the parse stage has read the files.
    show("instruments", job.instruments || "");
    document.getElementById("instruments").hidden = !job.instruments;
    drawCurve(job.curve);
    setTimeout(poll, 1500);
  }
  setTimeout(poll, 1000);
})();
