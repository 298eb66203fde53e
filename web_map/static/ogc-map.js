/* The map of the OGC API HTML pages: the features of the page over the public background. */
(function () {
  var root = document.currentScript.getAttribute("data-root") || "";
  var holder = document.getElementById("map");
  var data = JSON.parse(document.getElementById("features-data").textContent);
  if (!holder) { return; }
  if (typeof L === "undefined") { holder.style.display = "none"; return; }
  var map = L.map(holder, { attributionControl: false });
  // behind the features: the district outline and townships from the service's own data
  // (the care map's public background), so a map with no tile server still shows where
  map.createPane("background").style.zIndex = 250;
  var isPoint = function (f) { return /Point$/.test((f.geometry && f.geometry.type) || ""); };
  var layer = L.geoJSON(data, {
    pointToLayer: function (f, latlng) { return L.circleMarker(latlng); },
    style: function (f) {
      return isPoint(f) ? { radius: 6, color: "#ffffff", weight: 2, fillColor: "#d9480f", fillOpacity: 1 }
                        : { color: "#1f5f8b", weight: 2, fillOpacity: .15 };
    },
    onEachFeature: function (f, l) {  // Leaflet sets tooltip strings as HTML: pass text
      var label = document.createElement("span");
      label.textContent = String((f.properties && f.properties.name) || f.id);
      l.bindTooltip(label);
    }
  }).addTo(map);
  var b = layer.getBounds();
  if (b.isValid()) { map.fitBounds(b, { maxZoom: 11, padding: [20, 20] }); } else { map.setView([29.7, 105.72], 10); }
  fetch(root + "/map/api/background?crs=EPSG:4490", { headers: { Accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (bg) {
      if (!bg) { return; }
      var areas = function (level, style) {
        return L.geoJSON(bg, { pane: "background", interactive: false, style: style,
          filter: function (f) { return f.properties.level === level; } }).addTo(map);
      };
      var towns = areas("township", { color: "#8a8a8a", weight: 1, fillColor: "#fbfaf6", fillOpacity: 1 });
      areas("district", { color: "#333333", weight: 3, fill: false });
      towns.eachLayer(function (t) {
        var name = document.createElement("span");
        name.textContent = String(t.feature.properties.name || "");
        t.bindTooltip(name, { permanent: true, direction: "center", className: "area-label",
                              pane: "background", interactive: false });
      });
      var labels = function () { holder.classList.toggle("hide-area-labels", map.getZoom() < 10); };
      map.on("zoomend", labels);
      labels();
      if (!b.isValid()) { map.fitBounds(towns.getBounds()); }
    })
    .catch(function () { /* the features alone still show */ });
})();
