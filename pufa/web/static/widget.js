// Pufa 普法助手 outreach widget. Plain JS, no dependencies, nothing loaded from outside.
// Every text from the server (answers, law titles, article text) is put on the page as DOM text
// nodes; the only markup recognised in answers is **bold**, "- " lists, "> " quotes and [n] markers,
// and the elements for them are created here. Links are only ever built by us (article pages).
// State (conversation, session id) lives in this page's memory: one per widget instance (iframe).
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("pw-config").textContent);
  var log = document.getElementById("pw-log");
  var form = document.getElementById("pw-form");
  var box = document.getElementById("pw-q");
  var send = document.getElementById("pw-send");
  var status = document.getElementById("pw-status");
  var qrBtn = document.getElementById("pw-qr-btn");
  var qrPanel = document.getElementById("pw-qr");
  var HISTORY_TURNS = 3, HISTORY_ANSWER_CHARS = 1500;

  var state = { session: newSession(), turns: [], busy: false, abort: null, seq: 0 };
  window.__pufaWidget = state; // for tests and debugging: this instance's session id and turns

  function newSession() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes); // works without https, unlike crypto.randomUUID
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function setStatus(text) { status.textContent = text || ""; }

  // ---- answer text → DOM ------------------------------------------------------------------
  // The public view is short: the answer up to its "法律依据" block, whose sources are shown as
  // tappable citations instead.
  function shortText(text) {
    var cut = text.search(/\n\*\*法律依据\*\*/);
    return cut >= 0 ? text.slice(0, cut) : text;
  }

  var INLINE = /\\([\\`*_\[\]()<>#|~!])|\*\*(.+?)\*\*|\[(\d{1,3})\]/g;
  function unescapeMd(s) { return s.replace(/\\([\\`*_\[\]()<>#|~!])/g, "$1"); }

  function inline(parent, line, cites, turnEl) {
    var pos = 0, m;
    INLINE.lastIndex = 0;
    while ((m = INLINE.exec(line)) !== null) {
      if (m.index > pos) { parent.appendChild(document.createTextNode(line.slice(pos, m.index))); }
      if (m[1] !== undefined) {
        parent.appendChild(document.createTextNode(m[1]));
      } else if (m[2] !== undefined) {
        parent.appendChild(el("strong", "", unescapeMd(m[2])));
      } else {
        var n = parseInt(m[3], 10);
        var cite = cites[n];
        if (cite) {
          var b = el("button", "pw-marker", "[" + n + "]");
          b.type = "button";
          b.setAttribute("aria-label", "查看来源 " + n + "：" + citationLabel(cite));
          b.addEventListener("click", openCitation.bind(null, turnEl, n));
          parent.appendChild(b);
        } else {
          parent.appendChild(document.createTextNode(m[0]));
        }
      }
      pos = INLINE.lastIndex;
    }
    if (pos < line.length) { parent.appendChild(document.createTextNode(line.slice(pos))); }
  }

  function renderText(container, text, cites, turnEl) {
    container.textContent = "";
    var list = null, quote = null;
    shortText(text).split("\n").forEach(function (raw) {
      var line = raw.trim();
      var bullet = /^[-*•]\s+(.*)$/.exec(line);
      var q = /^>\s?(.*)$/.exec(line);
      if (!bullet) { list = null; }
      if (!q) { quote = null; }
      if (!line) { return; }
      if (bullet) {
        if (!list) { list = container.appendChild(el("ul")); }
        inline(list.appendChild(el("li")), bullet[1], cites, turnEl);
      } else if (q) {
        if (!quote) { quote = container.appendChild(el("blockquote")); }
        inline(quote.appendChild(el("p")), q[1], cites, turnEl);
      } else if (/^\*\*[^*]+\*\*$/.test(line)) {
        container.appendChild(el("p", "pw-h", unescapeMd(line.slice(2, -2))));
      } else {
        inline(container.appendChild(el("p")), line.replace(/^#{1,6}\s*/, ""), cites, turnEl);
      }
    });
  }

  function citationLabel(c) { return "《" + c.law_short + "》" + c.article_no; }

  function articleUrl(c) {
    return "/article/" + encodeURIComponent(c.law_short) + "/" + encodeURIComponent(c.article_no);
  }

  // Article text with the supporting sentences wrapped in <mark>, as text nodes.
  function highlighted(parent, text, quotes) {
    var spans = [];
    (quotes || []).forEach(function (q) {
      q = (q || "").trim();
      if (!q) { return; }
      var i = text.indexOf(q);
      while (i >= 0) { spans.push([i, i + q.length]); i = text.indexOf(q, i + q.length); }
    });
    spans.sort(function (a, b) { return a[0] - b[0]; });
    var pos = 0;
    spans.forEach(function (s) {
      if (s[0] < pos) { if (s[1] > pos) { s[0] = pos; } else { return; } }
      if (s[0] > pos) { parent.appendChild(document.createTextNode(text.slice(pos, s[0]))); }
      parent.appendChild(el("mark", "", text.slice(s[0], s[1])));
      pos = s[1];
    });
    if (pos < text.length) { parent.appendChild(document.createTextNode(text.slice(pos))); }
  }

  function renderCitations(turnEl, citations) {
    var wrap = turnEl.querySelector(".pw-cites");
    wrap.textContent = "";
    if (!citations.length) { return; }
    wrap.appendChild(el("p", "pw-cites-h", "依据的条文（点一下查看原文）"));
    var chips = wrap.appendChild(el("div", "pw-chips"));
    citations.forEach(function (c) {
      var b = el("button", "pw-chip", "[" + c.n + "] " + citationLabel(c));
      b.type = "button";
      b.setAttribute("aria-expanded", "false");
      b.dataset.n = String(c.n);
      b.addEventListener("click", openCitation.bind(null, turnEl, c.n));
      chips.appendChild(b);
    });
    wrap.appendChild(el("div", "pw-article")).hidden = true;
  }

  function openCitation(turnEl, n) {
    var c = turnEl.pwCites[n];
    var panel = turnEl.querySelector(".pw-article");
    if (!c || !panel) { return; }
    var chips = turnEl.querySelectorAll(".pw-chip");
    var same = !panel.hidden && panel.dataset.n === String(n);
    Array.prototype.forEach.call(chips, function (chip) {
      chip.setAttribute("aria-expanded", String(!same && chip.dataset.n === String(n)));
    });
    if (same) { panel.hidden = true; return; }
    panel.textContent = "";
    panel.dataset.n = String(n);
    panel.appendChild(el("p", "pw-article-title", citationLabel(c)));
    var meta = [c.level || "效力级别未知", c.status || "状态未知"];
    if (c.effective_date) { meta.push(c.effective_date + " 起施行"); }
    panel.appendChild(el("p", "pw-article-meta" + (c.status === "已废止" ? " pw-repealed" : ""), meta.join(" · ")));
    if (c.replaces) { panel.appendChild(el("p", "pw-article-meta", "替代已废止的 " + c.replaces)); }
    highlighted(panel.appendChild(el("p", "pw-article-text")), c.text || "", c.quotes);
    var link = el("a", "pw-article-link", "打开完整条文页面");
    link.href = articleUrl(c);
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    panel.appendChild(link);
    panel.hidden = false;
  }

  // ---- conversation -------------------------------------------------------------------------
  function addTurn(question) {
    var turnEl = el("article", "pw-turn");
    turnEl.appendChild(el("p", "pw-question", question));
    var answer = turnEl.appendChild(el("div", "pw-answer"));
    answer.appendChild(el("p", "pw-pending", "正在查找相关条文…"));
    turnEl.appendChild(el("div", "pw-cites"));
    turnEl.pwCites = {};
    log.appendChild(turnEl);
    turnEl.scrollIntoView({ block: "start" });
    return turnEl;
  }

  function showError(turnEl, message) {
    var answer = turnEl.querySelector(".pw-answer");
    answer.textContent = "";
    var p = answer.appendChild(el("p", "pw-error", message));
    p.setAttribute("role", "alert");
    turnEl.classList.add("pw-failed");
  }

  function friendly(status, doc) {
    var message = doc && doc.error && doc.error.message;
    if (status === 429) { return "您问得有点快了，先休息一下吧。" + (message || "请稍后再试。"); }
    if (status === 503) { return message || "系统正在准备中，请稍后再试。"; }
    if (status === 400 && message) { return message; }
    return "抱歉，暂时无法回答。请稍后再试，或拨打 12348 公共法律服务热线咨询。";
  }

  function ask(question) {
    question = (question || "").trim();
    if (!question || state.busy) { return; }
    if (question.length > config.maxChars) {
      setStatus("问题太长了，请控制在 " + config.maxChars + " 字以内。");
      return;
    }
    var seq = ++state.seq;
    var turnEl = addTurn(question);
    var answerEl = turnEl.querySelector(".pw-answer");
    var history = state.turns.slice(-HISTORY_TURNS).map(function (t) {
      return { question: t.question, answer: t.answer.slice(0, HISTORY_ANSWER_CHARS) };
    });
    var controller = new AbortController();
    state.abort = controller;
    setBusy(true);
    setStatus("正在回答…");
    box.value = "";
    var text = "";
    var done = false;

    function handle(event, data) {
      if (seq !== state.seq) { return; }
      if (event === "sources") {
        data.citations.forEach(function (c) { turnEl.pwCites[c.n] = c; });
      } else if (event === "text") {
        text += data.text;
        renderText(answerEl, text, turnEl.pwCites, turnEl);
      } else if (event === "final") {
        done = true;
        turnEl.pwCites = {};
        data.citations.forEach(function (c) { turnEl.pwCites[c.n] = c; });
        renderText(answerEl, data.answer, turnEl.pwCites, turnEl);
        renderCitations(turnEl, data.citations);
        turnEl.classList.add("pw-final");
        if (data.refused) { turnEl.classList.add("pw-refused"); }
        if (data.as_of) { turnEl.appendChild(el("p", "pw-asof", "依据截至 " + data.as_of + " 有效的法律法规")); }
        state.turns.push({ question: question, answer: data.answer });
      } else if (event === "error") {
        done = true;
        showError(turnEl, (data.error && data.error.message) || friendly(500));
      }
    }

    fetch(config.api, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Pufa-Session": state.session },
      body: JSON.stringify({ question: question, persona: config.persona, history: history }),
      signal: controller.signal,
      credentials: "omit",
    }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return null; }).then(function (doc) {
          done = true;
          showError(turnEl, friendly(response.status, doc));
        });
      }
      return readEvents(response.body.getReader(), handle);
    }).catch(function (err) {
      if (err && err.name === "AbortError") { return; }
      if (!done) { showError(turnEl, "网络连接有问题，请稍后再试。"); done = true; }
    }).then(function () {
      if (seq !== state.seq) { return; }
      if (!done) { showError(turnEl, "回答中断了，请再问一次。"); }
      state.abort = null;
      setBusy(false);
      setStatus("");
    });
  }

  // Server-sent events over a fetch body (EventSource cannot POST).
  function readEvents(reader, handle) {
    var decoder = new TextDecoder("utf-8");
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) { return; }
        buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
        var cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          var block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          var event = "message", data = [];
          block.split("\n").forEach(function (line) {
            if (line.indexOf("event:") === 0) { event = line.slice(6).trim(); }
            else if (line.indexOf("data:") === 0) { data.push(line.slice(5).replace(/^ /, "")); }
          });
          if (data.length) {
            var doc;
            try { doc = JSON.parse(data.join("\n")); } catch (e) { continue; }
            handle(event, doc);
          }
        }
        return pump();
      });
    }
    return pump();
  }

  function setBusy(busy) {
    state.busy = busy;
    send.disabled = busy;
    Array.prototype.forEach.call(document.querySelectorAll(".pw-preset"), function (b) { b.disabled = busy; });
  }

  function clearConversation(message) {
    state.seq++;
    if (state.abort) { state.abort.abort(); state.abort = null; }
    state.turns = [];
    state.session = newSession();
    log.textContent = "";
    box.value = "";
    setBusy(false);
    setStatus(message || "");
    window.scrollTo(0, 0);
  }

  // ---- wiring -------------------------------------------------------------------------------
  form.addEventListener("submit", function (e) { e.preventDefault(); ask(box.value); });
  box.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); ask(box.value); }
  });
  Array.prototype.forEach.call(document.querySelectorAll(".pw-preset"), function (b) {
    b.addEventListener("click", function () { ask(b.getAttribute("data-q")); });
  });
  document.getElementById("pw-clear").addEventListener("click", function () { clearConversation("对话已清空。"); });
  qrBtn.addEventListener("click", function () {
    qrPanel.hidden = !qrPanel.hidden;
    qrBtn.setAttribute("aria-expanded", String(!qrPanel.hidden));
  });
  qrBtn.setAttribute("aria-expanded", String(!qrPanel.hidden));

  // Kiosk: after idleSeconds without a touch, clear the conversation for the next visitor.
  if (config.kiosk) {
    var timer = null;
    var idleMs = Math.max(1, Number(config.idleSeconds) || 90) * 1000;
    var arm = function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(function () {
        if (state.turns.length || log.childNodes.length || box.value) {
          clearConversation("已为下一位访客清空对话。");
        }
        arm();
      }, idleMs);
    };
    ["pointerdown", "keydown", "input", "wheel", "touchstart"].forEach(function (name) {
      document.addEventListener(name, arm, { passive: true });
    });
    arm();
  }
})();
