// Job Mediator console: live refresh and the CSRF header for fetch().
// Pages marked data-live reload their <main> when the server-sent event
// stream says something changed (a run finished, the queue moved), unless
// the user is typing in a form on it.
(function () {
  'use strict';
  var main = document.getElementById('main');
  if (!main || !main.hasAttribute('data-live') || !window.EventSource) return;
  var busy = false, again = false;
  function typing() {
    var a = document.activeElement;
    return a && main.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName);
  }
  function refresh() {
    if (busy) { again = true; return; }
    if (typing()) return;
    busy = true;
    fetch(location.href, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var fresh = doc.getElementById('main');
        if (fresh && !typing()) {
          main.innerHTML = fresh.innerHTML;
          document.dispatchEvent(new CustomEvent('jm:refreshed'));
        }
      })
      .catch(function () {})
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  // At most one reload every two seconds, however busy the mediator is.
  var last = 0, timer = null;
  function soon() {
    var wait = last + 2000 - Date.now();
    if (wait <= 0) { last = Date.now(); refresh(); return; }
    if (!timer) timer = setTimeout(function () { timer = null; soon(); }, wait);
  }
  var es = new EventSource('/console/events');
  es.addEventListener('change', soon);
})();
