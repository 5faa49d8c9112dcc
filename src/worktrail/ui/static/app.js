// worktrail's web UI: the live timeline, and the sign-in link's token. Everything else
// works without this script.
"use strict";

(function signInLink() {
  // /login#token=wt_...: the token is in the fragment, never sent to the server; fill
  // the form with it and leave pressing the button to the person.
  var field = document.getElementById("token");
  var match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!field || !match) return;
  field.value = decodeURIComponent(match[1]);
  history.replaceState(null, "", window.location.pathname + window.location.search);
  var button = field.form && field.form.querySelector("button[type=submit]");
  if (button) button.focus();
})();

(function liveTimeline() {
  var box = document.querySelector("[data-live]");
  var url = box && box.getAttribute("data-live");
  var list = document.getElementById("events");
  if (!url || !list || !window.EventSource) return;
  var status = box.querySelector(".live-status");
  var button = box.querySelector(".pause");
  var paused = false;
  var waiting = [];
  var MAX_ROWS = 500;

  function show(text, state) {
    status.textContent = text;
    box.setAttribute("data-state", state);
  }

  function insert(html) {
    var empty = document.getElementById("empty");
    if (empty) empty.remove();
    list.insertAdjacentHTML("afterbegin", html);
    while (list.children.length > MAX_ROWS) list.lastElementChild.remove();
  }

  box.hidden = false;
  var source = new EventSource(url);
  source.onopen = function () { if (!paused) show("Live", "live"); };
  source.onerror = function () { if (!paused) show("Reconnecting…", "waiting"); };
  source.addEventListener("event", function (message) {
    if (paused) {
      waiting.push(message.data);
      show("Paused, " + waiting.length + " new", "paused");
      return;
    }
    insert(message.data);
  });
  button.addEventListener("click", function () {
    paused = !paused;
    button.setAttribute("aria-pressed", paused ? "true" : "false");
    button.textContent = paused ? "Resume" : "Pause";
    if (paused) {
      show("Paused", "paused");
      return;
    }
    waiting.forEach(insert);
    waiting = [];
    show("Live", "live");
  });
})();
