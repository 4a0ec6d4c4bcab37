// The account page: safety settings, and deleting the account (the export is a plain
// download link).
import { api, flash, h } from "./common.js";
import { chooseCountry, countryName, guessCountry } from "./help.js";

const safety = document.getElementById("safety-form");
const safetyStatus = document.getElementById("safety-status");
const countrySelect = document.getElementById("country");

async function fillCountries() {
  if (!countrySelect) return;
  let codes = [];
  try {
    codes = (await api("/api/resources/countries/")).countries;
  } catch {
    codes = [];
  }
  const current = countrySelect.dataset.current || guessCountry();
  if (current && !codes.includes(current)) codes.push(current);
  codes.sort((a, b) => countryName(a).localeCompare(countryName(b)));
  for (const code of codes) {
    countrySelect.appendChild(h("option", { value: code, selected: code === current || null }, countryName(code)));
  }
  countrySelect.appendChild(
    h("option", { value: "", selected: !current || null }, "Another country (international lines)"),
  );
}

safety?.addEventListener("submit", async (event) => {
  event.preventDefault();
  flash(safetyStatus, "Saving…");
  try {
    await api("/api/me/", {
      method: "PATCH",
      body: { discreet: safety.elements.discreet.checked, country: countrySelect.value },
    });
    await chooseCountry(countrySelect.value, { save: false });
    flash(safetyStatus, "Saved.", "ok");
  } catch (err) {
    flash(safetyStatus, err.message, "error");
  }
});
fillCountries();

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
