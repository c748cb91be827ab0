/* Redoc's sidebar shows Redocly's logo from their CDN (hard-coded in the bundle, no option turns
   it off). The docs load nothing from outside this server, so the logo's address is blanked before
   the browser requests it: Redoc hides an image that fails to load, and the "API docs by Redocly"
   link stays. Loaded before the Redoc bundle, on the Redoc page only. */
(function () {
  "use strict";
  var OUTSIDE = /^https?:\/\/cdn\.redoc\.ly\//;
  var proto = window.HTMLImageElement && window.HTMLImageElement.prototype;
  if (!proto) { return; }
  var setAttribute = Element.prototype.setAttribute;
  proto.setAttribute = function (name, value) {
    if (String(name).toLowerCase() === "src" && OUTSIDE.test(String(value))) { value = ""; }
    return setAttribute.call(this, name, value);
  };
  var src = Object.getOwnPropertyDescriptor(proto, "src");
  if (src && src.set) {
    Object.defineProperty(proto, "src", {
      configurable: true, enumerable: src.enumerable, get: src.get,
      set: function (value) { src.set.call(this, OUTSIDE.test(String(value)) ? "" : value); },
    });
  }
})();
