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
