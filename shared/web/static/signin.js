// Sign in with a personal link: the token is in the link's fragment (#...), which browsers
// never send to a server; post it once, then drop it from the address bar.
(() => {
  "use strict";
  const status = document.getElementById("signin-status");
  async function signIn(token) {
    const response = await fetch("/signin", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
    history.replaceState(null, "", "/signin");
    if (!response.ok) {
      let message = `error ${response.status}`;
      try {
        message = (await response.json()).error || message;
      } catch (_) {
        /* keep the status */
      }
      status.textContent = message;
      return;
    }
    window.location.assign((await response.json()).redirect || "/");
  }
  let token = window.location.hash.slice(1);
  try {
    token = decodeURIComponent(token);
  } catch (_) {
    /* not %-encoded: the token as it is (the server says if it is wrong) */
  }
  if (token) signIn(token);
  document.getElementById("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn(document.getElementById("token").value.trim());
  });
})();
