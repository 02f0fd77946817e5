// Live updates (progressive enhancement): the page works without this script.
"use strict";
(function () {
  if (!window.EventSource) { return; }
  var source = new EventSource("/live");
  source.addEventListener("state", function (event) {
    var state = JSON.parse(event.data);
    var banner = document.getElementById("banner");
    if (banner) {
      banner.className = "banner st-" + state.banner.status;
      banner.dataset.word = state.banner.word;
      document.getElementById("banner-word").textContent = state.banner.word;
      var list = document.getElementById("banner-reasons");
      list.textContent = "";
      var reasons = state.banner.reasons.length ? state.banner.reasons
        : ["every check is OK and every SEC is equal"];
      reasons.forEach(function (text) {
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
    var suspended = document.getElementById("suspension");
    if (fresh || (suspended && (state.suspended !== (suspended.textContent.indexOf("Suspended") === 0)))) {
      window.location.reload();  // a new server, service or suspension: the page's shape changed
    }
  });
})();
