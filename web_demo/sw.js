// Offline use once opened (a PWA): the network first, so a changed page or model is never
// served stale; the cache only when the network fails.
const CACHE = "skinedge-web-demo-v1";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", (event) => {
  if (event.request.method !== "GET") return;
  event.respondWith(fetch(event.request).then((resp) => {
    if (resp.ok && new URL(event.request.url).origin === location.origin) {
      const copy = resp.clone();
      caches.open(CACHE).then((cache) => cache.put(event.request, copy));
    }
    return resp;
  }).catch(() => caches.match(event.request).then((hit) => hit || Response.error())));
});
