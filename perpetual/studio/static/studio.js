// perpetual studio: the page. Talks JSON to /api and a WebSocket to /ws/live (see app.py).
"use strict";
const $ = (id) => document.getElementById(id);
const state = { image: null, presets: null, job: null, poll: null, socket: null };
// What the tests and the benchmark read: frames shown, when, and key-to-frame latencies.
const stats = { frames: 0, shownAt: [], latencies: [], last: null, errors: [] };
window.studio = { state, stats };

function show(el, on = true) { el.hidden = !on; }
function error(id, message) { $(id).textContent = message || ""; show($(id), !!message); }

async function api(url, body) {
  const response = await fetch(url, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function option(select, value, label) {
  const o = document.createElement("option"); o.value = value; o.textContent = label || value; select.append(o);
}

async function loadPresets() {
  state.presets = await api("/api/presets");
  for (const name of state.presets.configs) option($("config"), name);
  $("config").value = state.presets.default_config;
  for (const [name, p] of Object.entries(state.presets.paths)) option($("path-preset"), name, `${name}: ${p.description}`);
  $("path-preset").value = "forward";
  showParams();
}

function showParams() {
  const preset = state.presets.paths[$("path-preset").value];
  const box = $("path-params"); box.replaceChildren();
  for (const [key, value] of Object.entries(preset.params || {})) {
    const label = document.createElement("label"); label.textContent = key;
    const input = document.createElement("input"); input.dataset.param = key;
    input.value = JSON.stringify(value); label.append(input); box.append(label);
  }
  $("frames").value = preset.frames || 120;
}

function spec() {
  const [w, h] = $("size").value.split("x").map(Number);
  const s = { image: state.image, seed: Number($("seed").value), config: $("config").value, prompt: $("prompt").value,
              negative_prompt: $("negative").value, size: [w, h], fov: Number($("fov").value), frames: Number($("frames").value) };
  if ($("use-waypoints").checked) {
    s.path = { waypoints: JSON.parse($("waypoints").value) };
  } else {
    const preset = state.presets.paths[$("path-preset").value], params = {};
    for (const input of $("path-params").querySelectorAll("input")) params[input.dataset.param] = JSON.parse(input.value);
    s.path = { generator: preset.generator, params };
  }
  return s;
}

async function upload() {
  const file = $("photo").files[0];
  if (!file) return;
  const form = new FormData(); form.append("file", file);
  $("start-status").textContent = `uploading ${file.name}…`;
  const response = await fetch("/api/upload", { method: "POST", body: form });
  const data = await response.json();
  if (!response.ok) {
    error("upload-error", data.error); $("start-status").textContent = state.image ? "kept the photo before" : "procedural world";
    return;
  }
  error("upload-error", ""); state.image = data.upload;
  $("start-status").textContent = `photo ${data.name} (${data.width}x${data.height})`;
  $("start-thumb").src = URL.createObjectURL(file); show($("start-thumb"));
}

function useWorld() {
  state.image = null; $("photo").value = ""; show($("start-thumb"), false);
  $("start-status").textContent = `procedural world, seed ${$("seed").value}`;
}

async function preview() {
  error("plan-error", "");
  try {
    $("render-status").textContent = "previewing…";
    const plan = await api("/api/plan", spec());
    const base = `/files/plans/${plan.id}/`;
    $("path-plot").src = base + "path.png"; show($("path-plot"));
    if (plan.files.includes("preview.mp4")) { $("preview-video").src = base + "preview.mp4"; show($("preview-video")); $("preview-video").play(); }
    else show($("preview-video"), false);
    $("render-status").textContent = plan.closed_loop ? "the autopilot steers from what it sees: no preview ahead" : `preview: ${plan.frames} frames, no inpainting`;
  } catch (e) { error("plan-error", e.message); $("render-status").textContent = ""; }
}

async function render() {
  error("plan-error", "");
  let job;
  try { job = await api("/api/render", spec()); } catch (e) { error("plan-error", e.message); return; }
  state.job = job.id; $("cancel-btn").disabled = false;
  show($("render-video"), false); $("render-files").replaceChildren(); show($("render-progress"));
  clearInterval(state.poll); state.poll = setInterval(pollRender, 500);
}

async function pollRender() {
  const job = await api(`/api/render/${state.job}`);
  $("render-progress").max = job.frames; $("render-progress").value = job.done;
  const eta = job.eta_s == null ? "" : `, about ${Math.ceil(job.eta_s)} s left`;
  $("render-status").textContent = `${job.state}: ${job.done} of ${job.frames} frames${eta}${job.error ? ": " + job.error : ""}`;
  if (job.state === "running" && job.done) { $("render-frame").src = `/api/render/${job.id}/frame.jpg?${job.done}`; show($("render-frame")); }
  if (["done", "failed", "cancelled"].includes(job.state)) {
    clearInterval(state.poll); $("cancel-btn").disabled = true;
    if (job.state === "failed") error("plan-error", job.error);
    if (job.state === "done") finished(job);
  }
}

function links(box, kind, id, files) {
  box.replaceChildren();
  for (const name of files) {
    const a = document.createElement("a"); a.href = `/files/${kind}/${id}/${name}?download=1`; a.textContent = name;
    a.dataset.file = name; box.append(a);
  }
}

function finished(job) {
  show($("render-frame"), false);
  $("render-video").src = `/files/renders/${job.id}/flight.mp4`; show($("render-video"));
  links($("render-files"), "renders", job.id, job.files);
}

// Live flight ------------------------------------------------------------------------------
const held = new Set();
let seq = 0, pending = [], look = [0, 0], dragging = null;
const MOVE_KEYS = new Set(["w", "a", "s", "d", "q", "e", "shift", "arrowleft", "arrowright", "arrowup", "arrowdown"]);

function send(message) { if (state.socket && state.socket.readyState === 1) state.socket.send(JSON.stringify(message)); }
function sendControls() {
  seq += 1; pending.push({ seq, t: performance.now() });
  send({ type: "controls", keys: [...held], look, seq }); look = [0, 0];
}

function startLive() {
  if (state.socket) state.socket.close();
  error("live-error", "");
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/live`);
  socket.binaryType = "blob"; state.socket = socket;
  const [w, h] = $("size").value.split("x").map(Number);
  $("live-view").width = w; $("live-view").height = h;
  let image = null;
  socket.onopen = () => { const s = spec(); delete s.path; send({ type: "start", ...s }); $("live-status").textContent = "starting…"; };
  socket.onmessage = async (event) => {
    if (typeof event.data !== "string") { image = event.data; return; }
    const m = JSON.parse(event.data);
    if (m.type === "error") { error("live-error", m.message); stats.errors.push(m.message); return; }
    if (m.type === "recording") { links($("live-files"), "live", m.id, m.files); return; }
    if (m.type !== "frame" || !image) return;
    const bitmap = await createImageBitmap(image);
    $("live-view").getContext("2d").drawImage(bitmap, 0, 0);
    const now = performance.now();
    stats.frames += 1; stats.shownAt.push(now); stats.last = m;
    while (pending.length && pending[0].seq <= m.seq) stats.latencies.push(now - pending.shift().t);
    $("record-btn").disabled = false; $("stop-btn").disabled = m.recording == null;
    $("live-status").textContent = `frame ${m.index} · ${m.keyframes} keyframes${m.refining ? " (refining)" : ""}` +
      `${m.autopilot ? " · autopilot" : ""}${m.recording != null ? ` · recording ${m.recording} frames` : ""}` +
      ` · at (${m.position.map((v) => v.toFixed(2)).join(", ")})`;
  };
  socket.onclose = () => { $("record-btn").disabled = true; };
  $("live-view").focus();
}

function key(event, down) {
  // Keys steer while a live flight is open, wherever the focus is but in a form field.
  if (!state.socket || state.socket.readyState !== 1 || ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName)) return;
  const k = event.key.toLowerCase();
  if (k === " " && down && !event.repeat) { send({ type: "autopilot" }); event.preventDefault(); return; }
  if (!MOVE_KEYS.has(k)) return;
  event.preventDefault();
  if (down === held.has(k)) return;
  down ? held.add(k) : held.delete(k);
  sendControls();
}

function init() {
  loadPresets().catch((e) => error("plan-error", e.message));
  $("photo").addEventListener("change", upload);
  $("use-world").addEventListener("click", useWorld);
  $("path-preset").addEventListener("change", showParams);
  $("preview-btn").addEventListener("click", preview);
  $("render-btn").addEventListener("click", render);
  $("cancel-btn").addEventListener("click", () => api(`/api/render/${state.job}/cancel`, {}));
  $("live-start").addEventListener("click", startLive);
  $("record-btn").addEventListener("click", () => { send({ type: "record" }); $("live-files").replaceChildren(); });
  $("stop-btn").addEventListener("click", () => send({ type: "stop" }));
  const view = $("live-view");
  window.addEventListener("keydown", (e) => key(e, true));
  window.addEventListener("keyup", (e) => key(e, false));
  window.addEventListener("blur", () => { if (held.size) { held.clear(); sendControls(); } });
  view.addEventListener("pointerdown", (e) => { dragging = [e.clientX, e.clientY]; view.focus(); });
  window.addEventListener("pointerup", () => { dragging = null; });
  view.addEventListener("pointermove", (e) => {
    if (!dragging) return;
    look[0] += 0.2 * (e.clientX - dragging[0]); look[1] -= 0.2 * (e.clientY - dragging[1]);
    dragging = [e.clientX, e.clientY]; sendControls();
  });
}
init();
