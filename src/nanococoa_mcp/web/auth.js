// The page's way to the API when the server asks for a credential: `nanococoaFetch` is fetch with the tab's API
// key as a bearer token. A 401 asks for the key (in Korean), keeps it for this tab only (sessionStorage) and
// retries; the server then also hands the tab an HttpOnly cookie for what the page loads by URL (images,
// downloads, the site preview, the progress stream), checked like the key on every use.
"use strict";

(() => {
  const STORE = "nanococoa_api_key";
  let asking = null; // one question at a time, however many calls were refused

  const keyNow = () => sessionStorage.getItem(STORE);

  function withKey(init, key) {
    const headers = new Headers((init && init.headers) || {});
    if (key) headers.set("Authorization", `Bearer ${key}`);
    return { ...(init || {}), headers };
  }

  async function openSession(key) {
    const response = await fetch("/auth/session", { method: "POST", headers: { Authorization: `Bearer ${key}` } });
    return response.ok ? response.json() : null;
  }

  function dialog() {
    let d = document.getElementById("auth-dialog");
    if (d) return d;
    d = document.createElement("dialog");
    d.id = "auth-dialog";
    d.setAttribute("aria-labelledby", "auth-title");
    d.innerHTML =
      '<form method="dialog" class="auth-form">' +
      '<h2 id="auth-title">API 키가 필요해요</h2>' +
      '<p id="auth-help">이 서버는 가게마다 받은 API 키로 써요. 관리자에게 받은 키(nck_로 시작)를 넣어 주세요. ' +
      "키는 이 탭에만 보관되고, 탭을 닫으면 지워져요.</p>" +
      '<label for="auth-key">API 키</label>' +
      '<input id="auth-key" name="key" type="password" autocomplete="off" required aria-describedby="auth-help">' +
      '<p id="auth-error" role="alert" hidden></p>' +
      '<button type="submit" id="auth-submit">확인</button>' +
      "</form>";
    document.body.append(d);
    d.addEventListener("cancel", (event) => event.preventDefault()); // nothing works without a key
    return d;
  }

  function askKey(refused) {
    if (asking) return asking;
    asking = new Promise((resolve) => {
      const d = dialog();
      const input = d.querySelector("#auth-key");
      const error = d.querySelector("#auth-error");
      error.hidden = !refused;
      error.textContent = refused ? "이 키로는 들어갈 수 없어요. 키를 다시 확인해 주세요." : "";
      const form = d.querySelector("form");
      form.onsubmit = async (event) => {
        event.preventDefault();
        const key = input.value.trim();
        if (!key) return;
        const who = await openSession(key);
        if (!who) {
          error.hidden = false;
          error.textContent = "이 키로는 들어갈 수 없어요. 키를 다시 확인해 주세요.";
          input.select();
          return;
        }
        sessionStorage.setItem(STORE, key);
        document.documentElement.dataset.tenant = who.tenant;
        d.close();
        asking = null;
        resolve(key);
      };
      if (!d.open) d.showModal();
      input.focus();
    });
    return asking;
  }

  window.nanococoaFetch = async (input, init) => {
    const key = keyNow();
    const response = await fetch(input, withKey(init, key));
    if (response.status !== 401) return response;
    if (key) sessionStorage.removeItem(STORE); // refused (revoked, or a token that expired)
    const fresh = await askKey(Boolean(key));
    return fetch(input, withKey(init, fresh));
  };

  // A tab that already holds a key (a reload): renew the cookie its images need.
  const kept = keyNow();
  if (kept) {
    openSession(kept).then((who) => {
      if (who) document.documentElement.dataset.tenant = who.tenant;
    });
  }
})();
