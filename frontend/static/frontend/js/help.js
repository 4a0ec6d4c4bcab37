// "Get help now": on every page, opens the crisis resources in a dialog without leaving the page.
// The list is fetched when the page loads, so it is there even if the connection drops later.
// It shows the lines of the visitor's country (chosen in the dialog or on the account page,
// else guessed from the browser's time zone and language), then the international ones.
import { api, clear, h } from "./common.js";

const COUNTRY_KEY = "haven.country";
const main = document.getElementById("main");
const signedIn = Boolean(main?.dataset.userId);

// Time zones of the countries Haven ships lines for; other zones fall back to the language.
const ZONE_COUNTRY = {
  "Asia/Kolkata": "IN",
  "Asia/Calcutta": "IN",
  "Europe/London": "GB",
  "Europe/Belfast": "GB",
  "Europe/Dublin": "IE",
  "America/Toronto": "CA",
  "America/Montreal": "CA",
  "America/Vancouver": "CA",
  "America/Edmonton": "CA",
  "America/Winnipeg": "CA",
  "America/Regina": "CA",
  "America/Halifax": "CA",
  "America/St_Johns": "CA",
  "America/Moncton": "CA",
  "America/Whitehorse": "CA",
  "America/Yellowknife": "CA",
  "America/Iqaluit": "CA",
  "America/New_York": "US",
  "America/Chicago": "US",
  "America/Denver": "US",
  "America/Phoenix": "US",
  "America/Los_Angeles": "US",
  "America/Anchorage": "US",
  "America/Detroit": "US",
  "America/Boise": "US",
  "America/Indiana/Indianapolis": "US",
  "America/Kentucky/Louisville": "US",
  "Pacific/Honolulu": "US",
};

/** The browser's best guess at where the person is: the time zone first (it follows the
 * device's location), then the region of its language ("en-IN"). "" when neither says. */
export function guessCountry() {
  let zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    zone = "";
  }
  if (ZONE_COUNTRY[zone]) return ZONE_COUNTRY[zone];
  if (zone.startsWith("Australia/")) return "AU";
  for (const tag of navigator.languages || [navigator.language]) {
    const region = (tag || "").split("-")[1];
    if (region && /^[A-Za-z]{2}$/.test(region)) return region.toUpperCase();
  }
  return "";
}

function storedCountry() {
  const saved = main?.dataset.country;
  if (saved) return saved;
  try {
    return localStorage.getItem(COUNTRY_KEY);
  } catch {
    return null;
  }
}

/** The country whose lines to show. `null` means "not chosen, not guessed yet". */
let country = storedCountry() ?? guessCountry();
let countries = null;
let resources = null;

export function countryName(code) {
  if (!code) return "Another country";
  try {
    return new Intl.DisplayNames(["en"], { type: "region" }).of(code) || code;
  } catch {
    return code;
  }
}

/** Remembers the choice here and, for a signed-in member, on their account, so the support
 * card the room sends them shows the same lines. */
export async function chooseCountry(code, { save = true } = {}) {
  country = code;
  if (main) main.dataset.country = code;
  try {
    localStorage.setItem(COUNTRY_KEY, code);
  } catch {
    // Private windows may refuse storage; the choice still holds on this page.
  }
  if (save && signedIn) {
    try {
      await api("/api/me/", { method: "PATCH", body: { country: code } });
    } catch {
      // The page keeps the choice; the account keeps the old one until the next try.
    }
  }
  resources = null;
  return load().then(render);
}

async function load() {
  try {
    const response = await fetch(`/api/resources/?country=${encodeURIComponent(country || "")}`, {
      headers: { Accept: "application/json" },
    });
    if (response.ok) resources = await response.json();
  } catch {
    resources = resources ?? null;
  }
  return resources;
}

async function loadCountries() {
  if (countries) return countries;
  try {
    const response = await fetch("/api/resources/countries/", { headers: { Accept: "application/json" } });
    if (response.ok) countries = (await response.json()).countries;
  } catch {
    countries = null;
  }
  return countries;
}

/** One crisis line: its name, how to reach it, and tap-to-call / tap-to-text links whose
 * visible text is their whole accessible name ("Call 988", "Text HOME to 741741"). */
export function resourceItem(resource) {
  const safe = /^https?:/i.test(resource.url || "") ? resource.url : null;
  const contacts = (resource.contacts || []).filter((c) => /^(tel|sms):/i.test(c.href || ""));
  return h(
    "li",
    { class: resource.immediate_danger ? "resource danger" : "resource" },
    h("strong", {}, resource.name),
    h("span", { class: "how" }, resource.how),
    contacts.length
      ? h(
          "p",
          { class: "contacts" },
          contacts.map((c) =>
            h("a", { href: c.href, class: `button contact ${c.kind === "call" ? "primary" : "secondary"}` }, c.label),
          ),
        )
      : null,
    safe
      ? h(
          "a",
          { href: safe, target: "_blank", rel: "noopener noreferrer" },
          safe.replace(/^https?:\/\/(www\.)?/i, "").replace(/\/$/, ""),
          h("span", { class: "visually-hidden" }, ` (${resource.name} website, opens in a new tab)`),
        )
      : null,
  );
}

function renderCountryPicker(list) {
  const target = document.getElementById("help-country");
  if (!target || !list) return;
  const select = target.querySelector("select");
  const codes = [...new Set([...list, ...(country ? [country] : [])])];
  codes.sort((a, b) => countryName(a).localeCompare(countryName(b)));
  clear(select);
  for (const code of codes) {
    select.appendChild(h("option", { value: code, selected: code === country || null }, countryName(code)));
  }
  select.appendChild(h("option", { value: "", selected: !country || null }, "Another country (international lines)"));
  target.hidden = false;
}

function render(list) {
  const target = document.getElementById("help-resources");
  if (!target) return;
  clear(target);
  if (!list || !list.length) {
    target.appendChild(
      h(
        "li",
        { class: "resource danger" },
        h("strong", {}, "We couldn't load the list just now."),
        h(
          "span",
          { class: "how" },
          "If you are in danger, call your local emergency number (911 in the US and Canada, 999 in the UK, 112 in Europe and India, 000 in Australia).",
        ),
      ),
    );
    return;
  }
  for (const r of list) target.appendChild(resourceItem(r));
}

export function openHelp() {
  const dialog = document.getElementById("help-dialog");
  if (!dialog) return;
  render(resources);
  if (!dialog.open) dialog.showModal();
  dialog.querySelector("h2")?.setAttribute("tabindex", "-1");
  dialog.querySelector("h2")?.focus();
  load().then(render);
  loadCountries().then(renderCountryPicker);
}

const button = document.getElementById("help-button");
button?.addEventListener("click", openHelp);
const dialog = document.getElementById("help-dialog");
dialog?.addEventListener("click", (event) => {
  // A click on the backdrop (outside the dialog's box) closes it, like Escape.
  if (event.target === dialog) dialog.close();
});
dialog?.addEventListener("close", () => button?.focus());
// Alt+Shift+H opens it from anywhere on the page (announced on the button, aria-keyshortcuts).
document.addEventListener("keydown", (event) => {
  if (event.altKey && event.shiftKey && !event.ctrlKey && !event.metaKey && event.code === "KeyH") {
    event.preventDefault();
    openHelp();
  }
});
document.getElementById("help-country-select")?.addEventListener("change", (event) => {
  chooseCountry(event.target.value);
});
// A signed-in member with no country saved gets the guess saved, so the room's support card
// and this dialog agree; they can change it here or on the account page.
if (signedIn && !main?.dataset.country && country) chooseCountry(country);
else load();
