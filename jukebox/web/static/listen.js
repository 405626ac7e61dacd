// The listening page's keys: arrows play or pause an excerpt, 1 / 2 / 0 answer (left, right, can't tell).
(function () {
  const form = document.getElementById("listen-form");
  if (!form) return;
  const players = { left: document.querySelector("#left audio"), right: document.querySelector("#right audio") };
  // One excerpt at a time: starting one pauses the other, so the two are heard apart.
  for (const [side, player] of Object.entries(players)) {
    player.addEventListener("play", () => { const other = players[side === "left" ? "right" : "left"]; other.pause(); });
  }
  const toggle = (player) => (player.paused ? player.play() : player.pause());
  const answer = { "1": "answer-left", "2": "answer-right", "0": "answer-unsure" };
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "ArrowLeft") { toggle(players.left); event.preventDefault(); }
    else if (event.key === "ArrowRight") { toggle(players.right); event.preventDefault(); }
    else if (answer[event.key] && !(event.target instanceof HTMLInputElement && event.target.type === "radio")) {
      document.getElementById(answer[event.key]).click();
    }
  });
})();
