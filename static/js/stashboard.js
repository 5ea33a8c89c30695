// An object made in the "New …" dialog (templates/_inline_form.html) is added to the
// <select> the dialog was opened from and selected there; the dialog closes after a moment.
document.addEventListener("stash:created", function (event) {
  var detail = event.detail, select = document.getElementById(detail.select);
  if (select) {
    select.add(new Option(detail.label, detail.value, true, true));
    select.dispatchEvent(new Event("change", {bubbles: true}));
  }
  var dialog = document.getElementById("inline-dialog");
  if (dialog) setTimeout(function () { dialog.close(); }, 600);
});
