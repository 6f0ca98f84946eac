// Starts Swagger UI from the vendored bundle (kept out of the page so no inline script is needed).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
