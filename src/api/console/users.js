import { announce, api, clear, el, errorText, ready, refuseUnless, start, table, when } from './kadi.js';

const me = await start('users');
const msg = document.getElementById('message');
const secret = document.getElementById('secret');
let roles = [];

function showPassword(name, password) {
  clear(secret, `Password for ${name} (shown once; hand it over in person): `, el('code', { id: 'generated' }, password));
  secret.className = 'notice ok';
}

async function load() {
  const { users } = await api('GET', '/api/users');
  clear(
    document.getElementById('users'),
    table(
      ['User', 'Role', 'Active', 'Last login', 'Created', ''],
      users.map((u) => {
        const sel = el('select', { 'aria-label': `role of ${u.name}` }, roles.map((r) => el('option', { value: r.role, selected: r.role === u.role }, r.role)));
        sel.addEventListener('change', () => act(() => api('PATCH', `/api/users/${u.id}`, { role: sel.value }), `${u.name} is now ${sel.value}.`));
        return [
          u.name,
          sel,
          u.active ? 'yes' : 'no',
          when(u.lastLoginAt),
          `${when(u.createdAt)} by ${u.createdBy}`,
          el(
            'span',
            { class: 'actions' },
            el('button', { type: 'button', class: 'secondary', onclick: () => act(() => api('PATCH', `/api/users/${u.id}`, { active: !u.active }), `${u.name} ${u.active ? 'disabled' : 'enabled'}.`) }, u.active ? 'Disable' : 'Enable'),
            el('button', { type: 'button', class: 'secondary', onclick: () => act(async () => { const r = await api('POST', `/api/users/${u.id}/password`, {}); showPassword(u.name, r.password); }, `Password of ${u.name} reset; their sessions were ended.`) }, 'Reset password'),
          ),
        ];
      }),
    ),
  );
}

async function act(f, done) {
  try {
    await f();
    announce(msg, done, 'ok');
  } catch (e) {
    announce(msg, errorText(e), 'error');
  }
  await load();
}

if (!refuseUnless(me, 'users.manage', 'manage users')) {
  ({ roles } = await api('GET', '/api/roles'));
  document.getElementById('role').append(...roles.map((r) => el('option', { value: r.role }, r.role)));
  clear(document.getElementById('roles'), table(['Role', 'What it is for', 'Permissions'], roles.map((r) => [r.role, r.description, r.permissions.join(', ')])));
  document.getElementById('new-user').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = document.getElementById('name').value.trim();
    try {
      const r = await api('POST', '/api/users', { name, role: document.getElementById('role').value });
      showPassword(r.user.name, r.password);
      announce(msg, `User ${r.user.name} (${r.user.role}) created.`, 'ok');
      document.getElementById('name').value = '';
      await load();
    } catch (e) {
      announce(msg, errorText(e), 'error');
    }
  });
  await load();
}
ready();
