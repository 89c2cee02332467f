/* Upload progress for the branch list form (#upload-form): the form is sent by XMLHttpRequest so the
   browser reports how much of the file has gone; the page the server answers with (the receipt, or
   the form again with the refusal) then replaces this page's <main>. Without JavaScript the form posts
   normally to the same address, with the same fields (the CSRF token is a hidden field). */
(function () {
  'use strict';

  function bind() {
    var form = document.getElementById('upload-form');
    if (!form || !window.XMLHttpRequest || !window.FormData || !window.DOMParser) { return; }
    if (form.getAttribute('data-bound') === '1') { return; }
    form.setAttribute('data-bound', '1');

    form.addEventListener('submit', function (event) {
      if (!form.checkValidity()) { return; }
      event.preventDefault();
      var status = document.getElementById('upload-status');
      var bar = document.getElementById('upload-progress');
      var text = document.getElementById('upload-progress-text');
      var button = document.getElementById('upload');
      var sending = form.getAttribute('data-sending') || '{percent}%';
      var checking = form.getAttribute('data-checking') || '';
      var failed = form.getAttribute('data-failed') || 'failed';

      function say(message) { if (text) { text.textContent = message; } }

      if (status) { status.hidden = false; }
      if (bar) { bar.value = 0; }
      if (button) { button.disabled = true; }
      say(sending.replace('{percent}', '0'));

      var xhr = new XMLHttpRequest();
      xhr.open('POST', form.action);
      xhr.setRequestHeader('Accept', 'text/html');
      xhr.upload.addEventListener('progress', function (e) {
        if (!e.lengthComputable) { return; }
        var percent = Math.floor((e.loaded / e.total) * 100);
        if (bar) { bar.value = percent; }
        say(sending.replace('{percent}', String(percent)));
      });
      xhr.upload.addEventListener('load', function () {
        if (bar) { bar.removeAttribute('value'); }  /* indeterminate while the server checks the rows */
        say(checking);
      });
      xhr.addEventListener('load', function () {
        var type = xhr.getResponseHeader('Content-Type') || '';
        if (type.indexOf('text/html') === 0) {
          var doc = new DOMParser().parseFromString(xhr.responseText, 'text/html');
          var next = doc.querySelector('main');
          var here = document.querySelector('main');
          if (next && here) {
            here.replaceWith(document.importNode(next, true));
            if (doc.title) { document.title = doc.title; }
            var receipt = document.getElementById('receipt');
            var id = receipt ? receipt.getAttribute('data-submission-id') : null;
            if (id && /^[0-9]+$/.test(id) && window.history) {
              window.history.replaceState(null, '', '/submissions/' + id);  /* a reload shows the list, not a resend */
            }
            window.scrollTo(0, 0);
            bind();
            return;
          }
        }
        var detail = '';
        try { detail = JSON.parse(xhr.responseText).detail || ''; } catch (ignored) { detail = ''; }
        say(failed + ' (' + xhr.status + ')' + (detail ? ': ' + detail : ''));
        if (button) { button.disabled = false; }
      });
      xhr.addEventListener('error', function () {
        say(failed);
        if (button) { button.disabled = false; }
      });
      xhr.send(new FormData(form));
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', bind);
  } else {
    bind();
  }
}());
