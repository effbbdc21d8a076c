// The anti-forgery token every page that writes sends back: the value of the cookie the app
// set (its name in the page's config), copied into the request's header.
window.vidcurateCsrf = (cookie) => {
  "use strict";
  const wanted = cookie + "=";
  for (const part of document.cookie.split("; ")) {
    if (part.startsWith(wanted)) return decodeURIComponent(part.slice(wanted.length));
  }
  return "";
};
