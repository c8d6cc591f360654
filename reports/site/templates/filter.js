(function () {
  var box = document.getElementById("filter"), rows = document.querySelectorAll("#portfolio tbody tr");
  var said = document.getElementById("filter-count");
  box.hidden = false;
  box.querySelector("input").addEventListener("input", function (ev) {
    var want = ev.target.value.toLowerCase(), shown = 0;
    rows.forEach(function (tr) {
      var hit = tr.textContent.toLowerCase().indexOf(want) >= 0;
      tr.hidden = !hit;
      if (hit) { shown += 1; }
    });
    said.textContent = shown + " of " + rows.length + " projects shown";
  });
}());
