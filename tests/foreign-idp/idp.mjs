// idp.mjs - an identity provider that is not ours, for tests/foreign.
//
// panva's oidc-provider (an OpenID Certified implementation of OAuth 2.0 and
// OpenID Connect, pinned in package.json) mounted on Microsoft identity
// platform's paths, so that the plugin can be pointed at it with
// O365MAIL_AUTHORITY_URL exactly as at login.microsoftonline.com:
//
//   /{tenant}/oauth2/v2.0/authorize     authorization endpoint (code + PKCE)
//   /{tenant}/oauth2/v2.0/token         token endpoint (code, refresh_token)
//   /{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/discovery/v2.0/keys
//
// Everything OAuth is oidc-provider's own code: PKCE is required for the
// public client and checked, codes are single use, refresh tokens rotate and
// a reused one revokes the grant, errors are RFC 6749 JSON (no AADSTS codes,
// no trace ids). What this file adds is only what a deployment adds around
// the library: one account, a sign-in page with a password, a consent page
// (accept or cancel), and a stand-in for Graph's GET /v1.0/me that accepts
// the access tokens this provider issued (it asks the provider, as a
// resource server would through introspection).
//
// For the tests, an admin API under /__idp/ (never under the provider's
// paths): GET /__idp/stats counts requests (token_requests: every grant
// answered; refresh_requests: those of the refresh_token grant;
// refreshes: the refresh_token grants decided, i.e. granted or refused as
// invalid_grant, not those refused only for their scope list, which the
// plugin repeats without it; and the token endpoint's requests in flight
// now, at most at once, held, dropped); POST
// /__idp/token-control?hold=1|0&delay=MS holds every token request until
// hold=0 (a request whose client went away while held is dropped unseen,
// as if it never arrived), or delays each by MS before the provider sees
// it; POST /__idp/stats?reset=1 zeroes the maximum in flight.
//
// Usage: node idp.mjs --port 0 --port-file F --tenant T --client-id ID
//                     --redirect-uri URI --user UPN --password PW [--name N]
// Listens on 127.0.0.1 only; writes the port to F once listening; exits on
// SIGTERM/SIGINT, or by itself when its parent process goes away.
import { writeFileSync, renameSync } from 'node:fs';
import http from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

function args(argv) {
  const out = {};
  for (let i = 2; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) {
      throw new Error(`bad argument ${argv[i]}`);
    }
    out[argv[i].slice(2)] = argv[i + 1];
  }
  for (const k of ['port-file', 'tenant', 'client-id', 'redirect-uri', 'user', 'password']) {
    if (!out[k]) throw new Error(`--${k} is required`);
  }
  return out;
}

