// Entry: two views behind hash routes (#/playground, #/dashboard), an API-key
// dialog for gateways with bearer auth.
import './style.css';

import { apiKey, setApiKey } from './api';
import { Dashboard } from './dashboard';
import { Playground } from './playground';

const main = document.getElementById('main')!;
const playground = new Playground();
const dashboard = new Dashboard();

function route(): void {
  const view = location.hash === '#/dashboard' ? 'dashboard' : 'playground';
  document.body.classList.toggle('fixed', view === 'playground');
  for (const v of ['playground', 'dashboard']) {
    const a = document.getElementById('nav-' + v)!;
    if (v === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (view === 'dashboard') {
    main.replaceChildren(dashboard.root);
    dashboard.show();
    document.title = 'Dashboard · hermes-router';
  } else {
    dashboard.hide();
    main.replaceChildren(playground.root);
    document.title = 'Playground · hermes-router';
  }
}

window.addEventListener('hashchange', () => {
  route();
  main.focus({ preventScroll: true });
});
route();

const dialog = document.getElementById('key-dialog') as HTMLDialogElement;
const keyInput = document.getElementById('key-input') as HTMLInputElement;
const keyButton = document.getElementById('key-button')!;
function keyLabel(): void {
  keyButton.textContent = apiKey() ? 'API key ✓' : 'API key';
}
keyButton.addEventListener('click', () => {
  keyInput.value = apiKey();
  dialog.showModal();
});
dialog.addEventListener('close', () => {
  if (dialog.returnValue === 'save') {
    setApiKey(keyInput.value.trim());
    keyLabel();
    void playground.loadRouting();
  }
  keyButton.focus();
});
keyLabel();
