// Keyboard shortcuts and the selection count. Loaded from the desk itself (the CSP allows no inline script).
(function () {
  "use strict";
  function typing(target) {
    return target && target.closest && target.closest("input, textarea, select, [contenteditable]");
  }
  function press(selector, event) {
    var el = document.querySelector(selector);
    if (!el) { return false; }
    event.preventDefault();
    el.click();
    return true;
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var key = event.key;
    if (key === "a") { press("[data-key=approve]", event); }
    else if (key === "r") {
      var reason = document.getElementById("reject-reason");
      if (reason) {
        event.preventDefault();
        document.getElementById("reject-form").classList.add("open");
        reason.focus();
      }
    }
    else if (key === "j" || key === "ArrowRight") { press("[data-key=next]", event) || press("[data-key=next-page]", event); }
    else if (key === "k" || key === "ArrowLeft") { press("[data-key=prev]", event) || press("[data-key=prev-page]", event); }
    else if (key === "u") { press("[data-key=undo]", event); }
  });

  // Picking a reason and pressing Enter in the note rejects; so does Enter on the reason list.
  var reason = document.getElementById("reject-reason");
  if (reason) {
    reason.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && reason.value) { event.preventDefault(); document.getElementById("reject").click(); }
    });
  }

  // The queue: "select all" and the count on the bulk button.
  var bulk = document.getElementById("bulk-form");
  if (bulk) {
    var boxes = Array.prototype.slice.call(bulk.querySelectorAll("input[name=pick]"));
    var count = document.getElementById("picked");
    var all = document.getElementById("select-all");
    var update = function () {
      var n = 0;
      boxes.forEach(function (b) { if (b.checked) { n += 1; } b.closest(".card").classList.toggle("picked", b.checked); });
      count.textContent = String(n);
    };
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    if (all) { all.addEventListener("change", function () { boxes.forEach(function (b) { b.checked = all.checked; }); update(); }); }
    update();
  }
})();
