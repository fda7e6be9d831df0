// MSAL Node against devidp, driven by the Go test TestMSALNode, which
// starts devidp, signs a user in to get a code, and passes everything in
// the environment. Prints one JSON line with what each flow returned.
// The CA is trusted through NODE_EXTRA_CA_CERTS.
import { ConfidentialClientApplication } from "@azure/msal-node";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing environment variable ${k}`);
  return v;
};

const authority = env("DEVIDP_AUTHORITY");
const app = new ConfidentialClientApplication({
  auth: {
    clientId: env("DEVIDP_CLIENT_ID"),
    authority,
    clientSecret: env("DEVIDP_SECRET"),
    // A host MSAL does not know: trust it instead of asking Microsoft.
    knownAuthorities: [new URL(authority).host],
  },
});

const out = {};
try {
  const cc = await app.acquireTokenByClientCredential({ scopes: [env("DEVIDP_APP_SCOPE")] });
  // An app token has no ID token, so MSAL reports no tenant: read the
  // access token's tid claim instead.
  const claims = JSON.parse(Buffer.from(cc.accessToken.split(".")[1], "base64url").toString());
  out.clientCredentials = { ok: true, tenantId: claims.tid, hasToken: true };
} catch (e) {
  out.clientCredentials = { ok: false, error: e.errorCode || String(e), message: e.errorMessage || "" };
}
try {
  const res = await app.acquireTokenByCode({
    code: env("DEVIDP_CODE"),
    codeVerifier: env("DEVIDP_VERIFIER"),
    redirectUri: env("DEVIDP_REDIRECT_URI"),
    scopes: [env("DEVIDP_USER_SCOPE")],
  });
  out.authCode = {
    ok: true,
    username: res.account.username,
    homeAccountId: res.account.homeAccountId,
    hasIdToken: !!res.idToken,
  };
} catch (e) {
  out.authCode = { ok: false, error: e.errorCode || String(e), message: e.errorMessage || "" };
}
console.log(JSON.stringify(out));
