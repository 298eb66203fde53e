/* Service worker of the field form: the page shell (HTML, scripts, styles, Leaflet) is
   cached, so the form opens and reloads with no network. Data (lines, markers, records)
   is cached by the page itself (field.js, Cache API) and writes go to its outbox. */
"use strict";
const SHELL = "geo-field-shell-v2";
const SCOPE = new URL("./", self.registration.scope);
const ASSETS = ["./", "field.js", "field.css", "manifest.webmanifest", "icon.svg",
  "../../map/static/staff-login.js", "../../vendor/leaflet/dist/leaflet.js", "../../vendor/leaflet/dist/leaflet.css"]
  .map((a) => new URL(a, SCOPE).href);
const NETWORK_WAIT_MS = 4000;   // weak signal in the hills: fall back to the copy after this

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL);
    // one by one: a missing optional asset must not stop the others from being cached
    await Promise.all(ASSETS.map((url) => cache.add(new Request(url, { cache: "no-cache" }))
      .catch(() => undefined)));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("geo-field-shell-") && name !== SHELL) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

/** The network's answer (and a fresh copy in the cache), or the cached copy. */
async function shellFirstNetwork(request, cacheKey) {
  const cache = await caches.open(SHELL);
  const fromNetwork = fetch(request).then((response) => {
    if (response.ok) cache.put(cacheKey, response.clone());
    return response;
  });
  const timeout = new Promise((resolve) => setTimeout(resolve, NETWORK_WAIT_MS, null));
  try {
    const response = await Promise.race([fromNetwork, timeout]);
    if (response) return response;
  } catch (err) { /* offline: the cached copy below */ }
  const cached = await cache.match(cacheKey, { ignoreSearch: true });
  if (cached) return cached;
  try { return await fromNetwork; } catch (err) {
    return new Response("离线, 且本机没有该页面的缓存", { status: 503,
      headers: { "Content-Type": "text/plain; charset=utf-8" } });
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;                 // writes: never touched here
  const url = new URL(request.url);
  if (url.origin !== SCOPE.origin) return;
  if (request.mode === "navigate" && url.href.startsWith(SCOPE.href)) {
    event.respondWith(shellFirstNetwork(request, SCOPE.href));   // ?marker=… opens the form
    return;
  }
  const key = url.origin + url.pathname;
  if (ASSETS.includes(key)) event.respondWith(shellFirstNetwork(request, key));
});
