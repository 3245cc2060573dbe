// The API reference page: Swagger UI (vendored, see vendor/README.md) renders the server's own
// OpenAPI document. The validator badge is off: it would send the document to another host.

import { translator, translatePage } from "/assets/i18n.js";

const STRINGS = {
  en: { title: "API reference", intro: "The OpenAPI document of this server:" },
  id: { title: "Referensi API", intro: "Dokumen OpenAPI server ini:" },
};

const t = translator(STRINGS);
translatePage(t);
document.title = t("title");

// The bundle is a deferred classic script; module scripts run after it.
window.SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#docs",
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: false,
  persistAuthorization: false,
});
