// Gatehouse portal: small progressive enhancements. Every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons: data-copy names the id of the field whose value is copied.
  for (const btn of document.querySelectorAll("button[data-copy]")) {
    btn.addEventListener("click", async () => {
      const field = document.getElementById(btn.dataset.copy);
      if (!field) return;
      const label = btn.textContent;
      try {
        await navigator.clipboard.writeText(field.value);
        btn.textContent = "Copied";
      } catch {
        field.select(); // clipboard refused (no permission, plain http): select for Ctrl+C
        btn.textContent = "Press Ctrl+C";
      }
      btn.setAttribute("data-copied", "true");
      setTimeout(() => { btn.textContent = label; }, 2000);
    });
  }
  // Destructive forms ask first.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  }
});
