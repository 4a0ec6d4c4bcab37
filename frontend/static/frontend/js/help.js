// "Get help now": on every page, opens the crisis resources in a dialog without leaving the page.
// The list is fetched when the page loads, so it is there even if the connection drops later.
import { clear, h } from "./common.js";

let resources = null;

async function load() {
  try {
    const response = await fetch("/api/resources/", { headers: { Accept: "application/json" } });
    if (response.ok) resources = await response.json();
  } catch {
    resources = resources ?? null;
  }
  return resources;
}

export function resourceItem(resource) {
  const safe = /^(https?:|tel:|sms:)/i.test(resource.url || "") ? resource.url : null;
  return h(
    "li",
    { class: resource.immediate_danger ? "resource danger" : "resource" },
    h("strong", {}, resource.name),
    h("span", { class: "how" }, resource.how),
    safe
      ? h(
          "a",
          {
            href: safe,
            target: "_blank",
            rel: "noopener noreferrer",
            "aria-label": `${resource.name} website (opens in a new tab)`,
          },
          safe.replace(/^https?:\/\/(www\.)?/i, "").replace(/\/$/, ""),
        )
      : null,
  );
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
          "If you are in danger, call your local emergency number (911 in the US), or call or text 988.",
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
load();
