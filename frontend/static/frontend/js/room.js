// The live room. One socket to /ws/rooms/<id>/ that reconnects by itself and catches up by id,
// so nothing is lost or shown twice (docs/protocol.md, "Delivery guarantee"). Messages are put
// into the page as text only.
//
// The modules under room/, one concern each: core (elements, limits, the shared state), socket
// (connection and reconnection), messages (the list, history, scrolling, keyboard), sending (the
// outbox and the composer), view (the room's state, people, banners, the support card), dialogs
// (report, hide) and staff (alerts, held messages, reports, moderation), which only facilitators
// and admins load. This file reads the frames and starts the room.
import { announce, isStaff } from "./common.js";
import { HISTORY_PAGE, staffHooks, state } from "./room/core.js";
import { connect, onFrame, requestHistory, setStatus } from "./room/socket.js";
import { addMessage, catchUp, onDeleted, onHidden, onHistory } from "./room/messages.js";
import { onAck, onError, onHeld, onMuted, onRejected, pump } from "./room/sending.js";
import { fitConversation, onTyping, renderPresence, renderRoom, showBanner, showCheckin, showSupport } from "./room/view.js";
import { onActionDone } from "./room/dialogs.js";
import { input } from "./room/core.js";
import { send } from "./room/socket.js";
import * as ownMessages from "./ownmessages.js";

// ------------------------------------------------------------------ frames

function handle(frame) {
  switch (frame.type) {
    case "hello":
      return onHello(frame);
    case "presence":
      state.present = frame.present;
      state.presentOthers = frame.others ?? 0;
      return renderPresence();
    case "message.new":
      return addMessage(frame.message, { live: true });
    case "message.ack":
      return onAck(frame);
    case "history":
      return onHistory(frame);
    case "message.deleted":
      return onDeleted(frame.id, frame.by);
    case "message.edited":
      return ownMessages.onEdited(frame.message);
    case "message.reactions":
      return ownMessages.onReactions(frame);
    case "message.held":
      return onHeld(frame);
    case "message.rejected":
      return onRejected(frame);
    case "error":
      return onError(frame);
    case "room.state":
      state.room = frame.room;
      renderRoom(frame.room.notice);
      return;
    case "member.muted":
      return onMuted(frame);
    case "support.resources":
      return showSupport(frame);
    case "checkin.invite":
      return showCheckin(frame);
    case "resync":
      // The server's channel layer restarted: anything announced meanwhile never arrived.
      state.markerBefore = state.maxId;
      catchUp(frame.after_id);
      break;
    case "hidden":
      return onHidden(frame.authors);
    case "typing":
      return onTyping(frame);
    case "report.resolved":
      return showBanner("A facilitator has looked at your report. Thank you for telling us.", "info");
    case "action.done":
      return onActionDone(frame);
    default:
      return staffHooks.frames[frame.type]?.(frame);
  }
}

function onHello(frame) {
  const reconnect = state.everLive;
  state.you = frame.you;
  state.room = frame.room;
  state.present = frame.present;
  state.presentOthers = frame.others ?? 0;
  state.attempt = 0;
  state.mutedUntil = frame.you.muted_until || null;
  setStatus("live");
  renderRoom();
  renderPresence();
  if (frame.support) showSupport(frame.support, { unlessShown: true });
  if (!state.loadedNewest) {
    // The first connection, or one that closed before its first page came.
    requestHistory("newest", { limit: HISTORY_PAGE });
  } else {
    catchUp();
  }
  state.everLive = true;
  if (reconnect) announce("Reconnected to the room.");
  // Anything not acknowledged is sent again with the same client_id: the server stores it once.
  pump();
  staffHooks.onHello?.();
}

fitConversation();
// Staff tools first, so that the first hello already finds them.
if (isStaff) await import("./room/staff.js");
ownMessages.init({ send, state, input });
onFrame(handle);
connect();
