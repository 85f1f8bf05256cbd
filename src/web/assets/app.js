// Progressive enhancement only: every page works without this file.
(function () {
  'use strict';
  var rules = {
    'min-length': function (v, min) { return Array.from(v.normalize('NFKC')).length >= min; },
    digit: function (v) { return /\p{Nd}/u.test(v); },
    upper: function (v) { return /\p{Lu}/u.test(v); },
    lower: function (v) { return /\p{Ll}/u.test(v); },
    special: function (v) { return /[^\p{L}\p{N}]/u.test(v.normalize('NFKC')); }
  };
  function tickRules(list, input) {
    var min = Number(list.getAttribute('data-min')) || 12;
    var items = list.querySelectorAll('li[data-rule]');
    var met = 0;
    items.forEach(function (li) {
      var check = rules[li.getAttribute('data-rule')];
      var ok = check ? check(input.value, min) : false;
      li.classList.toggle('ok', ok);
      if (ok) met++;
    });
    var status = document.querySelector('[data-rules-status]');
    if (status) status.textContent = met + ' / ' + items.length;
  }
  // The second factor's code page as a modal dialog (the seeds' pop-up). Without JavaScript, or in a
  // browser without <dialog>, the same content stays an ordinary page. The page's content moves into
  // the dialog, which the h1 labels and the paragraph saying where the code went describes. Escape
  // closes the dialog and puts the content back as the page: nothing lost, « Annuler » still there.
  function codeDialog() {
    var holder = document.querySelector('[data-dialog]');
    var main = holder && holder.closest('main');
    var dialog = document.createElement('dialog');
    if (!main || typeof dialog.showModal !== 'function') return;
    var title = main.querySelector('h1');
    if (title) {
      if (!title.id) title.id = 'titre-dialogue';
      dialog.setAttribute('aria-labelledby', title.id);
    }
    var said = holder.querySelector('[data-dialog-description]');
    if (said && said.id) dialog.setAttribute('aria-describedby', said.id);
    dialog.className = 'modal';
    while (main.firstChild) dialog.appendChild(main.firstChild);
    main.appendChild(dialog);
    var focusField = function () {
      var field = main.querySelector('[autofocus]');
      if (field) field.focus();
    };
    // Only Escape closes it (its forms post to the server): the page takes the content back.
    dialog.addEventListener('close', function () {
      while (dialog.firstChild) main.insertBefore(dialog.firstChild, dialog);
      main.removeChild(dialog);
      focusField();
    });
    dialog.showModal();
    focusField();
  }
  document.addEventListener('DOMContentLoaded', function () {
    codeDialog();
    var input = document.querySelector('[data-new-password]');
    var list = document.querySelector('[data-password-rules]');
    if (input && list) {
      input.addEventListener('input', function () { tickRules(list, input); });
      tickRules(list, input);
    }
    document.querySelectorAll('.js-only').forEach(function (el) { el.hidden = false; });
    var toggle = document.querySelector('[data-show-passwords]');
    if (toggle) {
      toggle.addEventListener('change', function () {
        document.querySelectorAll('input[autocomplete="new-password"]').forEach(function (field) {
          field.type = toggle.checked ? 'text' : 'password';
        });
      });
    }
  });
})();
