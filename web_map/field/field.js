/* Field form for boundary officers: record marker findings; offline drafts in IndexedDB,
   synced with an Idempotency-Key so a retried upload creates one record. */
(function () {
  "use strict";
  const API = "/boundaries";
  const $ = (id) => document.getElementById(id);
  /** A span holding plain text (Leaflet puts tooltip strings in as HTML). */
  const textNode = (text) => Object.assign(document.createElement("span"), { textContent: text });
  const state = { lines: [], markers: [], line: null, inspection: null, position: null,
                  map: null, lineLayer: null, markerLayer: null, syncing: false };

  // ---- IndexedDB outbox ------------------------------------------------------------
  function openDb() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open("geo-field", 1);
      req.onupgradeneeded = () => req.result.createObjectStore("outbox", { keyPath: "key" });
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  async function outbox(mode, fn) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const tx = db.transaction("outbox", mode);
      const result = fn(tx.objectStore("outbox"));
      tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
      tx.onerror = () => reject(tx.error);
    });
  }
  const allDrafts = () => outbox("readonly", (s) => s.getAll());
  const putDraft = (d) => outbox("readwrite", (s) => s.put(d));
  const dropDraft = (k) => outbox("readwrite", (s) => s.delete(k));

  // ---- HTTP ------------------------------------------------------------------------
  async function api(path, options = {}) {
    const response = await fetch(path, { credentials: "same-origin", ...options });
    if (response.status === 401) { showLogin(); throw new Error("请先登录"); }
    const body = response.headers.get("content-type")?.includes("json")
      ? await response.json() : null;
    if (!response.ok) {
      const detail = body && body.detail;
      const error = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
      error.status = response.status;
      throw error;
    }
    return body;
  }
  const say = (text) => { $("status").textContent = text; };
  const newKey = () => (crypto.randomUUID ? crypto.randomUUID()
    : Date.now().toString(36) + Math.random().toString(36).slice(2));

  // ---- login -----------------------------------------------------------------------
  function showLogin() { $("login").hidden = false; $("app").hidden = true; }
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("login-error").textContent = "";
    try {
      const response = await fetch("/auth/login", { method: "POST",
        body: new FormData(event.target), credentials: "same-origin" });
      if (!response.ok) throw new Error((await response.json()).detail || "登录失败");
      await start();
    } catch (err) { $("login-error").textContent = err.message; }
  });

  // ---- map and pickers -------------------------------------------------------------
  function initMap() {
    if (state.map || typeof L === "undefined") return;
    state.map = L.map("map").setView([29.7, 105.72], 10);
    state.lineLayer = L.geoJSON(null, { style: { color: "#c0392b", weight: 3 },
      onEachFeature: (f, layer) => layer.on("click", () => selectLine(f.id)) }).addTo(state.map);
    state.markerLayer = L.layerGroup().addTo(state.map);
  }
  function option(value, text) {
    const o = document.createElement("option"); o.value = value; o.textContent = text; return o;
  }
  async function loadLines() {
    const data = await api(`${API}/lines`);
    state.lines = data.features;
    const select = $("line");
    select.replaceChildren(option("", "— 选择界线 —"),
      ...state.lines.map((f) => option(f.id,
        `#${f.id} ${f.properties.side_a_name}—${f.properties.side_b_name}`)));
    if (state.lineLayer) { state.lineLayer.clearLayers(); state.lineLayer.addData(data); }
  }
  async function selectLine(id) {
    state.line = state.lines.find((f) => String(f.id) === String(id)) || null;
    $("line").value = state.line ? state.line.id : "";
    if (!state.line) return;
    if (state.map) state.map.fitBounds(L.geoJSON(state.line).getBounds());
    const [markers, inspections] = await Promise.all([
      api(`${API}/markers?line_id=${state.line.id}`),
      api(`${API}/inspections?line_id=${state.line.id}`)]);
    state.markers = markers.markers;
    $("marker").replaceChildren(option("", "— 选择界桩 —"),
      ...state.markers.map((m) => option(m.id, `${m.number} (${m.marker_type})`)));
    if (state.markerLayer) {
      state.markerLayer.clearLayers();
      state.markerLayer.addLayer(L.layerGroup(state.markers.map((m) =>
        L.circleMarker([m.lat, m.lon], { radius: 7, color: "#1b4f72" })
          .bindTooltip(textNode(m.number)).on("click", () => { $("marker").value = m.id; }))));
    }
    const drafts = inspections.inspections.filter((i) => i.state !== "signed_off");
    $("inspection").replaceChildren(
      ...drafts.map((i) => option(i.id, `#${i.id} ${i.round} ${i.inspected_on}`)),
      option("new", "＋ 新建联检记录"));
    await selectInspection($("inspection").value);
  }
  async function selectInspection(value) {
    $("new-inspection").hidden = value !== "new";
    state.inspection = value && value !== "new" ? Number(value) : null;
    await showFindings();
  }
  async function showFindings() {
    const list = $("findings");
    list.replaceChildren();
    if (!state.inspection || !navigator.onLine) return;
    const record = await api(`${API}/inspections/${state.inspection}`);
    for (const f of record.findings) {
      const li = document.createElement("li");
      li.className = "finding";
      li.textContent = `${f.marker_number}: ${f.condition}` +
        (f.displacement_m != null ? ` 位移 ${f.displacement_m.toFixed(2)} m` : "") +
        (f.note ? ` — ${f.note}` : "");
      list.append(li);
    }
  }
  $("line").addEventListener("change", (e) => selectLine(e.target.value).catch((x) => say(x.message)));
  $("inspection").addEventListener("change", (e) => selectInspection(e.target.value));
  $("create-inspection").addEventListener("click", async () => {
    const split = (v) => v.split(/[,，、]/).map((s) => s.trim()).filter(Boolean);
    try {
      const record = await api(`${API}/inspections`, { method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": newKey() },
        body: JSON.stringify({ line_id: state.line.id, round: $("round").value.trim(),
          inspected_on: $("inspected-on").value, side_a_officers: split($("officers-a").value),
          side_b_officers: split($("officers-b").value) }) });
      $("inspection").prepend(option(record.id, `#${record.id} ${record.round} ${record.inspected_on}`));
      $("inspection").value = record.id;
      await selectInspection(String(record.id));
      say(`联检记录 #${record.id} 已新建`);
    } catch (err) { say(`新建失败: ${err.message}`); }
  });

  // ---- GPS -------------------------------------------------------------------------
  $("gps").addEventListener("click", () => {
    if (!navigator.geolocation) { say("此设备不支持定位"); return; }
    $("position").textContent = "定位中…";
    navigator.geolocation.getCurrentPosition((p) => {
      state.position = { lon: p.coords.longitude, lat: p.coords.latitude,
                         accuracy: p.coords.accuracy };
      $("position").textContent =
        `${state.position.lon.toFixed(6)}, ${state.position.lat.toFixed(6)} (±${Math.round(p.coords.accuracy)} m)`;
    }, (err) => { $("position").textContent = `定位失败: ${err.message}`; },
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 });
  });

  // ---- save (always to the outbox first) and sync ----------------------------------
  $("finding-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!state.inspection) { say("请先选择或新建联检记录"); return; }
    if (!$("marker").value) { say("请选择界桩"); return; }
    const file = $("photo").files[0] || null;
    const draft = {
      key: newKey(), inspection: state.inspection, createdAt: new Date().toISOString(),
      label: $("marker").selectedOptions[0].textContent,
      body: { marker_id: Number($("marker").value),
              condition: document.querySelector("input[name=condition]:checked").value,
              note: $("note").value.trim() || null,
              ...(state.position ? { measured_lon: state.position.lon,
                                     measured_lat: state.position.lat } : {}) },
      photo: file ? new Blob([await file.arrayBuffer()], { type: file.type }) : null,
      photoName: file ? file.name : null,
    };
    await putDraft(draft);
    event.target.reset();
    state.position = null;
    $("position").textContent = "未定位";
    say(navigator.onLine ? "已保存, 正在同步…" : "已离线保存, 联网后自动同步");
    await renderPending();
    if (navigator.onLine) await sync();
  });

  async function renderPending() {
    const drafts = await allDrafts();
    $("pending-count").textContent = drafts.length;
    $("pending").replaceChildren(...drafts.map((d) => {
      const li = document.createElement("li");
      li.textContent = `${d.label}: ${d.body.condition}${d.photo ? " 📷" : ""}` +
        (d.error ? ` — ${d.error}` : "");
      if (d.error) li.className = "failed";
      return li;
    }));
  }

  async function sendDraft(draft) {
    const body = { ...draft.body, photos: [] };
    if (draft.photo) {
      const form = new FormData();
      form.append("file", draft.photo, draft.photoName || "photo");
      const stored = await api(`${API}/photos`, { method: "POST", body: form });
      body.photos.push(stored.sha256);
    }
    await api(`${API}/inspections/${draft.inspection}/findings`, { method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": draft.key },
      body: JSON.stringify(body) });
  }

  async function sync() {
    if (state.syncing || !navigator.onLine) return;
    state.syncing = true;
    let sent = 0;
    try {
      for (const draft of await allDrafts()) {
        try {
          await sendDraft(draft);
          await dropDraft(draft.key);
          sent += 1;
        } catch (err) {
          if (err.status && err.status < 500 && err.status !== 401 && err.status !== 429) {
            draft.error = err.message;          // refused: keep it, show why
            await putDraft(draft);
          } else { break; }                      // network or server trouble: retry later
        }
      }
    } finally {
      state.syncing = false;
      await renderPending();
      if (sent) { say(`已同步 ${sent} 条`); await showFindings().catch(() => {}); }
    }
  }
  $("sync").addEventListener("click", () => sync());

  function showNet() {
    $("net").textContent = navigator.onLine ? "在线" : "离线";
    $("net").classList.toggle("offline", !navigator.onLine);
  }
  window.addEventListener("online", () => { showNet(); sync(); });
  window.addEventListener("offline", showNet);

  async function start() {
    showNet();
    const me = await fetch("/auth/me", { credentials: "same-origin" }).then((r) => r.json());
    if (!me.authenticated) { showLogin(); return; }
    $("who").textContent = `${me.username} (${me.role})`;
    $("login").hidden = true; $("app").hidden = false;
    $("inspected-on").value = new Date().toISOString().slice(0, 10);
    initMap();
    await loadLines();
    await renderPending();
    sync();
  }
  window.fieldForm = { sync, allDrafts, state };
  start().catch((err) => say(err.message));
})();
