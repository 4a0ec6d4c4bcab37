// A short tone for urgent and emergency alerts, made with the Web Audio API (no audio files).
// Browsers only allow sound after the person has interacted with the page, so the context is
// created on the first click or key press.
let ctx = null;
let muted = localStorage.getItem("haven.sound") === "off";

function ensure() {
  if (!ctx) {
    const Ctor = window.AudioContext || window.webkitAudioContext;
    if (!Ctor) return null;
    ctx = new Ctor();
  }
  if (ctx.state === "suspended") ctx.resume().catch(() => {});
  return ctx;
}

for (const name of ["pointerdown", "keydown"]) {
  window.addEventListener(name, ensure, { once: true, capture: true });
}

export function soundEnabled() {
  return !muted;
}

export function setSound(on) {
  muted = !on;
  localStorage.setItem("haven.sound", on ? "on" : "off");
  if (on) ensure();
}

/** Two soft rising notes for urgent, three for emergency. */
export function chime(level) {
  if (muted || (level !== "urgent" && level !== "emergency")) return;
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
