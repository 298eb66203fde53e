/* 大足区关爱地图: the public care map. Reads only /map/api/* (public data) and the
   gazetteer search (public rows only); requests nothing outside the service. */
(function () {
  "use strict";

  var state = {
    config: null, crs: "EPSG:4490", map: null, cluster: null, byCat: {}, markers: {}, features: {},
    selected: null, pickMode: false, here: null, ready: false, labels: [], labelLayer: null,
    walk: {}
  };
  window.careMap = state;

  var $ = function (id) { return document.getElementById(id); };
  // the service's root: "" normally, "/geo" when a reverse proxy serves it under /geo/
  var ROOT = location.pathname.replace(/\/map\/?$/, "");
  var cats = function () { return state.config.categories; };
  var catById = function (id) { return cats().filter(function (c) { return c.id === id; })[0]; };

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch];
    });
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { var e = new Error(url + " → HTTP " + r.status); e.status = r.status; throw e; }
      return r.json();
    });
  }

  function status(text, problem) {
    var el = $("status");
    el.textContent = text;
    el.className = problem ? "status problem" : "status";
    // the one message line stays in sight: a problem scrolls it back on screen
    if (problem && el.getBoundingClientRect().top < 0) el.scrollIntoView({ block: "nearest" });
  }

  function isElder() { return document.documentElement.classList.contains("elder"); }

  function distanceText(m) {
    return m < 1000 ? Math.round(m) + " 米" : (m / 1000).toFixed(m < 10000 ? 1 : 0) + " 公里";
  }

  // along roads (when the service has a road layer): 步行约 12 分钟（0.9 公里）
  function walkText(r) {
    if (r.walk_minutes == null) return null;
    return "步行约 " + Math.max(1, Math.round(r.walk_minutes)) + " 分钟（" +
      (r.walk_m / 1000).toFixed(1) + " 公里）";
  }

  function starText(n) {
    if (!n) return "";
    return "★".repeat(n) + "☆".repeat(Math.max(0, 5 - n));
  }

  function symbolHtml(cat, extraClass, star) {
    var badge = star ? '<span class="star-badge" aria-hidden="true">★' + star + "</span>" : "";
    return '<span class="sym ' + (extraClass || "") + " shape-" + cat.shape + '" data-cat="' +
      cat.id + '" style="background:' + cat.colour + '" aria-hidden="true"><b>' + esc(cat.letter) +
      "</b>" + badge + "</span>";
  }

  /* ---------- elderly mode (长辈模式): one tap, remembered ---------- */
  function setElder(on) {
    document.documentElement.classList.toggle("elder", on);
    $("elder-toggle").setAttribute("aria-pressed", on ? "true" : "false");
    try { localStorage.setItem("careMap.elder", on ? "1" : "0"); } catch (e) { /* private mode */ }
    if (state.map) {
      state.map.invalidateSize();
      rebuildIcons();
      if (state.cluster) state.cluster.refreshClusters();
      if (state.hereAt) showHere(state.hereAt.latlng, state.hereAt.label, state.hereAt.accuracy);
      placeLabels();
    }
  }

  // the tap area of a marker or cluster: 60×60 px in 长辈模式 (the symbol inside is smaller)
  function markerSize() { return isElder() ? 60 : 40; }

  /* ---------- markers ---------- */
  var AccessibleIcon = L.DivIcon.extend({
    createIcon: function (old) {
      var div = L.DivIcon.prototype.createIcon.call(this, old);
      div.setAttribute("role", "button");
      div.setAttribute("aria-label", this.options.label);
      return div;
    }
  });

  function facilityIcon(cat, props) {
    var size = markerSize();
    var label = props.name + "，" + cat.title + (props.star ? "，" + props.star + "星级" : "");
    return new AccessibleIcon({
      className: "care-icon", iconSize: [size, size], iconAnchor: [size / 2, size / 2],
      html: '<span class="hit">' + symbolHtml(cat, "mk", props.star) + "</span>", label: label
    });
  }

  // one clustering across every category: the count and a coloured letter per category inside
  function clusterIcon(cluster) {
    var n = cluster.getChildCount(), per = {};
    cluster.getAllChildMarkers().forEach(function (m) {
      var id = m.feature.properties.cat;
      per[id] = (per[id] || 0) + 1;
    });
    var present = cats().filter(function (c) { return per[c.id]; });
    var size = markerSize() + (n < 10 ? 4 : n < 100 ? 10 : 16);
    // wide enough for a letter per category (a pill when there are many)
    var width = Math.max(size, Math.min(3, present.length) * (isElder() ? 20 : 15) + 16);
    var letters = present.map(function (c) {
      // the letter as CSS content: the spoken name (aria-label) then contains all visible text
      return '<i data-cat="' + c.id + '" data-letter="' + esc(c.letter) + '" style="background:' + c.colour + '"></i>';
    }).join("");
    return new AccessibleIcon({
      className: "care-icon", iconSize: [width, size],
      label: n + " 处设施：" + present.map(function (c) { return c.title + " " + per[c.id] + " 处"; }).join("，") +
        "。按回车放大",
      html: '<span class="cluster" aria-hidden="true"><span class="n">' + n + '</span><span class="cats">' + letters + "</span></span>"
    });
  }

  function rebuildIcons() {
    Object.keys(state.markers).forEach(function (id) {
      var m = state.markers[id];
      m.setIcon(facilityIcon(catById(m.feature.properties.cat), m.feature.properties));
    });
  }

  function isActivate(e) {  // Enter or Space on a focused marker = a tap
    var k = e.originalEvent && e.originalEvent.key;
    return k === "Enter" || k === " ";
  }

  function addFacilities(fc) {
    var byCat = state.byCat;
    cats().forEach(function (c) { byCat[c.id] = []; });
    state.cluster = L.markerClusterGroup({
      chunkedLoading: true, chunkDelay: 1, chunkInterval: 400, showCoverageOnHover: false,
      chunkProgress: function (done, total) {
        if (done === total) { state.pending = 0; if (state.onLoaded) state.onLoaded(); }
      },
      // a cluster is as wide as a 60 px marker in 长辈模式, so none ever covers another
      maxClusterRadius: function (z) { return isElder() ? (z <= 11 ? 130 : 90) : (z <= 11 ? 90 : 60); },
      disableClusteringAtZoom: 17, spiderfyOnMaxZoom: true, iconCreateFunction: clusterIcon
    });
    state.cluster.on("clusterkeypress", function (e) {
      if (isActivate(e)) e.layer.zoomToBounds({ padding: [20, 20] });
    });
    fc.features.forEach(function (f) {
      var cat = catById(f.properties.cat);
      if (!cat) return;
      var c = f.geometry.coordinates;
      var m = L.marker([c[1], c[0]], {
        icon: facilityIcon(cat, f.properties), title: f.properties.name, keyboard: true,
        riseOnHover: true
      });
      m.feature = f;
      m.on("click", function () { openFacility(f.id, { fromMarker: true }); });
      m.on("keypress", function (e) { if (isActivate(e)) openFacility(f.id, { fromMarker: true }); });
      state.markers[f.id] = m;
      state.features[f.id] = f;
      byCat[cat.id].push(m);
    });
    var shown = [];
    cats().forEach(function (c) { if (isChecked(c.id)) shown = shown.concat(byCat[c.id]); });
    state.pending = shown.length ? 1 : 0;
    state.cluster.addTo(state.map);
    state.cluster.addLayers(shown);
  }

  /* ---------- filters: free beds, star rating, operator type, services ---------- */
  function filters() {
    var services = Array.prototype.map.call(
      document.querySelectorAll("#f-services input:checked"), function (i) { return i.value; });
    return { free: $("f-free").checked, star: +$("f-star").value, op: $("f-op").value, services: services };
  }

  function filtersActive() {
    var f = filters();
    return f.free || f.star > 0 || !!f.op || f.services.length > 0;
  }

  function passes(props, f) {
    if (f.free && !(props.free > 0)) return false;
    if (f.star && !((props.star || 0) >= f.star)) return false;
    if (f.op && props.op !== f.op) return false;
    return f.services.every(function (s) { return (props.sv || []).indexOf(s) >= 0; });
  }

  function applyFilters(announce) {
    if (!state.cluster) return;
    var f = filters(), shown = [];
    cats().forEach(function (c) {
      if (!isChecked(c.id)) return;
      (state.byCat[c.id] || []).forEach(function (m) { if (passes(m.feature.properties, f)) shown.push(m); });
    });
    state.cluster.clearLayers();
    state.cluster.addLayers(shown);
    if (announce) {
      status(shown.length ? "符合条件的设施有 " + shown.length + " 处，地图上只显示这些。"
        : "没有符合这些条件的设施。可以少选几项再试。", !shown.length);
    }
  }

  function buildFilters(fc) {
    var seen = {};
    fc.features.forEach(function (f) { (f.properties.sv || []).forEach(function (s) { seen[s] = 1; }); });
    var box = $("f-services");
    Object.keys(seen).sort().forEach(function (s) {
      var label = document.createElement("label");
      label.className = "chip";
      label.innerHTML = '<input type="checkbox" value="' + esc(s) + '"> <span class="title">' + esc(s) + "</span>";
      box.appendChild(label);
    });
    document.getElementById("filters").addEventListener("change", function () { applyFilters(true); });
  }

  /* ---------- legend with counts; toggles categories ---------- */
  function buildLegend() {
    var box = $("legend-items");
    box.innerHTML = "";
    cats().forEach(function (c) {
      var label = document.createElement("label");
      label.className = "chip";
      label.innerHTML = '<input type="checkbox" checked value="' + c.id + '"> ' + symbolHtml(c) +
        '<span class="title">' + esc(c.title) + '</span> <span class="count">(' + c.count + ")</span>";
      label.querySelector("input").addEventListener("change", function () {
        applyFilters();
      });
      // one tap to keep just this category (e.g. only 老年食堂 before 离我最近的设施); the
      // spoken name starts with the visible words, as speech input expects
      var only = document.createElement("button");
      only.type = "button";
      only.className = "btn only";
      only.innerHTML = '只看这类<span class="sr-only">：' + esc(c.title) + "</span>";
      only.addEventListener("click", function () { showOnly(c.id); });
      var row = document.createElement("div");
      row.className = "chip-row";
      row.appendChild(label);
      row.appendChild(only);
      box.appendChild(row);
    });
  }

  function showOnly(id) {
    document.querySelectorAll("#legend-items input[type=checkbox]").forEach(function (input) {
      var wanted = input.value === id;
      if (input.checked !== wanted) {
        input.checked = wanted;
        input.dispatchEvent(new Event("change"));
      }
    });
    status("只显示“" + catById(id).title + "”。点上面的“离我最近的设施”可查看离您最近的。");
  }

  function isChecked(id) {
    var box = document.querySelector('#legend-items input[value="' + id + '"]');
    return !box || box.checked;
  }

  function checkedCategories() {
    return cats().filter(function (c) { return isChecked(c.id); }).map(function (c) { return c.id; });
  }

  /* ---------- background from the service's own layers ---------- */
  // Areas are drawn below everything; names go in their own pane between the areas and the
  // markers (so a marker is never covered), placed inside the visible part of each area and
  // hidden where they would overlap a more important name.
  var LABEL_RULES = {  // level → [first zoom, priority (lower wins)]
    township: [9.5, 1], landmark: [9.5, 2], village: [12.5, 3]
  };

  function addBackground(fc) {
    var map = state.map;
    var areaStyle = function (f) {
      var level = f.properties.level;
      if (f.properties.road) return { color: "#c9b98f", weight: 2, opacity: 0.9, fill: false };
      if (level === "district") return { color: "#333", weight: 3, fill: false };
      if (level === "township") return { color: "#6b6b6b", weight: 1.5, fillColor: "#fbfaf6", fillOpacity: 1 };
      return { color: "#a59d8f", weight: 1, dashArray: "4 3", fill: false };
    };
    var towns = L.geoJSON(fc, { filter: function (f) { return f.properties.level === "township"; },
      style: areaStyle, interactive: false }).addTo(map);
    state.areaStyle = areaStyle;
    state.villages = L.geoJSON(null, { style: areaStyle, interactive: false });
    L.geoJSON(fc, { filter: function (f) { return f.properties.level === "district"; },
      style: areaStyle, interactive: false }).addTo(map);
    L.geoJSON(fc, {
      filter: function (f) { return !f.properties.level; },
      style: { color: "#3b7bbf", weight: 3 },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, { radius: 4, color: "#555", weight: 1, fillColor: "#1d4f7a", fillOpacity: 1 });
      },
      interactive: false
    }).addTo(map);
    state.labels = labelItems(fc);
    state.labelLayer = L.layerGroup().addTo(map);
    state.districtBounds = towns.getBounds();
    var onView = function () {
      var showVillages = map.getZoom() >= 12;
      if (showVillages && !map.hasLayer(state.villages)) state.villages.addTo(map);
      if (!showVillages && map.hasLayer(state.villages)) map.removeLayer(state.villages);
      placeLabels();
    };
    map.on("moveend", onView);  // a zoom ends with a moveend too
    onView();
  }

  function labelItems(fc) {
    return fc.features.filter(function (f) {  // roads orient by their lines, unlabelled
      return f.properties.level !== "district" && !f.properties.road;
    }).map(function (f) {
      var p = f.properties, kind = p.level || "landmark", g = f.geometry;
      var at = p.label || (g && g.type === "Point" ? g.coordinates : null);
      return { feature: f, kind: kind, name: p.short || p.name,
        point: at ? L.latLng(at[1], at[0]) : null, rings: rings(g) };
    });
  }

  // villages/communities come after the page is ready (they are needed from zoom 12 only)
  function addVillages(fc) {
    state.villages.addData(fc);
    state.labels = state.labels.concat(labelItems(fc));
    state.villagesLoaded = true;
    if (state.map.getZoom() >= 12 && !state.map.hasLayer(state.villages)) state.villages.addTo(state.map);
    placeLabels();
  }

  // [lng, lat] rings of a geometry (outer rings of polygons; lines as they are; points: none)
  function rings(g) {
    if (!g) return [];
    if (g.type === "Polygon") return [g.coordinates[0]];
    if (g.type === "MultiPolygon") return g.coordinates.map(function (p) { return p[0]; });
    if (g.type === "LineString") return [g.coordinates];
    if (g.type === "MultiLineString") return g.coordinates;
    return [];
  }

  function inside(pt, ring) {  // point in polygon (ray casting), pt = [lng, lat]
    var hit = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var a = ring[i], b = ring[j];
      if ((a[1] > pt[1]) !== (b[1] > pt[1]) &&
          pt[0] < (b[0] - a[0]) * (pt[1] - a[1]) / (b[1] - a[1]) + a[0]) hit = !hit;
    }
    return hit;
  }

  function clip(ring, box) {  // Sutherland–Hodgman: the part of a ring inside [w, s, e, n]
    var edges = [[0, box[0], 1], [0, box[2], -1], [1, box[1], 1], [1, box[3], -1]];
    var out = ring;
    edges.forEach(function (edge) {
      var k = edge[0], v = edge[1], dir = edge[2], input = out;
      out = [];
      var keep = function (p) { return (p[k] - v) * dir >= 0; };
      for (var i = 0; i < input.length; i++) {
        var cur = input[i], prev = input[(i + input.length - 1) % input.length];
        var cross = function () {
          var t = (v - prev[k]) / (cur[k] - prev[k]);
          return [prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])];
        };
        if (keep(cur)) { if (!keep(prev)) out.push(cross()); out.push(cur); }
        else if (keep(prev)) out.push(cross());
      }
    });
    return out;
  }

  function centroid(ring) {  // area-weighted centre and area of a ring
    var a = 0, x = 0, y = 0;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var f = ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
      a += f; x += (ring[j][0] + ring[i][0]) * f; y += (ring[j][1] + ring[i][1]) * f;
    }
    return a ? { pt: [x / (3 * a), y / (3 * a)], area: Math.abs(a / 2) } : null;
  }

  // where a name goes in this view: its own label point if on screen, else the middle of the
  // area's visible part (so a zoomed-in view still names the village it shows)
  function labelSpot(item, view, box) {
    if (item.point && view.contains(item.point)) return item.point;
    if (item.kind === "landmark") {
      var line = item.rings[0];
      if (!line) return null;
      var on = line.filter(function (c) { return view.contains(L.latLng(c[1], c[0])); });
      return on.length ? L.latLng(on[Math.floor(on.length / 2)][1], on[Math.floor(on.length / 2)][0]) : null;
    }
    var viewArea = (box[2] - box[0]) * (box[3] - box[1]), best = null;
    item.rings.forEach(function (ring) {
      var part = clip(ring, box);
      if (part.length < 3) return;
      var c = centroid(part);
      if (c && c.area > viewArea * 0.01 && (!best || c.area > best.area) && inside(c.pt, ring)) best = c;
    });
    return best ? L.latLng(best.pt[1], best.pt[0]) : null;
  }

  function placeLabels() {
    var map = state.map;
    if (!map || !state.labelLayer) return;
    state.labelLayer.clearLayers();
    var z = map.getZoom(), view = map.getBounds().pad(-0.02);
    var box = [view.getWest(), view.getSouth(), view.getEast(), view.getNorth()];
    var chosen = state.labels.filter(function (item) {
      return z >= LABEL_RULES[item.kind][0];
    }).sort(function (a, b) {
      return LABEL_RULES[a.kind][1] - LABEL_RULES[b.kind][1];
    });
    var taken = [], frame = map.getContainer().getBoundingClientRect(), added = [];
    chosen.forEach(function (item) {  // add them all, then measure once (one layout)
      var at = labelSpot(item, view, box);
      if (!at) return;
      var m = L.marker(at, { pane: "labels", interactive: false, keyboard: false,
        icon: L.divIcon({ className: "place-label-anchor", iconSize: [0, 0],
          html: '<span class="place-label ' + item.kind + '">' + esc(item.name) + "</span>" }) });
      state.labelLayer.addLayer(m);
      added.push(m.getElement().firstChild);
    });
    var rects = added.map(function (el) { return el.getBoundingClientRect(); });
    added.forEach(function (el, i) {
      var r0 = rects[i];
      // keep the whole name inside the map; if it would overlap a more important name, try
      // just below or above before hiding it
      var dx = Math.max(frame.left + 2 - r0.left, 0) - Math.max(r0.right - (frame.right - 2), 0);
      var h = r0.height + 4, tries = [0, h, -h], placed = null;
      tries.some(function (dy) {
        var r = { left: r0.left + dx, right: r0.right + dx, top: r0.top + dy, bottom: r0.bottom + dy };
        if (r.top < frame.top || r.bottom > frame.bottom) return false;
        var clash = taken.some(function (t) {
          return r.left < t.right + 4 && r.right > t.left - 4 && r.top < t.bottom + 2 && r.bottom > t.top - 2;
        });
        if (!clash) placed = { r: r, dy: dy };
        return !clash;
      });
      if (!placed) { el.classList.add("collides"); return; }
      if (dx) el.style.left = dx + "px";
      if (placed.dy) el.style.top = placed.dy + "px";
      taken.push(placed.r);
    });
  }

  function addBasemap(b) {
    if (b.problem) status("底图配置有误：" + b.problem, true);
    if (!b.layers) return;
    b.layers.forEach(function (url) {
      L.tileLayer(url, { subdomains: b.subdomains, maxZoom: 18, attribution: "" }).addTo(state.map);
    });
  }

  function attributionText(cfg) {
    var b = cfg.basemap, t = cfg.attribution.text;
    if (b && b.kind !== "none") t += " 底图：" + b.attribution + (b.review_number ? "，审图号：" + b.review_number : "");
    return t;
  }

  /* ---------- detail card ---------- */
  function row(dt, dd) { return dd === "" || dd == null ? "" : "<dt>" + esc(dt) + "</dt><dd>" + dd + "</dd>"; }

  function shareUrl(id) {
    var u = location.origin + location.pathname + "?f=" + encodeURIComponent(id) + location.hash;
    return u;
  }

  function renderCard(f) {
    var p = f.properties, cat = catById(p.cat) || { title: p.layer_title, colour: "#333", letter: "?", shape: "circle" };
    var phone = p.phone ? '<a href="tel:' + esc(p.phone.replace(/[^0-9+]/g, "")) + '">' + esc(p.phone) + "</a>" : "";
    var services = (p.services || []).map(function (s) { return "<li>" + esc(s) + "</li>"; }).join("");
    // beds only where a place has them (never 「床位 0 张」 on a canteen); free beds with their date
    var hasBeds = p.beds != null && p.beds > 0 && p.kind !== "老年食堂";
    var beds = hasBeds ? esc(p.beds) + " 张" + (p.nursing_beds ? "(护理型 " + esc(p.nursing_beds) + " 张)" : "") : "";
    var free = hasBeds && p.free_beds != null ? esc(p.free_beds) + " 张" +
      (p.as_of ? '<span class="note">(' + esc(p.as_of) + " 更新)</span>" : "") : "";
    var html = '<h2 id="card-title" tabindex="-1">' + symbolHtml(cat) + " " + esc(p.name) + "</h2>" +
      (state.walk[f.id] ? '<p class="walk">' + esc(state.walk[f.id]) + "</p>" : "") +
      "<p>" + esc(cat.title) + (p.kind && p.kind !== cat.title ? " · " + esc(p.kind) : "") +
      (p.star_rating ? ' · <span class="stars" aria-hidden="true">' + starText(p.star_rating) +
        '</span><span class="sr-only">' + p.star_rating + "星级</span>" : "") + "</p><dl>" +
      row("地址", esc(p.address)) + row("电话", phone) + row("开放时间", esc(p.opening_hours)) +
      row("服务内容", services ? '<ul class="services">' + services + "</ul>" : "") +
      row("床位", beds) + row("空余床位", free) +
      row("容量", p.capacity ? esc(p.capacity) + " 人" : "") +
      row("运营方式", esc(p.operator_type)) + row("状态", esc(p.status)) + "</dl>" +
      (p.note ? '<p class="note">' + esc(p.note) + "</p>" : "") +
      '<div class="actions">' +
      (p.phone ? '<a class="btn primary" href="tel:' + esc(p.phone.replace(/[^0-9+]/g, "")) + '">拨打电话</a>' : "") +
      '<a class="btn" href="' + esc(p.directions.amap) + '" rel="noopener">高德地图导航</a>' +
      '<a class="btn" href="' + esc(p.directions.geo) + '">用手机地图打开</a>' +
      '<button class="btn" type="button" id="card-close">关闭</button></div>' +
      '<p class="share">本设施链接：<a id="card-link" href="' + esc(shareUrl(f.id)) + '">' + esc(shareUrl(f.id)) + "</a></p>";
    var card = $("card");
    card.innerHTML = html;
    card.hidden = false;
    card.dataset.id = f.id;
    $("card-close").addEventListener("click", closeCard);
  }

  function closeCard(fromHistory, quiet) {
    // a card opened by a tap added a history entry: the phone's back button closes it, and
    // so does 关闭 (by going back), so back never jumps past the map
    if (fromHistory !== true && history.state && history.state.card) { history.back(); return; }
    var wasOpen = !$("card").hidden;
    $("card").hidden = true;
    if (state.selected && state.markers[state.selected]) {
      var el = state.markers[state.selected].getElement();
      if (el) el.classList.remove("selected-mk");
    }
    var current = document.querySelector('#results .row[aria-current="true"]');
    state.selected = null;
    highlightRow(null);
    setUrl(null);
    if (wasOpen && current && !quiet) current.focus();
  }

  function setUrl(id, push) {
    var q = id ? "?f=" + encodeURIComponent(id) : "";
    var url = location.pathname + q + location.hash;
    if (push) history.pushState({ card: id }, "", url);
    else history.replaceState(id ? history.state : null, "", url);
  }

  function onHistory() {  // back/forward: show the card the address names, or none
    var f = new URLSearchParams(location.search).get("f");
    if (state.map) writeHash();  // the address keeps naming the view on screen
    if (!f) { if (!$("card").hidden) closeCard(true); return; }
    if (f !== state.selected) openFacility(f, { zoom: 15, push: false });
  }

  function narrowScreen() { return window.matchMedia("(max-width: 899px)").matches; }

  function highlightRow(id) {
    Array.prototype.forEach.call(document.querySelectorAll("#results .row"), function (b) {
      b.setAttribute("aria-current", b.dataset.id === id ? "true" : "false");
    });
  }

  function openFacility(id, opts) {
    opts = opts || {};
    var m = state.markers[id];
    if (state.selected && state.markers[state.selected]) {
      var old = state.markers[state.selected].getElement();
      if (old) old.classList.remove("selected-mk");
    }
    // a user's tap adds one history entry (so back closes the card); switching cards replaces it
    var push = opts.push !== false && $("card").hidden;
    state.selected = id;
    highlightRow(id);
    setUrl(id, push);
    var show = function () {
      if (!m) return;
      var el = m.getElement();
      if (el) el.classList.add("selected-mk");
    };
    if (m && !opts.fromMarker) {
      var catId = m.feature.properties.cat;
      if (!state.cluster.hasLayer(m)) {  // a hidden category: show it again
        var box = document.querySelector('#legend-items input[value="' + catId + '"]');
        if (box) box.checked = true;
        applyFilters();
        if (!state.cluster.hasLayer(m)) state.cluster.addLayer(m);  // filtered out, yet asked for
      }
      if (opts.zoom) state.map.setView(m.getLatLng(), Math.max(state.map.getZoom(), opts.zoom), { animate: false });
      state.cluster.zoomToShowLayer(m, show);
    } else {
      show();
    }
    return getJSON(ROOT + "/map/api/facilities/" + encodeURIComponent(id) + "?crs=" + state.crs)
      .then(function (f) {
        renderCard(f);
        if (!opts.keepFocus) $("card-title").focus({ preventScroll: true });
        // the card is below the map on a phone, at the top of the side panel on a desktop:
        // bring it on screen, top first
        if (narrowScreen()) { if (!opts.keepFocus) $("card").scrollIntoView({ block: "start" }); }
        else { var side = $("side"); side.scrollTop += $("card").getBoundingClientRect().top - side.getBoundingClientRect().top - 4; }
      })
      .catch(function (e) { status(e.status === 404 ? "没有找到这个设施。" : "设施详情加载失败。", true); });
  }

  /* ---------- near me / picked point / searched place → nearest list ---------- */
  // "you are here" (or the searched/picked place): a large dot with its name under it, above
  // the markers, and the GPS accuracy as a circle
  function showHere(latlng, label, accuracy) {
    if (state.here) state.map.removeLayer(state.here);
    if (state.hereCircle) { state.map.removeLayer(state.hereCircle); state.hereCircle = null; }
    state.hereAt = { latlng: latlng, label: label, accuracy: accuracy };
    var size = isElder() ? 44 : 34, tag = label === "您" ? "您在这里" : label;
    state.here = L.marker(latlng, {
      icon: L.divIcon({ className: "care-icon here-icon", iconSize: [size, size], iconAnchor: [size / 2, size / 2],
        html: '<span class="you-are-here"><span class="dot"></span><span class="tag">' + esc(tag) + "</span></span>" }),
      title: tag, keyboard: false, interactive: false, pane: "here"
    }).addTo(state.map);
    if (accuracy && accuracy > 15) {
      state.hereCircle = L.circle(latlng, { radius: accuracy, color: "#d4145a", weight: 1,
        fillColor: "#d4145a", fillOpacity: 0.08, interactive: false }).addTo(state.map);
    }
  }

  // after near-me or a search: the point and the first results, all on the map
  function fitAnswer(here, results) {
    var pts = [here].concat(results.slice(0, 3).map(function (r) { return L.latLng(r.lat, r.lon); }));
    var bounds = L.latLngBounds(pts), pad = isElder() ? 50 : 40;
    state.map.fitBounds(bounds, { padding: [pad, pad], maxZoom: 16, animate: false });
  }

  function listNearest(lon, lat, pointCrs, label, opts) {
    opts = opts || {};
    closeCard(true, true);
    var chosen = checkedCategories();
    if (!chosen.length) { status("请至少选择一个设施类别。", true); return Promise.resolve(); }
    status("正在查找" + label + "附近的设施…");
    var f = filters(), filtered = filtersActive();
    // with filters: the nearest 50, keeping the first 10 that pass
    var url = ROOT + "/map/api/nearest?lon=" + lon + "&lat=" + lat + "&limit=" + (filtered ? 50 : 10) + "&categories=" +
      chosen.join(",") + "&crs=" + state.crs + "&point_crs=" + pointCrs + "&order=walk";
    return getJSON(url).then(function (data) {
      if (filtered) {
        data.results = data.results.filter(function (r) {
          var feat = state.features[r.id];
          return feat && passes(feat.properties, f);
        }).slice(0, 10);
      }
      var here = L.latLng(data.point.lat, data.point.lon);
      state.walk = {};
      if (opts.mark) showHere(here, label, opts.accuracy);
      fitAnswer(here, data.results);
      var byWalk = data.order === "walk";  // with a road layer: ranked by walking time
      renderResults(label + "附近的设施(" + (filtered ? "符合筛选条件，" : "") +
        (byWalk ? "按步行时间由近到远)" : "由近到远)"), data.results.map(function (r) {
        var cat = catById(r.cat);
        var meta = r.kind && r.kind !== cat.title ? cat.title + " · " + r.kind : cat.title;
        var walk = walkText(r);
        if (walk) state.walk[r.id] = walk;
        return { id: r.id, name: r.name, meta: meta, cat: cat,
          right: walk || (data.walk ? "直线距离 " : "") + distanceText(r.distance_m),
          distance: r.distance_m, minutes: r.walk_minutes, walk: !!walk };
      }), "nearest");
      if (!data.results.length) {
        status(filtered ? "附近没有符合筛选条件的设施。可以少选几项筛选条件再试。"
          : "附近没有找到所选类别的设施。可以在“设施类别”里多选几类再试。", true);
      } else {
        var first = data.results[0];
        status("最近的是“" + first.name + "”，" +
          (walkText(first) || (data.walk ? "直线距离 " : "") + distanceText(first.distance_m)) +
          "。下面按" + (byWalk ? "步行时间" : "距离") + "列出 " + data.results.length + " 处。");
      }
      if (data.walk && data.results.length) {  // how walking times are reckoned: after the list
        var note = document.createElement("li");
        note.className = "list-note";
        note.textContent = data.walk.note + "。";
        $("results").appendChild(note);
      }
    }).catch(function () { status("查找附近设施失败，请稍后再试。", true); });
  }

  function renderResults(title, items, kind) {
    var list = $("results");
    list.innerHTML = "";
    list.dataset.kind = kind;
    $("results-title").hidden = false;
    $("results-title").textContent = title;
    items.forEach(function (it) {
      var li = document.createElement("li");
      var b = document.createElement("button");
      b.type = "button";
      b.className = "row";
      if (it.id) b.dataset.id = it.id;
      if (it.distance != null) b.dataset.distance = it.distance;
      if (it.minutes != null) b.dataset.minutes = it.minutes;
      b.innerHTML = (it.cat ? symbolHtml(it.cat) : '<span class="sym shape-circle" style="background:#4a4a4a" aria-hidden="true"><b>地</b></span>') +
        '<span><span class="name">' + esc(it.name) + '</span><span class="meta">' + esc(it.meta) + "</span></span>" +
        (it.right ? '<span class="dist' + (it.walk ? " walk" : "") + '">' + esc(it.right) + "</span>" : "");
      b.addEventListener("click", it.action || function () { openFacility(it.id, { zoom: 15 }); });
      li.appendChild(b);
      list.appendChild(li);
    });
  }

  function nearMe() {
    if (!navigator.geolocation) { status("此浏览器无法获取位置，请在地图上选位置。", true); return; }
    status("正在获取您的位置…");
    navigator.geolocation.getCurrentPosition(function (pos) {
      // GPS gives WGS84 (= CGCS2000 here); the service returns it in the map's CRS.
      listNearest(pos.coords.longitude, pos.coords.latitude, "EPSG:4490", "您",
        { mark: true, accuracy: pos.coords.accuracy });
    }, function (err) {
      status((err && err.code === 1
        ? "您没有允许本页使用位置，所以找不到您附近的设施。"
        : "暂时没能取得您的位置。") +
        "可以点“在地图上选位置”，或在上面的搜索框输入您所在的镇街、村或社区。", true);
    }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
  }

  function togglePick() {
    state.pickMode = !state.pickMode;
    $("pick-point").setAttribute("aria-pressed", state.pickMode ? "true" : "false");
    status(state.pickMode ? "请在地图上点一下要查询的位置。" : "");
  }

  function onMapClick(ev) {
    if (!state.pickMode) return;
    togglePick();
    listNearest(ev.latlng.lng.toFixed(6), ev.latlng.lat.toFixed(6), state.crs, "所选位置",
      { mark: true });
  }

  /* ---------- search (the gazetteer, public rows only) ---------- */
  function resultId(r) {
    if (r.type === "place" || r.kind === "place") return null;
    var id = r.feature_id || r.id;
    if (id && String(id).indexOf(":") < 0 && r.layer) id = r.layer + ":" + id;
    return id && state.markers[id] ? id : null;
  }

  function doSearch(ev) {
    ev.preventDefault();
    var q = $("q").value.trim();

    if (!q) {
      $("results").innerHTML = "";
      $("results-title").hidden = true;
      status("请输入要搜索的名称或地址。", true);
      return;
    }
    closeCard(true, true);  // a new search closes the old card and drops it from the address
    var s = state.config.search;
    // public=true: even a logged-in viewer gets only public rows on this public page
    // nearer first: from you (once located) or the middle of the map (gazetteer positions and
    // this point are CGCS2000; with an Amap basemap the map's centre is close enough to rank)
    var from = state.hereAt ? state.hereAt.latlng : state.map.getCenter();
    var url = ROOT + s.url + "?q=" + encodeURIComponent(q) + "&types=place,facility&public=true&limit=20" +
      "&lon=" + from.lng.toFixed(6) + "&lat=" + from.lat.toFixed(6);
    status("正在搜索“" + q + "”…");
    getJSON(url).then(function (data) {
      // only public facilities (those on this map) and places: even a logged-in viewer's
      // gazetteer hits for non-public sites are never shown on the public page
      var hits = (data.results || []).filter(function (r) {
        return r.type === "place" || resultId(r) !== null;
      });
      var items = hits.map(function (r) {
        var id = resultId(r), cat = id ? catById(state.features[id].properties.cat) : null;
        var lon = +r.lon, lat = +r.lat;
        return { id: id, name: r.name, cat: cat,
          meta: (cat ? cat.title : (r.category || r.kind || "地名")) + (r.matched && r.matched.type === "address" ? " · 地址匹配" : ""),
          right: r.distance_m != null ? distanceText(r.distance_m) : "", distance: r.distance_m,
          action: id ? null : function () { goToPlace(r.name, lon, lat); } };
      });
      renderResults("“" + q + "”的搜索结果", items, "search");
      if (!items.length) { status("没有找到“" + q + "”。可换个说法，或用拼音首字母。", true); return; }
      var first = items[0];
      if ((data.category_kinds || []).length && first.id) {  // "老年食堂": the nearest ones, on the map
        var meant = cats().filter(function (c) {
          return c.kinds.some(function (k) { return data.category_kinds.indexOf(k) >= 0; });
        });
        if (meant.length === 1) showOnly(meant[0].id);  // and only that category on the map
        status("“" + q + "”：找到 " + items.length + " 处，由近到远排列，最近的是“" + first.name + "”。");
        fitAnswer(from, hits.slice(0, 3).map(function (r) {
          var ll = state.markers[resultId(r)].getLatLng();
          return { lat: ll.lat, lon: ll.lng };
        }));
        return;
      }
      status("找到 " + items.length + " 条结果，地图已移到第一条“" + first.name + "”。");
      if (first.id) openFacility(first.id, { zoom: 15, keepFocus: true }); else first.action();
    }).catch(function (e) {
      status(e.status === 400 ? "没法搜索这段文字。请输入 100 个字以内的名称、地址或拼音。"
        : "搜索失败，请稍后再试。", true);
    });
  }

  function goToPlace(name, lon, lat) {
    if (!isFinite(lon) || !isFinite(lat)) return;
    var ll = L.latLng(lat, lon);
    state.map.setView(ll, 14, { animate: false });
    showHere(ll, name);
    state.lastPlace = { name: name, lon: lon, lat: lat };
    var btn = document.createElement("button");
    btn.type = "button"; btn.className = "btn"; btn.id = "near-place";
    btn.textContent = "查“" + name + "”附近的设施";
    btn.addEventListener("click", function () { listNearest(lon, lat, "EPSG:4490", name); });
    // gazetteer positions are CGCS2000: ask the service for the map's CRS when it differs.
    if (state.crs !== "EPSG:4490") {
      getJSON(ROOT + "/map/api/nearest?limit=1&lon=" + lon + "&lat=" + lat + "&crs=" + state.crs)
        .then(function (d) { var p = L.latLng(d.point.lat, d.point.lon); state.map.setView(p, 14, { animate: false }); showHere(p, name); });
    }
    var old = $("near-place");
    if (old) old.remove();
    document.querySelector(".near-actions").appendChild(btn);
  }

  /* ---------- shareable view: #zoom/lat/lon ---------- */
  function viewFromHash() {
    var m = /^#(\d{1,2}(?:\.\d)?)\/(-?\d+(?:\.\d+)?)\/(-?\d+(?:\.\d+)?)$/.exec(location.hash);
    return m ? { zoom: +m[1], lat: +m[2], lon: +m[3] } : null;
  }

  function writeHash() {
    var c = state.map.getCenter(), z = state.map.getZoom();
    var hash = "#" + z + "/" + c.lat.toFixed(5) + "/" + c.lng.toFixed(5);
    history.replaceState(history.state, "", location.pathname + location.search + hash);
    var link = $("card-link");
    if (link && state.selected) { link.href = shareUrl(state.selected); link.textContent = link.href; }
  }

  /* ---------- start ---------- */
  function start() {
    $("elder-toggle").setAttribute("aria-pressed",
      document.documentElement.classList.contains("elder") ? "true" : "false");
    $("elder-toggle").addEventListener("click", function () {
      setElder(!document.documentElement.classList.contains("elder"));
    });
    $("search").addEventListener("submit", doSearch);
    $("near-me").addEventListener("click", nearMe);
    $("pick-point").addEventListener("click", togglePick);
    window.addEventListener("popstate", onHistory);
    document.addEventListener("keydown", function (ev) {  // Escape closes the card
      if (ev.key === "Escape" && !$("card").hidden) { ev.preventDefault(); closeCard(); }
    });
    // skip links move focus without touching the address (its #zoom/lat/lon is the view)
    Array.prototype.forEach.call(document.querySelectorAll(".skip"), function (a) {
      a.addEventListener("click", function (ev) {
        var target = $(a.getAttribute("href").slice(1));
        if (!target) return;
        ev.preventDefault();
        target.focus();
      });
    });

    var embedded = null;
    try { embedded = JSON.parse($("care-map-config").textContent); } catch (e) { embedded = null; }
    var configured = embedded && embedded.categories ? Promise.resolve(embedded) : getJSON(ROOT + "/map/api/config");
    configured.then(function (cfg) {
      state.config = cfg;
      state.crs = cfg.basemap.crs === "gcj02" ? "gcj02" : "EPSG:4490";
      buildLegend();
      state.map = L.map("map", { zoomControl: true, minZoom: 8, maxZoom: 18, keyboard: true,
        attributionControl: true, zoomSnap: 0.5 });
      // names between the areas (400) and the markers (600); "you are here" above them
      state.map.createPane("labels").style.zIndex = 550;
      state.map.createPane("here").style.zIndex = 640;
      state.map.getPane("labels").style.pointerEvents = "none";
      L.control.scale({ imperial: false, position: "bottomleft" }).addTo(state.map);
      // the zoom buttons come before the markers in the Tab order
      var box = state.map.getContainer();
      box.insertBefore(state.map._controlContainer, box.firstChild);
      state.map.attributionControl.setPrefix("Leaflet");
      state.map.attributionControl.addAttribution(esc(cfg.attribution.illustrative ? "设施位置为示意" : "民政局"));
      $("attribution").textContent = attributionText(cfg);
      addBasemap(cfg.basemap);
      var view = viewFromHash();
      state.map.setView(view ? [view.lat, view.lon] : [29.70, 105.72], view ? view.zoom : 10);
      state.map.on("click", onMapClick);
      state.map.on("moveend", writeHash);
      return Promise.all([
        getJSON(ROOT + "/map/api/background?crs=" + state.crs),
        getJSON(ROOT + "/map/api/facilities?crs=" + state.crs)
      ]).then(function (res) {
        if (window.performance && performance.mark) performance.mark("care-map-data");
        addBackground(res[0]);
        if (!view && state.districtBounds.isValid()) state.map.fitBounds(state.districtBounds, { padding: [4, 4], animate: false });
        buildFilters(res[1]);
        addFacilities(res[1]);
        var total = res[1].features.length;
        status("共 " + total + " 处设施" + (res[1].note ? "(位置为示意)" : "") +
          "。点“离我最近的设施”查找离您最近的。");
        var params = new URLSearchParams(location.search);
        var f = params.get("f");
        if (f) openFacility(f, { zoom: 15, push: false });
        var markReady = function () {
          requestAnimationFrame(function () {
            state.ready = true;
            document.body.dataset.ready = "1";
            if (window.performance && performance.mark) performance.mark("care-map-ready");
          });
        };
        if (state.pending) state.onLoaded = markReady; else markReady();
        getJSON(ROOT + "/map/api/background?detail=villages&crs=" + state.crs).then(addVillages)
          .catch(function () { /* the map works without them */ });
      });
    }).catch(function (e) {
      status("地图数据加载失败：" + e.message, true);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
