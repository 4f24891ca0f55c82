// What the page gets from the bundle: the official client, unmodified.
window.losantRest = require('losant-rest');
