// The settings of this module, the one file to edit for a deployment (README.md).
// The client is registered at the IdP as a public one, with redirectUri among its
// redirect URIs (their origins are the ones the IdP lets read its answers) and
// postLogoutRedirectUri among its post-logout redirect URIs.
window.BONUSECO_MODULE = {
  issuer: "http://127.0.0.1:5000",
  clientId: "browser-module",
  redirectUri: "http://127.0.0.1:5004/",
  postLogoutRedirectUri: "http://127.0.0.1:5004/",
  scope: "openid profile email habilitations",
};
