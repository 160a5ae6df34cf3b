// Progressive enhancement only: every page works without this file.
// Submitting a form that asks for confirmation (data-confirm) asks first.
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});
