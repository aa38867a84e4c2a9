// verify.js — on a public verification page (/v/CERT-…): compares the address's #fragment, the
// document hash the certificate's QR code carries (a browser never sends it to the server), with
// the hash the laboratory's registry holds, shown on the page, and says whether they match —
// again whenever the fragment changes (a hash typed or pasted into the address).
// Without JavaScript the page says the same facts; the reader compares by eye.
const shown = document.getElementById('doc-hash');
const out = document.getElementById('hash-check');

function compare() {
  if (!shown || !out)
    return;
  let fragment = '';
  try {
    fragment = decodeURIComponent(window.location.hash.slice(1)).trim().toLowerCase();
  } catch (e) { // a malformed escape: compared as typed
    fragment = window.location.hash.slice(1).trim().toLowerCase();
  }
  out.classList.remove('verdict-good', 'verdict-bad');
  if (fragment === '') {
    out.hidden = true;
    delete out.dataset.match;
    return;
  }
  const matches = fragment === shown.textContent.trim().toLowerCase();
  out.textContent = matches
    ? 'The hash in this address matches the document hash the laboratory holds.'
    : 'The hash in this address does NOT match the document hash the laboratory holds: the certificate you hold is not the one issued under this number.';
  out.classList.add(matches ? 'verdict-good' : 'verdict-bad');
  out.dataset.match = matches ? 'yes' : 'no';
  out.hidden = false;
}

compare();
window.addEventListener('hashchange', compare);
