// Quick exit, for members who may be watched: one click on "Quick exit", or Escape twice,
// replaces this page with a neutral site. location.replace() takes this page out of the
// browser's history, so Back does not return here. Nothing typed is sent: the page is simply
// left (a draft in the message box is discarded), and no "leave this page?" question is asked.
const link = document.getElementById("quick-exit");
const DOUBLE_ESCAPE_MS = 800;
let exiting = false;
let lastEscape = -Infinity;

export function quickExit() {
  if (!link) return;
  exiting = true;
  // Blank the page at once, before the neutral site has loaded.
  document.title = "";
  document.documentElement.style.visibility = "hidden";
  window.location.replace(link.href);
}

if (link) {
  link.addEventListener("click", (event) => {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    quickExit();
  });
  // On the window, after the page's own handlers: an Escape the page used for something of its
  // own (the room's "back to the message box") does not count; one that closes a dialog does.
  window.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.repeat) return;
    if (event.defaultPrevented) {
      lastEscape = -Infinity;
      return;
    }
    const now = event.timeStamp;
    if (now - lastEscape < DOUBLE_ESCAPE_MS) quickExit();
    lastEscape = now;
  });
  // Registered before any page script's: on a quick exit, no page may ask "leave this page?".
  window.addEventListener("beforeunload", (event) => {
    if (exiting) event.stopImmediatePropagation();
  });
}
