// Typeset the math that pymdownx.arithmatex marked (generic mode: \( \) inline, \[ \] display)
// with KaTeX, which `make site` installs from the npm registry into assets/katex/.
function typesetMath(root) {
  root.querySelectorAll(".arithmatex").forEach(function (element) {
    if (element.dataset.typeset) return;
    var tex = element.textContent.trim();
    var display = element.tagName === "DIV";
    tex = tex.replace(/^\\[(\[]/, "").replace(/\\[)\]]$/, "");
    katex.render(tex, element, { displayMode: display, throwOnError: false });
    element.dataset.typeset = "true";
  });
}

if (typeof document$ !== "undefined") {
  document$.subscribe(function () { typesetMath(document); });
} else {
  document.addEventListener("DOMContentLoaded", function () { typesetMath(document); });
}
