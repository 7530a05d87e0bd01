// Gatehouse dashboard: small conveniences on top of pages that work without them.
//   [data-copy="ID"]      a button that copies the value of the element with that id
//   form[data-confirm]    asks before submitting (destructive actions)
//   .menu-toggle          folds the navigation away on narrow screens
(function () {
  'use strict';
  document.documentElement.classList.add('js');

  function ready(fn) {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', fn);
    else fn();
  }

  ready(function () {
    document.querySelectorAll('button[data-copy]').forEach(function (btn) {
      var target = document.getElementById(btn.getAttribute('data-copy'));
      if (!target) return;
      btn.hidden = false;
      var label = btn.textContent;
      btn.addEventListener('click', function () {
        var text = 'value' in target ? target.value : target.textContent;
        var done = function () {
          btn.textContent = 'Copied';
          setTimeout(function () { btn.textContent = label; }, 2000);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () { select(target); });
        } else {
          select(target);
          try { if (document.execCommand('copy')) done(); } catch (e) { /* the text stays selected */ }
        }
      });
    });

    document.querySelectorAll('form[data-confirm]').forEach(function (form) {
      form.addEventListener('submit', function (ev) {
        if (!window.confirm(form.getAttribute('data-confirm'))) ev.preventDefault();
      });
    });

    var toggle = document.querySelector('.menu-toggle');
    var nav = toggle && document.getElementById(toggle.getAttribute('aria-controls'));
    if (toggle && nav) {
      toggle.hidden = false;
      nav.classList.add('collapsed');
      toggle.addEventListener('click', function () {
        var open = nav.classList.toggle('collapsed') === false;
        toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
      });
    }
  });

  function select(el) {
    if (el.select) { el.focus(); el.select(); }
  }
})();
