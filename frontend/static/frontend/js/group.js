// One group: schedule, places and policy; join, request or waitlist after reading the agreement
// and choosing an alias; re-accepting a changed agreement; leaving.
import {
  add,
  api,
  clear,
  describeRecurrence,
  fmtDateTime,
  h,
  isStaff,
  items,
  me,
  STATUS_LABEL,
  zoneName,
} from "./common.js";

const root = document.getElementById("group");
const groupId = Number(root.dataset.groupId);

function joinLabel(group) {
  if (group.join_policy === "approval") return "Request to join";
  if (group.seats_taken >= group.capacity) return "Join the waitlist";
  return "Join the group";
}

function agreementBlock(group) {
  return h(
    "section",
    { class: "agreement", id: "agreement", "aria-labelledby": "agreement-title" },
    h("h2", { id: "agreement-title" }, "Group agreement"),
    h("div", { class: "agreement-text", tabindex: "0", role: "document", "aria-label": "Agreement text" },
      ...group.agreement_text.split(/\n{2,}/).map((para) => h("p", {}, para)),
    ),
  );
}

function joinForm(group, { reaccept = false } = {}) {
  const mine = group.my_enrollment;
  const error = h("div", { class: "notice error", role: "alert", hidden: true, id: "join-error" });
  const alias = h("input", {
    id: "alias",
    name: "alias",
    required: true,
    minlength: "2",
    maxlength: "40",
    autocomplete: "off",
    "aria-describedby": "alias-hint",
    value: mine?.alias ?? "",
    readonly: reaccept || null,
  });
  const accept = h("input", { type: "checkbox", id: "accept", name: "accept", required: true });
  const submit = h(
    "button",
    { type: "submit", class: "primary" },
    reaccept ? "Accept the updated agreement" : joinLabel(group),
  );
  const form = h(
    "form",
    { class: "stack card", novalidate: true },
    reaccept
      ? h("p", { class: "notice warn" }, "The agreement has changed since you joined. Read it again and accept it to keep taking part.")
      : null,
    h(
      "div",
      { class: "field" },
      h("label", { for: "alias" }, "Your name in this group"),
      h(
        "p",
        { id: "alias-hint", class: "hint" },
        "Only this name is shown to others in the room. You don't have to use your real name. 2 to 40 characters.",
      ),
      alias,
    ),
    h(
      "div",
      { class: "check" },
      accept,
      h("label", { for: "accept" }, "I have read the group agreement and I accept it"),
    ),
    error,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    if (!accept.checked) {
      error.textContent = "Please read the agreement and tick the box to accept it.";
      error.hidden = false;
      accept.focus();
      return;
    }
    if (alias.value.trim().length < 2) {
      error.textContent = "Choose a name of 2 to 40 characters.";
      error.hidden = false;
      alias.focus();
      return;
    }
    submit.disabled = true;
    try {
      await api(`/api/groups/${groupId}/join/`, {
        method: "POST",
        body: { alias: alias.value.trim(), agreement_accepted: true },
      });
      await load(true);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      submit.disabled = false;
    }
  });
  return form;
}

function statusBlock(group, justJoined) {
  const mine = group.my_enrollment;
  let text;
  if (mine.status === "active") {
    text = justJoined
      ? `Welcome, ${mine.alias}. You're in the group.`
      : `You're a member of this group as “${mine.alias}”.`;
  } else if (mine.status === "pending") {
    text = "Your request has been sent. A facilitator will review it; you'll see the result here.";
  } else if (mine.status === "waitlisted") {
    text = `The group is full. You're number ${mine.waitlist_position} on the waitlist and will be seated as soon as a place opens.`;
  } else {
    text = `Your status: ${STATUS_LABEL[mine.status] ?? mine.status}.`;
  }
  const leaveLabel = {
    pending: "Withdraw my request",
    waitlisted: "Leave the waitlist",
  }[mine.status] ?? "Leave this group";
  const leave = h("button", { type: "button", class: "quiet" }, leaveLabel);
  leave.addEventListener("click", async () => {
    const question =
      mine.status === "active"
        ? "Leave this group? Your place goes to the next person waiting."
        : "Withdraw your request?";
    if (!window.confirm(question)) return;
    try {
      await api(`/api/groups/${groupId}/leave/`, { method: "POST" });
      await load();
    } catch (err) {
      window.alert(err.message);
    }
  });
  return h(
    "section",
    { class: "card status-card", "aria-labelledby": "status-title" },
    h("h2", { id: "status-title" }, "Your place"),
    h("p", { role: "status", id: "join-status", tabindex: "-1" }, text),
    mine.status === "active" && mine.agreement_accepted
      ? h("p", {}, h("a", { class: "button primary", href: `/rooms/${groupId}/` }, "Go to the room"))
      : null,
    ["active", "pending", "waitlisted"].includes(mine.status) ? h("p", {}, leave) : null,
  );
}

