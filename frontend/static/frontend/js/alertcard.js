// One alert as facilitators see it, used by the alert queue and the room's side panel:
// level, member, the message in context, the deadline, and acknowledge / resolve / check-in.
import {
  add,
  ago,
  api,
  CATEGORY_LABEL,
  clear,
  fmtTime,
  h,
  LEVEL_LABEL,
  LEVEL_ORDER,
  nextId,
  OUTCOMES,
} from "./common.js";

export function sortAlerts(alerts) {
  return alerts.sort(
    (a, b) =>
      (LEVEL_ORDER[a.level] ?? 3) - (LEVEL_ORDER[b.level] ?? 3) ||
      a.created_at.localeCompare(b.created_at),
  );
}

function deadlineText(alert) {
  if (alert.status !== "open" || !alert.ack_deadline) return null;
  const left = new Date(alert.ack_deadline).getTime() - Date.now();
  if (left <= 0) return "Past its deadline: escalated to the next people";
  return `Acknowledge within ${Math.ceil(left / 1000)} s`;
}

/** Updates the deadline lines of rendered alerts; call every second. */
export function tickDeadlines(root) {
  for (const el of root.querySelectorAll("[data-deadline]")) {
    const left = new Date(el.dataset.deadline).getTime() - Date.now();
    el.textContent =
      left <= 0
        ? "Past its deadline: escalated to the next people"
        : `Acknowledge within ${Math.ceil(left / 1000)} s`;
  }
}

/** What the facilitator has begun on a card: read before the card is built again. */
function workOn(card) {
  const active = card.contains(document.activeElement) ? document.activeElement : null;
  return {
    open: card.querySelector("details.resolve")?.open ?? false,
    outcome: card.querySelector("[data-part=outcome]")?.value ?? "",
    note: card.querySelector("[data-part=note]")?.value ?? "",
    focus: active ? (active.dataset.part ?? "card") : null,
    selection: active?.setSelectionRange ? [active.selectionStart, active.selectionEnd] : null,
  };
}

function resume(card, work) {
  const details = card.querySelector("details.resolve");
  if (details) {
    details.open = work.open;
    card.querySelector("[data-part=outcome]").value = work.outcome;
    card.querySelector("[data-part=note]").value = work.note;
  }
  if (!work.focus) return;
  // The same control, or (gone: the alert was acknowledged meanwhile) the card, or its first.
  const target =
    card.querySelector(`[data-part="${work.focus}"]`) ??
    (card.hasAttribute("tabindex") ? card : card.querySelector("[data-part]"));
  target?.focus({ preventScroll: true });
  if (work.selection && target?.setSelectionRange) target.setSelectionRange(...work.selection);
}

/**
 * Puts the cards in the list in place of the ones it had. Lists are built anew on every alert
 * frame and refresh; what the facilitator had begun on an alert's old card (the resolve form
 * open, an outcome chosen, a note half-written, focus and the caret) goes to its new card, so
 * an update never takes their work away.
 */
export function replaceCards(list, cards) {
  const begun = new Map();
  for (const old of list.querySelectorAll(":scope > [data-alert-id]")) begun.set(old.dataset.alertId, workOn(old));
  clear(list);
  for (const card of cards) {
    list.appendChild(card);
    const work = begun.get(card.dataset.alertId);
    if (work) resume(card, work);
  }
}

/**
 * options: { showGroup, anchor (the card gets id "alert-<id>", the target of the e-mails'
 * links), context: [{alias, text, id}] messages around it, onChange(alert) }
 */
