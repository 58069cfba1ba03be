// A browser-only BonusEco module: a public client (no secret, RFC 6749 2.1) that runs
// entirely in this page. The authorization code flow with PKCE S256 (RFC 7636), state
// and nonce checked, the issuer of the response checked (RFC 9207), the ID token's
// signature checked with WebCrypto against the IdP's JWKS, then userinfo, refresh,
// revocation (RFC 7009) and RP-initiated logout. The IdP lets this page read its
// answers because the page's origin is the origin of a redirect URI registered for the
// client (CORS); README.md says how to register and serve it.
//
// Tokens stay in memory: a reload forgets them (the IdP's session makes the next login
// one click). Only what must survive the trip to the IdP (state, nonce, PKCE verifier)
// goes to sessionStorage, and it is removed on return.
"use strict";

(() => {
  const config = window.BONUSECO_MODULE;
  const PENDING_LOGIN = "bonuseco-pending-login";
  const PENDING_LOGOUT = "bonuseco-pending-logout";
  const SIGNATURE_ALGORITHMS = {
    RS256: {
      key: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      verify: { name: "RSASSA-PKCS1-v1_5" },
    },
    ES256: {
      key: { name: "ECDSA", namedCurve: "P-256" },
      verify: { name: "ECDSA", hash: "SHA-256" },
    },
  };

  let provider = null; // the IdP's metadata (OpenID Connect Discovery 1.0)
  let keys = null; // its JWKS
  let keysFetchedAt = null; // when (Date.now())
  let tokens = null; // the last token response
  let identity = null; // the claims of the last verified ID token

  // A refusal this page explains to the person, in French.
  class ModuleError extends Error {}

  const byId = (id) => document.getElementById(id);

  function base64url(bytes) {
    let text = "";
    for (const byte of bytes) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromBase64url(text) {
    const padded = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(padded + "=".repeat((4 - (padded.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  function randomString() {
    return base64url(crypto.getRandomValues(new Uint8Array(32)));
  }

  async function s256(verifier) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    return base64url(new Uint8Array(digest)); // RFC 7636 4.2
  }

  // --- talking to the IdP ---------------------------------------------------------

  async function send(url, options) {
    try {
      return await fetch(url, { cache: "no-store", ...options });
    } catch {
      // fetch() rejects without telling why when the browser keeps the answer from the
      // page: an origin the IdP does not allow (CORS), or a network failure.
      throw new ModuleError(
        "La réponse de BonusEco n'a pas pu être lue par cette page : son adresse n'est " +
        "pas autorisée pour ce module (CORS), ou le serveur est injoignable.");
    }
  }

  async function json(response, what) {
    if (response.ok) return response.json();
    let reason = `statut ${response.status}`;
    try {
      const error = await response.json();
      reason = [error.error, error.error_description].filter(Boolean).join(" : ") || reason;
    } catch {
      // not JSON: the status says it
    }
    throw new ModuleError(`BonusEco a refusé ${what} (${reason}).`);
  }

  async function discover() {
    const url = `${config.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
    const metadata = await json(await send(url), "la découverte");
    if (metadata.issuer !== config.issuer) {
      throw new ModuleError("La configuration de BonusEco ne correspond pas à l'émetteur attendu.");
    }
    return metadata;
  }

  // Token endpoint (RFC 6749 3.2): a form, client_id for a public client (2.3.1 none).
  async function tokenRequest(fields, what) {
    const response = await send(provider.token_endpoint, {
      method: "POST",
      body: new URLSearchParams({ client_id: config.clientId, ...fields }),
    });
    return json(response, what);
  }

  // The JWKS, fetched again for a kid it lacks (a rotation), at most once a minute so that
  // unknown kids cannot make the page hammer the IdP (OIDC Core 10.1.1).
  async function signingKey(kid) {
    const find = () => keys && keys.keys.find((key) => key.kid === kid);
    if (!find() && (keysFetchedAt === null || Date.now() - keysFetchedAt > 60_000)) {
      keys = await json(await send(provider.jwks_uri), "ses clés");
      keysFetchedAt = Date.now();
    }
    const found = find();
    if (!found) throw new ModuleError("Le jeton d'identité est signé par une clé inconnue de BonusEco.");
    return found;
  }

  // OIDC Core 3.1.3.7: signature, iss, aud (azp), exp, nonce. ``previous`` is the ID token
  // a refresh replaces (OIDC Core 12.2: same person, same client).
  async function verifyIdToken(jwt, nonce, previous) {
    const [header, payload, signature] = (jwt || "").split(".");
    if (!signature) throw new ModuleError("BonusEco n'a pas envoyé de jeton d'identité.");
    const decode = (part) => JSON.parse(new TextDecoder().decode(fromBase64url(part)));
    const head = decode(header);
    const algorithm = SIGNATURE_ALGORITHMS[head.alg];
    if (!algorithm) throw new ModuleError(`Algorithme de signature refusé : ${head.alg}.`);
    const jwk = await signingKey(head.kid);
    const key = await crypto.subtle.importKey("jwk", jwk, algorithm.key, false, ["verify"]);
    const signed = new TextEncoder().encode(`${header}.${payload}`);
    if (!await crypto.subtle.verify(algorithm.verify, key, fromBase64url(signature), signed)) {
      throw new ModuleError("La signature du jeton d'identité est invalide.");
    }
    const claims = decode(payload);
    const audience = [].concat(claims.aud);
    const checks = [
      [claims.iss === provider.issuer, "émetteur"],
      [audience.includes(config.clientId), "destinataire"],
      [audience.length === 1 || claims.azp === config.clientId, "destinataire"],
      [claims.exp * 1000 > Date.now(), "expiration"],
      [nonce === null || claims.nonce === nonce, "nonce"],
      [!previous || claims.sub === previous.sub, "personne"],
    ];
    for (const [ok, what] of checks) {
      if (!ok) throw new ModuleError(`Jeton d'identité refusé (${what}).`);
    }
    return claims;
  }

  // UserInfo (OIDC Core 5.3) with the Authorization header (RFC 6750 2.1).
  async function userinfo() {
    const response = await send(provider.userinfo_endpoint, {
      headers: { Authorization: `Bearer ${tokens.access_token}` },
    });
    const claims = await json(response, "les informations de l'utilisateur");
    if (claims.sub !== identity.sub) {
      throw new ModuleError("Les informations reçues ne concernent pas la personne connectée.");
    }
    return claims;
  }

  // --- the steps --------------------------------------------------------------------

  async function login() {
    const pending = { state: randomString(), nonce: randomString(), verifier: randomString() };
    sessionStorage.setItem(PENDING_LOGIN, JSON.stringify(pending));
    const url = new URL(provider.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: config.clientId,
      redirect_uri: config.redirectUri,
      scope: config.scope,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await s256(pending.verifier),
      code_challenge_method: "S256",
    });
    window.location.assign(url);
  }

  // OIDC Core 3.1.2.5-7, RFC 9207, RFC 7636 4.5.
  async function callback(params) {
    const pending = JSON.parse(sessionStorage.getItem(PENDING_LOGIN) || "null");
    sessionStorage.removeItem(PENDING_LOGIN); // one answer per request
    window.history.replaceState(null, "", window.location.pathname); // the code out of sight
    if (!pending || params.get("state") !== pending.state) {
      throw new ModuleError("Cette réponse de BonusEco ne répond à aucune demande de cette page.");
    }
    if (params.get("iss") !== provider.issuer) {
      throw new ModuleError("Cette réponse ne vient pas de BonusEco (émetteur inattendu).");
    }
    if (params.has("error")) {
      throw new ModuleError(`Connexion refusée par BonusEco (${params.get("error")}).`);
    }
    const answer = await tokenRequest({
      grant_type: "authorization_code",
      code: params.get("code"),
      redirect_uri: config.redirectUri,
      code_verifier: pending.verifier,
    }, "le code de connexion");
    identity = await verifyIdToken(answer.id_token, pending.nonce, null);
    tokens = answer;
    await show("Vous êtes connecté avec BonusEco.");
  }

  // RFC 6749 6; the refresh token rotates, and a new ID token comes (OIDC Core 12.2).
  async function refresh() {
    const answer = await tokenRequest({
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token,
    }, "le renouvellement");
    if (answer.id_token) identity = await verifyIdToken(answer.id_token, null, identity);
    tokens = { ...answer, id_token: answer.id_token || tokens.id_token };
    await show("Vos jetons ont été renouvelés.");
  }

  // RFC 7009: the refresh token, and with it this login's access tokens at BonusEco.
  async function revoke() {
    const response = await send(provider.revocation_endpoint, {
      method: "POST",
      body: new URLSearchParams({
        client_id: config.clientId,
        token: tokens.refresh_token,
        token_type_hint: "refresh_token",
      }),
    });
    await json(response, "la révocation");
    tokens = { ...tokens, refresh_token: null };
    message("Votre jeton de rafraîchissement a été révoqué.");
  }

  // RP-Initiated Logout 1.0 2: the IdP ends its session and comes back here with state.
  function logout() {
    const state = randomString();
    sessionStorage.setItem(PENDING_LOGOUT, state);
    const url = new URL(provider.end_session_endpoint);
    url.search = new URLSearchParams({
      id_token_hint: tokens.id_token,
      client_id: config.clientId,
      post_logout_redirect_uri: config.postLogoutRedirectUri,
      state,
    });
    tokens = null;
    window.location.assign(url);
  }

  function loggedOut(params) {
    const state = sessionStorage.getItem(PENDING_LOGOUT);
    sessionStorage.removeItem(PENDING_LOGOUT);
    window.history.replaceState(null, "", window.location.pathname);
    if (params.get("state") !== state) {
      throw new ModuleError("Cette réponse de BonusEco ne répond à aucune demande de cette page.");
    }
    message("Vous êtes déconnecté de BonusEco.");
  }

  // --- the page ---------------------------------------------------------------------

  function message(text) {
    byId("message").textContent = text;
    byId("message").hidden = false;
    byId("error").hidden = true;
  }

  function fail(error) {
    const known = error instanceof ModuleError;
    byId("error").textContent = known ? error.message : "Une erreur inattendue est survenue.";
    byId("error").hidden = false;
    byId("message").hidden = true;
    if (!known) console.error(error);
  }

  function fillTable(id, claims) {
    const rows = Object.keys(claims).sort().map((name) => {
      const row = document.createElement("tr");
      const head = document.createElement("th");
      head.scope = "row";
      head.textContent = name;
      const cell = document.createElement("td");
      const value = claims[name];
      cell.textContent = typeof value === "string" ? value : JSON.stringify(value);
      row.append(head, cell);
      return row;
    });
    byId(id).replaceChildren(...rows);
  }

  async function show(text) {
    const claims = await userinfo();
    const name = [claims.given_name, claims.usual_name || claims.family_name]
      .filter(Boolean).join(" ");
    byId("welcome").textContent = `Bonjour ${name || claims.sub}.`;
    const until = new Date(Date.now() + tokens.expires_in * 1000);
    byId("expiry").textContent =
      `Jeton d'accès valable jusqu'à ${until.toLocaleTimeString("fr-FR")}.`;
    fillTable("id-token-claims", identity);
    fillTable("userinfo-claims", claims);
    message(text);
    render();
  }

  function render() {
    byId("logged-in").hidden = tokens === null;
    byId("logged-out").hidden = tokens !== null;
    byId("refresh").disabled = !tokens?.refresh_token;
    byId("revoke").disabled = !tokens?.refresh_token;
  }

  function on(id, action) {
    byId(id).addEventListener("click", async () => {
      byId(id).disabled = true; // one request at a time
      try {
        await action();
      } catch (error) {
        fail(error);
      } finally {
        byId(id).disabled = false;
        render();
      }
    });
  }

  async function start() {
    render();
    provider = await discover();
    on("login", login);
    on("refresh", refresh);
    on("revoke", revoke);
    on("logout", logout);
    const params = new URLSearchParams(window.location.search);
    if (params.has("code") || params.has("error")) {
      await callback(params);
    } else if (params.has("state")) {
      loggedOut(params);
    }
    document.body.dataset.ready = "true"; // for the tests: every listener is in place
  }

  start().catch((error) => {
    fail(error);
    document.body.dataset.ready = "true";
  });
})();
