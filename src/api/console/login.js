import { announce, api, ApiFailure, homeFor, ready } from './kadi.js';

const form = document.getElementById('login');
const msg = document.getElementById('message');
const btn = document.getElementById('submit');

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    announce(msg, 'Enter your user name and password.', 'error');
    return;
  }
  btn.disabled = true;
  try {
    const me = await api('POST', '/api/auth/login', { username, password });
    const next = new URLSearchParams(location.search).get('next');
    location.assign(next && next.startsWith('/console/') && !next.startsWith('/console/login') ? next : homeFor(me));
  } catch (e) {
    form.password.value = '';
    if (e instanceof ApiFailure && e.code === 'AUTH_RATE_LIMITED') {
      announce(msg, `Too many failed attempts. Try again in ${e.details?.retryAfterSeconds ?? 'a few'} seconds.`, 'error');
    } else if (e instanceof ApiFailure && e.status === 401) {
      announce(msg, 'User name or password is wrong, or the account is disabled.', 'error');
    } else {
      announce(msg, `Login failed: ${e.message}`, 'error');
    }
    form.password.focus();
  } finally {
    btn.disabled = false;
  }
});
ready();
