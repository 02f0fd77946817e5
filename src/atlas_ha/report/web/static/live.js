// Live updates (progressive enhancement): the page works without this script.
"use strict";
(function () {
  if (!window.EventSource) { return; }
  var source = new EventSource("/live");
  var leaving = false;  // a form is being sent: its answer is the next page, not a reload
  document.addEventListener("submit", function () { leaving = true; source.close(); });
  source.addEventListener("state", function (event) {
    if (leaving) { return; }
    var state = JSON.parse(event.data);
    window.atlasLive = true;  // the stream is open and its state applied (the tests wait for it)
    var banner = document.getElementById("banner");
    if (banner) {
      banner.className = "banner st-" + state.banner.status;
      banner.dataset.word = state.banner.word;
      banner.dataset.text = state.banner.text;
      document.getElementById("banner-word").textContent = state.banner.word;
      var list = document.getElementById("banner-reasons");
      list.textContent = "";
      state.banner.reasons.forEach(function (text) {
        var item = document.createElement("li");
        item.textContent = text;
        list.appendChild(item);
      });
    }
    var known = {};
    document.querySelectorAll("td.cell").forEach(function (td) { known[td.dataset.cell] = td; });
    var fresh = false;
    Object.keys(state.cells).forEach(function (key) {
      var td = known[key];
      if (!td) { fresh = true; return; }
      var cell = state.cells[key];
      td.className = "cell st-" + (cell.status || "NONE");
      td.title = cell.reason;
      td.querySelector(".state").textContent = cell.status || "\u2014";
      td.querySelector(".reason").textContent = cell.reason;
    });
    (state.readiness || []).forEach(function (r) {
      var item = document.querySelector('#readiness li[data-sec="' + r.sec + '"]');
      if (!item) { fresh = true; return; }
      item.className = r.ready ? "ready" : "not-ready";
      item.querySelector(".verdict").textContent = r.ready ? "ready" : "NOT ready";
      var reasons = item.querySelector("ul");
      reasons.textContent = "";
      r.reasons.forEach(function (text) {
        var why = document.createElement("li");
        why.textContent = text;
        reasons.appendChild(why);
      });
    });
    var suspended = document.getElementById("suspension");
    if (fresh || (suspended && (state.suspended !== (suspended.textContent.indexOf("Suspended") === 0)))) {
      window.location.reload();  // a new server, service or suspension: the page's shape changed
    }
  });
})();
