// Wicket's pages work without this script. It only adds conveniences:
// copy buttons for codes, and a location picker that switches on change.
// Passkeys are the exception: the browser's WebAuthn ceremony needs it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var el = document.getElementById(b.dataset.copy);
      el.select();
      var done = function () {
        b.textContent = "Copied";
        setTimeout(function () { b.textContent = "Copy"; }, 2000);
      };
      if (navigator.clipboard) {
        navigator.clipboard.writeText(el.value).then(done, function () { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy");
        done();
      }
    });
  });
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });
  document.querySelectorAll("[data-js-hide]").forEach(function (e) { e.hidden = true; });
  document.querySelectorAll("form[data-passkey]").forEach(passkeyForm);
});

// Passkeys: a form with data-passkey ("create" or "get") asks the browser
// for a passkey with the options (JSON) in data-options, and sends the
// answer in its "credential" field.
function fromB64url(s) {
  s = s.replace(/-/g, "+").replace(/_/g, "/");
  while (s.length % 4) { s += "="; }
  var bin = atob(s), out = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
  return out.buffer;
}

function toB64url(buf) {
  var b = new Uint8Array(buf), s = "";
  for (var i = 0; i < b.length; i++) { s += String.fromCharCode(b[i]); }
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function passkeyOptions(kind, json) {
  var pk = JSON.parse(json).publicKey;
  pk.challenge = fromB64url(pk.challenge);
  var list = kind === "create" ? (pk.excludeCredentials || []) : (pk.allowCredentials || []);
  list.forEach(function (c) { c.id = fromB64url(c.id); });
  if (kind === "create") { pk.user.id = fromB64url(pk.user.id); }
  return { publicKey: pk };
}

function passkeyAnswer(c) {
  var r = c.response;
  var out = { id: c.id, rawId: toB64url(c.rawId), type: c.type, response: { clientDataJSON: toB64url(r.clientDataJSON) },
    clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {} };
  if (c.authenticatorAttachment) { out.authenticatorAttachment = c.authenticatorAttachment; }
  if (r.attestationObject) {
    out.response.attestationObject = toB64url(r.attestationObject);
    if (r.getTransports) { out.response.transports = r.getTransports(); }
  } else {
    out.response.authenticatorData = toB64url(r.authenticatorData);
    out.response.signature = toB64url(r.signature);
    if (r.userHandle) { out.response.userHandle = toB64url(r.userHandle); }
  }
  return JSON.stringify(out);
}

function passkeyForm(form) {
  var kind = form.dataset.passkey, button = form.querySelector("button[type=submit]");
  var problem = form.querySelector("[role=alert]");
  var show = function (msg) {
    problem.textContent = msg;
    problem.hidden = false;
    button.disabled = false;
  };
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!window.PublicKeyCredential || !navigator.credentials) {
      show("This browser does not support passkeys. Open this page in a current browser, or on your phone.");
      return;
    }
    if (location.origin !== form.dataset.origin) {
      show("Passkeys work only at " + form.dataset.origin + ". Open this page there.");
      return;
    }
    problem.hidden = true;
    button.disabled = true;
    var opts = passkeyOptions(kind, form.dataset.options);
    var ask = kind === "create" ? navigator.credentials.create(opts) : navigator.credentials.get(opts);
    ask.then(function (c) {
      form.elements.credential.value = passkeyAnswer(c);
      form.submit();
    }, function (err) {
      if (err.name === "InvalidStateError") {
        show("This passkey is in your account already.");
      } else if (err.name === "NotAllowedError") {
        show(kind === "create" ? "No passkey was made: the request was cancelled or timed out. Try again." :
          "No passkey was used: the request was cancelled or timed out, or this browser has no passkey of your account. Try again, or use the browser or phone that has it.");
      } else {
        show("The passkey did not work (" + err.name + ": " + err.message + "). Try again.");
      }
    });
  });
}
