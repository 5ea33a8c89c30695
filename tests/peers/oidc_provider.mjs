// A real OpenID Connect provider (node-oidc-provider from npm) for the single
// sign-on tests, started by tests/peers/oidc.py:
//
//   node tests/peers/oidc_provider.mjs   with OIDC_TEST_CONFIG='{"port": N, "clients": [...], "users": {...}}'
//
// users: {"alice": {"password": "...", "email": "...", "groups": ["stashboard:team-a:owner"]}}.
// Its own small login page checks the password; consent is granted at once. It prints
// "listening <issuer>" once it answers, and stops on SIGTERM.
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair } from 'jose';

const config = JSON.parse(process.env.OIDC_TEST_CONFIG);
const issuer = `http://127.0.0.1:${config.port}`;
const users = config.users;

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'stashboard-test', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: config.clients.map((c) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
    ...c,
  })),
  jwks: { keys: [signingKey] },
  cookies: { keys: ['stashboard-test-cookie-key'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const user = users[id];
    if (!user) return undefined;
    return {
      accountId: id,
      // The test changes a user's groups between two sign-ins: read them each time.
      async claims() {
        const now = users[id];
        return {
          sub: id, email: now.email, email_verified: true, preferred_username: now.username || id,
          name: now.name || id, groups: now.groups || [],
        };
      },
    };
  },
});

function page(uid, error = '') {
  return `<!doctype html><html><head><title>Test IdP sign-in</title></head><body>
<h1>Test identity provider</h1>${error ? `<p role="alert">${error}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<label>IdP username <input name="login" autocomplete="off"></label>
<label>IdP password <input name="password" type="password"></label>
<button type="submit">Sign in at the IdP</button></form></body></html>`;
}

async function formBody(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return Object.fromEntries(new URLSearchParams(raw));
}

// Users may change between runs of a test: POST /test/users replaces them.
provider.use(async (ctx, next) => {
  if (ctx.path === '/test/users' && ctx.method === 'POST') {
    let raw = '';
    for await (const chunk of ctx.req) raw += chunk;
    Object.assign(users, JSON.parse(raw));
    ctx.body = { ok: true };
    return undefined;
  }
  const match = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.prompt.name === 'login') {
    if (ctx.method !== 'POST') {
      ctx.type = 'html';
      ctx.body = page(details.uid);
      return undefined;
    }
    const form = await formBody(ctx.req);
    const user = users[form.login];
    if (!user || user.password !== form.password) {
      ctx.type = 'html';
      ctx.body = page(details.uid, 'Wrong IdP username or password.');
      return undefined;
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: form.login } },
      { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(to);
    return undefined;
  }
  // consent: granted at once, for what the client asked
  const missing = details.prompt.details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  const to = await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } },
    { mergeWithLastSubmission: true });
  ctx.status = 303;
  ctx.redirect(to);
  return undefined;
});

const server = provider.listen(config.port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
