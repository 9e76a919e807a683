// Doorward pages: small enhancements only; every page works without this.
// - A strength meter under new-password fields (`data-strength`).
// - Focus moves to the form's alert after a failed submit.
(function () {
  "use strict";

  function score(pw) {
    if (!pw) return 0;
    var classes = 0;
    if (/[a-z]/.test(pw)) classes++;
    if (/[A-Z]/.test(pw)) classes++;
    if (/[0-9]/.test(pw)) classes++;
    if (/[^A-Za-z0-9]/.test(pw)) classes++;
    var s = 0;
    if (pw.length >= 8) s++;
    if (pw.length >= 12) s++;
    if (pw.length >= 16) s++;
    if (classes >= 3) s++;
    if (/^(.)\1+$/.test(pw) || /^(?:password|12345678|qwerty)/i.test(pw)) s = 0;
    return Math.min(s, 4);
  }

  var LABELS = ["Too short", "Weak", "Fair", "Good", "Strong"];

  function attach(input) {
    var wrap = document.createElement("div");
    wrap.className = "strength";
    var bar = document.createElement("div");
    bar.className = "strength-bar";
    bar.setAttribute("aria-hidden", "true");
    var fill = document.createElement("span");
    bar.appendChild(fill);
    var text = document.createElement("p");
    text.className = "strength-text";
    text.id = input.id + "-strength";
    text.setAttribute("aria-live", "polite");
    wrap.appendChild(bar);
    wrap.appendChild(text);
    input.insertAdjacentElement("afterend", wrap);
    var described = input.getAttribute("aria-describedby") || "";
    input.setAttribute("aria-describedby", (described + " " + text.id).trim());

    function update() {
      var pw = input.value;
      var s = pw.length < 8 ? 0 : score(pw);
      wrap.setAttribute("data-score", String(s));
      text.textContent = pw ? "Strength: " + LABELS[s] + (pw.length < 8 ? " (at least 8 characters)" : "") : "";
    }
    input.addEventListener("input", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var inputs = document.querySelectorAll("input[data-strength]");
    for (var i = 0; i < inputs.length; i++) attach(inputs[i]);
    var invalid = document.querySelector("[aria-invalid=true]");
    var alert = document.querySelector("[data-focus]");
    if (invalid) invalid.focus();
    else if (alert) alert.focus();
  });
})();