const opt = args(process.argv);
const GRAPH = 'https://graph.microsoft.com';
// What Graph would grant for the scopes the plugin asks for.
const GRAPH_SCOPES = 'User.Read Mail.ReadWrite Mail.ReadWrite.Shared Mail.Send Mail.Send.Shared';
const account = {
  id: 'a1b2c3d4-0000-4000-8000-00000000f00d',
  upn: opt.user,
  name: opt.name || 'Foreign User',
};
const stats = {
  token_requests: 0,
  refresh_requests: 0,
  refreshes: 0,
  me_requests: 0,
  sign_ins: 0,
  consents: 0,
  cancels: 0,
  token_in_flight: 0,
  token_max_in_flight: 0,
  token_held: 0,
  token_dropped: 0,
  last_token_at: 0,
};
// /__idp/token-control: the test's hand on the token endpoint.
const control = { hold: false, delay: 0, held: [] };

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head>`
    + `<body><h1>${esc(title)}</h1>${body}</body></html>`;
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      data += c;
      if (data.length > 65536) reject(new Error('form too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(data)));
    req.on('error', reject);
  });
}

function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

function json(res, status, obj) {
  send(res, status, 'application/json', JSON.stringify(obj));
}

async function main() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(Number(opt.port || 0), '127.0.0.1', resolve));
  const port = server.address().port;
  const base = `http://127.0.0.1:${port}`;
  const t = `/${opt.tenant}`;

  const provider = new Provider(`${base}${t}/v2.0`, {
    clients: [{
      client_id: opt['client-id'],
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [opt['redirect-uri']],
    }],
    routes: {
      authorization: `${t}/oauth2/v2.0/authorize`,
      token: `${t}/oauth2/v2.0/token`,
      jwks: `${t}/discovery/v2.0/keys`,
      userinfo: `${t}/openid/userinfo`,
      end_session: `${t}/oauth2/v2.0/logout`,
      revocation: `${t}/oauth2/v2.0/revoke`,
      introspection: `${t}/oauth2/v2.0/introspect`,
    },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    // A fresh RS256 key per run (ID tokens are signed with it).
    jwks: { keys: [{ ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'RS256' }] },
    pkce: { required: () => true },
    ttl: { AccessToken: 3600, AuthorizationCode: 600, IdToken: 3600, RefreshToken: 86400, Interaction: 600, Session: 3600, Grant: 86400 },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // The plugin, like Microsoft's clients, names Graph's permissions
        // without a resource parameter: Graph is the default resource.
        defaultResource: () => GRAPH,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== GRAPH) throw new Provider.errors.InvalidTarget();
          return { scope: GRAPH_SCOPES, audience: GRAPH, accessTokenFormat: 'opaque', accessTokenTTL: 3600 };
        },
      },
    },
    // OpenID Connect Core section 11 grants offline_access only with
    // prompt=consent, and oidc-provider drops the scope otherwise; Microsoft
    // does not apply that rule (a refresh token comes with offline_access
    // and no prompt), and the plugin must not force a consent prompt on
    // every sign-in. So refresh tokens follow the client's grant types.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    findAccount: (_ctx, sub) => (sub === account.id ? {
      accountId: account.id,
      claims: () => ({ sub: account.id, name: account.name, preferred_username: account.upn, email: account.upn }),
    } : undefined),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  });
  const counted = (ctx, err) => {
    stats.token_requests += 1;
    if (ctx.oidc?.params?.grant_type !== 'refresh_token') return;
    stats.refresh_requests += 1;
    if (!err || err.error === 'invalid_grant') stats.refreshes += 1;
  };
  provider.on('grant.success', (ctx) => { counted(ctx, null); if (process.env.IDP_DEBUG) console.error(JSON.stringify(ctx.body)); });
  provider.on('grant.error', (ctx, err) => { counted(ctx, err); });

  // Every request to the token endpoint passes here before the provider
  // reads it: counted in flight, held or delayed as the test asked.
  const tokenPath = `${t}/oauth2/v2.0/token`;
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'POST' || ctx.path !== tokenPath) return next();
    stats.token_in_flight += 1;
    stats.token_max_in_flight = Math.max(stats.token_max_in_flight, stats.token_in_flight);
    stats.last_token_at = Date.now();
    try {
      if (control.hold || control.delay > 0) {
        let gone = false;
        const onClose = () => { gone = true; };
        ctx.req.socket.once('close', onClose);
        if (control.hold) {
          stats.token_held += 1;
          await new Promise((resolve) => control.held.push(resolve));
          stats.token_held -= 1;
        } else {
          await new Promise((resolve) => setTimeout(resolve, control.delay));
        }
        ctx.req.socket.off('close', onClose);
        if (gone || ctx.req.socket.destroyed) {
          stats.token_dropped += 1;
          ctx.respond = false;
          return undefined;
        }
      }
      return await next();
    } finally {
      stats.token_in_flight -= 1;
    }
  });

  // The sign-in and consent pages: plain forms, as a browser would see them.
  async function interaction(req, res, uid, action) {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) return send(res, 400, 'text/plain', 'interaction mismatch');
    const prompt = details.prompt.name;
    if (req.method === 'GET' && action === '') {
      if (prompt === 'login') {
        return send(res, 200, 'text/html', page('Sign in', `
<form id="signin" method="post" action="/interaction/${esc(uid)}/login">
  <input type="text" name="username" value="${esc(details.params.login_hint || '')}">
  <input type="password" name="password">
  <button type="submit">Sign in</button>
</form>${details.lastSubmission?.error ? '<p class="error">Wrong user name or password.</p>' : ''}`));
      }
      return send(res, 200, 'text/html', page('Permissions requested', `
<p>The app asks for: ${esc(details.params.scope)}</p>
<form id="accept" method="post" action="/interaction/${esc(uid)}/confirm"><button type="submit">Accept</button></form>
<form id="cancel" method="post" action="/interaction/${esc(uid)}/abort"><button type="submit">Cancel</button></form>`));
    }
    if (req.method !== 'POST') return send(res, 405, 'text/plain', 'method not allowed');
    const form = await readForm(req);
    if (action === '/login' && prompt === 'login') {
      if (form.get('username') !== account.upn || form.get('password') !== opt.password) {
        return send(res, 200, 'text/html', page('Sign in', `
<form id="signin" method="post" action="/interaction/${esc(uid)}/login">
  <input type="text" name="username" value="">
  <input type="password" name="password">
  <button type="submit">Sign in</button>
</form><p class="error">Wrong user name or password.</p>`));
      }
      stats.sign_ins += 1;
      return provider.interactionFinished(req, res, { login: { accountId: account.id } },
        { mergeWithLastSubmission: false });
    }
    if (action === '/confirm' && prompt === 'consent') {
      const d = details.prompt.details;
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
      if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes || {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      stats.consents += 1;
      return provider.interactionFinished(req, res, { consent: { grantId } },
        { mergeWithLastSubmission: true });
    }
    if (action === '/abort') {
      stats.cancels += 1;
      return provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'End-User aborted interaction',
      }, { mergeWithLastSubmission: false });
    }
    return send(res, 400, 'text/plain', `unexpected ${action} at prompt ${prompt}`);
  }

  // Stand-in for Graph's GET /v1.0/me and /v1.0/me/mailFolders/inbox (what
  // the plugin reads to connect and to test a connection) and the inbox's
  // messages/delta (an empty inbox, for the new_email event card): a resource server
  // that trusts this provider's opaque access tokens for the Graph audience.
  async function me(req, res, what) {
    stats.me_requests += 1;
    const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    const token = m ? await provider.AccessToken.find(m[1]) : undefined;
    if (!token || token.isExpired || token.aud !== GRAPH || !token.scopes.has('User.Read')) {
      return json(res, 401, { error: { code: 'InvalidAuthenticationToken', message: 'Access token is invalid.' } });
    }
    if (what === 'delta') {
      // An inbox that stays empty: one page, and the link to ask again.
      return json(res, 200, {
        value: [],
        '@odata.deltaLink': `${base}/v1.0/me/mailFolders/AAMkInbox/messages/delta?$deltatoken=${Date.now()}`,
      });
    }
    if (what === 'inbox') {
      return json(res, 200, {
        id: 'AAMkInbox', displayName: 'Inbox', parentFolderId: 'AAMkRoot', childFolderCount: 0, unreadItemCount: 0, totalItemCount: 0,
      });
    }
    return json(res, 200, {
      id: account.id, userPrincipalName: account.upn, mail: account.upn, displayName: account.name,
    });
  }

  const oidc = provider.callback();
  server.on('request', (req, res) => {
    const url = new URL(req.url, base);
    const im = /^\/interaction\/([A-Za-z0-9_-]+)(\/login|\/confirm|\/abort)?$/.exec(url.pathname);
    let work;
    if (im) work = interaction(req, res, im[1], im[2] || '');
    else if (url.pathname === '/v1.0/me' && req.method === 'GET') work = me(req, res, 'me');
    else if (url.pathname === '/v1.0/me/mailFolders/inbox' && req.method === 'GET') work = me(req, res, 'inbox');
    else if (url.pathname === '/__idp/stats') {
      if (req.method === 'POST' && url.searchParams.get('reset') === '1') stats.token_max_in_flight = stats.token_in_flight;
      work = Promise.resolve(json(res, 200, stats));
    } else if (url.pathname === '/__idp/token-control' && req.method === 'POST') {
      if (url.searchParams.has('delay')) control.delay = Math.max(0, Number(url.searchParams.get('delay')) || 0);
      if (url.searchParams.has('hold')) {
        control.hold = url.searchParams.get('hold') === '1';
        if (!control.hold) control.held.splice(0).forEach((resolve) => resolve());
      }
      work = Promise.resolve(json(res, 200, { hold: control.hold, delay: control.delay, held: stats.token_held }));
    } else if (/^\/v1\.0\/me\/mailFolders\/[^/]+\/messages\/delta$/.test(url.pathname) && req.method === 'GET') {
      work = me(req, res, 'delta');
    }
    else if (url.pathname.startsWith('/v1.0/')) {
      work = Promise.resolve(json(res, 404, { error: { code: 'ResourceNotFound', message: `no ${url.pathname} here` } }));
    } else return oidc(req, res);
    work.catch((err) => {
      if (!res.headersSent) send(res, 500, 'text/plain', `idp: ${err.message}`);
      else res.end();
    });
  });

  const tmp = `${opt['port-file']}.tmp`;
  writeFileSync(tmp, `${port}\n`);
  renameSync(tmp, opt['port-file']);

  const stop = () => { server.close(); server.closeAllConnections(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const parent = process.ppid;
  setInterval(() => { if (process.ppid !== parent) stop(); }, 500).unref();
}

main().catch((err) => {
  process.stderr.write(`idp: ${err.stack || err}\n`);
  process.exit(1);
});
