/* Staff login form shared by the field form and the upload page: posts #login-form to
   auth/login (a session cookie), shows the reason in #login-error, then calls onLoggedIn. */
(function () {
  "use strict";
  window.staffLogin = function (root, onLoggedIn) {
    const form = document.getElementById("login-form");
    const error = document.getElementById("login-error");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      try {
        let response;
        try {
          response = await fetch(`${root}auth/login`, { method: "POST",
            body: new FormData(form), credentials: "same-origin" });
        } catch (err) { throw new Error("网络不通，请联网后再登录"); }
        if (response.status === 429) throw new Error("登录失败次数太多，请稍后再试");
        if (!response.ok) throw new Error("用户名或密码不对，或账号已停用");
        await onLoggedIn();
      } catch (err) { error.textContent = err.message; }
    });
  };
})();
