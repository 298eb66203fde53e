/* Field form for boundary officers: record marker findings, offline first. The page shell
   is cached by the service worker (sw.js), the data it read by this page (Cache API), and
   every write goes to an outbox in IndexedDB first: new records (with client-generated
   keys), findings and changes are sent in order, each with an Idempotency-Key, so a
   retried sync creates each record once. Dates and times are 北京时间 (Asia/Shanghai). */
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
                  map: null, lineLayer: null, markerLayer: null, syncing: null, created: {},
                  me: null, record: null, editing: null, allMarkers: [] };
  const MAX_PHOTO_MB = 15;  // the server's limit (geo_service/boundaries/photos.py)
  const DATA_CACHE = "geo-field-data-v1";   // the last answer of every GET the form made
  const TZ = "Asia/Shanghai";
  const LOCAL = "local-";                    // prefix of a record created offline

  // ---- 北京时间 ----------------------------------------------------------------------
  /** Today's date in Beijing (YYYY-MM-DD), whatever the phone's own time zone. */
  function beijingDate(now = new Date()) {
    return new Intl.DateTimeFormat("en-CA", { timeZone: TZ, year: "numeric", month: "2-digit",
      day: "2-digit" }).format(now);
  }
  /** A timestamp as 北京时间 for people: 2026-11-23 07:30. */
  function beijingTime(iso) {
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", { timeZone: TZ,
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23" }).formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
  }

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
  /** Drafts in the order they were made (the order they are sent in). */
  const allDrafts = async () => (await outbox("readonly", (s) => s.getAll()))
    .sort((a, b) => (a.seq || 0) - (b.seq || 0) || String(a.createdAt).localeCompare(b.createdAt));
  let lastSeq = 0;
  const nextSeq = () => { lastSeq = Math.max(Date.now() * 1000, lastSeq + 1); return lastSeq; };
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
  /** GET JSON: the network's answer (kept in the data cache), or offline the last one. */
  async function getJson(path) {
    let response;
    try {
      response = await fetch(path, { credentials: "same-origin" });
    } catch (err) {
      const cached = "caches" in window ? await (await caches.open(DATA_CACHE)).match(path) : null;
      if (cached) return cached.json();
      throw new Error("网络不通, 本机也没有这项数据的缓存");
    }
    if (response.ok && "caches" in window) {
      await (await caches.open(DATA_CACHE)).put(path, response.clone());
    }
    if (response.status === 401) { showLogin(); throw new Error("请先登录"); }
    const body = await response.json();
    if (!response.ok) {
      const error = new Error(zhMessage(response.status, body && body.detail));
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
  window.staffLogin(ROOT, () => start());

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
    const [data, all] = await Promise.all([getJson(`${API}/lines`),
      getJson(`${API}/markers`)]);          // every marker once: each line opens offline
    state.lines = data.features;
    state.allMarkers = all.markers;
    const select = $("line");
    select.replaceChildren(option("", "— 选择界线 —"),
      ...state.lines.map((f) => option(f.id,
        `#${f.id} ${f.properties.side_a_name}—${f.properties.side_b_name}`)));
    if (state.lineLayer) { state.lineLayer.clearLayers(); state.lineLayer.addData(data); }
  }
  // status (在用 …) is the ring's colour; the last signed-off condition fills it
  const STATUS_COLOURS = { "在用": "#1b4f72", "损毁待修": "#d35400", "已重建": "#1e8449",
    "已废止": "#7b7d7d" };
  const markerStyle = (m) => ({ radius: 8, weight: 3, color: STATUS_COLOURS[m.status] || "#1b4f72",
    fillOpacity: 0.9, fillColor: !m.latest_condition ? "#ffffff"
      : m.latest_condition === "完好" ? "#58d68d" : "#e74c3c" });
  const markerLabel = (m) => `${m.number} (${m.marker_type}, ${m.status || "在用"}` +
    (m.latest_condition ? `, 上次联检 ${m.latest_condition}` : "") + ")";

  /** Markers whose number contains the text (works offline: all markers are on the phone). */
  function findMarkers(text) {
    const wanted = text.trim().toLowerCase();
    const list = $("find-results");
    list.replaceChildren();
    if (!wanted) return;
    const hits = state.allMarkers.filter((m) => m.number.toLowerCase().includes(wanted));
    for (const m of hits.slice(0, 10)) {
      const li = document.createElement("li");
      li.append(button(markerLabel(m), () => openMarker(m).catch((x) => say(x.message))));
      list.append(li);
    }
    if (!hits.length) list.append(Object.assign(document.createElement("li"),
      { textContent: "没有编号含此内容的界桩" }));
    else if (hits.length > 10) list.append(Object.assign(document.createElement("li"),
      { textContent: `另有 ${hits.length - 10} 个, 请输入更多编号` }));
  }
  async function openMarker(m) {
    if (!state.line || state.line.id !== m.line_id) await selectLine(m.line_id);
    $("marker").value = String(m.id);
    if (state.map) state.map.setView([m.lat, m.lon], 16);
    $("find-results").replaceChildren();
    say(`已打开界桩 ${m.number}`);
  }
  $("find").addEventListener("input", (e) => findMarkers(e.target.value));

  const localInspections = async () => (await allDrafts())
    .filter((d) => d.kind === "inspection" && mine(d));
  async function selectLine(id, inspectionToShow) {
    state.line = state.lines.find((f) => String(f.id) === String(id)) || null;
    $("line").value = state.line ? state.line.id : "";
    if (!state.line) return;
    if (state.map) state.map.fitBounds(L.geoJSON(state.line).getBounds());
    state.markers = state.allMarkers.filter((m) => m.line_id === state.line.id);
    const inspections = await getJson(`${API}/inspections?line_id=${state.line.id}`)
      .catch(() => ({ inspections: [] }));  // offline and never opened: only local records
    $("marker").replaceChildren(option("", "— 选择界桩 —"),
      ...state.markers.map((m) => option(m.id, markerLabel(m))));
    if (state.markerLayer) {
      state.markerLayer.clearLayers();
      state.markerLayer.addLayer(L.layerGroup(state.markers.map((m) =>
        L.circleMarker([m.lat, m.lon], markerStyle(m))
          .bindTooltip(textNode(markerLabel(m)))
          .on("click", () => { $("marker").value = m.id; }))));
    }
    const drafts = inspections.inspections.filter((i) => i.state !== "signed_off");
    const local = (await localInspections()).filter((d) => d.body.line_id === state.line.id);
    $("inspection").replaceChildren(
      ...local.map((d) => option(d.localId,
        `离线新建 ${d.body.round} ${d.body.inspected_on} (待同步)`)),
      ...drafts.map((i) => option(i.id, `#${i.id} ${i.round} ${i.inspected_on}`)),
      option("new", "＋ 新建联检记录"));
    if (inspectionToShow) $("inspection").value = String(inspectionToShow);
    await selectInspection($("inspection").value);
  }
  async function selectInspection(value) {
    $("new-inspection").hidden = value !== "new";
    state.inspection = !value || value === "new" ? null
      : value.startsWith(LOCAL) ? value : Number(value);
    stopEditing();
    await showFindings();
  }
  const isLocal = (id) => typeof id === "string" && id.startsWith(LOCAL);
  async function showFindings() {
    const list = $("findings");
    list.replaceChildren();
    $("sign-off").hidden = true;
    state.record = null;
    if (!state.inspection || isLocal(state.inspection)) return;  // local: all in 待同步
    const record = await getJson(`${API}/inspections/${state.inspection}`);
    state.record = record;              // what the officer sees is what they sign
    showSignOff(record);
    for (const f of record.findings) {
      const li = document.createElement("li");
      li.className = "finding";
      li.textContent = `${f.marker_number}: ${f.condition}` +
        (f.displacement_m != null ? ` 位移 ${f.displacement_m.toFixed(2)} m` : "") +
        (f.note ? ` — ${f.note}` : "");
      if (record.state === "draft") {
        const edit = Object.assign(document.createElement("button"),
          { type: "button", className: "small", textContent: "修改" });
        edit.addEventListener("click", () => editFinding(record, f));
        li.append(" ", edit);
      }
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
    // refused drafts wait for the officer (修改 / 删除) and never block the signature
    const waiting = (await allDrafts()).filter((d) => d.inspection === state.inspection &&
      !d.error);
    if (waiting.length) { say(`还有 ${waiting.length} 条待同步, 请先同步再签字`); return; }
    const record = state.record;
    if (!record || record.id !== state.inspection) { say("请先打开联检记录"); return; }
    if (!navigator.onLine) { say("签字需要联网"); return; }
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
  $("inspection").addEventListener("change", (e) => selectInspection(e.target.value)
    .catch((x) => say(x.message)));

  // ---- a new inspection: always into the outbox first (works offline) ---------------
  $("create-inspection").addEventListener("click", async () => {
    const split = (v) => v.split(/[,，、]/).map((s) => s.trim()).filter(Boolean);
    if (!state.line) { say("请先选择界线"); return; }
    const key = newKey();
    const draft = { kind: "inspection", key, localId: `${LOCAL}${key}`, seq: nextSeq(),
      createdAt: new Date().toISOString(), user: state.me, inspection: null,
      label: `联检记录 ${$("round").value.trim()}`,
      body: { line_id: state.line.id, round: $("round").value.trim(),
        inspected_on: $("inspected-on").value, side_a_officers: split($("officers-a").value),
        side_b_officers: split($("officers-b").value) } };
    if (!draft.body.round || !draft.body.inspected_on) {
      say(`新建失败: 填写有误: ${draft.body.round ? "日期" : "轮次"}不能为空`); return;
    }
    await putDraft(draft);
    if (navigator.onLine) {
      await sync();
      const made = (await allDrafts()).find((d) => d.key === key);
      if (made && made.error) { say(`新建失败: ${made.error}`); await dropDraft(key); await renderPending(); return; }
      const id = state.created[key];
      if (id) {
        await selectLine(state.line.id, id);
        say(`联检记录 #${id} 已新建`);
        return;
      }
    }
    await selectLine(state.line.id, draft.localId);
    say("联检记录已离线新建, 联网后自动同步");
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

  // ---- editing a stored finding or fixing a refused draft ----------------------------
  function fillForm(markerId, condition, note) {
    $("marker").value = String(markerId);
    const radio = document.querySelector(`input[name=condition][value="${condition}"]`);
    if (radio) radio.checked = true;
    $("note").value = note || "";
  }
  function editFinding(record, finding) {
    state.editing = { kind: "patch", inspection: record.id, finding: finding.id,
      ifMatch: record.etag, base: { condition: finding.condition, note: finding.note },
      label: finding.marker_number };
    fillForm(finding.marker_id, finding.condition, finding.note);
    $("marker").disabled = true;
    $("save").textContent = `保存对 ${finding.marker_number} 的修改`;
    $("cancel-edit").hidden = false;
    $("finding-form").scrollIntoView();
  }
  function fixDraft(draft) {
    state.editing = { kind: "fix", draft };
    if (draft.inspection !== state.inspection) say("请在下方表单修改后保存");
    fillForm(draft.body.marker_id, draft.body.condition, draft.body.note);
    $("marker").disabled = draft.kind === "patch";
    $("save").textContent = "保存修改后重新提交";
    $("cancel-edit").hidden = false;
    $("finding-form").scrollIntoView();
  }
  function stopEditing() {
    state.editing = null;
    $("marker").disabled = false;
    $("save").textContent = "保存";
    $("cancel-edit").hidden = true;
  }
  $("cancel-edit").addEventListener("click", () => { $("finding-form").reset(); stopEditing(); });

  // ---- save (always to the outbox first) and sync ----------------------------------
  $("finding-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const editing = state.editing;
    const inspection = editing && editing.kind === "fix" ? editing.draft.inspection
      : editing ? editing.inspection : state.inspection;
    if (!inspection) { say("请先选择或新建联检记录"); return; }
    if (!$("marker").value) { say("请选择界桩"); return; }
    const file = $("photo").files[0] || null;
    const fields = { condition: document.querySelector("input[name=condition]:checked").value,
      note: $("note").value.trim() || null,
      ...(state.position ? { measured_lon: state.position.lon,
                             measured_lat: state.position.lat,
                             measured_accuracy_m: Math.max(state.position.accuracy, 0.1)
                           } : {}) };
    let draft;
    if (editing && editing.kind === "fix") {          // a refused draft, corrected
      const old = editing.draft;
      await dropDraft(old.key);
      draft = { ...old, key: newKey(), error: null, conflict: null,
        body: { ...old.body, ...fields,
          ...(old.kind === "patch" ? {} : { marker_id: Number($("marker").value) }) } };
      if (old.kind !== "patch") draft.label = $("marker").selectedOptions[0].textContent;
      if (file) { draft.photo = await fitPhoto(file); draft.photoName = file.name; }
    } else if (editing) {                             // a change of a stored finding
      draft = { kind: "patch", key: newKey(), seq: nextSeq(), inspection,
        finding: editing.finding, ifMatch: editing.ifMatch, base: editing.base,
        label: `修改 ${editing.label}`, createdAt: new Date().toISOString(), user: state.me,
        body: fields, photo: file ? await fitPhoto(file) : null,
        photoName: file ? file.name : null };
    } else {
      draft = {
        kind: "finding", key: newKey(), seq: nextSeq(), inspection,
        createdAt: new Date().toISOString(),
        label: $("marker").selectedOptions[0].textContent,
        body: { marker_id: Number($("marker").value), ...fields },
        user: state.me,                    // a draft is only ever sent as its author
        photo: file ? await fitPhoto(file) : null,
        photoName: file ? file.name : null,
      };
    }
    await putDraft(draft);
    event.target.reset();
    stopEditing();
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
  const button = (text, onClick, className = "small") => {
    const b = Object.assign(document.createElement("button"),
      { type: "button", className, textContent: text });
    b.addEventListener("click", onClick);
    return b;
  };
  const describe = (v) => `${v.condition || ""}${v.note ? ` — ${v.note}` : ""}`;

  async function renderPending() {
    const drafts = await allDrafts();
    const own = drafts.filter(mine);
    $("pending-count").textContent = own.length;
    const last = localStorage.getItem("geo-field-last-sync");
    $("last-sync").textContent = last ? `上次同步 ${beijingTime(last)} (北京时间)` : "尚未同步";
    $("outbox-pill").textContent = own.length ? `待同步 ${own.length} 条` : "无待同步";
    $("outbox-pill").classList.toggle("waiting", own.length > 0);
    $("outbox-pill").title = $("last-sync").textContent;
    $("pending").replaceChildren(...drafts.map((d) => {
      const li = document.createElement("li");
      const owner = mine(d) ? "" : ` — 属于 ${d.user || "未知用户"}, 需其本人登录后同步`;
      const what = d.kind === "inspection" ? `${d.label} (${d.body.inspected_on})`
        : `${d.label}: ${d.body.condition}${d.photo ? " (附照片)" : ""}`;
      const waitsFor = isLocal(d.inspection) ? " — 等联检记录同步后发送" : "";
      li.textContent = what + (d.error ? ` — 未被接受: ${d.error}` : waitsFor) + owner;
      if (!mine(d)) li.className = "others";
      if (d.conflict) {                    // 412: someone else changed it — both versions shown
        li.className = "conflict";
        const both = document.createElement("div");
        both.textContent = `他人已改为: ${describe(d.conflict.server)} (${d.conflict.by || "他人"}); ` +
          `我的修改: ${describe(d.body)}`;
        li.append(both, button("用我的修改覆盖", async () => {
          d.ifMatch = d.conflict.etag; d.base = d.conflict.server; d.conflict = null;
          await putDraft(d); await renderPending(); await sync();
        }), " ", button("放弃我的修改", async () => { await dropDraft(d.key); await renderPending(); },
          "small drop"));
      } else if (d.error) {                // refused by the server: the officer decides
        li.className = "failed";
        if (d.kind !== "inspection") li.append(" ", button("修改", () => fixDraft(d)));
        li.append(" ", button("删除此条", async () => { await dropDraft(d.key); await renderPending(); },
          "small drop"));
      }
      return li;
    }));
  }

  async function uploadPhoto(draft) {
    if (!draft.photo) return [];
    const form = new FormData();
    form.append("file", draft.photo, draft.photoName || "photo");
    const stored = await api(`${API}/photos`, { method: "POST", body: form });
    return [stored.sha256];
  }

  /** Send one draft; its answer (the record) or null. */
  async function sendDraft(draft) {
    const json = { "Content-Type": "application/json" };
    if (draft.kind === "inspection") {
      const record = await api(`${API}/inspections`, { method: "POST",
        headers: { ...json, "Idempotency-Key": draft.key }, body: JSON.stringify(draft.body) });
      // the offline record's findings now point at the server's record, then it leaves
      for (const other of await allDrafts()) {
        if (other.inspection === draft.localId) { other.inspection = record.id; await putDraft(other); }
      }
      if (state.inspection === draft.localId) state.inspection = record.id;
      state.created[draft.key] = record.id;
      return record;
    }
    if (draft.kind === "patch") {
      const photoShas = await uploadPhoto(draft);
      try {
        const record = await api(`${API}/inspections/${draft.inspection}/findings/${draft.finding}`,
          { method: "PATCH", headers: { ...json, "If-Match": draft.ifMatch },
            body: JSON.stringify(draft.body) });
        if (photoShas.length) await attachPhoto(draft);
        return record;
      } catch (err) {
        if (err.status !== 412) throw err;
        const now = await api(`${API}/inspections/${draft.inspection}`);
        const finding = now.findings.find((f) => f.id === draft.finding) || {};
        const server = { condition: finding.condition, note: finding.note };
        if (server.condition === draft.base.condition && server.note === draft.base.note) {
          draft.ifMatch = now.etag;         // only other findings changed: no real conflict
          return sendDraft(draft);
        }
        draft.conflict = { server, etag: now.etag, by: finding.created_by };
        await putDraft(draft);
        return null;
      }
    }
    const body = { ...draft.body, photos: await uploadPhoto(draft) };
    return api(`${API}/inspections/${draft.inspection}/findings`, { method: "POST",
      headers: { ...json, "Idempotency-Key": draft.key }, body: JSON.stringify(body) });
  }
  async function attachPhoto(draft) {
    const form = new FormData();
    form.append("file", draft.photo, draft.photoName || "photo");
    form.append("finding_id", String(draft.finding));
    await api(`${API}/inspections/${draft.inspection}/photos`, { method: "POST", body: form });
  }

  /** Send the outbox in order; a call while a sync runs waits for it and then runs. */
  function sync() {
    if (!navigator.onLine) return Promise.resolve();
    if (state.syncing) return state.syncing.then(() => sync());
    state.syncing = syncOnce().finally(() => { state.syncing = null; });
    return state.syncing;
  }
  async function syncOnce() {
    let sent = 0;
    let reached = true;                         // the server answered every draft sent
    try {
      for (const listed of await allDrafts()) {
        const draft = (await allDrafts()).find((d) => d.key === listed.key);
        if (!draft || draft.error || draft.conflict) continue;  // the officer decides first
        if (!mine(draft)) continue;          // another officer's draft: never sent as mine
        if (isLocal(draft.inspection)) continue;  // its record was refused or is not yet sent
        try {
          const answer = await sendDraft(draft);
          if (answer === null) continue;    // a conflict: kept with both versions
          await dropDraft(draft.key);
          sent += 1;
        } catch (err) {
          if (err.status && err.status < 500 && err.status !== 401 && err.status !== 429) {
            draft.error = err.message;          // refused: keep it, show why
            await putDraft(draft);
          } else { reached = false; break; }     // network or server trouble: retry later
        }
      }
      if (reached) localStorage.setItem("geo-field-last-sync", new Date().toISOString());
    } finally {
      await renderPending();
      if (sent) {
        say(`已同步 ${sent} 条`);
        if (state.line) await selectLine(state.line.id, state.inspection).catch(() => {});
      }
    }
  }
  $("sync").addEventListener("click", () => sync());

  function showNet() {
    $("net").textContent = navigator.onLine ? "在线" : "离线";
    $("net").classList.toggle("offline", !navigator.onLine);
  }
  window.addEventListener("online", () => { showNet(); sync(); });
  window.addEventListener("offline", showNet);

  /** Who is logged in: the server's answer, or offline the last one on this phone. */
  async function whoAmI() {
    const me = await getJson(`${ROOT}auth/me`);
    const last = localStorage.getItem("geo-field-user");
    if (me.authenticated && navigator.onLine && last !== me.username) {
      // another officer on this phone: the previous one's cached data goes
      if ("caches" in window) await caches.delete(DATA_CACHE);
      localStorage.setItem("geo-field-user", me.username);
      await getJson(`${ROOT}auth/me`);
    }
    return me;
  }

  async function start() {
    showNet();
    const me = await whoAmI();
    if (!me.authenticated) { showLogin(); return; }
    $("who").textContent = `${me.username} (${me.role})`;
    state.me = me.username;
    $("login").hidden = true; $("app").hidden = false;
    $("inspected-on").value = beijingDate();
    initMap();
    await loadLines();
    await renderPending();
    const wanted = new URLSearchParams(location.search).get("marker");  // a QR label
    const marker = wanted && state.allMarkers.find((m) => String(m.id) === wanted);
    if (marker) await openMarker(marker);
    sync();
  }
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js").catch((err) => say(`离线功能不可用: ${err.message}`));
  }
  window.fieldForm = { sync, allDrafts, state, beijingDate };
  start().catch((err) => say(err.message));
})();