export function alertCard(alert, options = {}) {
  const titleId = nextId("alert-title");
  const status = h("p", { class: "small action-status", role: "status" });
  const level = LEVEL_LABEL[alert.level] ?? alert.level;
  const who = alert.member?.alias ?? (alert.kind === "unattended" ? "" : "a member");
  const category = CATEGORY_LABEL[alert.category] || "";
  const card = h("li", {
    class: `alert-card level-${alert.level} status-${alert.status}`,
    "aria-labelledby": titleId,
    id: options.anchor ? `alert-${alert.id}` : null,
    tabindex: options.anchor ? "-1" : null,
    dataset: { alertId: alert.id },
  });

  async function call(path, body) {
    try {
      const updated = await api(`/api/alerts/${alert.id}/${path}/`, { method: "POST", body });
      options.onChange?.(updated);
      return updated;
    } catch (err) {
      status.textContent = err.message;
      status.dataset.kind = "error";
      return null;
    }
  }

  const actions = h("div", { class: "alert-actions" });
  if (alert.status === "open") {
    actions.appendChild(
      h(
        "button",
        { type: "button", class: "primary", "data-part": "acknowledge", onclick: () => call("acknowledge") },
        "Acknowledge",
        h("span", { class: "visually-hidden" }, ` alert about ${who}`),
      ),
    );
  }
  if (alert.status !== "resolved") {
    const outcomeId = nextId("outcome");
    const noteId = nextId("note");
    const outcome = h(
      "select",
      { id: outcomeId, required: true, "data-part": "outcome" },
      h("option", { value: "" }, "Choose an outcome…"),
      OUTCOMES.map(([value, label]) => h("option", { value }, label)),
    );
    const note = h("textarea", { id: noteId, rows: "2", maxlength: "4000", "data-part": "note" });
    const form = h(
      "form",
      { class: "resolve-form stack tight" },
      h("div", { class: "field" }, h("label", { for: outcomeId }, "Outcome"), outcome),
      h("div", { class: "field" }, h("label", { for: noteId }, "Note (for the team)"), note),
      h("button", { type: "submit", class: "secondary", "data-part": "resolve" }, "Resolve"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!outcome.value) {
        status.textContent = "Choose an outcome first.";
        status.dataset.kind = "error";
        outcome.focus();
        return;
      }
      await call("resolve", { outcome: outcome.value, note: note.value });
    });
    const details = h(
      "details",
      { class: "resolve" },
      h("summary", { "data-part": "summary" }, "Resolve with an outcome"),
      form,
    );
    actions.appendChild(details);
    if (alert.member) {
      actions.appendChild(
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            "data-part": "checkin",
            onclick: async () => {
              try {
                const out = await api(`/api/alerts/${alert.id}/checkin/`, { method: "POST" });
                clear(status).appendChild(
                  h(
                    "a",
                    { href: `/rooms/${out.group_id}/`, target: "_blank", rel: "noopener" },
                    `Open the private check-in with ${alert.member.alias} (new tab)`,
                  ),
                );
                status.dataset.kind = "ok";
              } catch (err) {
                status.textContent = err.message;
                status.dataset.kind = "error";
              }
            },
          },
          "Open private check-in",
        ),
      );
    }
  }

  const deadline = deadlineText(alert);
  add(card, 
    h(
      "h3",
      { id: titleId, class: "alert-title" },
      h("span", { class: `level-badge level-${alert.level}` }, level),
      " ",
      alert.kind === "unattended"
        ? "Room without a facilitator"
        : alert.kind === "checkin"
          ? `${who} asked to talk privately`
          : `${who}${category ? ` · ${category}` : ""}`,
    ),
    h(
      "p",
      { class: "small muted" },
      options.showGroup ? h("a", { href: `/rooms/${alert.group_id}/` }, alert.group_name) : null,
      options.showGroup ? " · " : null,
      h("time", { datetime: alert.created_at }, `${fmtTime(alert.created_at)} (${ago(alert.created_at)})`),
      alert.tier > 1 ? ` · escalation tier ${alert.tier}` : null,
    ),
    options.context?.length
      ? h(
          "ol",
          { class: "context", "aria-label": "The conversation around it" },
          options.context.map((m) =>
            h(
              "li",
              { class: m.id === alert.message_id ? "flagged" : "" },
              h("span", { class: "alias" }, `${m.alias}: `),
              m.text,
            ),
          ),
        )
      : alert.message_text
        ? h("blockquote", { class: "flagged-text" }, alert.message_text)
        : null,
    alert.explanation ? h("p", { class: "small" }, `Why: ${alert.explanation}`) : null,
    alert.checkin_group_id
      ? h(
          "p",
          {},
          h("a", { class: "button primary", href: `/rooms/${alert.checkin_group_id}/`, target: "_blank", rel: "noopener" }, "Open the private check-in (new tab)"),
        )
      : null,
    deadline ? h("p", { class: "deadline", "data-deadline": alert.ack_deadline }, deadline) : null,
    alert.status === "acknowledged"
      ? h(
          "p",
          { class: "small ok" },
          alert.acknowledged_by ? `Acknowledged by ${alert.acknowledged_by}` : "Acknowledged: someone is on it",
          alert.acknowledged_at ? ` at ${fmtTime(alert.acknowledged_at)}.` : ".",
          alert.kind !== "unattended" && alert.ack_deadline
            ? " It opens again for everyone if they leave the room before resolving it."
            : null,
        )
      : null,
    alert.status === "resolved"
      ? h(
          "p",
          { class: "small ok" },
          `Resolved${alert.resolved_by ? ` by ${alert.resolved_by}` : ""}: `,
          OUTCOMES.find(([v]) => v === alert.outcome)?.[1] ?? alert.outcome,
          alert.acknowledged_by && alert.acknowledged_by !== alert.resolved_by
            ? ` (acknowledged by ${alert.acknowledged_by})`
            : "",
        )
      : null,
    alert.status === "resolved" && alert.note
      ? h("p", { class: "small resolution-note" }, h("strong", {}, "Note: "), alert.note)
      : null,
    actions,
    status,
  );
  return card;
}

/** A watch entry the learned stage (or a facilitator) raised to urgent or emergency: a new
 * emergency for whoever hears it, so it rings as one. (LEVEL_ORDER puts the gravest first.) */
export function levelRaised(before, after) {
  return Boolean(before) && (LEVEL_ORDER[after.level] ?? 9) < (LEVEL_ORDER[before.level] ?? 9);
}
