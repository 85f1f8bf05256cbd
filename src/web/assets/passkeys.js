// Passkey ceremonies (« Ajouter une clé d'accès », /verification/cle), with @simplewebauthn/browser
// (/assets/vendor/simplewebauthn-browser.js, loaded before this file: window.SimpleWebAuthnBrowser).
// The page carries the server's options in data-options; the browser's answer goes into the form's
// `reponse` field and the form is submitted as usual, so the server answers with an ordinary page.
(function () {
  'use strict';
  document.addEventListener('DOMContentLoaded', function () {
    var box = document.querySelector('[data-passkey]');
    if (!box) return;
    var form = box.querySelector('[data-passkey-form]');
    var field = box.querySelector('[data-passkey-response]');
    var start = box.querySelector('[data-passkey-start]');
    var status = box.querySelector('[data-passkey-status]');
    var lib = window.SimpleWebAuthnBrowser;
    var say = function (key) { status.textContent = box.getAttribute('data-msg-' + key) || ''; };
    if (!form || !field || !start || !status) return;

    if (!lib || !lib.browserSupportsWebAuthn()) {
      form.hidden = true;
      say('unsupported');
      return;
    }
    form.hidden = false;

    var busy = false;
    start.addEventListener('click', function () {
      if (busy) return;
      var options;
      try {
        options = JSON.parse(box.getAttribute('data-options') || '');
      } catch (e) {
        say('failed');
        return;
      }
      busy = true;
      start.disabled = true;
      say('working');
      var ceremony = box.getAttribute('data-passkey') === 'register'
        ? lib.startRegistration({ optionsJSON: options })
        : lib.startAuthentication({ optionsJSON: options });
      ceremony.then(function (answer) {
        field.value = JSON.stringify(answer);
        form.submit();
      }, function (err) {
        busy = false;
        start.disabled = false;
        // NotAllowedError: the person cancelled, or the browser's timeout ran out.
        say(err && err.name === 'NotAllowedError' ? 'cancelled' : 'failed');
        start.focus();
      });
    });
  });
})();
