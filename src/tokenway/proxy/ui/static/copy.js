// Copy buttons of the landing page: <button data-copy="id of the element to copy">.
import { copy } from "./dom.js";

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", () => {
    const source = document.getElementById(button.dataset.copy);
    if (source) copy(source.textContent);
  });
}
