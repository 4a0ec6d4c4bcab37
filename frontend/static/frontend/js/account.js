// The account page: deleting the account (the export is a plain download link).
import { api, flash } from "./common.js";

const form = document.getElementById("delete-form");
const status = document.getElementById("delete-status");

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const password = form.elements.password.value;
  if (!form.elements.confirm.checked) {
    flash(status, "Tick the box to confirm you want to delete your account.", "error");
    form.elements.confirm.focus();
    return;
  }
  if (!password) {
    flash(status, "Enter your password to confirm.", "error");
    form.elements.password.focus();
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  flash(status, "Deleting your account…");
  try {
    await api("/api/me/delete/", { method: "POST", body: { password } });
    window.location.assign("/logout/done/");
  } catch (err) {
    button.disabled = false;
    flash(status, err.message, "error");
    form.elements.password.focus();
  }
});
