// The Generate page: mood presets fill the dials, "Surprise me" draws a seed, the form shows that it is composing,
// and the new piece is scrolled into view.
(function () {
  const form = document.getElementById("generate-form");
  if (!form) return;
  document.querySelectorAll(".presets button").forEach((button) => {
    button.addEventListener("click", () => {
      for (const name of ["temperature", "top_k", "top_p"]) form.elements[name].value = button.dataset[name];
    });
  });
  document.getElementById("surprise").addEventListener("click", () => {
    form.elements.seed.value = Math.floor(Math.random() * 1000000);
  });
  form.addEventListener("submit", () => {
    document.getElementById("progress").hidden = false;
    const compose = document.getElementById("compose");
    compose.disabled = true;
    compose.textContent = "Composing…";
  });
  const result = document.getElementById("result");
  if (result) result.scrollIntoView({block: "start"});
})();
