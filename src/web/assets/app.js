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
  document.addEventListener('DOMContentLoaded', function () {
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
