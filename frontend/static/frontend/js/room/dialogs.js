// The message dialog (report, hide), moderation commands sent over the socket with their
// replies, and the status line of the tools.
import { add, announce, clear, h, isStaff, nextId } from "../common.js";
import { $, staffHooks, state } from "./core.js";
import { send } from "./socket.js";
import { showSendError } from "./sending.js";
import { showBanner } from "./view.js";
import * as ownMessages from "../ownmessages.js";

// ------------------------------------------------------------------ dialogs: report, hide, moderate

export const dialog = $("action-dialog");
const dialogBody = $("action-body");

export function openDialog(title, ...content) {
  add(clear(dialogBody), 
    h("h2", { id: "action-title" }, title),
    ...content,
    h("form", { method: "dialog", class: "dialog-actions" }, h("button", { type: "submit", class: "quiet" }, "Cancel")),
  );
  dialog.showModal();
  dialogBody.querySelector("input, select, textarea, button")?.focus();
}

export function command(frame, description) {
  const ref = nextId("ref");
  state.refs.set(ref, description);
  if (!send({ ...frame, ref })) {
    toolStatus("Not connected: try again when the room is live.", "error");
    state.refs.delete(ref);
    return false;
  }
  return true;
}

export function onActionDone(frame) {
  if (ownMessages.onActionDone(frame)) return;
  const description = frame.ref ? state.refs.get(frame.ref) : null;
  if (frame.ref) state.refs.delete(frame.ref);
  if (frame.action === "report") {
    showBanner("Thank you. Your report went to the facilitators; you'll see here when it's been looked at.", "info");
    return;
  }
  if (frame.action === "checkin.open" && frame.group_id) {
    toolStatus(`${description || "Check-in opened"}.`, "ok", { href: `/rooms/${frame.group_id}/`, text: "Open it (new tab)" });
    return;
  }
  toolStatus(`Done: ${description || frame.action}.`, "ok");
}

export function toolStatus(text, kind, link) {
  const target = isStaff ? $("tool-status") : null;
  if (!target) {
    if (kind === "error") showSendError(text);
    return;
  }
  add(clear(target), text);
  if (link) add(target, " ", h("a", { href: link.href, target: "_blank", rel: "noopener" }, link.text));
  target.dataset.kind = kind;
  announce(text);
}

export function fieldset(label, control, hint) {
  const id = nextId("f");
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), hint ? h("p", { class: "hint" }, hint) : null, control);
}

function reportForm(msg) {
  const reason = h(
    "select",
    { required: true },
    h("option", { value: "harassment" }, "It's hurtful or harassing"),
    h("option", { value: "unsafe" }, "It could put someone at risk"),
    h("option", { value: "contact_details" }, "It shares contact details"),
    h("option", { value: "spam" }, "It's spam or off-topic"),
    h("option", { value: "other" }, "Something else"),
  );
  const note = h("textarea", { rows: "2", maxlength: "2000" });
  const form = h(
    "form",
    { class: "stack tight" },
    fieldset("Why are you reporting it?", reason),
    fieldset("Anything the facilitators should know (optional)", note),
    h("button", { type: "submit", class: "primary" }, "Send report"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (command({ type: "report", message_id: msg.id, reason: reason.value, note: note.value }, "Report sent")) {
      dialog.close();
    }
  });
  return form;
}

export function openMessageDialog(msg) {
  const own = state.you && msg.author.id === state.you.id;
  const content = [
    h("blockquote", { class: "quoted" }, h("span", { class: "alias" }, `${msg.author.alias}: `), msg.text),
    ...ownMessages.dialogActions(msg, () => dialog.close()),
  ];
  if (staffHooks.messageTools) {
    content.push(...staffHooks.messageTools(msg, { own }));
  } else if (!own) {
    content.push(
      h(
        "div",
        { class: "tool-row" },
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            onclick: () => {
              send({ type: "hide", author: msg.author.id });
              dialog.close();
              showBanner(`You won't see ${msg.author.alias}'s messages any more. You can show them again from the side panel.`, "info");
            },
          },
          `Hide ${msg.author.alias}'s messages`,
        ),
      ),
      h("h3", {}, "Report to the facilitators"),
      reportForm(msg),
    );
  }
  openDialog(own ? "Your message" : `Message from ${msg.author.alias}`, ...content);
}
