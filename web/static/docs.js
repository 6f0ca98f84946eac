// Starts Swagger UI from the vendored bundle (kept out of the page so no inline script is needed).
window.addEventListener("load", function () {
  // validatorUrl: null, or Swagger UI fetches a badge from validator.swagger.io.
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null });
});
