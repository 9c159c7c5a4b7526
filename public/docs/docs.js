// The /docs page: Swagger UI on this deployment's own /openapi.json. "Try it out" sends requests
// from this origin, so cookie mode works here as in the demo SPA (CSRF header included below).
/* global SwaggerUIBundle */
(function () {
  function csrfCookie() {
    for (const part of document.cookie.split(';')) {
      const [name, ...rest] = part.trim().split('=');
      if (name === '__Host-edge_csrf') return rest.join('=');
    }
    return null;
  }
  SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#reference',
    deepLinking: true,
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    tryItOutEnabled: false,
    // Same-origin requests carry the session cookies; unsafe ones need the double-submit header.
    requestInterceptor(request) {
      const method = (request.method || 'GET').toUpperCase();
      const token = csrfCookie();
      if (token && !['GET', 'HEAD', 'OPTIONS'].includes(method)) request.headers['X-CSRF-Token'] = token;
      return request;
    },
  });
})();
