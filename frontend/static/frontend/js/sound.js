// A short tone for urgent and emergency alerts, made with the Web Audio API (no audio files).
// Browsers only let a page play sound after the person has clicked or typed on it, so the
// context may start suspended: soundState() says "blocked" until a click or key press (any, on
// the page, or the "Turn on" buttons) lets it run. Pages never show sound as on while it cannot
// play.
let ctx = null;
let muted = localStorage.getItem("haven.sound") === "off";
let lastChime = { key: "", at: 0 };
const watchers = new Set();

function notify() {
  const state = soundState();
  for (const fn of watchers) fn(state);
}

function ensure() {
  if (!ctx) {
    const Ctor = window.AudioContext || window.webkitAudioContext;
    if (!Ctor) return null;
    ctx = new Ctor();
    ctx.addEventListener("statechange", notify);
  }
  if (ctx.state === "suspended") ctx.resume().then(notify, () => {});
  return ctx;
}

for (const name of ["pointerdown", "keydown"]) {
  // Only where a page asked about sound already: members' pages never make a context.
  window.addEventListener(name, () => ctx && ensure() && notify(), { capture: true });
}

/** "on", "off" (the person turned it off), "blocked" (the browser waits for a click) or
 * "unsupported". */
export function soundState() {
  if (muted) return "off";
  if (!(window.AudioContext || window.webkitAudioContext)) return "unsupported";
  if (!ctx) ensure();
  return ctx && ctx.state === "running" ? "on" : "blocked";
}

/** Calls fn(state) whenever soundState() may have changed. */
export function onSoundChange(fn) {
  watchers.add(fn);
}

export function soundEnabled() {
  return !muted;
}

/** Call from a click: that click is what lets the browser play sound. */
export function setSound(on) {
  muted = !on;
  localStorage.setItem("haven.sound", on ? "on" : "off");
  if (on) ensure();
  notify();
}

/** Two soft rising notes for urgent, three for emergency. The same alert rung twice within
 * two seconds (the room and the site-wide bell both heard it) plays once. */
export function chime(level, key = "") {
  if (muted || (level !== "urgent" && level !== "emergency")) return;
  const now = Date.now();
  if (key && lastChime.key === key && now - lastChime.at < 2000) return;
  lastChime = { key, at: now };
  const audio = ensure();
  if (!audio) return;
  const notes = level === "emergency" ? [660, 880, 990] : [660, 880];
  let t = audio.currentTime + 0.02;
  for (const freq of notes) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.25, t + 0.03);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.35);
    osc.connect(gain).connect(audio.destination);
    osc.start(t);
    osc.stop(t + 0.4);
    t += 0.22;
  }
}