async function sessionsBlock(group) {
  if (group.drop_in) return null;
  const ul = h("ul", { class: "sessions" });
  try {
    const sessions = items(await api(`/api/groups/${groupId}/sessions/?limit=6`));
    for (const s of sessions) {
      ul.appendChild(
        h(
          "li",
          { class: s.status === "cancelled" ? "cancelled" : "" },
          h("time", { datetime: s.starts_at }, fmtDateTime(s.starts_at)),
          s.status === "cancelled" ? h("span", { class: "pill" }, "Cancelled") : null,
          s.moved ? h("span", { class: "pill" }, "Moved") : null,
        ),
      );
    }
    if (!sessions.length) ul.appendChild(h("li", { class: "muted" }, "No sessions scheduled yet."));
  } catch (err) {
    ul.appendChild(h("li", { class: "notice error" }, err.message));
  }
  return h(
    "section",
    { "aria-labelledby": "sessions-title" },
    h("h2", { id: "sessions-title" }, "Coming sessions"),
    h("p", { class: "small muted" }, `Shown in your time (${zoneName()}).`),
    ul,
  );
}

async function load(justJoined = false) {
  let group;
  try {
    group = await api(`/api/groups/${groupId}/`);
  } catch (err) {
    clear(root).appendChild(h("p", { class: "notice error", role: "alert" }, err.message));
    return;
  }
  const mine = group.my_enrollment;
  const current = mine && ["active", "pending", "waitlisted"].includes(mine.status);
  const free = Math.max(group.capacity - group.seats_taken, 0);
  clear(root);
  root.removeAttribute("aria-busy");
  add(root, 
    h("h1", {}, group.name),
    group.description ? h("p", { class: "lead" }, group.description) : null,
    h(
      "dl",
      { class: "facts card" },
      h("dt", {}, "When"),
      h("dd", {}, describeRecurrence(group)),
      h("dt", {}, "Places"),
      h(
        "dd",
        {},
        `${group.seats_taken} of ${group.capacity} taken`,
        free === 0 && group.waitlist_length ? `, ${group.waitlist_length} on the waitlist` : "",
      ),
      group.facilitator_names?.length ? h("dt", {}, group.facilitator_names.length === 1 ? "Facilitator" : "Facilitators") : null,
      group.facilitator_names?.length ? h("dd", {}, group.facilitator_names.join(", ")) : null,
      h("dt", {}, "Joining"),
      h(
        "dd",
        {},
        group.join_policy === "approval"
          ? "A facilitator reviews each request."
          : "Open: you can join straight away.",
      ),
    ),
  );
  const sessions = await sessionsBlock(group);
  if (sessions) root.appendChild(sessions);
  if (isStaff) {
    root.appendChild(
      h(
        "p",
        { class: "actions" },
        h("a", { class: "button primary", href: `/rooms/${groupId}/` }, "Enter the room"),
        me.role === "admin"
          ? h("a", { class: "button secondary", href: `/manage/groups/${groupId}/` }, "Edit group")
          : null,
      ),
    );
    root.appendChild(agreementBlock(group));
    return;
  }
  if (current) {
    root.appendChild(statusBlock(group, justJoined));
    if (!mine.agreement_accepted) {
      root.appendChild(agreementBlock(group));
      root.appendChild(joinForm(group, { reaccept: true }));
    }
  } else {
    if (mine && ["banned", "removed"].includes(mine.status)) {
      root.appendChild(
        h("p", { class: "notice" }, "A facilitator has removed you from this group. Contact the group's facilitators if you think this is a mistake."),
      );
      return;
    }
    root.appendChild(agreementBlock(group));
    root.appendChild(h("h2", {}, "Join"));
    root.appendChild(joinForm(group));
  }
  if (justJoined) document.getElementById("join-status")?.focus();
}

load();
