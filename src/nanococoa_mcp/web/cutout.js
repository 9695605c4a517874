// The cut-out beside the uploaded photo: a remove_background job starts as soon as a photo is chosen, its
// RGBA result is shown on a checkerboard with how sure it is, and the person can drag a box or tap
// product/background points on the photo and cut again. The ad then carries the hints of the cut-out shown.
// Plain browser JavaScript; app.js creates it with `nanococoaCutout(errors)` and owns the form.
"use strict";

window.nanococoaCutout = (errors) => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const TERMINAL = new Set(["completed", "failed", "stopped"]);
  const DRAG_PX = 8; // a press that moves less than this (screen px) is a tap: a point, not a box
  const POINT_PX = 9; // a point's radius on screen
  const SLOW_MS = 15000; // after this the page says the ad need not wait
  const POLL_MS = [300, 400, 600, 800, 1000];
  const MARKS = { product: "상품", background: "배경" };

  const $ = (id) => document.getElementById(id);
  const el = {
    root: $("cutout"),
    stage: $("hint-stage"),
    photo: $("hint-photo"),
    layer: $("hint-layer"),
    image: $("cutout-image"),
    wait: $("cutout-wait"),
    status: $("cutout-status"),
    summary: $("hint-summary"),
    undo: $("hint-undo"),
    clear: $("hint-clear"),
    recut: $("recut-btn"),
  };

  const state = {
    file: null,
    size: null, // the photo as the browser shows it (EXIF-rotated): [width, height] in pixels
    hints: { box: null, points: [] }, // fractions 0-1 of the photo's width and height
    history: [],
    draft: null,
    drag: null,
    seq: 0, // each cut-out request; answers to an older one are dropped
    sent: null, // the hints (as fractions) of the last request the server accepted
    accepted: {}, // the same hints as the ad request's fields, in pixels of the photo
    shown: { sent: null, accepted: {} }, // those of the cut-out on screen
    timer: null,
    slowTimer: null,
  };

  // ---------------------------------------------------------------- hints, as the person draws them

  const copyHints = (h) => ({ box: h.box && [...h.box], points: h.points.map((p) => ({ ...p })) });
  const sameHints = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const hasHints = (h) => Boolean(h.box || h.points.length);

  function change(mutate) {
    state.history.push(copyHints(state.hints));
    mutate(state.hints);
    hintsChanged();
  }

  function hintsChanged() {
    errors.clear("product_box");
    errors.clear("product_points");
    draw();
    describeHints();
  }

  function pointLabel() {
    const input = el.root.querySelector('input[name="point_label"]:checked');
    return input ? input.value : "product";
  }

  // Pixels of the photo as stored: the browser's natural size is the photo after its EXIF rotation.
  function hintFields(h) {
    if (!state.size || !hasHints(h)) return {};
    const [w, h_] = state.size;
    const fields = {};
    if (h.box) {
      const [x0, y0, x1, y1] = h.box;
      const box = [Math.floor(x0 * w), Math.floor(y0 * h_), Math.ceil(x1 * w), Math.ceil(y1 * h_)];
      fields.product_box = JSON.stringify(box);
    }
    if (h.points.length) {
      const px = (f, n) => Math.min(n - 1, Math.max(0, Math.floor(f * n)));
      fields.product_points = JSON.stringify(h.points.map((p) => ({ x: px(p.x, w), y: px(p.y, h_), label: p.label })));
    }
    return fields;
  }

  function describeHints() {
    const h = state.hints;
    const dirty = state.sent === null ? hasHints(h) : !sameHints(h, state.sent);
    el.undo.disabled = !state.history.length;
    el.clear.disabled = !hasHints(h);
    el.recut.classList.toggle("btn-primary", dirty);
    el.recut.classList.toggle("btn-secondary", !dirty);
    el.root.dataset.pending = String(dirty);
    updateRecut();
    if (!hasHints(h)) {
      el.summary.replaceChildren(
        "사진 위를 끌어서 상품 둘레에 네모를 그리거나, 눌러서 상품·배경 점을 찍은 뒤 ",
        bold("다시 누끼"),
        "를 눌러요.",
      );
      if (dirty) el.summary.append(" 표시를 모두 지웠어요. 다시 누끼를 누르면 자동 누끼로 돌아가요.");
      return;
    }
    const count = (label) => h.points.filter((p) => p.label === label).length;
    const bits = [];
    if (h.box) bits.push("네모 1개");
    for (const label of ["product", "background"]) if (count(label)) bits.push(`${MARKS[label]} 점 ${count(label)}개`);
    const tail = dirty ? " · 다시 누끼를 눌러야 미리보기와 광고에 반영돼요" : " · 미리보기와 광고에 반영돼요";
    el.summary.replaceChildren(bold(bits.join(", ")), tail);
  }

  function bold(text) {
    const b = document.createElement("b");
    b.textContent = text;
    return b;
  }

  // ---------------------------------------------------------------- drawing on the photo

  // The layer's viewBox is the photo's own pixels and it is fitted like the photo (object-fit: contain),
  // so the browser's screen-to-SVG transform maps a pointer to the photo whatever the CSS scaling.
  function toPhoto(event) {
    const ctm = el.layer.getScreenCTM();
    if (!ctm || !state.size) return null;
    const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(ctm.inverse());
    return { x: p.x / state.size[0], y: p.y / state.size[1] };
  }

  const clamp01 = (v) => Math.min(1, Math.max(0, v));
  const inside = (p) => p.x >= 0 && p.x <= 1 && p.y >= 0 && p.y <= 1;

  function boxOf(a, b) {
    return [clamp01(Math.min(a.x, b.x)), clamp01(Math.min(a.y, b.y)), clamp01(Math.max(a.x, b.x)), clamp01(Math.max(a.y, b.y))];
  }

  function onDown(event) {
    if (!state.size || (event.pointerType === "mouse" && event.button !== 0)) return;
    const at = toPhoto(event);
    if (!at) return;
    event.preventDefault();
    el.layer.setPointerCapture(event.pointerId);
    state.drag = { id: event.pointerId, at, x: event.clientX, y: event.clientY, moved: false };
  }

  function onMove(event) {
    const drag = state.drag;
    if (!drag || drag.id !== event.pointerId) return;
    if (!drag.moved && Math.hypot(event.clientX - drag.x, event.clientY - drag.y) < DRAG_PX) return;
    drag.moved = true;
    const to = toPhoto(event);
    if (to) state.draft = boxOf(drag.at, to);
    draw();
  }

  function onUp(event) {
    const drag = state.drag;
    if (!drag || drag.id !== event.pointerId) return;
    state.drag = null;
    const box = state.draft;
    state.draft = null;
    if (drag.moved && box && box[2] > box[0] && box[3] > box[1]) {
      change((h) => { h.box = box; }); // one box: a new one replaces the last
    } else if (!drag.moved && inside(drag.at)) {
      const label = pointLabel();
      change((h) => { h.points.push({ x: drag.at.x, y: drag.at.y, label }); });
    } else {
      draw();
    }
  }

  function onCancel() {
    state.drag = null;
    state.draft = null;
    draw();
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    return node;
  }

  function draw() {
    const layer = el.layer;
    layer.replaceChildren();
    if (!state.size) return;
    const [w, h] = state.size;
    layer.setAttribute("viewBox", `0 0 ${w} ${h}`);
    const rect = layer.getBoundingClientRect();
    const unit = rect.width && rect.height ? 1 / Math.min(rect.width / w, rect.height / h) : 1; // photo px per screen px
    const box = state.draft || state.hints.box;
    if (box) {
      const [x0, y0, x1, y1] = [box[0] * w, box[1] * h, box[2] * w, box[3] * h];
      const cut = `M0 0H${w}V${h}H0Z M${x0} ${y0}V${y1}H${x1}V${y0}Z`;
      layer.append(svg("path", { d: cut, class: "hint-shade", "fill-rule": "evenodd" }));
      layer.append(svg("rect", {
        x: x0, y: y0, width: x1 - x0, height: y1 - y0,
        class: state.draft ? "hint-box draft" : "hint-box",
      }));
    }
    const r = POINT_PX * unit;
    for (const p of state.hints.points) {
      const [cx, cy] = [p.x * w, p.y * h];
      const g = svg("g", { class: `hint-point ${p.label}` });
      g.append(svg("circle", { cx, cy, r }));
      const arm = r * 0.5;
      let d = `M${cx - arm} ${cy}H${cx + arm}`;
      if (p.label === "product") d += `M${cx} ${cy - arm}V${cy + arm}`;
      g.append(svg("path", { d }));
      layer.append(g);
    }
  }

  // ---------------------------------------------------------------- the cut-out job

  function setState(name) {
    el.root.dataset.state = name;
    el.wait.hidden = name !== "running";
    updateRecut();
  }

  // Cutting again with the same hints gives the same cut-out: worth it only after a change or a failure.
  function updateRecut() {
    const settled = ["done", "running"].includes(el.root.dataset.state) && el.root.dataset.pending !== "true";
    el.recut.disabled = !state.file || settled;
  }

  function say(...parts) {
    el.status.replaceChildren(...parts);
  }

  function badge(text, tone) {
    const span = document.createElement("span");
    span.className = `conf-badge ${tone}`;
    span.textContent = text;
    return span;
  }

  function stopFollowing() {
    clearTimeout(state.timer);
    clearTimeout(state.slowTimer);
    state.timer = null;
    state.slowTimer = null;
  }

  async function request(hints) {
    if (!state.file) return;
    stopFollowing();
    const seq = ++state.seq;
    const fields = hintFields(hints);
    const body = new FormData();
    body.append("photo", state.file, state.file.name || "photo");
    for (const [key, value] of Object.entries(fields)) body.append(key, value);
    errors.clear("product_box");
    errors.clear("product_points");
    setState("running");
    say(hasHints(hints) ? "표시한 대로 누끼를 다시 따는 중이에요…" : "상품 누끼를 따는 중이에요…");
    state.slowTimer = setTimeout(() => {
      if (seq === state.seq && el.root.dataset.state === "running") {
        say("누끼가 오래 걸리고 있어요. 기다리지 않고 광고를 만들어도 돼요.");
      }
    }, SLOW_MS);
    try {
      const response = await nanococoaFetch("/api/cutout", { method: "POST", body });
      if (seq !== state.seq) return;
      if (!response.ok) {
        refused(await errors.read(response));
        return;
      }
      const st = await response.json();
      state.sent = copyHints(hints);
      state.accepted = fields;
      follow(seq, st, 0);
    } catch (err) {
      if (seq !== state.seq) return;
      fail("서버에 연결하지 못해 누끼를 보여 드리지 못했어요. 광고는 그대로 만들 수 있어요.", String(err.message || err));
    } finally {
      if (seq === state.seq) describeHints();
    }
  }

  // A refused request: the photo, the box or the points, each next to its own field.
  function refused(problem) {
    const field = errors.field(problem.field);
    if (problem.status === 404 || problem.status === 405) {
      fail("이 서버는 누끼 미리보기를 지원하지 않아요. 광고는 그대로 만들 수 있어요.");
      return;
    }
    if (field === "product_box" || field === "product_points" || field === "product_image") {
      errors.show(field, problem);
      setState(field === "product_image" ? "idle" : "failed");
      say(field === "product_image"
        ? "이 파일로는 누끼를 딸 수 없어요."
        : "표시를 고친 뒤 다시 누끼를 눌러 주세요. 미리보기와 광고에는 전에 보이던 누끼가 쓰여요.");
      if (field !== "product_image" && el.image.dataset.jobId) el.root.dataset.state = "done";
      if (field === "product_image") el.root.hidden = true;
      return;
    }
    fail(errors.korean(field, problem), problem.message);
  }

  function fail(text, detail) {
    stopFollowing();
    setState("failed");
    const parts = [badge("누끼 실패", "low"), ` ${text}`];
    if (detail) {
      const small = document.createElement("span");
      small.className = "server-msg";
      small.textContent = `서버 메시지: ${detail}`;
      parts.push(small);
    }
    say(...parts);
  }

  async function follow(seq, st, n) {
    if (seq !== state.seq) return;
    if (st.status === "completed" && cutoutUrl(st)) {
      show(seq, st);
      return;
    }
    if (TERMINAL.has(st.status)) {
      if (st.status === "completed" || !st.error) {
        fail("누끼를 만들지 못했어요. 광고는 사진을 카드처럼 넣어 만들 수 있어요.");
        return;
      }
      const field = errors.field(st.error.field);
      if (field === "product_box" || field === "product_points") {
        errors.show(field, { ...st.error, status: 422 });
        ({ sent: state.sent, accepted: state.accepted } = state.shown); // the ad keeps the cut-out on screen
        describeHints();
      }
      fail(
        "이 사진에서는 상품을 따로 떼어 내지 못했어요. 상품 둘레에 네모를 그리고 다시 누끼를 눌러 보세요. " +
          "그대로 광고를 만들면 사진을 카드처럼 넣어 드려요.",
        st.error.message,
      );
      return;
    }
    state.timer = setTimeout(async () => {
      try {
        const response = await nanococoaFetch(st.status_url || `/status/${encodeURIComponent(st.job_id)}`);
        if (seq !== state.seq) return;
        if (response.ok) {
          follow(seq, { status_url: st.status_url, ...(await response.json()) }, n + 1);
          return;
        }
        if (response.status === 404) {
          fail("누끼 작업을 찾을 수 없어요. 광고는 그대로 만들 수 있어요.");
          return;
        }
      } catch {
        // The server may be restarting; ask again.
      }
      follow(seq, st, n + 1);
    }, POLL_MS[Math.min(n, POLL_MS.length - 1)]);
  }

  // The REST answer carries the fields at the top; a job status may carry them in its result.
  const fieldsOf = (st) => ({ ...(st.result || {}), ...st });

  function cutoutUrl(st) {
    const f = fieldsOf(st);
    if (f.cutout_url) return f.cutout_url;
    return f.cutout_path ? `/files/${encodeURIComponent(st.job_id)}/${f.cutout_path.split(/[\\/]/).pop()}` : null;
  }

  function show(seq, st) {
    const f = fieldsOf(st);
    const url = cutoutUrl(st);
    const probe = new Image();
    probe.onload = () => {
      if (seq !== state.seq) return;
      stopFollowing();
      el.image.src = url;
      el.image.hidden = false;
      el.image.dataset.jobId = st.job_id;
      state.shown = { sent: state.sent, accepted: state.accepted };
      setState("done");
      say(...confidenceWords(f));
    };
    probe.onerror = () => {
      if (seq === state.seq) fail("누끼 이미지를 불러오지 못했어요. 광고는 그대로 만들 수 있어요.");
    };
    probe.src = url;
  }

  function confidenceWords(f) {
    const c = Number(f.confidence);
    const low = f.low_confidence === true || c < 0.6;
    const level = low ? ["낮음", "low"] : c >= 0.8 ? ["높음", "high"] : ["보통", "mid"];
    const parts = [badge(`누끼 신뢰도 ${level[0]}`, level[1])];
    if (Number.isFinite(c)) parts.push(make("span", "conf-num", `${Math.round(c * 100)}%`));
    let advice;
    if (f.method === "alpha-channel") advice = "사진의 투명 배경을 그대로 썼어요.";
    else if (low) {
      advice = f.hint_used
        ? "표시를 반영했지만 아직 확실하지 않아요. 네모를 상품에 꼭 맞게 그리고, 빠진 부분엔 상품 점, 남은 배경엔 배경 점을 찍어 보세요. " +
          "그대로 만들면 사진을 카드처럼 넣어 드려요."
        : "누끼가 정확하지 않을 수 있어요. 사진 위를 끌어서 상품 둘레에 네모를 그리고 다시 누끼를 눌러 보세요. " +
          "그대로 만들면 사진을 카드처럼 넣어 드려요.";
    } else if (level[1] === "mid") {
      advice = "가장자리를 한번 확인해 보세요. 이상하면 상품 둘레에 네모를 그려 다시 누끼를 눌러요.";
    } else advice = "상품이 깔끔하게 분리됐어요.";
    if (f.hint_used && !low) advice = `표시를 반영했어요. ${advice}`;
    parts.push(make("span", "conf-advice", advice));
    return parts;
  }

  function make(tag, className, text) {
    const node = document.createElement(tag);
    node.className = className;
    node.textContent = text;
    return node;
  }

  // ---------------------------------------------------------------- the photo

  function reset() {
    stopFollowing();
    state.seq += 1;
    state.file = null;
    state.size = null;
    state.hints = { box: null, points: [] };
    state.history = [];
    state.sent = null;
    state.accepted = {};
    state.shown = { sent: null, accepted: {} };
    el.image.hidden = true;
    el.image.removeAttribute("src");
    delete el.image.dataset.jobId;
    el.photo.removeAttribute("src");
    el.root.hidden = true;
    el.root.style.removeProperty("--photo-ratio");
    setState("idle");
    say();
    draw();
    describeHints();
  }

  function setPhoto(file, url) {
    reset();
    state.file = file;
    el.root.hidden = false;
    el.stage.classList.remove("no-preview");
    el.photo.alt = `올린 상품 사진 ${file.name || ""}: 위를 끌어서 네모를 그리거나 눌러서 점을 찍어요`;
    el.photo.src = url;
    request(state.hints);
  }

  function bind() {
    el.photo.addEventListener("load", () => {
      if (!el.photo.naturalWidth) return;
      state.size = [el.photo.naturalWidth, el.photo.naturalHeight];
      const ratio = Math.min(1.6, Math.max(0.75, state.size[0] / state.size[1]));
      el.root.style.setProperty("--photo-ratio", ratio.toFixed(4));
      requestAnimationFrame(draw);
    });
    // A format the browser cannot show (HEIC): the server still cuts it out, but there is nothing to draw on.
    el.photo.addEventListener("error", () => {
      if (!el.photo.getAttribute("src")) return;
      state.size = null;
      el.stage.classList.add("no-preview");
      draw();
    });
    el.layer.addEventListener("pointerdown", onDown);
    el.layer.addEventListener("pointermove", onMove);
    el.layer.addEventListener("pointerup", onUp);
    el.layer.addEventListener("pointercancel", onCancel);
    el.layer.addEventListener("lostpointercapture", () => { if (state.drag) onCancel(); });
    el.undo.addEventListener("click", () => {
      if (!state.history.length) return;
      state.hints = state.history.pop();
      hintsChanged();
    });
    el.clear.addEventListener("click", () => change((h) => { h.box = null; h.points = []; }));
    el.recut.addEventListener("click", () => request(copyHints(state.hints)));
    new ResizeObserver(() => draw()).observe(el.stage);
    describeHints();
  }

  bind();
  return {
    setPhoto,
    reset,
    // The ad request's product_box / product_points: those of the cut-out the server last accepted.
    adFields: () => ({ ...state.accepted }),
  };
};
