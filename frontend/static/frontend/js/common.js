// Shared helpers for every page. Everything people write is put into the page as text
// (textContent, text nodes); no helper here ever assigns innerHTML.

export const page = document.getElementById("main")?.dataset ?? {};
export const me = {
  id: Number(page.userId) || null,
  username: page.username || "",
  role: page.role || "",
};
export const isStaff = me.role === "facilitator" || me.role === "admin";

/** Builds an element. attrs: class, text, on<Event> handlers, booleans, everything else as
 * attributes. Children: nodes, strings (as text), arrays, null/false (skipped). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else if (key === "class") el.className = value;
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Appends children like h() does: strings as text, arrays flattened, null and false skipped. */
export function add(el, ...children) {
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

export class ApiError extends Error {
  constructor(message, status, data) {
    super(message);
    this.status = status;
    this.data = data;
  }
}

/** Turns a DRF error body into one sentence a person can act on. */
export function errorText(data, status) {
  if (!data || typeof data !== "object") {
    if (status === 403) return "You're not allowed to do that.";
    if (status >= 500) return "Something went wrong on our side. Try again in a moment.";
    return "That didn't work. Check your connection and try again.";
  }
  const parts = [];
  if (typeof data.detail === "string") parts.push(data.detail);
  for (const [field, value] of Object.entries(data)) {
    if (field === "detail" || field === "code") continue;
    const list = Array.isArray(value) ? value : [value];
    for (const item of list) {
      if (typeof item === "string" && !parts.includes(item)) parts.push(item);
      else if (item && typeof item === "object") parts.push(errorText(item, status));
    }
  }
  return parts.join(" ") || "That didn't work. Try again.";
}

export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("We couldn't reach Haven. Check your connection and try again.", 0, null);
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(errorText(data, response.status), response.status, data);
  return data;
}

/** A list endpoint's items, paginated or not. */
export function items(data) {
  return Array.isArray(data) ? data : data?.results ?? [];
}

/** A paginated list's next page as a path on this site (the API writes it as a full address,
 * which behind a proxy may name another host), or null after the last. */
export function nextPage(data) {
  if (!data?.next) return null;
  const next = new URL(data.next, location.href);
  return next.pathname + next.search;
}

// ------------------------------------------------------------------ time

export const localZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

const formatters = new Map();
function formatter(options) {
  const key = JSON.stringify(options);
  if (!formatters.has(key)) formatters.set(key, new Intl.DateTimeFormat(undefined, options));
  return formatters.get(key);
}

export function fmtTime(iso, timeZone) {
  return formatter({ hour: "numeric", minute: "2-digit", timeZone }).format(new Date(iso));
}

export function fmtDateTime(iso, timeZone) {
  return formatter({
    weekday: "long",
    month: "short",
    day: "numeric",
    hour: "numeric",
    minute: "2-digit",
    timeZone,
  }).format(new Date(iso));
}

export function fmtShortDateTime(iso, timeZone) {
  return formatter({
    month: "short",
    day: "numeric",
    hour: "numeric",
    minute: "2-digit",
    timeZone,
  }).format(new Date(iso));
}

export function fmtDay(iso) {
  return formatter({ weekday: "long", month: "long", day: "numeric" }).format(new Date(iso));
}

export function zoneName(timeZone) {
  const parts = formatter({ timeZoneName: "short", timeZone }).formatToParts(new Date());
  return parts.find((p) => p.type === "timeZoneName")?.value ?? timeZone;
}

/** "2 days 3 hours", "12 minutes", "40 seconds" */
export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86400);
  const hrs = Math.floor((s % 86400) / 3600);
  const min = Math.floor((s % 3600) / 60);
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (d > 0) return hrs ? `${plural(d, "day")} ${plural(hrs, "hour")}` : plural(d, "day");
  if (hrs > 0) return min ? `${plural(hrs, "hour")} ${plural(min, "minute")}` : plural(hrs, "hour");
  if (min > 0) return plural(min, "minute");
  return plural(s, "second");
}

export function ago(iso) {
  const ms = Date.now() - new Date(iso).getTime();
  if (ms < 45000) return "just now";
  return `${duration(ms)} ago`;
}

export function timeEl(iso, text) {
  return h("time", { datetime: iso, title: fmtDateTime(iso) }, text);
}

// ------------------------------------------------------------------ text

const URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;

