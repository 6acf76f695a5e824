// Lindungi staff console: the little the pages do in the browser (they all work without it).
"use strict";
document.addEventListener("click", (event) => {
  const image = event.target.closest("img.zoomable");
  if (image) image.classList.toggle("zoomed");
});
document.addEventListener("keydown", (event) => {
  const image = event.target.closest && event.target.closest("img.zoomable");
  if (image && (event.key === "Enter" || event.key === " ")) {
    event.preventDefault();
    image.classList.toggle("zoomed");
  }
  if (event.key === "Escape") {
    document.querySelectorAll("img.zoomed").forEach((zoomed) => zoomed.classList.remove("zoomed"));
  }
});

// The live count of a broadcast's recipients, as the filters change.
const compose = document.getElementById("compose");
if (compose) {
  const shown = document.getElementById("live-count");
  let timer = null;
  const update = () => {
    const query = new URLSearchParams(new FormData(compose)).toString();
    fetch(`${compose.dataset.count}?${query}`, { credentials: "same-origin" })
      .then((answer) => answer.json())
      .then((data) => { shown.textContent = data.text; })
      .catch(() => {});
  };
  compose.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(update, 400); });
  compose.addEventListener("change", () => { clearTimeout(timer); timer = setTimeout(update, 100); });
  update();
}

// A broadcast's progress, kept up to date while it is sending.
const progress = document.getElementById("progress");
if (progress && progress.dataset.status === "sending") {
  const poll = setInterval(() => {
    fetch(progress.dataset.progress, { credentials: "same-origin" })
      .then((answer) => answer.json())
      .then((data) => {
        progress.textContent = data.text;
        if (data.status !== "sending") { clearInterval(poll); location.reload(); }
      })
      .catch(() => {});
  }, 3000);
}
