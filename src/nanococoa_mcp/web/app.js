// nanococoa ad studio page: upload a product photo, pick styles, follow the job's progress, download the ad.
// Plain browser JavaScript, no build step; it talks only to this server's REST routes.
"use strict";

(() => {
  const MAX_COPY = 40;
  const POLL_MS = 1000;
  const TERMINAL = new Set(["completed", "failed", "stopped"]);
  // A picture frame glyph, for files the browser cannot preview.
  const NO_PREVIEW =
    "data:image/svg+xml," +
    encodeURIComponent(
      '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48" fill="none" stroke="#b2aba1" stroke-width="2.5">' +
        '<rect x="10" y="10" width="28" height="28" rx="6"/><circle cx="19" cy="19" r="3"/>' +
        '<path d="M38 31l-8-8-16 15"/></svg>',
    );

  const STEP_LABELS = {
    step1_background: "1단계: 배경 만들기",
    step2_text: "2단계: 문구 배치",
    step3_composite: "3단계: 합성",
  };
  const SUB_STEP_LABELS = {
    cutout: "상품 누끼 따는 중",
    scene: "배경 장면을 그리는 중",
    compose: "상품과 그림자를 배치하는 중",
    layout_analysis: "문구가 잘 보일 자리를 찾는 중",
    html_rendering: "문구를 디자인하는 중",
    composite: "최종 이미지를 합성하는 중",
  };
  const STATUS_WORDS = { queued: "대기 중", running: "만드는 중", completed: "완성", failed: "실패", stopped: "중지됨" };
  const SIZE_LABELS = {
    "4:5": ["세로 4:5", "인스타그램 피드에 가장 잘 맞아요"],
    "1:1": ["정사각 1:1", "인스타그램·카카오톡 정사각 피드용"],
    "9:16": ["스토리 9:16", "스토리·릴스·쇼츠 전체 화면용"],
    banner: ["배너 1.91:1", "네이버·페이스북 링크 배너용"],
    seed: ["세로 2:3", "상세페이지·전단용 세로 이미지"],
  };
  const SIZE_ORDER = ["4:5", "1:1", "9:16", "banner", "seed"];
  // The server names the field it refused; several names mean the same box on this page.
  const FIELD_OF = {
    product_image: "product_image",
    photo: "product_image",
    image: "product_image",
    product_box: "product_box",
    product_points: "product_points",
    ad_text: "copy",
    text_content: "copy",
    copy: "copy",
    sub_copy: "sub_copy",
    style: "style",
    background_style: "style",
    text_style: "text_style",
    size: "size",
    variants: "variants",
  };

  // "product_points[2].label" names the points; the page shows it beside them.
  const fieldOf = (name) => FIELD_OF[String(name || "").split(/[.[]/)[0]] || null;

  const $ = (id) => document.getElementById(id);
  const el = {
    form: $("ad-form"),
    dropzone: $("dropzone"),
    photoInput: $("photo-input"),
    photoPreview: $("photo-preview"),
    photoName: $("photo-name"),
    copy: $("copy-input"),
    copyCount: $("copy-count"),
    sub: $("sub-input"),
    subCount: $("sub-count"),
    sceneGrid: $("scene-grid"),
    sceneDesc: $("scene-desc"),
    textGrid: $("text-grid"),
    textDesc: $("text-desc"),
    size: $("size-select"),
    sizeHint: $("size-hint"),
    variants: $("variants-select"),
    submit: $("submit-btn"),
    result: $("result"),
    badge: $("result-badge"),
    empty: $("result-empty"),
    progress: $("progress"),
    stepLabel: $("step-label"),
    percent: $("progress-percent"),
    bar: $("progress-bar"),
    fill: $("progress-fill"),
    subStep: $("sub-step"),
    eta: $("eta"),
    chips: $("step-chips"),
    stop: $("stop-btn"),
    figure: $("result-figure"),
    image: $("result-image"),
    previewTag: $("preview-tag"),
    caption: $("result-caption"),
    strip: $("variant-strip"),
    done: $("result-done"),
    download: $("download-link"),
    open: $("open-link"),
    quality: $("quality"),
    rerunForm: $("rerun-form"),
    rerunInput: $("rerun-input"),
    rerunBtn: $("rerun-btn"),
    failed: $("result-failed"),
    failedTitle: $("failed-title"),
    failedDetail: $("failed-detail"),
    recentList: $("recent-list"),
    recentRefresh: $("recent-refresh"),
  };

  const state = {
    catalog: null,
    file: null,
    previewUrl: null,
    jobId: null,
    source: null,
    pollTimer: null,
    last: null,
    variant: 0,
  };

  // ---------------------------------------------------------------- small helpers

  const chars = (text) => [...text.trim()].length;

  function make(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) node.append(child);
    return node;
  }

  function formatEta(seconds) {
    if (seconds == null || !Number.isFinite(seconds) || seconds <= 0) return "";
    const s = Math.max(1, Math.round(seconds));
    if (s < 60) return `약 ${s}초 남음`;
    const m = Math.floor(s / 60);
    const rest = s % 60;
    return rest ? `약 ${m}분 ${rest}초 남음` : `약 ${m}분 남음`;
  }

  function timeAgo(epochSeconds) {
    const diff = Date.now() / 1000 - epochSeconds;
    if (diff < 60) return "방금 전";
    if (diff < 3600) return `${Math.floor(diff / 60)}분 전`;
    if (diff < 86400) return `${Math.floor(diff / 3600)}시간 전`;
    const d = new Date(epochSeconds * 1000);
    return `${d.getMonth() + 1}월 ${d.getDate()}일`;
  }

  async function readProblem(response) {
    try {
      const body = await response.json();
      return { status: response.status, ...body };
    } catch {
      return { status: response.status, error: "http_error", message: `HTTP ${response.status}` };
    }
  }

  // ---------------------------------------------------------------- errors, in Korean, next to their field

  function koreanMessage(field, problem) {
    const msg = (problem.message || "").toLowerCase();
    if (problem.status === 429 || problem.error === "queue_full") {
      return "지금 만드는 광고가 많아요. 잠시 후 다시 눌러 주세요.";
    }
    if (problem.status === 503) return "서버가 아직 준비 중이에요. 잠시 후 다시 시도해 주세요.";
    switch (field) {
      case "product_image":
        if (msg.includes("no product photo")) return "상품 사진을 올려 주세요.";
        if (msg.includes("empty")) return "빈 파일이에요. 다른 사진을 올려 주세요.";
        if (msg.includes(" mb") || msg.includes("larger")) return "사진 용량이 너무 커요. 10MB 이하의 사진을 올려 주세요.";
        if (msg.includes("too small")) return "사진이 너무 작아요. 가로·세로 64픽셀 이상인 사진을 올려 주세요.";
        if (msg.includes("megapixel")) return "사진 해상도가 너무 커요. 조금 줄여서 올려 주세요.";
        if (msg.includes("damaged") || msg.includes("truncated")) return "사진 파일이 손상됐어요. 다른 사진을 올려 주세요.";
        if (msg.includes("not an image") || msg.includes("unsupported") || msg.includes("format")) {
          return "사진으로 읽을 수 없는 파일이에요. JPG, PNG, WebP, HEIC 사진을 올려 주세요.";
        }
        return "이 사진을 처리하지 못했어요. 아래 서버 메시지를 확인해 주세요.";
      case "product_box":
        if (msg.includes("inverted")) return "네모의 시작과 끝이 뒤바뀌었어요. 네모를 다시 그려 주세요.";
        if (msg.includes("outside")) return "네모가 사진 밖으로 나갔어요. 사진 안에 다시 그려 주세요.";
        if (msg.includes("too small")) return "네모가 너무 작아요. 상품 전체를 감싸도록 크게 그려 주세요.";
        return "상품 네모를 쓸 수 없어요. 상품 둘레에 다시 그려 주세요.";
      case "product_points":
        if (msg.includes("product box")) return "상품 점은 네모 안에 찍어 주세요.";
        if (msg.includes("at most")) return "점이 너무 많아요. 몇 개를 지우고 다시 눌러 주세요.";
        if (msg.includes("outside")) return "사진 밖에 찍힌 점이 있어요. 점을 지우고 다시 찍어 주세요.";
        return "찍은 점을 쓸 수 없어요. 점을 지우고 다시 찍어 주세요.";
      case "copy":
        if (msg.includes("characters")) return `메인 문구는 ${MAX_COPY}자까지 쓸 수 있어요. 자세한 내용은 보조 문구에 넣어 주세요.`;
        return "광고 문구를 입력해 주세요.";
      case "sub_copy":
        return `보조 문구는 ${MAX_COPY}자까지 쓸 수 있어요.`;
      case "style":
        return "이 배경 스타일은 쓸 수 없어요. 목록에서 골라 주세요.";
      case "text_style":
        return "이 문구 스타일은 쓸 수 없어요. 목록에서 골라 주세요.";
      case "size":
        return "광고 크기를 목록에서 골라 주세요.";
      case "variants":
        return "시안 개수는 1~4개 중에서 골라 주세요.";
      default:
        return "요청을 처리하지 못했어요. 입력한 내용을 확인해 주세요.";
    }
  }

  function errorSlot(field) {
    return document.querySelector(`[data-error-for="${field}"]`) || document.querySelector('[data-error-for="form"]');
  }

  function showError(field, korean, serverMessage) {
    const slot = errorSlot(field);
    slot.textContent = korean;
    if (serverMessage) slot.append(make("span", { class: "server-msg", text: `서버 메시지: ${serverMessage}` }));
    const box = document.querySelector(`[data-field="${field}"]`);
    if (box) box.classList.add("has-error");
  }

  function showProblem(problem) {
    const field = fieldOf(problem.field) || "form";
    showError(field, koreanMessage(field, problem), problem.message);
    const box = document.querySelector(`[data-field="${field}"]`);
    const focusable = box && box.querySelector("input:not([type=radio]), select, input:checked");
    if (focusable) focusable.focus({ preventScroll: false });
  }

  function clearErrors(scope = document) {
    for (const slot of scope.querySelectorAll("[data-error-for]")) slot.textContent = "";
    for (const box of scope.querySelectorAll(".has-error")) box.classList.remove("has-error");
  }

  function clearError(field) {
    const slot = document.querySelector(`[data-error-for="${field}"]`);
    if (slot) slot.textContent = "";
    const box = document.querySelector(`[data-field="${field}"]`);
    if (box) box.classList.remove("has-error");
  }

  // What the cut-out preview (cutout.js) needs of this page's error handling.
  const cutout = window.nanococoaCutout({
    read: readProblem,
    field: fieldOf,
    korean: koreanMessage,
    clear: clearError,
    show(field, problem) {
      showError(field, koreanMessage(field, problem), problem.message);
    },
  });

  // ---------------------------------------------------------------- photo upload

  function setFile(file) {
    clearError("product_image");
    if (!file) return;
    if (file.type && !file.type.startsWith("image/")) {
      state.file = null;
      cutout.reset();
      showError("product_image", "사진 파일만 올릴 수 있어요. JPG, PNG, WebP, HEIC 사진을 골라 주세요.");
      return;
    }
    state.file = file;
    if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
    state.previewUrl = URL.createObjectURL(file);
    el.photoPreview.classList.remove("broken");
    el.photoPreview.src = state.previewUrl;
    el.photoName.textContent = file.name || "붙여 넣은 사진";
    el.dropzone.querySelector(".drop-empty").hidden = true;
    el.dropzone.querySelector(".drop-preview").hidden = false;
    cutout.setPhoto(file, state.previewUrl);
  }

  function bindUpload() {
    el.photoInput.addEventListener("change", () => setFile(el.photoInput.files[0]));
    // Some phone formats (HEIC) have no browser preview; the server still reads them.
    el.photoPreview.addEventListener("error", () => {
      if (el.photoPreview.src === NO_PREVIEW) return;
      el.photoPreview.classList.add("broken");
      el.photoPreview.src = NO_PREVIEW;
      el.photoName.textContent += " · 미리보기 없음";
    });
    for (const type of ["dragenter", "dragover"]) {
      el.dropzone.addEventListener(type, (event) => {
        event.preventDefault();
        el.dropzone.classList.add("dragging");
      });
    }
    for (const type of ["dragleave", "dragend"]) {
      el.dropzone.addEventListener(type, (event) => {
        if (!el.dropzone.contains(event.relatedTarget)) el.dropzone.classList.remove("dragging");
      });
    }
    el.dropzone.addEventListener("drop", (event) => {
      event.preventDefault();
      el.dropzone.classList.remove("dragging");
      const files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) return;
      el.photoInput.files = files;
      setFile(files[0]);
    });
    // A photo copied from a messenger or a web page can be pasted anywhere on the page.
    document.addEventListener("paste", (event) => {
      const item = [...(event.clipboardData ? event.clipboardData.files : [])].find((f) => f.type.startsWith("image/"));
      if (item) setFile(item);
    });
  }

  // ---------------------------------------------------------------- copy inputs

  function bindCounter(input, counter, field) {
    const update = () => {
      const n = chars(input.value);
      counter.textContent = `${n}/${MAX_COPY}`;
      counter.classList.toggle("near", n >= MAX_COPY - 5);
    };
    input.addEventListener("input", () => {
      update();
      clearError(field);
    });
    update();
  }

  // ---------------------------------------------------------------- style pickers and sizes

  function buildChoices(grid, items, name, selectedId, descEl) {
    grid.replaceChildren();
    const describe = (item) => {
      descEl.replaceChildren(make("b", { text: item.name_ko }), ` — ${item.description}`);
    };
    for (const item of items) {
      const input = make("input", { type: "radio", name, value: item.id, checked: item.id === selectedId });
      const thumb = item.thumbnail_url
        ? make("img", { class: "choice-thumb", src: item.thumbnail_url, alt: "", decoding: "async" })
        : make("span", { class: "choice-thumb placeholder", text: item.name_en });
      const label = make("label", { class: "choice", title: item.description, "data-id": item.id }, [
        input,
        make("span", { class: "choice-card" }, [thumb, make("span", { class: "choice-name", text: item.name_ko })]),
        make("span", { class: "choice-check", "aria-hidden": "true" }),
      ]);
      input.addEventListener("change", () => {
        describe(item);
        clearError(grid.closest("[data-field]").dataset.field);
      });
      if (item.id === selectedId) describe(item);
      grid.append(label);
    }
  }

  function describeSize() {
    const known = SIZE_LABELS[el.size.value];
    el.sizeHint.textContent = known ? known[1] : "";
  }

  function buildSizes(sizes, selectedId) {
    el.size.replaceChildren();
    const rank = (id) => (SIZE_ORDER.includes(id) ? SIZE_ORDER.indexOf(id) : SIZE_ORDER.length);
    for (const size of [...sizes].sort((a, b) => rank(a.id) - rank(b.id))) {
      const name = SIZE_LABELS[size.id] ? SIZE_LABELS[size.id][0] : size.id;
      const label = `${name} · ${size.width}×${size.height}`;
      el.size.append(make("option", { value: size.id, text: label, selected: size.id === selectedId }));
    }
    describeSize();
  }

  async function loadStyles() {
    try {
      const response = await nanococoaFetch("/api/styles");
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const catalog = await response.json();
      state.catalog = catalog;
      const auto = (what) => ({ id: "auto", name_ko: "자동 추천", name_en: "카피에 맞춰 골라요",
        description: `카피와 상품 색에 어울리는 ${what}을 골라 드려요` });
      buildChoices(el.sceneGrid, [auto("배경"), ...catalog.scene_styles], "background_style",
        catalog.defaults.style, el.sceneDesc);
      buildChoices(el.textGrid, [auto("글자 스타일"), ...catalog.text_styles], "text_style",
        catalog.defaults.text_style, el.textDesc);
      buildSizes(catalog.sizes, catalog.defaults.size);
    } catch (err) {
      showError("form", "스타일 목록을 불러오지 못했어요. 페이지를 새로고침해 주세요.", String(err.message || err));
    }
  }

  const picked = (name) => {
    const input = el.form.querySelector(`input[name="${name}"]:checked`);
    return input ? input.value : "";
  };

  function styleName(kind, id) {
    const list = state.catalog ? state.catalog[kind] : [];
    const found = list.find((s) => s.id === id);
    return found ? found.name_ko : id;
  }

  // ---------------------------------------------------------------- submitting

  function setBusy(busy) {
    el.submit.disabled = busy;
    el.submit.classList.toggle("busy", busy);
    el.submit.querySelector(".btn-label").textContent = busy ? "만드는 중…" : "광고 만들기";
  }

  function checkForm() {
    let firstBad = null;
    if (!state.file) {
      showError("product_image", "상품 사진을 올려 주세요.");
      firstBad = firstBad || el.photoInput;
    }
    if (!chars(el.copy.value)) {
      showError("copy", "광고 문구를 입력해 주세요.");
      firstBad = firstBad || el.copy;
    }
    if (firstBad) firstBad.focus();
    return !firstBad;
  }

  async function submitForm(event) {
    event.preventDefault();
    clearErrors(el.form);
    if (!checkForm()) return;
    const data = new FormData();
    data.append("product_image", state.file, state.file.name || "photo");
    data.append("ad_text", el.copy.value.trim());
    if (el.sub.value.trim()) data.append("sub_copy", el.sub.value.trim());
    for (const [key, value] of [
      ["background_style", picked("background_style")],
      ["text_style", picked("text_style")],
      ["size", el.size.value],
      ["variants", el.variants.value],
      ...Object.entries(cutout.adFields()),
    ]) {
      if (value) data.append(key, value);
    }
    setBusy(true);
    try {
      const response = await nanococoaFetch("/api/generate", { method: "POST", body: data });
      if (!response.ok) {
        showProblem(await readProblem(response));
        return;
      }
      const accepted = await response.json();
      el.rerunInput.value = el.copy.value.trim();
      startJob(accepted.job_id, accepted.events_url, accepted.queue_position);
      revealResult();
    } catch (err) {
      showError("form", "서버에 연결하지 못했어요. 잠시 후 다시 시도해 주세요.", String(err.message || err));
    } finally {
      setBusy(false);
    }
  }

  async function submitRerun(event) {
    event.preventDefault();
    clearErrors(el.rerunForm);
    const parent = state.last;
    const copy = el.rerunInput.value.trim();
    if (!copy) {
      showError("rerun_copy", "새 문구를 입력해 주세요.");
      el.rerunInput.focus();
      return;
    }
    if (!parent) return;
    const body = { parent_id: parent.job_id, start_step: 2, text_content: copy };
    const textStyle = picked("text_style");
    if (textStyle) body.text_style = textStyle;
    el.rerunBtn.disabled = true;
    try {
      const response = await nanococoaFetch("/generate", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!response.ok) {
        const problem = await readProblem(response);
        const field = fieldOf(problem.field) || "form";
        showError("rerun_copy", koreanMessage(field, problem), problem.message);
        return;
      }
      const accepted = await response.json();
      startJob(accepted.job_id, accepted.events_url, accepted.queue_position);
    } catch (err) {
      showError("rerun_copy", "서버에 연결하지 못했어요.", String(err.message || err));
    } finally {
      el.rerunBtn.disabled = false;
    }
  }

  function revealResult() {
    const top = el.result.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight * 0.6) el.result.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  // ---------------------------------------------------------------- following a job

  function stopWatching() {
    if (state.source) state.source.close();
    state.source = null;
    clearTimeout(state.pollTimer);
    state.pollTimer = null;
  }

  function startJob(jobId, eventsUrl, queuePosition) {
    stopWatching();
    state.jobId = jobId;
    state.last = null;
    state.variant = 0;
    resetImage();
    render({ job_id: jobId, status: "queued", progress_percent: 0, queue_position: queuePosition });
    watch(jobId, eventsUrl || `/jobs/${jobId}/events`);
    loadRecent();
  }

  function watch(jobId, eventsUrl) {
    if (!("EventSource" in window)) {
      poll(jobId);
      return;
    }
    const source = new EventSource(eventsUrl);
    state.source = source;
    source.addEventListener("status", (event) => render(JSON.parse(event.data)));
    source.addEventListener("end", () => {
      source.close();
      if (state.source === source) state.source = null;
    });
    source.onerror = () => {
      // A proxy that buffers or drops the stream: fall back to asking every second.
      source.close();
      if (state.source !== source) return;
      state.source = null;
      if (!state.last || !TERMINAL.has(state.last.status)) poll(jobId);
    };
  }

  async function poll(jobId) {
    if (state.jobId !== jobId) return;
    try {
      const response = await nanococoaFetch(`/status/${encodeURIComponent(jobId)}`);
      if (response.ok) {
        const status = await response.json();
        render(status);
        if (TERMINAL.has(status.status)) return;
      } else if (response.status === 404) {
        renderMissing();
        return;
      }
    } catch {
      // The server may be restarting; keep asking.
    }
    if (state.jobId === jobId) state.pollTimer = setTimeout(() => poll(jobId), POLL_MS);
  }

  async function stopJob() {
    if (!state.jobId) return;
    el.stop.disabled = true;
    el.stop.textContent = "중지하는 중…";
    try {
      const response = await nanococoaFetch(`/api/stop/${encodeURIComponent(state.jobId)}`, { method: "POST" });
      if (!response.ok) {
        const problem = await readProblem(response);
        el.subStep.textContent = `중지하지 못했어요 (${problem.message || response.status})`;
      } else if (!state.source && !state.pollTimer) {
        poll(state.jobId);
      }
    } catch {
      el.subStep.textContent = "중지하지 못했어요. 다시 눌러 주세요.";
    }
  }

  // ---------------------------------------------------------------- drawing the job

  function setBadge(text, tone) {
    el.badge.hidden = !text;
    el.badge.textContent = text || "";
    el.badge.className = `badge ${tone || ""}`;
  }

  function renderProgress(st) {
    const pct = Math.max(0, Math.min(100, Math.round(st.progress_percent || 0)));
    el.fill.style.width = `${pct}%`;
    el.bar.setAttribute("aria-valuenow", String(pct));
    el.percent.textContent = `${pct}%`;
    if (st.status === "queued") {
      el.stepLabel.textContent = "대기 중";
      const ahead = st.queue_position ? Math.max(0, st.queue_position - 1) : 0;
      el.subStep.textContent = ahead ? `앞에 ${ahead}개의 광고가 만들어지고 있어요` : "곧 시작해요";
    } else {
      el.stepLabel.textContent = STEP_LABELS[st.current_step] || "준비 중";
      el.subStep.textContent = SUB_STEP_LABELS[st.sub_step] || "";
    }
    el.eta.textContent = formatEta(st.eta_seconds);
    const order = Object.keys(STEP_LABELS);
    const at = order.indexOf(st.current_step);
    for (const chip of el.chips.children) {
      const i = order.indexOf(chip.dataset.step);
      chip.classList.toggle("done", at > i || st.status === "completed");
      chip.classList.toggle("active", at === i && st.status === "running");
    }
  }

  function resetImage() {
    el.image.removeAttribute("src");
    el.image.dataset.src = "";
    el.image.dataset.kind = "";
    el.figure.hidden = true;
    el.caption.textContent = "";
  }

  function showImage(url, kind) {
    if (!url) return;
    if (el.image.dataset.src === url) return;
    el.image.dataset.src = url;
    const probe = new Image();
    probe.onload = () => {
      if (el.image.dataset.src !== url) return;
      el.image.src = url;
      el.image.dataset.kind = kind;
      el.previewTag.hidden = kind !== "preview";
      el.figure.hidden = false;
    };
    probe.src = url;
  }

  function renderQuality(quality) {
    el.quality.replaceChildren();
    if (!quality) return;
    const items = [
      [quality.contrast_ratio >= 4.5, `글자 대비 ${quality.contrast_ratio.toFixed(1)} : 1 (기준 4.5 : 1 이상)`],
      [quality.text_product_overlap_px === 0, quality.text_product_overlap_px === 0 ? "문구가 상품을 가리지 않아요" : "문구가 상품에 조금 겹쳐요"],
      [quality.product_pixels_changed === 0, quality.product_pixels_changed === 0 ? "상품 사진은 그대로예요" : "상품 일부가 바뀌었어요"],
      [quality.inside_safe_area, quality.inside_safe_area ? "문구가 잘리지 않는 안전 영역 안에 있어요" : "문구가 가장자리에 가까워요"],
    ];
    if (quality.layout_mode === "photo_card") {
      items.push([false, "누끼가 확실하지 않아 사진을 카드처럼 넣었어요. 사진 위에 상품 네모를 그리고 다시 만들면 누끼로 만들어요"]);
    } else if (quality.cutout_low_confidence && quality.hint_used) {
      items.push([false, "표시한 네모와 점으로 누끼를 땄지만 확실하지 않아요. 상품 가장자리를 확인해 보세요"]);
    } else if (quality.cutout_low_confidence) {
      items.push([false, "누끼가 정확하지 않을 수 있어요. 사진 위에 상품 네모를 그려 다시 만들어 보세요"]);
    } else if (quality.hint_used) {
      items.push([true, "표시한 네모와 점대로 누끼를 땄어요"]);
    }
    if (quality.missing_glyphs && quality.missing_glyphs.length) {
      items.push([false, `글꼴에 없는 글자: ${quality.missing_glyphs.join(" ")}`]);
    }
    const head = make("p", { class: "quality-head" }, [
      make("span", { class: `badge ${quality.passed ? "ok" : "warn"}`, text: quality.passed ? "품질 검사 통과" : "확인 필요" }),
    ]);
    const list = make("ul", {}, items.map(([good, text]) => make("li", { class: good ? "" : "bad", text })));
    el.quality.append(head, list);
  }

  function renderVariants(st) {
    const urls = st.image_urls && st.image_urls.length ? st.image_urls : [st.final_result_url].filter(Boolean);
    el.strip.replaceChildren();
    el.strip.hidden = urls.length < 2;
    urls.forEach((url, i) => {
      const button = make("button", { type: "button", "aria-label": `시안 ${i + 1}`, "aria-pressed": String(i === state.variant) }, [
        make("img", { src: url.replace(/final_(\d+)\.png$/, "preview_$1.jpg"), alt: "" }),
      ]);
      button.addEventListener("click", () => {
        state.variant = i;
        renderDone(st);
      });
      el.strip.append(button);
    });
    return urls;
  }

  function renderDone(st) {
    const urls = renderVariants(st);
    const url = urls[Math.min(state.variant, urls.length - 1)];
    const variant = ((st.result || {}).variants || [])[state.variant] || null;
    showImage(url, "final");
    el.image.alt = `완성된 광고: ${(st.parameters || {}).text_content || ""}`;
    el.download.href = `${url}?download=1`;
    el.open.href = url;
    renderQuality(variant && variant.quality);
    const params = st.parameters || {};
    const bits = [];
    if (st.result) bits.push(`${st.result.width}×${st.result.height}`);
    if (params.style) bits.push(styleName("scene_styles", params.style));
    if (params.text_style) bits.push(styleName("text_styles", params.text_style));
    el.caption.textContent = bits.join(" · ");
    if (!el.rerunInput.value) el.rerunInput.value = params.text_content || "";
  }

  function renderFailed(st) {
    const stopped = st.status === "stopped";
    el.failed.classList.toggle("stopped", stopped);
    el.failedTitle.textContent = stopped ? "만들기를 중지했어요" : "광고를 만들지 못했어요";
    const err = st.error || {};
    const field = fieldOf(err.field);
    let detail = stopped ? "필요하면 다시 만들기를 눌러 주세요." : "잠시 후 다시 시도해 주세요.";
    if (!stopped && field) detail = koreanMessage(field, { ...err, status: 422 });
    el.failedDetail.textContent = err.message && !stopped ? `${detail} (서버 메시지: ${err.message})` : detail;
  }

  function render(st) {
    if (!st || st.job_id !== state.jobId) return;
    state.last = st;
    const status = st.status;
    el.result.dataset.state = status;
    el.empty.hidden = true;
    const running = !TERMINAL.has(status);
    el.progress.hidden = !running;
    el.done.hidden = status !== "completed";
    el.failed.hidden = status !== "failed" && status !== "stopped";
    setBadge(STATUS_WORDS[status], { completed: "ok", failed: "err", stopped: "", queued: "run", running: "run" }[status]);
    renderProgress(st);
    if (running) {
      el.stop.disabled = false;
      el.stop.textContent = "중지";
      el.strip.hidden = true;
      if (st.step1_result_url) showImage(st.step1_result_url, "preview");
      el.caption.textContent = st.step1_result_url ? "배경이 먼저 완성됐어요. 문구를 올리는 중이에요." : "";
      return;
    }
    if (status === "completed") renderDone(st);
    else {
      renderFailed(st);
      if (el.image.dataset.kind !== "final") el.figure.hidden = !el.image.dataset.src;
    }
    loadRecent();
  }

  function renderMissing() {
    el.result.dataset.state = "failed";
    el.progress.hidden = true;
    el.failed.hidden = false;
    el.failedTitle.textContent = "이 작업을 찾을 수 없어요";
    el.failedDetail.textContent = "서버 데이터가 지워졌을 수 있어요.";
  }

  // ---------------------------------------------------------------- recent jobs

  function markCurrentRecent() {
    for (const item of el.recentList.children) item.classList.toggle("current", item.dataset.jobId === state.jobId);
  }

  function recentItem(job) {
    const thumb = make("span", { class: "recent-thumb" });
    if (job.status === "completed" && job.final_result) {
      const final = `/files/${encodeURIComponent(job.job_id)}/${job.final_result.split(/[\\/]/).pop()}`;
      const img = make("img", { src: final.replace(/final_(\d+)\.png$/, "preview_$1.jpg"), alt: "", loading: "lazy" });
      img.addEventListener("error", () => { if (img.src !== new URL(final, location.href).href) img.src = final; }, { once: true });
      thumb.append(img);
    } else {
      thumb.textContent = STATUS_WORDS[job.status] || job.status;
    }
    const button = make("button", { type: "button" }, [
      thumb,
      make("span", { class: "recent-info" }, [
        make("span", { class: "recent-copy", text: job.text_content || "(문구 없음)" }),
        make("span", { class: "recent-meta" }, [
          make("span", { class: `st-${job.status}`, text: STATUS_WORDS[job.status] || job.status }),
          make("span", { text: timeAgo(job.created_at) }),
        ]),
      ]),
    ]);
    button.addEventListener("click", () => openJob(job.job_id));
    return make("li", { class: "recent-item", "data-job-id": job.job_id }, [button]);
  }

  let recentTimer = null;
  function loadRecent() {
    clearTimeout(recentTimer);
    recentTimer = setTimeout(async () => {
      try {
        const response = await nanococoaFetch("/api/jobs?limit=12&kind=ad");
        if (!response.ok) return;
        const { jobs } = await response.json();
        el.recentList.replaceChildren(...jobs.map(recentItem));
        markCurrentRecent();
      } catch {
        // The list is a convenience; the next refresh tries again.
      }
    }, 50);
  }

  async function openJob(jobId) {
    stopWatching();
    state.jobId = jobId;
    state.variant = 0;
    state.last = null;
    resetImage();
    el.rerunInput.value = "";
    markCurrentRecent();
    try {
      const response = await nanococoaFetch(`/status/${encodeURIComponent(jobId)}`);
      if (!response.ok) {
        renderMissing();
        return;
      }
      const st = await response.json();
      render(st);
      if (!TERMINAL.has(st.status)) watch(jobId, `/jobs/${jobId}/events`);
      revealResult();
    } catch {
      renderMissing();
    }
  }

  // ---------------------------------------------------------------- start

  function init() {
    bindUpload();
    bindCounter(el.copy, el.copyCount, "copy");
    bindCounter(el.sub, el.subCount, "sub_copy");
    el.size.addEventListener("change", () => {
      clearError("size");
      describeSize();
    });
    el.form.addEventListener("submit", submitForm);
    el.rerunForm.addEventListener("submit", submitRerun);
    el.rerunInput.addEventListener("input", () => clearError("rerun_copy"));
    el.stop.addEventListener("click", stopJob);
    el.recentRefresh.addEventListener("click", loadRecent);
    loadStyles();
    loadRecent();
  }

  init();
})();
