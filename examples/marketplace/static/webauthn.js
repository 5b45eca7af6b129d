// Passkeys for the marketplace: registration, second-factor verification
// and passwordless sign-in. The page loads this file with its CSP nonce;
// there is no inline script and no event-handler attribute anywhere.
//
// Each button carries its endpoints: data-begin (POST, answers the options
// JSON), data-finish (POST the credential's toJSON()), data-next (where to
// go on success). The server's options JSON goes straight to
// PublicKeyCredential.parseCreationOptionsFromJSON /
// parseRequestOptionsFromJSON.
(function () {
  "use strict";

  var supported = !!(window.PublicKeyCredential &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function");

  var messages = {
    unauthenticated: "Your session has ended: please log in again.",
    mfa_required: "Please confirm it is you first.",
    step_up_required: "Please confirm it is you with your second factor, then try again.",
    reauth_required: "Please enter your password again, then try again.",
    no_challenge: "This attempt expired: please try again.",
    verification_failed: "The passkey could not be verified. Please try again.",
    not_enrolled: "You have no passkey on this site yet.",
    not_found: "That passkey is not registered here.",
    credential_exists: "This passkey is registered already.",
    too_many_credentials: "You have the maximum number of passkeys: remove one first.",
    account_disabled: "This account is disabled.",
    email_unconfirmed: "Confirm your e-mail address first: open the link we mailed you.",
    body_too_large: "The browser sent too much data.",
    too_many_requests: "Too many attempts: please wait a little and try again."
  };

  function status(msg) {
    var el = document.getElementById("passkey-status");
    if (el) { el.textContent = msg; }
  }

  // localNext accepts only a path on this site, never another origin.
  function localNext(v, def) {
    if (typeof v === "string" && v.charAt(0) === "/" && v.charAt(1) !== "/" && v.charAt(1) !== "\\") {
      return v;
    }
    return def;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: body === undefined ? "" : JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) {
          var code = (data && data.error) || (res.status === 429 ? "too_many_requests" : "");
          var err = new Error(code || ("HTTP " + res.status));
          err.code = code;
          err.location = data && data.location;
          throw err;
        }
        return data;
      });
    });
  }

  function explain(err) {
    if (err && err.name === "NotAllowedError") {
      return "The request was cancelled or timed out.";
    }
    if (err && err.name === "InvalidStateError") {
      return "This authenticator is registered already.";
    }
    if (err && err.code && messages[err.code]) {
      return messages[err.code];
    }
    return "Something went wrong. Please try again.";
  }

  function afterError(err) {
    status(explain(err));
    if (err && (err.code === "step_up_required" || err.code === "mfa_required")) {
      window.location.assign("/mfa?next=" + encodeURIComponent(window.location.pathname + window.location.search));
    } else if (err && err.code === "reauth_required") {
      window.location.assign("/account/reauth?next=" + encodeURIComponent(window.location.pathname + window.location.search));
    }
  }

  function register(btn) {
    var nameEl = document.getElementById("passkey-name");
    var name = (nameEl && nameEl.value.trim()) || "Passkey";
    status("Follow your browser's prompt…");
    return post(btn.dataset.begin).then(function (opts) {
      return navigator.credentials.create({
        publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(opts.publicKey || opts)
      });
    }).then(function (cred) {
      return post(btn.dataset.finish + "?name=" + encodeURIComponent(name), cred.toJSON());
    }).then(function () {
      status("Passkey added.");
      window.location.assign(localNext(btn.dataset.next, "/account/mfa"));
    });
  }

  function authenticate(btn) {
    status("Follow your browser's prompt…");
    return post(btn.dataset.begin).then(function (opts) {
      return navigator.credentials.get({
        publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(opts.publicKey || opts)
      });
    }).then(function (cred) {
      return post(btn.dataset.finish, cred.toJSON());
    }).then(function () {
      status("Signed in.");
      window.location.assign(localNext(btn.dataset.next, "/account"));
    });
  }

  function wire(id, sectionID, action) {
    var btn = document.getElementById(id);
    if (!btn) { return; }
    var section = document.getElementById(sectionID);
    if (!supported) {
      return; // the section stays hidden: this browser has no passkeys
    }
    if (section) { section.hidden = false; }
    btn.addEventListener("click", function () {
      btn.disabled = true;
      action(btn).catch(afterError).then(function () { btn.disabled = false; });
    });
  }

  function init() {
    wire("passkey-register", "passkey-register-section", register);
    wire("passkey-verify", "passkey-verify-section", authenticate);
    wire("passkey-login", "passkey-login-section", authenticate);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
