/* Upload page for data editors: upload → dry-run preview (counts, errors, per-field
   changes) → confirm. Every value from the server is shown as text, never as HTML. */
(function () {
  "use strict";
  // URLs relative to the page (…/uploads/), so it also works under a proxy prefix.
  const ROOT = new URL("../", document.baseURI).pathname;
  const $ = (id) => document.getElementById(id);
  const STATUS = { 400: "文件有问题", 403: "需要数据管理员权限", 404: "上传已失效，请重新上传",
    413: "文件太大（上限 8 MB）", 422: "文件有问题，什么也没有导入", 429: "操作太频繁，请稍后再试",
    504: "数据库忙，超时了：什么也没有写入，请稍后再试" };
  let token = null;

  function say(text, bad) { $("status").textContent = text; $("status").className = bad ? "error" : ""; }
  function fill(list, items) {
    list.replaceChildren(...items.map((text) => Object.assign(document.createElement("li"),
      { textContent: text })));
    list.parentElement.hidden = items.length === 0;
  }
  async function api(path, options) {
    let response;
    try {
      response = await fetch(ROOT + path, { credentials: "same-origin", ...options });
    } catch (err) { throw new Error("网络不通，请联网后再试"); }
    if (response.status === 401) { showLogin(); throw new Error("请先登录"); }
    const body = (response.headers.get("content-type") || "").includes("json")
      ? await response.json() : null;
    if (!response.ok) {
      const detail = body && (typeof body.detail === "string" ? body.detail
        : body.detail && body.detail.message) || "";
      const lead = STATUS[response.status] || "操作未成功";
      throw new Error(detail ? `${lead}：${detail}` : lead);
    }
    return body;
  }

  function showLogin() { $("login").hidden = false; $("app").hidden = true; }
  window.staffLogin(ROOT, () => start());

  const COUNT_NAMES = [["inserted", "新增"], ["updated", "更新"], ["unchanged", "未变"],
    ["retired", "标为停业"], ["skipped", "有问题的行"]];
  function showPreview(body) {
    token = body.token;
    $("preview").hidden = false;
    $("result").hidden = true;
    $("summary").textContent = body.summary;
    $("counts").replaceChildren(...COUNT_NAMES.map(([key, name]) => {
      const row = document.createElement("tr");
      row.append(Object.assign(document.createElement("td"), { textContent: name }),
        Object.assign(document.createElement("td"), { textContent: String(body.counts[key]) }));
      return row;
    }));
    const notes = [...body.notes];
    if (body.unclaimed.length) notes.push(`未识别的列（原样保存在 extra 中）：${body.unclaimed.join("、")}`);
    fill($("notes"), notes);
    $("problems").replaceChildren(...body.problems.map((p) => {
      const row = document.createElement("tr");
      for (const text of [p.row, p.column || "", p.message]) {
        row.append(Object.assign(document.createElement("td"), { textContent: text }));
      }
      return row;
    }));
    $("problems-box").hidden = body.problems.length === 0;
    const link = $("errors-link");
    link.hidden = !body.errors_xlsx;
    if (body.errors_xlsx) link.href = new URL(body.errors_xlsx, document.baseURI).pathname;
    fill($("dups"), body.near_duplicates);
    fill($("changes"), body.changes);
    fill($("retired"), body.retired);
    $("confirm-button").disabled = !body.can_confirm;
    say(body.can_confirm ? "请核对预览，无误后点“确认导入”。"
      : "有问题或疑似重复：请改好文件重新上传（或在“更多选项”中选择跳过/允许）。", !body.can_confirm);
  }

  $("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("preview-button").disabled = true;
    say("正在上传并检查……");
    try {
      showPreview(await api("uploads", { method: "POST", body: new FormData(event.target) }));
    } catch (err) { $("preview").hidden = true; say(err.message, true); }
    finally { $("preview-button").disabled = false; }
  });

  $("confirm-button").addEventListener("click", async () => {
    if (!token) return;
    $("confirm-button").disabled = true;
    say("正在导入……");
    try {
      const body = await api(`uploads/${token}/confirm`, { method: "POST" });
      token = null;
      $("preview").hidden = true;
      $("result").hidden = false;
      $("result-summary").textContent = body.summary;
      say(`导入完成。如需撤销，请管理员运行 geo-service load --undo ${body.run_id}`);
    } catch (err) { say(err.message, true); $("confirm-button").disabled = false; }
  });

  async function start() {
    const me = await fetch(`${ROOT}auth/me`, { credentials: "same-origin" }).then((r) => r.json());
    if (!me.authenticated || !["data_editor", "admin"].includes(me.role)) { showLogin(); return; }
    $("who").textContent = me.username;
    $("login").hidden = true; $("app").hidden = false;
    const layers = await api("layers");
    const select = $("layer");
    select.replaceChildren(...(layers.layers || layers).map((layer) => Object.assign(
      document.createElement("option"), { value: layer.id, textContent: `${layer.title}（${layer.id}）` })));
    const showKinds = () => {
      const layer = (layers.layers || layers).find((l) => l.id === select.value);
      const kinds = layer && (layer.kinds || []).map((k) => (typeof k === "string" ? k : k.kind));
      $("kinds").replaceChildren(...(kinds || []).map((k) => Object.assign(
        document.createElement("option"), { value: k })));
    };
    select.addEventListener("change", showKinds);
    showKinds();
  }
  start();
}());
