/* Field form for boundary officers: record marker findings; offline drafts in IndexedDB,
   synced with an Idempotency-Key so a retried upload creates one record. */
(function () {
  "use strict";
  // URLs relative to the page (…/boundaries/field/), so the form also works behind a
  // reverse proxy that serves the service under a prefix (e.g. /geo/).
  const ROOT = new URL("../../", document.baseURI).pathname;
  const API = `${ROOT}boundaries`;
  const $ = (id) => document.getElementById(id);
  /** A span holding plain text (Leaflet puts tooltip strings in as HTML). */
  const textNode = (text) => Object.assign(document.createElement("span"), { textContent: text });
  const state = { lines: [], markers: [], line: null, inspection: null, position: null,
                  map: null, lineLayer: null, markerLayer: null, syncing: false,
                  me: null, record: null };
  const MAX_PHOTO_MB = 15;  // the server's limit (geo_service/boundaries/photos.py)

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
  const FIELDS = { round: "轮次", inspected_on: "日期", side_a_officers: "甲方人员",
    side_b_officers: "乙方人员", marker_id: "界桩", condition: "状况", measured_lon: "GPS位置",
    measured_lat: "GPS位置", note: "说明", photos: "照片", file: "照片", side: "签字方" };
  const STATUS = { 403: "无权进行此操作", 404: "记录不存在(可能已被删除)",
    409: "记录状态不允许此操作", 412: "他人已先保存了这条记录, 请重新选择记录后再操作",
    413: `照片太大(上限 ${MAX_PHOTO_MB} MB)`, 415: "照片格式不支持, 请用 JPEG、PNG、WebP 或 HEIC 照片",
    422: "填写有误", 428: "请重新选择记录后再操作", 429: "操作太频繁, 请稍后再试" };
  /** A Chinese message for a refused request; the server's own words follow for support. */
  function zhMessage(status, detail) {
    if (Array.isArray(detail)) {          // request validation: name the fields in Chinese
      const items = detail.map((d) => {
        const field = FIELDS[(d.loc || []).slice(-1)[0]] || (d.loc || []).slice(-1)[0] || "";
        const what = d.type === "string_too_short" || d.type === "missing" ? "不能为空"
          : d.type === "literal_error" ? "取值不对" : "格式不对";
        return `${field}${what}`;
      });
      return `填写有误: ${[...new Set(items)].join("; ")}`;
    }
    const lead = STATUS[status] || (status >= 500 ? "服务器暂时出错, 请稍后再试" : "操作未成功");
    return detail ? `${lead} (${detail})` : lead;
  }
  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, { credentials: "same-origin", ...options });
    } catch (err) { throw new Error("网络不通, 请联网后再试"); }
    if (response.status === 401) { showLogin(); throw new Error("请先登录"); }
    const body = response.headers.get("content-type")?.includes("json")
      ? await response.json() : null;
    if (!response.ok) {
      const error = new Error(zhMessage(response.status, body && body.detail));
      error.status = response.status;
      error.detail = body && typeof body.detail === "string" ? body.detail : "";
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
      const response = await fetch(`${ROOT}auth/login`, { method: "POST",
        body: new FormData(event.target), credentials: "same-origin" });
      if (response.status === 429) throw new Error("登录失败次数太多, 请稍后再试");
      if (!response.ok) throw new Error("用户名或密码不对, 或账号已停用");
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
    $("sign-off").hidden = true;
    if (!state.inspection || !navigator.onLine) return;
    const record = await api(`${API}/inspections/${state.inspection}`);
    state.record = record;              // what the officer sees is what they sign
    showSignOff(record);
    for (const f of record.findings) {
      const li = document.createElement("li");
      li.className = "finding";
      li.textContent = `${f.marker_number}: ${f.condition}` +
        (f.displacement_m != null ? ` 位移 ${f.displacement_m.toFixed(2)} m` : "") +
        (f.note ? ` — ${f.note}` : "");
      list.append(li);
    }
  }
  function showSignOff(record) {
    const signed = (side) => record[`side_${side}_signed_by`]
      ? `已签 (${record[`side_${side}_signed_by`]})` : "未签";
    $("sign-state").textContent = `甲方 ${record.side_a_name}: ${signed("a")}; ` +
      `乙方 ${record.side_b_name}: ${signed("b")}` +
      (record.state === "signed_off" ? " — 双方已签字, 记录已锁定" : "");
    $("sign-a").textContent = `以甲方 (${record.side_a_name}) 签字`;
    $("sign-b").textContent = `以乙方 (${record.side_b_name}) 签字`;
    $("sign-a").disabled = Boolean(record.side_a_signed_by);
    $("sign-b").disabled = Boolean(record.side_b_signed_by);
    $("sign-off").hidden = false;
  }
  async function signSide(side) {
    if (!state.inspection) return;
    const waiting = (await allDrafts()).filter((d) => d.inspection === state.inspection);
    if (waiting.length) { say(`还有 ${waiting.length} 条待同步, 请先同步再签字`); return; }
    const record = state.record;
    if (!record || record.id !== state.inspection) { say("请先打开联检记录"); return; }
    try {
      const sideName = record[`side_${side}_name`];
      const lines = record.findings.map((f) => `· ${f.marker_number}: ${f.condition}` +
        (f.displacement_m != null ? ` 位移 ${f.displacement_m.toFixed(2)} m` : "") +
        (f.note ? ` (${f.note})` : ""));
      const text = `以${side === "a" ? "甲" : "乙"}方 (${sideName}) 签字确认以下内容?\n\n` +
        `双方意见: ${record.summary || "无"}\n检查结果 ${record.findings.length} 条:\n` +
        `${lines.join("\n") || "(无)"}\n照片 ${record.photos.length} 张\n` +
        `内容哈希 ${record.content_hash.slice(0, 16)}…\n\n签字后内容不能再改, 除非撤回签字。`;
      if (!confirm(text)) return;
      await api(`${API}/inspections/${state.inspection}/sign`, { method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ side, content_hash: record.content_hash }) });
      say(`已以${side === "a" ? "甲" : "乙"}方签字`);
    } catch (err) {
      say(err.status === 403 ? `签字未成功: 只能由该方的界管员签字 (${err.detail})`
        : err.status === 412 ? "签字未成功: 记录内容已被改动, 请核对刷新后的内容再签字"
        : `签字未成功: ${err.message}`);
    }
    await showFindings().catch(() => {});
  }
  $("sign-a").addEventListener("click", () => signSide("a"));
  $("sign-b").addEventListener("click", () => signSide("b"));
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
                                     measured_lat: state.position.lat,
                                     measured_accuracy_m: Math.max(state.position.accuracy, 0.1)
                                   } : {}) },
      user: state.me,                      // a draft is only ever sent as its author
      photo: file ? await fitPhoto(file) : null,
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

  /** Photos above the server's limit are downscaled (JPEG) before they are stored. */
  async function fitPhoto(file) {
    if (file.size <= MAX_PHOTO_MB * 1024 * 1024) return new Blob([await file.arrayBuffer()], { type: file.type });
    const bitmap = await createImageBitmap(file);
    let side = 4000, blob = null;
    while (side >= 800) {
      const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
      const canvas = Object.assign(document.createElement("canvas"),
        { width: Math.round(bitmap.width * scale), height: Math.round(bitmap.height * scale) });
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      blob = await new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.85));
      if (blob.size <= MAX_PHOTO_MB * 1024 * 1024) return blob;
      side = Math.round(side * 0.7);
    }
    return blob;
  }
  const mine = (d) => d.user && state.me && d.user === state.me;

  async function renderPending() {
    const drafts = await allDrafts();
    $("pending-count").textContent = drafts.filter(mine).length;
    $("pending").replaceChildren(...drafts.map((d) => {
      const li = document.createElement("li");
      const owner = mine(d) ? "" : ` — 属于 ${d.user || "未知用户"}, 需其本人登录后同步`;
      li.textContent = `${d.label}: ${d.body.condition}${d.photo ? " 📷" : ""}` +
        (d.error ? ` — ${d.error}` : "") + owner;
      if (!mine(d)) li.className = "others";
      if (d.error) {                       // refused by the server: it never goes through
        li.className = "failed";
        const drop = Object.assign(document.createElement("button"),
          { type: "button", className: "drop", textContent: "删除此条" });
        drop.addEventListener("click", async () => { await dropDraft(d.key); await renderPending(); });
        li.append(" ", drop);
      }
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
        if (draft.error) continue;           // refused before: the officer decides (删除此条)
        if (!mine(draft)) continue;          // another officer's draft: never sent as mine
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
    const me = await fetch(`${ROOT}auth/me`, { credentials: "same-origin" }).then((r) => r.json());
    if (!me.authenticated) { showLogin(); return; }
    $("who").textContent = `${me.username} (${me.role})`;
    state.me = me.username;
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
