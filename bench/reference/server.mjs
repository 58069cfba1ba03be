// The benchmark's reference: panva's certified oidc-provider, configured like the IdP's
// bench clients (confidential, client_secret_basic, PKCE S256, code flow), with its
// development login and consent pages (devInteractions: any login, no password hashing)
// and its default in-memory storage.
//
//   REF_PORT=8200 node bench/reference/server.mjs
//
// Two clients differ only in their ID token algorithm: ref-rs256 (RSA 3072 bits, like
// the IdP's RS256 key) and ref-es256 (P-256). Both redirect to a callback nobody serves:
// the driver reads the code from the Location header.
import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.env.REF_PORT || 8200);
const issuer = `http://127.0.0.1:${port}`;
const CLIENT_SECRET = 'ref-secret-for-the-benchmark-only-0123456789abcdef';
const REDIRECT_URI = 'http://127.0.0.1:8765/callback';

function jwk(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: alg.toLowerCase() };
}

const client = (id, alg) => ({
  client_id: id,
  client_secret: CLIENT_SECRET,
  redirect_uris: [REDIRECT_URI],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: alg,
});

// The fixed account of the bench: whatever login the dev page receives maps to it.
const CLAIMS = {
  email: 'bench-00001@bench.bonuseco.test',
  email_verified: true,
  given_name: 'Banc',
  family_name: 'Essai 00001',
  name: 'Banc Essai 00001',
};

const provider = new Provider(issuer, {
  clients: [client('ref-rs256', 'RS256'), client('ref-es256', 'ES256')],
  jwks: {
    keys: [
      jwk('rsa', { modulusLength: 3072 }, 'RS256'),
      jwk('ec', { namedCurve: 'P-256' }, 'ES256'),
    ],
  },
  cookies: { keys: ['bench-cookie-key-0123456789abcdef'] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  async findAccount(ctx, sub) {
    return { accountId: sub, async claims() { return { sub, ...CLAIMS }; } };
  },
});
provider.on('server_error', (ctx, error) => console.error('server_error', error));

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider reference on ${issuer}`);
});