/** Text with bare http(s) addresses made into links, built as nodes (never parsed as HTML). */
export function linkify(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let raw = match[0];
    // Trailing punctuation belongs to the sentence, not the address.
    const trail = raw.match(/[.,;:!?)\]]+$/);
    if (trail) raw = raw.slice(0, -trail[0].length);
    let url = null;
    try {
      url = new URL(raw);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) continue;
    frag.appendChild(document.createTextNode(text.slice(last, match.index)));
    const a = document.createElement("a");
    a.href = url.href;
    a.rel = "nofollow noopener noreferrer";
    a.target = "_blank";
    a.textContent = raw;
    frag.appendChild(a);
    last = match.index + raw.length;
  }
  frag.appendChild(document.createTextNode(text.slice(last)));
  return frag;
}

// ------------------------------------------------------------------ announcements

/** Says something to screen readers without moving focus. */
export function announce(text, { urgent = false } = {}) {
  const region = document.getElementById(urgent ? "announcer-urgent" : "announcer");
  if (!region) return;
  region.textContent = "";
  // A fresh text node in a later task is announced even when the words repeat.
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/** A small status line that reads out what a button did. */
export function flash(el, text, kind = "ok") {
  if (!el) return;
  el.textContent = text;
  el.dataset.kind = kind;
}

export const LEVEL_LABEL = { emergency: "Emergency", urgent: "Urgent", watch: "Watch" };
export const LEVEL_ORDER = { emergency: 0, urgent: 1, watch: 2 };
export const CATEGORY_LABEL = {
  self_harm: "Self-harm or suicide",
  harm_others: "Harm to others",
  abuse_danger: "Abuse or danger",
  none: "",
  unattended: "Room unattended",
};
export const OUTCOMES = [
  ["supported_in_room", "Supported in the room"],
  ["private_checkin", "Private check-in"],
  ["referred", "Referred to crisis services"],
  ["emergency_services", "Emergency services contacted"],
  ["not_a_crisis", "Not a crisis"],
  ["resolved", "Resolved"],
];
export const STATUS_LABEL = {
  active: "Member",
  pending: "Waiting for approval",
  waitlisted: "On the waitlist",
  declined: "Declined",
  left: "Left",
  removed: "Removed",
  banned: "Banned",
};

let uid = 0;
export function nextId(prefix = "el") {
  uid += 1;
  return `${prefix}-${uid}`;
}

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ------------------------------------------------------------------ schedules

const DAY_NAMES = {
  MO: "Monday",
  TU: "Tuesday",
  WE: "Wednesday",
  TH: "Thursday",
  FR: "Friday",
  SA: "Saturday",
  SU: "Sunday",
};
export const DAY_ORDER = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

export function parseRrule(rrule) {
  const out = {};
  for (const part of (rrule || "").replace(/^RRULE:/i, "").split(";")) {
    const [k, v] = part.split("=");
    if (k && v) out[k.toUpperCase()] = v.toUpperCase();
  }
  return out;
}

function listWords(words) {
  if (words.length <= 1) return words.join("");
  return `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`;
}

/** "Every Tuesday at 7:00 PM, 90 minutes (Los Angeles time)" from a group's recurrence. */
export function describeRecurrence(group) {
  if (group.drop_in) return "Drop-in: the room is open at any hour.";
  const rec = group.recurrence;
  if (!rec) return "No regular schedule yet.";
  const rule = parseRrule(rec.rrule);
  const interval = Number(rule.INTERVAL || 1);
  const days = (rule.BYDAY || "")
    .split(",")
    .filter(Boolean)
    .map((d) => DAY_NAMES[d.slice(-2)] ?? d);
  const [hh, mm] = rec.dtstart.split("T")[1].split(":");
  const time = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" }).format(
    new Date(2000, 0, 1, Number(hh), Number(mm)),
  );
  let when;
  if (rule.FREQ === "DAILY") when = interval > 1 ? `Every ${interval} days` : "Every day";
  else if (rule.FREQ === "MONTHLY") when = interval > 1 ? `Every ${interval} months` : "Monthly";
  else {
    const on = days.length ? listWords(days) : "week";
    when = interval > 1 ? `Every ${interval} weeks on ${on}` : `Every ${on}`;
  }
  return `${when} at ${time}, ${rec.duration_minutes} minutes (${group.timezone.replace(/_/g, " ")} time)`;
}
