// overcast console: the few behaviours plain HTML lacks. No framework, no build step.
"use strict";
(function () {
  // Ask before destructive actions (forms or buttons marked data-confirm).
  document.addEventListener("submit", function (ev) {
    var button = ev.submitter;
    var msg = (button && button.getAttribute("data-confirm")) ||
      ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { ev.preventDefault(); }
  });

  // Image upload: stream the chosen file to the console, which streams it to the
  // image API; the progress bar follows the bytes sent.
  function wireUpload(form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var file = form.querySelector("input[type=file]").files[0];
      var bar = document.getElementById("upload-progress");
      var out = document.getElementById("upload-status");
      if (!file) { out.textContent = "Choose a file first."; return; }
      var data = new URLSearchParams(new FormData(form));
      data.delete("file");
      out.textContent = "Creating the image…";
      fetch(form.action, {method: "POST", body: data, headers: {"X-CSRF-Token": form.dataset.csrf}})
        .then(function (r) { return r.json().then(function (j) { return [r, j]; }); })
        .then(function (pair) {
          if (!pair[0].ok) { throw new Error(pair[1].message); }
          var xhr = new XMLHttpRequest();
          xhr.open("POST", pair[1].upload);
          xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
          xhr.setRequestHeader("Content-Type", "application/octet-stream");
          xhr.upload.onprogress = function (e) {
            if (e.lengthComputable) {
              bar.max = e.total; bar.value = e.loaded;
              out.textContent = "Uploading: " + Math.round(100 * e.loaded / e.total) + "%";
            }
          };
          xhr.onload = function () {
            var body = {}; try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
            if (xhr.status >= 200 && xhr.status < 300) {
              bar.value = bar.max;
              out.textContent = "Uploaded " + file.size + " bytes: ";
              var link = document.createElement("a");
              link.href = body.next || "/images"; link.id = "uploaded-image";
              link.textContent = "open the image";
              out.appendChild(link);
            } else { out.textContent = "Upload failed: " + (body.message || xhr.status); }
          };
          xhr.onerror = function () { out.textContent = "Upload failed: the connection broke."; };
          out.textContent = "Uploading: 0%";
          xhr.send(file);
        })
        .catch(function (e) { out.textContent = "Upload failed: " + e.message; });
    });
  }
  // Object upload: the file is the raw body of one request, which the console
  // streams into object storage under folder + file name; the bar follows the bytes.
  function wireObjectUpload(form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var file = form.querySelector("input[type=file]").files[0];
      var bar = document.getElementById("object-progress");
      var out = document.getElementById("object-status");
      if (!file) { out.textContent = "Choose a file first."; return; }
      var folder = form.querySelector("input[name=folder]").value.replace(/^\/+/, "");
      if (folder && folder.slice(-1) !== "/") { folder += "/"; }
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action + "?name=" + encodeURIComponent(folder + file.name));
      xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      if (file.type) { xhr.setRequestHeader("X-Object-Type", file.type); }
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) {
          bar.max = e.total; bar.value = e.loaded;
          out.textContent = "Uploading: " + Math.round(100 * e.loaded / e.total) + "%";
        }
      };
      xhr.onload = function () {
        var body = {}; try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
        if (xhr.status >= 200 && xhr.status < 300) {
          bar.max = file.size || 1; bar.value = bar.max;
          out.textContent = "Uploaded " + file.size + " bytes as " + body.name + ": ";
          var link = document.createElement("a");
          link.href = body.next; link.id = "uploaded-object";
          link.textContent = "show the folder";
          out.appendChild(link);
        } else { out.textContent = "Upload failed: " + (body.message || xhr.status); }
      };
      xhr.onerror = function () { out.textContent = "Upload failed: the connection broke."; };
      out.textContent = "Uploading: 0%";
      xhr.send(file);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("upload-form");
    if (form) { wireUpload(form); }
    var objects = document.getElementById("object-upload-form");
    if (objects) { wireObjectUpload(objects); }
  });
})();
