// Progressive enhancement for the confirmation page: while the first sync runs, ask
// the server how it is going and show the finished page as soon as it is done.
// Without this file the page offers a refresh link instead.
(() => {
  const box = document.getElementById("sync-progress");
  if (!box) return;
  document.documentElement.classList.add("js");
  const pending = (state) => state === "waiting" || state === "running";
  if (!pending(box.dataset.state)) return;
  let tries = 0;
  const poll = async () => {
    tries += 1;
    try {
      const answer = await fetch(box.dataset.progressUrl, { headers: { Accept: "application/json" } });
      if (answer.ok) {
        const progress = await answer.json();
        if (!pending(progress.state)) {
          window.location.reload();
          return;
        }
      }
    } catch (err) {
      // offline for a moment: try again
    }
    if (tries < 120) window.setTimeout(poll, 1500);
  };
  window.setTimeout(poll, 1000);
})();
