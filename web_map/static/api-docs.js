/* /docs: start the vendored Swagger UI on the service's OpenAPI document (no inline script). */
/* global SwaggerUIBundle */
(function () {
  var here = document.currentScript;
  window.ui = SwaggerUIBundle({
    url: here.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
