// Pufa 普法助手: a floating button that opens the outreach widget in an iframe on a partner's page.
//   <script src="https://pufa.example.gov.cn/embed.js" data-label="普法助手" data-position="right" defer></script>
// The widget comes from the origin this script was loaded from; that server must list the partner
// site in PUFA_EMBED_ORIGINS or the browser refuses to show the frame (CSP frame-ancestors).
// Only DOM APIs and element.style are used, so the host page's own CSP needs no inline allowance.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) { return; }
  var origin = new URL(script.src, location.href).origin;
  var label = script.getAttribute("data-label") || "普法助手";
  var left = script.getAttribute("data-position") === "left";
  var kiosk = script.getAttribute("data-kiosk") === "1";
  var n = (window.__pufaEmbeds = (window.__pufaEmbeds || 0) + 1);
  var side = left ? "left" : "right";

  function style(node, css) { Object.keys(css).forEach(function (k) { node.style[k] = css[k]; }); return node; }

  var button = style(document.createElement("button"), {
    position: "fixed", bottom: (20 + (n - 1) * 70) + "px", zIndex: "2147483000", padding: "14px 20px",
    borderRadius: "999px", border: "none", background: "#0b5c3b", color: "#fff", fontSize: "18px",
    fontWeight: "700", boxShadow: "0 2px 10px rgba(0,0,0,.3)", cursor: "pointer"
  });
  button.style[side] = "20px";
  button.type = "button";
  button.className = "pufa-embed-button";
  button.textContent = label;
  button.setAttribute("aria-expanded", "false");

  var panel = style(document.createElement("div"), {
    position: "fixed", bottom: "90px", width: "min(420px, calc(100vw - 24px))", height: "min(680px, calc(100vh - 110px))",
    zIndex: "2147483001", background: "#fff", borderRadius: "14px", boxShadow: "0 4px 24px rgba(0,0,0,.35)",
    overflow: "hidden", display: "none"
  });
  panel.style[side] = "12px";
  panel.className = "pufa-embed-panel";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", label);

  var close = style(document.createElement("button"), {
    position: "absolute", top: "6px", right: "8px", zIndex: "1", border: "none", background: "rgba(255,255,255,.9)",
    fontSize: "22px", lineHeight: "1", padding: "6px 10px", borderRadius: "8px", cursor: "pointer"
  });
  close.type = "button";
  close.textContent = "×";
  close.setAttribute("aria-label", "关闭" + label);
  panel.appendChild(close);

  var frame = null;
  function open() {
    if (!frame) { // created on first open: a page that never opens the widget loads nothing from us
      frame = style(document.createElement("iframe"), { width: "100%", height: "100%", border: "0" });
      frame.title = label;
      frame.src = origin + "/widget" + (kiosk ? "?kiosk=1" : "");
      frame.referrerPolicy = "no-referrer";
      panel.appendChild(frame);
    }
    panel.style.display = "block";
    button.setAttribute("aria-expanded", "true");
  }
  function hide() {
    panel.style.display = "none";
    button.setAttribute("aria-expanded", "false");
    button.focus();
  }
  button.addEventListener("click", function () { if (panel.style.display === "none") { open(); } else { hide(); } });
  close.addEventListener("click", hide);
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && panel.style.display !== "none") { hide(); } });

  function mount() { document.body.appendChild(panel); document.body.appendChild(button); }
  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }
})();
