
// The room's shared ground: its elements, limits, and the one state object the room's modules
// read and change. No module here imports another room module.

export const root = document.getElementById("room");
export const groupId = Number(root.dataset.groupId);
export const $ = (id) => document.getElementById(id);
export const logEl = $("log");
export const scroller = $("log-scroll");
export const input = $("composer-input");
export const sendButton = $("send");

export const HISTORY_PAGE = 50;
export const CATCH_UP_PAGE = 200;
export const ACK_TIMEOUT_MS = 12000;
export const MAX_CHARS = 4000;
export const LAST_READ_KEY = `haven.lastRead.${groupId}`;

export const state = {
  ws: null,
  status: "connecting",
  everLive: false,
  attempt: 0,
  retryTimer: null,
  lastFrameAt: 0,
  you: null,
  room: null,
  present: [],
  presentOthers: 0, // people present beyond those listed (a very full room)
  maxId: 0,
  minId: null,
  hasOlder: false,
  loadingOlder: false,
  loadedNewest: false, // the first page of history has arrived: later connections catch up from it
  historyQueue: [], // kinds of the history requests in flight, in order: replies come in order
  markerBefore: null, // after a reconnect: put the "new since you were away" marker before this id
  awayCount: 0,
  messages: new Map(), // id -> {el, msg}
  pending: new Map(), // client_id -> {body, el, state, timer}
  // Messages not yet answered, in the order they were written. Only the first is on the wire:
  // the server numbers messages in the order they arrive, so one at a time keeps the member's
  // order for everyone, also when the rate limit sends one of them back to wait.
  outbox: [],
  sendNotice: null, // the code of the notice under the composer (rate_limited, muted, ...)
  hidden: new Set(),
  mutedUntil: null,
  muteReason: "",
  refs: new Map(), // ref -> description of a moderation command in flight
  alerts: new Map(),
  held: new Map(),
  reports: new Map(),
  refused: false,
};

/** What the staff tools add to the room, filled in by room/staff.js when it is loaded (only for
 * facilitators and admins: members never download the moderation code). */
export const staffHooks = {
  onHello: null, // () => void: load the alert, held and report queues
  renderRoom: null, // (room) => void: the room controls
  presenceAction: null, // (person) => element: "Actions" next to a member who is here
  messageTools: null, // (msg, {own}) => [elements]: delete, mute, remove, ban
  frames: {}, // frame type -> handler, for frames only staff receive
};
