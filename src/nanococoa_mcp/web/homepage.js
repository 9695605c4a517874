// nanococoa homepage page: fill in the shop's record, add product photos, follow the workflow node by node,
// open the finished site. Plain browser JavaScript, no build step; it talks only to this server's REST routes.
"use strict";

(() => {
  const MAX_PHOTOS = 4;
  const MAX_PHOTO_BYTES = 10 * 1024 * 1024;
  const POLL_MS = 1000;
  const TERMINAL = new Set(["success", "failed", "stopped"]);
  const PHONE = /^(?:0\d{1,3}-\d{3,4}-\d{4}|1[5-9]\d{2}-\d{4})$/;
  const REQUIRED = [
    "store_name", "store_type", "phone_number", "location", "store_strength",
    "advertising_goal", "target_customer", "advertising_media", "budget", "period",
  ];
  const OPTIONAL = ["opening_hours", "description"];
  // The workflow's nodes in order, in Korean. Unknown names still show, as the server wrote them.
  const NODES = [
    ["brainstorm", "회의"],
    ["concept", "컨셉"],
    ["marketing", "마케팅 전략"],
    ["structure", "구조 설계"],
    ["content", "콘텐츠"],
    ["images", "이미지"],
    ["header_footer", "머리글·바닥글"],
    ["pages", "페이지"],
    ["package", "마무리"],
  ];
  const NODE_ALIASES = {
    marketing_strategy: "marketing",
    site_structure: "structure",
    homepage_design: "structure",
    homepage_designer: "structure",
    content_design: "content",
    content_designer: "content",
    generate_images: "images",
    header: "header_footer",
    html: "pages",
    html_code: "pages",
    package_output: "package",
  };
  const NODE_LABELS = {
    brainstorm: "매니저·마케터·디자이너가 회의하는 중",
    concept: "가게 컨셉을 정하는 중",
    marketing: "마케팅 전략을 세우는 중",
    structure: "홈페이지 구조를 설계하는 중",
    content: "페이지에 들어갈 글을 쓰는 중",
    images: "광고 이미지를 만드는 중",
    header_footer: "머리글과 바닥글을 만드는 중",
    pages: "페이지를 만드는 중",
    package: "파일을 묶는 중",
  };
  const STATUS_WORDS = { queued: "대기 중", running: "만드는 중", success: "완성", failed: "실패", stopped: "중지됨" };
  const PAGE_NAMES = { "index.html": "첫 화면", "about.html": "가게 소개", "services.html": "메뉴·서비스", "contact.html": "오시는 길" };

  const $ = (id) => document.getElementById(id);
  const el = {
    form: $("store-form"),
    dropzone: $("dropzone"),
    photosInput: $("photos-input"),
    photoList: $("photo-list"),
    submit: $("submit-btn"),
    result: $("result"),
    badge: $("result-badge"),
    empty: $("result-empty"),
    progress: $("progress"),
    stepLabel: $("step-label"),
    percent: $("progress-percent"),
    bar: $("progress-bar"),
    fill: $("progress-fill"),
    stepMessage: $("step-message"),
    nodeList: $("node-list"),
    stop: $("stop-btn"),
    done: $("result-done"),
    preview: $("site-preview"),
    openSite: $("open-site"),
    zip: $("zip-link"),
    pageLinks: $("page-links"),
    doneNote: $("done-note"),
    failed: $("result-failed"),
    failedTitle: $("failed-title"),
    failedDetail: $("failed-detail"),
  };
  const state = { files: [], urls: [], jobId: null, timer: null };

  function make(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  }

  async function readProblem(response) {
    try {
      return { status: response.status, ...(await response.json()) };
    } catch {
      return { status: response.status, error: "http_error", message: `HTTP ${response.status}` };
    }
  }

  // ---------------------------------------------------------------- errors, in Korean, next to their field

  function fieldOf(serverField) {
    const name = String(serverField || "").replace(/\[\d+\]$/, "");
    if (name === "photos" || name === "photo_paths") return "photos";
    return REQUIRED.includes(name) || OPTIONAL.includes(name) ? name : "form";
  }

  function koreanMessage(field, problem) {
    const msg = (problem.message || "").toLowerCase();
    if (problem.status === 429 || problem.error === "queue_full") return "지금 만드는 작업이 많아요. 잠시 후 다시 눌러 주세요.";
    if (problem.status === 503) return "서버가 아직 준비 중이에요. 잠시 후 다시 시도해 주세요.";
    const tooLong = msg.includes("at most") && msg.includes("character");
    switch (field) {
      case "photos":
        if (msg.includes("no product photo") || msg.includes("at least one")) return "상품 사진을 한 장 이상 올려 주세요.";
        if (msg.includes("photos were given")) return `사진은 ${MAX_PHOTOS}장까지 올릴 수 있어요.`;
        if (msg.includes(" mb") || msg.includes("larger")) return "사진 용량이 너무 커요. 10MB 이하의 사진을 올려 주세요.";
        if (msg.includes("too small")) return "사진이 너무 작아요. 가로·세로 64픽셀 이상인 사진을 올려 주세요.";
        return "사진으로 읽을 수 없는 파일이 있어요. JPG, PNG, WebP, HEIC 사진을 올려 주세요.";
      case "phone_number":
        return "전화번호를 02-1234-5678, 010-1234-5678처럼 하이픈(-)을 넣어 적어 주세요.";
      case "budget":
        return "광고 예산을 만원 단위 숫자로 적어 주세요. 예: 500";
      case "period":
        return "광고 기간을 일 단위 숫자로 적어 주세요. 예: 30";
      case "form":
        return "요청을 처리하지 못했어요. 입력한 내용을 확인해 주세요.";
      default:
        if (tooLong) return "너무 길어요. 조금 줄여 주세요.";
        return "이 칸을 채워 주세요.";
    }
  }

  function slot(field) {
    return document.querySelector(`[data-error-for="${field}"]`) || document.querySelector('[data-error-for="form"]');
  }

  function showError(field, korean, serverMessage) {
    const target = slot(field);
    target.textContent = korean;
    if (serverMessage) target.append(make("span", { class: "server-msg", text: `서버 메시지: ${serverMessage}` }));
    const row = document.querySelector(`[data-field="${field}"]`);
    if (row) row.classList.add("has-error");
    const input = document.querySelector(`[name="${field}"]`);
    if (input && input.type !== "file") input.setAttribute("aria-invalid", "true");
  }

  function clearError(field) {
    slot(field).textContent = "";
    const row = document.querySelector(`[data-field="${field}"]`);
    if (row) row.classList.remove("has-error");
    const input = document.querySelector(`[name="${field}"]`);
    if (input) input.removeAttribute("aria-invalid");
  }

  function clearErrors() {
    for (const node of document.querySelectorAll("[data-error-for]")) clearError(node.dataset.errorFor);
  }

  // ---------------------------------------------------------------- photos

  function addFiles(fileList) {
    clearError("photos");
    for (const file of fileList) {
      if (state.files.length >= MAX_PHOTOS) {
        showError("photos", `사진은 ${MAX_PHOTOS}장까지 올릴 수 있어요.`);
        break;
      }
      if (file.size > MAX_PHOTO_BYTES) {
        showError("photos", `${file.name}: 사진 용량이 너무 커요. 10MB 이하의 사진을 올려 주세요.`);
        continue;
      }
      state.files.push(file);
    }
    renderPhotos();
  }

  function renderPhotos() {
    for (const url of state.urls) URL.revokeObjectURL(url);
    state.urls = state.files.map((file) => URL.createObjectURL(file));
    el.photoList.replaceChildren(
      ...state.files.map((file, i) => {
        const image = make("img", { src: state.urls[i], alt: `상품 사진 ${i + 1}` });
        const remove = make("button", { type: "button", class: "photo-remove", "aria-label": `${file.name} 빼기`, text: "×" });
        remove.addEventListener("click", () => {
          state.files.splice(i, 1);
          renderPhotos();
        });
        return make("li", { class: "photo-item" }, [image, make("span", { class: "photo-name", text: file.name }), remove]);
      }),
    );
  }

  function bindPhotos() {
    el.photosInput.addEventListener("change", () => {
      addFiles(el.photosInput.files);
      el.photosInput.value = "";
    });
    for (const type of ["dragenter", "dragover"]) {
      el.dropzone.addEventListener(type, (event) => {
        event.preventDefault();
        el.dropzone.classList.add("dragging");
      });
    }
    for (const type of ["dragleave", "drop"]) {
      el.dropzone.addEventListener(type, () => el.dropzone.classList.remove("dragging"));
    }
    el.dropzone.addEventListener("drop", (event) => {
      event.preventDefault();
      addFiles(event.dataTransfer.files);
    });
  }

  // ---------------------------------------------------------------- the form

  function value(name) {
    return el.form.elements[name].value.trim();
  }

  function checkForm() {
    let first = null;
    const fail = (field, message) => {
      showError(field, message);
      first = first || field;
    };
    if (state.files.length === 0) fail("photos", "상품 사진을 한 장 이상 올려 주세요.");
    for (const name of REQUIRED) {
      if (!value(name)) fail(name, "이 칸을 채워 주세요.");
    }
    if (value("phone_number") && !PHONE.test(value("phone_number"))) {
      fail("phone_number", koreanMessage("phone_number", {}));
    }
    for (const name of ["budget", "period"]) {
      if (value(name) && !/^\d+$/.test(value(name))) fail(name, koreanMessage(name, {}));
    }
    if (first) {
      const input = document.querySelector(`[name="${first}"]`);
      if (input && input.type !== "file") input.focus();
      else el.dropzone.scrollIntoView({ block: "center" });
    }
    return first === null;
  }

  async function submitForm(event) {
    event.preventDefault();
    clearErrors();
    if (!checkForm()) return;
    const data = new FormData();
    for (const name of [...REQUIRED, ...OPTIONAL]) {
      if (value(name)) data.append(name, value(name));
    }
    for (const file of state.files) data.append("photos", file, file.name);
    setBusy(true);
    try {
      const response = await nanococoaFetch("/homepage/generate", { method: "POST", body: data });
      if (response.status !== 202 && response.status !== 200) {
        const problem = await readProblem(response);
        const field = fieldOf(problem.field);
        showError(field, koreanMessage(field, problem), problem.message);
        return;
      }
      const st = await response.json();
      history.replaceState(null, "", `#job=${encodeURIComponent(st.job_id)}`);
      follow(st);
    } catch {
      showError("form", "서버에 연결하지 못했어요. 잠시 후 다시 시도해 주세요.");
    } finally {
      setBusy(false);
    }
  }

  function setBusy(busy) {
    el.submit.disabled = busy;
    el.submit.classList.toggle("busy", busy);
  }

  // ---------------------------------------------------------------- following the job

  function nodeKey(name) {
    return NODE_ALIASES[name] || name;
  }

  function follow(st) {
    clearTimeout(state.timer);
    state.jobId = st.job_id;
    render(st);
    el.result.scrollIntoView({ behavior: "smooth", block: "start" });
    if (!TERMINAL.has(st.status)) state.timer = setTimeout(() => poll(st.job_id), POLL_MS);
  }

  async function poll(jobId) {
    if (jobId !== state.jobId) return;
    try {
      const response = await nanococoaFetch(`/homepage/status/${encodeURIComponent(jobId)}`);
      if (response.status === 404) {
        renderMissing();
        return;
      }
      if (response.ok) {
        const st = await response.json();
        render(st);
        if (TERMINAL.has(st.status)) return;
      }
    } catch {
      // A dropped connection: try again at the next tick.
    }
    state.timer = setTimeout(() => poll(jobId), POLL_MS);
  }

  function setBadge(text, tone) {
    el.badge.hidden = !text;
    el.badge.textContent = text || "";
    el.badge.className = `badge ${tone || ""}`;
  }

  function renderNodes(st) {
    const current = nodeKey(st.current_step || "");
    const done = new Set((st.steps_done || []).map(nodeKey));
    const known = NODES.map(([key]) => key);
    el.nodeList.replaceChildren(
      ...NODES.map(([key, label]) => {
        const finished = st.status === "success" || (done.has(key) && key !== current);
        const cls = finished ? "done" : key === current ? "active" : "";
        return make("li", { class: cls, text: label, ...(key === current ? { "aria-current": "step" } : {}) });
      }),
    );
    if (current && !known.includes(current)) el.nodeList.append(make("li", { class: "active", text: current }));
  }

  function render(st) {
    const running = st.status === "queued" || st.status === "running";
    el.result.dataset.state = running ? "running" : st.status;
    el.empty.hidden = true;
    el.progress.hidden = !running;
    el.done.hidden = st.status !== "success";
    el.failed.hidden = st.status !== "failed" && st.status !== "stopped";
    setBadge(STATUS_WORDS[st.status] || st.status, { success: "ok", failed: "err", stopped: "warn" }[st.status] || "run");
    if (running) {
      const percent = Math.round(st.progress_percent || 0);
      const node = nodeKey(st.current_step || "");
      el.stepLabel.textContent = st.status === "queued" ? "차례를 기다리는 중" : NODE_LABELS[node] || node || "준비 중";
      el.percent.textContent = `${percent}%`;
      el.fill.style.width = `${percent}%`;
      el.bar.setAttribute("aria-valuenow", String(percent));
      el.stepMessage.textContent = st.message || "";
      el.stop.disabled = false;
      renderNodes(st);
    } else if (st.status === "success") {
      renderDone(st);
    } else {
      el.failed.classList.toggle("stopped", st.status === "stopped");
      el.failedTitle.textContent = st.status === "stopped" ? "홈페이지 만들기를 멈췄어요." : "홈페이지를 만들지 못했어요.";
      el.failedDetail.textContent =
        st.status === "stopped" ? "다시 만들려면 홈페이지 만들기를 눌러 주세요." : (st.error && st.error.message) || "";
    }
  }

  function renderDone(st) {
    const site = st.site_url;
    el.preview.src = site;
    el.openSite.href = site;
    el.zip.hidden = !st.zip_url;
    if (st.zip_url) el.zip.href = st.zip_url;
    el.pageLinks.replaceChildren(
      ...st.pages.map((page) =>
        make("li", {}, [make("a", { href: `${site}${page}`, target: "_blank", rel: "noopener", text: PAGE_NAMES[page] || page })]),
      ),
    );
    el.doneNote.textContent = `페이지 ${st.pages.length}개, 광고 이미지 ${st.generated_images}장을 만들었어요.`;
  }

  function renderMissing() {
    el.result.dataset.state = "failed";
    el.empty.hidden = true;
    el.progress.hidden = true;
    el.done.hidden = true;
    el.failed.hidden = false;
    setBadge("", "");
    el.failedTitle.textContent = "이 작업을 찾을 수 없어요.";
    el.failedDetail.textContent = "새로 만들려면 홈페이지 만들기를 눌러 주세요.";
  }

  async function stopJob() {
    if (!state.jobId) return;
    el.stop.disabled = true;
    try {
      const response = await nanococoaFetch(`/api/stop/${encodeURIComponent(state.jobId)}`, { method: "POST" });
      if (!response.ok) {
        const problem = await readProblem(response);
        el.stepMessage.textContent = `중지하지 못했어요 (${problem.message || response.status})`;
        el.stop.disabled = false;
        return;
      }
      el.stepMessage.textContent = "멈추는 중…";
    } catch {
      el.stop.disabled = false;
    }
  }

  // ---------------------------------------------------------------- start

  async function openFromHash() {
    const match = /job=([^&]+)/.exec(location.hash);
    if (!match) return;
    const jobId = decodeURIComponent(match[1]);
    try {
      const response = await nanococoaFetch(`/homepage/status/${encodeURIComponent(jobId)}`);
      if (!response.ok) {
        renderMissing();
        return;
      }
      follow(await response.json());
    } catch {
      renderMissing();
    }
  }

  function init() {
    bindPhotos();
    el.form.addEventListener("submit", submitForm);
    for (const name of [...REQUIRED, ...OPTIONAL]) {
      el.form.elements[name].addEventListener("input", () => clearError(name));
    }
    el.stop.addEventListener("click", stopJob);
    openFromHash();
  }

  init();
})();
